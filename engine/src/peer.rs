//! `Peer`: everything the engine keeps about one connected peer: its
//! sessions, which of them await a reply, the queue of documents waiting for
//! a session slot, and the inventory re-check schedule.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crdt_model::{DocumentId, PlaceId};

use super::check::PeerChecks;
use super::config::EngineConfig;
use super::digest::Digest;
use super::park::Parking;
use super::retry::{Backoff, Jitter, Rtt, Waiting, arm, new_waiting, overdue, shorten};
use super::session::Session;
use super::wire::ChildKey;

/// An inventory request: the place (`None` = root) and the first key wanted.
pub(crate) type InventoryKey = (Option<PlaceId>, Option<ChildKey>);

/// What the engine knows of one connected peer.
#[derive(Debug)]
pub(crate) struct Peer {
    /// One session per document exchanged with this peer.
    pub(crate) sessions: BTreeMap<DocumentId, Session>,
    /// Sessions awaiting a reply; at most `sessions_active_per_peer_max` are
    /// started by us, more may be answers to the peer.
    pub(crate) waiting: BTreeMap<DocumentId, Waiting>,
    /// Inventory requests of our tree walk awaiting an answer.
    pub(crate) walk: BTreeMap<InventoryKey, Waiting>,
    /// Inventory requests waiting for a free slot, in order.
    walk_queue: VecDeque<InventoryKey>,
    walk_queued: BTreeSet<InventoryKey>,
    /// Our summary sent with `reply: true`, awaiting the peer's.
    asking: Option<Waiting>,
    /// We left the walk to the peer; if it has not begun by then, we walk.
    expect_walk: Option<Waiting>,
    pending: VecDeque<DocumentId>,
    pending_set: BTreeSet<DocumentId>,
    /// Documents not to start sessions for on this connection: the peer
    /// denied them, our message for them exceeds the size limit, or its
    /// changes clash with ours (a sequence number reused).
    pub(crate) blocked: BTreeSet<DocumentId>,
    /// Our summary digest when the peer's last matched it; cleared when
    /// anything changes here.
    pub(crate) settled_at: Option<Digest>,
    /// The peer's last summary said it holds nothing we share with it:
    /// sessions we start for it begin knowing so (see
    /// [`Session::assume_peer_empty`]).
    pub(crate) peer_empty: bool,
    /// The digest in the peer's last summary that asked for our answer:
    /// when both sides asked at once, only the smaller digest walks the tree.
    pub(crate) asked_with: Option<Digest>,
    recheck: Backoff,
    /// When to send our summary again, if unsettled.
    pub(crate) recheck_at: Option<u64>,
    /// Round trips measured to this peer.
    rtt: Rtt,
    /// When the peer last sent a valid message.
    heard_ms: Option<u64>,
    /// Its sync messages held for trust checks.
    pub(crate) checks: PeerChecks,
    /// Sessions at rest long enough to leave memory (`crate::park`).
    pub(crate) parking: Parking,
    /// Answers owed to the peer, deferred past the per-call answer budget:
    /// document and whether the peer asked for a reply. Made on the next
    /// tick, which is due at once while any are owed.
    pub(crate) owed: BTreeMap<DocumentId, bool>,
    /// Queued sessions were left for the next tick by the per-call bound
    /// on sessions opened; that tick is due at once.
    pub(crate) more_to_open: bool,
}

impl Peer {
    pub(crate) fn new(config: &EngineConfig) -> Peer {
        Peer {
            sessions: BTreeMap::new(),
            waiting: BTreeMap::new(),
            walk: BTreeMap::new(),
            walk_queue: VecDeque::new(),
            walk_queued: BTreeSet::new(),
            asking: None,
            expect_walk: None,
            pending: VecDeque::new(),
            pending_set: BTreeSet::new(),
            blocked: BTreeSet::new(),
            settled_at: None,
            peer_empty: false,
            asked_with: None,
            recheck: Backoff::new(config.recheck_ms_min, config.retry_backoff_ms_max),
            recheck_at: None,
            rtt: Rtt::new(),
            heard_ms: None,
            checks: PeerChecks::default(),
            parking: Parking::default(),
            owed: BTreeMap::new(),
            more_to_open: false,
        }
    }

