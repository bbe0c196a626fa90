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

/// Trees, least recently used first out, shared by clones of one store.
#[derive(Debug, Clone)]
pub(crate) struct TreeCache {
    inner: Arc<Mutex<Inner>>,
    max_bytes: usize,
}

#[derive(Debug)]
struct Inner {
    trees: lru::LruCache<BlobHash, Arc<Vec<u8>>>,
    bytes: usize,
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

    /// The hash pairs of blob `hash`, if kept; marks them recently used.
    pub(crate) fn get(&self, hash: &BlobHash) -> Option<Arc<Vec<u8>>> {
        self.lock().trees.get(hash).cloned()
    }

    /// Keeps the hash pairs of blob `hash`, pushing out the least recently
    /// used trees until the rest fit. A tree larger than the whole bound is
    /// not kept.
    pub(crate) fn put(&self, hash: BlobHash, pairs: Arc<Vec<u8>>) {
        if pairs.len() > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        let added = pairs.len();
        if let Some(old) = inner.trees.put(hash, pairs) {
            inner.bytes -= old.len();
        }
        inner.bytes += added;
        while inner.bytes > self.max_bytes {
            let Some((_, out)) = inner.trees.pop_lru() else {
                break;
            };
            inner.bytes -= out.len();
        }
    }

    /// Forgets blob `hash` (its file was found damaged or missing).
    pub(crate) fn forget(&self, hash: &BlobHash) {
        let mut inner = self.lock();
        if let Some(old) = inner.trees.pop(hash) {
            inner.bytes -= old.len();
        }
    }

    /// Bytes of hash pairs kept now.
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

    #[test]
    fn the_least_recently_used_trees_go_first_and_the_bound_holds() {
        let cache = TreeCache::new(100);
        cache.put(hash(1), Arc::new(vec![1; 40]));
        cache.put(hash(2), Arc::new(vec![2; 40]));
        // Using 1 makes 2 the oldest.
        assert!(cache.get(&hash(1)).is_some());
        cache.put(hash(3), Arc::new(vec![3; 40]));
        assert!(
            cache.get(&hash(2)).is_none(),
            "the least recently used went"
        );
        assert_eq!(cache.get(&hash(1)).unwrap().as_slice(), &[1; 40]);
        assert_eq!(cache.get(&hash(3)).unwrap().as_slice(), &[3; 40]);
        assert_eq!(cache.bytes(), 80);
    }

    #[test]
    fn a_replaced_or_forgotten_tree_is_no_longer_counted() {
        let cache = TreeCache::new(100);
        cache.put(hash(1), Arc::new(vec![1; 40]));
        cache.put(hash(1), Arc::new(vec![1; 30]));
        assert_eq!(cache.bytes(), 30);
        cache.forget(&hash(1));
        assert_eq!(cache.bytes(), 0);
        assert!(cache.get(&hash(1)).is_none());
    }

    #[test]
    fn a_tree_larger_than_the_bound_is_not_kept() {
        let cache = TreeCache::new(10);
        cache.put(hash(1), Arc::new(vec![1; 11]));
        assert!(cache.get(&hash(1)).is_none());
        assert_eq!(cache.bytes(), 0);
    }
}
