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

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::ChangeHash;
use crdt_model::case_index::CaseIndex;
use crdt_model::report::{EventKind, Report};
use crdt_model::{DocKind, DocumentId, ReportId, report, report_delta};

use crate::error::NodeError;
use crate::repo::Repo;
use crate::store::BlobHash;

/// Reports documents indexed at most; past it the one used longest ago is
/// forgotten (and read whole again when next needed). What stays hot is the
/// months being written: a community's current month, a street's
/// communities' current months. A district passes years of months through
/// its sync; keeping every one's index made its memory grow with the
/// documents it holds (`cli/tests/district_memory.rs`), so an old month's
/// index is rebuilt when it is next written instead.
pub const REPORT_INDEX_DOCS_MAX: usize = 64;

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

/// What refreshes found changed in one document since the running node
/// last took it ([`crate::api::Node::take_touched`]).
#[derive(Debug, Default)]
struct Pending {
    /// The document was read whole: every report counts as touched.
    all: bool,
    /// Reports new to the index.
    created: BTreeSet<ReportId>,
    /// Reports it held that changed.
    changed: BTreeSet<ReportId>,
    /// Blobs newly referenced (with `all`, every blob is).
    blobs: Vec<BlobHash>,
}

/// What changed in a reports document since the node's loop last asked.
#[derive(Debug, Default)]
pub struct Touched {
    /// The touched reports as they are now, each with whether it is new to
    /// this node; `None` when the document was read whole (first use, or
    /// its history was replaced), so that anything may have changed.
    pub reports: Option<Vec<(Report, bool)>>,
    /// Blobs the document references that it did not before.
    pub blobs: Vec<BlobHash>,
}

/// The indexes of the reports documents of one node.
#[derive(Default)]
pub struct ReportIndexes {
    docs: HashMap<DocumentId, Indexed>,
    clock: u64,
    /// Kept only once [`ReportIndexes::keep_touched`] is on (a running
    /// node, whose loop takes it after every step): one entry per document
    /// refreshed since.
    pending: Option<HashMap<DocumentId, Pending>>,
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

    /// From now on, remember what each refresh found, for
    /// [`ReportIndexes::take`].
    pub fn keep_touched(&mut self) {
        self.pending.get_or_insert_with(HashMap::new);
    }

    fn note(&mut self, doc: &DocumentId, f: impl FnOnce(&mut Pending)) {
        if let Some(p) = self.pending.as_mut() {
            f(p.entry(doc.clone()).or_default());
        }
    }

    /// Refreshes `doc` and takes what changed in it since the last take.
    pub fn take(&mut self, repo: &mut Repo, doc: &DocumentId) -> Result<Touched, NodeError> {
        self.refresh(repo, doc)?;
        let Some(p) = self.pending.as_mut().and_then(|p| p.remove(doc)) else {
            return Ok(Touched::default());
        };
        if p.all {
            let blobs = self
                .docs
                .get(doc)
                .map(|ix| ix.blobs.iter().copied().collect())
                .unwrap_or_default();
            return Ok(Touched {
                reports: None,
                blobs,
            });
        }
        let mut reports = Vec::with_capacity(p.created.len() + p.changed.len());
        if let Some(d) = repo.existing(doc)? {
            for id in p.created.iter().chain(p.changed.difference(&p.created)) {
                if let Some(r) =
                    report::get(&*d, id).map_err(|e| NodeError::Internal(format!("{doc}: {e}")))?
                {
                    reports.push((r, p.created.contains(id)));
                }
            }
        }
        Ok(Touched {
            reports: Some(reports),
            blobs: p.blobs,
        })
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
            let (created, changed): (Vec<ReportId>, Vec<ReportId>) = delta
                .reports
                .iter()
                .cloned()
                .partition(|id| !ix.cases.contains(id));
            let mut added = Vec::new();
            for id in &delta.reports {
                let r = report::get(&*d, id).map_err(bad)?;
                if let Some(r) = &r {
                    // Hashes the new operations wrote, as the report shows
                    // them (a conflict's losing side shows none).
                    added.extend(report_blobs(r).filter(|h| {
                        delta.hashes.contains(&h.to_string()) && !ix.blobs.contains(h)
                    }));
                }
                ix.cases.set(id, r.as_ref());
            }
            ix.blobs.extend(added.iter().copied());
            ix.heads = heads;
            self.note(doc, |p| {
                // A whole read still to be taken covers these too.
                if !p.all {
                    p.created.extend(created);
                    p.changed.extend(changed);
                    p.blobs.extend(added.iter().copied());
                }
            });
            return Ok(added);
        }
        let reports = report::list(&*d).map_err(bad)?;
        let cases = CaseIndex::from_reports(&reports);
        let blobs: HashSet<BlobHash> = reports.iter().flat_map(report_blobs).collect();
        let added: Vec<BlobHash> = blobs.iter().copied().collect();
        // Only a flag: the taker reads every blob from the index then, so
        // a document built and never taken keeps nothing here.
        self.note(doc, |p| {
            *p = Pending {
                all: true,
                ..Pending::default()
            }
        });
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
    /// Refreshes reports document `doc` and takes what changed in it since
    /// the last take ([`ReportIndexes::take`]).
    pub fn take_touched(&mut self, doc: &DocumentId) -> Result<Touched, NodeError> {
        self.indexes.take(&mut self.repo, doc)
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

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};
    use crdt_model::report::{Attachment, AttachmentKind, NewReport, VoidReason};
    use crdt_model::{Category, LatLon, Location, PlaceId, Stats, StatsFilter};

