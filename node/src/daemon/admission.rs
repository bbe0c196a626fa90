//! Admission: joining the federation, presenting and verifying credentials,
//! and re-checking peers when the charter changes or an admission lapses.

use std::time::Duration;

use chrono::Utc;
use crdt_model::DocumentId;
use libp2p::{PeerId, request_response};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::engine::{Engine, EngineConfig, Input, PeerKey};
use crate::net::codec::Frame;
use crate::trust::signing::TrustContext;
use crate::trust::{Credential, FederationPolicy, NodeKey};

use super::*;

impl Daemon {
    /// Starts syncing once this node is a verified member of a federation.
    pub(super) fn become_member(&mut self) {
        if self.engine.is_some() {
            return;
        }
        match self.node.federation_member(Utc::now()) {
            Ok(Some(me)) => {
                info!(role = %me.role, place = %me.place, "member of the federation; syncing");
                self.credential = self.node.credential().ok().flatten();
                let charter = self.node.charter_view().unwrap_or_default();
                self.trust = self
                    .credential
                    .as_ref()
                    .map(|c| TrustContext::new(c.federation.clone(), me.clone(), charter));
                let config = self.node.config();
                let policy =
                    FederationPolicy::new(me, config.replicate.clone(), config.summaries.clone());
                self.engine = Some(Engine::new(EngineConfig::default(), policy, self.seed));
                let peers: Vec<PeerId> = self.connected.keys().copied().collect();
                for p in peers {
                    self.present_credential(&p);
                }
                self.recheck_peers();
            }
            Ok(None) => warn!(
                "not a member of a federation yet: run `yizhan join TOKEN`; syncing nothing until then"
            ),
            Err(e) => {
                warn!(error = %e, "this node's own admission does not verify; syncing nothing")
            }
        }
    }

    /// A running member installed a new token (a renewal): checks of
    /// incoming changes use it, and every connected peer is shown it.
    pub(super) fn renewed(&mut self) {
        self.credential = self.node.credential().ok().flatten();
        match self.node.federation_member(Utc::now()) {
            Ok(Some(me)) => {
                if let Some(t) = self.trust.as_mut() {
                    t.me = me;
                }
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "the installed admission does not verify"),
        }
        let peers: Vec<PeerId> = self.connected.keys().copied().collect();
        for p in peers {
            self.present_credential(&p);
        }
    }

    /// Sends this node's credential to a newly connected peer.
    pub(super) fn present_credential(&mut self, peer: &PeerId) {
        if self.engine.is_none() {
            return;
        }
        match self.node.credential() {
            Ok(Some(cred)) => match serde_json::to_vec(&cred) {
                Ok(bytes) => {
                    self.swarm
                        .behaviour_mut()
                        .admission
                        .send_request(peer, Frame::Bytes(bytes));
                }
                Err(e) => warn!(error = %e, "cannot encode own credential"),
            },
            Ok(None) => {}
            Err(e) => warn!(error = %e, "cannot read own credential"),
        }
    }

