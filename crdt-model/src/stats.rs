//! Statistics over reports: counts by category, status, grid, month and place;
//! closure rate and on-time closure rate. Counts are kept as integers so that
//! summaries from several nodes add up exactly; the rates are derived.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::lifecycle::Status;
use crate::place::PlaceId;
use crate::report::Report;

/// Which reports to count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsFilter {
    /// Only reports of places under this prefix.
    pub place: Option<PlaceId>,
    /// Only reports submitted on or after this day (UTC).
    pub from: Option<NaiveDate>,
    /// Only reports submitted on or before this day (UTC).
    pub to: Option<NaiveDate>,
}

impl StatsFilter {
    /// True when the report of `place` passes the filter.
    pub fn admits(&self, place: &PlaceId, r: &Report) -> bool {
        let day = r.submitted_at.date_naive();
        self.place.as_ref().is_none_or(|p| p.contains(place))
            && self.from.is_none_or(|f| day >= f)
            && self.to.is_none_or(|t| day <= t)
    }
}

/// Counts over a set of reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Reports counted.
    pub total: u64,
    /// By category name.
    pub by_category: BTreeMap<String, u64>,
    /// By status name.
    pub by_status: BTreeMap<String, u64>,
    /// By grid (`-` for reports without one).
    pub by_grid: BTreeMap<String, u64>,
    /// By month of submission, `YYYY-MM`.
    pub by_month: BTreeMap<String, u64>,
    /// By the place whose document holds the report.
    pub by_place: BTreeMap<String, u64>,
    /// Open cases (neither closed nor voided).
    pub open: u64,
    /// Closed cases.
    pub closed: u64,
    /// Voided cases.
    pub voided: u64,
    /// Closed by their deadline.
    pub closed_on_time: u64,
    /// Open and past their deadline at the time of counting.
    pub overdue: u64,
    /// "Me too" confirmations across all counted reports.
    pub confirmations: u64,
}

impl Stats {
    /// Counts the reports that pass `filter`; `now` decides what is overdue.
    pub fn compute<'a>(
        reports: impl IntoIterator<Item = (&'a PlaceId, &'a Report)>,
        filter: &StatsFilter,
        now: DateTime<Utc>,
    ) -> Stats {
        let mut s = Stats::default();
        for (place, r) in reports {
            if filter.admits(place, r) {
                s.add(place, r, now);
            }
        }
        s
    }

    fn add(&mut self, place: &PlaceId, r: &Report, now: DateTime<Utc>) {
        let state = r.state();
        self.total += 1;
        *self
            .by_category
            .entry(r.category.as_str().to_owned())
            .or_default() += 1;
        *self
            .by_status
            .entry(state.status.as_str().to_owned())
            .or_default() += 1;
        let grid = r.location.grid.clone().unwrap_or_else(|| "-".to_owned());
        *self.by_grid.entry(grid).or_default() += 1;
        *self
            .by_month
            .entry(r.submitted_at.format("%Y-%m").to_string())
            .or_default() += 1;
        *self.by_place.entry(place.to_string()).or_default() += 1;
        match state.status {
            Status::Closed => self.closed += 1,
            Status::Voided => self.voided += 1,
            _ => self.open += 1,
        }
        if state.closed_on_time == Some(true) {
            self.closed_on_time += 1;
        }
        if state.is_overdue(now) {
            self.overdue += 1;
        }
        self.confirmations += u64::from(state.confirmations);
    }

    /// Adds another node's counts to these (for roll-ups).
    pub fn merge(&mut self, other: &Stats) {
        self.total += other.total;
        for (mine, theirs) in [
            (&mut self.by_category, &other.by_category),
            (&mut self.by_status, &other.by_status),
            (&mut self.by_grid, &other.by_grid),
            (&mut self.by_month, &other.by_month),
            (&mut self.by_place, &other.by_place),
        ] {
            for (k, v) in theirs {
                *mine.entry(k.clone()).or_default() += v;
            }
        }
        self.open += other.open;
        self.closed += other.closed;
        self.voided += other.voided;
        self.closed_on_time += other.closed_on_time;
        self.overdue += other.overdue;
        self.confirmations += other.confirmations;
    }

    /// Closed ÷ (all cases that were not voided); `None` with no such case.
    pub fn closure_rate(&self) -> Option<f64> {
        let base = self.total - self.voided;
        (base > 0).then(|| self.closed as f64 / base as f64)
    }

    /// Closed by the deadline ÷ closed; `None` when nothing is closed.
    pub fn on_time_closure_rate(&self) -> Option<f64> {
        (self.closed > 0).then(|| self.closed_on_time as f64 / self.closed as f64)
    }
}
