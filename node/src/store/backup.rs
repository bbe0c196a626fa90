//! Backups: a consistent copy of the store, taken from one read transaction
//! while the node runs, together with the few files a node cannot be
//! rebuilt without (its identity key and configuration), in one file.
//!
//! The backup file is a redb file holding every table of the store as it was
//! in that read transaction, plus two tables of its own: `backup`, and
//! `blobs` with every blob file's bytes by hash. So a backup
//! is verified the way a store is (every page checksummed on open, the schema
//! version and tables checked), and compared entry by entry with what was
//! read. The format is in `docs/storage.md`, "Backups".

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use redb::backends::FileBackend;
use redb::{
    Builder, Durability, Key, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition, TableHandle, Value, WriteTransaction,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::error::{DbResultExt, StoreError, io_error};
use super::tables::{
    self, AUTHORS, DOC_CHANGES, DOC_INFO, DOC_SNAPSHOTS, META, PEERS, SIGNATURES, SYNC_STATES,
};
use super::{BlobHash, Store, open};

/// The table only a backup has: its format, when it was taken, and the
/// node's files (`file/<name>` → the file's bytes).
const BACKUP: TableDefinition<&str, &[u8]> = TableDefinition::new("backup");

/// The backup's copy of the blob files: BLAKE3 hash → the blob's bytes,
/// checked against the hash when the backup is read and when it is
/// restored. Only a backup has this table; a store keeps blobs as files.
const BACKUP_BLOBS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blobs");

/// The format of a backup file, in `backup["format"]` as a little-endian u32.
pub const BACKUP_FORMAT: u32 = 1;

/// Key prefix of the node's files in the `backup` table.
const FILE_PREFIX: &str = "file/";

/// Meta key of the restore epoch: 8 bytes chosen at random when a backup is
/// restored, appended to the node's public key to make its Automerge actor
/// (`docs/storage.md`, "Restoring"). Absent in a store never restored.
pub const ACTOR_EPOCH_KEY: &str = "actor_epoch";

/// Writes `epoch` as the store's actor epoch in `txn`. The one place that
/// writes the reserved key: a restore and a rebuild both start a store under
/// a new actor this way (`docs/storage.md`, "Restoring" and "Rebuilding").
pub(crate) fn insert_actor_epoch(
    txn: &WriteTransaction,
    epoch: [u8; 8],
) -> Result<(), redb::Error> {
    txn.open_table(META)?.insert(ACTOR_EPOCH_KEY, &epoch[..])?;
    Ok(())
}

/// What went wrong taking, checking or restoring a backup.
#[derive(Debug, Error)]
pub enum BackupError {
    /// The destination exists and overwriting was not asked for.
    #[error("{} already exists; choose another file, or pass --force to replace it", path.display())]
    Exists {
        /// The destination.
        path: PathBuf,
    },
    /// The file is not a backup this binary can read.
    #[error("{} is not a Yizhan backup: {why}", path.display())]
    NotABackup {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        why: String,
    },
    /// The file written differs from what was read.
    #[error("backup {} does not match the store after writing ({what}); it was removed, try again", path.display())]
    Mismatch {
        /// The backup file.
        path: PathBuf,
        /// Which table or file differed.
        what: String,
    },
    /// Reading the store or writing the file failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One table of a backup: how many entries and the BLAKE3 of all of them
/// (key length, key, value length, value, in key order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDigest {
    /// The table's name.
    pub table: String,
    /// Its entries.
    pub entries: u64,
    /// 64 lowercase hex digits.
    pub hash: String,
}

/// What a backup holds, as written and verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    /// The backup file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Every table, as read from the store and found again in the file.
    pub tables: Vec<TableDigest>,
    /// The node's files it carries, by name.
    pub files: Vec<String>,
}

impl BackupSummary {
    /// Entries of table `name`, 0 if it has none.
    pub fn entries(&self, name: &str) -> u64 {
        self.tables
            .iter()
            .find(|t| t.table == name)
            .map_or(0, |t| t.entries)
    }
}

