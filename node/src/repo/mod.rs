//! The write path: documents held in a bounded cache over the store, and the
//! rule that a local change is acknowledged only after its redb transaction
//! is durable.
//!
//! All local writes go through [`Repo::write`]: the closure mutates any
//! number of documents and stages blobs; on `Ok` every touched document is
//! committed as one Automerge change, and the new changes of all of them go
//! to the store together and are durable before `write` returns. On `Err`,
//! or if the store commit fails, every touched document is rolled back or
//! dropped from memory, so memory never runs ahead of disk.
//!
//! What sync produces (a peer's changes, the signatures and credentials
//! that came with them, sync states) is staged instead: the node's loop
//! calls [`Repo::end_step`] after each step, which hands the step's writes
//! to the group writer as one group. With a writer thread
//! ([`Repo::start_group_writer`]) the loop goes on at once; until the group
//! is durable its documents stay pinned in memory and its signatures,
//! credentials and sync states are read from memory, so nothing reads the
//! store as if they were not there. Without one, `end_step` commits the
//! group itself.

mod cache;
mod group_writer;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use automerge::{ActorId, AutoCommit, ChangeHash, transaction::CommitOptions};
use chrono::{DateTime, Utc};
use crdt_model::DocumentId;

use crate::error::NodeError;
use crate::store::{BlobHash, SignatureRecord, Store};

pub use cache::{DOC_CACHE_STORED_BYTES_MAX, DOC_IDLE_MS, DOCS_CACHED_MAX};
pub use group_writer::{WRITE_GROUPS_QUEUED_MAX, WRITE_ROUND_OPS_MAX};

use cache::{Cached, DocCache, empty_info};
use group_writer::{Group, GroupWriter, Msg, Op, commit_ops};

/// Documents that lost changes to failed commits remembered one by one;
/// past this many, sync states are no longer stored at all until restart.
pub const LOST_DOCS_MAX: usize = 4_096;

/// Documents over a store, written with one actor.
pub struct Repo {
    store: Store,
    actor: ActorId,
    cache: DocCache,
    /// Documents written (or staged) since [`Repo::take_written`] last ran.
    written: Vec<DocumentId>,
    /// Of those, the ones [`Repo::write`] changed: this node's own writes,
    /// which the engine must hear of whatever else the step did.
    written_here: BTreeSet<DocumentId>,
    /// The key this node signs its changes with.
    signer: Option<libp2p::identity::Keypair>,
    /// The admin request being carried out, marked in every batch it
    /// commits so that a retry after a lost answer never writes twice.
    request: Option<String>,
    /// Writes staged since the last [`Repo::end_step`]: the next group.
    staged: Vec<Op>,
    /// The sequence number the staged group will carry.
    next_seq: u64,
    /// The newest group known durable.
    durable_through: u64,
    /// `None`: groups are committed on the caller's thread.
    writer: Option<GroupWriter>,
    /// Writer failures already handled.
    failures_seen: u64,
    /// Groups up to this one that are not durable are lost (refused after
    /// a failure).
    lost_through: u64,
    /// Documents that lost changes to a failed commit, at most
    /// [`LOST_DOCS_MAX`]; past it, every document counts as such.
    lost: HashSet<String>,
    lost_all: bool,
    /// Staged or queued, not durable yet, with the group carrying each.
    pending_signatures: HashMap<[u8; 32], (SignatureRecord, u64)>,
    pending_authors: HashMap<[u8; 32], (Vec<u8>, u64)>,
    pending_sync_states: HashMap<(String, String), (Vec<u8>, u64)>,
}

/// What a write closure may touch.
pub struct Writer<'r> {
    repo: &'r mut Repo,
    /// Heads of each touched document before the write.
    touched: BTreeMap<DocumentId, Vec<ChangeHash>>,
    blobs: Vec<Vec<u8>>,
}

