// An admitted member that misbehaves: a libp2p swarm with its own key and a
// real admission, syncing honestly through the engine so it holds what the
// node shares with it, and sending crafted changes, statements and blob
// requests on the side. A test helper, never part of the shipped binary.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use automerge::{AutoCommit, ChangeHash};
use crdt_model::DocumentId;
use futures::StreamExt as _;
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, request_response};
use node::engine::wire::{self, Message, SyncData};
use node::engine::{
    AllowAll, CheckOutcome, Docs, Engine, EngineConfig, Input, MemDocs, Output, PeerKey,
};
use node::net::blob::{ChunkRequest, ChunkResponse, blob_tree, serve};
use node::net::codec::Frame;
use node::net::{Behaviour, BehaviourEvent, build_swarm};
use node::store::BlobHash;
use node::trust::signing::{self, ChangeSignature, Proof};
use node::trust::{Credential, NodeKey};

/// The actor id a node writes with: its public key.
pub fn actor_of(key: &Keypair) -> automerge::ActorId {
    automerge::ActorId::from(NodeKey::of_keypair(key).unwrap().0.to_vec())
}

/// Documents the hostile member syncs, its own changes signed with its key
/// so that what it writes honestly passes.
pub struct SignedDocs {
    pub inner: MemDocs,
    key: Keypair,
    credential: Credential,
}

impl Docs for SignedDocs {
    fn ids(&self) -> Vec<DocumentId> {
        self.inner.ids()
    }
    fn get_mut(&mut self, id: &DocumentId) -> Option<&mut AutoCommit> {
        self.inner.get_mut(id)
    }
    fn create(&mut self, id: &DocumentId) -> &mut AutoCommit {
        self.inner.create(id)
    }
    fn changed(&mut self, id: &DocumentId, heads_before: &[ChangeHash]) {
        self.inner.changed(id, heads_before)
    }
    fn proof(&mut self, id: &DocumentId, base: &[ChangeHash]) -> Vec<u8> {
        let actor = actor_of(&self.key);
        let Some(doc) = self.inner.get_mut(id) else {
            return Vec::new();
        };
        let known: Vec<_> = base
            .iter()
            .filter(|h| doc.get_change_by_hash(h).is_some())
            .copied()
            .collect();
        // Only its own changes: what it relays of others goes unsigned and
        // is refused, which is fine for a test of its own writes.
        let signatures = doc
            .get_changes(&known)
            .iter()
            .filter(|c| c.actor_id() == &actor)
            .map(|c| ChangeSignature {
                hash: c.hash().0,
                signature: signing::sign(&self.key, id, &c.hash()).unwrap(),
            })
            .collect();
        Proof {
            signatures,
            authors: vec![self.credential.clone()],
        }
        .encode()
    }
}

/// The hostile member.
pub struct Hostile {
    pub swarm: Swarm<Behaviour>,
    engine: Engine<AllowAll>,
    pub docs: SignedDocs,
    pub key: Keypair,
    pub credential: Credential,
    started: Instant,
    /// The node it is connected to.
    pub victim: Option<PeerId>,
    pub sync_failures: usize,
    credential_bytes: Vec<u8>,
    /// When set, every blob request is answered with these bytes whatever
    /// hash was asked for.
    pub forged_blob: Option<Vec<u8>>,
    /// Answers to its own blob requests.
    pub blob_answers: Vec<ChunkResponse>,
    /// When its last connection to the node closed, if it did.
    pub closed_at: Option<Instant>,
}

impl Hostile {
    /// A hostile member with `key`, presenting `token` (a real admission),
    /// holding `docs` of its own.
    pub fn new(key: Keypair, token: &str, docs: MemDocs) -> Hostile {
        let credential = Credential::from_token(token).unwrap();
        let credential_bytes = serde_json::to_vec(&credential).unwrap();
        let swarm = build_swarm(key.clone(), false).unwrap();
        Hostile {
            swarm,
            engine: Engine::new(EngineConfig::default(), AllowAll, 7),
            docs: SignedDocs {
                inner: docs,
                key: key.clone(),
                credential: credential.clone(),
            },
            key,
            credential,
            started: Instant::now(),
            victim: None,
            sync_failures: 0,
            credential_bytes,
            forged_blob: None,
            blob_answers: Vec::new(),
            closed_at: None,
        }
    }

    /// Its peer id.
    pub fn peer_id(&self) -> String {
        self.key.public().to_peer_id().to_string()
    }

    /// Dials `addr` and waits for the connection.
    pub async fn connect(&mut self, addr: &str) {
        assert!(
            self.try_connect(addr, 20).await,
            "could not connect to {addr}"
        );
    }

    /// Dials `addr` and waits up to `secs` for the connection; false if it
    /// was not made (a node at its limit of pending connections refuses).
    pub async fn try_connect(&mut self, addr: &str, secs: u64) -> bool {
        self.victim = None;
        self.closed_at = None;
        self.swarm.dial(addr.parse::<Multiaddr>().unwrap()).unwrap();
        self.pump(secs, |h| h.victim.is_some() || h.closed_at.is_some())
            .await
            && self.victim.is_some()
    }

