//! An admitted member that misbehaves, against a real community node over
//! libp2p: a second street admitted at the community's own street place
//! (so it may read and annotate the community's reports) writes raw
//! Automerge changes with its own key — revocations of the root and of a
//! node outside its scope, the deletion of an existing revocation, a signed
//! change replayed into another document, edits and deletions of a report,
//! and an event claiming the community's level — and a sibling community
//! asks for a photo of a report it may not read. Each is refused with its
//! reason in the node's log, nothing of it is stored, and honest traffic,
//! including the same street's honest event, goes on.

mod common;

use automerge::transaction::Transactable as _;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, Value};
use chrono::Utc;
use common::hostile::{Hostile, actor_of};
use common::*;
use crdt_model::report::{self, EventKind, ReportEvent};
use crdt_model::report_content;
use crdt_model::{DocumentId, EventId, PlaceId, PlaceLevel, ReportId};
use libp2p::identity::Keypair;
use node::engine::MemDocs;
use node::net::blob::ChunkResponse;
use node::trust::statement::{HeadsByDoc, Statement};
use node::trust::{NodeKey, charter};
use serde_json::Value as Json;

const COMMUNITY: &str = "guandu/yiliu/xinyazhou";

fn doc_list(dir: &std::path::Path) -> Json {
    json(dir, &["doc", "list"])
}

fn heads_of(list: &Json, id: &str) -> Option<Json> {
    list.as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .map(|d| d["heads"].clone())
}

fn report_obj(doc: &AutoCommit, id: &str) -> automerge::ObjId {
    match doc.get(ROOT, format!("report/{id}")).unwrap() {
        Some((Value::Object(ObjType::Map), obj)) => obj,
        other => panic!("report {id} not held: {other:?}"),
    }
}

fn events_obj(doc: &AutoCommit, id: &str) -> automerge::ObjId {
    match doc.get(report_obj(doc, id), "events").unwrap() {
        Some((Value::Object(ObjType::Map), obj)) => obj,
        other => panic!("no events map: {other:?}"),
    }
}

