//! The cache and the group writer against the store: nothing uncommitted
//! is dropped, staged writes are read back before they are durable, and a
//! group that fails takes with it everything that depends on it.

use automerge::transaction::Transactable as _;
use automerge::{ActorId, ROOT, ReadDoc as _};

use super::*;

fn id(n: usize) -> DocumentId {
    DocumentId::parse(&format!("guandu/yiliu/c{n}/reports/2025-01")).unwrap()
}

fn now() -> DateTime<Utc> {
    chrono::TimeZone::with_ymd_and_hms(&Utc, 2025, 1, 10, 8, 0, 0).unwrap()
}

/// A repo over a new store in `dir`, with `docs` documents written.
fn repo_with(dir: &std::path::Path, docs: usize, threaded: bool) -> Repo {
    let store = Store::create(&dir.join("store.redb")).unwrap();
    let mut repo = Repo::new(store, ActorId::random());
    if threaded {
        repo.start_group_writer().unwrap();
    }
    for n in 0..docs {
        repo.write(now(), |w| {
            w.doc(&id(n))?
                .put(ROOT, "n", n as u64)
                .map_err(|e| NodeError::Internal(e.to_string()))?;
            Ok(())
        })
        .unwrap();
    }
    repo
}

/// Changes made by another replica of `id(n)`, applied to `repo`'s copy as
/// a peer's would be: the caller stages them with `persist_received`.
fn receive(repo: &mut Repo, n: usize, value: &str) -> Vec<ChangeHash> {
    let doc = repo.existing(&id(n)).unwrap().unwrap();
    let before = doc.get_heads();
    let mut theirs = doc.fork().with_actor(ActorId::random());
    theirs.put(ROOT, "peer", value).unwrap();
    theirs.commit();
    doc.merge(&mut theirs).unwrap();
    before
}

fn stored_value(store: &Store, n: usize) -> Option<String> {
    let doc = store.load_document(&id(n).to_string()).unwrap()?;
    let (v, _) = doc.get(ROOT, "peer").unwrap()?;
    Some(v.into_scalar().ok()?.as_str()?.to_owned())
}

#[test]
fn cache_stays_within_its_bound_over_many_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = DOCS_CACHED_MAX * 3;
    let mut repo = repo_with(tmp.path(), docs, false);
    repo.end_step();
    assert!(repo.loaded() <= DOCS_CACHED_MAX, "{}", repo.loaded());
    for n in 0..docs {
        assert!(repo.existing(&id(n)).unwrap().is_some());
        assert!(repo.loaded() <= DOCS_CACHED_MAX, "{}", repo.loaded());
    }
    assert!(repo.evicted() >= (docs - DOCS_CACHED_MAX) as u64);
}

#[test]
fn eviction_never_loses_received_changes_not_yet_durable() {
    for threaded in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let docs = DOCS_CACHED_MAX * 2;
        let mut repo = repo_with(tmp.path(), docs, threaded);
        let before = receive(&mut repo, 0, "first");
        repo.persist_received(now(), &id(0), &before).unwrap();
        // Not handed to the store yet, and every other document read since.
        for n in 1..docs {
            repo.existing(&id(n)).unwrap();
        }
        assert!(repo.loaded() <= DOCS_CACHED_MAX + 1);
        assert_eq!(stored_value(repo.store(), 0), None, "durable too early");
        let doc = repo.existing(&id(0)).unwrap().unwrap();
        assert!(
            doc.get(ROOT, "peer").unwrap().is_some(),
            "threaded: {threaded}"
        );
        // Received but not even staged: still kept.
        let before = receive(&mut repo, 1, "second");
        for n in 2..docs {
            repo.existing(&id(n)).unwrap();
        }
        repo.end_step();
        let doc = repo.existing(&id(1)).unwrap().unwrap();
        assert!(
            doc.get(ROOT, "peer").unwrap().is_some(),
            "threaded: {threaded}"
        );
        repo.persist_received(now(), &id(1), &before).unwrap();
        repo.flush().unwrap();
        assert_eq!(stored_value(repo.store(), 0).as_deref(), Some("first"));
        assert_eq!(stored_value(repo.store(), 1).as_deref(), Some("second"));
        // Durable now: evictable, and reloading gives the same document.
        for n in 2..docs {
            repo.existing(&id(n)).unwrap();
        }
        repo.end_step();
        assert!(repo.loaded() <= DOCS_CACHED_MAX);
        let path = repo.store().path().to_owned();
        drop(repo);
        let store = Store::open(&path).unwrap();
        assert_eq!(stored_value(&store, 0).as_deref(), Some("first"));
    }
}