    fn feed(&mut self, input: Input) {
        let now = self.started.elapsed().as_millis() as u64;
        // A hostile member checks nothing it receives.
        let accept = |_: &mut _, _: &_, _: &_, _: &_, _: &_| Ok(CheckOutcome::default());
        for out in self
            .engine
            .handle_and_check(input, now, &mut self.docs, accept)
        {
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
    pub async fn pump(&mut self, secs: u64, mut done: impl FnMut(&Hostile) -> bool) -> bool {
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
                // It takes the node's streams without checking its credential.
                let b = self.swarm.behaviour_mut();
                b.sync.open(peer_id);
                b.blob.open(peer_id);
                let cred = Frame::Bytes(self.credential_bytes.clone());
                self.swarm
                    .behaviour_mut()
                    .admission
                    .send_request(&peer_id, cred);
                self.feed(Input::PeerUp {
                    peer: PeerKey::new(peer_id.to_string()),
                    sync_states: vec![],
                });
            }
            SwarmEvent::ConnectionClosed {
                num_established: 0, ..
            } => self.closed_at = Some(Instant::now()),
            SwarmEvent::OutgoingConnectionError { .. } if self.victim.is_none() => {
                self.closed_at = Some(Instant::now())
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
            // Acknowledges the node's credential, as an honest peer would
            // once it verified it: the node then syncs with it.
            SwarmEvent::Behaviour(BehaviourEvent::Admission(
                request_response::Event::Message {
                    message: request_response::Message::Request { channel, .. },
                    ..
                },
            )) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .admission
                    .send_response(channel, Vec::new());
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
                let (Frame::Bytes(request), Some(forged)) = (request, &self.forged_blob) else {
                    return;
                };
                let mut req = ChunkRequest::decode(&request).unwrap();
                assert_eq!(req.offset, 0);
                // Claims the blob, sends other bytes in the verified-streaming
                // form of their own tree.
                req.hash = BlobHash::of(forged);
                let answer = serve(&req, Some((forged, &blob_tree(forged)))).unwrap();
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .blob
                    .send_response(channel, answer.encode());
            }
            SwarmEvent::Behaviour(BehaviourEvent::Blob(
                request_response::Event::OutboundFailure { error, .. },
            )) => {
                eprintln!("hostile: a blob request failed: {error}");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Blob(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            })) => {
                if let Ok(answer) = ChunkResponse::decode(&response) {
                    self.blob_answers.push(answer);
                }
            }
            _ => {}
        }
    }

    /// Asks the node for the first chunk of blob `hash`.
    pub fn request_blob(&mut self, hash: &str) {
        let victim = self.victim.unwrap();
        let req = ChunkRequest {
            hash: hash.parse::<BlobHash>().unwrap(),
            offset: 0,
            len: 64 * 1024,
            prove_size: true,
        };
        self.swarm
            .behaviour_mut()
            .blob
            .send_request(&victim, Frame::Bytes(req.encode()));
    }

    /// Its synced copy of `doc`, forked so crafted changes stay out of
    /// what its engine syncs.
    pub fn fork(&mut self, doc: &DocumentId) -> Option<AutoCommit> {
        let d = self.docs.inner.get_mut(doc)?;
        Some(d.fork().with_actor(actor_of(&self.key)))
    }

    /// A proof that it wrote `change` into `doc`, signed with `signer`.
    pub fn proof_for(
        &self,
        signer: &Keypair,
        doc: &DocumentId,
        change: &automerge::Change,
    ) -> Proof {
        Proof {
            signatures: vec![ChangeSignature {
                hash: change.hash().0,
                signature: signing::sign(signer, doc, &change.hash()).unwrap(),
            }],
            authors: vec![self.credential.clone()],
        }
    }

    /// Sends one crafted sync message carrying `change` for `doc`, with `proof`.
    pub fn send_change(&mut self, doc: &DocumentId, change: Vec<u8>, proof: Proof) {
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

    /// Commits what `edit` does to `doc` (a fork of a synced document) as one
    /// change, signs it for `into` with its own key, and sends it.
    pub fn send_edit(
        &mut self,
        mut doc: AutoCommit,
        into: &DocumentId,
        edit: impl FnOnce(&mut AutoCommit),
    ) -> ChangeHash {
        edit(&mut doc);
        doc.commit();
        let change = doc.get_last_local_change().unwrap();
        let proof = self.proof_for(&self.key.clone(), into, &change);
        let hash = change.hash();
        self.send_change(into, change.raw_bytes().to_vec(), proof);
        hash
    }

    /// Sends bytes as one sync message.
    pub fn send_raw(&mut self, bytes: Vec<u8>) {
        let victim = self.victim.unwrap();
        self.swarm
            .behaviour_mut()
            .sync
            .send_request(&victim, Frame::Bytes(bytes));
    }
}