    /// The peer sent a valid message at `now`.
    pub(crate) fn heard(&mut self, now: u64) {
        self.heard_ms = Some(now);
    }

    fn reply_timeout_ms(&self, config: &EngineConfig) -> u64 {
        self.rtt
            .timeout_ms(config.reply_timeout_ms_min, config.reply_timeout_ms)
    }

    /// A message for `doc`'s session arrived: stop waiting, and measure the
    /// round trip if what we waited on was sent only once.
    pub(crate) fn session_answered(
        &mut self,
        doc: &DocumentId,
        now: u64,
        config: &EngineConfig,
        jitter: &mut Jitter,
    ) {
        if let Some(w) = self.waiting.remove(doc) {
            self.measure(&w, now, config, jitter);
        }
    }

    /// The answer to inventory request `key` arrived; false if we were not
    /// waiting for it (a duplicate, or not ours).
    pub(crate) fn inventory_answered(
        &mut self,
        key: &InventoryKey,
        now: u64,
        config: &EngineConfig,
        jitter: &mut Jitter,
    ) -> bool {
        match self.walk.remove(key) {
            Some(w) => {
                self.measure(&w, now, config, jitter);
                true
            }
            None => false,
        }
    }

    /// Measures the round trip `w` waited on, if it was sent once. The
    /// first measurement on a connection also shortens every wait armed
    /// before it: those waited the initial 5 s for want of a measure, and a
    /// push lost on connecting (`crate::push`) would otherwise wait that
    /// long while the re-check comes at 3 s.
    fn measure(&mut self, w: &Waiting, now: u64, config: &EngineConfig, jitter: &mut Jitter) {
        if w.sends != 1 {
            return;
        }
        let first = !self.rtt.measured();
        self.rtt.sample(now.saturating_sub(w.sent_ms));
        if first {
            let base = self.reply_timeout_ms(config);
            let waits = self
                .waiting
                .values_mut()
                .chain(self.walk.values_mut())
                .chain(self.asking.iter_mut())
                .chain(self.expect_walk.iter_mut());
            for w in waits {
                shorten(w, base, config, jitter);
            }
        }
    }

    /// The session for `doc`, created if there is room.
    pub(crate) fn session_entry(
        &mut self,
        doc: &DocumentId,
        read_only: bool,
        config: &EngineConfig,
    ) -> Option<&mut Session> {
        if !self.sessions.contains_key(doc) {
            let session = match self.parking.unpark(doc, read_only) {
                Some(parked) => parked,
                None if self.sessions.len() + self.parking.len() >= config.peer_docs_max => {
                    return None;
                }
                None => Session::new(None, read_only),
            };
            self.sessions.insert(doc.clone(), session);
        }
        self.sessions.get_mut(doc)
    }

    /// Room for one more session of our own making? Counted in sessions
    /// and in bytes awaiting a reply (answers to the peer's sessions count
    /// too: they are ours to resend).
    pub(crate) fn has_free_slot(&self, config: &EngineConfig) -> bool {
        self.waiting.len() < config.sessions_active_per_peer_max
            && self.bytes_in_flight() < config.sync_bytes_in_flight_per_peer_max
    }

    /// Bytes of our sync messages awaiting the peer's reply.
    pub(crate) fn bytes_in_flight(&self) -> usize {
        self.waiting.values().map(|w| w.bytes).sum()
    }

    /// Starts (or extends, after a restart) the wait for a reply to a
    /// message of `bytes` sent at `now`.
    pub(crate) fn wait_for_reply(
        &mut self,
        doc: &DocumentId,
        bytes: usize,
        now: u64,
        config: &EngineConfig,
        jitter: &mut Jitter,
    ) {
        let base = self.reply_timeout_ms(config);
        let w = self.waiting.entry(doc.clone()).or_insert_with(new_waiting);
        arm(w, base, self.heard_ms, bytes, now, config, jitter);
    }

    /// Sessions whose reply is overdue at `now`.
    pub(crate) fn overdue(&self, now: u64) -> Vec<DocumentId> {
        overdue(&self.waiting, now)
    }

