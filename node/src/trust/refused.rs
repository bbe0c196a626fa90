//! Changes this node refused lately, per document, so that a peer's later
//! messages naming them as its heads do not make this node ask for them
//! again: without this memory, a message without changes would reset what
//! the sync state believes of the peer, this node would ask for the refused
//! changes, the peer would send them, and the two would trade them for ever.
//!
//! The memory belongs to one charter: once what this node accepts changes
//! (a revocation, reinstatement, cut-off or admission record arrives), it
//! is forgotten, since the same changes may now be acceptable.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use automerge::ChangeHash;
use crdt_model::DocumentId;

/// Most refused changes remembered; the oldest are forgotten first.
pub const REFUSED_CHANGES_MAX: usize = 100_000;

/// What the memory was built under: the charter's revoked keys, cut-off
/// records and credentials (admission records), counted. A new admission
/// record can make changes acceptable whose author's credential a proof
/// left to the charter.
pub type Epoch = (usize, usize, usize);

#[derive(Debug, Default)]
struct Inner {
    epoch: Epoch,
    /// Per document, each refused change with its dependencies.
    by_doc: HashMap<DocumentId, HashMap<ChangeHash, Vec<ChangeHash>>>,
    order: VecDeque<(DocumentId, ChangeHash)>,
}

impl Inner {
    fn at(&mut self, epoch: Epoch) {
        if self.epoch != epoch {
            *self = Inner {
                epoch,
                ..Inner::default()
            };
        }
    }
}

/// A bounded memory of refused changes, shared by clones.
#[derive(Debug, Clone, Default)]
pub struct RefusedChanges(Arc<Mutex<Inner>>);

impl RefusedChanges {
    /// Remembers `refused` (each change with its dependencies) as refused
    /// in `doc` under `epoch`.
    pub fn note(
        &self,
        epoch: Epoch,
        doc: &DocumentId,
        refused: impl IntoIterator<Item = (ChangeHash, Vec<ChangeHash>)>,
    ) {
        let Ok(mut inner) = self.0.lock() else {
            return;
        };
        inner.at(epoch);
        for (h, deps) in refused {
            if inner
                .by_doc
                .entry(doc.clone())
                .or_default()
                .insert(h, deps)
                .is_none()
            {
                inner.order.push_back((doc.clone(), h));
            }
        }
        while inner.order.len() > REFUSED_CHANGES_MAX {
            let Some((d, h)) = inner.order.pop_front() else {
                break;
            };
            if let Some(set) = inner.by_doc.get_mut(&d) {
                set.remove(&h);
                if set.is_empty() {
                    inner.by_doc.remove(&d);
                }
            }
        }
    }

    /// Replaces in `heads` every change refused in `doc` under `epoch` by
    /// its nearest dependencies that were not refused: what the peer holds
    /// that this node may take. A peer whose heads would come out empty
    /// would read as one that lost its data (Automerge then resends it
    /// everything), so `ours` stand in then. True when it changed `heads`.
    pub fn strip(
        &self,
        epoch: Epoch,
        doc: &DocumentId,
        heads: &mut Vec<ChangeHash>,
        ours: &[ChangeHash],
    ) -> bool {
        let Ok(mut inner) = self.0.lock() else {
            return false;
        };
        inner.at(epoch);
        let Some(refused) = inner.by_doc.get(doc) else {
            return false;
        };
        if !heads.iter().any(|h| refused.contains_key(h)) {
            return false;
        }
        let mut out: Vec<ChangeHash> = Vec::new();
        let mut seen: HashSet<ChangeHash> = HashSet::new();
        let mut stack: Vec<ChangeHash> = heads.clone();
        while let Some(h) = stack.pop() {
            if !seen.insert(h) {
                continue;
            }
            match refused.get(&h) {
                Some(deps) => stack.extend(deps.iter().copied()),
                None => out.push(h),
            }
        }
        if out.is_empty() {
            out = ours.to_vec();
        }
        out.sort_unstable();
        *heads = out;
        true
    }

    /// How many refused changes are remembered.
    pub fn len(&self) -> usize {
        self.0.lock().map(|i| i.order.len()).unwrap_or(0)
    }

    /// True when none is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    #[test]
    fn refused_heads_give_way_to_their_dependencies_until_the_charter_changes() {
        let doc = DocumentId::parse("guandu/yiliu/xinyazhou/reports/2026-11").unwrap();
        let memory = RefusedChanges::default();
        // 2 depends on 1, refused; 1 depends on 0, which was taken.
        memory.note((1, 1, 0), &doc, [(h(1), vec![h(0)]), (h(2), vec![h(1)])]);
        let mut heads = vec![h(2), h(3)];
        assert!(memory.strip((1, 1, 0), &doc, &mut heads, &[h(9)]));
        assert_eq!(heads, vec![h(0), h(3)]);
        let mut untouched = vec![h(3)];
        assert!(!memory.strip((1, 1, 0), &doc, &mut untouched, &[h(9)]));
        // A first change refused: our heads stand in for the empty set.
        memory.note((1, 1, 0), &doc, [(h(5), vec![])]);
        let mut heads = vec![h(5)];
        assert!(memory.strip((1, 1, 0), &doc, &mut heads, &[h(9)]));
        assert_eq!(heads, vec![h(9)]);
        let mut heads = vec![h(2)];
        assert!(
            !memory.strip((1, 2, 0), &doc, &mut heads, &[]),
            "a new charter forgets"
        );
        assert!(memory.is_empty());
    }

    #[test]
    fn the_memory_is_bounded() {
        let doc = DocumentId::parse("guandu/charter").unwrap();
        let memory = RefusedChanges::default();
        for i in 0..(REFUSED_CHANGES_MAX + 10) {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
            memory.note((0, 0, 0), &doc, [(ChangeHash(bytes), vec![])]);
        }
        assert_eq!(memory.len(), REFUSED_CHANGES_MAX);
    }
}
