//! A hostile peer speaking libp2p to a real `yizhan node start` process:
//! garbage, truncated, oversized and wrong-version messages on
//! `/yizhan/sync/1`, and a blob whose bytes do not match its hash on
//! `/yizhan/blob/1`. Each is refused with a logged reason, nothing of it is
//! stored, and the node keeps serving its honest peer.

mod common;

use chrono::Utc;
use common::hostile::{Hostile, actor_of};
use common::*;
use crdt_model::report::{self, Attachment, AttachmentKind, NewReport};
use crdt_model::{Category, DocumentId, LatLon, Location, PlaceId, ReportId};
use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use node::engine::MemDocs;
use node::trust::signing::Proof;

const EVIL: &str = "guandu/yiliu/evil";
const REAL_PHOTO: &[u8] = b"the photo the report claims to carry";
const FORGED_PHOTO: &[u8] = b"other bytes pretending to be it!!!!!";

/// The hostile peer's own documents: a report referencing a photo by the
/// hash of bytes it will not send.
fn bait(key: &Keypair) -> MemDocs {
    let mut docs = MemDocs::with_actor(actor_of(key));
    let now = Utc::now();
    let place = PlaceId::parse(EVIL).unwrap();
    let mut doc = automerge::AutoCommit::new().with_actor(actor_of(key));
    report::submit(
        &mut doc,
        &NewReport {
            id: ReportId::new(now, 0x0bad_f00d),
            category: Category::Other,
            location: Location {
                point: LatLon::new(24.9, 102.7).unwrap(),
                address: None,
                grid: None,
            },
            text: "bait".into(),
            attachments: vec![Attachment {
                hash: blake3::hash(REAL_PHOTO).to_hex().to_string(),
                mime: "image/jpeg".into(),
                size: REAL_PHOTO.len() as u64,
                kind: AttachmentKind::Photo,
            }],
            reporter: None,
            submitted_at: now,
            submitted_by: "hostile".into(),
            deadline: None,
        },
    )
    .unwrap();
    doc.commit();
    docs.insert(DocumentId::reports(place, now), doc);
    docs
}

/// A fresh change by the hostile peer putting `key` into `doc_id`, and a
/// proof for it signed by `signer` (its own key, or another).
fn forge(h: &Hostile, signer: &Keypair, doc_id: &DocumentId, key: &str) -> (Vec<u8>, Proof) {
    use automerge::transaction::Transactable as _;
    let mut doc = automerge::AutoCommit::new().with_actor(actor_of(&h.key));
    doc.put(automerge::ROOT, key, "forged").unwrap();
    doc.commit();
    let change = doc.get_last_local_change().unwrap();
    let proof = h.proof_for(signer, doc_id, &change);
    (change.raw_bytes().to_vec(), proof)
}

