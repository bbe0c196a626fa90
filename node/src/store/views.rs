//! Another way to open a store besides [`Store::open`] and
//! [`Store::open_read_only`], over the scratch view of `ScratchBackend`,
//! so that the file is never written:
//!
//! - [`Store::open_rehearsal`]: a writable store whose commits stay in
//!   memory. A command with no node running rehearses a write on it first,
//!   so that a refused write never opens the file for writing (a read-write
//!   redb open changes the file's bytes even if nothing is committed).

use std::path::Path;
use std::sync::Arc;

use super::open;
use super::{Store, StoreError};

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
        Ok(Store {
            db: Arc::new(db),
            path: path.to_path_buf(),
            read_only: false,
        })
    }
}
