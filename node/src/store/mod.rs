//! The node's durable store: one redb file holding documents, sync states,
//! peers and store-wide settings, and beside it a directory of blob files
//! (photos and voice notes, `blob_files.rs`).
//!
//! How to drive it:
//!
//! - [`Store::create`] a new file once, then [`Store::open`] it on every start.
//!   Opening verifies the whole file and refuses, without writing anything, a
//!   store whose schema is newer than [`SCHEMA_VERSION`].
//! - Read with the methods of [`Store`]; each is its own consistent snapshot.
//! - Write through a [`Batch`] from [`Store::batch`]: one redb write
//!   transaction. Nothing is visible, or durable, until [`Batch::commit`]
//!   returns `Ok`; only then may a write be acknowledged to anyone. Dropping a
//!   batch discards it.
//! - After appending to a document, check [`DocumentInfo::wants_compaction`]
//!   and, when it says so, replace the chunks with a snapshot through
//!   [`Batch::put_snapshot`].
//!
//! The file format, and the reasons for it, are in `docs/storage.md`.

mod backup;
mod batch;
mod blob;
mod blob_files;
mod blob_tally;
mod document;
mod error;
mod open;
mod rewrite;
mod scratch;
mod tables;
mod tree_cache;
mod views;

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use automerge::AutoCommit;
use redb::backends::FileBackend;
use redb::{Builder, Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable};

pub use backup::{
    ACTOR_EPOCH_KEY, BACKUP_FORMAT, BackupError, BackupFiles, BackupSummary, Progress, TableDigest,
    restore_backup, verify_backup,
};
pub use batch::Batch;
pub use blob::{BLOB_BYTES_MAX, BlobHash, ParseBlobHashError, TREE_BLOCK};
pub use blob_files::{BLOB_DIR, BlobSurvey, BlobTree, DAMAGED_BLOB_DIR, make_tree};
pub use blob_tally::BlobTotals;
pub use document::{COMPACTION_CHANGES_BYTES_MIN, DocumentInfo};
pub use error::StoreError;
pub use rewrite::{Rewrite, Rewritten};
pub use tables::SCHEMA_VERSION;

use blob_files::{BlobFiles, FileFault};
use document::DocRecord;
use error::{DbResultExt, io_error};
use tables::{
    AUTHORS, DOC_CHANGES, DOC_INFO, DOC_SNAPSHOTS, META, PEERS, SCHEMA_VERSION_KEY, SIGNATURES,
    SYNC_STATES,
};

/// Who signed a change, and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRecord {
    /// The author's Ed25519 public key.
    pub author: [u8; 32],
    /// The author's signature of the change hash.
    pub signature: Vec<u8>,
}

/// An open store file. Cheap to share across threads, by reference or by
/// clone (clones share the one open file); reads run concurrently, batches
/// one at a time.
#[derive(Debug, Clone)]
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
    /// Opened with [`Store::open_read_only`]: batches are refused.
    read_only: bool,
    /// Opened with [`Store::open_rehearsal`]: batches commit into memory.
    rehearsal: bool,
    /// The blob files beside the store file.
    blobs: BlobFiles,
}

impl Store {
    fn wrap(db: Arc<Database>, path: &Path, read_only: bool, rehearsal: bool) -> Store {
        Store {
            db,
            path: path.to_path_buf(),
            read_only,
            rehearsal,
            blobs: BlobFiles::beside(path),
        }
    }