fn logged_all(node: &NodeProc, needles: &[&str]) -> bool {
    let log = node.logged();
    needles.iter().all(|n| log.contains(n))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_and_the_node_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, _district) = chain(tmp.path());
    // The hostile peer is an admitted community that misbehaves.
    let evil_key = Keypair::generate_ed25519();
    let evil_token = admit_token(
        &s,
        &evil_key.public().to_peer_id().to_string(),
        "community",
        EVIL,
        false,
    );
    let community = NodeProc::start(&c, &[]);
    let street = NodeProc::start(&s, &[community.addr()]);
    submit_report(&c, "honest 1");
    wait_for("the honest report at the street", 30, || {
        json(&s, &["report", "list"]).as_array().unwrap().len() == 1
    });

    let evil_id = evil_key.public().to_peer_id().to_string();
    let docs = bait(&evil_key);
    let mut h = Hostile::new(evil_key, &evil_token, docs);
    h.forged_blob = Some(FORGED_PHOTO.to_vec());
    h.connect(&street.addr()).await;

    let admitted = format!("peer admitted peer={evil_id}");
    assert!(
        h.pump(20, |_| street.logged().contains(&admitted)).await,
        "the street did not admit the peer:\n{}",
        street.logged()
    );
    // (1) Garbage bytes.
    h.send_raw((0..200u32).map(|i| (i * 37 % 251) as u8).collect());
    // (2) A truncated message: a real one cut in half.
    let real = node::engine::wire::encode(&node::engine::wire::Message::Summary(
        node::engine::wire::Summary {
            digest: node::engine::Digest::of_heads(&[]),
            reply: true,
        },
    ))
    .unwrap();
    h.send_raw(real[..real.len() / 2].to_vec());
    // (3) An unknown protocol version.
    let mut future = real.clone();
    future[0] = 7;
    h.send_raw(future);
    // (4) An oversized message.
    h.send_raw(vec![0u8; node::net::SYNC_MESSAGE_BYTES_MAX + 1]);

    let needles = [
        "malformed message",
        "protocol version 7 is not supported",
        "refused a sync message larger than the limit",
        "refused a blob from peer; nothing stored",
    ];
    let all = h.pump(60, |_| logged_all(&street, &needles)).await;
    assert!(
        all,
        "the street did not log every refusal {needles:?}:\n{}",
        street.logged()
    );

    // Nothing of the forged blob was stored.
    let photo_hash = blake3::hash(REAL_PHOTO).to_hex().to_string();
    let forged_hash = blake3::hash(FORGED_PHOTO).to_hex().to_string();
    for hash in [&photo_hash, &forged_hash] {
        let out = yizhan(&s, &["blob", "get", hash]);
        assert!(!out.status.success(), "blob {hash} should not be held");
    }
    assert_eq!(json(&s, &["status"])["blobs"], 0);

    // Forged changes from an admitted member: each refused before anything is applied.
    let docs_before = json(&s, &["doc", "list"]);
    let own = h.key.clone();
    let impostor = Keypair::generate_ed25519();
    let evil_doc = DocumentId::parse(&format!("{EVIL}/directory")).unwrap();
    // (a) signed by the wrong key.
    let (change, proof) = forge(&h, &impostor, &evil_doc, "a-wrong-key");
    h.send_change(&evil_doc, change, proof);
    // (b) correctly signed, then one byte altered.
    let (mut change, proof) = forge(&h, &own, &evil_doc, "b-tampered");
    let last = change.len() - 2;
    change[last] ^= 0x01;
    h.send_change(&evil_doc, change, proof);
    // (c) documents it may not write: its sibling's ledger, and the charter.
    let sibling_ledger = DocumentId::ledger(
        PlaceId::parse("guandu/yiliu/xinyazhou").unwrap(),
        Utc::now(),
    );
    let (change, proof) = forge(&h, &own, &sibling_ledger, "c-sibling");
    h.send_change(&sibling_ledger, change, proof);
    let charter = DocumentId::parse("guandu/charter").unwrap();
    let (change, proof) = forge(&h, &own, &charter, "c-charter");
    h.send_change(&charter, change, proof);
    let forged = [
        "signature that is not its author's".to_owned(),
        format!("refused changes to {evil_doc}: undecodable changes"),
        format!("{sibling_ledger} may not be exchanged with this peer"),
        "community at guandu/yiliu/evil may not write guandu/charter".to_owned(),
    ];
    let forged: Vec<&str> = forged.iter().map(String::as_str).collect();
    let all = h.pump(30, |_| logged_all(&street, &forged)).await;
    assert!(
        all,
        "the street did not refuse every forged change {forged:?}:\n{}",
        street.logged()
    );
    assert_eq!(
        json(&s, &["doc", "list"]),
        docs_before,
        "a forged change reached the store"
    );

    // (d) Revoked: the street revokes it; it loses access and cannot come back.
    ok(&s, &["revoke", &evil_id, "--reason", "misbehaved"]);
    assert!(
        h.pump(30, |_| street.logged().contains("peer lost access"))
            .await,
        "{}",
        street.logged()
    );
    h.victim = None;
    h.swarm
        .dial(street.addr().parse::<Multiaddr>().unwrap())
        .unwrap();
    let revoked = format!("{evil_id} has been revoked");
    assert!(
        h.pump(30, |_| street.logged().contains(&revoked)).await,
        "{}",
        street.logged()
    );
    let (change, proof) = forge(&h, &own, &evil_doc, "d-revoked");
    if h.victim.is_some() {
        h.send_change(&evil_doc, change, proof);
    }
    h.pump(2, |_| false).await;
    let docs_after = json(&s, &["doc", "list"]);
    let ids: Vec<&str> = docs_after
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&evil_doc.to_string().as_str()), "{ids:?}");
    assert!(
        !ids.contains(&sibling_ledger.to_string().as_str()),
        "{ids:?}"
    );

    // The node still serves its honest peer.
    ok(
        &c,
        &[
            "report",
            "submit",
            "--category",
            "traffic",
            "--lat",
            "24.9",
            "--lon",
            "102.7",
            "--text",
            "honest 2",
        ],
    );
    wait_for("the second honest report at the street", 30, || {
        json(&s, &["report", "list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["text"] == "honest 2")
    });
    let log = street.logged();
    assert!(!log.contains("panicked"), "{log}");
    street.stop();
    community.stop();
}
