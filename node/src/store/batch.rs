//! [`Batch`]: a group of writes that commit together, durably, or not at all.

use std::path::Path;

use automerge::ChangeHash;
use redb::{Durability, ReadableTable, WriteTransaction};

use super::Store;
use super::blob::{BLOB_BYTES_MAX, BlobHash};
use super::blob_files::{BlobTree, SYNC_THREADS_MAX, Staged, make_tree, tree_root};
use super::document::{DocRecord, normalise_heads};
use super::error::{DbResultExt, StoreError, io_error};
use super::tables::{
    AUTHORS, DOC_CHANGES, DOC_INFO, DOC_SNAPSHOTS, META, PEERS, SCHEMA_VERSION_KEY, SIGNATURES,
    SYNC_STATES,
};

/// A write batch: one redb write transaction with immediate durability.
///
/// Writes are visible to the batch's own later writes at once, to readers
/// only after [`Batch::commit`]. Dropping a batch without committing discards
/// every write in it. A failed write leaves the batch to be dropped; do not
/// commit it.
///
/// Why batches: a durable commit costs an fsync (1–3 ms on the target disks),
/// so a bulk import or a sync session that applies many changes should group
/// them, while a single local edit commits alone so it can be acknowledged.
pub struct Batch<'a> {
    txn: WriteTransaction,
    store: &'a Store,
    /// Blobs written to temporary names: [`Batch::commit`] syncs them and
    /// puts them in place before the transaction commits, so no document
    /// can be durable before the photos it refers to; dropped, they go.
    staged: Vec<Staged>,
    /// A table was written: a batch of blob files alone commits no redb
    /// transaction (and pays no fsync for it).
    tables_written: bool,
}