    /// Creates a new store file at `path`, with every table and the schema
    /// version, durably. Fails with [`StoreError::AlreadyExists`] if anything
    /// is already at `path`; the parent directory must exist.
    pub fn create(path: &Path) -> Result<Store, StoreError> {
        // create_new is the existence check: atomic, so two creators cannot
        // both believe they made the store.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|err| match err.kind() {
                io::ErrorKind::AlreadyExists => StoreError::AlreadyExists {
                    path: path.to_path_buf(),
                },
                _ => io_error(path, "create")(err),
            })?;
        match Store::initialise(path, file) {
            Ok(store) => Ok(store),
            Err(err) => {
                // The file is ours and holds no store; leaving it would make
                // every later open fail and every later create refuse.
                if let Err(remove) = std::fs::remove_file(path) {
                    tracing::warn!(path = %path.display(), %remove, "could not remove a half-created store file");
                }
                Err(err)
            }
        }
    }

    fn initialise(path: &Path, file: std::fs::File) -> Result<Store, StoreError> {
        let backend = FileBackend::new(file).map_err(|err| open::map_open_error(path, err))?;
        let db = Builder::new()
            .set_cache_size(open::CACHE_BYTES)
            .create_with_backend(backend)
            .map_err(|err| open::map_open_error(path, err))?;
        let mut txn = db.begin_write().db(path, "begin creating the store")?;
        txn.set_durability(Durability::Immediate)
            .db(path, "begin creating the store")?;
        tables::create_all(&txn).db(path, "create tables")?;
        txn.open_table(META)
            .db(path, "create tables")?
            .insert(
                SCHEMA_VERSION_KEY,
                &tables::encode_schema_version(SCHEMA_VERSION)[..],
            )
            .db(path, "write the schema version")?;
        txn.commit().db(path, "commit the new store")?;
        sync_parent_dir(path)?;
        tracing::info!(path = %path.display(), version = SCHEMA_VERSION, "created store");
        Ok(Store::wrap(Arc::new(db), path, false, false))
    }

    /// Opens an existing store.
    ///
    /// Verifies every page of the file first (redb's integrity check, run on
    /// a copy-on-write view so that nothing is written), then the schema
    /// version and tables. Errors: [`StoreError::NotFound`],
    /// [`StoreError::Corrupt`] (not a redb file, truncated, damaged),
    /// [`StoreError::MissingMeta`] (a redb file but not a Yizhan store),
    /// [`StoreError::SchemaTooNew`] (file left byte-for-byte untouched),
    /// [`StoreError::AlreadyOpen`]. Never panics on file contents.
    ///
    /// Cost: the whole file is read once per open.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = open::open_verified(path)?;
        tracing::info!(path = %path.display(), "opened store");
        let store = Store::wrap(Arc::new(db), path, false, false);
        // A crash mid-write leaves temporary blob files; they are nobody's.
        let dir = store.blobs.dir();
        match store.blobs.clean_after_crash() {
            Ok(0) => {}
            Ok(removed) => {
                tracing::info!(dir = %dir.display(), removed, "removed blob files a crash left half written")
            }
            Err(e) => return Err(io_error(dir, "clean up the blob directory")(e)),
        }
        Ok(store)
    }

    /// Opens an existing store for reading only, after the same verification
    /// as [`Store::open`]. The file is never modified: redb's own bookkeeping
    /// writes stay in memory, and [`Store::batch`] is refused with
    /// [`StoreError::ReadOnly`]. Commands that only look use this.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let (db, _) = open::open_scratch(path)?;
        Ok(Store::wrap(Arc::new(db), path, true, false))
    }

    /// A handle on the same open file that only reads: its batches are
    /// refused. The daemon answers large admin reads through one, off its loop.
    pub fn read_only_view(&self) -> Store {
        Store {
            db: self.db.clone(),
            path: self.path.clone(),
            read_only: true,
            rehearsal: false,
            // The same files, so the same trees in memory: the daemon serves
            // every blob range through a view of its own.
            blobs: self.blobs.clone(),
        }
    }

    /// False for a read-only store and for a rehearsal, whose batches never
    /// reach the file: callers that keep files beside the store (the node's
    /// copy of its admission) write them only when this is true.
    pub fn writes_reach_file(&self) -> bool {
        !self.read_only && !self.rehearsal
    }

    /// The path of the store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the store.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let bytes = self
            .get_meta(SCHEMA_VERSION_KEY)?
            .ok_or_else(|| StoreError::MissingMeta {
                path: self.path.clone(),
            })?;
        tables::decode_schema_version(&bytes).ok_or_else(|| StoreError::Corrupt {
            path: self.path.clone(),
            reason: format!(
                "its schema version is {} bytes long instead of 4",
                bytes.len()
            ),
        })
    }

    /// Starts a write batch: one redb write transaction with immediate
    /// durability. Blocks while another batch of this store is live, so a
    /// thread must not hold a batch while starting another.
    pub fn batch(&self) -> Result<Batch<'_>, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        Batch::begin(self)
    }

    fn read(&self, op: &'static str) -> Result<ReadTransaction, StoreError> {
        self.db.begin_read().db(&self.path, op)
    }

    /// Loads document `id`: its snapshot and every change chunk since, checked
    /// against the heads recorded at its last write. `Ok(None)` if the store
    /// has no such document; [`StoreError::CorruptDocument`] if the stored
    /// data does not decode or does not reproduce those heads.
    ///
    /// The returned document has a fresh random actor; set the node's own.
    pub fn load_document(&self, id: &str) -> Result<Option<AutoCommit>, StoreError> {
        const OP: &str = "read document";
        let txn = self.read(OP)?;
        let Some(record) = read_record(&txn, &self.path, id)? else {
            return Ok(None);
        };
        let snapshot = txn
            .open_table(DOC_SNAPSHOTS)
            .db(&self.path, OP)?
            .get(id)
            .db(&self.path, OP)?
            .map(|value| value.value().to_vec());
        let changes = txn.open_table(DOC_CHANGES).db(&self.path, OP)?;
        let mut chunks = Vec::new();
        for entry in changes
            .range((id, 0u64)..=(id, u64::MAX))
            .db(&self.path, OP)?
        {
            let (_, chunk) = entry.db(&self.path, OP)?;
            chunks.push(chunk.value().to_vec());
        }
        document::assemble(id, &record, snapshot.as_deref(), &chunks).map(Some)
    }

    /// The ids of every stored document, sorted.
    pub fn document_ids(&self) -> Result<Vec<String>, StoreError> {
        const OP: &str = "list documents";
        let txn = self.read(OP)?;
        let table = txn.open_table(DOC_INFO).db(&self.path, OP)?;
        let mut ids = Vec::new();
        for entry in table.iter().db(&self.path, OP)? {
            let (id, _) = entry.db(&self.path, OP)?;
            ids.push(id.value().to_owned());
        }
        // redb orders &str keys by their bytes, which is already Rust's
        // ordering of strings; sorting again costs nothing and states the
        // contract where it is made.
        ids.sort_unstable();
        Ok(ids)
    }

    /// Sizes and heads of document `id`, without loading it; `Ok(None)` if
    /// there is no such document.
    pub fn document_info(&self, id: &str) -> Result<Option<DocumentInfo>, StoreError> {
        let txn = self.read("read document info")?;
        Ok(read_record(&txn, &self.path, id)?.map(|record| record.info))
    }

    /// The value stored under meta `key`, if any.
    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "read meta";
        let txn = self.read(OP)?;
        let table = txn.open_table(META).db(&self.path, OP)?;
        let value = table.get(key).db(&self.path, OP)?;
        Ok(value.map(|value| value.value().to_vec()))
    }

    /// Every meta entry whose key starts with `prefix`, in key order.
    pub fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        const OP: &str = "list meta";
        let txn = self.read(OP)?;
        let table = txn.open_table(META).db(&self.path, OP)?;
        let mut out = Vec::new();
        for entry in table.range(prefix..).db(&self.path, OP)? {
            let (key, value) = entry.db(&self.path, OP)?;
            if !key.value().starts_with(prefix) {
                break;
            }
            out.push((key.value().to_owned(), value.value().to_vec()));
        }
        Ok(out)
    }

    /// The bytes of blob `hash`, verified against the hash;
    /// [`StoreError::CorruptBlob`] if its file no longer matches it.
    pub fn blob(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, StoreError> {
        self.blobs
            .read(hash)
            .map_err(|f| self.blob_fault(hash, f, "read the blob file"))
    }

    /// Blob `hash` for serving ranges: its open file and its tree, whose
    /// root is the hash and whose size is the file's; `None` if not held;
    /// [`StoreError::CorruptBlob`] if the file does not fit the tree. The
    /// bytes are checked group by group as they are sent
    /// (`net::blob::serve_file`). The tree comes from memory when the blob
    /// was written or served lately; otherwise it is made again from the
    /// file, whose every byte is then checked against the hash.
    pub fn blob_for_serving(
        &self,
        hash: &BlobHash,
    ) -> Result<Option<(std::fs::File, BlobTree)>, StoreError> {
        self.blobs
            .open_for_serving(hash)
            .map_err(|f| self.blob_fault(hash, f, "read the blob file"))
    }

    /// Checks blob `hash` whole against its name (one hash pass); for
    /// `yizhan check`.
    pub fn verify_blob(&self, hash: &BlobHash) -> Result<(), StoreError> {
        self.blobs
            .verify(hash)
            .map_err(|f| self.blob_fault(hash, f, "read the blob file"))
    }

    fn blob_fault(&self, hash: &BlobHash, fault: FileFault, op: &'static str) -> StoreError {
        match fault {
            FileFault::Damaged(reason) => StoreError::CorruptBlob {
                hash: *hash,
                reason,
            },
            FileFault::Io(e) => io_error(&self.blobs.dir().join(hash.to_string()), op)(e),
        }
    }

    /// Bytes serving a range of blob `hash` would hash first: its size when
    /// its tree is not in memory and must be made again from the file, else
    /// 0 (also when it is not held). One `stat` at most.
    pub fn blob_rehash_bytes(&self, hash: &BlobHash) -> Result<u64, StoreError> {
        self.blobs.rehash_bytes(hash).map_err(io_error(
            &self.blobs.dir().join(hash.to_string()),
            "stat the blob file",
        ))
    }

    /// Whether blob `hash` is held (one `stat`; neither read nor verified).
    pub fn has_blob(&self, hash: &BlobHash) -> Result<bool, StoreError> {
        self.blobs
            .has(hash)
            .map_err(io_error(self.blobs.dir(), "look in the blob directory"))
    }

    /// The hashes of every held blob, sorted (one directory read).
    pub fn blob_hashes(&self) -> Result<Vec<BlobHash>, StoreError> {
        let survey = self
            .blobs
            .survey(false)
            .map_err(io_error(self.blobs.dir(), "list the blob directory"))?;
        Ok(survey.blobs)
    }

    /// Every blob file, their bytes, and the entries in the blob directory
    /// that are not a blob file; for `check` and the metrics.
    pub fn blob_survey(&self) -> Result<BlobSurvey, StoreError> {
        self.blobs
            .survey(true)
            .map_err(io_error(self.blobs.dir(), "list the blob directory"))
    }

    /// Checks the file of blob `hash`, suspected damaged, whole against
    /// its name, and only if its bytes or size do not match sets it aside
    /// into `damaged-blobs/` beside the store, so that the blob is no
    /// longer held and can be fetched again; returns where it went. `None`
    /// when the file is sound (a read that failed for another reason, or a
    /// good file put in place since: its tree in memory is dropped, in case
    /// that was what did not fit), when there is no file, and on a
    /// read-only store or a rehearsal, which change nothing on disk. One
    /// hash pass: not for the daemon's loop. Not synced: a crash may put
    /// the file back, where it is found damaged again.
    pub fn set_aside_if_damaged(&self, hash: &BlobHash) -> Result<Option<PathBuf>, StoreError> {
        if !self.writes_reach_file() {
            return Ok(None);
        }
        match self.blobs.verify(hash) {
            Ok(()) => {
                self.blobs.forget_tree(hash);
                Ok(None)
            }
            Err(FileFault::Damaged(_)) => self.blobs.set_aside(hash).map_err(io_error(
                self.blobs.dir(),
                "set a damaged blob file aside from",
            )),
            Err(fault) => Err(self.blob_fault(hash, fault, "read the blob file")),
        }
    }

    /// How many blob files there are and their bytes, without listing the
    /// directory each time (`blob_tally.rs`); for the metrics.
    pub fn blob_totals(&self) -> Result<BlobTotals, StoreError> {
        self.blobs
            .totals()
            .map_err(io_error(self.blobs.dir(), "list the blob directory"))
    }

    /// The directory of this store's blob files.
    pub fn blob_dir(&self) -> &Path {
        self.blobs.dir()
    }

    /// The saved Automerge sync state for (`peer`, `doc`), if any.
    pub fn sync_state(&self, peer: &str, doc: &str) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "read sync state";
        let txn = self.read(OP)?;
        let table = txn.open_table(SYNC_STATES).db(&self.path, OP)?;
        let value = table.get((peer, doc)).db(&self.path, OP)?;
        Ok(value.map(|value| value.value().to_vec()))
    }

    /// The author key and signature recorded for change `hash`.
    pub fn signature(&self, hash: &[u8; 32]) -> Result<Option<SignatureRecord>, StoreError> {
        const OP: &str = "read signature";
        let txn = self.read(OP)?;
        let table = txn.open_table(SIGNATURES).db(&self.path, OP)?;
        let Some(v) = table.get(hash).db(&self.path, OP)? else {
            return Ok(None);
        };
        let bytes = v.value();
        match bytes.split_first_chunk::<32>() {
            Some((author, sig)) => Ok(Some(SignatureRecord {
                author: *author,
                signature: sig.to_vec(),
            })),
            None => Err(StoreError::Corrupt {
                path: self.path.clone(),
                reason: format!(
                    "signature record of change {} is {} bytes",
                    hex::encode(hash),
                    bytes.len()
                ),
            }),
        }
    }

    /// The credential recorded for author `key`.
    pub fn author(&self, key: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "read author";
        let txn = self.read(OP)?;
        let table = txn.open_table(AUTHORS).db(&self.path, OP)?;
        Ok(table
            .get(key)
            .db(&self.path, OP)?
            .map(|v| v.value().to_vec()))
    }

    /// Every stored sync state for `peer`: document id and state, sorted by
    /// document id. Handed back to the engine when the peer reconnects.
    pub fn sync_states_for(&self, peer: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        const OP: &str = "list sync states";
        let txn = self.read(OP)?;
        let table = txn.open_table(SYNC_STATES).db(&self.path, OP)?;
        let mut out = Vec::new();
        for entry in table.range((peer, "")..).db(&self.path, OP)? {
            let (key, value) = entry.db(&self.path, OP)?;
            let (p, doc) = key.value();
            if p != peer {
                break;
            }
            out.push((doc.to_owned(), value.value().to_vec()));
        }
        Ok(out)
    }

    /// The stored record of one peer.
    pub fn peer(&self, peer: &str) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "read a peer";
        let txn = self.read(OP)?;
        let table = txn.open_table(PEERS).db(&self.path, OP)?;
        Ok(table
            .get(peer)
            .db(&self.path, OP)?
            .map(|v| v.value().to_vec()))
    }

    /// Every stored peer record, sorted by peer id.
    pub fn peers(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        const OP: &str = "list peers";
        let txn = self.read(OP)?;
        let table = txn.open_table(PEERS).db(&self.path, OP)?;
        let mut peers = Vec::new();
        for entry in table.iter().db(&self.path, OP)? {
            let (peer, record) = entry.db(&self.path, OP)?;
            peers.push((peer.value().to_owned(), record.value().to_vec()));
        }
        Ok(peers)
    }
}

/// Reads and decodes the `doc_info` record of `id`.
fn read_record(
    txn: &ReadTransaction,
    path: &Path,
    id: &str,
) -> Result<Option<DocRecord>, StoreError> {
    const OP: &str = "read document info";
    let table = txn.open_table(DOC_INFO).db(path, OP)?;
    let value = table.get(id).db(path, OP)?;
    value
        .map(|value| DocRecord::decode(id, value.value()))
        .transpose()
}

/// Makes the new file's directory entry durable: fsync of the file does not
/// cover the entry naming it, so a power cut could otherwise lose the store.
fn sync_parent_dir(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        std::fs::File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error(path, "sync the directory of"))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod blob_tests;
#[cfg(test)]
mod tests;
