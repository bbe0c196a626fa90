//! `Docs`: how the engine reaches documents, and `MemDocs`, an in-memory one.

use std::collections::BTreeMap;

use automerge::{ActorId, AutoCommit, ChangeHash};
use crdt_model::DocumentId;

use super::prepared::Prepared;

/// What the driver's check made of a message's changes: the answer to an
/// [`super::Output::Check`], in [`super::Input::Checked`]. The default
/// accepts the message as received.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckOutcome {
    /// Why each refused change was refused.
    pub refused: Vec<String>,
    /// The message to apply instead, without the refused changes; `None`
    /// applies the message as received.
    pub filtered: Option<automerge::sync::Message>,
    /// The message's changes clash with changes held here: an actor's
    /// sequence number used for two different changes (which actor and
    /// number). Nothing of the message is applied, and the engine stops
    /// syncing the document with the peer (see [`super::Refusal::SequenceClash`]).
    pub clash: Option<String>,
    /// For a document this node did not hold when checked: the document the
    /// check built from the message's changes, when every one was accepted
    /// and none waits for a dependency. The engine takes it as the new
    /// document instead of applying the changes again (`crate::prepared`);
    /// ignored if the document is held by the time the answer comes.
    pub prepared: Option<Prepared>,
}

/// Document access the driver gives the engine for one `handle` call.
///
/// The node implements it over its repository (documents in memory, persisted
/// in redb); tests and the simulator use [`MemDocs`]. Trust checks are not
/// here: they leave the engine as [`super::Output::Check`] requests.
pub trait Docs {
    /// Every document held, in any order.
    fn ids(&self) -> Vec<DocumentId>;

    /// The document `id`, if held.
    fn get_mut(&mut self, id: &DocumentId) -> Option<&mut AutoCommit>;

    /// Creates an empty document `id`, first learned from a peer, and returns
    /// it. Called only for ids not held and only when the policy accepts the
    /// document from that peer. The new document should carry this node's
    /// actor id.
    fn create(&mut self, id: &DocumentId) -> &mut AutoCommit;

    /// The engine applied a peer's changes to `id`; `heads_before` are the
    /// heads before it did, so the driver can persist
    /// `doc.save_after(heads_before)`.
    fn changed(&mut self, id: &DocumentId, heads_before: &[ChangeHash]);

    /// Proof of authorship to send with a sync message for `id` that carries
    /// the changes after `base` (which may be heads this node does not know).
    /// The default sends none.
    fn proof(&mut self, id: &DocumentId, base: &[ChangeHash]) -> Vec<u8> {
        let _ = (id, base);
        Vec::new()
    }

    /// The heads of `id`, sorted, or `None` if not held.
    fn heads(&mut self, id: &DocumentId) -> Option<Vec<ChangeHash>> {
        let mut heads = self.get_mut(id)?.get_heads();
        heads.sort_unstable();
        Some(heads)
    }
}

/// Documents in a map, for tests and the simulator. Counts the changes the
/// engine applied per document.
#[derive(Debug, Default)]
pub struct MemDocs {
    docs: BTreeMap<DocumentId, AutoCommit>,
    actor: Option<ActorId>,
    applied: BTreeMap<DocumentId, usize>,
}

impl MemDocs {
    /// An empty set; documents created from peers get random actor ids.
    pub fn new() -> MemDocs {
        MemDocs::default()
    }

    /// An empty set whose created documents write as `actor`.
    pub fn with_actor(actor: ActorId) -> MemDocs {
        MemDocs {
            actor: Some(actor),
            ..MemDocs::default()
        }
    }

    /// Adds or replaces a document.
    pub fn insert(&mut self, id: DocumentId, doc: AutoCommit) {
        self.docs.insert(id, doc);
    }

    /// The document `id`, if held.
    pub fn get(&self, id: &DocumentId) -> Option<&AutoCommit> {
        self.docs.get(id)
    }

    /// Every document, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&DocumentId, &AutoCommit)> {
        self.docs.iter()
    }

    /// Number of documents held.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when no document is held.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// How many times the engine reported applying a peer's changes to `id`.
    pub fn changed_count(&self, id: &DocumentId) -> usize {
        self.applied.get(id).copied().unwrap_or(0)
    }
}

impl Docs for MemDocs {
    fn ids(&self) -> Vec<DocumentId> {
        self.docs.keys().cloned().collect()
    }

    fn get_mut(&mut self, id: &DocumentId) -> Option<&mut AutoCommit> {
        self.docs.get_mut(id)
    }

    fn create(&mut self, id: &DocumentId) -> &mut AutoCommit {
        let actor = self.actor.clone();
        self.docs.entry(id.clone()).or_insert_with(|| match actor {
            Some(actor) => AutoCommit::new().with_actor(actor),
            None => AutoCommit::new(),
        })
    }

    fn changed(&mut self, id: &DocumentId, _heads_before: &[ChangeHash]) {
        *self.applied.entry(id.clone()).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ROOT, transaction::Transactable};

    use super::*;

    #[test]
    fn heads_are_sorted_and_absent_docs_have_none() {
        let id = DocumentId::parse("guandu/roster").unwrap();
        let mut docs = MemDocs::new();
        assert_eq!(docs.heads(&id), None);
        let doc = docs.create(&id);
        doc.put(ROOT, "k", 1).unwrap();
        let heads = docs.heads(&id).unwrap();
        assert_eq!(heads.len(), 1);
        assert_eq!(docs.ids(), vec![id]);
    }

    #[test]
    fn create_keeps_an_existing_document() {
        let id = DocumentId::parse("guandu/roster").unwrap();
        let mut docs = MemDocs::with_actor(ActorId::from(vec![7u8; 16]));
        docs.create(&id).put(ROOT, "k", 1).unwrap();
        let again = docs.create(&id);
        assert_eq!(again.get_actor(), &ActorId::from(vec![7u8; 16]));
        assert_eq!(docs.heads(&id).unwrap().len(), 1);
    }
}
