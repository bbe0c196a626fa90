//! `EngineConfig`: the engine's local timings and resource bounds.
//!
//! Limits that both ends must agree on (message sizes, entries per inventory
//! message) are protocol constants in [`super::wire`]; what is here is a
//! node's own choice and may differ between peers.

use serde::{Deserialize, Serialize};

/// Wait for a peer's reply before the first round trip to it is measured,
/// and the most a measured timeout grows to. A message whose reply does not
/// come in time is sent again (a sync session restarts).
pub const REPLY_TIMEOUT_MS: u64 = 5_000;
/// Least wait for a reply, however fast the measured round trips.
pub const REPLY_TIMEOUT_MS_MIN: u64 = 1_000;
/// Longest wait between two retries of anything: resent requests, session
/// restarts and inventory re-checks. Retries double their wait only while
/// the peer stays silent; a peer that answers other messages is merely
/// losing some, and gets retried at the reply timeout.
pub const RETRY_BACKOFF_MS_MAX: u64 = 60_000;
/// First delay before the inventory is compared again after something
/// changed. Doubled while the peer stays unsettled, up to
/// [`RETRY_BACKOFF_MS_MAX`].
pub const RECHECK_MS_MIN: u64 = 3_000;
/// Slowest link a session timeout allows for: a session that sent `n` bytes
/// waits `n / LINK_BYTES_PER_S_MIN` seconds longer before it restarts, so a
/// large message on a slow uplink is not sent twice.
pub const LINK_BYTES_PER_S_MIN: u64 = 32 * 1024;
/// Sessions this engine starts and keeps waiting on per peer at once: as
/// many as one inventory answer can name, so a first sync starts every
/// differing document of a place in one frame rather than in turns.
pub const SESSIONS_ACTIVE_PER_PEER_MAX: usize = 1_024;
/// Bytes of our own sync messages awaiting the peer's reply, per peer: what
/// one peer can make us send before it answers. A session starts only while
/// the sum is under this (one always may, so a single large document still
/// syncs).
pub const SYNC_BYTES_IN_FLIGHT_PER_PEER_MAX: usize = 8 * 1024 * 1024;
/// Documents queued per peer for a session slot; more are left to the next
/// inventory re-check.
pub const PENDING_SESSIONS_PER_PEER_MAX: usize = 4_096;
/// Inventory requests awaiting an answer per peer; more wait in a queue.
pub const INVENTORY_REQUESTS_PER_PEER_MAX: usize = 64;
/// Inventory requests queued per peer; a walk wider than this finishes at
/// the next re-check.
pub const INVENTORY_QUEUE_PER_PEER_MAX: usize = 4_096;
/// Documents with sync state held per peer (one state per document the peer
/// shares with us).
pub const PEER_DOCS_MAX: usize = 100_000;
/// Peers connected at once.
pub const PEERS_MAX: usize = 256;
/// A session at rest in step with its peer this long leaves memory
/// (`crate::park`), in ms.
pub const SESSION_IDLE_MS: u64 = 30_000;
/// Trust checks asked of the driver and not yet answered, per peer: one per
/// document at a time. A batch of [`super::wire::BATCH_ENTRIES_MAX`] sync
/// messages asks that many checks in one call, so an honest peer stays
/// under this even with a driver that answers late; a sync message beyond
/// it is dropped as if lost.
pub const CHECKS_IN_FLIGHT_PER_PEER_MAX: usize = 2 * super::wire::BATCH_ENTRIES_MAX;
/// Bytes of sync messages (data and proof) held per peer for checks, asked
/// or queued: two whole frames, so one frame's worth can wait on a slow
/// driver while the next arrives. A message beyond it is dropped as if lost.
pub const CHECK_BYTES_PER_PEER_MAX: usize = 2 * super::wire::MESSAGE_BYTES_MAX;
/// Bytes of answers to one peer made in one engine call (one
/// [`super::Engine::handle`] or [`super::Engine::handle_and_check`]). A
/// batch of pulls for large documents would otherwise make the engine build
/// every answer before the driver could send or drop any; past this, the
/// received messages are applied but their answers are owed and made on the
/// next `Tick`, which the engine asks for at once.
pub const ANSWER_BYTES_PER_CALL_MAX: usize = 16 * 1024 * 1024;
/// Sync messages per peer held behind a check of the same document, in
/// arrival order. Each may be up to
/// [`super::wire::SYNC_MESSAGE_BYTES_MAX`]: this bounds what a slow driver
/// makes the engine hold; beyond it a message is dropped as if lost.
pub const CHECK_QUEUE_PER_PEER_MAX: usize = 16;
/// Sessions opened with one peer in one call. The rest open on the next
/// tick, due at once, so their messages leave in the next frame: the peer
/// checks and applies the first documents of a first sync while this node
/// makes the messages of the next ones, instead of waiting for all of them
/// (`docs/benchmarks.md`, "Cold sync in memory").
pub const SESSIONS_OPENED_PER_CALL_MAX: usize = 128;

