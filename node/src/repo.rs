//! The write path: documents held open in memory over the store, and the rule
//! that a change is acknowledged only after its redb transaction is durable.
//!
//! All writes go through [`Repo::write`]: the closure mutates any number of
//! documents and stages blobs; on `Ok` every touched document is committed as
//! one Automerge change, the new changes of all of them go into one store
//! batch, and the batch commits durably. On `Err`, or if the store commit
//! fails, every touched document is rolled back or dropped from memory, so
//! memory never runs ahead of disk.

use std::collections::{BTreeMap, HashMap};

use automerge::{ActorId, AutoCommit, ChangeHash, transaction::CommitOptions};
use chrono::{DateTime, Utc};
use crdt_model::DocumentId;

use crate::error::NodeError;
use crate::store::{BlobHash, DocumentInfo, Store};

/// Documents over a store, written with one actor.
pub struct Repo {
    store: Store,
    actor: ActorId,
    docs: HashMap<DocumentId, AutoCommit>,
    /// Documents durably written since [`Repo::take_written`] last ran.
    written: Vec<DocumentId>,
    /// The key this node signs its changes with.
    signer: Option<libp2p::identity::Keypair>,
    /// The admin request being carried out, marked in every batch it
    /// commits so that a retry after a lost answer never writes twice.
    request: Option<String>,
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
    /// Wraps an open store; documents will be written with `actor`.
    pub fn new(store: Store, actor: ActorId) -> Repo {
        Repo {
            store,
            actor,
            docs: HashMap::new(),
            written: Vec::new(),
            signer: None,
            request: None,
        }
    }

    /// Signs every change this repository writes with `keypair`, whose public
    /// key must be the actor id.
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

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Loads a document from the store into memory if it exists there.
    pub fn existing(&mut self, id: &DocumentId) -> Result<Option<&mut AutoCommit>, NodeError> {
        if !self.docs.contains_key(id) {
            let Some(doc) = self.store.load_document(&id.to_string())? else {
                return Ok(None);
            };
            self.docs
                .insert(id.clone(), doc.with_actor(self.actor.clone()));
        }
        Ok(self.docs.get_mut(id))
    }

    /// The heads of `id`, sorted, or `None` if it is not held. A document not
    /// in memory is not loaded: the store records its heads with every write,
    /// so comparing a whole store with a peer costs one record per document.
    pub fn heads(&mut self, id: &DocumentId) -> Result<Option<Vec<ChangeHash>>, NodeError> {
        if let Some(doc) = self.docs.get_mut(id) {
            let mut heads = doc.get_heads();
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
        self.docs.len()
    }

    /// Creates an empty document in memory (first learned from a peer); it
    /// reaches the store with the first changes persisted into it.
    pub fn create(&mut self, id: &DocumentId) -> &mut AutoCommit {
        let actor = self.actor.clone();
        self.docs
            .entry(id.clone())
            .or_insert_with(|| AutoCommit::new().with_actor(actor))
    }

    /// Persists changes that arrived from a peer into `id` since `heads_before`,
    /// durably. On failure the document is dropped from memory, so the next
    /// read reloads what the disk holds and the next sync fetches the rest.
    pub fn persist_received(
        &mut self,
        now: DateTime<Utc>,
        id: &DocumentId,
        heads_before: &[ChangeHash],
    ) -> Result<(), NodeError> {
        let touched = BTreeMap::from([(id.clone(), heads_before.to_vec())]);
        let result = self.persist(now, &touched, &[]);
        if result.is_err() {
            self.docs.remove(id);
        }
        result
    }

    /// Documents written (locally or from peers) since the last call, for
    /// announcing and for fetching the blobs they reference.
    pub fn take_written(&mut self) -> Vec<DocumentId> {
        std::mem::take(&mut self.written)
    }

    fn doc_mut(&mut self, id: &DocumentId) -> Result<&mut AutoCommit, NodeError> {
        if self.existing(id)?.is_none() {
            self.docs
                .insert(id.clone(), AutoCommit::new().with_actor(self.actor.clone()));
        }
        self.docs
            .get_mut(id)
            .ok_or_else(|| NodeError::Internal("document vanished from memory".into()))
    }

    /// Ids of every document in the store.
    pub fn document_ids(&self) -> Result<Vec<DocumentId>, NodeError> {
        Ok(self
            .store
            .document_ids()?
            .into_iter()
            .filter_map(|s| DocumentId::parse(&s).ok())
            .collect())
    }

    /// Runs `f` over the documents and commits what it changed, durably, as
    /// one batch. Nothing is written if `f` fails.
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
        let value = match result {
            Ok(v) => v,
            Err(e) => {
                for id in touched.keys() {
                    if let Some(doc) = self.docs.get_mut(id) {
                        doc.rollback();
                    }
                }
                return Err(e);
            }
        };
        match self.persist(now, &touched, &blobs) {
            Ok(()) => Ok(value),
            Err(e) => {
                // Memory may now hold changes the disk does not: forget them.
                for id in touched.keys() {
                    self.docs.remove(id);
                }
                Err(e)
            }
        }
    }

    fn persist(
        &mut self,
        now: DateTime<Utc>,
        touched: &BTreeMap<DocumentId, Vec<ChangeHash>>,
        blobs: &[Vec<u8>],
    ) -> Result<(), NodeError> {
        let mut batch = self.store.batch()?;
        let mut written = Vec::new();
        for blob in blobs {
            batch.put_blob(blob)?;
        }
        for (id, before) in touched {
            let doc = self
                .docs
                .get_mut(id)
                .ok_or_else(|| NodeError::Internal("touched document vanished".into()))?;
            doc.commit_with(CommitOptions::default().with_time(now.timestamp()));
            let heads = doc.get_heads();
            if heads == *before {
                continue;
            }
            written.push(id.clone());
            // Sign what this node authored; changes from peers carry their
            // authors' signatures, stored when they were checked.
            if let Some(signer) = &self.signer {
                for change in doc.get_changes(before) {
                    if change.actor_id() != &self.actor {
                        continue;
                    }
                    let hash = change.hash();
                    let sig = crate::trust::signing::sign(signer, id, &hash)
                        .ok_or_else(|| NodeError::Internal("cannot sign a change".into()))?;
                    let author: [u8; 32] = self.actor.to_bytes().try_into().unwrap_or([0; 32]);
                    batch.put_signature(&hash.0, &author, &sig)?;
                }
            }
            let key = id.to_string();
            let chunk = doc.save_after(before);
            // Each document is touched once per batch, so the committed info
            // plus this chunk is what the store will hold after the commit.
            let mut info = self.store.document_info(&key)?.unwrap_or(DocumentInfo {
                snapshot_bytes: 0,
                changes_bytes: 0,
                change_chunks: 0,
                heads: Vec::new(),
            });
            info.changes_bytes += chunk.len() as u64;
            if info.wants_compaction() {
                batch.put_snapshot(&key, &doc.save(), &heads)?;
            } else {
                batch.append_changes(&key, &chunk, &heads)?;
            }
        }
        if let Some(request) = &self.request {
            batch.put_meta(
                &crate::requests::meta_key(request),
                crate::requests::COMMITTED,
            )?;
        }
        batch.commit()?;
        for id in written {
            if !self.written.contains(&id) {
                self.written.push(id);
            }
        }
        Ok(())
    }

    /// A blob by hash, verified.
    pub fn blob(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, NodeError> {
        Ok(self.store.blob(hash)?)
    }
}
