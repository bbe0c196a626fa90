//! The case lifecycle: a deterministic fold of a report's events.
//!
//! ```text
//! submitted -> verified | voided -> dispatched -> handled -> closed
//!      \________ escalated (street) -> accepted -> dispatched -> handled _/
//! closed | voided -> reopened -> ...
//! ```
//!
//! Events are applied in (time, event id) order. An event that the state at its
//! point in that order does not allow is skipped, on every replica alike, so
//! concurrent events from the community and the street always fold to the same
//! status wherever they meet.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::EventId;
use crate::place::PlaceLevel;
use crate::report::{CloseReason, EventKind, Report, ReportEvent, VoidReason};

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Reported, not yet assessed.
    Submitted,
    /// The community confirmed it.
    Verified,
    /// Dropped without handling (duplicate, not ours, nothing to do).
    Voided,
    /// A handler has it, with a deadline.
    Dispatched,
    /// The handler says it is done.
    Handled,
    /// Passed up to the street, not yet taken.
    Escalated,
    /// The street took it.
    Accepted,
    /// Done.
    Closed,
    /// Opened again after closing or voiding.
    Reopened,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 9] = [
        Status::Submitted,
        Status::Verified,
        Status::Voided,
        Status::Dispatched,
        Status::Handled,
        Status::Escalated,
        Status::Accepted,
        Status::Closed,
        Status::Reopened,
    ];

    /// The name shown and exported.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::Verified => "verified",
            Status::Voided => "voided",
            Status::Dispatched => "dispatched",
            Status::Handled => "handled",
            Status::Escalated => "escalated",
            Status::Accepted => "accepted",
            Status::Closed => "closed",
            Status::Reopened => "reopened",
        }
    }

    /// Looks a status up by name.
    pub fn from_name(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Open311's summary: everything but closed and voided is open.
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Closed | Status::Voided)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The folded state of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseState {
    /// Current status.
    pub status: Status,
    /// Who holds the case: the community, or the street after escalation.
    pub level: PlaceLevel,
    /// When the case must be handled by.
    pub deadline: DateTime<Utc>,
    /// The current handler, after a dispatch.
    pub handler: Option<String>,
    /// When it was last closed or voided.
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it was closed.
    pub close_reason: Option<CloseReason>,
    /// Why it was voided.
    pub void_reason: Option<VoidReason>,
    /// True when the last closing happened by the deadline in force then.
    pub closed_on_time: Option<bool>,
    /// "Me too" confirmations.
    pub confirmations: u32,
    /// Events the fold skipped because they did not fit the state at their turn.
    pub skipped: Vec<EventId>,
}

impl CaseState {
    /// True when the case is open and past its deadline at `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.status.is_open() && now > self.deadline
    }
}

/// Folds a report's events (already in (time, id) order) into its state.
pub fn fold(report: &Report) -> CaseState {
    let mut state = CaseState {
        status: Status::Submitted,
        level: PlaceLevel::Community,
        deadline: report.deadline,
        handler: None,
        closed_at: None,
        close_reason: None,
        void_reason: None,
        closed_on_time: None,
        confirmations: 0,
        skipped: Vec::new(),
    };
    for ev in &report.events {
        match transition(&state, ev) {
            Ok(()) => apply(&mut state, ev, report),
            Err(_) => state.skipped.push(ev.id.clone()),
        }
    }
    state
}

/// Checks whether `ev` may follow `state`; on refusal returns the status name for the error.
pub fn transition(state: &CaseState, ev: &ReportEvent) -> Result<(), &'static str> {
    use Status::*;
    let s = state.status;
    let community = ev.by_level == PlaceLevel::Community;
    let street = ev.by_level == PlaceLevel::Street;
    // The level that holds the case does the work on it.
    let holder = ev.by_level == state.level;
    let ok = match &ev.kind {
        EventKind::Verify => community && matches!(s, Submitted | Reopened),
        EventKind::Void { .. } => community && matches!(s, Submitted | Verified | Reopened),
        EventKind::Dispatch { .. } => {
            holder
                && match state.level {
                    PlaceLevel::Street => matches!(s, Accepted | Dispatched | Handled),
                    _ => matches!(s, Verified | Reopened | Dispatched | Handled),
                }
        }
        EventKind::Handle { .. } => holder && s == Dispatched,
        EventKind::Escalate => {
            community
                && state.level == PlaceLevel::Community
                && matches!(s, Submitted | Verified | Dispatched | Reopened)
        }
        EventKind::Accept => street && s == Escalated,
        EventKind::Close { reason } => {
            // Fixed needs the handler's word; other reasons close any open case.
            community && (s == Handled || (*reason != CloseReason::Fixed && s.is_open()))
        }
        EventKind::Reopen => community && matches!(s, Closed | Voided),
        EventKind::Confirm { .. } => s.is_open(),
    };
    if ok { Ok(()) } else { Err(s.as_str()) }
}

fn apply(state: &mut CaseState, ev: &ReportEvent, report: &Report) {
    match &ev.kind {
        EventKind::Verify => state.status = Status::Verified,
        EventKind::Void { reason } => {
            state.status = Status::Voided;
            state.void_reason = Some(*reason);
            state.close_reason = None;
            state.closed_at = Some(ev.at);
            state.closed_on_time = None;
        }
        EventKind::Dispatch { to, due } => {
            state.status = Status::Dispatched;
            state.handler = Some(to.clone());
            state.deadline = *due;
        }
        EventKind::Handle { .. } => state.status = Status::Handled,
        EventKind::Escalate => {
            state.status = Status::Escalated;
            state.level = PlaceLevel::Street;
            state.handler = None;
        }
        EventKind::Accept => state.status = Status::Accepted,
        EventKind::Close { reason } => {
            state.status = Status::Closed;
            state.level = PlaceLevel::Community;
            state.close_reason = Some(*reason);
            state.void_reason = None;
            state.closed_at = Some(ev.at);
            state.closed_on_time = Some(ev.at <= state.deadline);
        }
        EventKind::Reopen => {
            state.status = Status::Reopened;
            state.level = PlaceLevel::Community;
            state.handler = None;
            state.closed_at = None;
            state.close_reason = None;
            state.void_reason = None;
            state.closed_on_time = None;
            state.deadline = ev.at + report.category.default_deadline();
        }
        EventKind::Confirm { .. } => state.confirmations += 1,
    }
}
