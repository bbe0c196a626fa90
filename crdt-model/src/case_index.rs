//! An index of one reports document's cases: what statistics count of each
//! report, the open cases by category and map cell for the "me too"
//! lookup, and the statistics summed. Built once by reading every report,
//! then corrected report by report as changes touch them
//! ([`crate::report_delta`]), so that a write costs what it changed, not
//! what the month holds.
//!
//! The index answers exactly what a full read answers:
//! [`CaseIndex::nearby_open`] as [`crate::report::nearby_open`] over
//! [`crate::report::list`], [`CaseIndex::stats`] as
//! [`Stats::compute`](crate::Stats::compute). The tests hold it to that
//! after random writes and merges.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::ReadDoc;
use chrono::{DateTime, Utc};

use crate::category::Category;
use crate::error::SchemaError;
use crate::geo::LatLon;
use crate::ids::ReportId;
use crate::place::PlaceId;
use crate::report::{self, Report};
use crate::stats::{Counted, Stats, StatsFilter};

/// Side of a map cell, in degrees: about 1.1 km north–south, so a lookup
/// within the usual duplicate radius (tens of metres) reads a few cells.
pub const CELL_DEG: f64 = 0.01;
/// Cells one lookup reads at most; a wider radius (or one near a pole or
/// the antimeridian) scans the category's open cases instead.
const LOOKUP_CELLS_MAX: i64 = 1_024;
/// Metres per degree of latitude on the sphere `LatLon::distance_m` uses.
const METRES_PER_DEG: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0;

type Cell = (i64, i64);

fn cell_of(p: &LatLon) -> Cell {
    (
        (p.lat / CELL_DEG).floor() as i64,
        (p.lon / CELL_DEG).floor() as i64,
    )
}

/// The cases of one reports document, kept current report by report.
#[derive(Debug, Clone, Default)]
pub struct CaseIndex {
    cases: HashMap<ReportId, Counted>,
    /// Open cases by category and cell.
    open: HashMap<Category, HashMap<Cell, BTreeSet<ReportId>>>,
    /// Every case's counts that depend neither on place nor on time.
    sums: Stats,
    /// Deadlines of the open cases, with how many share each.
    deadlines: BTreeMap<DateTime<Utc>, u64>,
}

impl CaseIndex {
    /// Reads every report of `doc` once.
    pub fn build<D: ReadDoc>(doc: &D) -> Result<CaseIndex, SchemaError> {
        Ok(CaseIndex::from_reports(&report::list(doc)?))
    }

    /// Indexes every report of a document, already read.
    pub fn from_reports(reports: &[Report]) -> CaseIndex {
        let mut index = CaseIndex::default();
        for r in reports {
            index.put(r.id.clone(), Counted::of(r));
        }
        index
    }

    /// Reads again the reports `ids` of `doc` (those a change touched).
    pub fn update<'a, D: ReadDoc>(
        &mut self,
        doc: &D,
        ids: impl IntoIterator<Item = &'a ReportId>,
    ) -> Result<(), SchemaError> {
        for id in ids {
            self.set(id, report::get(doc, id)?.as_ref());
        }
        Ok(())
    }

    /// Indexes report `id` as `r` now reads (already read by the caller),
    /// or forgets it when the document no longer holds it.
    pub fn set(&mut self, id: &ReportId, r: Option<&Report>) {
        match r {
            Some(r) => self.put(id.clone(), Counted::of(r)),
            None => self.remove(id),
        }
    }

    /// True when report `id` is indexed.
    pub fn contains(&self, id: &ReportId) -> bool {
        self.cases.contains_key(id)
    }

    /// Reports indexed.
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    /// True when no report is indexed.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    fn put(&mut self, id: ReportId, c: Counted) {
        self.remove(&id);
        self.sums.shift(&c, true);
        if c.status.is_open() {
            *self.deadlines.entry(c.deadline).or_default() += 1;
            self.open
                .entry(c.category)
                .or_default()
                .entry(cell_of(&c.point))
                .or_default()
                .insert(id.clone());
        }
        self.cases.insert(id, c);
    }

    fn remove(&mut self, id: &ReportId) {
        let Some(old) = self.cases.remove(id) else {
            return;
        };
        self.sums.shift(&old, false);
        if old.status.is_open() {
            if let Some(n) = self.deadlines.get_mut(&old.deadline) {
                *n -= 1;
                if *n == 0 {
                    self.deadlines.remove(&old.deadline);
                }
            }
            if let Some(cells) = self.open.get_mut(&old.category) {
                let cell = cell_of(&old.point);
                if let Some(ids) = cells.get_mut(&cell) {
                    ids.remove(id);
                    if ids.is_empty() {
                        cells.remove(&cell);
                    }
                }
            }
        }
    }

    /// Open cases of `category` within `radius_m` of `point`, nearest first
    /// (ties by id), with their distance in metres.
    pub fn nearby_open(
        &self,
        category: Category,
        point: &LatLon,
        radius_m: f64,
    ) -> Vec<(ReportId, f64)> {
        let Some(cells) = self.open.get(&category) else {
            return Vec::new();
        };
        let mut candidates: Vec<&ReportId> = Vec::new();
        match cells_around(point, radius_m) {
            Some(around) => {
                for cell in around {
                    if let Some(ids) = cells.get(&cell) {
                        candidates.extend(ids);
                    }
                }
            }
            None => candidates.extend(cells.values().flatten()),
        }
        let mut out: Vec<(ReportId, f64)> = candidates
            .into_iter()
            .filter_map(|id| {
                let d = self.cases.get(id)?.point.distance_m(point);
                (d <= radius_m).then(|| (id.clone(), d))
            })
            .collect();
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// The statistics of this document, held by `place`, under `filter`, at
    /// `now`. Without dates in the filter this costs the number of distinct
    /// deadlines passed, not the number of reports.
    pub fn stats(&self, place: &PlaceId, filter: &StatsFilter, now: DateTime<Utc>) -> Stats {
        if !filter.admits_place(place) {
            return Stats::default();
        }
        if filter.has_dates() {
            let mut s = Stats::default();
            for c in self.cases.values().filter(|c| filter.admits_day(c.day)) {
                s.add_counted(place, c, now);
            }
            return s;
        }
        let mut s = self.sums.clone();
        if s.total > 0 {
            s.by_place.insert(place.to_string(), s.total);
        }
        // Overdue is strictly after the deadline.
        s.overdue = self.deadlines.range(..now).map(|(_, n)| n).sum::<u64>();
        s
    }
}

