//! What an alert command reads on its standard input and what `yizhan
//! watch` prints: one case and why it is shown now.

use chrono::{DateTime, Utc};
use crdt_model::report::Report;
use crdt_model::{Category, PlaceId, ReportId, Status};
use serde::{Deserialize, Serialize};

use crate::config::Role;

/// Why a case is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// A report this node had not held before (written here or received).
    New,
    /// A new, open report of an urgent category (`[alerts] urgent`).
    Urgent,
    /// An open case whose deadline has passed.
    Overdue,
}

impl Condition {
    /// The name used in JSON, logs and the store's alert records.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::New => "new",
            Condition::Urgent => "urgent",
            Condition::Overdue => "overdue",
        }
    }

    /// Parses [`Condition::as_str`].
    pub fn from_name(s: &str) -> Option<Condition> {
        [Condition::New, Condition::Urgent, Condition::Overdue]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// Where the hazard is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseLocation {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Address, if given.
    pub address: Option<String>,
    /// Grid, if given.
    pub grid: Option<String>,
}

/// The node that noticed the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeLabel {
    /// Its place.
    pub place: PlaceId,
    /// Its role.
    pub role: Role,
}

/// One case, as an alert command and `yizhan watch --json` see it. The
/// reporter's id is left out: the command may forward the text to people
/// outside the federation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEvent {
    /// Why it is shown.
    pub condition: Condition,
    /// The report.
    pub report_id: ReportId,
    /// The community whose document holds it.
    pub place: PlaceId,
    /// Its category.
    pub category: Category,
    /// Its status when noticed.
    pub status: Status,
    /// What the rider said.
    pub text: String,
    /// Where.
    pub location: CaseLocation,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
    /// The deadline in force.
    pub deadline: DateTime<Utc>,
    /// When this node noticed the condition.
    pub noticed_at: DateTime<Utc>,
    /// This node.
    pub node: NodeLabel,
}

impl CaseEvent {
    /// The event for `report`, held in `place`'s document, at `now`.
    pub fn new(
        condition: Condition,
        place: PlaceId,
        report: &Report,
        node: NodeLabel,
        now: DateTime<Utc>,
    ) -> CaseEvent {
        let state = report.state();
        CaseEvent {
            condition,
            report_id: report.id.clone(),
            place,
            category: report.category,
            status: state.status,
            text: report.text.clone(),
            location: CaseLocation {
                lat: report.location.point.lat,
                lon: report.location.point.lon,
                address: report.location.address.clone(),
                grid: report.location.grid.clone(),
            },
            submitted_at: report.submitted_at,
            deadline: state.deadline,
            noticed_at: now,
            node,
        }
    }
}