    /// Room for another inventory request?
    pub(crate) fn has_free_walk_slot(&self, config: &EngineConfig) -> bool {
        self.walk.len() < config.inventory_requests_per_peer_max
    }

    /// Starts (or extends, after a retry) the wait for the answer to an
    /// inventory request.
    pub(crate) fn wait_for_inventory(
        &mut self,
        key: &InventoryKey,
        now: u64,
        config: &EngineConfig,
        jitter: &mut Jitter,
    ) {
        let base = self.reply_timeout_ms(config);
        let w = self.walk.entry(key.clone()).or_insert_with(new_waiting);
        arm(w, base, self.heard_ms, 0, now, config, jitter);
    }

    /// Queues an inventory request for a free slot; false if the queue is
    /// full.
    pub(crate) fn queue_inventory(&mut self, key: &InventoryKey, config: &EngineConfig) -> bool {
        if self.walk_queued.contains(key) {
            return true;
        }
        if self.walk_queue.len() >= config.inventory_queue_per_peer_max {
            return false;
        }
        self.walk_queued.insert(key.clone());
        self.walk_queue.push_back(key.clone());
        true
    }

    /// The next queued inventory request, if a slot is free.
    pub(crate) fn dequeue_inventory(&mut self, config: &EngineConfig) -> Option<InventoryKey> {
        if !self.has_free_walk_slot(config) {
            return None;
        }
        let key = self.walk_queue.pop_front()?;
        self.walk_queued.remove(&key);
        Some(key)
    }

    /// Is inventory request `key` sent and unanswered, or queued?
    pub(crate) fn awaits_inventory(&self, key: &InventoryKey) -> bool {
        self.walk.contains_key(key) || self.walk_queued.contains(key)
    }

    /// Waits for the answer to our summary (sent or resent at `now`).
    pub(crate) fn wait_for_summary(
        &mut self,
        now: u64,
        config: &EngineConfig,
        jitter: &mut Jitter,
    ) {
        let base = self.reply_timeout_ms(config);
        let w = self.asking.get_or_insert_with(new_waiting);
        arm(w, base, self.heard_ms, 0, now, config, jitter);
    }

    /// The peer's answer to our summary arrived.
    pub(crate) fn summary_answered(
        &mut self,
        now: u64,
        config: &EngineConfig,
        jitter: &mut Jitter,
    ) {
        if let Some(w) = self.asking.take() {
            self.measure(&w, now, config, jitter);
        }
    }

    /// Is our summary still unanswered at `now`? `None` if none is out.
    pub(crate) fn summary_overdue(&self, now: u64) -> Option<bool> {
        self.asking.as_ref().map(|w| w.until_ms <= now)
    }

    /// Leaves the walk to the peer, for one reply timeout.
    pub(crate) fn expect_peer_walk(
        &mut self,
        now: u64,
        config: &EngineConfig,
        jitter: &mut Jitter,
    ) {
        let base = self.reply_timeout_ms(config);
        let w = self.expect_walk.get_or_insert_with(new_waiting);
        arm(w, base, self.heard_ms, 0, now, config, jitter);
    }

    /// The peer began its walk.
    pub(crate) fn peer_walks(&mut self) {
        self.expect_walk = None;
    }

    /// The peer was expected to walk but has not begun by `now`: our turn.
    pub(crate) fn take_overdue_walk(&mut self, now: u64) -> bool {
        let due = self.expect_walk.as_ref().is_some_and(|w| w.until_ms <= now);
        if due {
            self.expect_walk = None;
        }
        due
    }

    /// Inventory requests whose answer is overdue at `now`.
    pub(crate) fn overdue_inventory(&self, now: u64) -> Vec<InventoryKey> {
        overdue(&self.walk, now)
    }

    /// Waiting for any answer at all?
    pub(crate) fn busy(&self) -> bool {
        !self.waiting.is_empty()
            || !self.owed.is_empty()
            || !self.walk.is_empty()
            || !self.walk_queue.is_empty()
            || self.expect_walk.is_some()
    }