impl<'a> Batch<'a> {
    pub(super) fn begin(store: &'a Store) -> Result<Batch<'a>, StoreError> {
        const OP: &str = "begin a write batch";
        let mut txn = store.db.begin_write().db(store.path(), OP)?;
        // Immediate is redb's default; stated so that no later default can
        // weaken when an acknowledgement is safe.
        txn.set_durability(Durability::Immediate)
            .db(store.path(), OP)?;
        Ok(Batch {
            txn,
            store,
            staged: Vec::new(),
            tables_written: false,
        })
    }

    fn path(&self) -> &Path {
        self.store.path()
    }

    /// Reads the record of `id` inside this batch, or an empty one.
    fn record(&self, id: &str, op: &'static str) -> Result<DocRecord, StoreError> {
        let table = self.txn.open_table(DOC_INFO).db(self.path(), op)?;
        let value = table.get(id).db(self.path(), op)?;
        match value {
            Some(value) => DocRecord::decode(id, value.value()),
            None => Ok(DocRecord::empty()),
        }
    }

    fn put_record(
        &mut self,
        id: &str,
        record: &DocRecord,
        op: &'static str,
    ) -> Result<(), StoreError> {
        self.tables_written = true;
        let mut table = self.txn.open_table(DOC_INFO).db(self.path(), op)?;
        table
            .insert(id, record.encode().as_slice())
            .db(self.path(), op)?;
        Ok(())
    }

    /// Appends a change chunk to document `id` (creating the document if it
    /// is new) and records `heads` as its heads.
    ///
    /// `chunk` is the output of `AutoCommit::save_after(&previous_heads)` (or
    /// `save_incremental`), and `heads` the document's heads after it. An
    /// empty chunk stores nothing but still records the heads.
    pub fn append_changes(
        &mut self,
        id: &str,
        chunk: &[u8],
        heads: &[ChangeHash],
    ) -> Result<(), StoreError> {
        const OP: &str = "append changes";
        let mut record = self.record(id, OP)?;
        if !chunk.is_empty() {
            let seq = record.next_chunk_seq;
            let mut changes = self.txn.open_table(DOC_CHANGES).db(self.path(), OP)?;
            changes.insert((id, seq), chunk).db(self.path(), OP)?;
            drop(changes);
            record.next_chunk_seq = seq.saturating_add(1);
            record.info.change_chunks = record.info.change_chunks.saturating_add(1);
            record.info.changes_bytes =
                record.info.changes_bytes.saturating_add(chunk.len() as u64);
        }
        record.info.heads = normalise_heads(heads);
        self.put_record(id, &record, OP)
    }

    /// Compacts document `id`: stores `snapshot` (the output of
    /// `AutoCommit::save()`) with its `heads`, and deletes every change chunk
    /// of the document, in this same transaction, so a crash leaves either
    /// the old chunks or the new snapshot, never neither.
    pub fn put_snapshot(
        &mut self,
        id: &str,
        snapshot: &[u8],
        heads: &[ChangeHash],
    ) -> Result<(), StoreError> {
        const OP: &str = "compact document";
        let mut record = self.record(id, OP)?;
        {
            let mut snapshots = self.txn.open_table(DOC_SNAPSHOTS).db(self.path(), OP)?;
            snapshots.insert(id, snapshot).db(self.path(), OP)?;
            let mut changes = self.txn.open_table(DOC_CHANGES).db(self.path(), OP)?;
            changes
                .retain_in((id, 0u64)..=(id, u64::MAX), |_, _| false)
                .db(self.path(), OP)?;
        }
        // next_chunk_seq keeps rising: sequence numbers are never reused, so
        // a chunk key names one write for the life of the store.
        record.info.snapshot_bytes = snapshot.len() as u64;
        record.info.changes_bytes = 0;
        record.info.change_chunks = 0;
        record.info.heads = normalise_heads(heads);
        self.put_record(id, &record, OP)
    }

    /// Stores `bytes` as a blob and returns its hash, which names it: its
    /// file is written to a temporary name now and its sync started, while
    /// one BLAKE3 pass makes the tree (kept in memory) and the name; and
    /// [`Batch::commit`] waits for the sync and puts the file in place
    /// before anything else in the batch commits.
    /// Idempotent: a blob already held is reused. Refuses more than
    /// [`BLOB_BYTES_MAX`] bytes with [`StoreError::BlobTooLarge`].
    /// Dropping the batch removes the temporary files.
    pub fn put_blob(&mut self, bytes: &[u8]) -> Result<BlobHash, StoreError> {
        refuse_oversized(bytes)?;
        // A rehearsal's writes never reach the disk, its blobs neither.
        if !self.store.writes_reach_file() {
            return Ok(BlobHash::from_bytes(*make_tree(bytes).root.as_bytes()));
        }
        // At most as many syncs under way as a commit would run at once.
        let sync_now = self.staged.iter().filter(|s| s.syncing()).count() < SYNC_THREADS_MAX;
        let (hash, staged) = self
            .store
            .blobs
            .stage_hashing(bytes, sync_now)
            .map_err(io_error(self.store.blobs.dir(), "write a blob file into"))?;
        self.staged.extend(staged);
        Ok(hash)
    }

    /// Stores a blob whose bytes were already checked against `tree` as
    /// they arrived (a fetch from a peer, `net::blob::Assembly`), without
    /// hashing them again: the tree must be the shape of a blob of that
    /// size and its hash pairs must prove `hash` as their root (a blob of
    /// one 16 KiB group or less, which has no pairs, is hashed instead).
    /// Otherwise [`StoreError::CorruptBlob`] and nothing is written.
    pub fn put_verified_blob(
        &mut self,
        hash: &BlobHash,
        bytes: &[u8],
        tree: &BlobTree,
    ) -> Result<(), StoreError> {
        self.check_verified(hash, bytes, tree)?;
        self.write_blob(hash, bytes, &tree.data)
    }

    /// The checks of [`Batch::put_verified_blob`]: the size cap, and a tree
    /// of the bytes' size whose top pair proves `hash`.
    fn check_verified(
        &self,
        hash: &BlobHash,
        bytes: &[u8],
        tree: &BlobTree,
    ) -> Result<(), StoreError> {
        refuse_oversized(bytes)?;
        let size = bytes.len() as u64;
        let proven = if tree.tree.size() != size {
            None
        } else if tree.data.is_empty() {
            Some(BlobHash::of(bytes))
        } else {
            tree_root(size, &tree.data)
        };
        if proven != Some(*hash) || tree.root.as_bytes() != hash.as_bytes() {
            return Err(StoreError::CorruptBlob {
                hash: *hash,
                reason: "the tree handed in with its bytes does not prove its hash".into(),
            });
        }
        Ok(())
    }

    /// [`Batch::put_verified_blob`] for a blob whose verified bytes are
    /// already in the file `from` (a finished partial fetch, on the same
    /// file system as the store): at commit that file is synced and renamed
    /// into `blobs/` instead of the bytes being written again. `bytes` are the
    /// same bytes in memory, for the checks of `put_verified_blob` and for
    /// the size the file must have. A file that cannot be taken (gone,
    /// another size) is an error and is left where it was; the caller may
    /// then store `bytes` with `put_verified_blob`.
    pub fn adopt_verified_blob(
        &mut self,
        hash: &BlobHash,
        bytes: &[u8],
        tree: &BlobTree,
        from: &std::path::Path,
    ) -> Result<(), StoreError> {
        self.check_verified(hash, bytes, tree)?;
        if !self.store.writes_reach_file() {
            return Ok(());
        }
        let staged = self
            .store
            .blobs
            .stage_adopted(hash, from, bytes.len() as u64, &tree.data)
            .map_err(io_error(from, "take a fetched blob file from"))?;
        self.staged.extend(staged);
        Ok(())
    }

    fn write_blob(&mut self, hash: &BlobHash, bytes: &[u8], tree: &[u8]) -> Result<(), StoreError> {
        // A rehearsal's writes never reach the disk, its blobs neither.
        if !self.store.writes_reach_file() {
            return Ok(());
        }
        let staged = self
            .store
            .blobs
            .stage(hash, bytes, tree)
            .map_err(io_error(self.store.blobs.dir(), "write a blob file into"))?;
        self.staged.extend(staged);
        Ok(())
    }

    /// Stores the encoded Automerge sync state for (`peer`, `doc`).
    pub fn put_sync_state(
        &mut self,
        peer: &str,
        doc: &str,
        state: &[u8],
    ) -> Result<(), StoreError> {
        const OP: &str = "write sync state";
        self.tables_written = true;
        let mut table = self.txn.open_table(SYNC_STATES).db(self.path(), OP)?;
        table.insert((peer, doc), state).db(self.path(), OP)?;
        Ok(())
    }

    /// Stores the record of `peer`, replacing any earlier one.
    pub fn put_peer(&mut self, peer: &str, record: &[u8]) -> Result<(), StoreError> {
        const OP: &str = "write peer";
        self.tables_written = true;
        let mut table = self.txn.open_table(PEERS).db(self.path(), OP)?;
        table.insert(peer, record).db(self.path(), OP)?;
        Ok(())
    }

    /// Stores `value` under meta `key`. The store's own keys (the schema
    /// version, the restore epoch) are refused with [`StoreError::ReservedMetaKey`].
    pub fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        const OP: &str = "write meta";
        if key == SCHEMA_VERSION_KEY || key == super::ACTOR_EPOCH_KEY {
            return Err(StoreError::ReservedMetaKey {
                key: key.to_owned(),
            });
        }
        self.tables_written = true;
        let mut table = self.txn.open_table(META).db(self.path(), OP)?;
        table.insert(key, value).db(self.path(), OP)?;
        Ok(())
    }

