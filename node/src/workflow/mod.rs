//! The governance workflows as node operations: what operators do day to day
//! beyond submitting reports. Each request is executed by
//! [`Node::execute_workflow`], locally or inside a running node, through
//! [`crate::admin::Request::Workflow`].
//!
//! Who may write what follows the document table of the architecture brief:
//! only a community node writes the roster, roster-private, tasks, ledger and
//! directory of its own place; a street records its coordination events on
//! the reports of its communities. Reads look at every document the node
//! holds, so a street sees its communities' rosters and task lists, but never
//! their roster-private (which is never sent).
//!
//! Every write validates first and then goes through [`crate::repo::Repo::write`]:
//! one durable commit, or nothing at all.

mod directory;
mod escrow;
mod points;
mod points_views;
mod refusals;
mod reports;
mod roster;
mod roster_upkeep;
mod tasks;

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use crdt_model::ledger::Entry;
use crdt_model::stats::{Stats, StatsFilter};
use crdt_model::{DocKind, DocumentId, IdError, PlaceId, ValidationError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::api::{Node, ReportView};
use crate::config::Role;
use crate::error::NodeError;

pub use directory::{DirectoryRequest, MerchantView, StationView};
pub use escrow::{EscrowRequest, EscrowRow, EscrowView};
pub use points::{AwardRule, Booked, PointsRequest};
pub use points_views::{BalanceRow, EscrowLine, LedgerView, StatementLine, StatementView};
pub use refusals::{AwardRefusal, ConfirmRefusal, EscrowRefusal, RedeemRefusal};
pub use reports::{PhotoUpload, ReportAction, ReportRequest};
pub use roster::{MemberApplication, MemberView, RosterRequest};
pub use roster_upkeep::{IMPORT_ROWS_MAX, ImportRow, ImportView, MemberChanges};
pub use tasks::{NeedRequest, NeedView, TaskRequest, TaskView};

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
    /// A step in a report's lifecycle, or a "me too".
    Report(ReportRequest),
    /// The roster and its private part.
    Roster(RosterRequest),
    /// The task list.
    Task(TaskRequest),
    /// The needs list.
    Need(NeedRequest),
    /// The points ledger.
    Points(PointsRequest),
    /// Stations and merchants.
    Directory(DirectoryRequest),
}

impl WorkflowRequest {
    /// True for requests that change the store. Requests that only look open
    /// the store read-only and never modify its file.
    pub fn writes(&self) -> bool {
        match self {
            WorkflowRequest::Stats { .. } => false,
            WorkflowRequest::Report(r) => r.writes(),
            WorkflowRequest::Roster(r) => r.writes(),
            WorkflowRequest::Task(r) => r.writes(),
            WorkflowRequest::Need(r) => r.writes(),
            WorkflowRequest::Points(r) => r.writes(),
            WorkflowRequest::Directory(r) => r.writes(),
        }
    }
}

/// A workflow answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum WorkflowResponse {
    /// For [`WorkflowRequest::Stats`].
    Stats(StatsView),
    /// A report after a lifecycle step or a "me too".
    Report(Box<ReportView>),
    /// One member.
    Member(Box<MemberView>),
    /// Members, in place and id order.
    Members(Vec<MemberView>),
    /// One task.
    Task(Box<TaskView>),
    /// Tasks, in place and id order.
    Tasks(Vec<TaskView>),
    /// A task signed off, with the points entry it earned its member.
    SignedOff {
        /// The task after sign-off.
        task: Box<TaskView>,
        /// The credit written in the same commit.
        entry: Entry,
    },
    /// One need.
    Need(Box<NeedView>),
    /// Needs, in place and id order.
    Needs(Vec<NeedView>),
    /// Entries written by an award, redemption or correction.
    Booked(Booked),
    /// Points in escrow: a move written with what it left, or holdings.
    Escrow(Box<EscrowView>),
    /// Balances of members.
    Balances(Vec<BalanceRow>),
    /// One member's statement.
    Statement(StatementView),
    /// A signed service certificate.
    Certificate(Box<crate::certificate::Certificate>),
    /// The ledgers of a year of every community under a place, in place order.
    Ledgers(Vec<LedgerView>),
    /// One station.
    Station(Box<StationView>),
    /// Stations.
    Stations(Vec<StationView>),
    /// One merchant.
    Merchant(Box<MerchantView>),
    /// Merchants.
    Merchants(Vec<MerchantView>),
    /// A roster import, written or checked.
    Imported(ImportView),
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

