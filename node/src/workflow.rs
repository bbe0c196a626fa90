//! The governance workflows as node operations: what operators do day to day
//! beyond submitting reports. Each request is executed by
//! [`Node::execute_workflow`], locally or inside a running node, through
//! [`crate::admin::Request::Workflow`].

use chrono::{DateTime, NaiveDate, Utc};
use crdt_model::stats::{Stats, StatsFilter};
use crdt_model::{DocKind, PlaceId, report};
use serde::{Deserialize, Serialize};

use crate::api::Node;
use crate::error::NodeError;

/// A workflow request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum WorkflowRequest {
    /// Statistics over every report this node can see.
    Stats {
        /// Only places under this prefix.
        place: Option<PlaceId>,
        /// Only reports submitted on or after this day.
        from: Option<NaiveDate>,
        /// Only reports submitted on or before this day.
        to: Option<NaiveDate>,
    },
}

impl WorkflowRequest {
    /// True for requests that change the store.
    pub fn writes(&self) -> bool {
        match self {
            WorkflowRequest::Stats { .. } => false,
        }
    }
}

/// A workflow answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum WorkflowResponse {
    /// For [`WorkflowRequest::Stats`].
    Stats(StatsView),
}

/// Statistics with their derived rates, as `yizhan stats` shows them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatsView {
    /// The counts.
    #[serde(flatten)]
    pub stats: Stats,
    /// Closed ÷ (all − voided).
    pub closure_rate: Option<f64>,
    /// Closed on time ÷ closed.
    pub on_time_closure_rate: Option<f64>,
}

impl Node {
    /// Executes a workflow request at `now`.
    pub fn execute_workflow(
        &mut self,
        req: WorkflowRequest,
        now: DateTime<Utc>,
    ) -> Result<WorkflowResponse, NodeError> {
        match req {
            WorkflowRequest::Stats { place, from, to } => {
                let filter = StatsFilter { place, from, to };
                Ok(WorkflowResponse::Stats(self.stats(&filter, now)?))
            }
        }
    }

    /// Counts every report this node holds that passes `filter`.
    pub fn stats(
        &mut self,
        filter: &StatsFilter,
        now: DateTime<Utc>,
    ) -> Result<StatsView, NodeError> {
        let mut held = Vec::new();
        for id in self.repo.document_ids()? {
            if id.kind() != DocKind::Reports
                || filter
                    .place
                    .as_ref()
                    .is_some_and(|p| !p.contains(id.place()))
            {
                continue;
            }
            if let Some(doc) = self.repo.existing(&id)? {
                for r in report::list(&*doc)? {
                    held.push((id.place().clone(), r));
                }
            }
        }
        let stats = Stats::compute(held.iter().map(|(p, r)| (p, r)), filter, now);
        Ok(StatsView {
            closure_rate: stats.closure_rate(),
            on_time_closure_rate: stats.on_time_closure_rate(),
            stats,
        })
    }
}
