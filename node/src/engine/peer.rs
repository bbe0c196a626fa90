//! `Peer`: everything the engine keeps about one connected peer: its
//! sessions, which of them await a reply, the queue of documents waiting for
//! a session slot, and the inventory re-check schedule.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crdt_model::DocumentId;

use super::backoff::{Backoff, Jitter};
use super::config::EngineConfig;
use super::digest::Digest;
use super::session::Session;

/// A session waiting for the peer's reply.
#[derive(Debug)]
pub(crate) struct Waiting {
    /// When to give up and restart the session.
    pub(crate) until_ms: u64,
    /// Grows on every restart without a reply in between.
    backoff: Backoff,
}

/// What the engine knows of one connected peer.
#[derive(Debug)]
pub(crate) struct Peer {
    /// One session per document exchanged with this peer.
    pub(crate) sessions: BTreeMap<DocumentId, Session>,
    /// Sessions awaiting a reply; at most `sessions_active_per_peer_max` are
    /// started by us, more may be answers to the peer.
    pub(crate) waiting: BTreeMap<DocumentId, Waiting>,
    pending: VecDeque<DocumentId>,
    pending_set: BTreeSet<DocumentId>,
    /// Documents not to start sessions for on this connection: the peer
    /// denied them, or our message for them exceeds the size limit.
    pub(crate) blocked: BTreeSet<DocumentId>,
    /// Our summary digest when the peer's last matched it; cleared when
    /// anything changes here.
    pub(crate) settled_at: Option<Digest>,
    recheck: Backoff,
    /// When to send our summary again, if unsettled.
    pub(crate) recheck_at: Option<u64>,
}

impl Peer {
    pub(crate) fn new(config: &EngineConfig) -> Peer {
        Peer {
            sessions: BTreeMap::new(),
            waiting: BTreeMap::new(),
            pending: VecDeque::new(),
            pending_set: BTreeSet::new(),
            blocked: BTreeSet::new(),
            settled_at: None,
            recheck: Backoff::new(config.recheck_ms_min, config.retry_backoff_ms_max),
            recheck_at: None,
        }
    }

    /// The session for `doc`, created if there is room.
    pub(crate) fn session_entry(
        &mut self,
        doc: &DocumentId,
        read_only: bool,
        config: &EngineConfig,
    ) -> Option<&mut Session> {
        if !self.sessions.contains_key(doc) && self.sessions.len() >= config.peer_docs_max {
            return None;
        }
        Some(
            self.sessions
                .entry(doc.clone())
                .or_insert_with(|| Session::new(None, read_only)),
        )
    }

    /// Room for one more session of our own making?
    pub(crate) fn has_free_slot(&self, config: &EngineConfig) -> bool {
        self.waiting.len() < config.sessions_active_per_peer_max
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
        let w = self.waiting.entry(doc.clone()).or_insert_with(|| Waiting {
            until_ms: now,
            backoff: Backoff::new(config.session_timeout_ms, config.retry_backoff_ms_max),
        });
        let delay = w.backoff.next(jitter);
        w.until_ms = now.saturating_add(config.reply_wait_ms(delay, bytes));
    }

    /// Sessions whose reply is overdue at `now`.
    pub(crate) fn overdue(&self, now: u64) -> Vec<DocumentId> {
        self.waiting
            .iter()
            .filter(|(_, w)| w.until_ms <= now)
            .map(|(d, _)| d.clone())
            .collect()
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
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        let sessions = self.waiting.values().map(|w| w.until_ms).min();
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
            session_timeout_ms: 1_000,
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
        assert_eq!(p.next_deadline(), Some(p.waiting[&d].until_ms));
        assert!(p.session_entry(&d, false, &config).is_some());
        assert!(p.session_entry(&doc("a/tasks"), false, &config).is_none());
    }
}
