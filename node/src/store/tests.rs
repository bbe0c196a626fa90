//! Unit tests of [`Store`] and [`Batch`] through their public API, with raw
//! table access only where a test must damage what the API never would.

use automerge::{AutoCommit, ChangeHash, ROOT, ReadDoc, transaction::Transactable};
use redb::{ReadableDatabase, ReadableTableMetadata};

use super::tables::DOC_CHANGES;
use super::*;

fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("store.redb")).unwrap();
    (dir, store)
}

/// Puts `key` = `value` in `doc` and commits one change.
pub(super) fn edit(doc: &mut AutoCommit, key: &str, value: i64) {
    doc.put(ROOT, key, value).unwrap();
    doc.commit();
}

/// Appends everything `doc` has after `saved` to the store, in one batch,
/// and returns the new heads.
pub(super) fn persist(
    store: &Store,
    id: &str,
    doc: &mut AutoCommit,
    saved: &[ChangeHash],
) -> Vec<ChangeHash> {
    let chunk = doc.save_after(saved);
    let heads = doc.get_heads();
    let mut batch = store.batch().unwrap();
    batch.append_changes(id, &chunk, &heads).unwrap();
    batch.commit().unwrap();
    heads
}

pub(super) fn assert_same_doc(loaded: &mut AutoCommit, expected: &mut AutoCommit) {
    assert_eq!(loaded.get_heads(), expected.get_heads());
    assert_eq!(
        loaded.hydrate(ROOT, None).unwrap(),
        expected.hydrate(ROOT, None).unwrap()
    );
}

fn chunk_count(store: &Store) -> u64 {
    let txn = store.db.begin_read().unwrap();
    txn.open_table(DOC_CHANGES).unwrap().len().unwrap()
}

// ---- documents ----------------------------------------------------------

#[test]
fn documents_round_trip_through_appends() {
    let (_dir, store) = new_store();
    let mut doc = AutoCommit::new();
    let mut saved = Vec::new();
    for n in 0..10 {
        edit(&mut doc, &format!("k{n}"), n);
        saved = persist(&store, "guandu/roster", &mut doc, &saved);
    }
    let mut loaded = store.load_document("guandu/roster").unwrap().unwrap();
    assert_same_doc(&mut loaded, &mut doc);

    let info = store.document_info("guandu/roster").unwrap().unwrap();
    assert_eq!(info.change_chunks, 10);
    assert_eq!(info.snapshot_bytes, 0);
    assert_eq!(info.heads, doc.get_heads());
    assert!(!info.wants_compaction());
}

#[test]
fn unknown_document_is_none() {
    let (_dir, store) = new_store();
    assert!(store.load_document("nope").unwrap().is_none());
    assert!(store.document_info("nope").unwrap().is_none());
}

#[test]
fn document_ids_are_sorted_and_complete() {
    let (_dir, store) = new_store();
    let mut batch = store.batch().unwrap();
    for id in ["b/tasks", "a/roster", "a", "a/roster/2025"] {
        let mut doc = AutoCommit::new();
        edit(&mut doc, "x", 1);
        batch
            .append_changes(id, &doc.save(), &doc.get_heads())
            .unwrap();
    }
    batch.commit().unwrap();
    assert_eq!(
        store.document_ids().unwrap(),
        ["a", "a/roster", "a/roster/2025", "b/tasks"]
    );
}

#[test]
fn one_batch_may_write_several_documents_and_chunks() {
    let (_dir, store) = new_store();
    let mut docs = [AutoCommit::new(), AutoCommit::new()];
    let mut saved = [Vec::new(), Vec::new()];
    let mut batch = store.batch().unwrap();
    for round in 0..3 {
        for (i, doc) in docs.iter_mut().enumerate() {
            edit(doc, &format!("r{round}"), round);
            let chunk = doc.save_after(&saved[i]);
            saved[i] = doc.get_heads();
            batch
                .append_changes(&format!("d{i}"), &chunk, &saved[i])
                .unwrap();
        }
    }
    batch.commit().unwrap();
    for (i, doc) in docs.iter_mut().enumerate() {
        let mut loaded = store.load_document(&format!("d{i}")).unwrap().unwrap();
        assert_same_doc(&mut loaded, doc);
    }
}