/// Reports progress: entries done so far, of how many.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Copies (when `to` is given) and digests one table.
fn copy_table<K: Key + 'static, V: Value + 'static>(
    from: &ReadTransaction,
    to: Option<&WriteTransaction>,
    def: TableDefinition<K, V>,
    done: &mut u64,
    total: u64,
    progress: Progress<'_>,
) -> Result<TableDigest, redb::Error> {
    copy_table_where(from, to, def, done, total, progress, &|_, _| true)
}

/// Which entries of a table a copy takes.
pub(super) type Keep<'k, K, V> =
    &'k dyn for<'a> Fn(&<K as Value>::SelfType<'a>, &<V as Value>::SelfType<'a>) -> bool;

/// Copies (when `to` is given) and digests the entries of one table that
/// `keep` accepts. Entries left out are never written to `to`, so their
/// bytes cannot reach its file even on pages freed later.
pub(super) fn copy_table_where<K: Key + 'static, V: Value + 'static>(
    from: &ReadTransaction,
    to: Option<&WriteTransaction>,
    def: TableDefinition<K, V>,
    done: &mut u64,
    total: u64,
    progress: Progress<'_>,
    keep: Keep<'_, K, V>,
) -> Result<TableDigest, redb::Error> {
    let source = from.open_table(def)?;
    let mut dest = match to {
        Some(txn) => Some(txn.open_table(def)?),
        None => None,
    };
    let mut hasher = blake3::Hasher::new();
    let mut entries = 0u64;
    for entry in source.iter()? {
        let (k, v) = entry?;
        let (key, value) = (k.value(), v.value());
        *done += 1;
        if done.is_multiple_of(256) {
            progress(*done, total);
        }
        if !keep(&key, &value) {
            continue;
        }
        digest_entry(
            &mut hasher,
            K::as_bytes(&key).as_ref(),
            V::as_bytes(&value).as_ref(),
        );
        if let Some(dest) = dest.as_mut() {
            dest.insert(key, value)?;
        }
        entries += 1;
    }
    Ok(TableDigest {
        table: def.name().to_owned(),
        entries,
        hash: blake3::Hasher::finalize(&hasher).to_hex().to_string(),
    })
}

/// Entries in every table of the store's schema.
pub(super) fn count_all(txn: &ReadTransaction) -> Result<u64, redb::Error> {
    fn len<K: Key + 'static, V: Value + 'static>(
        txn: &ReadTransaction,
        def: TableDefinition<K, V>,
    ) -> Result<u64, redb::Error> {
        Ok(txn.open_table(def)?.len()?)
    }
    Ok(len(txn, META)?
        + len(txn, DOC_SNAPSHOTS)?
        + len(txn, DOC_CHANGES)?
        + len(txn, DOC_INFO)?
        + len(txn, SYNC_STATES)?
        + len(txn, PEERS)?
        + len(txn, SIGNATURES)?
        + len(txn, AUTHORS)?)
}

/// Digests every table of the store's schema, copying each into `to` if
/// given; `sync_states` is copied only if `with_sync_states`.
fn copy_all(
    from: &ReadTransaction,
    to: Option<&WriteTransaction>,
    with_sync_states: bool,
    progress: Progress<'_>,
) -> Result<Vec<TableDigest>, redb::Error> {
    let total = count_all(from)?;
    let mut done = 0;
    let d = &mut done;
    let p = &mut *progress;
    let tables = vec![
        copy_table(from, to, META, d, total, p)?,
        copy_table(from, to, DOC_SNAPSHOTS, d, total, p)?,
        copy_table(from, to, DOC_CHANGES, d, total, p)?,
        copy_table(from, to, DOC_INFO, d, total, p)?,
        copy_table(
            from,
            to.filter(|_| with_sync_states),
            SYNC_STATES,
            d,
            total,
            p,
        )?,
        copy_table(from, to, PEERS, d, total, p)?,
        copy_table(from, to, SIGNATURES, d, total, p)?,
        copy_table(from, to, AUTHORS, d, total, p)?,
    ];
    progress(done, total);
    Ok(tables)
}

