//! Digests: of one document's heads, and of place subtrees, which make the
//! inventory compact (equal subtrees cost one hash).
//!
//! A heads digest is BLAKE3 over the sorted heads. A subtree digest is BLAKE3
//! over `(len(id), id, heads digest)` of every document under the place, in
//! document-id order. Both sides compute them over what they share with each
//! other, so equal digests mean equal shared contents.

use std::collections::BTreeMap;
use std::fmt;

use automerge::ChangeHash;
use crdt_model::{DocumentId, PlaceId};
use serde::{Deserialize, Serialize};

use super::docs::Docs;
use super::wire::ChildKey;

const HEADS_CONTEXT: &str = "yizhan sync v1 document heads";
const SUBTREE_CONTEXT: &str = "yizhan sync v1 place subtree";

/// A BLAKE3 digest of a document's heads or of a place subtree.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of a set of heads, in any order.
    pub fn of_heads(heads: &[ChangeHash]) -> Digest {
        let mut sorted = heads.to_vec();
        sorted.sort_unstable();
        let mut h = blake3::Hasher::new_derive_key(HEADS_CONTEXT);
        for head in &sorted {
            h.update(&head.0);
        }
        Digest(*h.finalize().as_bytes())
    }

    /// The subtree digest of no documents: the summary of a peer that
    /// shares nothing non-empty with us.
    pub(crate) fn of_nothing() -> Digest {
        SubtreeHasher::new().finish()
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter().take(6) {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A subtree digest under construction.
struct SubtreeHasher(blake3::Hasher);

impl SubtreeHasher {
    fn new() -> SubtreeHasher {
        SubtreeHasher(blake3::Hasher::new_derive_key(SUBTREE_CONTEXT))
    }

    fn add(&mut self, id: &DocumentId, digest: &Digest) {
        let id = id.to_string();
        self.0.update(&(id.len() as u64).to_le_bytes());
        self.0.update(id.as_bytes());
        self.0.update(&digest.0);
    }

    fn finish(&self) -> Digest {
        Digest(*self.0.finalize().as_bytes())
    }
}

/// The documents this node shares with one peer, each with its heads digest,
/// sorted by id: a snapshot taken for one `handle` call. Empty documents
/// (created for a peer's offer, nothing received yet) are left out: they
/// hold nothing to compare.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedDocs {
    docs: BTreeMap<DocumentId, Digest>,
}

impl SharedDocs {
    /// Every held, non-empty document under `node` (`None`: everywhere) for
    /// which `share` is true, read from `docs` afresh.
    #[cfg(test)]
    pub(crate) fn collect<D: Docs + ?Sized>(
        docs: &mut D,
        node: Option<&PlaceId>,
        share: impl Fn(&DocumentId) -> bool,
    ) -> SharedDocs {
        DigestCache::default().shared(docs, node, share)
    }

    /// The heads digest of `id`, if shared and non-empty.
    pub(crate) fn get(&self, id: &DocumentId) -> Option<Digest> {
        self.docs.get(id).copied()
    }

    /// The documents, in order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &DocumentId> {
        self.docs.keys()
    }

    /// The subtree digest of everything: what a [`super::wire::Summary`] carries.
    pub(crate) fn root_digest(&self) -> Digest {
        let mut h = SubtreeHasher::new();
        for (id, digest) in &self.docs {
            h.add(id, digest);
        }
        h.finish()
    }

    /// The children of `node` (`None` = root) with their digests.
    pub(crate) fn children(&self, node: Option<&PlaceId>) -> BTreeMap<ChildKey, Digest> {
        let depth = node.map_or(0, PlaceId::depth);
        let mut docs_here = BTreeMap::new();
        let mut places: BTreeMap<ChildKey, SubtreeHasher> = BTreeMap::new();
        for (id, digest) in &self.docs {
            let place = id.place();
            if node.is_some_and(|n| !n.contains(place)) {
                continue;
            }
            if node == Some(place) {
                docs_here.insert(ChildKey::Doc(id.clone()), *digest);
                continue;
            }
            let Some(child) = ancestor_at(place, depth + 1) else {
                continue;
            };
            places
                .entry(ChildKey::Place(child))
                .or_insert_with(SubtreeHasher::new)
                .add(id, digest);
        }
        let mut out = docs_here;
        out.extend(places.into_iter().map(|(k, h)| (k, h.finish())));
        out
    }
}