/// A workflow request that the node's role, the place of the data, or the
/// data itself refuses. Nothing is written when one of these is returned.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum WorkflowError {
    /// Only a community node writes this kind of document.
    #[error(
        "the {what} is kept by community nodes; this is a {role} node at {place}, so run the command on the community's node"
    )]
    CommunityOnly {
        /// What was to be written.
        what: &'static str,
        /// This node's role.
        role: Role,
        /// This node's place.
        place: PlaceId,
    },
    /// A report this node may not act on.
    #[error("report {report} belongs to {owner}; a {role} node at {place} may not {action} it")]
    ReportOutOfScope {
        /// The report.
        report: String,
        /// The place whose document holds it.
        owner: PlaceId,
        /// This node's role.
        role: Role,
        /// This node's place.
        place: PlaceId,
        /// What was attempted.
        action: &'static str,
    },
    /// A lifecycle step that belongs to the other level.
    #[error("report {report}: {action} is the {level}'s step; run it on the {level} node")]
    WrongLevel {
        /// The report.
        report: String,
        /// The step.
        action: &'static str,
        /// The level whose step it is.
        level: &'static str,
    },
    /// A points award that the rules refuse.
    #[error("no award: {0}")]
    AwardRefused(AwardRefusal),
    /// A rule-based award already made for this report or task.
    #[error("{reference} was already awarded to {member} in entry {entry}; awards are made once")]
    DoubleAward {
        /// The report or task.
        reference: String,
        /// Who got the points.
        member: String,
        /// The entry that holds them.
        entry: String,
    },
    /// An escrow move this node may not write, or one that fits no rule.
    #[error("no escrow move: {0}")]
    EscrowRefused(EscrowRefusal),
    /// A grant to a node this community does not know as one of its stations.
    #[error(
        "{station} is not a station of this community: {why}; `yizhan admit PEER --role station` on the street admits one"
    )]
    NotAStation {
        /// The peer id given.
        station: String,
        /// Why not.
        why: String,
    },
    /// A redemption that the directory does not back.
    #[error("no redemption: {0}")]
    RedeemRefused(RedeemRefusal),
    /// A "me too" that does not fit the case.
    #[error("no confirmation: {0}")]
    ConfirmRefused(ConfirmRefusal),
    /// A phone already recorded for another member.
    #[error(
        "that phone is already on the roster for {member} ({display_name}, {status}); if this is not the same person applying twice, repeat the command with --force"
    )]
    DuplicatePhone {
        /// The member who has it.
        member: String,
        /// Their shown name.
        display_name: String,
        /// Their status.
        status: &'static str,
    },
    /// A correction that corrects nothing.
    #[error(
        "nothing to change: give at least one of --display-name, --name, --phone, --id-number, --platform, --grid"
    )]
    NothingToChange,
    /// A correction of personal data the node no longer holds.
    #[error(
        "member {member} has no personal data on this node (purged after leaving?); give both --name and --phone to record it anew"
    )]
    NoPersonalData {
        /// The member.
        member: String,
    },
    /// An import with rows the roster refuses; nothing was written.
    #[error("nothing imported: {}", crate::error_code::RefusedRow::joined(rows))]
    ImportRefused {
        /// Each refused row, with its line and why.
        rows: Vec<crate::error_code::RefusedRow>,
    },
    /// An import of no rows, or of more than one commit takes.
    #[error("an import holds 1 to {max} rows; this one holds {count}")]
    ImportSize {
        /// Rows sent.
        count: usize,
        /// The most one import holds.
        max: usize,
    },
    /// A row whose phone is already on the roster (an import without
    /// `--force`).
    #[error("the phone is already on the roster for {member}")]
    PhoneOnRoster {
        /// The member who has it.
        member: String,
    },
    /// A row whose phone an earlier row of the same file has.
    #[error("the phone is also on line {first}")]
    PhoneRepeated {
        /// The earlier row's line.
        first: u64,
    },
    /// An entity this node does not hold.
    #[error("{what} {id} is not held on this node; `{hint}` shows what it holds")]
    NotHeld {
        /// Which kind of entity.
        what: &'static str,
        /// Its id.
        id: String,
        /// The command that lists them.
        hint: &'static str,
    },
}

