//! What each reports document holds, kept current from its changes: the
//! case index (open cases by category and map cell, statistics summed,
//! `crdt_model::case_index`) and the blobs its reports reference.
//!
//! Why: a write used to list every report of the month three times over
//! (the "me too" lookup, the blobs to fetch, a street's summaries), so a
//! write cost time linear in the month and a month quadratic time. Now a
//! document is read whole once, the first time it is needed; afterwards
//! only the reports its new changes touch are read again
//! (`crdt_model::report_delta`), found from the changes between the heads
//! last indexed and the document's heads now. That covers this node's own
//! writes and what sync applied alike, whichever came first.
//!
//! A document whose heads did not move is not even loaded: the store
//! records its heads with every write.

use std::collections::{HashMap, HashSet};

use automerge::ChangeHash;
use crdt_model::case_index::CaseIndex;
use crdt_model::report::{EventKind, Report};
use crdt_model::{DocKind, DocumentId, report, report_delta};

use crate::error::NodeError;
use crate::repo::Repo;
use crate::store::BlobHash;

/// Reports documents indexed at most; past it the one used longest ago is
/// forgotten (and read whole again when next needed).
pub const REPORT_INDEX_DOCS_MAX: usize = 4_096;

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

struct Indexed {
    /// The heads indexed, sorted.
    heads: Vec<ChangeHash>,
    cases: CaseIndex,
    blobs: HashSet<BlobHash>,
    /// When it was last used, in refreshes: the oldest goes first.
    used: u64,
}

/// The indexes of the reports documents of one node.
#[derive(Default)]
pub struct ReportIndexes {
    docs: HashMap<DocumentId, Indexed>,
    clock: u64,
}

impl std::fmt::Debug for ReportIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportIndexes")
            .field("docs", &self.docs.len())
            .finish()
    }
}

impl ReportIndexes {
    /// No document indexed yet.
    pub fn new() -> ReportIndexes {
        ReportIndexes::default()
    }

    /// Brings the index of `doc` up to the document's heads and returns
    /// the blobs it learned `doc` references: every blob the first time,
    /// then only those the new changes added. Not a reports document, or
    /// not held: nothing.
    pub fn refresh(
        &mut self,
        repo: &mut Repo,
        doc: &DocumentId,
    ) -> Result<Vec<BlobHash>, NodeError> {
        if doc.kind() != DocKind::Reports {
            return Ok(Vec::new());
        }
        self.clock += 1;
        let Some(heads) = repo.heads(doc)? else {
            self.docs.remove(doc);
            return Ok(Vec::new());
        };
        if let Some(ix) = self.docs.get_mut(doc) {
            ix.used = self.clock;
            if ix.heads == heads {
                return Ok(Vec::new());
            }
        }
        let bad = |e: crdt_model::SchemaError| NodeError::Internal(format!("{doc}: {e}"));
        let Some(d) = repo.existing(doc)? else {
            self.docs.remove(doc);
            return Ok(Vec::new());
        };
        if let Some(ix) = self.docs.get_mut(doc)
            && let Some(delta) = report_delta::since(d, &ix.heads)
        {
            let mut added = Vec::new();
            for id in &delta.reports {
                if let Some(r) = report::get(&*d, id).map_err(bad)? {
                    // Hashes the new operations wrote, as the report shows
                    // them (a conflict's losing side shows none).
                    added.extend(report_blobs(&r).filter(|h| {
                        delta.hashes.contains(&h.to_string()) && !ix.blobs.contains(h)
                    }));
                }
            }
            ix.cases.update(&*d, &delta.reports).map_err(bad)?;
            ix.blobs.extend(added.iter().copied());
            ix.heads = heads;
            return Ok(added);
        }
        let reports = report::list(&*d).map_err(bad)?;
        let cases = CaseIndex::from_reports(&reports);
        let blobs: HashSet<BlobHash> = reports.iter().flat_map(report_blobs).collect();
        let added = blobs.iter().copied().collect();
        if self.docs.len() >= REPORT_INDEX_DOCS_MAX
            && !self.docs.contains_key(doc)
            && let Some(oldest) = self
                .docs
                .iter()
                .min_by_key(|(_, ix)| ix.used)
                .map(|(id, _)| id.clone())
        {
            self.docs.remove(&oldest);
        }
        self.docs.insert(
            doc.clone(),
            Indexed {
                heads,
                cases,
                blobs,
                used: self.clock,
            },
        );
        Ok(added)
    }

    /// The case index of `doc` as the last [`ReportIndexes::refresh`] left it.
    pub fn cases(&self, doc: &DocumentId) -> Option<&CaseIndex> {
        self.docs.get(doc).map(|ix| &ix.cases)
    }

    /// The case index of `doc`, current.
    pub fn current(
        &mut self,
        repo: &mut Repo,
        doc: &DocumentId,
    ) -> Result<Option<&CaseIndex>, NodeError> {
        self.refresh(repo, doc)?;
        Ok(self.cases(doc))
    }

    /// True when `doc` references `hash`, as of the last refresh.
    pub fn references(&self, doc: &DocumentId, hash: &BlobHash) -> bool {
        self.docs.get(doc).is_some_and(|ix| ix.blobs.contains(hash))
    }

    /// True when some reports document that `may_read` allows references
    /// `hash`: whom a blob may be served to.
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
            self.refresh(repo, &doc)?;
            if self.references(&doc, hash) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl crate::api::Node {
    /// Brings the index of reports document `doc` up to date; returns the
    /// blobs it learned `doc` references ([`ReportIndexes::refresh`]).
    pub fn refresh_index(&mut self, doc: &DocumentId) -> Result<Vec<BlobHash>, NodeError> {
        self.indexes.refresh(&mut self.repo, doc)
    }

    /// True when `doc` references `hash`, as of its last refresh.
    pub fn index_references(&self, doc: &DocumentId, hash: &BlobHash) -> bool {
        self.indexes.references(doc, hash)
    }

    /// True when a reports document that `may_read` allows references
    /// `hash` ([`ReportIndexes::referenced_by_readable`]).
    pub fn referenced_by_readable(
        &mut self,
        hash: &BlobHash,
        may_read: impl Fn(&DocumentId) -> bool,
    ) -> Result<bool, NodeError> {
        self.indexes
            .referenced_by_readable(&mut self.repo, hash, may_read)
    }
}