    use super::*;
    use crate::api::{Node, ReportContent, SubmitReport};
    use crate::config::Role;
    use crate::workflow::{ReportAction, ReportRequest, WorkflowRequest};

    fn content(i: u32) -> ReportContent {
        ReportContent {
            category: [Category::Traffic, Category::Sanitation][i as usize % 2],
            lat: 24.95 + f64::from(i % 13) * 0.0004,
            lon: 102.70 + f64::from(i % 11) * 0.0004,
            text: format!("hazard {i}"),
            address: None,
            grid: Some(format!("grid-{}", i % 3)),
            reporter: None,
        }
    }

    /// Statistics, "me too" candidates and blob references from the
    /// index, against a full read of the document.
    fn agrees(node: &mut Node, doc: &DocumentId) {
        let now = Utc::now() + Duration::hours(30);
        let place = doc.place().clone();
        let filter = StatsFilter::default();
        let indexed = node.stats(&filter, now).unwrap().stats;
        let reports = report::list(node.repo().existing(doc).unwrap().unwrap()).unwrap();
        let full = Stats::compute(reports.iter().map(|r| (&place, r)), &filter, now);
        assert_eq!(indexed, full);
        for i in 0..6 {
            let c = content(i);
            let point = LatLon::new(c.lat, c.lon).unwrap();
            let want: Vec<(ReportId, f64)> =
                report::nearby_open(&reports, c.category, &point, 120.0)
                    .into_iter()
                    .map(|(r, d)| (r.id.clone(), d))
                    .collect();
            let cases = node.indexes.current(&mut node.repo, doc).unwrap().unwrap();
            assert_eq!(cases.nearby_open(c.category, &point, 120.0), want);
        }
        for h in reports.iter().flat_map(report_blobs) {
            assert!(node.referenced_by_readable(&h, |_| true).unwrap());
        }
    }

    #[test]
    fn the_index_follows_own_writes_and_a_peers_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let place = PlaceId::parse("guandu/yiliu/xinyazhou").unwrap();
        let mut node = Node::init(tmp.path(), Role::Community, place, None).unwrap();
        let now = Utc::now();
        let doc = DocumentId::reports(node.config().place.clone(), now);
        let reqs = (0..40)
            .map(|i| SubmitReport {
                content: content(i),
                attachments: Vec::new(),
            })
            .collect();
        let ids = node.submit_reports(reqs, now).unwrap();
        agrees(&mut node, &doc);

        // Own lifecycle steps, one write each.
        for (n, id) in ids.iter().enumerate().take(12) {
            let action = match n % 3 {
                0 => ReportAction::Verify,
                1 => ReportAction::Void {
                    reason: VoidReason::Duplicate,
                },
                _ => ReportAction::Escalate,
            };
            let req = ReportRequest::Event {
                report: id.clone(),
                action,
                note: None,
            };
            node.execute_workflow(WorkflowRequest::Report(req), now)
                .unwrap();
            if n % 4 == 0 {
                agrees(&mut node, &doc);
            }
        }
        let submitted = node.submit_report(
            SubmitReport {
                content: content(3),
                attachments: Vec::new(),
            },
            now,
        );
        assert!(!submitted.unwrap().nearby.is_empty());
        agrees(&mut node, &doc);

        // A peer's replica writes reports with photos and events; its
        // changes arrive as sync applies them.
        let mut peer = node.repo().existing(&doc).unwrap().unwrap().fork();
        for i in 0..15u32 {
            let at = now + Duration::seconds(i64::from(i) + 1);
            let c = content(100 + i);
            let new = NewReport {
                id: ReportId::new(at, 0xfeed_0000 + i),
                category: c.category,
                location: Location {
                    point: LatLon::new(c.lat, c.lon).unwrap(),
                    address: None,
                    grid: c.grid,
                },
                text: c.text,
                attachments: vec![Attachment {
                    hash: BlobHash::of(&i.to_le_bytes()).to_string(),
                    mime: "image/jpeg".into(),
                    size: 4,
                    kind: AttachmentKind::Photo,
                }],
                reporter: None,
                submitted_at: at,
                submitted_by: "peer".into(),
                deadline: None,
            };
            report::submit(&mut peer, &new).unwrap();
        }
        let before = node.repo().heads(&doc).unwrap().unwrap();
        node.repo()
            .existing(&doc)
            .unwrap()
            .unwrap()
            .merge(&mut peer)
            .unwrap();
        node.repo().persist_received(now, &doc, &before).unwrap();
        node.repo().end_step();
        let touched = {
            node.indexes.keep_touched();
            node.take_touched(&doc).unwrap()
        };
        assert_eq!(touched.blobs.len(), 15, "the peer's photos are wanted");
        let new: Vec<bool> = touched.reports.unwrap().iter().map(|(_, n)| *n).collect();
        assert_eq!(new, vec![true; 15]);
        agrees(&mut node, &doc);
    }
}
