//! Keeping the node's metrics (`crate::metrics`) up to date from the loop:
//! peers by place and role, syncs, refusals, blobs still wanted, and the
//! counts that need the store, refreshed off the loop.

use chrono::Utc;
use libp2p::PeerId;
use tokio::time::Instant;
use tracing::debug;

use crate::engine::Refusal;
use crate::metrics::{self, CategoryLabels, NodeMetrics, PeerLabels, ReasonLabels};
use crate::trust::Member;

use super::Daemon;

/// The label of a refusal's kind: bounded, whatever the peer sent.
pub(super) fn refusal_kind(reason: &Refusal) -> &'static str {
    match reason {
        Refusal::TooLarge { .. } => "too_large",
        Refusal::UnknownVersion { .. } => "unknown_version",
        Refusal::Malformed { .. } => "malformed",
        Refusal::Forged { .. } => "forged",
        Refusal::Violation { .. } => "violation",
        Refusal::BadSyncMessage { .. } => "bad_sync_message",
        Refusal::Denied { .. } => "denied",
        Refusal::TooManyDocs { .. } => "too_many_docs",
        Refusal::TooManyPeers { .. } => "too_many_peers",
        Refusal::UnknownPeer => "unknown_peer",
        Refusal::OutgoingTooLarge { .. } => "outgoing_too_large",
        Refusal::SequenceClash { .. } => "sequence_clash",
    }
}

/// A peer's labels from what its credential admits it as.
pub(super) fn peer_labels(member: &Member) -> PeerLabels {
    PeerLabels {
        place: member.place.to_string(),
        role: member.role.to_string(),
    }
}

impl Daemon {
    /// The peer started syncing with this node.
    pub(super) fn count_peer_up(&mut self, peer: &PeerId) {
        if let Some(labels) = self.peer_labels.get(peer) {
            self.metrics.peers_connected.get_or_create(labels).inc();
        }
    }

    /// The peer stopped syncing with this node.
    pub(super) fn count_peer_down(&mut self, peer: &PeerId) {
        if let Some(labels) = self.peer_labels.get(peer) {
            self.metrics.peers_connected.get_or_create(labels).dec();
        }
    }

    /// The peer and this node hold the same heads of a document now.
    pub(super) fn count_synced(&mut self, peer: &PeerId) {
        if let Some(labels) = self.peer_labels.get(peer) {
            self.metrics
                .last_sync
                .get_or_create(labels)
                .set(metrics::now_s());
        }
    }

    /// Input from a peer was refused.
    pub(super) fn count_refusal(&mut self, reason: &Refusal) {
        let labels = ReasonLabels {
            reason: refusal_kind(reason).to_owned(),
        };
        self.metrics.refused.get_or_create(&labels).inc();
    }

    /// Recomputes, on a blocking thread over what is durable, the counts
    /// that need the store: documents, the file's size, open and overdue
    /// cases by category. Within [`metrics::STORE_REFRESH_AFTER_WRITE_MS`]
    /// of a write, else every [`metrics::STORE_REFRESH_MS`].
    pub(super) fn refresh_store_metrics(&mut self) {
        if !self.metrics_served {
            // Nobody can read them: counting cases would be wasted work.
            return;
        }
        self.metrics.blobs_missing.set(self.wanted.len() as i64);
        let since = self.metrics_refreshed.elapsed().as_millis() as u64;
        let due = if self.metrics_dirty {
            metrics::STORE_REFRESH_AFTER_WRITE_MS
        } else {
            metrics::STORE_REFRESH_MS
        };
        if since < due {
            return;
        }
        // One count at a time: a count still running when the next is due
        // (a slow disk, a huge store) makes the next one wait.
        let Ok(mut tally) = self.case_tally.clone().try_lock_owned() else {
            return;
        };
        self.metrics_refreshed = Instant::now();
        self.metrics_dirty = false;
        let mut reader = self.node.reader();
        let m = self.metrics.clone();
        tokio::task::spawn_blocking(move || {
            let documents = reader.repo().document_ids().map(|d| d.len());
            let store = reader.repo().store();
            let bytes = std::fs::metadata(store.path()).map(|md| md.len());
            let blobs = store.blob_totals();
            if let (Ok(documents), Ok(bytes), Ok(blobs)) = (documents, bytes, blobs) {
                metrics::set_store(&m, documents, bytes, &blobs);
            }
            let counts = match tally.count(&mut reader, Utc::now()) {
                Ok(c) => c,
                Err(e) => {
                    debug!(error = %e, "cannot count cases for the metrics");
                    return;
                }
            };
            let labels = |(category, n): (crdt_model::Category, i64)| {
                (
                    CategoryLabels {
                        category: category.to_string(),
                    },
                    n,
                )
            };
            let (open, overdue) = (counts.open, counts.overdue);
            NodeMetrics::set_all(&m.cases_open, open.into_iter().map(labels));
            NodeMetrics::set_all(&m.cases_overdue, overdue.into_iter().map(labels));
        });
    }
}