#[test]
fn eviction_never_drops_a_document_touched_by_a_write_in_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = DOCS_CACHED_MAX * 2;
    let mut repo = repo_with(tmp.path(), docs, true);
    repo.end_step();
    repo.write(now(), |w| {
        w.doc(&id(0))?
            .put(ROOT, "local", "kept")
            .map_err(|e| NodeError::Internal(e.to_string()))?;
        for n in 1..docs {
            w.read(&id(n))?;
        }
        Ok(())
    })
    .unwrap();
    let doc = repo.store().load_document(&id(0).to_string()).unwrap();
    let doc = doc.unwrap();
    let (v, _) = doc.get(ROOT, "local").unwrap().unwrap();
    assert_eq!(v.into_scalar().unwrap().as_str(), Some("kept"));
}

#[test]
fn a_queued_signature_is_found_by_a_proof_before_it_is_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let mut repo = repo_with(tmp.path(), 0, true);
    let (hash, author) = ([7u8; 32], [9u8; 32]);
    repo.stage_signature(&hash, &author, b"sig");
    repo.stage_author(&author, b"credential");
    repo.stage_sync_state("peer", "guandu/roster", b"state");
    // Staged, not handed over: only the repo knows it.
    assert_eq!(repo.store().signature(&hash).unwrap(), None);
    let found = repo.signature(&hash).unwrap().unwrap();
    assert_eq!(
        (found.author, found.signature.as_slice()),
        (author, &b"sig"[..])
    );
    assert_eq!(
        repo.author(&author).unwrap().as_deref(),
        Some(&b"credential"[..])
    );
    assert_eq!(
        repo.sync_states_for("peer").unwrap(),
        vec![("guandu/roster".to_owned(), b"state".to_vec())]
    );
    // Queued: still found, whether or not the writer got to it.
    repo.end_step();
    assert!(repo.signature(&hash).unwrap().is_some());
    repo.flush().unwrap();
    assert!(repo.pending_signatures.is_empty() && repo.pending_authors.is_empty());
    assert!(repo.store().signature(&hash).unwrap().is_some());
    assert!(repo.signature(&hash).unwrap().is_some());
    assert_eq!(repo.sync_states_for("peer").unwrap().len(), 1);
}

/// A write that makes its group's commit fail.
fn poison() -> Op {
    Op::Meta {
        key: "schema_version".into(),
        value: Vec::new(),
    }
}

#[test]
fn a_sync_state_is_never_durable_before_the_changes_it_describes() {
    for threaded in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = repo_with(tmp.path(), 2, threaded);
        // Step one: a peer's changes, whose group fails.
        let before = receive(&mut repo, 0, "lost");
        repo.persist_received(now(), &id(0), &before).unwrap();
        repo.stage_signature(&[1; 32], &[2; 32], b"sig");
        repo.stage(vec![poison()]);
        repo.stage_sync_state("peer", &id(0).to_string(), b"after step one");
        repo.end_step();
        // Step two, handed over before or after the failure is seen: the
        // session's state describing step one's changes.
        repo.stage_sync_state("peer", &id(0).to_string(), b"after step two");
        repo.end_step();
        assert!(repo.flush().is_err() || !threaded, "threaded: {threaded}");
        let store = repo.store();
        assert_eq!(store.sync_state("peer", &id(0).to_string()).unwrap(), None);
        assert_eq!(stored_value(store, 0), None);
        assert_eq!(store.signature(&[1; 32]).unwrap(), None);
        // Memory claims nothing the disk lacks.
        assert_eq!(repo.signature(&[1; 32]).unwrap(), None);
        assert!(repo.sync_states_for("peer").unwrap().is_empty());
        let doc = repo.existing(&id(0)).unwrap().unwrap();
        assert!(
            doc.get(ROOT, "peer").unwrap().is_none(),
            "threaded: {threaded}"
        );
        // The writer goes on after the failure.
        repo.stage_sync_state("peer", &id(1).to_string(), b"later");
        repo.end_step();
        repo.flush().unwrap();
        assert!(
            repo.store()
                .sync_state("peer", &id(1).to_string())
                .unwrap()
                .is_some()
        );
    }
}

#[test]
fn a_local_write_that_fails_to_commit_is_dropped_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let mut repo = repo_with(tmp.path(), 1, true);
    repo.stage(vec![poison()]);
    let r = repo.write(now(), |w| {
        w.doc(&id(0))?
            .put(ROOT, "local", "lost")
            .map_err(|e| NodeError::Internal(e.to_string()))?;
        Ok(())
    });
    assert!(r.is_err());
    let doc = repo.existing(&id(0)).unwrap().unwrap();
    assert!(doc.get(ROOT, "local").unwrap().is_none());
    assert!(repo.take_written().is_empty());
    // And the next write is durable again.
    repo.write(now(), |w| {
        w.doc(&id(0))?
            .put(ROOT, "local", "kept")
            .map_err(|e| NodeError::Internal(e.to_string()))?;
        Ok(())
    })
    .unwrap();
}