    /// Starts the store under a new actor: sets the reserved meta key
    /// [`ACTOR_EPOCH_KEY`](super::ACTOR_EPOCH_KEY) to `epoch`. Only for a
    /// store being made afresh for a node that wrote before (a rebuild):
    /// callers never change the epoch of a store in use.
    pub(crate) fn put_actor_epoch(&mut self, epoch: [u8; 8]) -> Result<(), StoreError> {
        self.tables_written = true;
        super::backup::insert_actor_epoch(&self.txn, epoch).db(self.path(), "write the actor epoch")
    }

    /// Removes meta `key`, if present. The store's own keys are refused.
    pub fn delete_meta(&mut self, key: &str) -> Result<(), StoreError> {
        const OP: &str = "delete meta";
        if key == SCHEMA_VERSION_KEY || key == super::ACTOR_EPOCH_KEY {
            return Err(StoreError::ReservedMetaKey {
                key: key.to_owned(),
            });
        }
        self.tables_written = true;
        let mut table = self.txn.open_table(META).db(self.path(), OP)?;
        table.remove(key).db(self.path(), OP)?;
        Ok(())
    }

    /// Records the signature of change `hash` by `author`.
    pub fn put_signature(
        &mut self,
        hash: &[u8; 32],
        author: &[u8; 32],
        signature: &[u8],
    ) -> Result<(), StoreError> {
        const OP: &str = "write signature";
        let mut record = Vec::with_capacity(32 + signature.len());
        record.extend_from_slice(author);
        record.extend_from_slice(signature);
        self.tables_written = true;
        let mut table = self.txn.open_table(SIGNATURES).db(self.path(), OP)?;
        table.insert(hash, record.as_slice()).db(self.path(), OP)?;
        Ok(())
    }

