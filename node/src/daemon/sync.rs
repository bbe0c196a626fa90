//! Driving the sync engine: feeding it input, carrying out its output, the
//! sync protocol's stream events and the community summaries a street writes.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use crdt_model::{DocKind, DocumentId};
use libp2p::{PeerId, request_response};
use tokio::time::Instant;
use tracing::{debug, error, warn};

use crate::engine::{Input, Output, PeerKey};
use crate::net::codec::Frame;

use super::peers::{STRIKE_WEIGHT_OVERSIZED, STRIKE_WEIGHT_REFUSED, STRIKES_LOGGED};
use super::*;

/// How many strikes a refusal counts: input that is broken or forged does;
/// what honest peers meet in ordinary operation (a document they may not
/// have, a peer not connected yet) does not.
pub(super) fn strike_weight(reason: &crate::engine::Refusal) -> u32 {
    use crate::engine::Refusal::*;
    match reason {
        TooLarge { .. }
        | UnknownVersion { .. }
        | Malformed { .. }
        | Forged { .. }
        | Violation { .. }
        | BadSyncMessage { .. } => STRIKE_WEIGHT_REFUSED,
        _ => 0,
    }
}

impl Daemon {
    /// Feeds the engine and carries out what it asks.
    pub(super) fn engine_input(&mut self, input: Input) {
        let now_ms = self.now_ms();
        let mut docs = RepoDocs {
            repo: &mut self.node.repo,
            now: Utc::now(),
            trust: self.trust.as_ref(),
            credential: self.credential.as_ref(),
            accepted: 0,
        };
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        // Checks are answered on the spot, each fed back until none is left.
        let outputs =
            engine.handle_and_check(input, now_ms, &mut docs, |docs, peer, doc, m, proof| {
                docs.check(peer, doc, m, proof)
            });
        self.metrics.changes_received.inc_by(docs.accepted);
        let mut struck: HashMap<PeerId, u32> = HashMap::new();
        for out in outputs {
            match out {
                Output::Send { peer, bytes } => match peer.as_str().parse::<PeerId>() {
                    Ok(p) => self.send_sync(p, bytes),
                    Err(_) => warn!(peer = %peer.as_str(), "engine addressed an unknown peer"),
                },
                Output::SaveSyncState { peer, doc, state } => {
                    // Stored with the step's group, after the changes it describes.
                    self.node
                        .repo
                        .stage_sync_state(peer.as_str(), &doc.to_string(), &state);
                }
                Output::Wake { at_ms } => {
                    self.wake = Some(self.started + Duration::from_millis(at_ms));
                }
                Output::Refused {
                    peer,
                    reason: crate::engine::Refusal::SequenceClash { doc, why },
                } => self.sequence_clash(&peer, doc, why),
                Output::Refused { peer, reason } => {
                    self.count_refusal(&reason);
                    let parsed = peer.as_str().parse::<PeerId>().ok();
                    // A flooding peer must not flood the log too: its first
                    // refusals are logged, then only its ban.
                    let strikes =
                        parsed.map_or(0, |p| self.strikes.count(&p, Instant::now().into_std()));
                    if strikes < STRIKES_LOGGED {
                        warn!(peer = %peer.as_str(), reason = %reason, "refused input from peer");
                    } else {
                        debug!(peer = %peer.as_str(), reason = %reason, "refused input from peer");
                    }
                    // One strike per input however many changes it carried:
                    // a relay's honest message may hold many changes refused
                    // for one reason.
                    if let Some(p) = parsed {
                        let w = struck.entry(p).or_insert(0);
                        *w = (*w).max(strike_weight(&reason));
                    }
                }
                // Answered inside `handle_and_check`; never returned by it.
                Output::Check { .. } => {}
                Output::Synced { peer, doc } => {
                    if let Ok(p) = peer.as_str().parse::<PeerId>() {
                        self.count_synced(&p);
                        self.escrow_synced(&p, &doc);
                        let row = self.sync_rows.entry((p, doc)).or_default();
                        row.in_sync = true;
                        row.last_synced = Some(Utc::now());
                        // Same heads on both sides: whatever clashed is gone.
                        row.problem = None;
                    }
                }
            }
        }
        for (p, weight) in struck.into_iter().filter(|(_, w)| *w > 0) {
            self.strike(p, weight, "refused input");
        }
    }

    /// A peer's changes to `doc` clash with ours. An honest peer's doing
    /// (two copies of one node wrote under one actor), so no strike; it
    /// cannot heal by retrying, so it is logged loudly once per document
    /// and peer, and `sync status` shows it until the two agree again.
    fn sequence_clash(&mut self, peer: &PeerKey, doc: DocumentId, why: String) {
        let Ok(p) = peer.as_str().parse::<PeerId>() else {
            return;
        };
        let row = self.sync_rows.entry((p, doc.clone())).or_default();
        row.in_sync = false;
        if row.problem.is_some() {
            debug!(peer = %p, doc = %doc, %why, "sequence clash again");
            return;
        }
        error!(
            peer = %p,
            doc = %doc,
            %why,
            "sequence clash: this document cannot sync with this peer; two copies of one node wrote under one actor, typically a store put back by copying its file instead of `yizhan restore` (docs/operator-guide.md, \"Backup and restore\")"
        );
        row.problem = Some(format!("sequence clash: {why}"));
    }

