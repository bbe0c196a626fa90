//! The one error type of the store, [`StoreError`].
//!
//! Every message names the store file or the record that failed and says what
//! an operator can do about it, because these errors end up in front of a
//! person at a community office, not a developer.

use std::path::{Path, PathBuf};

use super::blob::BlobHash;

/// What went wrong in a store operation.
///
/// The variants split along what a caller does next: a missing file
/// ([`StoreError::NotFound`]) is an invitation to create one, a damaged file
/// ([`StoreError::Corrupt`]) or record ([`StoreError::CorruptDocument`],
/// [`StoreError::CorruptBlob`]) needs repair from a backup or a peer, a newer
/// schema ([`StoreError::SchemaTooNew`]) needs a newer binary, and
/// [`StoreError::Database`] / [`StoreError::Io`] are environmental failures
/// (disk full, permissions) that a retry after fixing the machine can cure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store file does not exist.
    #[error(
        "store file {} does not exist; check the data directory (--data-dir), or, if this node's store was lost, run `yizhan rebuild` to make a fresh one and refill it from the node's peers",
        path.display()
    )]
    NotFound {
        /// The path that was opened.
        path: PathBuf,
    },

    /// [`Store::create`](super::Store::create) found a file already at the path.
    #[error(
        "cannot create store file {}: a file already exists there; open it instead, or move it away to start afresh",
        path.display()
    )]
    AlreadyExists {
        /// The path that was to be created.
        path: PathBuf,
    },

    /// The file is not a redb database, or redb found it damaged (truncated,
    /// failed checksums, unknown file format).
    #[error(
        "store file {} is not a yizhan store or is damaged: {reason}; stop the node and run `yizhan rebuild` to move it aside and refill a fresh store from the node's peers, or restore a backup",
        path.display()
    )]
    Corrupt {
        /// The path that was opened.
        path: PathBuf,
        /// What redb, or the store's own checks, found wrong.
        reason: String,
    },

    /// The file is a sound redb database but carries no Yizhan schema version:
    /// it belongs to some other program, or its creation was interrupted.
    #[error(
        "store file {} is a redb database but not a yizhan store (its meta table has no schema version); check the data directory (--data-dir), or move the file away",
        path.display()
    )]
    MissingMeta {
        /// The path that was opened.
        path: PathBuf,
    },

    /// The store was written by a newer Yizhan whose schema this binary does
    /// not understand. The file has not been modified.
    #[error(
        "store file {} has schema version {found}, newer than version {supported} which this yizhan understands; upgrade yizhan to open it (the file was left untouched)",
        path.display()
    )]
    SchemaTooNew {
        /// The path that was opened.
        path: PathBuf,
        /// The schema version recorded in the file.
        found: u32,
        /// The newest schema version this binary reads and writes.
        supported: u32,
    },

    /// Another process (or another [`Store`](super::Store) in this process)
    /// holds the file open.
    #[error(
        "store file {} is in use by another process; stop the other yizhan node using this data directory and try again",
        path.display()
    )]
    AlreadyOpen {
        /// The path that was opened.
        path: PathBuf,
    },

    /// A write was attempted on a store opened with
    /// [`Store::open_read_only`](super::Store::open_read_only).
    #[error("store file {} was opened read-only; this is a bug in the command that tried to write", path.display())]
    ReadOnly {
        /// The store file.
        path: PathBuf,
    },

    /// An operating-system error outside redb: creating, inspecting or
    /// syncing the file or its directory.
    #[error("cannot {op} store file {}: {source}", path.display())]
    Io {
        /// The store file.
        path: PathBuf,
        /// What was being done, as a verb phrase ("create", "open").
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// redb failed while reading or writing an open store.
    #[error(
        "store file {}: {op} failed: {source}; check free disk space and permissions, and run `yizhan check` if it happens again",
        path.display()
    )]
    Database {
        /// The store file.
        path: PathBuf,
        /// What was being done ("read document", "commit").
        op: &'static str,
        /// redb's error, boxed: redb's error type is large, and a small
        /// `StoreError` keeps every `Result` that carries it small.
        #[source]
        source: Box<redb::Error>,
    },

    /// A document's stored snapshot and change chunks do not reproduce the
    /// heads recorded at its last write, or do not decode at all.
    #[error(
        "document {id} in the store is damaged: {reason}; stop the node and run `yizhan rebuild` to refill a fresh store from the node's peers, or restore a backup"
    )]
    CorruptDocument {
        /// The document id.
        id: String,
        /// What did not match.
        reason: String,
    },

    /// A blob file no longer matches its name: its bytes do not hash to
    /// it, or it is cut short or grown.
    #[error(
        "blob {hash} is damaged on disk ({reason}) and is not served; delete its file from the blobs directory and `yizhan blob get {hash}` fetches it again from a peer"
    )]
    CorruptBlob {
        /// The hash the blob is stored (and was asked for) under.
        hash: BlobHash,
        /// What does not match.
        reason: String,
    },

    /// [`Batch::put_blob`](super::Batch::put_blob) was given more bytes than
    /// [`BLOB_BYTES_MAX`](super::BLOB_BYTES_MAX).
    #[error(
        "blob of {bytes} bytes is larger than the store's limit of {max} bytes; shrink or split the attachment"
    )]
    BlobTooLarge {
        /// The size offered.
        bytes: usize,
        /// The limit.
        max: usize,
    },

    /// [`Batch::put_meta`](super::Batch::put_meta) was asked to overwrite a
    /// key the store manages itself, such as the schema version.
    #[error("meta key {key:?} is reserved for the store itself and cannot be written by callers")]
    ReservedMetaKey {
        /// The key that was refused.
        key: String,
    },
}

