//! Reconciliation: finding which documents differ without listing them all.
//!
//! Peers first swap one [`Summary`] digest over everything they share. If the
//! digests differ, one side walks the place tree: it asks for the peer's
//! [`Inventory`] of the root (digests per district), compares it with its
//! own, asks for the children of every place whose digest differs, and so on
//! down until documents are reached; a document whose heads digest differs
//! gets a sync session. Equal subtrees cost one hash and are never descended
//! into. Every request is answered by exactly one message, so the walker
//! retries what got lost and the answering side keeps no state. An
//! [`Announce`] short-cuts all of this for one document that just changed.

use std::collections::{BTreeMap, BTreeSet};

use crdt_model::PlaceId;

use super::Output;
use super::digest::{Digest, SharedDocs};
use super::docs::Docs;
use super::peer::InventoryKey;
use super::peer_key::PeerKey;
use super::policy::Policy;
use super::step::Step;
use super::wire::{
    Announce, ChildKey, INVENTORY_ENTRIES_MAX, Inventory, InventoryRequest, Message, Summary,
    in_range,
};

impl<P: Policy + ?Sized, D: Docs + ?Sized> Step<'_, P, D> {
    /// Sends our summary asking for the peer's, and waits for the answer.
    pub(crate) fn ask_summary(&mut self, key: &PeerKey) {
        let digest = self.shared_with(key, None).root_digest();
        self.ask_summary_of(key, digest);
    }

    /// [`Step::ask_summary`] with the digest already computed.
    pub(crate) fn ask_summary_of(&mut self, key: &PeerKey, digest: Digest) {
        if let Some(p) = self.peers.get_mut(key) {
            p.wait_for_summary(self.now, self.config, self.jitter);
        }
        let ask = Message::Summary(Summary {
            digest,
            reply: true,
        });
        self.send(key, &ask);
    }

    /// Our summary went unanswered: ask again.
    pub(crate) fn retry_summary(&mut self, key: &PeerKey) {
        let overdue = self
            .peers
            .get(key)
            .and_then(|p| p.summary_overdue(self.now));
        if overdue == Some(true) {
            self.ask_summary(key);
        }
    }

    /// Everything shared with `key` is the same on both sides: no re-check
    /// until something changes, and, the first time at this digest, report
    /// every shared document as synced (after a restart with nothing new,
    /// the summaries alone prove it and no session runs).
    fn settle(&mut self, key: &PeerKey, shared: &SharedDocs) {
        let digest = shared.root_digest();
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        let fresh = p.settled_at != Some(digest);
        p.settle(digest);
        if fresh {
            for doc in shared.ids() {
                self.out.push(Output::Synced {
                    peer: key.clone(),
                    doc: doc.clone(),
                });
            }
        }
    }

    pub(crate) fn on_summary(&mut self, key: &PeerKey, summary: Summary) {
        let shared = self.shared_with(key, None);
        let mine = shared.root_digest();
        if summary.reply {
            let answer = Message::Summary(Summary {
                digest: mine,
                reply: false,
            });
            self.send(key, &answer);
        }
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        if !summary.reply {
            p.summary_answered(self.now, self.config, self.jitter);
        }
        if summary.digest == mine {
            p.asked_with = None;
            self.settle(key, &shared);
            return;
        }
        p.settled_at = None;
        if p.recheck_at.is_none() {
            p.recheck_later(self.now, self.jitter);
        }
        let nothing = Digest::of_nothing();
        p.peer_empty = summary.digest == nothing;
        if p.peer_empty {
            // The peer holds nothing we share with it, so every shared
            // document differs: offer them all now, each session's first
            // message carrying its changes, rather than walk the tree to
            // learn level by level what the summary already says.
            p.asked_with = None;
            let docs: Vec<_> = shared.ids().cloned().collect();
            for doc in &docs {
                self.want_session(key, doc);
            }
            return;
        }
        if mine == nothing {
            // We hold nothing the peer shares: it offers everything when our
            // summary reaches it (above), so there is nothing to walk. What
            // gets lost is found by the re-check.
            p.asked_with = None;
            return;
        }
        if summary.reply {
            // The asking side walks the tree once it has our answer.
            p.asked_with = Some(summary.digest);
            return;
        }
        // Both sides asked at once (on connect, typically): both now hold
        // both digests, and only the side with the smaller one walks, so the
        // tree is not walked twice. Our answer to the peer may have been
        // lost, though: if its walk does not start within a reply timeout,
        // we walk.
        let both_asked = p.asked_with.take() == Some(summary.digest);
        if both_asked && mine > summary.digest {
            p.expect_peer_walk(self.now, self.config, self.jitter);
            return;
        }
        self.request_inventory(key, None, None);
    }

    /// Asks `key` for its children of `node` from `from` on, and waits for
    /// the answer. A request already awaiting its answer is left to its
    /// timer, so duplicated messages do not multiply requests.
    pub(crate) fn request_inventory(
        &mut self,
        key: &PeerKey,
        node: Option<PlaceId>,
        from: Option<ChildKey>,
    ) {
        let request = (node, from);
        if self
            .peers
            .get(key)
            .is_some_and(|p| p.awaits_inventory(&request))
        {
            return;
        }
        self.send_inventory_request(key, request);
    }

    /// Sends (or resends) `request` if a slot is free, else queues it.
    fn send_inventory_request(&mut self, key: &PeerKey, request: InventoryKey) {
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        if !p.walk.contains_key(&request) && !p.has_free_walk_slot(self.config) {
            if !p.queue_inventory(&request, self.config) {
                tracing::debug!(peer = %key, "inventory queue full; left to the next re-check");
            }
            return;
        }
        p.wait_for_inventory(&request, self.now, self.config, self.jitter);
        let (node, from) = request;
        self.send(
            key,
            &Message::InventoryRequest(InventoryRequest { node, from }),
        );
    }

    /// Sends queued inventory requests while slots are free.
    fn drain_inventory_queue(&mut self, key: &PeerKey) {
        while let Some(request) = self
            .peers
            .get_mut(key)
            .and_then(|p| p.dequeue_inventory(self.config))
        {
            self.send_inventory_request(key, request);
        }
    }

    /// Inventory requests that got no answer: ask again, waiting longer. And
    /// if the peer was to walk but has not begun, walk.
    pub(crate) fn retry_inventory(&mut self, key: &PeerKey) {
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        let walk_now = p.take_overdue_walk(self.now);
        for request in p.overdue_inventory(self.now) {
            self.send_inventory_request(key, request);
        }
        if walk_now {
            self.request_inventory(key, None, None);
        }
        self.drain_inventory_queue(key);
    }

    /// Answers with our children of the node asked for, at most
    /// [`INVENTORY_ENTRIES_MAX`] of them; `to` tells where to continue.
    pub(crate) fn on_inventory_request(&mut self, key: &PeerKey, request: InventoryRequest) {
        let InventoryRequest { node, from } = request;
        if node.is_none()
            && from.is_none()
            && let Some(p) = self.peers.get_mut(key)
        {
            p.peer_walks();
        }
        let shared = self.shared_with(key, node.as_ref());
        let mut children = shared
            .children(node.as_ref())
            .into_iter()
            .filter(|(k, _)| in_range(k, from.as_ref(), None));
        let entries: Vec<(ChildKey, Digest)> =
            children.by_ref().take(INVENTORY_ENTRIES_MAX).collect();
        let to = children.next().map(|(k, _)| k);
        let answer = Message::Inventory(Inventory {
            node,
            from,
            to,
            entries,
        });
        self.send(key, &answer);
    }

    /// Compares an answer with our own children in its range: walks into
    /// places that differ, syncs documents that differ, and asks for the rest
    /// of the node if the answer was partial. Answers we did not ask for (or
    /// already had) are ignored.
    pub(crate) fn on_inventory(&mut self, key: &PeerKey, inventory: Inventory) {
        let Inventory {
            node,
            from,
            to,
            entries,
        } = inventory;
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        if !p.inventory_answered(
            &(node.clone(), from.clone()),
            self.now,
            self.config,
            self.jitter,
        ) {
            return;
        }
        let shared = self.shared_with(key, node.as_ref());
        let mine: BTreeMap<ChildKey, Digest> = shared
            .children(node.as_ref())
            .into_iter()
            .filter(|(k, _)| in_range(k, from.as_ref(), to.as_ref()))
            .collect();
        let theirs: BTreeMap<ChildKey, Digest> = entries.into_iter().collect();
        let differing: BTreeSet<ChildKey> = mine
            .iter()
            .filter(|(k, d)| theirs.get(*k) != Some(*d))
            .map(|(k, _)| k.clone())
            .chain(theirs.keys().filter(|k| !mine.contains_key(*k)).cloned())
            .collect();
        if differing.is_empty() && node.is_none() && from.is_none() && to.is_none() {
            self.settle(key, &shared);
            return;
        }
        for child in differing {
            match child {
                ChildKey::Place(place) => self.request_inventory(key, Some(place), None),
                ChildKey::Doc(doc) => self.want_session(key, &doc),
            }
        }
        if to.is_some() {
            self.request_inventory(key, node, to);
        }
        self.drain_inventory_queue(key);
    }

    pub(crate) fn on_announce(&mut self, key: &PeerKey, announce: Announce) {
        let Announce { doc, digest } = announce;
        if !self.access.share(key, &doc) {
            return;
        }
        let mine = self
            .heads(&doc)
            .filter(|heads| !heads.is_empty())
            .map(|heads| Digest::of_heads(&heads));
        if mine == Some(digest) {
            return;
        }
        if let Some(p) = self.peers.get_mut(key) {
            p.unsettle(self.now, self.jitter);
        }
        self.want_session(key, &doc);
    }
}