    /// Announces what was written and fetches the blobs it references.
    pub(super) fn after_step(&mut self) {
        let written = self.node.repo().take_written();
        let here = self.node.repo().take_written_here();
        self.metrics_dirty |= !written.is_empty();
        for doc in written {
            // The peer it came from holds it; everyone else is behind now.
            for ((p, d), row) in self.sync_rows.iter_mut() {
                if *d == doc && Some(*p) != self.source {
                    row.in_sync = false;
                }
            }
            if doc.kind() == DocKind::Reports {
                // The document's index learns what changed, reading only
                // the reports touched; alerts and blob fetches follow it.
                let touched = self.node.take_touched(&doc).unwrap_or_else(|e| {
                    warn!(doc = %doc, error = %e, "cannot read the reports a change touched");
                    crate::report_index::Touched::default()
                });
                if let Ok(Some(heads)) = self.node.repo().heads(&doc) {
                    self.alerts.changed(doc.clone(), heads, touched.reports);
                }
                self.want_blobs(&doc, touched.blobs);
                // A street keeps a summary of each of its communities.
                if self.node.config().role == crate::config::Role::Street
                    && doc.place().parent().as_ref() == Some(&self.node.config().place)
                {
                    self.summaries_due.insert(doc.place().clone());
                }
            }
            if doc.kind() == DocKind::Charter {
                self.recheck_peers();
            }
            // Written here (an operator's command, a witness record that
            // a peer's charter prompted) or with no peer behind it.
            if self.source.is_none() || here.contains(&doc) {
                self.engine_input(Input::LocalChange { doc });
            }
        }
        self.source = None;
        self.start_fetches();
    }

    pub(super) fn on_sync(&mut self, event: request_response::Event<Frame, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, Vec::new());
                let request = match request {
                    Frame::Bytes(b) => b,
                    Frame::Oversized { max } => {
                        warn!(%peer, max, "refused a sync message larger than the limit; nothing of it was read further");
                        self.strike(peer, STRIKE_WEIGHT_OVERSIZED, "oversized messages");
                        return;
                    }
                };
                // Charged with what decoding costs: a deflated frame is paid
                // for at the length it declares, not its length on the wire.
                let charged = crate::engine::wire::charged_len(&request);
                if let Some(verdict) = self.strikes.spend(peer, charged, Instant::now().into_std())
                {
                    self.punish(peer, verdict, "traffic over its budget");
                }
                if !self.connected.contains_key(&peer) {
                    return;
                }
                if !self.peer_creds.contains_key(&peer) {
                    // Let in by the gate just before it closed (revoked,
                    // struck out): nothing to do with it.
                    debug!(%peer, "dropped a sync message from a peer no longer admitted");
                    return;
                }
                // The gate let it through, so this node admitted the peer;
                // and the peer sends only once it admitted this node, so its
                // message may overtake its acknowledgement: it counts as one.
                if self.acked.insert(peer) {
                    self.peer_up(peer);
                }
                self.sync_bytes_received += request.len() as u64;
                self.source = Some(peer);
                self.engine_input(Input::Message {
                    peer: PeerKey::new(peer.to_string()),
                    bytes: request,
                });
            }
            request_response::Event::InboundFailure {
                peer,
                error: request_response::InboundFailure::ConnectionClosed,
                ..
            } => {
                // The message was taken; only its acknowledgement was lost.
                debug!(%peer, "a peer's connection closed before a sync message was acknowledged");
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                warn!(%peer, %error, "refused a sync message");
            }
            request_response::Event::Message {
                peer,
                message: request_response::Message::Response { request_id, .. },
                ..
            } => self.sync_slot_freed(peer, request_id),
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(%peer, %error, "a sync message was not delivered; the engine retries");
                self.sync_slot_freed(peer, request_id);
            }
            _ => {}
        }
    }

    /// Sends a sync message to `peer` within its window, or queues it.
    fn send_sync(&mut self, peer: PeerId, bytes: Vec<u8>) {
        match self.outbox.push(peer, bytes) {
            outbox::Push::Send(bytes) => self.put_on_wire(peer, bytes),
            outbox::Push::Queued => {}
            outbox::Push::Dropped => {
                debug!(%peer, "a sync message did not fit the peer's queue; the engine resends after its reply timeout");
            }
        }
    }

    fn put_on_wire(&mut self, peer: PeerId, bytes: Vec<u8>) {
        self.sync_bytes_sent += bytes.len() as u64;
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, Frame::Bytes(bytes));
        self.outbox.sent(peer, id);
    }

    /// A sync message to `peer` was acknowledged or lost: send what waited.
    fn sync_slot_freed(&mut self, peer: PeerId, id: request_response::OutboundRequestId) {
        for bytes in self.outbox.done(&peer, id) {
            self.put_on_wire(peer, bytes);
        }
    }

    /// Rewrites the summaries of communities whose reports changed, at most
    /// once every [`SUMMARY_INTERVAL_MS`].
    pub(super) fn write_summaries(&mut self) {
        if self.summaries_due.is_empty()
            || self.summaries_written.elapsed() < Duration::from_millis(SUMMARY_INTERVAL_MS)
        {
            return;
        }
        self.summaries_written = Instant::now();
        let due = std::mem::take(&mut self.summaries_due);
        let now = Utc::now();
        let mut counted = Vec::new();
        for place in due {
            let filter = crdt_model::StatsFilter {
                place: Some(place.clone()),
                ..Default::default()
            };
            match self.node.stats(&filter, now) {
                Ok(view) => counted.push((place, view.stats)),
                Err(e) => warn!(%place, error = %e, "cannot count a community's reports"),
            }
        }
        let id = DocumentId::singleton(self.node.config().place.clone(), DocKind::Summary);
        let r = self.node.repo.write(now, |w| {
            let doc = w.doc(&id)?;
            for (place, stats) in &counted {
                crdt_model::summary::put(doc, place, stats, now)?;
            }
            Ok(())
        });
        if let Err(e) = r {
            warn!(error = %e, "cannot write the statistics summary");
        }
    }
}
