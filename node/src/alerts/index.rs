//! The open cases' deadlines, so that finding the cases that have just
//! become overdue costs a look at the front of an ordered set, not a read
//! of every report. A district holds years of reports; only the open ones
//! are kept here, with the heads of each reports document as last read, so
//! a document is read again only when it changed.

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use crdt_model::{DocumentId, ReportId};

#[derive(Debug, Default)]
struct DocEntry {
    heads: Vec<ChangeHash>,
    open: HashSet<ReportId>,
}

/// Open cases by deadline, and what was read of each reports document.
#[derive(Debug, Default)]
pub struct OpenCases {
    docs: HashMap<DocumentId, DocEntry>,
    /// Each open case's document and deadline.
    cases: HashMap<ReportId, (DocumentId, DateTime<Utc>)>,
    /// Deadlines not yet passed (or not yet looked at since they passed).
    deadlines: BTreeSet<(DateTime<Utc>, ReportId)>,
}

impl OpenCases {
    /// The heads `doc` had when last read, if it was.
    pub fn heads(&self, doc: &DocumentId) -> Option<&[ChangeHash]> {
        self.docs.get(doc).map(|d| &d.heads[..])
    }

    /// Records what `doc` holds now: its heads and its open cases with
    /// their deadlines. Cases of `doc` not in `open` are closed (or gone).
    pub fn replace_doc(
        &mut self,
        doc: &DocumentId,
        heads: Vec<ChangeHash>,
        open: Vec<(ReportId, DateTime<Utc>)>,
    ) {
        if let Some(old) = self.docs.remove(doc) {
            for id in old.open {
                if let Some((_, deadline)) = self.cases.remove(&id) {
                    self.deadlines.remove(&(deadline, id));
                }
            }
        }
        let mut ids = HashSet::with_capacity(open.len());
        for (id, deadline) in open {
            self.cases.insert(id.clone(), (doc.clone(), deadline));
            self.deadlines.insert((deadline, id.clone()));
            ids.insert(id);
        }
        self.docs.insert(doc.clone(), DocEntry { heads, open: ids });
    }

    /// Records that `doc` now has `heads` and that only the cases in
    /// `changed` changed: each is open with its deadline, or not open.
    pub fn update_doc(
        &mut self,
        doc: &DocumentId,
        heads: Vec<ChangeHash>,
        changed: Vec<(ReportId, Option<DateTime<Utc>>)>,
    ) {
        let entry = self.docs.entry(doc.clone()).or_default();
        entry.heads = heads;
        for (id, deadline) in changed {
            if let Some((_, old)) = self.cases.remove(&id) {
                self.deadlines.remove(&(old, id.clone()));
            }
            entry.open.remove(&id);
            if let Some(deadline) = deadline {
                self.cases.insert(id.clone(), (doc.clone(), deadline));
                self.deadlines.insert((deadline, id.clone()));
                entry.open.insert(id);
            }
        }
    }

    /// Open cases whose deadline is before `now`, each returned once (until
    /// its document changes and it is recorded again), with its document.
    pub fn passed(&mut self, now: DateTime<Utc>) -> Vec<(ReportId, DocumentId)> {
        let mut out = Vec::new();
        while let Some((deadline, _)) = self.deadlines.first() {
            if *deadline >= now {
                break;
            }
            let Some((_, id)) = self.deadlines.pop_first() else {
                break;
            };
            if let Some((doc, _)) = self.cases.get(&id) {
                out.push((id, doc.clone()));
            }
        }
        out
    }

    /// The earliest deadline not yet passed.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// True while `id` is an open case.
    pub fn is_open(&self, id: &ReportId) -> bool {
        self.cases.contains_key(id)
    }

    /// How many open cases are held.
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    /// True when no case is open.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use crdt_model::PlaceId;

    #[test]
    fn passed_deadlines_come_out_once_and_closed_cases_never() {
        let now = Utc::now();
        let doc = DocumentId::reports(PlaceId::parse("guandu/yiliu/xinyazhou").unwrap(), now);
        let (a, b, c) = (
            ReportId::new(now, 1),
            ReportId::new(now, 2),
            ReportId::new(now, 3),
        );
        let mut open = vec![
            (a.clone(), now - Duration::hours(1)),
            (b.clone(), now + Duration::hours(1)),
            (c.clone(), now - Duration::minutes(1)),
        ];
        let mut idx = OpenCases::default();
        idx.replace_doc(&doc, Vec::new(), open.clone());
        assert_eq!(idx.len(), 3);
        // c closed before anyone looked.
        open.pop();
        idx.replace_doc(&doc, Vec::new(), open);
        let passed: Vec<ReportId> = idx.passed(now).into_iter().map(|(id, _)| id).collect();
        assert_eq!(passed, std::slice::from_ref(&a));
        assert!(idx.passed(now).is_empty());
        assert_eq!(idx.next_deadline(), Some(now + Duration::hours(1)));
        assert!(idx.is_open(&a));
        assert!(!idx.is_open(&c));
        let later = idx.passed(now + Duration::hours(2));
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].0, b);
    }
}
