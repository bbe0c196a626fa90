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
use node::engine::{AllowAll, Engine, EngineConfig, Input, MemDocs, Output, PeerKey};
use node::net::blob::{ChunkRequest, ChunkResponse};
use node::net::codec::Frame;
use node::net::{Behaviour, BehaviourEvent, build_swarm};

const EVIL: &str = "guandu/yiliu/evil";
const REAL_PHOTO: &[u8] = b"the photo the report claims to carry";
const FORGED_PHOTO: &[u8] = b"other bytes pretending to be it!!!!!";

/// The hostile peer: a swarm, and an engine that syncs one bogus document.
struct Hostile {
    swarm: Swarm<Behaviour>,
    engine: Engine<AllowAll>,
    docs: MemDocs,
    started: Instant,
    victim: Option<PeerId>,
    sync_failures: usize,
    credential: Vec<u8>,
}

impl Hostile {
    /// A hostile peer with `key`, presenting `token` (an admission it was
    /// given: it is an admitted member that misbehaves).
    fn new(key: Keypair, token: &str) -> Hostile {
        let credential =
            serde_json::to_vec(&node::trust::Credential::from_token(token).unwrap()).unwrap();
        let swarm = build_swarm(key, false).unwrap();
        let mut docs = MemDocs::new();
        // A report referencing a photo by the hash of bytes we will not send.
        let now = Utc::now();
        let place = PlaceId::parse(EVIL).unwrap();
        let mut doc = automerge::AutoCommit::new();
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
            docs,
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
    let (c, s, d) = (
        tmp.path().join("c"),
        tmp.path().join("s"),
        tmp.path().join("d"),
    );
    init(&c, "community", "guandu/yiliu/xinyazhou");
    init(&s, "street", "guandu/yiliu");
    init(&d, "district", "guandu");
    admit(&d, &s, "street", "guandu/yiliu", true);
    admit(&s, &c, "community", "guandu/yiliu/xinyazhou", false);
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
