//! Which blobs each reports document references, so a node serves a blob
//! only to a peer entitled to read a document that references it, and
//! fetches every blob a report or any of its events names.
//!
//! The references of a document are read once and kept until the document
//! changes; a peer's first request costs one pass over the reports
//! documents it may read, later ones a lookup.

use std::collections::HashMap;

use crdt_model::report::{self, EventKind, Report};
use crdt_model::{DocKind, DocumentId};

use crate::error::NodeError;
use crate::repo::Repo;
use crate::store::BlobHash;

/// Every blob hash a report names: its attachments and the photos on its
/// lifecycle events.
pub fn report_blobs(r: &Report) -> impl Iterator<Item = BlobHash> + '_ {
    let attachments = r.attachments.iter().map(|a| a.hash.as_str());
    let photos = r.events.iter().filter_map(|e| match &e.kind {
        EventKind::Handle { photo: Some(p) } => Some(p.hash.as_str()),
        _ => None,
    });
    attachments.chain(photos).filter_map(|h| h.parse().ok())
}

/// Reports documents whose references are kept at most; past it one is
/// forgotten (and read again when next asked) for each one read.
pub const BLOB_REFS_DOCS_MAX: usize = 4_096;

/// Blob references per reports document, read lazily, for at most
/// [`BLOB_REFS_DOCS_MAX`] documents.
#[derive(Debug, Default)]
pub struct BlobRefs {
    by_doc: HashMap<DocumentId, Vec<BlobHash>>,
}

impl BlobRefs {
    /// An empty index.
    pub fn new() -> BlobRefs {
        BlobRefs::default()
    }

    /// `doc` changed: read its references again when next asked.
    pub fn invalidate(&mut self, doc: &DocumentId) {
        self.by_doc.remove(doc);
    }

    /// The blobs `doc` references (none for a document that is not a
    /// reports document or is not held).
    pub fn of(&mut self, repo: &mut Repo, doc: &DocumentId) -> Result<&[BlobHash], NodeError> {
        if doc.kind() != DocKind::Reports {
            return Ok(&[]);
        }
        if !self.by_doc.contains_key(doc) {
            let hashes = match repo.existing(doc)? {
                Some(d) => report::list(&*d)
                    .map_err(|e| NodeError::Internal(format!("{doc}: {e}")))?
                    .iter()
                    .flat_map(report_blobs)
                    .collect(),
                None => Vec::new(),
            };
            if self.by_doc.len() >= BLOB_REFS_DOCS_MAX
                && let Some(any) = self.by_doc.keys().next().cloned()
            {
                self.by_doc.remove(&any);
            }
            self.by_doc.insert(doc.clone(), hashes);
        }
        Ok(self.by_doc.get(doc).map(Vec::as_slice).unwrap_or_default())
    }

    /// True when some reports document that `may_read` allows references
    /// `hash`.
    pub fn referenced_by_readable(
        &mut self,
        repo: &mut Repo,
        hash: &BlobHash,
        may_read: impl Fn(&DocumentId) -> bool,
    ) -> Result<bool, NodeError> {
        for doc in repo.document_ids()? {
            if doc.kind() != DocKind::Reports || !may_read(&doc) {
                continue;
            }
            if self.of(repo, &doc)?.contains(hash) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