/// Creates `path` readable by its owner only (a backup holds the node's
/// private key), failing if it exists.
pub(super) fn create_private(path: &Path) -> Result<fs::File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path, "create"))
}

pub(super) fn sync_dir_of(path: &Path) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir, "sync the directory of"))
}

impl Store {
    /// Writes a backup of this store, with `files` (name, bytes), to `dest`:
    /// everything is read in one read transaction, so the copy is
    /// consistent while writes go on. The file is written beside `dest`,
    /// made durable, renamed into place, then opened again and compared
    /// table by table with what was read. Refuses an existing `dest`
    /// unless `force`.
    pub fn write_backup(
        &self,
        dest: &Path,
        files: &[(&str, Vec<u8>)],
        force: bool,
        progress: Progress<'_>,
    ) -> Result<BackupSummary, BackupError> {
        if !force && dest.exists() {
            return Err(BackupError::Exists {
                path: dest.to_owned(),
            });
        }
        let mut partial = dest.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        // Left by a backup that died half way: it was never renamed into place.
        match fs::remove_file(&partial) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_error(&partial, "remove")(e).into());
            }
            _ => {}
        }
        let written = self.write_backup_file(&partial, files, progress);
        let tables = match written {
            Ok(tables) => tables,
            Err(e) => {
                let _ = fs::remove_file(&partial);
                return Err(e);
            }
        };
        fs::rename(&partial, dest).map_err(io_error(dest, "rename the backup into"))?;
        sync_dir_of(dest)?;
        let summary = match verify_backup(dest) {
            Ok(found) if found.tables != tables => {
                let what = tables
                    .iter()
                    .zip(&found.tables)
                    .find(|(a, b)| a != b)
                    .map_or("a table".to_string(), |(a, _)| a.table.clone());
                Err(BackupError::Mismatch {
                    path: dest.to_owned(),
                    what,
                })
            }
            Ok(found) => match files
                .iter()
                .find(|(n, _)| !found.files.iter().any(|f| f == n))
            {
                Some((name, _)) => Err(BackupError::Mismatch {
                    path: dest.to_owned(),
                    what: format!("file {name}"),
                }),
                None => Ok(found),
            },
            Err(e) => Err(e),
        };
        if summary.is_err() {
            let _ = fs::remove_file(dest);
        }
        summary
    }

    fn write_backup_file(
        &self,
        path: &Path,
        files: &[(&str, Vec<u8>)],
        progress: Progress<'_>,
    ) -> Result<Vec<TableDigest>, BackupError> {
        let file = create_private(path)?;
        let backend = FileBackend::new(file).map_err(|err| open::map_open_error(path, err))?;
        let db = Builder::new()
            .set_cache_size(open::CACHE_BYTES)
            .create_with_backend(backend)
            .map_err(|err| open::map_open_error(path, err))?;
        let read = self
            .db
            .begin_read()
            .db(&self.path, "begin the backup read")?;
        let mut txn = db.begin_write().db(path, "begin writing the backup")?;
        txn.set_durability(Durability::Immediate)
            .db(path, "begin writing the backup")?;
        tables::create_all(&txn).db(path, "create tables")?;
        let mut digests = copy_all(&read, Some(&txn), true, progress).db(path, "copy the store")?;
        // Blobs are written before the documents that refer to them, so the
        // files listed after the read transaction began hold every blob it
        // can refer to (and perhaps a few newer ones).
        digests.push(self.copy_blobs_into(&txn, path)?);
        {
            let mut backup = txn.open_table(BACKUP).db(path, "write the backup table")?;
            backup
                .insert("format", &BACKUP_FORMAT.to_le_bytes()[..])
                .db(path, "write the backup table")?;
            let created = chrono::Utc::now().to_rfc3339();
            backup
                .insert("created", created.as_bytes())
                .db(path, "write the backup table")?;
            for (name, bytes) in files {
                backup
                    .insert(format!("{FILE_PREFIX}{name}").as_str(), &bytes[..])
                    .db(path, "write the backup table")?;
            }
        }
        txn.commit().db(path, "commit the backup")?;
        Ok(digests)
    }
}

