//! `Session`: the Automerge sync state of one document with one peer, and the
//! engine's bookkeeping around it (read-only mode, saving, `Synced`).
//!
//! Automerge's sync protocol assumes a reliable, ordered stream. The network
//! here may lose, duplicate and reorder, so the engine adds three things:
//! a flag asking the peer to answer even if it has nothing new (`reply`), a
//! flag telling the peer to forget which changes it believes it sent
//! (`reset`), and a restart that throws away everything but the shared heads
//! when a reply does not come (see `docs/protocol.md`).

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, AutomergeError, ChangeHash};

use super::prepared::receive_into_prepared;

/// An Automerge sync message ready to wrap in a [`super::wire::SyncData`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outgoing {
    /// `sync::Message::encode` output.
    pub(crate) data: Vec<u8>,
    /// Ask the peer to answer even if it has nothing new.
    pub(crate) reply: bool,
    /// Our state is fresh: the peer should forget what it thinks it sent us.
    pub(crate) reset: bool,
    /// Heads the peer is known to hold: the changes the message may carry
    /// are the ones after these.
    pub(crate) base: Vec<ChangeHash>,
    /// The message carries changes (and so needs their signatures).
    pub(crate) carries_changes: bool,
}

/// Sync with one peer on one document.
#[derive(Debug)]
pub(crate) struct Session {
    state: sync::State,
    read_only: bool,
    /// The peer sent us something since the state was last saved.
    heard: bool,
    /// The encoding last handed to the driver (or loaded from it).
    saved: Option<Vec<u8>>,
    /// Our heads when `Synced` was last reported, so duplicates stay quiet.
    synced_heads: Option<Vec<ChangeHash>>,
    /// When the session came to rest in step with the peer, if nothing
    /// happened on it since: a candidate for parking (`crate::park`).
    pub(crate) rested_at: Option<u64>,
    /// The next message asks the peer to reset although the state is not
    /// fresh (it was primed by [`Session::assume_peer_empty`]).
    reset_next: bool,
}

impl Session {
    /// A session from a persisted state, or a new one.
    pub(crate) fn new(saved: Option<Vec<u8>>, read_only: bool) -> Session {
        let state = saved
            .as_deref()
            .and_then(|bytes| sync::State::decode(bytes).ok());
        let saved = if state.is_some() { saved } else { None };
        let mut session = Session {
            state: state.unwrap_or_default(),
            read_only,
            heard: false,
            saved,
            synced_heads: None,
            rested_at: None,
            reset_next: false,
        };
        session.state.read_only = read_only;
        session
    }

    /// The session again from what [`Session::parkable`] gave: both sides
    /// were at the saved shared heads and nothing has passed between them
    /// since, so the peer is taken to be there still and to have nothing
    /// beyond them. A change of ours then goes out in the first message, as
    /// from a session never parked, rather than after a round trip to learn
    /// the peer's heads again. Were the peer elsewhere after all (a message
    /// lost), its answer says so and Automerge corrects course as usual.
    pub(crate) fn unpark(saved: Vec<u8>, read_only: bool) -> Session {
        let mut session = Session::new(Some(saved), read_only);
        if session.saved.is_some() {
            let shared = session.state.shared_heads.clone();
            session.state.their_have = Some(vec![sync::Have {
                last_sync: shared.clone(),
                bloom: sync::BloomFilter::default(),
            }]);
            session.state.their_need = Some(Vec::new());
            session.state.their_heads = Some(shared.clone());
            session.synced_heads = Some(shared);
            session.assume_capabilities();
        }
        session
    }

    /// A session loaded from a state saved on an earlier connection, primed
    /// to take the peer to be at the shared heads recorded then, so that its
    /// first message carries every change of ours since (the push on
    /// reconnect, `docs/protocol.md`). Peers never lose changes they
    /// confirmed, so the peer holds at least those heads; whatever else it
    /// got meanwhile (from another path) costs bytes when Automerge sends it
    /// again, and its answer corrects course. The message asks for a reset,
    /// as any first message from a state read from disk does.
    pub(crate) fn assume_peer_at_shared(&mut self) {
        if self.state.their_heads.is_some() {
            return;
        }
        let shared = self.state.shared_heads.clone();
        self.state.their_have = Some(vec![sync::Have {
            last_sync: shared.clone(),
            bloom: sync::BloomFilter::default(),
        }]);
        self.state.their_need = Some(Vec::new());
        self.state.their_heads = Some(shared);
        self.assume_capabilities();
        self.reset_next = true;
    }

    /// Did the session ever sync with the peer (its state records heads
    /// both sides held)?
    pub(crate) fn has_shared_heads(&self) -> bool {
        !self.state.shared_heads.is_empty()
    }

    /// Does the session know the peer's heads, and so what it lacks?
    pub(crate) fn knows_peer(&self) -> bool {
        self.state.their_heads.is_some()
    }

