//! Statistics over reports: counts by category, status, grid, month and place;
//! closure rate and on-time closure rate. Counts are kept as integers so that
//! summaries from several nodes add up exactly; the rates are derived.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::category::Category;
use crate::geo::LatLon;
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
        self.admits_place(place) && self.admits_day(r.submitted_at.date_naive())
    }

    /// True when reports of `place` pass the place part of the filter.
    pub fn admits_place(&self, place: &PlaceId) -> bool {
        self.place.as_ref().is_none_or(|p| p.contains(place))
    }

    /// True when reports submitted on `day` pass the date part.
    pub fn admits_day(&self, day: NaiveDate) -> bool {
        self.from.is_none_or(|f| day >= f) && self.to.is_none_or(|t| day <= t)
    }

    /// True when the filter has a date part.
    pub fn has_dates(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }
}

/// What counting needs of one report: its fold done once, so that an index
/// can keep it and count again without reading the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    /// Category.
    pub category: Category,
    /// Its grid, if any.
    pub grid: Option<String>,
    /// Month of submission, `YYYY-MM`.
    pub month: String,
    /// Day of submission (UTC), for date filters.
    pub day: NaiveDate,
    /// Folded status.
    pub status: Status,
    /// The deadline in force.
    pub deadline: DateTime<Utc>,
    /// Whether its last closing was on time.
    pub closed_on_time: Option<bool>,
    /// "Me too" confirmations.
    pub confirmations: u32,
    /// Where the hazard is.
    pub point: LatLon,
}

impl Counted {
    /// Folds `r` once and keeps what counting needs.
    pub fn of(r: &Report) -> Counted {
        let state = r.state();
        Counted {
            category: r.category,
            grid: r.location.grid.clone(),
            month: r.submitted_at.format("%Y-%m").to_string(),
            day: r.submitted_at.date_naive(),
            status: state.status,
            deadline: state.deadline,
            closed_on_time: state.closed_on_time,
            confirmations: state.confirmations,
            point: r.location.point,
        }
    }

    /// Open and past its deadline at `now` (as [`crate::CaseState::is_overdue`]).
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.status.is_open() && now > self.deadline
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
        self.add_counted(place, &Counted::of(r), now);
    }

    /// Counts one report of `place` from what [`Counted`] kept of it.
    pub fn add_counted(&mut self, place: &PlaceId, c: &Counted, now: DateTime<Utc>) {
        self.shift(c, true);
        *self.by_place.entry(place.to_string()).or_default() += 1;
        if c.is_overdue(now) {
            self.overdue += 1;
        }
    }

    /// Adds (`up`) or takes back the counts of `c` that depend neither on
    /// its place nor on the time of counting: what an index keeps summed
    /// and corrects when one report changes. A count that falls to zero
    /// leaves its map, so the sum equals a fresh count.
    pub fn shift(&mut self, c: &Counted, up: bool) {
        fn bump(n: &mut u64, up: bool) {
            *n = if up { *n + 1 } else { n.saturating_sub(1) };
        }
        fn bump_key(map: &mut BTreeMap<String, u64>, key: &str, up: bool) {
            if up {
                *map.entry(key.to_owned()).or_default() += 1;
            } else if let Some(n) = map.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(key);
                }
            }
        }
        bump(&mut self.total, up);
        bump_key(&mut self.by_category, c.category.as_str(), up);
        bump_key(&mut self.by_status, c.status.as_str(), up);
        bump_key(&mut self.by_grid, c.grid.as_deref().unwrap_or("-"), up);
        bump_key(&mut self.by_month, &c.month, up);
        match c.status {
            Status::Closed => bump(&mut self.closed, up),
            Status::Voided => bump(&mut self.voided, up),
            _ => bump(&mut self.open, up),
        }
        if c.closed_on_time == Some(true) {
            bump(&mut self.closed_on_time, up);
        }
        let n = u64::from(c.confirmations);
        self.confirmations = if up {
            self.confirmations + n
        } else {
            self.confirmations.saturating_sub(n)
        };
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
