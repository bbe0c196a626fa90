//! Open and overdue cases by category, for the metrics, without holding
//! every report in memory and without reading a document that has not
//! changed since the last count.
//!
//! A district holds years of reports. Listing them all to count the open
//! ones cost a full materialisation of every report, every few seconds
//! while changes arrived: tens of megabytes at once and most of a core.
//! Instead each reports document is read on its own and dropped, and what
//! counting needs from it (the category and deadline of each open case) is
//! remembered with the document's heads; a document whose heads are the
//! same next time is not read again. Closed cases are not remembered at
//! all, so the memory kept follows the open cases, not the history.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use crdt_model::{Category, DocKind, DocumentId, report};

use crate::api::Node;
use crate::error::NodeError;

/// Open and overdue cases by category.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CaseCounts {
    /// Cases not closed or voided.
    pub open: BTreeMap<Category, i64>,
    /// Open cases past their deadline.
    pub overdue: BTreeMap<Category, i64>,
}

struct Tallied {
    heads: Vec<ChangeHash>,
    /// Category and deadline of each open case in the document.
    open: Vec<(Category, DateTime<Utc>)>,
}

/// What the last count learned of each reports document.
#[derive(Default)]
pub struct CaseTally {
    docs: HashMap<DocumentId, Tallied>,
}

impl CaseTally {
    /// Counts the open and overdue cases `node` holds at `now`, reading
    /// only the reports documents that changed since the last count.
    pub fn count(&mut self, node: &mut Node, now: DateTime<Utc>) -> Result<CaseCounts, NodeError> {
        let ids: HashSet<DocumentId> = node
            .repo()
            .document_ids()?
            .into_iter()
            .filter(|id| id.kind() == DocKind::Reports)
            .collect();
        // Documents gone from the store (none are deleted today, but a
        // rebuilt store may hold fewer) leave the tally too.
        self.docs.retain(|id, _| ids.contains(id));
        let mut counts = CaseCounts::default();
        for id in ids {
            let heads = node
                .store()
                .document_info(&id.to_string())?
                .map(|info| info.heads)
                .unwrap_or_default();
            let fresh = self.docs.get(&id).is_some_and(|t| t.heads == heads);
            if !fresh {
                let Some(doc) = node.repo().existing(&id)? else {
                    self.docs.remove(&id);
                    continue;
                };
                let mut open = Vec::new();
                for r in report::list(doc)? {
                    let state = r.state();
                    if state.status.is_open() {
                        open.push((r.category, state.deadline));
                    }
                }
                self.docs.insert(id.clone(), Tallied { heads, open });
            }
            for (category, deadline) in self.docs.get(&id).map_or(&[][..], |t| &t.open[..]) {
                *counts.open.entry(*category).or_default() += 1;
                if now > *deadline {
                    *counts.overdue.entry(*category).or_default() += 1;
                }
            }
        }
        Ok(counts)
    }
}
