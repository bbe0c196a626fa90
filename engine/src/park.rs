//! Parking: a session that has rested in step with its peer for a while
//! leaves memory, and only the few bytes of its saved state stay.
//!
//! A district keeps years of documents in step with its street; a session
//! per document and peer, with Automerge's whole sync state, made memory
//! grow with every month of history held. Old months do not change, so
//! their sessions rest for good. After [`EngineConfig::session_idle_ms`]
//! at rest a session is replaced by its saved state (the shared heads,
//! about forty bytes), and brought back by [`Session::unpark`] when either
//! side needs it: a message from the peer, a change of ours, a re-check.
//! The states a driver hands over with `PeerUp` start out parked too, so a
//! reconnect no longer decodes every document's state at once.

use std::collections::{BTreeMap, VecDeque};

use crdt_model::DocumentId;

use super::config::EngineConfig;
use super::peer::Peer;
use super::session::Session;

/// A parked session's saved state, and how it was parked.
#[derive(Debug)]
pub(crate) struct Parked {
    saved: Vec<u8>,
    /// Parked at rest in step with the peer on this connection (so
    /// [`Session::unpark`] may assume the peer's heads), rather than handed
    /// over from an earlier connection.
    in_step: bool,
}

/// Parked sessions of one peer, and the sessions that came to rest, oldest
/// first, to park once idle long enough.
#[derive(Debug, Default)]
pub(crate) struct Parking {
    parked: BTreeMap<DocumentId, Parked>,
    resting: VecDeque<(u64, DocumentId)>,
}

impl Parking {
    /// Parks a state saved on an earlier connection.
    pub(crate) fn park_saved(&mut self, doc: DocumentId, saved: Vec<u8>) {
        self.parked.insert(
            doc,
            Parked {
                saved,
                in_step: false,
            },
        );
    }

    /// Is a session for `doc` parked?
    pub(crate) fn contains(&self, doc: &DocumentId) -> bool {
        self.parked.contains_key(doc)
    }

    /// How many sessions are parked.
    pub(crate) fn len(&self) -> usize {
        self.parked.len()
    }

    /// Takes `doc`'s parked session back, if any.
    pub(crate) fn unpark(&mut self, doc: &DocumentId, read_only: bool) -> Option<Session> {
        let p = self.parked.remove(doc)?;
        Some(if p.in_step {
            Session::unpark(p.saved, read_only)
        } else {
            Session::new(Some(p.saved), read_only)
        })
    }

    /// What was true of the peer's heads is no longer known (trust changed
    /// and every session starts over from its shared heads).
    pub(crate) fn forget_steps(&mut self) {
        for p in self.parked.values_mut() {
            p.in_step = false;
        }
    }

    /// When the oldest resting session may be parked.
    pub(crate) fn next_deadline(&self, config: &EngineConfig) -> Option<u64> {
        self.resting
            .front()
            .map(|(at, _)| at.saturating_add(config.session_idle_ms))
    }
}

impl Peer {
    /// `doc`'s session came to rest in step with the peer at `now`.
    pub(crate) fn rested(&mut self, doc: &DocumentId, now: u64, config: &EngineConfig) {
        let Some(session) = self.sessions.get_mut(doc) else {
            return;
        };
        if session.parkable().is_none() {
            return;
        }
        session.rested_at = Some(now);
        // One entry per rest; an entry whose session moved since is skipped
        // when it comes up. The bound only matters if rests outpace parking.
        if self.parking.resting.len() < config.peer_docs_max {
            self.parking.resting.push_back((now, doc.clone()));
        }
    }

    /// Parks the sessions that have rested untouched for
    /// [`EngineConfig::session_idle_ms`] by `now`.
    pub(crate) fn park_idle(&mut self, now: u64, config: &EngineConfig) {
        while let Some((at, _)) = self.parking.resting.front() {
            if at.saturating_add(config.session_idle_ms) > now {
                return;
            }
            if self.parking.resting.len() == 1 {
                // The last one: after a full sync the queue held an entry per
                // document, and an empty queue need not keep that room.
                self.parking.resting.shrink_to(16);
            }
            let Some((at, doc)) = self.parking.resting.pop_front() else {
                return;
            };
            if self.waiting.contains_key(&doc) || self.is_pending(&doc) {
                continue;
            }
            let Some(session) = self.sessions.get(&doc) else {
                continue;
            };
            if session.rested_at != Some(at) {
                continue;
            }
            let Some(saved) = session.parkable().map(<[u8]>::to_vec) else {
                continue;
            };
            self.sessions.remove(&doc);
            self.parking.parked.insert(
                doc,
                Parked {
                    saved,
                    in_step: true,
                },
            );
        }
    }
}
