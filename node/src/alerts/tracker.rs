//! The thread that notices new, urgent and overdue cases. The node's loop
//! tells it which reports documents changed, their heads, and the reports
//! the change touched as the loop's index read them
//! ([`crate::report_index::Touched`]); once that write is durable the
//! thread takes those reports as they are, or, when the loop could not
//! say (a document's first change since the start), reads the whole
//! document from the store and compares it with what it read before. It
//! keeps the open cases' deadlines in an [`OpenCases`] index, waking when
//! the earliest passes. It never writes documents and never waits on the
//! loop; a write costs it what the write touched, not the month.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use automerge::{AutoCommit, ChangeHash, ROOT, ReadDoc as _};
use chrono::{DateTime, Utc};
use crdt_model::report::Report;
use crdt_model::{Category, DocKind, DocumentId, ReportId, report};
use tracing::{debug, info, warn};

use super::case::{CaseEvent, Condition, NodeLabel};
use super::feed::Feed;
use super::index::OpenCases;
use super::records;
use super::runner::AlertQueue;
use crate::store::Store;

/// How long the thread sleeps at most when nothing changes and no deadline
/// is near: it also notices the node stopping at least this often.
const IDLE_WAKE_MS: u64 = 60_000;
/// Wait before reading again a document whose latest write is not durable yet.
const NOT_DURABLE_RETRY_MS: u64 = 100;
/// How long a document's latest write may take to be durable before the
/// document is read as the store has it (a write that failed never is).
const NOT_DURABLE_WAIT_MS: u64 = 10_000;

/// Reports a change touched, by id, each with whether it is new; `None`
/// when the whole document must be read.
type Reports = Option<BTreeMap<ReportId, (Report, bool)>>;

/// A document the loop changed: its heads, and what the change touched.
struct Note {
    heads: Vec<ChangeHash>,
    reports: Reports,
}

/// Folds a later note into an earlier one of the same document.
fn merge(earlier: Reports, later: Reports) -> Reports {
    let (mut a, b) = (earlier?, later?);
    for (id, (r, new)) in b {
        let was_new = a.get(&id).is_some_and(|(_, n)| *n);
        a.insert(id, (r, new || was_new));
    }
    Some(a)
}

/// Documents the loop changed, waiting for the thread.
#[derive(Default)]
struct Pending {
    docs: BTreeMap<DocumentId, Note>,
    closed: bool,
}

/// The loop's side: tell the thread what changed; stop it when dropped.
pub struct TrackerHandle {
    shared: Arc<(Mutex<Pending>, Condvar)>,
}

impl TrackerHandle {
    /// Reports document `doc` now has `heads` (sorted), and the change
    /// touched `reports` (each with whether it is new), or it cannot say
    /// (`None`). Bounded by the number of documents and the reports
    /// touched: a document noted twice before the thread reads it is read
    /// once.
    pub fn changed(
        &self,
        doc: DocumentId,
        heads: Vec<ChangeHash>,
        reports: Option<Vec<(Report, bool)>>,
    ) {
        let reports = reports.map(|rs| {
            rs.into_iter()
                .map(|(r, n)| (r.id.clone(), (r, n)))
                .collect()
        });
        let (lock, wake) = &*self.shared;
        if let Ok(mut p) = lock.lock() {
            let reports = match p.docs.remove(&doc) {
                Some(earlier) => merge(earlier.reports, reports),
                None => reports,
            };
            p.docs.insert(doc, Note { heads, reports });
            wake.notify_one();
        }
    }
}

impl Drop for TrackerHandle {
    fn drop(&mut self) {
        let (lock, wake) = &*self.shared;
        if let Ok(mut p) = lock.lock() {
            p.closed = true;
            wake.notify_one();
        }
    }
}

/// What the thread works with.
pub struct TrackerSetup {
    /// The store, writable: alert records are written to its meta table.
    pub store: Store,
    /// This node.
    pub node: NodeLabel,
    /// Categories whose new cases alert at once.
    pub urgent: Vec<Category>,
    /// Where alerts go; `None` when no command is configured.
    pub alerts: Option<AlertQueue>,
    /// What `watch` reads.
    pub feed: Arc<Mutex<Feed>>,
}

struct Tracker {
    setup: TrackerSetup,
    index: OpenCases,
    /// Alerts recorded or handed to the runner in this run.
    sent: HashSet<(Condition, ReportId)>,
    /// Alerts are sent only for what happened after this (see [`records`]).
    since: DateTime<Utc>,
    /// Overdue cases are shown to watchers only when they pass their
    /// deadline while the node runs.
    started: DateTime<Utc>,
    /// Documents whose latest write was not durable yet, with what the
    /// loop said of them, since when.
    waiting: BTreeMap<DocumentId, (Note, Instant)>,
}

