//! A new document the driver's check already built, so the engine need not
//! build it a second time.
//!
//! To check a message's changes the driver loads them into a scratch copy of
//! the document (`node::trust::signing::check_changes`). For a document this
//! node does not hold yet — every document of a first sync — that copy holds
//! exactly the message's changes once all are accepted, and applying the
//! message again to an empty stand-in would decode and apply every change a
//! second time. The driver may hand the copy back in
//! [`super::CheckOutcome::prepared`]; the engine then takes it as the new
//! document and brings the sync state to where receiving the message would
//! have brought it ([`receive_into_prepared`]).
//!
//! Automerge's `receive_sync_message` cannot simply be given the prepared
//! document and the message without its changes: with no changes and heads
//! equal to the document's it records those heads as already sent to the
//! peer, and the peer is never told this node holds them (tried; it broke
//! convergence in the simulator). So the message is received without its
//! changes, and the two fields it would have set differently are set as the
//! message with changes sets them: the shared heads advanced by the new
//! changes, and the heads last sent left alone.

use std::collections::BTreeSet;

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, AutomergeError, ChangeHash};

/// A document built by the driver's check from one message's changes.
#[derive(Debug, Clone)]
pub struct Prepared {
    // Boxed: a document is large, and `Input` carries this inline.
    doc: Box<AutoCommit>,
    heads: Vec<ChangeHash>,
}

impl Prepared {
    /// Wraps `doc`, which must hold exactly the changes of the message it
    /// was checked for, every one accepted, and nothing else.
    pub fn new(mut doc: AutoCommit) -> Prepared {
        let mut heads = doc.get_heads();
        heads.sort_unstable();
        Prepared {
            doc: Box::new(doc),
            heads,
        }
    }

    /// Its heads, sorted.
    pub fn heads(&self) -> &[ChangeHash] {
        &self.heads
    }

    pub(crate) fn into_doc(self) -> AutoCommit {
        *self.doc
    }
}

/// Two prepared documents are equal when their heads are: the heads name
/// every change they hold.
impl PartialEq for Prepared {
    fn eq(&self, other: &Prepared) -> bool {
        self.heads == other.heads
    }
}

/// Receives `message` into `doc`, which already holds the message's changes
/// on top of a document whose heads were `before`, leaving `state` as
/// `receive_sync_message` of the whole message into the document at
/// `before` would. Never called for a read-only state: read-only sessions
/// apply no changes, so nothing is prepared for them.
pub(crate) fn receive_into_prepared(
    doc: &mut AutoCommit,
    before: &[ChangeHash],
    state: &mut sync::State,
    mut message: sync::Message,
) -> Result<(), AutomergeError> {
    let carried = !message.changes.is_empty();
    if !carried {
        return doc.sync().receive_sync_message(state, message);
    }
    message.changes = Vec::<Vec<u8>>::new().into();
    let heads_named = message.heads.clone();
    // What applying the changes does first: the new heads join the shared
    // ones (Automerge's `advance_heads`).
    let after = doc.get_heads();
    state.shared_heads = advanced(before, &after, &state.shared_heads);
    let last_sent = state.last_sent_heads.clone();
    doc.sync().receive_sync_message(state, message)?;
    // A message with changes never marks its heads as sent to the peer; a
    // message naming no heads resets the state either way.
    if !heads_named.is_empty() {
        state.last_sent_heads = last_sent;
    }
    Ok(())
}