#[test]
fn dropped_batch_writes_nothing() {
    let (_dir, store) = new_store();
    let mut doc = AutoCommit::new();
    edit(&mut doc, "a", 1);
    let mut batch = store.batch().unwrap();
    batch
        .append_changes("d", &doc.save(), &doc.get_heads())
        .unwrap();
    batch.put_meta("k", b"v").unwrap();
    drop(batch);
    assert!(store.load_document("d").unwrap().is_none());
    assert!(store.get_meta("k").unwrap().is_none());
}

#[test]
fn compaction_keeps_content_and_heads_and_drops_chunks() {
    let (_dir, store) = new_store();
    let mut doc = AutoCommit::new();
    let mut other = AutoCommit::new();
    let mut saved = Vec::new();
    for n in 0..20 {
        edit(&mut doc, &format!("k{n}"), n);
        saved = persist(&store, "r", &mut doc, &saved);
    }
    // A document whose id extends the compacted one keeps its chunks.
    edit(&mut other, "x", 1);
    persist(&store, "r2", &mut other, &[]);
    assert_eq!(chunk_count(&store), 21);

    let snapshot = doc.save();
    let mut batch = store.batch().unwrap();
    batch
        .put_snapshot("r", &snapshot, &doc.get_heads())
        .unwrap();
    batch.commit().unwrap();

    assert_eq!(chunk_count(&store), 1, "only r2's chunk is left");
    let info = store.document_info("r").unwrap().unwrap();
    assert_eq!(info.change_chunks, 0);
    assert_eq!(info.changes_bytes, 0);
    assert_eq!(info.snapshot_bytes, snapshot.len() as u64);
    assert_eq!(info.heads, doc.get_heads());
    let mut loaded = store.load_document("r").unwrap().unwrap();
    assert_same_doc(&mut loaded, &mut doc);
    let mut loaded = store.load_document("r2").unwrap().unwrap();
    assert_same_doc(&mut loaded, &mut other);

    // Appending after a compaction stacks chunks on the snapshot.
    edit(&mut doc, "after", 99);
    persist(&store, "r", &mut doc, &saved_heads(&info));
    let mut loaded = store.load_document("r").unwrap().unwrap();
    assert_same_doc(&mut loaded, &mut doc);
    assert_eq!(store.document_info("r").unwrap().unwrap().change_chunks, 1);
}

fn saved_heads(info: &DocumentInfo) -> Vec<ChangeHash> {
    info.heads.clone()
}

#[test]
fn compaction_is_wanted_once_chunks_outgrow_the_snapshot() {
    let (_dir, store) = new_store();
    let mut doc = AutoCommit::new();
    let mut saved = Vec::new();
    let mut n = 0;
    while !store
        .document_info("d")
        .unwrap()
        .is_some_and(|info| info.wants_compaction())
    {
        doc.put(ROOT, format!("k{n}"), "x".repeat(200)).unwrap();
        doc.commit();
        saved = persist(&store, "d", &mut doc, &saved);
        n += 1;
        assert!(n < 5000, "compaction never wanted");
    }
    let mut batch = store.batch().unwrap();
    batch
        .put_snapshot("d", &doc.save(), &doc.get_heads())
        .unwrap();
    batch.commit().unwrap();
    assert!(
        !store
            .document_info("d")
            .unwrap()
            .unwrap()
            .wants_compaction()
    );
}

// ---- corrupt documents ----------------------------------------------------

#[test]
fn recorded_heads_that_do_not_match_are_a_corrupt_document() {
    let (_dir, store) = new_store();
    let mut doc = AutoCommit::new();
    edit(&mut doc, "a", 1);
    let mut stranger = AutoCommit::new();
    edit(&mut stranger, "b", 2);
    let mut batch = store.batch().unwrap();
    batch
        .append_changes("d", &doc.save(), &stranger.get_heads())
        .unwrap();
    batch.commit().unwrap();
    let err = store.load_document("d").unwrap_err();
    assert!(
        matches!(&err, StoreError::CorruptDocument { id, reason } if id == "d" && reason.contains("heads")),
        "{err}"
    );
}