impl Writer<'_> {
    /// The document `id`, created empty if the store does not hold it yet.
    pub fn doc(&mut self, id: &DocumentId) -> Result<&mut AutoCommit, NodeError> {
        if !self.touched.contains_key(id) {
            let heads = self.repo.doc_mut(id)?.get_heads();
            self.touched.insert(id.clone(), heads);
            // Pinned until the write ends: its changes are in memory only.
            if let Some(c) = self.repo.cache.peek_mut(id) {
                c.writing = true;
            }
        }
        self.repo.doc_mut(id)
    }

    /// A document for reading inside the write (same as [`Writer::doc`], but
    /// does not mark it touched when it is only read).
    pub fn read(&mut self, id: &DocumentId) -> Result<Option<&mut AutoCommit>, NodeError> {
        self.repo.existing(id)
    }

    /// Stages a blob to be stored in the same durable commit; returns its hash.
    pub fn put_blob(&mut self, bytes: Vec<u8>) -> BlobHash {
        let h = BlobHash::of(&bytes);
        self.blobs.push(bytes);
        h
    }
}

impl Repo {
    /// Wraps an open store; documents will be written with `actor`. Staged
    /// writes are committed on the caller's thread until
    /// [`Repo::start_group_writer`].
    pub fn new(store: Store, actor: ActorId) -> Repo {
        Repo {
            store,
            actor,
            cache: DocCache::new(DOCS_CACHED_MAX, DOC_CACHE_STORED_BYTES_MAX),
            written: Vec::new(),
            written_here: BTreeSet::new(),
            signer: None,
            request: None,
            staged: Vec::new(),
            next_seq: 1,
            durable_through: 0,
            writer: None,
            failures_seen: 0,
            lost_through: 0,
            lost: HashSet::new(),
            lost_all: false,
            pending_signatures: HashMap::new(),
            pending_authors: HashMap::new(),
            pending_sync_states: HashMap::new(),
        }
    }

    /// Commits staged writes on a thread of their own from now on, so
    /// [`Repo::end_step`] does not wait for the disk.
    pub fn start_group_writer(&mut self) -> Result<(), NodeError> {
        if self.writer.is_none() {
            self.flush()?;
            let writer = GroupWriter::spawn(self.store.clone())
                .map_err(|e| NodeError::Internal(format!("cannot start the store writer: {e}")))?;
            self.writer = Some(writer);
        }
        Ok(())
    }

    /// Signs every change this repository writes with `keypair`, whose public
    /// key must be the actor id's key (`crdt_model::actor::writer_key`).
    pub fn sign_with(&mut self, keypair: libp2p::identity::Keypair) {
        self.signer = Some(keypair);
    }

    /// Marks every batch committed until [`Repo::end_request`] as done on
    /// behalf of admin request `id` (meta `request/<id>`).
    pub fn begin_request(&mut self, id: &str) {
        self.request = Some(id.to_owned());
    }

    /// Ends what [`Repo::begin_request`] began.
    pub fn end_request(&mut self) {
        self.request = None;
    }

    /// The actor this repository writes with.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// The store underneath. Its reads do not see writes still staged or
    /// queued: read signatures, credentials and sync states through the
    /// repo.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Loads a document from the store into memory if it exists there.
    ///
    /// Loading may drop other documents from memory (least recently used
    /// first, never one with work not yet durable), so hold the returned
    /// document only while using it.
    pub fn existing(&mut self, id: &DocumentId) -> Result<Option<&mut AutoCommit>, NodeError> {
        if !self.cache.contains(id) {
            let key = id.to_string();
            let Some(doc) = self.store.load_document(&key)? else {
                return Ok(None);
            };
            // Nothing of a document out of memory is waiting to be written,
            // so its record is what the store will hold.
            let info = self.store.document_info(&key)?.unwrap_or_else(empty_info);
            let doc = doc.with_actor(self.actor.clone());
            self.cache.insert(id.clone(), Cached::new(doc, info));
            self.cache.trim(Some(id));
        }
        Ok(self.cache.get_mut(id).map(|c| &mut c.doc))
    }

