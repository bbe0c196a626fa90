//! Opening an existing store: verify it without writing, then open it.
//!
//! The order matters. Whether this binary may touch a store at all depends on
//! the schema version inside it, and reading that version safely needs redb's
//! integrity check, which writes. So the check runs first on a copy-on-write
//! view of the file ([`ScratchBackend`]); only a store that passes is opened
//! for real. See `docs/storage.md`, "Opening".

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use redb::backends::FileBackend;
use redb::{Builder, Database, DatabaseError, ReadableDatabase, StorageError};

use super::error::{StoreError, io_error};
use super::scratch::ScratchBackend;
use super::tables::{self, SCHEMA_VERSION, SchemaVersionRead};

/// redb's page cache for an open store (64 MiB). redb's default is 1 GiB,
/// more than a community mini-PC should give a cache of mostly blob pages.
pub(crate) const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// redb's page cache while verifying (16 MiB): verification reads every page
/// once, so a cache only costs memory.
const VERIFY_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Opens the store at `path` after verifying it. See the module docs.
pub(crate) fn open_verified(path: &Path) -> Result<Database, StoreError> {
    let metadata = std::fs::metadata(path).map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => StoreError::NotFound {
            path: path.to_path_buf(),
        },
        _ => io_error(path, "inspect")(err),
    })?;
    if !metadata.is_file() {
        return Err(corrupt(path, "it is not a regular file"));
    }
    if metadata.len() == 0 {
        // redb would offer to initialise an empty file; an empty store file
        // is a creation that never finished, not a store.
        return Err(corrupt(path, "the file is empty"));
    }

    let version = verify_without_writing(path)?;
    tracing::debug!(path = %path.display(), version, "store verified");

    let db = Builder::new()
        .set_cache_size(CACHE_BYTES)
        .open(path)
        .map_err(|err| map_open_error(path, err))?;
    // The file could have been replaced between the two opens; this re-read
    // costs one lookup and keeps the promise that a newer schema is refused.
    check_schema(path, &db)?;
    Ok(db)
}

/// Runs redb's verifying open against a scratch view of the file, checks the
/// schema, and returns its version. Nothing is written to the file.
fn verify_without_writing(path: &Path) -> Result<u32, StoreError> {
    // Read-write only so that redb's exclusive lock can be taken, which is
    // what reports a store already open elsewhere; every write goes to memory.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|err| open_io_error(path, err))?;
    let file = FileBackend::new(file).map_err(|err| map_open_error(path, err))?;
    let scratch = ScratchBackend::new(file).map_err(|err| open_io_error(path, err))?;
    let db = Builder::new()
        .set_cache_size(VERIFY_CACHE_BYTES)
        .set_check_integrity_on_open(true)
        .create_with_backend(scratch)
        .map_err(|err| map_open_error(path, err))?;
    let result = check_schema(path, &db);
    // Closing commits into the scratch overlay only; a failure there says
    // nothing about the file.
    if let Err(err) = db.close() {
        tracing::debug!(path = %path.display(), %err, "closing the verification view failed");
    }
    result
}

/// Reads the schema version and checks that this binary may open the store,
/// then that every table of the schema exists with its types.
fn check_schema(path: &Path, db: &impl ReadableDatabase) -> Result<u32, StoreError> {
    let read = tables::read_schema_version(db).map_err(|err| content_error(path, err))?;
    let version = match read {
        SchemaVersionRead::Missing => {
            return Err(StoreError::MissingMeta {
                path: path.to_path_buf(),
            });
        }
        SchemaVersionRead::Malformed(len) => {
            return Err(corrupt(
                path,
                &format!("its schema version is {len} bytes long instead of 4"),
            ));
        }
        SchemaVersionRead::Found(0) => {
            return Err(corrupt(path, "its schema version is 0, which no yizhan writes"));
        }
        SchemaVersionRead::Found(found) if found > SCHEMA_VERSION => {
            return Err(StoreError::SchemaTooNew {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        // Versions below SCHEMA_VERSION will need a migration here once a
        // second schema exists; version 1 is the first.
        SchemaVersionRead::Found(version) => version,
    };
    let txn = db.begin_read().map_err(|err| content_error(path, err.into()))?;
    tables::check_all(&txn)
        .map_err(|(name, err)| corrupt(path, &format!("its table {name} is unusable: {err}")))?;
    Ok(version)
}

fn corrupt(path: &Path, reason: &str) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    }
}

/// An I/O error opening the file: a vanished file is still "not found".
fn open_io_error(path: &Path, err: io::Error) -> StoreError {
    match err.kind() {
        io::ErrorKind::NotFound => StoreError::NotFound {
            path: path.to_path_buf(),
        },
        _ => io_error(path, "open")(err),
    }
}

/// A redb error met while reading a verified file's contents: I/O stays I/O,
/// anything else means the contents are not what a Yizhan store holds.
fn content_error(path: &Path, err: redb::Error) -> StoreError {
    match err {
        redb::Error::Io(err) => io_error(path, "read")(err),
        other => corrupt(path, &other.to_string()),
    }
}

/// Maps redb's open errors onto the store's.
pub(crate) fn map_open_error(path: &Path, err: DatabaseError) -> StoreError {
    let path_buf = path.to_path_buf();
    match err {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            StoreError::AlreadyOpen { path: path_buf }
        }
        DatabaseError::UpgradeRequired(version) => corrupt(
            path,
            &format!("it uses redb file format {version}, older than this build reads"),
        ),
        DatabaseError::RepairAborted => corrupt(path, "redb could not repair it"),
        DatabaseError::Storage(StorageError::Corrupted(reason)) => corrupt(path, &reason),
        // redb reports "not a redb file" (bad magic number, empty file) and a
        // file shorter than its header says as I/O errors of these kinds.
        DatabaseError::Storage(StorageError::Io(err))
            if matches!(
                err.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            ) =>
        {
            corrupt(path, &err.to_string())
        }
        DatabaseError::Storage(StorageError::Io(err)) => open_io_error(path, err),
        other => StoreError::Database {
            path: path_buf,
            op: "open",
            source: other.into(),
        },
    }
}
