//! Serving blob ranges from the store: the daemon's reading threads and
//! the photo bench answer `/yizhan/blob/2` requests through
//! [`serve_from_store`].

use tracing::warn;

use super::blob::{ChunkRequest, ChunkResponse, serve_file};
use crate::store::{Store, StoreError};

/// Answers one range request from the store, on a reading thread: the
/// range is read from the blob's file and its hash pairs taken from the
/// tree the store keeps in memory (nothing is hashed but the groups sent;
/// a tree not there is made again from the file, which checks the whole
/// file), and every group is checked against the tree before it is sent. A
/// damaged blob is not served: the peer is told it is not held, and asks
/// elsewhere.
pub fn serve_from_store(store: &Store, req: &ChunkRequest) -> ChunkResponse {
    serve_noting_damage(store, req).0
}

/// [`serve_from_store`], saying also whether the blob was found damaged
/// (its bytes or size no longer match its hash), so the daemon can set it
/// aside and fetch it again.
pub fn serve_noting_damage(store: &Store, req: &ChunkRequest) -> (ChunkResponse, bool) {
    let answer = match store.blob_for_serving(&req.hash) {
        Ok(Some((file, tree))) => serve_file(req, &file, &tree),
        Ok(None) => return (ChunkResponse::NotFound, false),
        Err(e @ StoreError::CorruptBlob { .. }) => {
            warn!(hash = %req.hash, error = %e, "a held blob is damaged; not serving it");
            return (ChunkResponse::NotFound, true);
        }
        Err(e) => {
            warn!(hash = %req.hash, error = %e, "cannot read a blob to serve; not serving it");
            return (ChunkResponse::NotFound, false);
        }
    };
    match answer {
        Ok(resp) => (resp, false),
        Err(e) => {
            warn!(hash = %req.hash, error = %e, "a held blob is damaged; not serving it");
            (ChunkResponse::NotFound, true)
        }
    }
}
