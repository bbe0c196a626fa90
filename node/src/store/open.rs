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
    let (db, version) = open_scratch(path)?;
    // Closing commits into the scratch overlay only; a failure there says
    // nothing about the file.
    if let Err(err) = db.close() {
        tracing::debug!(path = %path.display(), %err, "closing the verification view failed");
    }
    Ok(version)
}

/// Opens a verified view of the store whose writes (redb's own bookkeeping,
/// crash recovery) stay in memory: the file is never modified. Used both to
/// check a store before the real open and to serve read-only commands.
pub(crate) fn open_scratch(path: &Path) -> Result<(Database, u32), StoreError> {
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
    let version = check_schema(path, &db)?;
    Ok((db, version))
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
            return Err(corrupt(
                path,
                "its schema version is 0, which no yizhan writes",
            ));
        }
        SchemaVersionRead::Found(found) if found > SCHEMA_VERSION => {
            return Err(StoreError::SchemaTooNew {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        // Version 1 kept blobs in a redb table, version 2 kept each blob's
        // tree in a file beside it; no released yizhan wrote either, so
        // there is no migration: such a store is rebuilt from peers.
        SchemaVersionRead::Found(found) if found < SCHEMA_VERSION => {
            return Err(corrupt(
                path,
                &format!(
                    "its schema version {found} is a development format from before photos were kept as plain files, which this build does not read"
                ),
            ));
        }
        SchemaVersionRead::Found(version) => version,
    };
    let txn = db
        .begin_read()
        .map_err(|err| content_error(path, err.into()))?;
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
            source: Box::new(other.into()),
        },
    }
}

#[cfg(test)]
mod tests {
    //! Opening real files: missing, foreign, damaged, truncated, newer, busy.

    use std::path::{Path, PathBuf};

    use automerge::AutoCommit;
    use redb::{Database, ReadableDatabase, ReadableTableMetadata};

    use crate::store::tables::{self, DOC_CHANGES, SCHEMA_VERSION};
    use crate::store::tests::{assert_same_doc, edit, persist};
    use crate::store::{Store, StoreError};

