//! Serving blob ranges from the store: the daemon's reading threads and
//! the photo bench answer `/yizhan/blob/2` requests through
//! [`serve_from_store`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tracing::warn;

use super::blob::{BlobTree, ChunkRequest, ChunkResponse, blob_tree, serve};
use crate::store::{BlobHash, Store};

/// Trees of served blobs kept in memory (each 0.4 % of its blob: at most
/// 64 KiB for a 16 MiB photo), so a photo is hashed once per transfer, not
/// once per range.
pub const BLOB_TREES_MAX: usize = 64;

/// The trees of blobs served lately, shared by the reading threads; the
/// oldest is dropped past [`BLOB_TREES_MAX`].
#[derive(Clone, Default)]
pub struct ServedTrees(Arc<Mutex<Trees>>);

/// Trees by hash, and the hashes oldest first.
type Trees = (HashMap<BlobHash, Arc<BlobTree>>, VecDeque<BlobHash>);

impl ServedTrees {
    fn get(&self, hash: &BlobHash) -> Option<Arc<BlobTree>> {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.get(hash).cloned()
    }

    fn put(&self, hash: BlobHash, tree: Arc<BlobTree>) {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *guard;
        if map.insert(hash, tree).is_none() {
            order.push_back(hash);
        }
        while order.len() > BLOB_TREES_MAX {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }
}

/// Answers one range request from the store, on a reading thread: the
/// blob's tree comes from `trees` or is made from its bytes (which checks
/// them against the hash), and every group sent is checked against it.
pub fn serve_from_store(store: &Store, trees: &ServedTrees, req: &ChunkRequest) -> ChunkResponse {
    let answer = store.with_blob(&req.hash, |bytes| {
        let tree = match trees.get(&req.hash) {
            Some(tree) => tree,
            None => {
                let tree = Arc::new(blob_tree(bytes));
                if tree.root.as_bytes() == req.hash.as_bytes() {
                    trees.put(req.hash, tree.clone());
                }
                tree
            }
        };
        serve(req, Some((bytes, &tree)))
    });
    match answer {
        Ok(Some(Ok(resp))) => resp,
        Ok(None) => ChunkResponse::NotFound,
        Ok(Some(Err(e))) => {
            warn!(hash = %req.hash, error = %e, "a held blob is damaged; not serving it");
            ChunkResponse::NotFound
        }
        Err(e) => {
            warn!(hash = %req.hash, error = %e, "cannot read a blob to serve");
            ChunkResponse::NotFound
        }
    }
}
