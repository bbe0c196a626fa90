//! Blob trees kept in memory instead of in files of their own.
//!
//! Serving a range needs the blob's BLAKE3 tree (its hash pairs). The tree
//! is a function of the bytes, 0.4 % of their size, and is known whenever a
//! blob is written: `put_blob` makes it, and a fetched blob arrives with the
//! tree it was verified against. Keeping it in a file beside the blob cost
//! each photo a second inode, write and `fsync` (measured: about a fifth of
//! the cost of storing a lone photo; `docs/benchmarks.md`, "Trees in
//! memory"). So trees live here, bounded by [`TREE_CACHE_BYTES`], and one
//! that is not here is made again from the blob file, which also checks the
//! whole file against its name before any of it is served.
//!
//! Every entry is the tree of its hash by construction: it was either made
//! from bytes that hash to the key or proven to have the key as its root.

use std::sync::{Arc, Mutex};

use super::blob::BlobHash;

/// Bytes of hash pairs kept at most: the trees of about 4 GB of photos.
pub const TREE_CACHE_BYTES: usize = 16 * 1024 * 1024;
/// What an entry costs beside its pairs (key, size, links), counted
/// against the bound so that many small trees cannot grow past it.
const ENTRY_BYTES: usize = 128;

/// Trees, least recently used first out, shared by clones of one store.
#[derive(Debug, Clone)]
pub(crate) struct TreeCache {
    inner: Arc<Mutex<Inner>>,
    max_bytes: usize,
}

#[derive(Debug)]
struct Inner {
    trees: lru::LruCache<BlobHash, Kept>,
    bytes: usize,
}

/// A blob's size and the hash pairs of its tree.
pub(crate) type Kept = (u64, Arc<Vec<u8>>);

fn cost((_, pairs): &Kept) -> usize {
    pairs.len() + ENTRY_BYTES
}

impl TreeCache {
    /// A cache of at most `max_bytes` bytes of hash pairs.
    pub(crate) fn new(max_bytes: usize) -> TreeCache {
        TreeCache {
            inner: Arc::new(Mutex::new(Inner {
                trees: lru::LruCache::unbounded(),
                bytes: 0,
            })),
            max_bytes,
        }
    }

    /// The size and hash pairs of blob `hash`, if kept; marks them
    /// recently used.
    pub(crate) fn get(&self, hash: &BlobHash) -> Option<Kept> {
        self.lock().trees.get(hash).cloned()
    }

    /// Whether blob `hash`'s tree is kept, without marking it used.
    pub(crate) fn contains(&self, hash: &BlobHash) -> bool {
        self.lock().trees.contains(hash)
    }

    /// Keeps the size and hash pairs of blob `hash`, pushing out the least
    /// recently used trees until the rest fit. A blob of one group, whose
    /// tree has no pairs, is not kept (making it again hashes at most 16
    /// KiB), nor is a tree larger than the whole bound.
    pub(crate) fn put(&self, hash: BlobHash, size: u64, pairs: Arc<Vec<u8>>) {
        let kept = (size, pairs);
        if kept.1.is_empty() || cost(&kept) > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        let added = cost(&kept);
        if let Some(old) = inner.trees.put(hash, kept) {
            inner.bytes -= cost(&old);
        }
        inner.bytes += added;
        while inner.bytes > self.max_bytes {
            let Some((_, out)) = inner.trees.pop_lru() else {
                break;
            };
            inner.bytes -= cost(&out);
        }
    }

    /// Forgets blob `hash` (its file was found damaged or missing).
    pub(crate) fn forget(&self, hash: &BlobHash) {
        let mut inner = self.lock();
        if let Some(old) = inner.trees.pop(hash) {
            inner.bytes -= cost(&old);
        }
    }

    /// Bytes kept now, pairs and entries.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing in the critical sections can panic half-way through an
        // update of both fields, so a poisoned lock still holds a
        // consistent cache.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for TreeCache {
    fn default() -> TreeCache {
        TreeCache::new(TREE_CACHE_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> BlobHash {
        BlobHash::of(&[n])
    }

    /// A tree of `n` bytes of pairs, with what it costs the bound.
    fn tree(n: usize) -> (Arc<Vec<u8>>, usize) {
        (Arc::new(vec![7; n]), n + ENTRY_BYTES)
    }

    #[test]
    fn the_least_recently_used_trees_go_first_and_the_bound_holds() {
        let (pairs, each) = tree(40);
        let cache = TreeCache::new(2 * each + each / 2);
        cache.put(hash(1), 1, Arc::clone(&pairs));
        cache.put(hash(2), 2, Arc::clone(&pairs));
        // Using 1 makes 2 the oldest.
        assert!(cache.get(&hash(1)).is_some());
        cache.put(hash(3), 3, Arc::clone(&pairs));
        assert!(
            cache.get(&hash(2)).is_none(),
            "the least recently used went"
        );
        assert_eq!(cache.get(&hash(1)).unwrap().0, 1);
        assert_eq!(cache.get(&hash(3)).unwrap().0, 3);
        assert_eq!(cache.bytes(), 2 * each);
    }

    #[test]
    fn a_replaced_or_forgotten_tree_is_no_longer_counted() {
        let cache = TreeCache::new(10_000);
        cache.put(hash(1), 1, tree(40).0);
        let (smaller, cost) = tree(30);
        cache.put(hash(1), 1, smaller);
        assert_eq!(cache.bytes(), cost);
        cache.forget(&hash(1));
        assert_eq!(cache.bytes(), 0);
        assert!(cache.get(&hash(1)).is_none());
    }

    #[test]
    fn empty_trees_and_trees_past_the_bound_are_not_kept() {
        let cache = TreeCache::new(ENTRY_BYTES + 10);
        cache.put(hash(1), 100, tree(11).0);
        cache.put(hash(2), 100, Arc::new(Vec::new()));
        assert!(cache.get(&hash(1)).is_none());
        assert!(cache.get(&hash(2)).is_none());
        assert_eq!(cache.bytes(), 0);
    }
}