impl Store {
    /// Copies every blob file, verified, into the backup's `blobs` table
    /// and digests it as [`copy_table`] digests a table.
    fn copy_blobs_into(
        &self,
        txn: &WriteTransaction,
        path: &Path,
    ) -> Result<TableDigest, StoreError> {
        const OP: &str = "copy the blobs into the backup";
        let mut table = txn.open_table(BACKUP_BLOBS).db(path, OP)?;
        let mut hasher = blake3::Hasher::new();
        let mut entries = 0u64;
        for hash in self.blob_hashes()? {
            // A blob removed since it was listed is not in the backup; one
            // damaged fails it, rather than leave a hole nobody sees.
            let Some(bytes) = self.blob(&hash)? else {
                continue;
            };
            digest_entry(&mut hasher, hash.as_bytes(), &bytes);
            table
                .insert(hash.as_bytes(), bytes.as_slice())
                .db(path, OP)?;
            entries += 1;
        }
        Ok(TableDigest {
            table: BACKUP_BLOBS.name().to_owned(),
            entries,
            hash: hasher.finalize().to_hex().to_string(),
        })
    }
}

/// Adds one entry to a table digest: key length, key, value length, value.
fn digest_entry(hasher: &mut blake3::Hasher, key: &[u8], value: &[u8]) {
    hasher.update(&(key.len() as u64).to_le_bytes());
    hasher.update(key);
    hasher.update(&(value.len() as u64).to_le_bytes());
    hasher.update(value);
}

/// Digests the backup's `blobs` table, checking every blob against its
/// hash; names the first that does not match.
fn digest_backup_blobs(read: &ReadTransaction, path: &Path) -> Result<TableDigest, BackupError> {
    const OP: &str = "read the backup's blobs";
    let table = read
        .open_table(BACKUP_BLOBS)
        .map_err(|e| BackupError::NotABackup {
            path: path.to_owned(),
            why: format!("its blobs table is unusable: {e}"),
        })?;
    let mut hasher = blake3::Hasher::new();
    let mut entries = 0u64;
    for entry in table.iter().db(path, OP)? {
        let (k, v) = entry.db(path, OP)?;
        let (hash, bytes) = (BlobHash::from_bytes(*k.value()), v.value());
        if BlobHash::of(bytes) != hash {
            return Err(BackupError::NotABackup {
                path: path.to_owned(),
                why: format!("its copy of blob {hash} does not match its hash (damaged)"),
            });
        }
        digest_entry(&mut hasher, hash.as_bytes(), bytes);
        entries += 1;
    }
    Ok(TableDigest {
        table: BACKUP_BLOBS.name().to_owned(),
        entries,
        hash: hasher.finalize().to_hex().to_string(),
    })
}

/// The node's files a backup carries, by name.
pub type BackupFiles = Vec<(String, Vec<u8>)>;

/// Opens a backup (verifying every page, the schema version and the tables
/// as for a store) and digests it.
pub fn verify_backup(path: &Path) -> Result<BackupSummary, BackupError> {
    let (summary, _) = read_backup(path, &mut |_, _| {})?;
    Ok(summary)
}