    /// The saved state, if the session may be parked: at rest in step with
    /// the peer (its heads are the shared heads) and saved as it is now.
    pub(crate) fn parkable(&self) -> Option<&[u8]> {
        if self.heard {
            return None;
        }
        let saved = self.saved.as_deref()?;
        let mut shared = self.state.shared_heads.clone();
        shared.sort_unstable();
        let mut theirs = self.state.their_heads.clone()?;
        theirs.sort_unstable();
        (shared == theirs && self.synced_heads.is_some()).then_some(saved)
    }

    /// A fresh session with a peer known to hold nothing of the document
    /// (its summary said it shares nothing with us): take its heads to be
    /// empty, so the first message carries every change at once instead of
    /// only our heads, and the sync takes one round trip, not two. Were the
    /// peer to hold something after all, it answers with its heads and
    /// Automerge corrects course; the changes it had cost bytes, not
    /// correctness. A session that knows anything of the peer is left as is.
    pub(crate) fn assume_peer_empty(&mut self) {
        if self.state.their_heads.is_some() {
            return;
        }
        self.state.their_heads = Some(Vec::new());
        self.state.their_have = Some(vec![sync::Have {
            last_sync: Vec::new(),
            bloom: sync::BloomFilter::default(),
        }]);
        self.state.their_need = Some(Vec::new());
        self.assume_capabilities();
        self.reset_next = true;
    }

    /// Takes the peer to speak what every peer's Automerge 0.12 advertises
    /// in its first message, unless it said otherwise. With it, a peer
    /// lacking more than a third of the document gets the whole document
    /// compressed, as an answer to its own first message would, rather than
    /// every change one by one (3.3 times the bytes; 17 times for 1,000 new
    /// reports on 1,000, measured by the delta bench when pushing first
    /// forgot this).
    fn assume_capabilities(&mut self) {
        if self.state.their_capabilities.is_none() {
            self.state.their_capabilities = Some(vec![
                sync::Capability::MessageV1,
                sync::Capability::MessageV2,
            ]);
        }
    }

    /// Applies the policy: a read-only session ignores the peer's changes.
    pub(crate) fn set_read_only(&mut self, read_only: bool) {
        if self.read_only != read_only {
            self.read_only = read_only;
            // Not `State::set_read_only`: its switch-back reset would make the
            // peer resend everything. Dropping to the shared heads is enough.
            self.restart();
        }
    }

    /// Applies a peer's sync message.
    pub(crate) fn receive(
        &mut self,
        doc: &mut AutoCommit,
        message: sync::Message,
        reset: bool,
    ) -> Result<(), AutomergeError> {
        self.take_in(&message, reset);
        doc.sync().receive_sync_message(&mut self.state, message)
    }

    /// Takes in a peer's sync message whose changes `doc` already holds on
    /// top of a document whose heads were `before` (`crate::prepared`).
    pub(crate) fn receive_prepared(
        &mut self,
        doc: &mut AutoCommit,
        before: &[ChangeHash],
        message: sync::Message,
        reset: bool,
    ) -> Result<(), AutomergeError> {
        self.take_in(&message, reset);
        receive_into_prepared(doc, before, &mut self.state, message)
    }

    /// The engine's own bookkeeping for a received message, before
    /// Automerge's.
    fn take_in(&mut self, message: &sync::Message, reset: bool) {
        self.heard = true;
        self.rested_at = None;
        if reset {
            self.state.sent_hashes.clear();
        }
        // The peer names changes it lacks to apply others. If we believe we
        // sent them, the message carrying them was lost: Automerge would skip
        // them for good, and with replies still coming no timeout restarts
        // the session. Forget everything we believe we sent, not only what is
        // named: the peer names a change it lacks, not the ancestors it lacks
        // with it (it left out a change whose parent it never got, or
        // refused), and resending only the named one would trade that one
        // change back and forth for ever.
        if message
            .need
            .iter()
            .any(|h| self.state.sent_hashes.contains(h))
        {
            self.state.sent_hashes.clear();
        }
    }

    /// The next message for the peer, if any. `force` makes one even when
    /// there is nothing new (so the peer learns our heads); `ask_reply` asks
    /// the peer to do the same. A fresh state always asks for a reply and
    /// for a reset, since it knows nothing of the peer.
    pub(crate) fn generate(
        &mut self,
        doc: &mut AutoCommit,
        force: bool,
        ask_reply: bool,
    ) -> Option<Outgoing> {
        let fresh = self.state.their_heads.is_none();
        self.rested_at = None;
        if force {
            self.state.have_responded = false;
        }
        let base = self
            .state
            .their_heads
            .clone()
            .unwrap_or_else(|| self.state.shared_heads.clone());
        let message = doc.sync().generate_sync_message(&mut self.state)?;
        let carries_changes = !message.changes.is_empty();
        let reset = fresh || std::mem::take(&mut self.reset_next);
        Some(Outgoing {
            data: message.encode(),
            reply: ask_reply || reset,
            reset,
            base,
            carries_changes,
        })
    }