/// The heads digest of every held, non-empty document, grouped by place so
/// that the documents under a place are two range lookups.
///
/// Answering a peer's summary or inventory request reads this, not the
/// store: without it one admitted peer could make the node list every
/// document and read its heads with a 40-byte request. It is filled from
/// [`Docs`] in one scan when first needed, kept current from what the engine
/// sees (local changes, applied changes, heads read for any other reason)
/// and thrown away whole when the driver says documents changed behind its
/// back, or trust changed (the node records cut-offs in the charter then).
#[derive(Debug, Default)]
pub(crate) struct DigestCache {
    /// `None` until needed, and after [`DigestCache::invalidate`].
    by_place: Option<BTreeMap<String, BTreeMap<DocumentId, Digest>>>,
    /// Scans of the whole store so far, for tests.
    scans: u64,
}

impl DigestCache {
    /// The cache, filled from `docs` if it is not.
    fn filled<D: Docs + ?Sized>(
        &mut self,
        docs: &mut D,
    ) -> &BTreeMap<String, BTreeMap<DocumentId, Digest>> {
        if self.by_place.is_none() {
            self.scans += 1;
            let mut by_place: BTreeMap<String, BTreeMap<DocumentId, Digest>> = BTreeMap::new();
            for id in docs.ids() {
                if let Some(heads) = docs.heads(&id)
                    && !heads.is_empty()
                {
                    let place = id.place().as_str().to_owned();
                    by_place
                        .entry(place)
                        .or_default()
                        .insert(id, Digest::of_heads(&heads));
                }
            }
            self.by_place = Some(by_place);
        }
        self.by_place.get_or_insert_default()
    }

    /// `doc` is now at `heads` (empty: left out, as if not held).
    pub(crate) fn update(&mut self, doc: &DocumentId, heads: &[ChangeHash]) {
        let Some(by_place) = self.by_place.as_mut() else {
            return;
        };
        let place = doc.place().as_str();
        if heads.is_empty() {
            if let Some(docs) = by_place.get_mut(place) {
                docs.remove(doc);
                if docs.is_empty() {
                    by_place.remove(place);
                }
            }
            return;
        }
        by_place
            .entry(place.to_owned())
            .or_default()
            .insert(doc.clone(), Digest::of_heads(heads));
    }

    /// Forgets everything: the next use scans the store again.
    pub(crate) fn invalidate(&mut self) {
        self.by_place = None;
    }

    /// Whole-store scans so far.
    pub(crate) fn scans(&self) -> u64 {
        self.scans
    }

    /// What we share under `node` (`None`: everything), as [`SharedDocs`].
    /// Costs the documents under `node`, never the whole store once filled.
    pub(crate) fn shared<D: Docs + ?Sized>(
        &mut self,
        docs: &mut D,
        node: Option<&PlaceId>,
        share: impl Fn(&DocumentId) -> bool,
    ) -> SharedDocs {
        let by_place = self.filled(docs);
        let mut out = BTreeMap::new();
        let mut add = |place_docs: &BTreeMap<DocumentId, Digest>| {
            for (id, digest) in place_docs {
                if share(id) {
                    out.insert(id.clone(), *digest);
                }
            }
        };
        match node {
            None => by_place.values().for_each(&mut add),
            Some(node) => {
                let here = node.as_str();
                if let Some(place_docs) = by_place.get(here) {
                    add(place_docs);
                }
                // Places strictly below `node` are the keys starting with
                // `node/`: the range up to `node0`, since '0' follows '/'.
                let below = format!("{here}/")..format!("{here}0");
                by_place.range(below).for_each(|(_, d)| add(d));
            }
        }
        SharedDocs { docs: out }
    }
}

