//! A hostile peer speaking libp2p to a real `yizhan node start` process:
//! garbage, truncated, oversized and wrong-version messages on
//! `/yizhan/sync/1`, and a blob whose bytes do not match its hash on
//! `/yizhan/blob/1`. Each is refused with a logged reason, nothing of it is
//! stored, and the node keeps serving its honest peer.

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::*;
use crdt_model::report::{self, Attachment, AttachmentKind, NewReport};
use crdt_model::{Category, DocumentId, LatLon, Location, PlaceId, ReportId};
use futures::StreamExt as _;
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, request_response};
use node::engine::wire::{self, Message, SyncData};
use node::engine::{AllowAll, Docs, Engine, EngineConfig, Input, MemDocs, Output, PeerKey};
use node::net::blob::{ChunkRequest, ChunkResponse};
use node::net::codec::Frame;
use node::net::{Behaviour, BehaviourEvent, build_swarm};
use node::trust::Credential;
use node::trust::signing::{self, ChangeSignature, Proof};

const EVIL: &str = "guandu/yiliu/evil";

/// The actor id a node writes with: its public key.
fn actor_of(key: &Keypair) -> automerge::ActorId {
    automerge::ActorId::from(node::trust::NodeKey::of_keypair(key).unwrap().0.to_vec())
}
const REAL_PHOTO: &[u8] = b"the photo the report claims to carry";
const FORGED_PHOTO: &[u8] = b"other bytes pretending to be it!!!!!";

/// Documents the hostile peer syncs, with its own changes properly signed
/// so that the bait report passes and the forged blob is what gets tested.
struct SignedDocs {
    inner: MemDocs,
    key: Keypair,
    credential: Credential,
}

impl Docs for SignedDocs {
    fn ids(&self) -> Vec<DocumentId> {
        self.inner.ids()
    }
    fn get_mut(&mut self, id: &DocumentId) -> Option<&mut automerge::AutoCommit> {
        self.inner.get_mut(id)
    }
    fn create(&mut self, id: &DocumentId) -> &mut automerge::AutoCommit {
        self.inner.create(id)
    }
    fn changed(&mut self, id: &DocumentId, heads_before: &[automerge::ChangeHash]) {
        self.inner.changed(id, heads_before)
    }
    fn proof(&mut self, id: &DocumentId, base: &[automerge::ChangeHash]) -> Vec<u8> {
        let key = node::trust::NodeKey::of_keypair(&self.key).unwrap();
        let Some(doc) = self.inner.get_mut(id) else {
            return Vec::new();
        };
        let known: Vec<_> = base
            .iter()
            .filter(|h| doc.get_change_by_hash(h).is_some())
            .copied()
            .collect();
        let signatures = doc
            .get_changes(&known)
            .iter()
            .map(|c| ChangeSignature {
                hash: c.hash().0,
                author: key,
                signature: signing::sign(&self.key, &c.hash()).unwrap(),
            })
            .collect();
        Proof {
            signatures,
            authors: vec![self.credential.clone()],
        }
        .encode()
    }
}

/// The hostile peer: a swarm, and an engine that syncs one bait document.
struct Hostile {
    swarm: Swarm<Behaviour>,
    engine: Engine<AllowAll>,
    docs: SignedDocs,
    key: Keypair,
    started: Instant,
    victim: Option<PeerId>,
    sync_failures: usize,
    credential: Vec<u8>,
}

impl Hostile {
    /// A hostile peer with `key`, presenting `token` (an admission it was
    /// given: it is an admitted member that misbehaves).
    fn new(key: Keypair, token: &str) -> Hostile {
        let cred = Credential::from_token(token).unwrap();
        let credential = serde_json::to_vec(&cred).unwrap();
        let swarm = build_swarm(key.clone(), false).unwrap();
        let mut docs = MemDocs::with_actor(actor_of(&key));
        // A report referencing a photo by the hash of bytes we will not send.
        let now = Utc::now();
        let place = PlaceId::parse(EVIL).unwrap();
        let mut doc = automerge::AutoCommit::new().with_actor(actor_of(&key));
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
        Hostile {
            swarm,
            engine: Engine::new(EngineConfig::default(), AllowAll, 7),
            docs: SignedDocs {
                inner: docs,
                key: key.clone(),
                credential: cred,
            },
            key,
            started: Instant::now(),
            victim: None,
            sync_failures: 0,
            credential,
        }
    }

    fn feed(&mut self, input: Input) {
        let now = self.started.elapsed().as_millis() as u64;
        for out in self.engine.handle(input, now, &mut self.docs) {
            if let Output::Send { peer, bytes } = out {
                let p: PeerId = peer.as_str().parse().unwrap();
                self.swarm
                    .behaviour_mut()
                    .sync
                    .send_request(&p, Frame::Bytes(bytes));
            }
        }
    }