/// Starts the thread: it first reads every reports document once (off the
/// loop: a district's history may take a while) to build the index.
pub fn spawn(setup: TrackerSetup) -> std::io::Result<TrackerHandle> {
    let shared = Arc::new((Mutex::new(Pending::default()), Condvar::new()));
    let theirs = shared.clone();
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("yizhan-alerts".into())
        .spawn(move || {
            let _entered = span.enter();
            let now = Utc::now();
            let since = if setup.alerts.is_some() {
                records::since(&setup.store, now).unwrap_or_else(|e| {
                    warn!(error = %e, "cannot read or record when alerts began; counting from now");
                    now
                })
            } else {
                now
            };
            let sent = records::sent(&setup.store).unwrap_or_else(|e| {
                warn!(error = %e, "cannot read the alerts sent before; they may be sent again");
                HashSet::new()
            });
            let mut t = Tracker {
                setup,
                index: OpenCases::default(),
                sent,
                since,
                started: now,
                waiting: BTreeMap::new(),
            };
            t.build(now);
            t.run(&theirs);
        })?;
    Ok(TrackerHandle { shared })
}

impl Tracker {
    /// Reads every reports document once. Urgent cases that arrived since
    /// alerts began and never alerted (the node stopped before it could)
    /// alert now; records of cases no longer open are dropped.
    fn build(&mut self, now: DateTime<Utc>) {
        let ids = match self.setup.store.document_ids() {
            Ok(ids) => ids,
            Err(e) => {
                warn!(error = %e, "cannot list documents; alerts see only what changes from now");
                return;
            }
        };
        for id in ids.iter().filter_map(|s| DocumentId::parse(s).ok()) {
            if id.kind() == DocKind::Reports {
                self.read(&id, now, false);
            }
        }
        if self.setup.alerts.is_some() {
            let index = &self.index;
            match records::prune(&self.setup.store, |id| index.is_open(id)) {
                Ok(0) => {}
                Ok(n) => debug!(dropped = n, "dropped the alert records of closed cases"),
                Err(e) => warn!(error = %e, "cannot drop old alert records"),
            }
            let index = &self.index;
            self.sent.retain(|(_, id)| index.is_open(id));
        }
        info!(open = self.index.len(), "alerts: open cases indexed");
    }

    fn run(&mut self, shared: &(Mutex<Pending>, Condvar)) {
        let (lock, wake) = shared;
        loop {
            let now = Utc::now();
            self.overdue(now);
            let mut wait = Duration::from_millis(IDLE_WAKE_MS);
            if let Some(next) = self.index.next_deadline() {
                let until = (next - now).to_std().unwrap_or_default();
                // Just past the deadline: `passed` wants it strictly before now.
                wait = wait.min(until + Duration::from_millis(1));
            }
            if !self.waiting.is_empty() {
                wait = wait.min(Duration::from_millis(NOT_DURABLE_RETRY_MS));
            }
            let noted = {
                let Ok(mut p) = lock.lock() else {
                    return;
                };
                if p.docs.is_empty() && !p.closed {
                    p = match wake.wait_timeout(p, wait) {
                        Ok((p, _)) => p,
                        Err(_) => return,
                    };
                }
                if p.closed {
                    return;
                }
                std::mem::take(&mut p.docs)
            };
            // A newer note from the loop joins a document's wait.
            let mut docs = std::mem::take(&mut self.waiting);
            for (doc, note) in noted {
                let entry = match docs.remove(&doc) {
                    Some((earlier, since)) => (
                        Note {
                            heads: note.heads,
                            reports: merge(earlier.reports, note.reports),
                        },
                        since,
                    ),
                    None => (note, Instant::now()),
                };
                docs.insert(doc, entry);
            }
            let now = Utc::now();
            let patience = Duration::from_millis(NOT_DURABLE_WAIT_MS);
            for (doc, (note, since)) in docs {
                if self.durable(&doc, &note.heads) {
                    match note.reports {
                        Some(reports) => self.take(&doc, note.heads, reports, now),
                        None => self.read(&doc, now, true),
                    }
                } else if since.elapsed() > patience {
                    // Never durable (a failed write): the store decides.
                    self.read(&doc, now, true);
                } else {
                    self.waiting.insert(doc, (note, since));
                }
            }
        }
    }

    /// True when the store holds `doc` at `heads`, what the loop has.
    fn durable(&self, doc: &DocumentId, heads: &[ChangeHash]) -> bool {
        let stored = self
            .setup
            .store
            .document_info(&doc.to_string())
            .ok()
            .flatten()
            .map(|i| i.heads)
            .unwrap_or_default();
        stored == heads
    }

