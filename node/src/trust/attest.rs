//! Which changes need a signature of their own.
//!
//! A change's hash covers its dependencies' hashes, so an author who signs
//! a change also vouches, by hash, for every change it depends on. For the
//! changes of that author itself this is as good as a signature each: an
//! honest node only ever holds changes under its own key that it wrote. So
//! a change is *attested* when it carries its author's signature, or when a
//! change by the same author (the same node key, whatever the actor's
//! restore epoch) that depends on it directly is attested.
//!
//! Only direct dependencies count, so a receiver checks the link by looking
//! at one change's `deps` and never walks through changes of other
//! authors. Automerge makes every change of an actor depend directly on the
//! actor's previous change, whatever else came in between, so a first sync
//! of ten reports of one community needs one signature, not ten.
//!
//! A receiver accepts a change attested by a child only when that child is
//! accepted too (`signing::check_changes`), so every change it stores can
//! be forwarded: the last change of each author it holds always came with a
//! signature of its own.

use std::collections::{HashMap, HashSet};

use automerge::{Change, ChangeHash, ChangeMetadata};

use super::admission::NodeKey;

/// The node key a change's actor stands for, if it is a node's actor.
pub fn author_key(change: &Change) -> Option<NodeKey> {
    crdt_model::actor::writer_key(change.actor_id()).map(NodeKey)
}

/// What the chains read of a change: its hash, its author and its direct
/// dependencies. A sender reads these from Automerge's change metadata,
/// which costs nothing like rebuilding the changes themselves (a sixth of a
/// first sync's time, `docs/benchmarks.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The change's hash.
    pub hash: ChangeHash,
    /// Its author, if its actor is a node's.
    pub author: Option<NodeKey>,
    /// The changes it depends on directly.
    pub deps: Vec<ChangeHash>,
}

impl Link {
    /// The link of a whole change.
    pub fn of_change(change: &Change) -> Link {
        Link {
            hash: change.hash(),
            author: author_key(change),
            deps: change.deps().to_vec(),
        }
    }

    /// The link of a change's metadata.
    pub fn of_meta(meta: ChangeMetadata<'_>) -> Link {
        Link {
            hash: meta.hash,
            author: crdt_model::actor::writer_key(&meta.actor).map(NodeKey),
            deps: meta.deps,
        }
    }
}

/// The links between changes of one author inside a set of changes: for
/// each change, the changes of the same author in the set that depend on
/// it directly.
#[derive(Debug, Default)]
pub struct Chains {
    children: HashMap<ChangeHash, Vec<ChangeHash>>,
}

impl Chains {
    /// The links inside a set of changes.
    pub fn of(changes: &[Link]) -> Chains {
        let key_of: HashMap<ChangeHash, Option<NodeKey>> =
            changes.iter().map(|c| (c.hash, c.author)).collect();
        let mut children: HashMap<ChangeHash, Vec<ChangeHash>> = HashMap::new();
        for change in changes {
            let Some(key) = change.author else {
                continue;
            };
            for dep in &change.deps {
                if key_of.get(dep) == Some(&Some(key)) {
                    children.entry(*dep).or_default().push(change.hash);
                }
            }
        }
        Chains { children }
    }

    /// Changes of the same author in the set that depend on `hash` directly.
    pub fn children(&self, hash: &ChangeHash) -> &[ChangeHash] {
        self.children
            .get(hash)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// True when a change of the same author in the set depends on `hash`
    /// directly, so `hash` needs no signature of its own there.
    pub fn is_chained(&self, hash: &ChangeHash) -> bool {
        self.children.contains_key(hash)
    }

    /// The changes of the set that a chain covers.
    pub fn chained(&self) -> HashSet<ChangeHash> {
        self.children.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ROOT};

    use super::*;

    /// Every change's link, read from whole changes and from metadata,
    /// which must agree.
    fn links(doc: &mut AutoCommit) -> Vec<Link> {
        let whole: Vec<Link> = doc.get_changes(&[]).iter().map(Link::of_change).collect();
        let meta: Vec<Link> = doc
            .get_changes_meta(&[])
            .into_iter()
            .map(Link::of_meta)
            .collect();
        assert_eq!(whole, meta);
        whole
    }

    fn write(doc: &mut AutoCommit, key: &str) -> ChangeHash {
        doc.put(ROOT, key, 1).unwrap();
        doc.commit().unwrap()
    }

    #[test]
    fn a_run_of_one_authors_changes_needs_only_its_last_signature() {
        let mut doc = AutoCommit::new().with_actor(ActorId::from([1u8; 32]));
        let hashes: Vec<ChangeHash> = (0..5).map(|i| write(&mut doc, &i.to_string())).collect();
        let chains = Chains::of(&links(&mut doc));
        for h in &hashes[..4] {
            assert!(chains.is_chained(h));
        }
        assert!(!chains.is_chained(&hashes[4]));
        assert_eq!(chains.children(&hashes[0]), &hashes[1..2]);
    }

    #[test]
    fn another_authors_change_in_between_keeps_the_chain() {
        let mut a = AutoCommit::new().with_actor(ActorId::from([1u8; 32]));
        let first = write(&mut a, "a1");
        let mut b = a.fork().with_actor(ActorId::from([2u8; 32]));
        let between = write(&mut b, "b1");
        a.merge(&mut b).unwrap();
        let second = write(&mut a, "a2");
        let chains = Chains::of(&links(&mut a));
        // Automerge makes every change of an actor depend on the actor's
        // previous one, even when another's change came in between: a2
        // covers a1. b1 has no change of its author after it.
        assert_eq!(chains.children(&first), &[second]);
        assert!(!chains.is_chained(&between));
        assert!(!chains.is_chained(&second));
    }

    #[test]
    fn a_restored_actor_of_the_same_key_continues_the_chain() {
        let key = [3u8; 32];
        let mut doc = AutoCommit::new().with_actor(ActorId::from(key));
        let before = write(&mut doc, "x");
        doc.set_actor(crdt_model::actor::actor_for(
            &key,
            Some(&[0, 0, 0, 0, 0, 0, 0, 1]),
        ));
        write(&mut doc, "y");
        assert!(Chains::of(&links(&mut doc)).is_chained(&before));
    }
}