    /// The heads of `id`, sorted, or `None` if it is not held. A document not
    /// in memory is not loaded: the store records its heads with every write,
    /// so comparing a whole store with a peer costs one record per document.
    pub fn heads(&mut self, id: &DocumentId) -> Result<Option<Vec<ChangeHash>>, NodeError> {
        if let Some(c) = self.cache.peek_mut(id) {
            let mut heads = c.doc.get_heads();
            heads.sort_unstable();
            return Ok(Some(heads));
        }
        Ok(self
            .store
            .document_info(&id.to_string())?
            .map(|info| info.heads))
    }

    /// How many documents are held in memory.
    pub fn loaded(&self) -> usize {
        self.cache.len()
    }

    /// How many documents have been dropped from memory to keep within
    /// [`DOCS_CACHED_MAX`] and [`DOC_CACHE_STORED_BYTES_MAX`], or idle.
    pub fn evicted(&self) -> u64 {
        self.cache.evicted()
    }

    /// Creates an empty document in memory (first learned from a peer); it
    /// reaches the store with the first changes persisted into it.
    pub fn create(&mut self, id: &DocumentId) -> &mut AutoCommit {
        let actor = self.actor.clone();
        let c = self.cache.get_or_insert_with(id, || {
            Cached::new(AutoCommit::new().with_actor(actor), empty_info())
        });
        &mut c.doc
    }

    /// Stages the changes that arrived from a peer into `id` since
    /// `heads_before`: they go to the store with the step's group (see
    /// [`Repo::end_step`]), and the document stays in memory until they are
    /// durable. If the group fails to commit, the document is dropped from
    /// memory, so the next read reloads what the disk holds and the next
    /// sync fetches the rest.
    pub fn persist_received(
        &mut self,
        now: DateTime<Utc>,
        id: &DocumentId,
        heads_before: &[ChangeHash],
    ) -> Result<(), NodeError> {
        let mut ops = Vec::new();
        let result = self.changes_to_ops(now, id, heads_before, &mut ops);
        self.stage(ops);
        if let Err(e) = result {
            self.drop_after_flush(std::slice::from_ref(id));
            return Err(e);
        }
        Ok(())
    }

    /// Stages the signature of a peer's change, checked and accepted, to be
    /// stored with the step's group; [`Repo::signature`] finds it meanwhile.
    pub fn stage_signature(&mut self, hash: &[u8; 32], author: &[u8; 32], signature: &[u8]) {
        self.stage(vec![Op::Signature {
            hash: *hash,
            author: *author,
            signature: signature.to_vec(),
        }]);
    }

    /// Stages an author's credential, like [`Repo::stage_signature`].
    pub fn stage_author(&mut self, key: &[u8; 32], credential: &[u8]) {
        self.stage(vec![Op::Author {
            key: *key,
            credential: credential.to_vec(),
        }]);
    }

    /// Stages the sync state of (`peer`, `doc`). It never becomes durable
    /// before the changes staged before it. A document that lost changes to
    /// a failed commit gets no sync state stored for the rest of the
    /// process: the engine's session may still count the lost changes as
    /// shared, and a stored state saying so would keep the peer from ever
    /// sending them again.
    pub fn stage_sync_state(&mut self, peer: &str, doc: &str, state: &[u8]) {
        if self.lost_all || self.lost.contains(doc) {
            tracing::debug!(
                peer,
                doc,
                "not storing the sync state of a document that lost changes"
            );
            return;
        }
        self.stage(vec![Op::SyncState {
            peer: peer.to_owned(),
            doc: doc.to_owned(),
            state: state.to_vec(),
        }]);
    }

