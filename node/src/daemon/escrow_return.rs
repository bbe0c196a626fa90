//! A station's return of unused escrow when it reconnects to its community
//! (`[escrow] return_on_reconnect`, `docs/escrow.md`).
//!
//! A reconnect is the first community node of the station's place to start
//! syncing with it after none did (the first one after the node starts
//! counts: the node cannot tell how long it was away). What the station
//! holds per member at that moment is what it had left over from the cut.
//! The return waits until the community's ledger is in step with the
//! station's (a sync session ends with the same heads on both sides), so
//! the community has every redemption the station wrote while cut off
//! before it sees the return. The return itself is an ordinary `return`
//! move, which the write rules accept in any merge order; waiting only
//! keeps what operators see in order.
//!
//! Grants that reach the station with the heal were written for it to
//! spend, so each member's return is capped at what the station held when
//! it reconnected: a grant raises what it holds, never what it returns.

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;
use crdt_model::{DocumentId, MemberId};
use libp2p::PeerId;
use tracing::{info, warn};

use super::Daemon;
use crate::config::Role;

/// What the station knows about its community while
/// `return_on_reconnect` is on.
#[derive(Debug, Default)]
pub(super) struct ReconnectReturn {
    /// Community nodes of this station's place syncing with it now.
    community_up: HashSet<PeerId>,
    /// After a reconnect, until the return is written: what the station
    /// held then, per member, the most it returns.
    due: Option<BTreeMap<MemberId, i64>>,
    /// The community's ledger is in step with this station's since the
    /// reconnect: the return may be written.
    in_step: bool,
}

impl Daemon {
    fn returns_on_reconnect(&self) -> bool {
        let c = self.node.config();
        c.role == Role::Station && c.escrow.return_on_reconnect
    }

    /// True when `peer` was admitted as a community node of this station's
    /// place.
    fn is_own_community(&self, peer: &PeerId) -> bool {
        self.peer_creds
            .get(peer)
            .and_then(|c| c.structure().ok())
            .is_some_and(|m| m.role == Role::Community && m.place == self.node.config().place)
    }

    /// `peer` started syncing with this node: if it is the first community
    /// node of this station's place to do so, what the station holds now
    /// comes due for return.
    pub(super) fn escrow_peer_up(&mut self, peer: PeerId) {
        if !self.returns_on_reconnect() || !self.is_own_community(&peer) {
            return;
        }
        let first = self.escrow_return.community_up.is_empty();
        self.escrow_return.community_up.insert(peer);
        if !first {
            return;
        }
        // A return due from an earlier reconnect that never came in step is
        // replaced by what the station holds now.
        self.escrow_return.due = None;
        self.escrow_return.in_step = false;
        let held = match self.node.held_by_station(Utc::now()) {
            Ok(h) => h,
            Err(e) => {
                warn!(error = %e, "cannot read what this station holds in escrow; nothing is returned on this reconnect");
                return;
            }
        };
        if held.is_empty() {
            return;
        }
        let points: i64 = held.values().sum();
        info!(%peer, points, members = held.len(), "reconnected to the community; returning what this station holds once its ledger is in step");
        self.escrow_return.due = Some(held);
    }

    /// `peer` stopped syncing with this node.
    pub(super) fn escrow_peer_down(&mut self, peer: &PeerId) {
        self.escrow_return.community_up.remove(peer);
    }

    /// `peer` and this node hold the same heads of `doc`: when that is this
    /// year's ledger and a community node, a return due may be written.
    pub(super) fn escrow_synced(&mut self, peer: &PeerId, doc: &DocumentId) {
        let r = &self.escrow_return;
        if r.due.is_none() || !r.community_up.contains(peer) {
            return;
        }
        if *doc == DocumentId::ledger(self.node.config().place.clone(), Utc::now()) {
            self.escrow_return.in_step = true;
        }
    }

    /// Writes the return due, once the ledger is in step. Called after
    /// every step of the loop; costs a comparison when nothing is due.
    pub(super) fn escrow_return_due(&mut self) {
        if !self.escrow_return.in_step {
            return;
        }
        let Some(most) = self.escrow_return.due.take() else {
            return;
        };
        self.escrow_return.in_step = false;
        match self.node.return_held(Some(&most), Utc::now()) {
            Ok(moved) => {
                let points: i64 = moved.iter().map(|m| m.points).sum();
                self.metrics
                    .escrow_returned_on_reconnect
                    .inc_by(points.unsigned_abs());
                for m in &moved {
                    info!(member = %m.member, points = m.points, r#move = %m.id, "returned unused escrow on reconnecting");
                }
            }
            // Not retried: the operator can run `points escrow return --all`.
            Err(e) => {
                warn!(error = %e, "cannot return this station's escrow on reconnecting; `yizhan points escrow return --all` does it by hand")
            }
        }
    }
}