/// The shared heads after applying changes that moved a document's heads
/// from `old` to `new`: the heads that are new, and the shared ones still
/// heads, sorted.
fn advanced(old: &[ChangeHash], new: &[ChangeHash], shared: &[ChangeHash]) -> Vec<ChangeHash> {
    let fresh = new.iter().filter(|h| !old.contains(h));
    let kept = shared.iter().filter(|h| new.contains(h));
    let set: BTreeSet<ChangeHash> = fresh.chain(kept).copied().collect();
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use automerge::{ROOT, transaction::Transactable};

    use super::*;

    /// A document of `n` changes by one actor, merged with `m` by another.
    fn writer(n: i64, m: i64) -> AutoCommit {
        let mut w = AutoCommit::new();
        let mut other = AutoCommit::new();
        for i in 0..n {
            w.put(ROOT, format!("a{i}"), i).unwrap();
            w.commit();
        }
        for i in 0..m {
            other.put(ROOT, format!("b{i}"), i).unwrap();
            other.commit();
        }
        w.merge(&mut other).unwrap();
        w
    }

    /// One receiving end: its document (empty until something arrives)
    /// and its state.
    #[derive(Default)]
    struct End {
        doc: AutoCommit,
        state: sync::State,
    }

    impl End {
        /// Takes in `message`; a first message with changes goes through a
        /// prepared document when `prepare` is set, as the engine does with
        /// the check's copy.
        fn take(&mut self, message: sync::Message, prepare: bool) {
            let fresh = self.doc.get_heads().is_empty();
            if prepare && fresh && !message.changes.is_empty() {
                let mut built = AutoCommit::new();
                for chunk in message.changes.iter() {
                    built.load_incremental(chunk).unwrap();
                }
                let mut built = Prepared::new(built).into_doc();
                receive_into_prepared(&mut built, &[], &mut self.state, message).unwrap();
                self.doc = built;
            } else {
                self.doc
                    .sync()
                    .receive_sync_message(&mut self.state, message)
                    .unwrap();
            }
        }
    }

    /// Runs a whole exchange between `w` and an empty receiver until both
    /// are quiet, the receiver speaking first if `receiver_first`, and
    /// returns every message the receiver sent and its final state.
    fn exchange(
        w: &AutoCommit,
        receiver_first: bool,
        prepare: bool,
    ) -> (Vec<Vec<u8>>, sync::State, Vec<ChangeHash>) {
        let mut w = w.clone();
        let mut ws = sync::State::new();
        let mut r = End::default();
        let mut said = Vec::new();
        if receiver_first {
            let m = r.doc.sync().generate_sync_message(&mut r.state).unwrap();
            said.push(m.clone().encode());
            w.sync().receive_sync_message(&mut ws, m).unwrap();
        }
        for _ in 0..20 {
            let from_w = w.sync().generate_sync_message(&mut ws);
            let quiet_w = from_w.is_none();
            if let Some(m) = from_w {
                r.take(m, prepare);
            }
            let from_r = r.doc.sync().generate_sync_message(&mut r.state);
            let quiet_r = from_r.is_none();
            if let Some(m) = from_r {
                said.push(m.clone().encode());
                w.sync().receive_sync_message(&mut ws, m).unwrap();
            }
            if quiet_w && quiet_r {
                let heads = r.doc.get_heads();
                assert_eq!(heads, w.get_heads(), "the exchange did not converge");
                return (said, r.state, heads);
            }
        }
        panic!("the exchange never went quiet");
    }

    #[test]
    fn a_prepared_document_leaves_the_state_receiving_would() {
        for (n, m) in [(1, 0), (10, 0), (3, 4)] {
            let w = writer(n, m);
            for receiver_first in [false, true] {
                let plain = exchange(&w, receiver_first, false);
                let prepared = exchange(&w, receiver_first, true);
                assert_eq!(
                    plain, prepared,
                    "{n}+{m} changes, receiver first: {receiver_first}"
                );
            }
        }
    }

    #[test]
    fn a_message_naming_heads_it_does_not_carry_leaves_the_same_state() {
        // The sender names a head whose change it left out (it believed the
        // receiver had it, a Bloom filter's false positive): the shared
        // heads are then the ones the changes it did carry advanced to.
        let mut a = writer(3, 0);
        let mut later = a.fork();
        later.put(ROOT, "c", 1).unwrap();
        later.commit();
        // A first message carries no changes: the receiver speaks first.
        let mut hello = End::default();
        let asks = hello.doc.sync().generate_sync_message(&mut hello.state);
        let mut state = sync::State::new();
        a.sync()
            .receive_sync_message(&mut state, asks.unwrap())
            .unwrap();
        let mut message = a.sync().generate_sync_message(&mut state).unwrap();
        assert!(!message.changes.is_empty());
        message.heads = later.get_heads();
        let mut plain = End::default();
        plain.take(message.clone(), false);
        let mut prepared = End::default();
        prepared.take(message, true);
        assert_eq!(plain.state, prepared.state);
        assert_eq!(plain.state.shared_heads, a.get_heads());
    }

    #[test]
    fn shared_heads_advance_by_the_new_heads_and_keep_the_shared_ones() {
        let w = writer(2, 2);
        let mut heads = w.clone().get_heads();
        heads.sort_unstable();
        let old = vec![heads[0]];
        let new = heads.clone();
        let gone = ChangeHash([9; 32]);
        assert_eq!(advanced(&old, &new, &[heads[0], gone]), heads);
        assert_eq!(advanced(&new, &new, &[gone]), Vec::<ChangeHash>::new());
    }
}