    /// Adds `ops` to the next group; until it is durable, the signatures,
    /// credentials and sync states among them are read from memory.
    fn stage(&mut self, ops: Vec<Op>) {
        let seq = self.next_seq;
        for op in &ops {
            match op {
                Op::Signature {
                    hash,
                    author,
                    signature,
                } => {
                    let record = SignatureRecord {
                        author: *author,
                        signature: signature.clone(),
                    };
                    self.pending_signatures.insert(*hash, (record, seq));
                }
                Op::Author { key, credential } => {
                    self.pending_authors.insert(*key, (credential.clone(), seq));
                }
                Op::SyncState { peer, doc, state } => {
                    self.pending_sync_states
                        .insert((peer.clone(), doc.clone()), (state.clone(), seq));
                }
                Op::Chunk { .. } | Op::Snapshot { .. } | Op::Blob(_) | Op::Meta { .. } => {}
            }
        }
        self.staged.extend(ops);
    }

    /// The signature recorded for change `hash`, staged or stored.
    pub fn signature(&self, hash: &[u8; 32]) -> Result<Option<SignatureRecord>, NodeError> {
        if let Some((record, _)) = self.pending_signatures.get(hash) {
            return Ok(Some(record.clone()));
        }
        Ok(self.store.signature(hash)?)
    }

    /// The credential recorded for author `key`, staged or stored.
    pub fn author(&self, key: &[u8; 32]) -> Result<Option<Vec<u8>>, NodeError> {
        if let Some((credential, _)) = self.pending_authors.get(key) {
            return Ok(Some(credential.clone()));
        }
        Ok(self.store.author(key)?)
    }

    /// Every sync state for `peer`, staged or stored, sorted by document id.
    pub fn sync_states_for(&self, peer: &str) -> Result<Vec<(String, Vec<u8>)>, NodeError> {
        let mut states: BTreeMap<String, Vec<u8>> =
            self.store.sync_states_for(peer)?.into_iter().collect();
        for ((p, doc), (state, _)) in &self.pending_sync_states {
            if p == peer {
                states.insert(doc.clone(), state.clone());
            }
        }
        Ok(states.into_iter().collect())
    }

    /// Documents written (locally or from peers) since the last call, for
    /// announcing and for fetching the blobs they reference.
    pub fn take_written(&mut self) -> Vec<DocumentId> {
        std::mem::take(&mut self.written)
    }

    /// Documents this node changed through [`Repo::write`] since the last
    /// call: each must be announced to the engine as a local change, even
    /// when the step that noticed it was handling a peer's message.
    pub fn take_written_here(&mut self) -> BTreeSet<DocumentId> {
        std::mem::take(&mut self.written_here)
    }

    fn doc_mut(&mut self, id: &DocumentId) -> Result<&mut AutoCommit, NodeError> {
        if self.existing(id)?.is_none() {
            let doc = AutoCommit::new().with_actor(self.actor.clone());
            self.cache
                .insert(id.clone(), Cached::new(doc, empty_info()));
            self.cache.trim(Some(id));
        }
        self.cache
            .get_mut(id)
            .map(|c| &mut c.doc)
            .ok_or_else(|| NodeError::Internal("document vanished from memory".into()))
    }

    /// Ids of every document held: in the store, or staged and on its way
    /// there.
    pub fn document_ids(&self) -> Result<Vec<DocumentId>, NodeError> {
        let mut ids: BTreeSet<DocumentId> = self
            .store
            .document_ids()?
            .into_iter()
            .filter_map(|s| DocumentId::parse(&s).ok())
            .collect();
        ids.extend(self.cache.pending_ids().cloned());
        Ok(ids.into_iter().collect())
    }

    /// Runs `f` over the documents and commits what it changed, durably, as
    /// one batch (together with anything staged before it, which is older).
    /// Nothing is written if `f` fails.
    pub fn write<T>(
        &mut self,
        now: DateTime<Utc>,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T, NodeError>,
    ) -> Result<T, NodeError> {
        let mut w = Writer {
            repo: self,
            touched: BTreeMap::new(),
            blobs: Vec::new(),
        };
        let result = f(&mut w);
        let Writer { touched, blobs, .. } = w;
        let result = result.and_then(|value| {
            self.commit_write(now, &touched, blobs)?;
            for id in touched.keys().filter(|id| self.written.contains(id)) {
                self.written_here.insert(id.clone());
            }
            Ok(value)
        });
        for id in touched.keys() {
            if let Some(c) = self.cache.peek_mut(id) {
                c.writing = false;
            }
        }
        result
    }

