//! The documents a [`Repo`](super::Repo) holds in memory: a bounded cache,
//! least recently used first out, that never lets go of uncommitted work.
//!
//! A document may leave the cache only when dropping it loses nothing: it is
//! not touched by a write in progress, none of its writes is still waiting
//! for the group writer, it has no open Automerge transaction, and its heads
//! are the heads last handed to the store. Anything else is pinned, and the
//! cache may then exceed its bounds until the pins are released.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use automerge::AutoCommit;
use automerge::transaction::Transactable as _;
use crdt_model::DocumentId;

use crate::store::DocumentInfo;

/// Documents held in memory at most, beyond pinned ones.
pub const DOCS_CACHED_MAX: usize = 64;
/// Stored size (snapshot plus change chunks, as in `doc_info`) of the
/// documents held in memory at most, beyond pinned ones. An Automerge
/// document takes several times its stored size in memory (the ratio is
/// not measured yet), so this is a proxy for memory, not memory.
pub const DOC_CACHE_STORED_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// A document not used for this long leaves memory at the next trim.
pub const DOC_IDLE_MS: u64 = 30_000;

/// One document in memory.
pub(crate) struct Cached {
    pub(crate) doc: AutoCommit,
    /// What the store holds for the document once every write handed to it
    /// so far is durable: sizes (for compaction and the byte bound) and the
    /// heads last written. Empty for a document the store does not hold.
    pub(crate) info: DocumentInfo,
    /// Sequence number of the newest write group holding changes of this
    /// document that is not durable yet.
    pub(crate) pending: Option<u64>,
    /// Touched by the [`Repo::write`](super::Repo::write) in progress.
    pub(crate) writing: bool,
    used: u64,
    used_at: Instant,
}

impl Cached {
    /// A document just loaded from the store, or created empty (`info`
    /// then says it holds nothing).
    pub(crate) fn new(doc: AutoCommit, info: DocumentInfo) -> Cached {
        Cached {
            doc,
            info,
            pending: None,
            writing: false,
            used: 0,
            used_at: Instant::now(),
        }
    }

    /// Bytes this entry counts against [`DOC_CACHE_STORED_BYTES_MAX`].
    fn stored_bytes(&self) -> u64 {
        self.info.snapshot_bytes + self.info.changes_bytes
    }

    /// True when dropping it from memory loses nothing: the store durably
    /// holds all of it.
    fn evictable(&mut self) -> bool {
        if self.writing || self.pending.is_some() || self.doc.pending_ops() > 0 {
            return false;
        }
        // Changes applied in memory and not yet handed to the store (a peer's
        // changes between `receive` and `changed`) show as new heads.
        let mut heads = self.doc.get_heads();
        heads.sort_unstable();
        heads == self.info.heads
    }
}

/// An empty [`DocumentInfo`]: what the store holds of a document it lacks.
pub(crate) fn empty_info() -> DocumentInfo {
    DocumentInfo {
        snapshot_bytes: 0,
        changes_bytes: 0,
        change_chunks: 0,
        heads: Vec::new(),
    }
}

/// Bounded by [`DOCS_CACHED_MAX`] and [`DOC_CACHE_STORED_BYTES_MAX`] except
/// for pinned documents.
pub(crate) struct DocCache {
    entries: HashMap<DocumentId, Cached>,
    /// Use counter: the entry with the smallest `used` is the least recent.
    tick: u64,
    docs_max: usize,
    stored_bytes_max: u64,
    evicted: u64,
}

impl DocCache {
    pub(crate) fn new(docs_max: usize, stored_bytes_max: u64) -> DocCache {
        DocCache {
            entries: HashMap::new(),
            tick: 0,
            docs_max,
            stored_bytes_max,
            evicted: 0,
        }
    }

    pub(crate) fn contains(&self, id: &DocumentId) -> bool {
        self.entries.contains_key(id)
    }