fn open_backup(path: &Path) -> Result<Store, BackupError> {
    let not_a_backup = |why: String| BackupError::NotABackup {
        path: path.to_owned(),
        why,
    };
    let store = match Store::open_read_only(path) {
        Ok(store) => store,
        Err(StoreError::NotFound { .. }) => return Err(not_a_backup("no such file".into())),
        Err(e @ StoreError::SchemaTooNew { .. }) => return Err(e.into()),
        Err(e) => return Err(not_a_backup(e.to_string())),
    };
    let read = store.db.begin_read().db(path, "read the backup")?;
    let table = read
        .open_table(BACKUP)
        .map_err(|_| not_a_backup("it has no backup table (a store file?)".into()))?;
    let format = table
        .get("format")
        .db(path, "read the backup")?
        .and_then(|v| <[u8; 4]>::try_from(v.value()).ok())
        .map(u32::from_le_bytes);
    match format {
        Some(BACKUP_FORMAT) => Ok(store),
        Some(other) => Err(not_a_backup(format!(
            "backup format {other}, this binary reads {BACKUP_FORMAT}; use a newer Yizhan"
        ))),
        None => Err(not_a_backup("its format is missing".into())),
    }
}

fn read_backup(
    path: &Path,
    progress: Progress<'_>,
) -> Result<(BackupSummary, BackupFiles), BackupError> {
    let store = open_backup(path)?;
    let read = store.db.begin_read().db(path, "read the backup")?;
    let mut tables = copy_all(&read, None, true, progress).db(path, "read the backup")?;
    tables.push(digest_backup_blobs(&read, path)?);
    let mut files = Vec::new();
    let table = read.open_table(BACKUP).db(path, "read the backup")?;
    for entry in table.iter().db(path, "read the backup")? {
        let (k, v) = entry.db(path, "read the backup")?;
        if let Some(name) = k.value().strip_prefix(FILE_PREFIX) {
            files.push((name.to_owned(), v.value().to_vec()));
        }
    }
    let bytes = fs::metadata(path).map_err(io_error(path, "inspect"))?.len();
    let summary = BackupSummary {
        path: path.to_owned(),
        bytes,
        tables,
        files: files.iter().map(|(n, _)| n.clone()).collect(),
    };
    Ok((summary, files))
}

/// Writes every blob of the backup as a file of `store`, each checked
/// against its hash, and makes them durable before the documents that
/// refer to them are restored.
fn restore_blobs(read: &ReadTransaction, backup: &Path, store: &Store) -> Result<(), StoreError> {
    const OP: &str = "read the backup's blobs";
    let table = read.open_table(BACKUP_BLOBS).db(backup, OP)?;
    let mut batch = store.batch()?;
    for entry in table.iter().db(backup, OP)? {
        let (k, v) = entry.db(backup, OP)?;
        let hash = BlobHash::from_bytes(*k.value());
        let written = batch.put_blob(v.value())?;
        if written != hash {
            return Err(StoreError::CorruptBlob {
                hash,
                reason: format!("the backup's copy hashes to {written}"),
            });
        }
    }
    batch.commit()
}