/// Attaches the store path and the operation to a redb error.
pub(crate) trait DbResultExt<T> {
    /// Maps any redb error into [`StoreError::Database`].
    fn db(self, path: &Path, op: &'static str) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> DbResultExt<T> for Result<T, E> {
    fn db(self, path: &Path, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|err| StoreError::Database {
            path: path.to_path_buf(),
            op,
            source: Box::new(err.into()),
        })
    }
}

/// Builds a [`StoreError::Io`] for `path`.
pub(crate) fn io_error(path: &Path, op: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { path, op, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_static<T: Send + Sync + 'static>() {}

    #[test]
    fn store_error_can_cross_threads_and_box_into_anyhow() {
        assert_send_sync_static::<StoreError>();
    }

    #[test]
    fn store_error_stays_small() {
        // Clippy's result_large_err draws the line at 128 bytes, and every
        // error wrapping this one inherits its size.
        assert!(size_of::<StoreError>() <= 80, "{}", size_of::<StoreError>());
    }

    #[test]
    fn messages_name_the_file_and_the_remedy() {
        let err = StoreError::Corrupt {
            path: PathBuf::from("/x/store.redb"),
            reason: "magic number mismatch".into(),
        };
        let text = err.to_string();
        assert!(text.starts_with(
            "store file /x/store.redb is not a yizhan store or is damaged: magic number mismatch"
        ));
        assert!(text.contains("run `yizhan rebuild`"), "{text}");
        assert!(text.contains("restore a backup"), "{text}");

        let err = StoreError::SchemaTooNew {
            path: PathBuf::from("/x/store.redb"),
            found: 2,
            supported: 1,
        };
        assert!(err.to_string().contains("upgrade yizhan"));
    }

    #[test]
    fn redb_errors_keep_their_source() {
        let result: Result<(), redb::StorageError> =
            Err(redb::StorageError::Corrupted("bad page".into()));
        let err = result
            .db(Path::new("/x/store.redb"), "read document")
            .unwrap_err();
        assert!(matches!(
            err,
            StoreError::Database {
                op: "read document",
                ..
            }
        ));
        assert!(std::error::Error::source(&err).is_some());
        assert!(err.to_string().contains("bad page"));
    }
}
