//! Trust checks as requests with ids.
//!
//! A received sync message is not applied until the driver has checked the
//! changes it carries (who wrote them, and whether they may). The engine
//! holds the message, asks with [`Output::Check`] and applies it, or the
//! filtered message the answer names, when [`super::Input::Checked`] comes
//! back with the same [`CheckId`]. Checks of one document from one peer run
//! one at a time, in arrival order: a check reads the document as it is, so
//! a message whose changes build on those of an earlier one waits until the
//! earlier one is applied. Messages for other documents are checked
//! meanwhile.
//!
//! Bounds, per peer: [`EngineConfig::checks_in_flight_per_peer_max`] checks
//! asked and unanswered, [`EngineConfig::check_queue_per_peer_max`]
//! messages queued behind a check of the same document, and
//! [`EngineConfig::check_bytes_per_peer_max`] bytes held in both. A message
//! beyond any of them is dropped as if the network had lost it: the
//! sender's session times out and restarts, as it would after a loss.
//!
//! An answer whose id the engine does not hold (answered twice, or asked
//! for a peer that went down or reconnected since) is ignored and counted in
//! [`CheckStats::stale_answers`]: the message it was about belongs to a
//! connection that no longer exists, and the peer sends again what is still
//! missing.

use std::collections::{BTreeMap, VecDeque};

use automerge::sync;
use crdt_model::DocumentId;

use super::check_id::CheckId;
use super::config::EngineConfig;
use super::docs::{CheckOutcome, Docs};
use super::event::{Output, Refusal};
use super::peer_key::PeerKey;
use super::policy::Policy;
use super::prepared::Prepared;
use super::step::Step;

/// A received sync message waiting for its check, or for a check of the
/// same document ahead of it.
#[derive(Debug)]
pub(crate) struct HeldSync {
    /// The sender asked for an answer.
    pub(crate) reply: bool,
    /// The sender's state is fresh.
    pub(crate) reset: bool,
    /// The decoded Automerge message.
    pub(crate) message: sync::Message,
    /// The sender's proof of authorship, for the check.
    pub(crate) proof: Vec<u8>,
    /// Bytes received for it (sync data and proof), for the per-peer bound.
    pub(crate) bytes: usize,
}

/// A checked sync message, ready to apply.
#[derive(Debug)]
pub(crate) struct Received {
    /// The sender asked for an answer.
    pub(crate) reply: bool,
    /// The sender's state is fresh.
    pub(crate) reset: bool,
    /// The message, or its filtered form.
    pub(crate) message: sync::Message,
    /// The new document the check built from it, if any.
    pub(crate) prepared: Option<Prepared>,
}

/// A check asked and not yet answered: what to apply when it is.
#[derive(Debug)]
struct Asked {
    peer: PeerKey,
    doc: DocumentId,
    reply: bool,
    reset: bool,
    message: sync::Message,
    bytes: usize,
}

/// What became of check answers and of messages held for checks, for
/// status displays and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Checks asked and not yet answered, over all peers.
    pub in_flight: usize,
    /// Answers ignored because their id was not held (a duplicate, or the
    /// peer went down or reconnected meanwhile).
    pub stale_answers: u64,
    /// Received sync messages dropped because a per-peer check bound was
    /// reached.
    pub dropped_messages: u64,
}

/// Every check out, engine-wide, by id; the one place ids are minted.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    counter: u64,
    asked: BTreeMap<CheckId, Asked>,
    stale_answers: u64,
    dropped_messages: u64,
}

impl Checks {
    /// Forgets every check asked for `peer`: their answers will be stale.
    pub(crate) fn forget_peer(&mut self, peer: &PeerKey) {
        self.asked.retain(|_, a| a.peer != *peer);
    }

    pub(crate) fn stats(&self) -> CheckStats {
        CheckStats {
            in_flight: self.asked.len(),
            stale_answers: self.stale_answers,
            dropped_messages: self.dropped_messages,
        }
    }
}

/// What [`PeerChecks::queue`] did with a message.
enum Queued {
    /// Queued behind the check out for its document.
    Behind,
    /// No check is out for its document: ask one now.
    NoCheckOut(HeldSync),
    /// The queue is full: dropped.
    Full,
}

/// One peer's documents under check.
#[derive(Debug, Default)]
pub(crate) struct PeerChecks {
    /// Documents with a check out for this peer, each with the messages
    /// queued behind it in arrival order.
    under_check: BTreeMap<DocumentId, VecDeque<HeldSync>>,
    /// Messages in all those queues.
    queued: usize,
    /// Bytes of the messages held, asked and queued.
    held_bytes: usize,
}

