//! Two more ways to open a store besides [`Store::open`] and
//! [`Store::open_read_only`], both over the scratch view of
//! [`ScratchBackend`], so that the file is never written:
//!
//! - [`Store::open_rehearsal`]: a writable store whose commits stay in
//!   memory. A command with no node running rehearses a write on it first,
//!   so that a refused write never opens the file for writing (a read-write
//!   redb open changes the file's bytes even if nothing is committed).
//! - [`Store::open_unverified`]: a damaged store that failed verification,
//!   opened without redb's integrity check so that `yizhan check` can name
//!   which documents and blobs the damage reached.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;

use redb::Builder;
use redb::backends::FileBackend;

use super::error::io_error;
use super::open::{self, map_open_error};
use super::scratch::ScratchBackend;
use super::{Store, StoreError};

/// redb's page cache for an unverified view (16 MiB): it is read once.
const UNVERIFIED_CACHE_BYTES: usize = 16 * 1024 * 1024;

impl Store {
    /// Opens an existing store, after the same verification as
    /// [`Store::open`], on a view whose writes stay in memory: batches
    /// commit, later reads see them, and the file is never modified. What
    /// is committed is lost when the store is dropped.
    ///
    /// The view holds at most 64 MiB of written pages; a larger rehearsal
    /// fails with [`StoreError::Database`] or [`StoreError::Io`], which says
    /// nothing about the request itself.
    pub fn open_rehearsal(path: &Path) -> Result<Store, StoreError> {
        let (db, _) = open::open_scratch(path)?;
        Ok(Store::wrap(Arc::new(db), path, false, true))
    }

    /// Opens a store *without* verifying its pages, for reading only, on a
    /// view whose writes stay in memory. Only for `yizhan check` on a store
    /// that [`Store::open`] refused as damaged: it reads what can still be
    /// read, to say which documents, changes and blobs the damage reached.
    ///
    /// Reads may return damaged bytes, fail, or panic inside redb; callers
    /// must guard every read (`std::panic::catch_unwind`) and must not serve
    /// anything read here as data.
    pub fn open_unverified(path: &Path) -> Result<Store, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_error(path, "open"))?;
        let file = FileBackend::new(file).map_err(|err| map_open_error(path, err))?;
        let scratch = ScratchBackend::new(file).map_err(io_error(path, "open"))?;
        let db = Builder::new()
            .set_cache_size(UNVERIFIED_CACHE_BYTES)
            .create_with_backend(scratch)
            .map_err(|err| map_open_error(path, err))?;
        Ok(Store::wrap(Arc::new(db), path, true, false))
    }
}