    /// Reads `doc` and updates the index; with `live`, shows the reports
    /// it did not hold at its last read as new, and alerts the urgent ones.
    fn read(&mut self, id: &DocumentId, now: DateTime<Utc>, live: bool) {
        let key = id.to_string();
        let (doc, heads) = match (
            self.setup.store.load_document(&key),
            self.setup.store.document_info(&key),
        ) {
            (Ok(Some(doc)), Ok(Some(info))) => (doc, info.heads),
            (Ok(_), Ok(_)) => return,
            (Err(e), _) | (_, Err(e)) => {
                warn!(doc = %id, error = %e, "cannot read a reports document for alerts");
                return;
            }
        };
        let before = self.index.heads(id).map(<[ChangeHash]>::to_vec);
        let held_before = before.map(|h| report_keys_at(&doc, &h));
        let fresh_doc = held_before.is_none();
        let held_before = held_before.flatten();
        let reports = match report::list(&doc) {
            Ok(r) => r,
            Err(e) => {
                warn!(doc = %id, error = %e, "cannot read the reports of a document for alerts");
                return;
            }
        };
        let mut open = Vec::new();
        for r in &reports {
            let is_new = match &held_before {
                Some(held) => !held.contains(&format!("{}/{}", report::PREFIX, r.id)),
                // A document never read before: everything in it is new
                // (at start, everything is merely indexed).
                None => fresh_doc,
            };
            if let Some(deadline) = self.consider(id, r, is_new, live, now) {
                open.push((r.id.clone(), deadline));
            }
        }
        self.index.replace_doc(id, heads, open);
    }

    /// Takes the reports a durable change touched, as the loop read them.
    fn take(
        &mut self,
        id: &DocumentId,
        heads: Vec<ChangeHash>,
        reports: BTreeMap<ReportId, (Report, bool)>,
        now: DateTime<Utc>,
    ) {
        let mut changed = Vec::with_capacity(reports.len());
        for (rid, (r, is_new)) in reports {
            let open = self.consider(id, &r, is_new, true, now);
            changed.push((rid, open));
        }
        self.index.update_doc(id, heads, changed);
    }

    /// Shows and alerts what report `r` of document `id` calls for; returns
    /// its deadline when it is open.
    fn consider(
        &mut self,
        id: &DocumentId,
        r: &Report,
        is_new: bool,
        live: bool,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let state = r.state();
        let urgent = self.setup.urgent.contains(&r.category)
            && state.status.is_open()
            && now <= state.deadline;
        if is_new && live {
            self.show(CaseEvent::new(
                Condition::New,
                id.place().clone(),
                r,
                self.setup.node.clone(),
                now,
            ));
        }
        // At start, an urgent case that arrived after alerts began and
        // was never alerted: the node stopped before it could.
        let missed = !live && r.submitted_at > self.since;
        if urgent && ((is_new && live) || missed) {
            let event = CaseEvent::new(
                Condition::Urgent,
                id.place().clone(),
                r,
                self.setup.node.clone(),
                now,
            );
            if live {
                self.show(event.clone());
            }
            self.alert(event);
        }
        state.status.is_open().then_some(state.deadline)
    }

    /// Shows and alerts the open cases whose deadline has just passed.
    fn overdue(&mut self, now: DateTime<Utc>) {
        for (id, doc_id) in self.index.passed(now) {
            let Ok(Some(doc)) = self.setup.store.load_document(&doc_id.to_string()) else {
                continue;
            };
            let Ok(Some(r)) = report::get(&doc, &id) else {
                continue;
            };
            let state = r.state();
            if !state.status.is_open() || now <= state.deadline {
                continue;
            }
            let event = CaseEvent::new(
                Condition::Overdue,
                doc_id.place().clone(),
                &r,
                self.setup.node.clone(),
                now,
            );
            if state.deadline > self.started {
                self.show(event.clone());
            }
            if state.deadline > self.since {
                self.alert(event);
            }
        }
    }

    fn show(&self, event: CaseEvent) {
        if let Ok(mut feed) = self.setup.feed.lock() {
            feed.push(event);
        }
    }

    /// Hands `event` to the runner unless this alert was sent before.
    fn alert(&mut self, event: CaseEvent) {
        let Some(queue) = &self.setup.alerts else {
            return;
        };
        let key = (event.condition, event.report_id.clone());
        if self.sent.contains(&key) {
            return;
        }
        match queue.try_send(event) {
            Ok(()) => {
                self.sent.insert(key);
            }
            Err(e) => {
                warn!(report = %key.1, condition = key.0.as_str(), error = %e, "too many alerts waiting; this one is dropped and sent after the next start");
            }
        }
    }
}

/// The root keys of reports in `doc` as it was at `heads`; `None` when
/// the document no longer holds those heads (its store was replaced), and
/// what is new in it cannot be told.
fn report_keys_at(doc: &AutoCommit, heads: &[ChangeHash]) -> Option<HashSet<String>> {
    if heads.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
        return None;
    }
    let prefix = format!("{}/", report::PREFIX);
    let keys = doc
        .keys_at(ROOT, heads)
        .filter(|k| k.starts_with(&prefix))
        .collect();
    Some(keys)
}
