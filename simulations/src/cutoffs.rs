//! Who is cut off when a run ends, and which of their changes the final
//! charter still accepts: what the invariants judge cut-off work by.
//!
//! The final charter is the district's: the root is never cut off, and
//! every node still entitled to the charter converges on it. A node is cut
//! off when a key on its chain is revoked by that charter or its admission
//! has lapsed at the end of the run. A change by a cut-off author lies
//! inside its cut-off when, for every cut key on the author's chain, it is
//! an ancestor of (or one of) the heads some record for that key holds for
//! its document: the union of the records, as `check_changes` judges it.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ChangeHash, ReadDoc};
use crdt_model::DocumentId;
use node::trust::NodeKey;
use node::trust::charter::CharterView;

use crate::sim::Sim;
use crate::trust::read_charter;

/// Cut-offs at the end of a run.
#[derive(Debug, Default)]
pub struct CutOffs {
    /// Per node: the keys on its chain cut off at the end (empty for a
    /// node that is entitled as before).
    pub cut: Vec<Vec<NodeKey>>,
    /// Per node: every key on its chain, itself included.
    chain: Vec<BTreeSet<NodeKey>>,
    /// The node of each key.
    by_key: BTreeMap<NodeKey, usize>,
    /// Per cut key and document: the changes inside its cut-off.
    inside: BTreeMap<(NodeKey, DocumentId), BTreeSet<ChangeHash>>,
}

impl CutOffs {
    /// Reads the final charter and walks every cut-off record's heads back
    /// through whichever replica holds them.
    pub fn at_end(sim: &mut Sim) -> CutOffs {
        let view: CharterView = read_charter(&sim.nodes[0]);
        let now = sim.wall();
        let mut out = CutOffs::default();
        for (i, n) in sim.nodes.iter().enumerate() {
            out.by_key.insert(n.id.key, i);
            let mut chain: BTreeSet<NodeKey> =
                n.id.credential
                    .chain
                    .iter()
                    .map(|l| l.admission.node)
                    .collect();
            chain.insert(n.id.key);
            out.chain.push(chain);
            let cut =
                n.id.credential
                    .assess(now, &|k| view.is_revoked(k))
                    .map(|a| a.cut.into_iter().map(|c| c.key).collect())
                    .unwrap_or_default();
            out.cut.push(cut);
        }
        let keys: BTreeSet<NodeKey> = out.cut.iter().flatten().copied().collect();
        for key in keys {
            for record in view.cutoffs.get(&key).into_iter().flatten() {
                for (doc, heads) in record {
                    let Ok(doc) = DocumentId::parse(doc) else {
                        continue;
                    };
                    let set = out.inside.entry((key, doc.clone())).or_default();
                    for head in heads {
                        ancestors(sim, &doc, ChangeHash(*head), set);
                    }
                }
            }
        }
        out
    }

    /// Is node `i` cut off at the end?
    pub fn is_cut(&self, i: usize) -> bool {
        !self.cut[i].is_empty()
    }

    /// The node whose key is `actor`'s bytes, if any.
    pub fn node_of(&self, actor: &automerge::ActorId) -> Option<usize> {
        let key = NodeKey(<[u8; 32]>::try_from(actor.to_bytes()).ok()?);
        self.by_key.get(&key).copied()
    }

    /// The cut keys on `author`'s chain whose cut-off `hash` (a change of
    /// `doc` by `author`) lies after: empty when the change stays valid.
    pub fn after(&self, author: usize, doc: &DocumentId, hash: &ChangeHash) -> Vec<NodeKey> {
        self.cut[author]
            .iter()
            .filter(|k| {
                !self
                    .inside
                    .get(&(**k, doc.clone()))
                    .is_some_and(|s| s.contains(hash))
            })
            .copied()
            .collect()
    }

    /// May node `holder` hold a change that lies after the cut-off of
    /// `key`? Only if it is cut off by the same key: the node itself, or a
    /// node it admitted, which learns nothing of the cut-off either.
    pub fn may_hold_after(&self, holder: usize, key: &NodeKey) -> bool {
        self.chain[holder].contains(key)
    }
}

/// Adds `head` and its ancestors to `set`, walking the first replica of
/// `doc` that holds `head` (every replica holds the ancestors of what it
/// holds). A head no replica holds adds nothing.
fn ancestors(sim: &Sim, doc: &DocumentId, head: ChangeHash, set: &mut BTreeSet<ChangeHash>) {
    let Some(replica) = sim
        .nodes
        .iter()
        .filter_map(|n| n.store.docs.get(doc))
        .find(|d| d.get_change_by_hash(&head).is_some())
    else {
        return;
    };
    let mut stack = vec![head];
    while let Some(h) = stack.pop() {
        if !set.insert(h) {
            continue;
        }
        if let Some(change) = replica.get_change_by_hash(&h) {
            stack.extend(change.deps().iter().copied());
        }
    }
}