    #[test]
    fn missing_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(&err, StoreError::NotFound { path: p } if *p == path));
        assert!(err.to_string().contains("does not exist"));
    }

    fn assert_corrupt(path: &Path) -> String {
        match Store::open(path) {
            Err(StoreError::Corrupt { reason, .. }) => reason,
            Err(other) => panic!("expected Corrupt, got {other}"),
            Ok(_) => panic!("expected Corrupt, opened fine"),
        }
    }

    #[test]
    fn garbage_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        std::fs::write(&path, vec![0x5a; 10_000]).unwrap();
        let reason = assert_corrupt(&path);
        assert!(reason.contains("magic number"), "{reason}");
        assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 10_000]);
    }

    #[test]
    fn empty_file_and_directory_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        std::fs::write(&path, b"").unwrap();
        assert!(assert_corrupt(&path).contains("empty"));
        assert!(assert_corrupt(dir.path()).contains("regular file"));
    }

    /// A store with a few documents and blobs, closed; returns its path.
    fn populated_store(dir: &Path) -> PathBuf {
        let path = dir.join("store.redb");
        let store = Store::create(&path).unwrap();
        for d in 0..3 {
            let mut doc = AutoCommit::new();
            let mut saved = Vec::new();
            for n in 0..20 {
                edit(&mut doc, &format!("k{n}"), n);
                saved = persist(&store, &format!("d{d}"), &mut doc, &saved);
            }
        }
        let mut batch = store.batch().unwrap();
        for n in 0..20u8 {
            batch.put_blob(&vec![n; 5000]).unwrap();
        }
        batch.commit().unwrap();
        path
    }

    #[test]
    fn truncated_store_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated_store(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        for keep in [bytes.len() / 2, bytes.len() / 10, 4096, 100] {
            std::fs::write(&path, &bytes[..keep]).unwrap();
            let reason = assert_corrupt(&path);
            assert!(!reason.is_empty());
            assert_eq!(
                std::fs::read(&path).unwrap().len(),
                keep,
                "open must not write"
            );
        }
    }

    #[test]
    fn damaged_bytes_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated_store(dir.path());
        let pristine = std::fs::read(&path).unwrap();
        let mut offsets: Vec<usize> = (0..pristine.len()).step_by(pristine.len() / 40).collect();
        offsets.extend([9, 10, 16, 32, 64, 128, 256, 512, 1024]);
        let mut refused = 0;
        for offset in offsets {
            let mut bytes = pristine.clone();
            let end = (offset + 48).min(bytes.len());
            for byte in &mut bytes[offset..end] {
                *byte ^= 0xA5;
            }
            std::fs::write(&path, &bytes).unwrap();
            // Any result will do, as long as it is a result. Damage to free
            // pages or to the unused commit slot goes unnoticed, rightly.
            let Ok(store) = Store::open(&path) else {
                refused += 1;
                continue;
            };
            for id in store.document_ids().unwrap_or_default() {
                let _ = store.load_document(&id);
            }
            for hash in store.blob_hashes().unwrap_or_default() {
                let _ = store.blob(&hash);
            }
        }
        assert!(refused > 10, "only {refused} damaged files were refused");
    }

    /// Writes `schema_version` = `version` into the closed store at `path`
    /// through raw redb, as a newer yizhan would.
    fn write_raw_schema_version(path: &Path, version: u32) {
        let db = Database::open(path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(tables::META)
            .unwrap()
            .insert(
                tables::SCHEMA_VERSION_KEY,
                &tables::encode_schema_version(version)[..],
            )
            .unwrap();
        txn.commit().unwrap();
    }

    #[test]
    fn newer_schema_is_refused_and_the_file_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated_store(dir.path());
        write_raw_schema_version(&path, SCHEMA_VERSION + 1);
        let before = std::fs::read(&path).unwrap();
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();

        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found, supported, .. }
                if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade yizhan"));
        assert_eq!(std::fs::read(&path).unwrap(), before, "file bytes changed");
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            modified
        );
    }

    #[test]
    fn newer_schema_left_by_a_crash_is_refused_untouched_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated_store(dir.path());
        // Copy the file while a writer holds it open: the copy is what a crash
        // leaves behind, with redb's "recovery required" flag set.
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(tables::META)
            .unwrap()
            .insert(
                tables::SCHEMA_VERSION_KEY,
                &tables::encode_schema_version(SCHEMA_VERSION + 7)[..],
            )
            .unwrap();
        txn.commit().unwrap();
        let crashed = dir.path().join("crashed.redb");
        std::fs::copy(&path, &crashed).unwrap();
        drop(db);
        let before = std::fs::read(&crashed).unwrap();

        assert!(matches!(
            Store::open(&crashed),
            Err(StoreError::SchemaTooNew { found, .. }) if found == SCHEMA_VERSION + 7
        ));
        assert_eq!(std::fs::read(&crashed).unwrap(), before);
    }

    #[test]
    fn store_copied_mid_write_opens_with_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated_store(dir.path());
        let store = Store::open(&path).unwrap();
        let mut doc = store.load_document("d0").unwrap().unwrap();
        let saved = doc.get_heads();
        edit(&mut doc, "late", 1);
        persist(&store, "d0", &mut doc, &saved);
        let crashed = dir.path().join("crashed.redb");
        std::fs::copy(&path, &crashed).unwrap();
        drop(store);

        let store = Store::open(&crashed).unwrap();
        let mut loaded = store.load_document("d0").unwrap().unwrap();
        assert_same_doc(&mut loaded, &mut doc);
    }

    #[test]
    fn a_store_of_an_earlier_development_format_is_refused_untouched() {
        // 1: blobs in a redb table; 2: a tree file beside each blob.
        for old in [1, 2] {
            let dir = tempfile::tempdir().unwrap();
            let path = populated_store(dir.path());
            write_raw_schema_version(&path, old);
            let before = std::fs::read(&path).unwrap();
            assert!(assert_corrupt(&path).contains(&format!("schema version {old}")));
            assert_eq!(std::fs::read(&path).unwrap(), before);
        }
    }

    #[test]
    fn malformed_or_zero_schema_version_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated_store(dir.path());
        write_raw_schema_version(&path, 0);
        assert!(assert_corrupt(&path).contains("schema version is 0"));

        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(tables::META)
            .unwrap()
            .insert(tables::SCHEMA_VERSION_KEY, &b"\x01\0"[..])
            .unwrap();
        txn.commit().unwrap();
        drop(db);
        assert!(assert_corrupt(&path).contains("2 bytes"));
    }

    #[test]
    fn redb_file_without_meta_is_missing_meta() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.redb");
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<u64, u64>::new("something"))
            .unwrap()
            .insert(1, 2)
            .unwrap();
        txn.commit().unwrap();
        drop(db);
        let before = std::fs::read(&path).unwrap();
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::MissingMeta { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);

        // A meta table without the version is no better.
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(tables::META)
            .unwrap()
            .insert("other", &b"x"[..])
            .unwrap();
        txn.commit().unwrap();
        drop(db);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::MissingMeta { .. })
        ));
    }

    #[test]
    fn missing_table_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        drop(Store::create(&path).unwrap());
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(tables::PEERS).unwrap();
        txn.commit().unwrap();
        drop(db);
        let reason = assert_corrupt(&path);
        assert!(reason.contains("peers"), "{reason}");
    }

    #[test]
    fn second_open_is_refused_while_the_first_is_live() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let store = Store::create(&path).unwrap();
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::AlreadyOpen { .. })
        ));
        drop(store);
        Store::open(&path).unwrap();
    }

    #[test]
    fn open_leaves_a_raw_reader_nothing_new_to_see() {
        // Guards the claim in docs/storage.md that opening changes no table:
        // redb's own header and allocator bookkeeping may change, our data not.
        let dir = tempfile::tempdir().unwrap();
        let path = populated_store(dir.path());
        let count = |path: &Path| {
            let db = redb::ReadOnlyDatabase::open(path).unwrap();
            let txn = db.begin_read().unwrap();
            txn.open_table(DOC_CHANGES).unwrap().len().unwrap()
        };
        let before = count(&path);
        drop(Store::open(&path).unwrap());
        assert_eq!(count(&path), before);
    }
}
