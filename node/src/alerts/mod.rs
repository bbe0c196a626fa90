//! Alerts for urgent and overdue cases, and the feed `yizhan watch` reads.
//!
//! A thread ([`tracker`]) reads each reports document the node's loop
//! changed, once the change is durable, and keeps the open cases' deadlines
//! in an index ([`index`]). It shows every new, urgent and overdue case in
//! a bounded [`feed`], and hands urgent and overdue ones to the [`runner`],
//! which runs the operator's `[alerts] command` with the case ([`case`]) on
//! its standard input. What was sent is recorded in the store ([`records`])
//! so that each case alerts once per condition, across restarts.

pub mod case;
pub mod feed;
pub mod index;
pub mod records;
pub mod runner;
pub mod tracker;

use std::sync::{Arc, Mutex};

pub use case::{CaseEvent, Condition};
pub use feed::WatchPage;

use crate::api::Node;
use case::NodeLabel;
use feed::Feed;
use tracker::{TrackerHandle, TrackerSetup};

/// The running node's side of alerts.
pub struct Alerts {
    tracker: Option<TrackerHandle>,
    feed: Arc<Mutex<Feed>>,
}

impl Alerts {
    /// Starts the tracker thread (and the runner, when a command is
    /// configured) for `node`; must run inside the tokio runtime. A thread
    /// that cannot start is logged: the node runs on without alerts.
    pub fn start(node: &Node) -> Alerts {
        let config = node.config();
        let feed = Arc::new(Mutex::new(Feed::default()));
        let alerts = (!config.alerts.command.is_empty())
            .then(|| runner::spawn(config.alerts.clone(), node.store().clone()));
        let setup = TrackerSetup {
            store: node.store().clone(),
            node: NodeLabel {
                place: config.place.clone(),
                role: config.role,
            },
            urgent: config.alerts.urgent.clone(),
            alerts,
            feed: feed.clone(),
        };
        let tracker = match tracker::spawn(setup) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the alerts thread; no alerts will be sent");
                None
            }
        };
        Alerts { tracker, feed }
    }

    /// Tells the tracker that reports document `doc` now has `heads`, and
    /// which reports the change touched, if the loop knows
    /// ([`tracker::TrackerHandle::changed`]).
    pub fn changed(
        &self,
        doc: crdt_model::DocumentId,
        heads: Vec<automerge::ChangeHash>,
        reports: Option<Vec<(crdt_model::report::Report, bool)>>,
    ) {
        if let Some(t) = &self.tracker {
            t.changed(doc, heads, reports);
        }
    }

    /// The cases after `after` for a watcher.
    pub fn page(&self, after: Option<u64>) -> WatchPage {
        self.feed.lock().map(|f| f.page(after)).unwrap_or_default()
    }
}