/// Timings and bounds of one engine. `Default` gives the documented
/// constants of this module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// Wait for a reply before any round trip is measured, and the cap of
    /// the measured timeout, in ms.
    pub reply_timeout_ms: u64,
    /// Least wait for a reply, in ms.
    pub reply_timeout_ms_min: u64,
    /// Cap of every exponential backoff, in ms.
    pub retry_backoff_ms_max: u64,
    /// First delay of an inventory re-check after a change, in ms.
    pub recheck_ms_min: u64,
    /// Slowest link a session timeout allows for, in bytes per second.
    pub link_bytes_per_s_min: u64,
    /// Sessions started and awaiting a reply per peer.
    pub sessions_active_per_peer_max: usize,
    /// Bytes of our sync messages awaiting a reply per peer.
    pub sync_bytes_in_flight_per_peer_max: usize,
    /// Documents waiting for a session slot per peer.
    pub pending_sessions_per_peer_max: usize,
    /// Inventory requests awaiting an answer per peer.
    pub inventory_requests_per_peer_max: usize,
    /// Inventory requests queued per peer.
    pub inventory_queue_per_peer_max: usize,
    /// Documents with sync state per peer.
    pub peer_docs_max: usize,
    /// Peers connected at once.
    pub peers_max: usize,
    /// Trust checks asked and unanswered per peer.
    pub checks_in_flight_per_peer_max: usize,
    /// Bytes of sync messages held for checks per peer.
    pub check_bytes_per_peer_max: usize,
    /// Sync messages per peer queued behind a check of the same document.
    pub check_queue_per_peer_max: usize,
    /// Bytes of answers to one peer made in one engine call.
    pub answer_bytes_per_call_max: usize,
    /// Rest before a session in step with its peer is parked, in ms.
    pub session_idle_ms: u64,
    /// See [`SESSIONS_OPENED_PER_CALL_MAX`].
    pub sessions_opened_per_call_max: usize,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            reply_timeout_ms: REPLY_TIMEOUT_MS,
            reply_timeout_ms_min: REPLY_TIMEOUT_MS_MIN,
            retry_backoff_ms_max: RETRY_BACKOFF_MS_MAX,
            recheck_ms_min: RECHECK_MS_MIN,
            link_bytes_per_s_min: LINK_BYTES_PER_S_MIN,
            sessions_active_per_peer_max: SESSIONS_ACTIVE_PER_PEER_MAX,
            sync_bytes_in_flight_per_peer_max: SYNC_BYTES_IN_FLIGHT_PER_PEER_MAX,
            pending_sessions_per_peer_max: PENDING_SESSIONS_PER_PEER_MAX,
            inventory_requests_per_peer_max: INVENTORY_REQUESTS_PER_PEER_MAX,
            inventory_queue_per_peer_max: INVENTORY_QUEUE_PER_PEER_MAX,
            peer_docs_max: PEER_DOCS_MAX,
            peers_max: PEERS_MAX,
            checks_in_flight_per_peer_max: CHECKS_IN_FLIGHT_PER_PEER_MAX,
            check_bytes_per_peer_max: CHECK_BYTES_PER_PEER_MAX,
            check_queue_per_peer_max: CHECK_QUEUE_PER_PEER_MAX,
            answer_bytes_per_call_max: ANSWER_BYTES_PER_CALL_MAX,
            session_idle_ms: SESSION_IDLE_MS,
            sessions_opened_per_call_max: SESSIONS_OPENED_PER_CALL_MAX,
        }
    }
}

impl EngineConfig {
    /// How long to wait for a reply to a message of `bytes`, before backoff.
    pub(crate) fn reply_wait_ms(&self, base_ms: u64, bytes: usize) -> u64 {
        let per_s = self.link_bytes_per_s_min.max(1);
        let transfer_ms = (bytes as u64).saturating_mul(1_000) / per_s;
        base_ms.saturating_add(transfer_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_messages_wait_longer() {
        let c = EngineConfig::default();
        assert_eq!(c.reply_wait_ms(1_000, 0), 1_000);
        assert_eq!(c.reply_wait_ms(1_000, 32 * 1024), 2_000);
    }

    #[test]
    fn a_zero_link_speed_does_not_divide_by_zero() {
        let c = EngineConfig {
            link_bytes_per_s_min: 0,
            ..EngineConfig::default()
        };
        assert_eq!(c.reply_wait_ms(10, 2), 2_010);
    }
}