#[test]
fn garbage_chunk_is_a_corrupt_document() {
    let (_dir, store) = new_store();
    let mut doc = AutoCommit::new();
    let mut saved = Vec::new();
    for n in 0..3 {
        edit(&mut doc, &format!("k{n}"), n);
        saved = persist(&store, "d", &mut doc, &saved);
    }
    // Overwrite the middle chunk with garbage of the same length, so only
    // decoding can tell.
    let txn = store.db.begin_read().unwrap();
    let len = txn
        .open_table(DOC_CHANGES)
        .unwrap()
        .get(("d", 1u64))
        .unwrap()
        .unwrap()
        .value()
        .len();
    drop(txn);
    let mut batch = store.batch().unwrap();
    batch.raw_put_chunk("d", 1, &vec![0x42; len]);
    batch.commit().unwrap();
    let err = store.load_document("d").unwrap_err();
    assert!(matches!(err, StoreError::CorruptDocument { .. }), "{err}");
}

#[test]
fn damaged_info_record_is_a_corrupt_document() {
    let (_dir, store) = new_store();
    let mut batch = store.batch().unwrap();
    batch.raw_put_doc_info("d", b"\x01short");
    batch.commit().unwrap();
    assert!(matches!(
        store.load_document("d"),
        Err(StoreError::CorruptDocument { .. })
    ));
    assert!(matches!(
        store.document_info("d"),
        Err(StoreError::CorruptDocument { .. })
    ));
    // Writing on top of a damaged record refuses rather than guessing.
    let mut batch = store.batch().unwrap();
    assert!(matches!(
        batch.append_changes("d", b"", &[]),
        Err(StoreError::CorruptDocument { .. })
    ));
}

// ---- sync states, peers, meta -------------------------------------------------

#[test]
fn sync_states_peers_and_meta_round_trip() {
    let (_dir, store) = new_store();
    let mut batch = store.batch().unwrap();
    batch.put_sync_state("peerA", "doc1", b"s1").unwrap();
    batch.put_sync_state("peerA", "doc2", b"s2").unwrap();
    batch.put_sync_state("peerB", "doc1", b"s3").unwrap();
    batch.put_peer("peerB", b"rb").unwrap();
    batch.put_peer("peerA", b"ra").unwrap();
    batch.put_meta("identity", b"me").unwrap();
    batch.commit().unwrap();

    assert_eq!(store.sync_state("peerA", "doc1").unwrap().unwrap(), b"s1");
    assert_eq!(store.sync_state("peerA", "doc2").unwrap().unwrap(), b"s2");
    assert_eq!(store.sync_state("peerB", "doc1").unwrap().unwrap(), b"s3");
    assert!(store.sync_state("peerB", "doc2").unwrap().is_none());
    assert_eq!(
        store.peers().unwrap(),
        [
            ("peerA".to_owned(), b"ra".to_vec()),
            ("peerB".to_owned(), b"rb".to_vec())
        ]
    );
    assert_eq!(store.get_meta("identity").unwrap().unwrap(), b"me");
    assert!(store.get_meta("other").unwrap().is_none());

    // Overwrites replace.
    let mut batch = store.batch().unwrap();
    batch.put_sync_state("peerA", "doc1", b"s1'").unwrap();
    batch.put_peer("peerA", b"ra'").unwrap();
    batch.put_meta("identity", b"me'").unwrap();
    batch.commit().unwrap();
    assert_eq!(store.sync_state("peerA", "doc1").unwrap().unwrap(), b"s1'");
    assert_eq!(store.peers().unwrap()[0].1, b"ra'");
    assert_eq!(store.get_meta("identity").unwrap().unwrap(), b"me'");
}

#[test]
fn schema_version_key_is_reserved() {
    let (_dir, store) = new_store();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let mut batch = store.batch().unwrap();
    assert!(matches!(
        batch.put_meta("schema_version", b"\x02\0\0\0"),
        Err(StoreError::ReservedMetaKey { .. })
    ));
    batch.commit().unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

// ---- create and open ---------------------------------------------------------

#[test]
fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let store = Store::create(&path).unwrap();
    let mut doc = AutoCommit::new();
    edit(&mut doc, "a", 1);
    persist(&store, "d", &mut doc, &[]);
    drop(store);

    let store = Store::open(&path).unwrap();
    assert_eq!(store.path(), path);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let mut loaded = store.load_document("d").unwrap().unwrap();
    assert_same_doc(&mut loaded, &mut doc);
}

#[test]
fn create_refuses_an_existing_file_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    std::fs::write(&path, b"precious").unwrap();
    assert!(matches!(
        Store::create(&path),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn create_in_a_missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/store.redb");
    assert!(matches!(
        Store::create(&path),
        Err(StoreError::Io { op: "create", .. })
    ));
}