    fn commit_write(
        &mut self,
        now: DateTime<Utc>,
        touched: &BTreeMap<DocumentId, Vec<ChangeHash>>,
        blobs: Vec<Vec<u8>>,
    ) -> Result<(), NodeError> {
        let mut ops: Vec<Op> = blobs.into_iter().map(Op::Blob).collect();
        for (id, before) in touched {
            if let Err(e) = self.changes_to_ops(now, id, before, &mut ops) {
                // Committed in memory, never to reach the disk: forget them.
                let ids: Vec<DocumentId> = touched.keys().cloned().collect();
                self.drop_after_flush(&ids);
                return Err(e);
            }
        }
        if let Some(request) = &self.request {
            ops.push(Op::Meta {
                key: crate::requests::meta_key(request),
                value: crate::requests::COMMITTED.to_vec(),
            });
        }
        self.stage(ops);
        let seq = self.next_seq;
        self.submit();
        let result = self.wait_durable(seq);
        if result.is_err() {
            self.written.retain(|id| !touched.contains_key(id));
        }
        result
    }

    /// Commits what `id` gained since `before` in memory and adds the
    /// writes that store it to `ops`: signatures of this node's own changes,
    /// then the change chunk, or a snapshot when the chunks have outgrown
    /// the last one. The document stays pinned until they are durable.
    fn changes_to_ops(
        &mut self,
        now: DateTime<Utc>,
        id: &DocumentId,
        before: &[ChangeHash],
        ops: &mut Vec<Op>,
    ) -> Result<(), NodeError> {
        let seq = self.next_seq;
        let c = self
            .cache
            .peek_mut(id)
            .ok_or_else(|| NodeError::Internal("touched document vanished".into()))?;
        c.doc
            .commit_with(CommitOptions::default().with_time(now.timestamp()));
        let heads = c.doc.get_heads();
        if heads == before {
            return Ok(());
        }
        // Sign what this node authored; changes from peers carry their
        // authors' signatures, stored when they were checked.
        if let Some(signer) = &self.signer {
            for change in c.doc.get_changes(before) {
                if change.actor_id() != &self.actor {
                    continue;
                }
                let hash = change.hash();
                let sig = crate::trust::signing::sign(signer, id, &hash)
                    .ok_or_else(|| NodeError::Internal("cannot sign a change".into()))?;
                let author = crdt_model::actor::writer_key(&self.actor).unwrap_or([0; 32]);
                ops.push(Op::Signature {
                    hash: hash.0,
                    author,
                    signature: sig,
                });
            }
        }
        let key = id.to_string();
        let chunk = c.doc.save_after(before);
        let mut sorted = heads.clone();
        sorted.sort_unstable();
        c.info.changes_bytes += chunk.len() as u64;
        c.info.change_chunks += 1;
        c.info.heads = sorted;
        if c.info.wants_compaction() {
            let bytes = c.doc.save();
            c.info.snapshot_bytes = bytes.len() as u64;
            c.info.changes_bytes = 0;
            c.info.change_chunks = 0;
            ops.push(Op::Snapshot {
                doc: key,
                bytes,
                heads,
            });
        } else {
            ops.push(Op::Chunk {
                doc: key,
                chunk,
                heads,
            });
        }
        c.pending = Some(seq);
        if !self.written.contains(id) {
            self.written.push(id.clone());
        }
        Ok(())
    }

    /// Ends a step of the node's loop: releases what the writer has made
    /// durable (or drops what it failed to), hands the step's staged writes
    /// to it as one group, and trims the document cache.
    pub fn end_step(&mut self) {
        self.settle();
        self.submit();
        self.cache.trim(None);
        self.cache.evict_idle(Duration::from_millis(DOC_IDLE_MS));
    }

    /// Hands every staged write to the store and waits until all of it is
    /// durable; for shutting down.
    pub fn flush(&mut self) -> Result<(), NodeError> {
        self.submit();
        self.wait_durable(self.next_seq - 1)
    }

