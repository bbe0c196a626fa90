//! Reconciliation: finding which documents differ without listing them all.
//!
//! Peers first swap one [`Summary`] digest over everything they share. If the
//! digests differ, the side that received the other's answer walks the place
//! tree: it sends its [`Inventory`] of the root (digests per district), the
//! peer answers with its inventories of the children whose digests differ,
//! and so on down, one level per message, until documents are reached; a
//! document whose heads digest differs gets a sync session. Equal subtrees
//! cost one hash and are never descended into. An [`Announce`] short-cuts all
//! of this for one document that just changed.

use std::collections::{BTreeMap, BTreeSet};

use crdt_model::PlaceId;

use super::digest::{Digest, SharedDocs};
use super::docs::Docs;
use super::peer_key::PeerKey;
use super::policy::Policy;
use super::step::Step;
use super::wire::{
    Announce, ChildKey, INVENTORY_ENTRIES_MAX, Inventory, Message, Summary, in_range,
};

impl<P: Policy + ?Sized, D: Docs + ?Sized> Step<'_, P, D> {
    /// Sends our summary; `reply` asks the peer for theirs.
    pub(crate) fn send_summary(&mut self, key: &PeerKey, reply: bool) {
        let digest = self.shared_with(key).root_digest();
        self.send(key, &Message::Summary(Summary { digest, reply }));
    }

    pub(crate) fn on_summary(&mut self, key: &PeerKey, summary: Summary) {
        let shared = self.shared_with(key);
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
        if summary.digest == mine {
            p.settle(mine);
            return;
        }
        p.settled_at = None;
        if p.recheck_at.is_none() {
            p.recheck_later(self.now, self.jitter);
        }
        // The asking side walks the tree once it has our answer; walking on
        // both sides of one exchange would only double the messages.
        if !summary.reply {
            self.send_inventory(key, None, None, None, &shared);
        }
    }

    pub(crate) fn on_inventory(&mut self, key: &PeerKey, inventory: Inventory) {
        let Inventory {
            node,
            from,
            to,
            entries,
        } = inventory;
        let shared = self.shared_with(key);
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
            if let Some(p) = self.peers.get_mut(key) {
                p.settle(shared.root_digest());
            }
            return;
        }
        for child in differing {
            match child {
                ChildKey::Place(place) => {
                    self.send_inventory(key, Some(&place), None, None, &shared)
                }
                ChildKey::Doc(doc) => self.want_session(key, &doc),
            }
        }
    }

    /// Sends our children of `node` within `[from, to)`, split into messages
    /// of at most [`INVENTORY_ENTRIES_MAX`] entries over adjacent key ranges.
    fn send_inventory(
        &mut self,
        key: &PeerKey,
        node: Option<&PlaceId>,
        from: Option<ChildKey>,
        to: Option<ChildKey>,
        shared: &SharedDocs,
    ) {
        let children: Vec<(ChildKey, Digest)> = shared
            .children(node)
            .into_iter()
            .filter(|(k, _)| in_range(k, from.as_ref(), to.as_ref()))
            .collect();
        let chunks: Vec<&[(ChildKey, Digest)]> = children.chunks(INVENTORY_ENTRIES_MAX).collect();
        if chunks.is_empty() {
            let message = Message::Inventory(Inventory {
                node: node.cloned(),
                from,
                to,
                entries: Vec::new(),
            });
            self.send(key, &message);
            return;
        }
        let mut start = from;
        for (i, chunk) in chunks.iter().enumerate() {
            let end = match chunks.get(i + 1).and_then(|next| next.first()) {
                Some((k, _)) => Some(k.clone()),
                None => to.clone(),
            };
            let message = Message::Inventory(Inventory {
                node: node.cloned(),
                from: start,
                to: end.clone(),
                entries: chunk.to_vec(),
            });
            self.send(key, &message);
            start = end;
        }
    }

    pub(crate) fn on_announce(&mut self, key: &PeerKey, announce: Announce) {
        let Announce { doc, digest } = announce;
        if !self.access.share(key, &doc) {
            return;
        }
        let mine = self
            .docs
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