/// A signed statement by the hostile street, as a charter edit.
fn statement_edit(h: &Hostile, s: Statement) -> impl FnOnce(&mut AutoCommit) + use<> {
    let signed = s.sign(&h.key).unwrap();
    move |doc: &mut AutoCommit| charter::put(doc, &signed).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malicious_member_is_refused_and_honest_work_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d) = chain(tmp.path());
    // A node the district will revoke honestly, so there is a revocation
    // for the hostile street to try to delete.
    let x = tmp.path().join("x");
    init(&x, "community", "guandu/yiliu/guanshuo");
    admit(&s, &x, "community", "guandu/yiliu/guanshuo", false);
    let x_id = peer_id(&x);
    // The hostile street: admitted by the district at the community's
    // street place, with the right to admit.
    let evil_key = Keypair::generate_ed25519();
    let evil_id = evil_key.public().to_peer_id().to_string();
    let evil_token = admit_token(&d, &evil_id, "street", "guandu/yiliu", true);
    // A hostile sibling community, which may not read xinyazhou's reports.
    let sib_key = Keypair::generate_ed25519();
    let sib_token = admit_token(
        &s,
        &sib_key.public().to_peer_id().to_string(),
        "community",
        "guandu/yiliu/evil",
        false,
    );

    let district = NodeProc::start(&d, &[]);
    let community = NodeProc::start(&c, &[]);
    let street = NodeProc::start(&s, &[community.addr(), district.addr()]);
    ok(&d, &["revoke", &x_id, "--reason", "left the programme"]);

    // An escalated report with a photo at the community.
    let photo = tmp.path().join("photo.jpg");
    std::fs::write(&photo, b"JPEG of a loose manhole cover".repeat(20)).unwrap();
    let r1 = submit_photo_report(&c, &photo);
    ok(&c, &["report", "verify", &r1]);
    ok(&c, &["report", "escalate", &r1]);
    let photo_hash = json(&c, &["report", "show", &r1])["attachments"][0]["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let reports = DocumentId::reports(PlaceId::parse(COMMUNITY).unwrap(), Utc::now());
    let charter_id = DocumentId::parse("guandu/charter").unwrap();
    wait_for("the district's revocation at the community", 60, || {
        heads_of(&doc_list(&c), "guandu/charter") == heads_of(&doc_list(&d), "guandu/charter")
    });

    // The hostile street connects and syncs what the community shares with a street.
    let mut h = Hostile::new(evil_key, &evil_token, MemDocs::new());
    h.connect(&community.addr()).await;
    let synced = h
        .pump(60, |h| {
            let revocation_held = h
                .docs
                .inner
                .get(&charter_id)
                .is_some_and(|d| d.keys(ROOT).any(|k| k.starts_with("revocation/")));
            let report_held = h
                .docs
                .inner
                .get(&reports)
                .is_some_and(|d| d.get(ROOT, format!("report/{r1}")).ok().flatten().is_some());
            revocation_held && report_held
        })
        .await;
    assert!(
        synced,
        "the hostile street never got the charter and the report"
    );
    let before = doc_list(&c);
    let root = h.credential.federation.root;
    let me = NodeKey::of_keypair(&h.key).unwrap();
    let community_key = NodeKey::of_peer(&peer_id(&c).parse().unwrap()).unwrap();
    let view = charter::read(
        h.docs.inner.get(&charter_id).unwrap(),
        &h.credential.federation,
    );
    let community_credential = view.credential(&community_key).cloned();
    assert!(
        community_credential.is_some(),
        "the charter records the community's admission"
    );

    // (a) A revocation of the root.
    let edit = statement_edit(
        &h,
        Statement::Revoke {
            target: root,
            issuer: me,
            at: Utc::now().timestamp(),
            reason: None,
            target_credential: None,
            heads: HeadsByDoc::new(),
        },
    );
    let fork = h.fork(&charter_id).unwrap();
    h.send_edit(fork, &charter_id, edit);
    // (b) A revocation of a node whose chain it is not on.
    let edit = statement_edit(
        &h,
        Statement::Revoke {
            target: community_key,
            issuer: me,
            at: Utc::now().timestamp(),
            reason: None,
            target_credential: community_credential,
            heads: HeadsByDoc::new(),
        },
    );
    let fork = h.fork(&charter_id).unwrap();
    h.send_edit(fork, &charter_id, edit);
    // (c) Deleting the district's revocation of x.
    let fork = h.fork(&charter_id).unwrap();
    let key = fork
        .keys(ROOT)
        .find(|k| k.starts_with("revocation/"))
        .unwrap();
    h.send_edit(fork, &charter_id, move |doc| {
        doc.delete(ROOT, key.as_str()).unwrap()
    });
    // (d) A change signed for the street's own directory, replayed into the district's.
    let own_directory = DocumentId::parse("guandu/yiliu/directory").unwrap();
    let district_directory = DocumentId::parse("guandu/directory").unwrap();
    let mut fresh = AutoCommit::new().with_actor(actor_of(&h.key));
    fresh
        .put(ROOT, "note/replayed", "signed for another document")
        .unwrap();
    fresh.commit();
    let change = fresh.get_last_local_change().unwrap();
    let proof = h.proof_for(&h.key.clone(), &own_directory, &change);
    h.send_change(
        &district_directory,
        change.raw_bytes().to_vec(),
        proof.clone(),
    );
    // (e) Altering the report's text, and deleting the report.
    let fork = h.fork(&reports).unwrap();
    let obj = report_obj(&fork, &r1);
    h.send_edit(fork, &reports, move |doc| {
        doc.put(&obj, "text", "nothing here").unwrap()
    });
    // The report's content rewritten whole: a valid value, but the
    // community's alone to write.
    let fork = h.fork(&reports).unwrap();
    let obj = report_obj(&fork, &r1);
    h.send_edit(fork, &reports, move |doc| {
        let content = match doc.get(&obj, report_content::CONTENT_KEY).unwrap() {
            Some((Value::Scalar(v), _)) => v.as_str().unwrap().replace("井盖翘起", "nothing here"),
            other => panic!("no content: {other:?}"),
        };
        doc.put(&obj, report_content::CONTENT_KEY, content).unwrap()
    });
    let fork = h.fork(&reports).unwrap();
    let gone = format!("report/{r1}");
    h.send_edit(fork, &reports, move |doc| {
        doc.delete(ROOT, gone.as_str()).unwrap()
    });
    // (f) An event that claims the community's level.
    let fork = h.fork(&reports).unwrap();
    let events = events_obj(&fork, &r1);
    let by = evil_id.clone();
    h.send_edit(fork, &reports, move |doc| {
        let ev = doc.put_object(&events, "e-claimed", ObjType::Map).unwrap();
        doc.put(&ev, "kind", "accept").unwrap();
        doc.put(&ev, "by", by.as_str()).unwrap();
        doc.put(&ev, "by_level", "community").unwrap();
    });

    let needles = [
        "the federation's root can never be revoked".to_owned(),
        "is not an admitter on".to_owned(),
        "an append-only document takes only new text entries".to_owned(),
        format!("carries a signature that is not its author's ({evil_id}) for guandu/directory"),
        "a street may only add events to reports".to_owned(),
        format!("change puts text at report/{r1}/content"),
        "a street may not delete".to_owned(),
        "an event must carry its writer's by and by_level".to_owned(),
    ];
    let logged_all = |node: &NodeProc| needles.iter().all(|n| node.logged().contains(n.as_str()));
    assert!(
        h.pump(30, |_| logged_all(&community)).await,
        "the community did not refuse every hostile change {needles:?}:\n{}",
        community.logged()
    );
    assert_eq!(
        doc_list(&c),
        before,
        "a refused change reached the community's store"
    );
    let shown = json(&c, &["report", "show", &r1]);
    assert_eq!(shown["text"], "井盖翘起");
    assert_eq!(shown["status"], "escalated");

    // The replayed change is refused only for where it was sent: in the
    // document it was signed for, the community takes it.
    h.send_change(&own_directory, change.raw_bytes().to_vec(), proof);
    assert!(
        h.pump(30, |_| heads_of(&doc_list(&c), "guandu/yiliu/directory")
            .is_some())
            .await,
        "the correctly addressed change was not taken"
    );

    // The same street's honest event is taken: the rules refuse what
    // breaks them, not the street.
    let mut fork = h.fork(&reports).unwrap();
    let accept = ReportEvent {
        id: EventId::parse("e-honest-accept").unwrap(),
        at: Utc::now(),
        by: evil_id.clone(),
        by_level: PlaceLevel::Street,
        note: None,
        kind: EventKind::Accept,
    };
    report::record_event(&mut fork, &ReportId::parse(&r1).unwrap(), &accept).unwrap();
    h.send_edit(fork, &reports, |_| {});
    assert!(
        h.pump(30, |_| json(&c, &["report", "show", &r1])["status"]
            == "accepted")
            .await,
        "the honest accept was not applied:\n{}",
        community.logged()
    );

    // (g) A sibling community asks for the report's photo: refused. The
    // street, which may read the report, gets it.
    h.request_blob(&photo_hash);
    assert!(
        h.pump(20, |h| h
            .blob_answers
            .iter()
            .any(|a| matches!(a, ChunkResponse::Chunk { .. })))
            .await,
        "the street did not get the photo of its community's report"
    );
    let mut sib = Hostile::new(sib_key, &sib_token, MemDocs::new());
    sib.connect(&community.addr()).await;
    let admitted = format!("peer admitted peer={}", sib.peer_id());
    assert!(
        sib.pump(20, |_| community.logged().contains(&admitted))
            .await
    );
    sib.request_blob(&photo_hash);
    assert!(
        sib.pump(20, |s| !s.blob_answers.is_empty()).await,
        "no answer to the sibling's blob request"
    );
    assert_eq!(sib.blob_answers, vec![ChunkResponse::Refused]);
    assert!(
        community
            .logged()
            .contains("the peer may read no document that references this blob"),
        "{}",
        community.logged()
    );

    // Honest traffic goes on: a new report reaches the street and the district.
    let r2 = submit_report(&c, "after the attacks");
    for dir in [&s, &d] {
        wait_for("the new report upstream", 60, || {
            yizhan(dir, &["report", "show", &r2]).status.success()
        });
    }
    // Nothing of the hostile statements took effect anywhere.
    for dir in [&c, &s, &d] {
        assert!(json(dir, &["status"])["membership"].is_object());
    }
    let log = community.logged() + &street.logged() + &district.logged();
    assert!(!log.contains("panicked"), "{log}");
    community.stop();
    street.stop();
    district.stop();
}