    /// Drives the swarm until `done` holds or `secs` pass.
    async fn pump(&mut self, secs: u64, mut done: impl FnMut(&Hostile) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        while !done(self) {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::select! {
                _ = tick.tick() => self.feed(Input::Tick),
                ev = self.swarm.select_next_some() => self.on_event(ev),
            }
        }
        true
    }

    fn on_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                self.victim = Some(peer_id);
                let cred = Frame::Bytes(self.credential.clone());
                self.swarm
                    .behaviour_mut()
                    .admission
                    .send_request(&peer_id, cred);
                self.feed(Input::PeerUp {
                    peer: PeerKey::new(peer_id.to_string()),
                    sync_states: vec![],
                });
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            })) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, Vec::new());
                if let Frame::Bytes(bytes) = request {
                    self.feed(Input::Message {
                        peer: PeerKey::new(peer.to_string()),
                        bytes,
                    });
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(
                request_response::Event::OutboundFailure { error, .. },
            )) => {
                eprintln!("hostile: a sync request failed: {error}");
                self.sync_failures += 1;
            }
            SwarmEvent::Behaviour(BehaviourEvent::Blob(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            })) => {
                let Frame::Bytes(request) = request else {
                    return;
                };
                let req = ChunkRequest::decode(&request).unwrap();
                // Claims the blob, sends other bytes.
                let forged = ChunkResponse::Chunk {
                    total: FORGED_PHOTO.len() as u64,
                    bytes: FORGED_PHOTO.to_vec(),
                };
                assert_eq!(req.offset, 0);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .blob
                    .send_response(channel, forged.encode());
            }
            _ => {}
        }
    }

    /// Sends one crafted sync message carrying `change` for `doc`, with `proof`.
    fn send_change(&mut self, doc: &DocumentId, change: Vec<u8>, proof: Proof) {
        let message = automerge::sync::Message {
            heads: vec![],
            need: vec![],
            have: vec![],
            changes: vec![change].into(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        };
        let bytes = wire::encode(&Message::Sync(SyncData {
            doc: doc.clone(),
            reply: true,
            reset: true,
            data: message.encode(),
            proof: proof.encode(),
        }))
        .unwrap();
        self.send_raw(bytes);
    }

    /// A fresh change by this peer putting `key`, and a proof for it signed
    /// by `signer` (its own key, or another).
    fn forge(&self, signer: &Keypair, key: &str) -> (Vec<u8>, Proof) {
        use automerge::transaction::Transactable as _;
        let mut doc = automerge::AutoCommit::new().with_actor(actor_of(&self.key));
        doc.put(automerge::ROOT, key, "forged").unwrap();
        doc.commit();
        let change = doc.get_last_local_change().unwrap();
        let proof = Proof {
            signatures: vec![ChangeSignature {
                hash: change.hash().0,
                author: node::trust::NodeKey::of_keypair(&self.key).unwrap(),
                signature: signing::sign(signer, &change.hash()).unwrap(),
            }],
            authors: vec![self.docs.credential.clone()],
        };
        (change.raw_bytes().to_vec(), proof)
    }

    fn send_raw(&mut self, bytes: Vec<u8>) {
        let victim = self.victim.unwrap();
        self.swarm
            .behaviour_mut()
            .sync
            .send_request(&victim, Frame::Bytes(bytes));
    }
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
            "honest 1",
        ],
    );
    wait_for("the honest report at the street", 30, || {
        json(&s, &["report", "list"]).as_array().unwrap().len() == 1
    });

    let evil_id = evil_key.public().to_peer_id().to_string();
    let mut h = Hostile::new(evil_key, &evil_token);
    let addr: Multiaddr = street.addr().parse().unwrap();
    h.swarm.dial(addr).unwrap();
    assert!(
        h.pump(20, |h| h.victim.is_some()).await,
        "could not connect to the street"
    );

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
    let (change, proof) = h.forge(&impostor, "a-wrong-key");
    h.send_change(&evil_doc, change, proof);
    // (b) correctly signed, then one byte altered.
    let (mut change, proof) = h.forge(&own, "b-tampered");
    let last = change.len() - 2;
    change[last] ^= 0x01;
    h.send_change(&evil_doc, change, proof);
    // (c) documents it may not write: its sibling's ledger, and the charter.
    let sibling_ledger = DocumentId::ledger(
        PlaceId::parse("guandu/yiliu/xinyazhou").unwrap(),
        Utc::now(),
    );
    let (change, proof) = h.forge(&own, "c-sibling");
    h.send_change(&sibling_ledger, change, proof);
    let charter = DocumentId::parse("guandu/charter").unwrap();
    let (change, proof) = h.forge(&own, "c-charter");
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
    let (change, proof) = h.forge(&own, "d-revoked");
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