/// The cells a circle of `radius_m` around `point` may reach, or `None` when
/// they are too many or wrap around the antimeridian.
fn cells_around(point: &LatLon, radius_m: f64) -> Option<Vec<Cell>> {
    if !radius_m.is_finite() || radius_m < 0.0 {
        return None;
    }
    let dlat = radius_m / METRES_PER_DEG;
    let (south, north) = (point.lat - dlat, point.lat + dlat);
    // Longitude degrees shrink away from the equator: size the span for
    // the circle's widest latitude.
    let widest = south.abs().max(north.abs());
    if widest >= 89.0 {
        return None;
    }
    let dlon = dlat / widest.to_radians().cos();
    let (west, east) = (point.lon - dlon, point.lon + dlon);
    if west < -180.0 || east > 180.0 {
        return None;
    }
    let (lat0, lon0) = cell_of(&LatLon {
        lat: south,
        lon: west,
    });
    let (lat1, lon1) = cell_of(&LatLon {
        lat: north,
        lon: east,
    });
    if (lat1 - lat0 + 1) * (lon1 - lon0 + 1) > LOOKUP_CELLS_MAX {
        return None;
    }
    let mut out = Vec::new();
    for a in lat0..=lat1 {
        for o in lon0..=lon1 {
            out.push((a, o));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use automerge::AutoCommit;
    use proptest::prelude::*;

    use super::*;
    use crate::report_delta;
    use crate::test_reports::{apply, new_report, step};

    /// What a full read says, to hold the index to.
    fn full_nearby(
        doc: &AutoCommit,
        category: Category,
        point: &LatLon,
        radius: f64,
    ) -> Vec<(ReportId, f64)> {
        let all = report::list(doc).unwrap();
        report::nearby_open(&all, category, point, radius)
            .into_iter()
            .map(|(r, d)| (r.id.clone(), d))
            .collect()
    }

    fn full_stats(doc: &AutoCommit, place: &PlaceId, f: &StatsFilter, now: DateTime<Utc>) -> Stats {
        let all = report::list(doc).unwrap();
        Stats::compute(all.iter().map(|r| (place, r)), f, now)
    }

    fn agrees(index: &CaseIndex, doc: &AutoCommit, probes: &[(Category, LatLon, f64)]) {
        let place = PlaceId::parse("cn-53/kunming/guandu/guanshang/xinyazhou").unwrap();
        let now = crate::test_reports::t0() + chrono::Duration::hours(30);
        let day = now.date_naive();
        for f in [
            StatsFilter::default(),
            StatsFilter {
                from: Some(day),
                ..Default::default()
            },
            StatsFilter {
                place: Some(PlaceId::parse("cn-53/kunming/other").unwrap()),
                ..Default::default()
            },
        ] {
            assert_eq!(
                index.stats(&place, &f, now),
                full_stats(doc, &place, &f, now)
            );
        }
        for (c, p, r) in probes {
            assert_eq!(index.nearby_open(*c, p, *r), full_nearby(doc, *c, p, *r));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// After any sequence of writes and merges, the index kept up from
        /// change deltas answers what a full read answers.
        #[test]
        fn index_kept_from_deltas_agrees_with_a_full_read(
            steps in proptest::collection::vec(step(), 1..40),
            probes in proptest::collection::vec(
                (0usize..3, -0.02f64..0.02, -0.02f64..0.02, prop_oneof![Just(50.0), Just(800.0), Just(5_000_000.0)]),
                1..6),
        ) {
            let mut mine = AutoCommit::new();
            crate::report::submit(&mut mine, &new_report(0, true)).unwrap();
            let mut peer = mine.fork();
            let mut index = CaseIndex::build(&mine).unwrap();
            let mut heads = mine.get_heads();
            for (i, s) in steps.iter().enumerate() {
                apply(&mut mine, &mut peer, i, s);
                let delta = report_delta::since(&mut mine, &heads).unwrap();
                index.update(&mine, &delta.reports).unwrap();
                heads = mine.get_heads();
            }
            let probes: Vec<_> = probes
                .into_iter()
                .map(|(c, dlat, dlon, r)| {
                    let c = [Category::Sanitation, Category::Traffic, Category::Other][c];
                    let p = LatLon::new(24.98 + dlat, 102.72 + dlon).unwrap();
                    (c, p, r)
                })
                .collect();
            agrees(&index, &mine, &probes);
            let rebuilt = CaseIndex::build(&mine).unwrap();
            agrees(&rebuilt, &mine, &probes);
        }
    }
}