    pub(super) fn on_admission(&mut self, event: request_response::Event<Frame, Vec<u8>>) {
        if let request_response::Event::OutboundFailure { peer, error, .. } = &event {
            // The peer never acknowledged our credential: show it again
            // while the connection lasts, or it stays half-admitted.
            if self.connected.contains_key(peer)
                && !self.admission_retries.iter().any(|(p, _)| p == peer)
            {
                debug!(%peer, %error, "credential not acknowledged; presenting it again");
                self.admission_retries.push((
                    *peer,
                    Instant::now() + Duration::from_millis(ADMISSION_RETRY_MS),
                ));
            }
            return;
        }
        let (peer, request, channel) = match event {
            request_response::Event::Message {
                peer,
                message: request_response::Message::Response { .. },
                ..
            } => {
                // The peer admitted this node: its gate is open to our streams.
                if self.connected.contains_key(&peer) {
                    self.acked.insert(peer);
                    self.peer_up(peer);
                }
                return;
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => (peer, request, channel),
            _ => return,
        };
        // The answer is sent only when the credential admits the peer, and
        // means that this node now takes its sync and blob streams; a peer
        // refused hears nothing and is disconnected.
        if self.engine.is_none() {
            debug!(%peer, "ignoring a credential: this node has not joined a federation");
            return;
        }
        if self
            .strikes
            .banned(&peer, Instant::now().into_std())
            .is_some()
        {
            // Its connection is closing; a credential still in flight on it
            // must not let it back in.
            debug!(%peer, "ignoring the credential of a peer kept out for its strikes");
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        match self.verify_peer(&peer, &request) {
            Ok((cred, member)) => {
                if let Some(e) = member.expires {
                    self.next_expiry = Some(self.next_expiry.map_or(e, |n| n.min(e)));
                }
                if let Some(held) = self.peer_creds.get_mut(&peer) {
                    // A renewed credential replaces the one the peer showed before.
                    if *held != cred {
                        info!(%peer, expires = ?member.expires, "peer renewed its credential");
                        *held = cred;
                        if let Some(engine) = self.engine.as_mut() {
                            engine
                                .policy_mut()
                                .admit_peer(PeerKey::new(peer.to_string()), member);
                        }
                    }
                    self.acknowledge(channel);
                    return;
                }
                // Open before answering (and before saying so in the log):
                // the peer sends only after the answer.
                let b = self.swarm.behaviour_mut();
                b.sync.open(peer);
                b.blob.open(peer);
                info!(%peer, role = %member.role, place = %member.place, "peer admitted");
                self.peer_labels
                    .insert(peer, super::monitor::peer_labels(&member));
                self.peer_creds.insert(peer, cred);
                self.unadmitted.remove(&peer);
                let addrs = self.pending_addrs.take(&peer);
                self.remember_peer(&peer, &addrs);
                if let Some(engine) = self.engine.as_mut() {
                    engine
                        .policy_mut()
                        .admit_peer(PeerKey::new(peer.to_string()), member);
                }
                self.acknowledge(channel);
                self.peer_up(peer);
            }
            Err(reason) => {
                warn!(%peer, %reason, "refused peer: its credential does not admit it to this federation");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    fn acknowledge(&mut self, channel: request_response::ResponseChannel<Vec<u8>>) {
        let _ = self
            .swarm
            .behaviour_mut()
            .admission
            .send_response(channel, Vec::new());
    }

    /// Starts syncing with `peer` once each side has admitted the other:
    /// this node verified its credential, and it acknowledged ours. Before
    /// both, one side's streams would meet the other's closed gate.
    pub(super) fn peer_up(&mut self, peer: PeerId) {
        if !self.peer_creds.contains_key(&peer)
            || !self.acked.contains(&peer)
            || !self.up.insert(peer)
        {
            return;
        }
        let states = self
            .node
            .repo()
            .sync_states_for(&peer.to_string())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(doc, state)| DocumentId::parse(&doc).ok().map(|d| (d, state)))
            .collect();
        // What was in sync on an earlier connection is not known to be now
        // (the peer may have lost or gained changes meanwhile): this
        // connection's sessions and summaries say so again.
        for ((p, _), row) in self.sync_rows.iter_mut() {
            if *p == peer {
                row.in_sync = false;
            }
        }
        self.count_peer_up(&peer);
        // Before the engine hears of it, so the ledger's first session
        // already counts towards a return due.
        self.escrow_peer_up(peer);
        self.engine_input(Input::PeerUp {
            peer: PeerKey::new(peer.to_string()),
            sync_states: states,
        });
    }

    pub(super) fn verify_peer(
        &mut self,
        peer: &PeerId,
        request: &Frame,
    ) -> Result<(Credential, crate::trust::Member), String> {
        let Frame::Bytes(bytes) = request else {
            return Err("credential larger than any admission chain".into());
        };
        let cred: Credential =
            serde_json::from_slice(bytes).map_err(|e| format!("malformed credential: {e}"))?;
        let mine = self
            .node
            .credential()
            .map_err(|e| e.to_string())?
            .ok_or("no own credential")?;
        if cred.federation != mine.federation {
            return Err(format!(
                "it belongs to the federation of {} (root {})",
                cred.federation.place, cred.federation.root
            ));
        }
        let key = NodeKey::of_peer(peer).map_err(|e| e.to_string())?;
        let revoked = self.node.revoked().map_err(|e| e.to_string())?;
        let member = cred
            .verify_for(&key, Utc::now(), &|k| revoked.contains(k))
            .map_err(|e| e.to_string())?;
        Ok((cred, member))
    }

    /// The charter changed, or an admission lapsed: reads the charter
    /// again, logs each statement it ignores once, records as a witness the
    /// cut-off of nodes this node could revoke, and drops peers whose
    /// chains no longer verify.
    pub(super) fn recheck_peers(&mut self) {
        let now = Utc::now();
        let known: Vec<Credential> = self.peer_creds.values().cloned().collect();
        match self.node.witness_cut_offs(now, &known) {
            Ok(recorded) => {
                for target in recorded {
                    info!(node = %target, "recorded where a cut-off node's valid work ends");
                }
            }
            Err(e) => warn!(error = %e, "cannot record a cut-off"),
        }
        let view = match self.node.charter_view() {
            Ok(v) => v,
            Err(e) => {
                warn!(error = %e, "cannot read the charter");
                return;
            }
        };
        for (key, why) in &view.ignored {
            if self.charter_ignored.len() < CHARTER_IGNORED_MAX
                && self.charter_ignored.insert(key.clone())
            {
                warn!(entry = %key, reason = %why, "ignoring a charter statement");
            }
        }
        let revoked = view.revoked_keys();
        // The next moment a known admission lapses, to look again then.
        self.next_expiry = view
            .credentials
            .values()
            .chain(self.peer_creds.values())
            .filter_map(|c| c.structure().ok()?.expires)
            .filter(|e| *e > now.timestamp())
            .min();
        let fingerprint = (
            revoked.clone(),
            view.cutoffs.values().map(Vec::len).sum::<usize>(),
        );
        if let Some(t) = self.trust.as_mut() {
            t.charter = view;
        }
        if fingerprint != self.trust_fingerprint {
            // Changes refused under the old charter may be acceptable now.
            info!(
                revoked = fingerprint.0.len(),
                cut_off_records = fingerprint.1,
                "the charter changed what this node accepts; comparing with every peer again"
            );
            self.trust_fingerprint = fingerprint;
            self.engine_input(Input::TrustChanged);
        }
        let lost: Vec<(PeerId, String)> = self
            .peer_creds
            .iter()
            .filter_map(|(p, cred)| {
                let key = NodeKey::of_peer(p).ok()?;
                cred.verify_for(&key, now, &|k| revoked.contains(k))
                    .err()
                    .map(|e| (*p, e.to_string()))
            })
            .collect();
        for (p, why) in lost {
            warn!(peer = %p, reason = %why, "peer lost access");
            self.drop_peer(&p);
            let _ = self.swarm.disconnect_peer_id(p);
        }
    }

    /// Presents this node's credential again to peers that did not
    /// acknowledge it and are still connected.
    pub(super) fn retry_admissions(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .admission_retries
            .iter()
            .filter(|(_, at)| *at <= now)
            .map(|(p, _)| *p)
            .collect();
        self.admission_retries.retain(|(_, at)| *at > now);
        for p in due {
            if self.connected.contains_key(&p) {
                self.present_credential(&p);
            }
        }
    }

    /// Looks again once the earliest known admission has lapsed.
    pub(super) fn recheck_if_lapsed(&mut self) {
        if self
            .next_expiry
            .is_some_and(|e| e <= Utc::now().timestamp())
        {
            self.next_expiry = None;
            self.recheck_peers();
        }
    }
}
