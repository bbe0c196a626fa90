//! Pushing: changes go to a peer with the news that they exist, rather than
//! after the peer asks for them.
//!
//! A relay used to pass a change on by announcing it; the next hop pulled
//! and the relay then sent the change: three one-way trips per hop, and a
//! lost announcement waited for the 3 s re-check. A session that knows the
//! peer's heads (it synced on this connection, or its state was saved on an
//! earlier one) can tell what the peer lacks, so the relay sends the changes
//! at once: one trip per hop. The message is an ordinary sync message that
//! expects an answer, so a lost push is sent again at the reply timeout,
//! like any other. `docs/protocol.md`, "Forwarding", has the rules.
//!
//! What may be pushed unasked is bounded by what a session may have in
//! flight anyway: a push needs a free session slot (or the document's
//! session already awaiting an answer), and counts against
//! `sync_bytes_in_flight_per_peer_max`. Past either, the peer gets the
//! announcement and pulls when it can. The receiver checks pushed changes
//! exactly as pulled ones: trust check, policy, size limits.

use automerge::sync;
use crdt_model::DocumentId;

use super::digest::Digest;
use super::docs::Docs;
use super::peer_key::PeerKey;
use super::policy::Policy;
use super::step::Step;
use super::wire::{Announce, Message};

impl<P: Policy + ?Sized, D: Docs + ?Sized> Step<'_, P, D> {
    /// Tells `key` that `doc` changed here: with the changes if its session
    /// knows what the peer lacks and the per-peer bounds allow, else with an
    /// announcement (tens of bytes) the peer answers by pulling.
    pub(crate) fn forward(&mut self, key: &PeerKey, doc: &DocumentId, digest: Digest) {
        if self.push(key, doc, false) {
            return;
        }
        let message = Message::Announce(Announce {
            doc: doc.clone(),
            digest,
        });
        self.send(key, &message);
    }

    /// Sends `key` what its session on `doc` says the peer lacks. False,
    /// and nothing sent, if the session does not know the peer's heads
    /// (and `assume_shared` does not allow taking them from the saved
    /// state), or the peer has no room for another message in flight.
    fn push(&mut self, key: &PeerKey, doc: &DocumentId, assume_shared: bool) -> bool {
        let read_only = !self.access.accept(key, doc);
        let Some(p) = self.peers.get_mut(key) else {
            return false;
        };
        if p.blocked.contains(doc) {
            return false;
        }
        // A session already awaiting an answer takes no new slot: the push
        // replaces what it waits for.
        if !p.waiting.contains_key(doc) && !p.has_free_slot(self.config) {
            return false;
        }
        let knows = match p.sessions.get(doc) {
            Some(session) => session.knows_peer(),
            None => p.parking.in_step(doc),
        };
        if !knows && !assume_shared {
            return false;
        }
        let Some(session) = p.session_entry(doc, read_only, self.config) else {
            return false;
        };
        session.set_read_only(read_only);
        if assume_shared {
            session.assume_peer_at_shared();
        }
        if !session.knows_peer() {
            return false;
        }
        let Some(am) = self.docs.get_mut(doc) else {
            return false;
        };
        let heads = am.get_heads();
        let Some(outgoing) = session.generate(am, false, false) else {
            return false;
        };
        self.send_sync(key, doc, Some(outgoing), &heads);
        true
    }

    /// Did `doc` change here since `saved` (a sync state saved on an
    /// earlier connection) was saved? True when our heads are not the
    /// shared heads recorded in it; decoding it costs little, since the
    /// encoding is those heads and little else.
    pub(crate) fn changed_since(&mut self, doc: &DocumentId, saved: &[u8]) -> bool {
        let Some(mine) = self.digests.of_doc(self.docs, doc) else {
            return false;
        };
        match sync::State::decode(saved) {
            Ok(state) if !state.shared_heads.is_empty() => {
                Digest::of_heads(&state.shared_heads) != mine
            }
            _ => false,
        }
    }

    /// On reconnect: every document of `changed` (changed here since its
    /// state with `key` was saved) goes out at once, taking the peer to be
    /// at the shared heads recorded then, while slots last. The summary
    /// exchange and walk still run and find anything this misses (a
    /// document the peer never had, one past the bounds, a lost push).
    pub(crate) fn push_on_reconnect(&mut self, key: &PeerKey, changed: &[DocumentId]) {
        for doc in changed {
            let Some(p) = self.peers.get(key) else {
                return;
            };
            if !p.has_free_slot(self.config) {
                tracing::debug!(peer = %key, "push on reconnect stopped at the in-flight bound; the walk finds the rest");
                return;
            }
            self.push(key, doc, true);
        }
    }
}