/// The ancestor of `place` (or `place` itself) with `depth` segments.
fn ancestor_at(place: &PlaceId, depth: usize) -> Option<PlaceId> {
    if depth == 0 || depth > place.depth() {
        return None;
    }
    let prefix: Vec<&str> = place.segments().take(depth).collect();
    PlaceId::parse(&prefix.join("/")).ok()
}

#[cfg(test)]
mod tests {
    use automerge::{AutoCommit, ROOT, transaction::Transactable};

    use super::*;
    use crate::docs::MemDocs;

    fn doc(s: &str) -> DocumentId {
        DocumentId::parse(s).unwrap()
    }

    fn place(s: &str) -> PlaceId {
        PlaceId::parse(s).unwrap()
    }

    fn docs_with(ids: &[(&str, i64)]) -> MemDocs {
        let mut docs = MemDocs::new();
        for (id, v) in ids {
            let mut d = AutoCommit::new();
            d.put(ROOT, "v", *v).unwrap();
            docs.insert(doc(id), d);
        }
        docs
    }

    #[test]
    fn heads_digest_ignores_order() {
        let a = ChangeHash([1; 32]);
        let b = ChangeHash([2; 32]);
        assert_eq!(Digest::of_heads(&[a, b]), Digest::of_heads(&[b, a]));
        assert_ne!(Digest::of_heads(&[a]), Digest::of_heads(&[b]));
    }

    #[test]
    fn children_group_by_the_next_place_level() {
        let mut docs = docs_with(&[
            ("guandu/charter", 1),
            ("guandu/yiliu/tasks", 2),
            ("guandu/yiliu/xinyazhou/roster", 3),
            ("guandu/yiliu-xi/roster", 4),
            ("other/charter", 5),
        ]);
        let shared = SharedDocs::collect(&mut docs, None, |_| true);
        let root: Vec<ChildKey> = shared.children(None).into_keys().collect();
        assert_eq!(
            root,
            vec![
                ChildKey::Place(place("guandu")),
                ChildKey::Place(place("other"))
            ]
        );
        let guandu: Vec<ChildKey> = shared
            .children(Some(&place("guandu")))
            .into_keys()
            .collect();
        assert_eq!(
            guandu,
            vec![
                ChildKey::Place(place("guandu/yiliu")),
                ChildKey::Place(place("guandu/yiliu-xi")),
                ChildKey::Doc(doc("guandu/charter")),
            ]
        );
        let yiliu = shared.children(Some(&place("guandu/yiliu")));
        assert_eq!(yiliu.len(), 2);
    }

    #[test]
    fn a_place_digest_equals_the_subtree_it_summarises() {
        let mut one = docs_with(&[("guandu/yiliu/tasks", 2), ("guandu/charter", 1)]);
        let mut two = MemDocs::new();
        let tasks = doc("guandu/yiliu/tasks");
        two.insert(tasks.clone(), one.get(&tasks).unwrap().clone());
        let one = SharedDocs::collect(&mut one, None, |_| true);
        let two = SharedDocs::collect(&mut two, None, |_| true);
        let key = ChildKey::Place(place("guandu/yiliu"));
        // Same subtree contents, different elsewhere: the subtree digests agree.
        assert_eq!(
            one.children(Some(&place("guandu"))).get(&key),
            two.children(Some(&place("guandu"))).get(&key)
        );
        assert_ne!(one.root_digest(), two.root_digest());
        // A one-district tree: the district's digest is the root digest.
        assert_eq!(
            two.children(None).get(&ChildKey::Place(place("guandu"))),
            Some(&two.root_digest())
        );
    }

    #[test]
    fn empty_and_unshared_documents_are_left_out() {
        let mut docs = docs_with(&[("guandu/charter", 1), ("guandu/roster", 2)]);
        docs.insert(doc("guandu/tasks"), AutoCommit::new());
        let shared = SharedDocs::collect(&mut docs, None, |id| id.kind().as_str() != "roster");
        assert!(shared.get(&doc("guandu/charter")).is_some());
        assert!(shared.get(&doc("guandu/roster")).is_none());
        assert!(shared.get(&doc("guandu/tasks")).is_none());
    }
}