/// Creates a new store at `store_path` from the backup at `backup`, under
/// the restore epoch `epoch` (meta [`ACTOR_EPOCH_KEY`]), in one
/// transaction; sync states are left behind, so the restored node compares
/// everything with every peer once. Returns the backup's summary and the
/// node's files it carries, for the caller to install.
pub fn restore_backup(
    backup: &Path,
    store_path: &Path,
    epoch: [u8; 8],
    progress: Progress<'_>,
) -> Result<(BackupSummary, BackupFiles, Store), BackupError> {
    let (summary, files) = read_backup(backup, &mut |_, _| {})?;
    let source = open_backup(backup)?;
    let store = Store::create(store_path)?;
    let path = store_path;
    let copied = (|| -> Result<(), StoreError> {
        let read = source.db.begin_read().db(backup, "read the backup")?;
        restore_blobs(&read, backup, &store)?;
        let mut txn = store.db.begin_write().db(path, "begin the restore")?;
        txn.set_durability(Durability::Immediate)
            .db(path, "begin the restore")?;
        copy_all(&read, Some(&txn), false, progress).db(path, "restore the store")?;
        insert_actor_epoch(&txn, epoch).db(path, "write the restore epoch")?;
        txn.commit().db(path, "commit the restore")?;
        Ok(())
    })();
    if let Err(e) = copied {
        drop(store);
        let _ = fs::remove_file(store_path);
        return Err(e.into());
    }
    Ok((summary, files, store))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_data(dir: &Path) -> Store {
        let store = Store::create(&dir.join("store.redb")).unwrap();
        let mut doc = automerge::AutoCommit::new();
        automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "k", "v").unwrap();
        let mut batch = store.batch().unwrap();
        batch
            .append_changes("a/doc", &doc.save_after(&[]), &doc.get_heads())
            .unwrap();
        batch.put_blob(b"photo").unwrap();
        batch.put_sync_state("peer", "a/doc", b"state").unwrap();
        batch.commit().unwrap();
        store
    }

    #[test]
    fn backup_verifies_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_data(dir.path());
        let dest = dir.path().join("b.yzbk");
        let files = [("identity.key", b"key".to_vec())];
        let summary = store
            .write_backup(&dest, &files, false, &mut |_, _| {})
            .unwrap();
        assert_eq!(summary.entries("doc_info"), 1);
        assert_eq!(summary.entries("blobs"), 1);
        assert_eq!(summary.files, vec!["identity.key".to_string()]);
        assert!(matches!(
            store.write_backup(&dest, &files, false, &mut |_, _| {}),
            Err(BackupError::Exists { .. })
        ));
        store
            .write_backup(&dest, &files, true, &mut |_, _| {})
            .unwrap();
        assert_eq!(verify_backup(&dest).unwrap().tables, summary.tables);
        assert!(matches!(
            verify_backup(&dir.path().join("store.redb")),
            Err(BackupError::NotABackup { .. })
        ));
    }

    #[test]
    fn a_damaged_photo_in_a_backup_is_refused_and_restores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_data(dir.path());
        let dest = dir.path().join("b.yzbk");
        store
            .write_backup(&dest, &[], false, &mut |_, _| {})
            .unwrap();
        drop(store);
        let photo = BlobHash::of(b"photo");
        let db = redb::Database::open(&dest).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(BACKUP_BLOBS)
            .unwrap()
            .insert(photo.as_bytes(), &b"phono"[..])
            .unwrap();
        txn.commit().unwrap();
        drop(db);
        let why = match verify_backup(&dest) {
            Err(BackupError::NotABackup { why, .. }) => why,
            other => panic!("expected NotABackup, got {other:?}"),
        };
        assert!(why.contains(&photo.to_string()), "{why}");
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("restored.redb");
        assert!(restore_backup(&dest, &target, [1; 8], &mut |_, _| {}).is_err());
        assert!(!target.exists());
        assert!(
            !elsewhere
                .path()
                .join("blobs")
                .join(photo.to_string())
                .exists()
        );
    }

    #[test]
    fn restore_copies_all_but_sync_states_and_sets_an_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_data(dir.path());
        let dest = dir.path().join("b.yzbk");
        store
            .write_backup(
                &dest,
                &[("config.toml", b"x".to_vec())],
                false,
                &mut |_, _| {},
            )
            .unwrap();
        // Another directory: the restored store's blob files are its own.
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("restored.redb");
        let (_, files, restored) = restore_backup(&dest, &target, [9; 8], &mut |_, _| {}).unwrap();
        assert_eq!(files, vec![("config.toml".to_string(), b"x".to_vec())]);
        let photo = BlobHash::of(b"photo");
        assert_eq!(restored.blob(&photo).unwrap().unwrap(), b"photo");
        assert!(
            elsewhere
                .path()
                .join("blobs")
                .join(photo.to_string())
                .exists()
        );
        assert!(restored.load_document("a/doc").unwrap().is_some());
        assert!(restored.sync_states_for("peer").unwrap().is_empty());
        assert_eq!(
            restored.get_meta(ACTOR_EPOCH_KEY).unwrap(),
            Some(vec![9u8; 8])
        );
        assert!(matches!(
            restore_backup(&dest, &target, [9; 8], &mut |_, _| {}),
            Err(BackupError::Store(StoreError::AlreadyExists { .. }))
        ));
    }
}
