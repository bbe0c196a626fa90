//! `Policy`: which documents a peer may read from us and write to us.
//!
//! The engine asks the policy before it lists a document in an inventory,
//! answers a sync message, or applies a peer's changes. Trust (admission
//! chains, roles, places) will implement it; until then [`AllowAll`] does.

use crdt_model::{DocKind, DocumentId};

use super::peer_key::PeerKey;

/// The access rules the engine consults. Must be deterministic for the
/// duration of one `handle` call.
pub trait Policy {
    /// May `peer` read `doc` from us? Governs listing, announcing and
    /// answering: without it the engine never mentions `doc` to `peer` and
    /// refuses any sync message for it.
    fn may_share(&self, peer: &PeerKey, doc: &DocumentId) -> bool;

    /// May `peer` write `doc` to us? Governs creating `doc` when `peer` offers
    /// it and applying `peer`'s changes to it. A document shared but not
    /// accepted syncs one way: our changes go out, theirs are ignored.
    fn may_accept(&self, peer: &PeerKey, doc: &DocumentId) -> bool;
}

/// Everything may be read and written by every peer, except what the engine
/// itself never exchanges (see [`never_leaves`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Policy for AllowAll {
    fn may_share(&self, _peer: &PeerKey, _doc: &DocumentId) -> bool {
        true
    }

    fn may_accept(&self, _peer: &PeerKey, _doc: &DocumentId) -> bool {
        true
    }
}

/// Documents the engine refuses to exchange whatever the policy says:
/// `roster-private` never leaves its community's node, so a mistaken policy
/// cannot leak real names, phone numbers and ID numbers.
pub fn never_leaves(doc: &DocumentId) -> bool {
    doc.kind() == DocKind::RosterPrivate
}

/// The policy's answers with the engine's own rule applied on top.
pub(crate) struct Access<'p, P: Policy + ?Sized> {
    pub(crate) policy: &'p P,
}

impl<P: Policy + ?Sized> Access<'_, P> {
    /// May the engine talk to `peer` about `doc` at all?
    pub(crate) fn share(&self, peer: &PeerKey, doc: &DocumentId) -> bool {
        !never_leaves(doc) && self.policy.may_share(peer, doc)
    }

    /// May the engine apply `peer`'s changes to `doc`?
    pub(crate) fn accept(&self, peer: &PeerKey, doc: &DocumentId) -> bool {
        !never_leaves(doc) && self.policy.may_accept(peer, doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_private_is_never_exchanged_even_under_allow_all() {
        let access = Access { policy: &AllowAll };
        let peer = PeerKey::new("street");
        let private = DocumentId::parse("guandu/yiliu/xinyazhou/roster-private").unwrap();
        let roster = DocumentId::parse("guandu/yiliu/xinyazhou/roster").unwrap();
        assert!(!access.share(&peer, &private));
        assert!(!access.accept(&peer, &private));
        assert!(access.share(&peer, &roster));
        assert!(access.accept(&peer, &roster));
    }
}