    /// Does a message just sent call for an answer? Yes if we asked for one,
    /// or if the peer's last known heads differ from ours (Automerge then
    /// always answers), unless the peer ignores our changes anyway.
    pub(crate) fn expects_reply(&self, sent: &Outgoing, our_heads: &[ChangeHash]) -> bool {
        if sent.reply {
            return true;
        }
        !self.state.is_peer_read_only() && !self.peer_at(our_heads)
    }

    /// Drops everything but the shared heads: in-flight markers, the hashes
    /// we believe we sent, and what we believed of the peer. Used when a
    /// reply did not come, since a lost message leaves Automerge waiting for
    /// an answer that will never arrive and skipping changes it thinks it sent.
    pub(crate) fn restart(&mut self) {
        let encoded = self.state.encode();
        self.state = sync::State::decode(&encoded).unwrap_or_default();
        self.state.read_only = self.read_only;
    }

    /// True when the peer last said it has exactly `our_heads`.
    pub(crate) fn peer_at(&self, our_heads: &[ChangeHash]) -> bool {
        self.state.their_heads.as_ref().is_some_and(|theirs| {
            let mut theirs = theirs.clone();
            theirs.sort_unstable();
            let mut ours = our_heads.to_vec();
            ours.sort_unstable();
            theirs == ours
        })
    }

    /// At rest with both sides at `our_heads`, and not yet reported at these
    /// heads: report it now.
    pub(crate) fn newly_synced(&mut self, our_heads: &[ChangeHash]) -> bool {
        if !self.peer_at(our_heads) || self.synced_heads.as_deref() == Some(our_heads) {
            return false;
        }
        self.synced_heads = Some(our_heads.to_vec());
        true
    }

    /// The state to persist, if the peer replied since the last save and it
    /// changed.
    pub(crate) fn take_save(&mut self) -> Option<Vec<u8>> {
        if !self.heard {
            return None;
        }
        self.heard = false;
        let encoded = self.state.encode();
        if self.saved.as_ref() == Some(&encoded) {
            return None;
        }
        self.saved = Some(encoded.clone());
        Some(encoded)
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ROOT, transaction::Transactable};

    use super::*;

    fn doc_with(key: &str) -> AutoCommit {
        let mut d = AutoCommit::new();
        d.put(ROOT, key, 1).unwrap();
        d
    }

    /// Runs two sessions over a perfect link until both are quiet.
    fn run(a: &mut (Session, AutoCommit), b: &mut (Session, AutoCommit)) -> usize {
        let (mut from, mut to) = (a, b);
        let mut next = from.0.generate(&mut from.1, true, true);
        let mut messages = 0;
        while let Some(out) = next {
            messages += 1;
            assert!(messages < 20, "no convergence");
            let m = sync::Message::decode(&out.data).unwrap();
            to.0.receive(&mut to.1, m, out.reset).unwrap();
            next = to.0.generate(&mut to.1, out.reply, false);
            std::mem::swap(&mut from, &mut to);
        }
        messages
    }

    #[test]
    fn two_sessions_converge_and_report_synced_once() {
        let mut a = (Session::new(None, false), doc_with("a"));
        let mut b = (Session::new(None, false), doc_with("b"));
        run(&mut a, &mut b);
        let ha = a.1.get_heads();
        assert_eq!(ha, b.1.get_heads());
        assert!(a.0.newly_synced(&ha));
        assert!(!a.0.newly_synced(&ha));
        assert!(a.0.take_save().is_some());
        assert!(a.0.take_save().is_none());
    }

    #[test]
    fn a_reply_flag_gets_an_answer_from_a_synced_peer() {
        let mut a = (Session::new(None, false), doc_with("a"));
        let mut b = (Session::new(None, false), AutoCommit::new());
        run(&mut a, &mut b);
        // Both synced; a restarts as if its last message had been lost.
        a.0.restart();
        let out = a.0.generate(&mut a.1, true, true).unwrap();
        assert!(out.reply && out.reset);
        let m = sync::Message::decode(&out.data).unwrap();
        b.0.receive(&mut b.1, m.clone(), out.reset).unwrap();
        assert!(b.0.generate(&mut b.1, false, false).is_none());
        b.0.receive(&mut b.1, m, out.reset).unwrap();
        assert!(b.0.generate(&mut b.1, true, false).is_some());
    }

    #[test]
    fn a_read_only_session_ignores_the_peers_changes() {
        let mut a = (Session::new(None, true), doc_with("a"));
        let mut b = (Session::new(None, false), doc_with("b"));
        run(&mut a, &mut b);
        assert_eq!(a.1.get_heads().len(), 1);
        assert_eq!(b.1.get_heads().len(), 2);
    }

    #[test]
    fn a_garbage_saved_state_starts_afresh() {
        let s = Session::new(Some(vec![1, 2, 3]), false);
        assert!(s.saved.is_none());
        assert!(s.state.their_heads.is_none());
    }
}