impl PeerChecks {
    /// Checks asked for this peer and not answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.under_check.len()
    }

    /// Queues `held` behind the check out for `doc`, if there is one and
    /// room.
    fn queue(&mut self, doc: &DocumentId, held: HeldSync, config: &EngineConfig) -> Queued {
        if self.held_bytes.saturating_add(held.bytes) > config.check_bytes_per_peer_max {
            return Queued::Full;
        }
        let Some(queue) = self.under_check.get_mut(doc) else {
            return Queued::NoCheckOut(held);
        };
        if self.queued >= config.check_queue_per_peer_max {
            return Queued::Full;
        }
        self.held_bytes += held.bytes;
        queue.push_back(held);
        self.queued += 1;
        Queued::Behind
    }

    /// A check of `bytes` was answered: they are no longer held.
    fn release(&mut self, bytes: usize) {
        self.held_bytes = self.held_bytes.saturating_sub(bytes);
    }

    /// The next message queued behind `doc`'s check, or `None`, and then
    /// `doc` is no longer under check. Its bytes stay held until its own
    /// check is answered.
    fn next(&mut self, doc: &DocumentId) -> Option<HeldSync> {
        let queue = self.under_check.get_mut(doc)?;
        match queue.pop_front() {
            Some(held) => {
                self.queued -= 1;
                Some(held)
            }
            None => {
                self.under_check.remove(doc);
                None
            }
        }
    }
}

impl<P: Policy + ?Sized, D: Docs + ?Sized> Step<'_, P, D> {
    /// Holds a received sync message for `doc` and asks the driver to check
    /// it, or queues it behind a check of the same document already out.
    pub(crate) fn ask_check(&mut self, key: &PeerKey, doc: DocumentId, held: HeldSync) {
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        let held = match p.checks.queue(&doc, held, self.config) {
            Queued::Behind => return,
            Queued::NoCheckOut(held)
                if p.checks.in_flight() < self.config.checks_in_flight_per_peer_max =>
            {
                held
            }
            Queued::NoCheckOut(_) | Queued::Full => {
                self.checks.dropped_messages += 1;
                tracing::debug!(peer = %key, doc = %doc, "too many sync messages held for checks; dropped as if lost");
                return;
            }
        };
        p.checks.under_check.insert(doc.clone(), VecDeque::new());
        p.checks.held_bytes += held.bytes;
        self.emit_check(key, doc, held);
    }

    fn emit_check(&mut self, key: &PeerKey, doc: DocumentId, held: HeldSync) {
        let HeldSync {
            reply,
            reset,
            message,
            proof,
            bytes,
        } = held;
        let id = CheckId::next(&mut self.checks.counter);
        let asked = Asked {
            peer: key.clone(),
            doc: doc.clone(),
            reply,
            reset,
            message: message.clone(),
            bytes,
        };
        self.checks.asked.insert(id, asked);
        self.out.push(Output::Check {
            id,
            peer: key.clone(),
            doc,
            message,
            proof,
        });
    }

    /// The driver's answer to check `id`: applies the held message (or its
    /// filtered form), then asks for the next message queued behind it.
    /// `key`'s changes to `doc` clash with ours: retrying can never apply
    /// them, so stop waiting for the session and keep the document out of
    /// sessions with `key` until a message of its applies again.
    fn sequence_clash(&mut self, key: &PeerKey, doc: &DocumentId, why: String) {
        if let Some(p) = self.peers.get_mut(key) {
            p.waiting.remove(doc);
            if p.blocked.len() < self.config.peer_docs_max {
                p.blocked.insert(doc.clone());
            }
            if let Some(session) = p.sessions.get_mut(doc) {
                session.restart();
            }
        }
        let doc = doc.clone();
        self.refuse(key, Refusal::SequenceClash { doc, why });
    }

    pub(crate) fn checked(&mut self, id: CheckId, result: Result<CheckOutcome, String>) {
        let Some(asked) = self.checks.asked.remove(&id) else {
            self.checks.stale_answers += 1;
            tracing::debug!(check = %id, "answer to a check not held (a duplicate, or its peer went down); ignored");
            return;
        };
        let Asked {
            peer,
            doc,
            reply,
            reset,
            message,
            bytes,
        } = asked;
        if let Some(p) = self.peers.get_mut(&peer) {
            p.checks.release(bytes);
        }
        let message = match result {
            Err(why) => {
                let doc = doc.clone();
                self.refuse(&peer, Refusal::Forged { doc, why });
                None
            }
            Ok(CheckOutcome {
                clash: Some(why), ..
            }) => {
                self.sequence_clash(&peer, &doc, why);
                None
            }
            Ok(outcome) => {
                for why in outcome.refused {
                    let doc = doc.clone();
                    self.refuse(&peer, Refusal::Forged { doc, why });
                }
                // A prepared document stands for the message as received,
                // never for a filtered one.
                match outcome.filtered {
                    Some(filtered) => Some((filtered, None)),
                    None => Some((message, outcome.prepared)),
                }
            }
        };
        if let Some((message, prepared)) = message {
            let received = Received {
                reply,
                reset,
                message,
                prepared,
            };
            self.apply_sync(&peer, doc.clone(), received);
        }
        let next = self.peers.get_mut(&peer).and_then(|p| p.checks.next(&doc));
        if let Some(held) = next {
            self.emit_check(&peer, doc, held);
        }
    }
}