    /// Queues `doc` for a session slot; false if the queue is full (the next
    /// inventory re-check finds the document again).
    pub(crate) fn enqueue(&mut self, doc: &DocumentId, config: &EngineConfig) -> bool {
        if self.pending_set.contains(doc) {
            return true;
        }
        if self.pending.len() >= config.pending_sessions_per_peer_max {
            return false;
        }
        self.pending_set.insert(doc.clone());
        self.pending.push_back(doc.clone());
        true
    }

    /// Is `doc` queued for a session slot?
    pub(crate) fn is_pending(&self, doc: &DocumentId) -> bool {
        self.pending_set.contains(doc)
    }

    /// The next queued document.
    pub(crate) fn dequeue(&mut self) -> Option<DocumentId> {
        let doc = self.pending.pop_front()?;
        self.pending_set.remove(&doc);
        Some(doc)
    }

    /// Documents queued for a slot.
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Something changed here or there: compare summaries again soon.
    pub(crate) fn unsettle(&mut self, now: u64, jitter: &mut Jitter) {
        self.settled_at = None;
        self.recheck.reset();
        let at = now.saturating_add(self.recheck.next(jitter));
        self.recheck_at = Some(self.recheck_at.map_or(at, |t| t.min(at)));
    }

    /// The summaries matched at `digest`: no re-check until something changes.
    pub(crate) fn settle(&mut self, digest: Digest) {
        self.settled_at = Some(digest);
        self.recheck_at = None;
        self.recheck.reset();
    }

    /// Schedules the next re-check, backing off while unsettled.
    pub(crate) fn recheck_later(&mut self, now: u64, jitter: &mut Jitter) {
        self.recheck_at = Some(now.saturating_add(self.recheck.next(jitter)));
    }

    /// Puts the re-check off without growing the backoff (sessions are busy).
    pub(crate) fn postpone_recheck(&mut self, now: u64) {
        self.recheck_at = Some(now.saturating_add(self.recheck.current()));
    }

    /// The earliest time this peer needs a tick.
    pub(crate) fn next_deadline(&self, config: &EngineConfig) -> Option<u64> {
        if !self.owed.is_empty() || self.more_to_open {
            return Some(0);
        }
        let sessions = self
            .waiting
            .values()
            .chain(self.walk.values())
            .chain(self.asking.iter())
            .chain(self.expect_walk.iter())
            .map(|w| w.until_ms)
            .chain(self.parking.next_deadline(config))
            .min();
        match (sessions, self.recheck_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> DocumentId {
        DocumentId::parse(s).unwrap()
    }

    #[test]
    fn the_pending_queue_is_bounded_and_deduplicated() {
        let config = EngineConfig {
            pending_sessions_per_peer_max: 2,
            ..EngineConfig::default()
        };
        let mut p = Peer::new(&config);
        assert!(p.enqueue(&doc("a/roster"), &config));
        assert!(p.enqueue(&doc("a/roster"), &config));
        assert!(p.enqueue(&doc("a/tasks"), &config));
        assert!(!p.enqueue(&doc("a/directory"), &config));
        assert_eq!(p.pending_len(), 2);
        assert_eq!(p.dequeue(), Some(doc("a/roster")));
        assert!(p.enqueue(&doc("a/roster"), &config));
    }

    #[test]
    fn waits_back_off_across_restarts_and_bound_the_session_count() {
        let config = EngineConfig {
            reply_timeout_ms: 1_000,
            peer_docs_max: 1,
            ..EngineConfig::default()
        };
        let mut j = Jitter::new(0);
        let mut p = Peer::new(&config);
        let d = doc("a/roster");
        p.wait_for_reply(&d, 0, 0, &config, &mut j);
        let first = p.waiting[&d].until_ms;
        p.wait_for_reply(&d, 0, first, &config, &mut j);
        let second = p.waiting[&d].until_ms - first;
        assert!(second >= 2 * 1_000, "{first} then {second}");
        assert_eq!(p.overdue(first), Vec::<DocumentId>::new());
        assert_eq!(p.next_deadline(&config), Some(p.waiting[&d].until_ms));
        assert!(p.session_entry(&d, false, &config).is_some());
        assert!(p.session_entry(&doc("a/tasks"), false, &config).is_none());
    }
}