    /// Records an author's credential.
    pub fn put_author(&mut self, key: &[u8; 32], credential: &[u8]) -> Result<(), StoreError> {
        const OP: &str = "write author";
        self.tables_written = true;
        let mut table = self.txn.open_table(AUTHORS).db(self.path(), OP)?;
        table.insert(key, credential).db(self.path(), OP)?;
        Ok(())
    }

    /// Commits the batch durably: when this returns `Ok`, every write in it
    /// has been fsynced and survives a crash or power cut. Only then may the
    /// writes be acknowledged.
    pub fn commit(mut self) -> Result<(), StoreError> {
        let path = self.store.path();
        if !self.staged.is_empty() {
            // Every blob of the batch synced together and one directory
            // sync (a group commit), before the documents that refer to
            // them. What a failure leaves staged is removed with `self`.
            let dir = self.store.blobs.dir();
            self.store
                .blobs
                .publish(&mut self.staged)
                .map_err(io_error(dir, "put blob files in place in"))?;
        }
        if !self.tables_written {
            // Nothing to commit; dropping the transaction ends it.
            return Ok(());
        }
        self.txn.commit().db(path, "commit")
    }
}

/// Refuses a blob larger than [`BLOB_BYTES_MAX`].
fn refuse_oversized(bytes: &[u8]) -> Result<(), StoreError> {
    if bytes.len() > BLOB_BYTES_MAX {
        return Err(StoreError::BlobTooLarge {
            bytes: bytes.len(),
            max: BLOB_BYTES_MAX,
        });
    }
    Ok(())
}

/// Test-only access to the raw tables, to damage what the API never would.
#[cfg(test)]
impl Batch<'_> {
    pub(super) fn raw_put_chunk(&mut self, id: &str, seq: u64, bytes: &[u8]) {
        self.tables_written = true;
        let mut table = self.txn.open_table(DOC_CHANGES).unwrap();
        table.insert((id, seq), bytes).unwrap();
    }

    pub(super) fn raw_put_doc_info(&mut self, id: &str, bytes: &[u8]) {
        self.tables_written = true;
        let mut table = self.txn.open_table(DOC_INFO).unwrap();
        table.insert(id, bytes).unwrap();
    }
}