    /// Hands the staged writes over as one group: to the writer thread, or
    /// committed here without one.
    fn submit(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let ops = std::mem::take(&mut self.staged);
        match &self.writer {
            Some(writer) => {
                if !writer.send(Msg::Group(Group { seq, ops })) {
                    self.fail_pending("the store writer has stopped");
                }
            }
            None => match commit_ops(&self.store, &ops) {
                Ok(()) => self.release(seq),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot commit staged writes; dropped from memory");
                    self.fail_pending(&e.to_string());
                }
            },
        }
    }

    /// Waits until group `seq` is durable.
    fn wait_durable(&mut self, seq: u64) -> Result<(), NodeError> {
        if seq <= self.durable_through {
            return Ok(());
        }
        let Some(writer) = self.writer.as_ref().filter(|_| seq > self.lost_through) else {
            // Committed in `submit`, or failed (there or on the writer
            // thread) and dropped.
            return Err(NodeError::Internal(
                "the write was not committed; see the log".into(),
            ));
        };
        let progress = writer.wait(seq, self.failures_seen);
        let durable = progress.durable_through >= seq;
        self.settle();
        if durable {
            Ok(())
        } else {
            Err(NodeError::Internal(format!(
                "cannot commit: {}",
                progress.failure.unwrap_or_default()
            )))
        }
    }

    /// Takes in what the writer reports.
    fn settle(&mut self) {
        let Some(writer) = &self.writer else {
            return;
        };
        let progress = writer.progress();
        if progress.failures > self.failures_seen {
            self.failures_seen = progress.failures;
            // Whatever was durable before the failure stays so.
            self.release(progress.durable_through);
            self.fail_pending(progress.failure.as_deref().unwrap_or("unknown"));
            if let Some(writer) = &self.writer
                && !writer.send(Msg::Resume)
            {
                tracing::warn!("the store writer has stopped");
            }
        } else {
            self.release(progress.durable_through);
        }
    }

    /// Groups up to `seq` are durable: unpin their documents and read their
    /// signatures, credentials and sync states from the store again.
    fn release(&mut self, seq: u64) {
        if seq <= self.durable_through {
            return;
        }
        self.durable_through = seq;
        for (_, c) in self.cache.entries_mut() {
            if c.pending.is_some_and(|p| p <= seq) {
                c.pending = None;
            }
        }
        self.pending_signatures.retain(|_, (_, s)| *s > seq);
        self.pending_authors.retain(|_, (_, s)| *s > seq);
        self.pending_sync_states.retain(|_, (_, s)| *s > seq);
    }

    /// A group failed: forget everything not durable, so memory claims
    /// nothing the disk lacks. Documents are reloaded from the store when
    /// next read; their lost changes come again with the next sync.
    fn fail_pending(&mut self, why: &str) {
        let lost: Vec<DocumentId> = self.cache.pending_ids().cloned().collect();
        tracing::warn!(
            documents = lost.len(),
            reason = why,
            "writes lost; documents dropped from memory"
        );
        for id in &lost {
            self.cache.remove(id);
            if self.lost.len() >= LOST_DOCS_MAX {
                self.lost_all = true;
            } else {
                self.lost.insert(id.to_string());
            }
        }
        self.staged.clear();
        // Every group handed over so far is durable or lost.
        self.lost_through = self.next_seq - 1;
        self.pending_signatures.clear();
        self.pending_authors.clear();
        self.pending_sync_states.clear();
    }

    /// Drops `ids` from memory after everything handed to the store is
    /// durable, so that what they reload is current.
    fn drop_after_flush(&mut self, ids: &[DocumentId]) {
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "cannot flush staged writes");
        }
        for id in ids {
            self.cache.remove(id);
        }
    }

    /// A blob by hash, verified.
    pub fn blob(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, NodeError> {
        Ok(self.store.blob(hash)?)
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "writes staged at shutdown were not stored");
        }
    }
}

#[cfg(test)]
mod tests;