/// Mints an id `<prefix>-xxxxxxxx` from 32 random bits, drawing again while
/// `taken` says the id is in use.
pub(crate) fn mint<T>(prefix: &str, taken: impl Fn(&T) -> bool) -> Result<T, NodeError>
where
    T: FromStr<Err = IdError>,
{
    loop {
        let id = format!("{prefix}-{:08x}", rand::random::<u32>())
            .parse::<T>()
            .map_err(ValidationError::from)?;
        if !taken(&id) {
            return Ok(id);
        }
    }
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
            WorkflowRequest::Report(r) => self.execute_report(r, now),
            WorkflowRequest::Roster(r) => self.execute_roster(r, now),
            WorkflowRequest::Task(r) => self.execute_task(r, now),
            WorkflowRequest::Need(r) => self.execute_need(r, now),
            WorkflowRequest::Points(r) => self.execute_points(r, now),
            WorkflowRequest::Directory(r) => self.execute_directory(r, now),
        }
    }

    /// Counts every report this node holds that passes `filter`.
    pub fn stats(
        &mut self,
        filter: &StatsFilter,
        now: DateTime<Utc>,
    ) -> Result<StatsView, NodeError> {
        // Each document's index is current after reading what changed
        // since it was last counted: a street rewriting its summaries
        // every few seconds pays for the new reports, not the month.
        let mut stats = Stats::default();
        for id in self.held(DocKind::Reports)? {
            if !filter.admits_place(id.place()) {
                continue;
            }
            if let Some(cases) = self.indexes.current(&mut self.repo, &id)? {
                stats.merge(&cases.stats(id.place(), filter, now));
            }
        }
        // Places followed only through a street's summary count from it.
        stats.merge(&self.summarized(filter)?);
        Ok(StatsView {
            closure_rate: stats.closure_rate(),
            on_time_closure_rate: stats.on_time_closure_rate(),
            stats,
        })
    }

    /// This node's place, when it is a community node; otherwise the refusal
    /// naming `what` could not be written here.
    pub(crate) fn own_community(&self, what: &'static str) -> Result<PlaceId, WorkflowError> {
        if self.config.role != Role::Community {
            return Err(WorkflowError::CommunityOnly {
                what,
                role: self.config.role,
                place: self.config.place.clone(),
            });
        }
        Ok(self.config.place.clone())
    }

    /// The id of this node's own document of an unperiodised `kind`.
    pub(crate) fn own_doc(&self, kind: DocKind) -> DocumentId {
        DocumentId::singleton(self.config.place.clone(), kind)
    }

    /// Every held document of `kind`, in id order (so by place).
    pub(crate) fn held(&self, kind: DocKind) -> Result<Vec<DocumentId>, NodeError> {
        let mut ids: Vec<DocumentId> = self
            .repo
            .document_ids()?
            .into_iter()
            .filter(|id| id.kind() == kind)
            .collect();
        ids.sort();
        Ok(ids)
    }
}