    /// The entry of `id`, marked as just used.
    pub(crate) fn get_mut(&mut self, id: &DocumentId) -> Option<&mut Cached> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.get_mut(id)?;
        entry.used = tick;
        entry.used_at = Instant::now();
        Some(entry)
    }

    /// The entry of `id` without marking it used.
    pub(crate) fn peek_mut(&mut self, id: &DocumentId) -> Option<&mut Cached> {
        self.entries.get_mut(id)
    }

    /// Adds (or replaces) `id`, marked as just used.
    pub(crate) fn insert(&mut self, id: DocumentId, mut entry: Cached) {
        self.tick += 1;
        entry.used = self.tick;
        self.entries.insert(id, entry);
    }

    /// The entry of `id`, inserted by `f` if absent; marked as just used.
    pub(crate) fn get_or_insert_with(
        &mut self,
        id: &DocumentId,
        f: impl FnOnce() -> Cached,
    ) -> &mut Cached {
        self.tick += 1;
        let entry = self.entries.entry(id.clone()).or_insert_with(f);
        entry.used = self.tick;
        entry.used_at = Instant::now();
        entry
    }

    pub(crate) fn remove(&mut self, id: &DocumentId) -> Option<Cached> {
        self.entries.remove(id)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Stored bytes of every document held.
    pub(crate) fn stored_bytes(&self) -> u64 {
        self.entries.values().map(Cached::stored_bytes).sum()
    }

    /// Documents dropped from memory so far.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    pub(crate) fn entries_mut(&mut self) -> impl Iterator<Item = (&DocumentId, &mut Cached)> {
        self.entries.iter_mut()
    }

    /// Ids of documents written here but not durable yet (some may be
    /// absent from the store still).
    pub(crate) fn pending_ids(&self) -> impl Iterator<Item = &DocumentId> {
        self.entries
            .iter()
            .filter(|(_, c)| c.pending.is_some())
            .map(|(id, _)| id)
    }

    /// Drops least recently used documents that lose nothing by it until
    /// the cache is within its bounds; `keep` stays whatever its age.
    pub(crate) fn trim(&mut self, keep: Option<&DocumentId>) {
        let mut bytes = self.stored_bytes();
        if self.entries.len() <= self.docs_max && bytes <= self.stored_bytes_max {
            return;
        }
        let mut order: Vec<(u64, DocumentId)> = self
            .entries
            .iter()
            .filter(|(id, _)| Some(*id) != keep)
            .map(|(id, c)| (c.used, id.clone()))
            .collect();
        order.sort_unstable();
        for (_, id) in order {
            if self.entries.len() <= self.docs_max && bytes <= self.stored_bytes_max {
                break;
            }
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            if entry.evictable() {
                bytes -= entry.stored_bytes();
                self.entries.remove(&id);
                self.evicted += 1;
            }
        }
    }

    /// Drops documents unused for `idle` that lose nothing by it.
    pub(crate) fn evict_idle(&mut self, idle: Duration) {
        let now = Instant::now();
        let before = self.entries.len();
        self.entries
            .retain(|_, c| now.duration_since(c.used_at) < idle || !c.evictable());
        self.evicted += (before - self.entries.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ROOT, transaction::Transactable};

    use super::*;

    fn id(n: usize) -> DocumentId {
        DocumentId::parse(&format!("guandu/c{n}/reports/2025-01")).unwrap()
    }

    fn saved(doc: &mut AutoCommit, bytes: u64) -> Cached {
        let mut heads = doc.get_heads();
        heads.sort_unstable();
        Cached::new(
            doc.clone(),
            DocumentInfo {
                snapshot_bytes: bytes,
                heads,
                ..empty_info()
            },
        )
    }

    #[test]
    fn cache_stays_within_its_document_bound() {
        let mut cache = DocCache::new(4, u64::MAX);
        for n in 0..10 {
            cache.insert(id(n), saved(&mut AutoCommit::new(), 10));
            cache.trim(Some(&id(n)));
            assert!(cache.len() <= 4);
        }
        // The four most recent stay.
        for n in 6..10 {
            assert!(cache.contains(&id(n)));
        }
        assert_eq!(cache.evicted(), 6);
    }

    #[test]
    fn cache_stays_within_its_byte_bound_and_keeps_the_one_in_use() {
        let mut cache = DocCache::new(100, 250);
        for n in 0..10 {
            cache.insert(id(n), saved(&mut AutoCommit::new(), 100));
            cache.trim(Some(&id(n)));
            assert!(cache.stored_bytes() <= 250);
            assert!(cache.contains(&id(n)));
        }
        // A document larger than the whole bound still stays while in use.
        cache.insert(id(99), saved(&mut AutoCommit::new(), 1_000));
        cache.trim(Some(&id(99)));
        assert!(cache.contains(&id(99)));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn eviction_never_drops_uncommitted_work() {
        let mut cache = DocCache::new(1, u64::MAX);
        // Written, not durable yet.
        let mut queued = saved(&mut AutoCommit::new(), 1);
        queued.pending = Some(7);
        cache.insert(id(0), queued);
        // Touched by a write in progress, with an open transaction.
        let mut open = AutoCommit::new();
        open.put(ROOT, "k", 1).unwrap();
        let mut writing = Cached::new(open, empty_info());
        writing.writing = true;
        cache.insert(id(1), writing);
        // Changes applied but not yet handed to the store: heads differ.
        let mut doc = AutoCommit::new();
        let mut applied = saved(&mut doc, 1);
        applied.doc.put(ROOT, "k", 2).unwrap();
        applied.doc.commit();
        cache.insert(id(2), applied);
        // A transaction open on a document otherwise at rest.
        let mut tx = saved(&mut AutoCommit::new(), 1);
        tx.doc.put(ROOT, "k", 3).unwrap();
        cache.insert(id(3), tx);
        cache.insert(id(4), saved(&mut AutoCommit::new(), 1));
        cache.trim(Some(&id(4)));
        cache.evict_idle(Duration::ZERO);
        for n in 0..4 {
            assert!(cache.contains(&id(n)), "document {n} was dropped");
        }
        // The open transaction is still open, not committed by the check.
        assert_eq!(cache.peek_mut(&id(3)).unwrap().doc.pending_ops(), 1);
        // Only the one at rest went, idle.
        assert!(!cache.contains(&id(4)));
        // Released pins make them evictable.
        cache.peek_mut(&id(0)).unwrap().pending = None;
        cache.evict_idle(Duration::ZERO);
        assert!(!cache.contains(&id(0)));
    }
}
