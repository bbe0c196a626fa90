//! Pushing: changes go to a peer with the news that they exist, rather than
//! after the peer asks for them.
//!
//! A relay used to pass a change on by announcing it; the next hop pulled
//! and the relay then sent the change: three one-way trips per hop, and a
//! lost announcement waited for the 3 s re-check. A session that knows the
//! peer's heads (it synced on this connection), or the heads both sides held
//! when its state was saved on an earlier one, can tell what the peer
//! lacks, so the relay sends the changes at once: one trip per hop. The
//! message is an ordinary sync message that expects an answer, so a lost
//! push is sent again at the reply timeout, like any other.
//! `docs/protocol.md`, "Forwarding", has the rules.
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

/// Did a document at `mine` change since `saved` (a sync state saved on an
/// earlier connection) was saved? True when `mine` is not the digest of the
/// shared heads recorded in it; decoding it costs little, since the
/// encoding is those heads and little else.
pub(crate) fn changed_since(mine: Digest, saved: &[u8]) -> bool {
    match sync::State::decode(saved) {
        Ok(state) if !state.shared_heads.is_empty() => {
            Digest::of_heads(&state.shared_heads) != mine
        }
        _ => false,
    }
}

impl<P: Policy + ?Sized, D: Docs + ?Sized> Step<'_, P, D> {
    /// Tells `key` that `doc` changed here: with the changes if our session
    /// can tell what the peer lacks and the per-peer bounds allow, else with
    /// an announcement (tens of bytes) the peer answers by pulling.
    /// `created`: the document is new here, so a peer we never exchanged it
    /// with is taken to lack it.
    pub(crate) fn forward(
        &mut self,
        key: &PeerKey,
        doc: &DocumentId,
        digest: Digest,
        created: bool,
    ) {
        if self.push(key, doc, created) {
            return;
        }
        let message = Message::Announce(Announce {
            doc: doc.clone(),
            digest,
        });
        self.send(key, &message);
    }

    /// Sends `key` what it lacks of `doc`. The peer is taken to be where
    /// the session last knew it: at the heads it last sent on this
    /// connection, else at the heads both sides held when the state was
    /// saved (peers never lose changes they confirmed). With no session or
    /// saved state for the document at all, `unknown_is_empty` takes the
    /// peer to hold nothing of it. False, and nothing sent, if the session
    /// never synced with the peer (and that is not assumed), or the peer has
    /// no room for another message in flight.
    fn push(&mut self, key: &PeerKey, doc: &DocumentId, unknown_is_empty: bool) -> bool {
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
        let exists = p.sessions.contains_key(doc) || p.parking.contains(doc);
        if !exists && !unknown_is_empty {
            return false;
        }
        let Some(session) = p.session_entry(doc, read_only, self.config) else {
            return false;
        };
        session.set_read_only(read_only);
        if !exists {
            session.assume_peer_empty();
        } else if session.has_shared_heads() {
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

    /// On reconnect: every document that changed here since its state with
    /// `key` was saved (`changed`), then every one the peer never had
    /// (`new`), goes out at once, while slots last. The summary exchange and
    /// walk still run and find what this misses (documents past the
    /// bounds, a lost push, a guess that was wrong).
    pub(crate) fn push_on_reconnect(
        &mut self,
        key: &PeerKey,
        changed: &[DocumentId],
        new: &[DocumentId],
    ) {
        let docs = changed
            .iter()
            .map(|d| (d, false))
            .chain(new.iter().map(|d| (d, true)));
        for (doc, unknown_is_empty) in docs {
            let Some(p) = self.peers.get(key) else {
                return;
            };
            if !p.has_free_slot(self.config) {
                tracing::debug!(peer = %key, "push on reconnect stopped at the in-flight bound; the walk finds the rest");
                return;
            }
            self.push(key, doc, unknown_is_empty);
        }
    }
}
