//! Reports and random steps on them for this crate's tests: submissions,
//! lifecycle events and merges between two replicas.

use automerge::AutoCommit;
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use crate::category::Category;
use crate::geo::{LatLon, Location};
use crate::ids::{EventId, ReportId};
use crate::place::PlaceLevel;
use crate::report::{
    self, Attachment, AttachmentKind, CloseReason, EventKind, NewReport, ReportEvent, VoidReason,
};

/// The start of the month the tests write in.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

/// A report numbered `n`, with a photo when `photo`.
pub fn new_report(n: u32, photo: bool) -> NewReport {
    at(n, Category::Sanitation, 0.0, 0.0, photo)
}

fn at(n: u32, category: Category, dlat: f64, dlon: f64, photo: bool) -> NewReport {
    let when = t0() + Duration::minutes(i64::from(n % 10_000));
    NewReport {
        id: ReportId::new(when, n),
        category,
        location: Location {
            point: LatLon::new(24.98 + dlat, 102.72 + dlon).unwrap(),
            address: None,
            grid: n.is_multiple_of(3).then(|| format!("grid-{}", n % 2)),
        },
        text: format!("hazard {n}"),
        attachments: if photo {
            vec![Attachment {
                hash: blake3::hash(&n.to_le_bytes()).to_hex().to_string(),
                mime: "image/jpeg".into(),
                size: 10,
                kind: AttachmentKind::Photo,
            }]
        } else {
            Vec::new()
        },
        reporter: None,
        submitted_at: when,
        submitted_by: "node".into(),
        deadline: None,
    }
}

/// A verification of `r`, the minute after it was submitted.
pub fn event(r: &NewReport) -> ReportEvent {
    ReportEvent {
        id: EventId::parse("ev-verify").unwrap(),
        at: r.submitted_at + Duration::minutes(1),
        by: "node".into(),
        by_level: PlaceLevel::Community,
        note: None,
        kind: EventKind::Verify,
    }
}

/// One thing a replica does.
#[derive(Debug, Clone)]
pub enum Step {
    /// A new report, on the peer's replica or mine.
    Submit {
        on_peer: bool,
        n: u32,
        category: usize,
        dlat: f64,
        dlon: f64,
        photo: bool,
    },
    /// A lifecycle event on the `pick`th report the replica holds; refused
    /// events change nothing.
    Event {
        on_peer: bool,
        pick: usize,
        kind: usize,
    },
    /// The two replicas exchange everything.
    Merge,
}

/// Random steps.
pub fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (any::<bool>(), 1u32..60, 0usize..3, -0.02f64..0.02, -0.02f64..0.02, any::<bool>())
            .prop_map(|(on_peer, n, category, dlat, dlon, photo)| Step::Submit {
                on_peer, n, category, dlat, dlon, photo
            }),
        4 => (any::<bool>(), 0usize..64, 0usize..8)
            .prop_map(|(on_peer, pick, kind)| Step::Event { on_peer, pick, kind }),
        1 => Just(Step::Merge),
    ]
}

/// Carries out step number `i`.
pub fn apply(mine: &mut AutoCommit, peer: &mut AutoCommit, i: usize, step: &Step) {
    let when = t0() + Duration::hours(1) + Duration::minutes(i as i64);
    match step {
        Step::Submit {
            on_peer,
            n,
            category,
            dlat,
            dlon,
            photo,
        } => {
            let doc = if *on_peer { peer } else { mine };
            let c = [Category::Sanitation, Category::Traffic, Category::Other][*category];
            let mut r = at(*n, c, *dlat, *dlon, *photo);
            r.submitted_at = when;
            // The same id on both replicas is a conflict the merge settles.
            let _ = report::submit(doc, &r);
        }
        Step::Event {
            on_peer,
            pick,
            kind,
        } => {
            let doc = if *on_peer { peer } else { mine };
            let ids = report::list(doc).unwrap();
            if ids.is_empty() {
                return;
            }
            let id = ids[pick % ids.len()].id.clone();
            let (by_level, kind) = match kind {
                0 => (PlaceLevel::Community, EventKind::Verify),
                1 => (
                    PlaceLevel::Community,
                    EventKind::Void {
                        reason: VoidReason::Duplicate,
                    },
                ),
                2 => (
                    PlaceLevel::Community,
                    EventKind::Close {
                        reason: CloseReason::NoFurtherAction,
                    },
                ),
                3 => (PlaceLevel::Community, EventKind::Reopen),
                4 => (PlaceLevel::Community, EventKind::Confirm { member: None }),
                5 => (
                    PlaceLevel::Community,
                    EventKind::Dispatch {
                        to: "team".into(),
                        due: when + Duration::hours(2),
                    },
                ),
                6 => (PlaceLevel::Community, EventKind::Handle { photo: None }),
                _ => (PlaceLevel::Community, EventKind::Escalate),
            };
            let ev = ReportEvent {
                id: EventId::parse(&format!("ev-{i}-{}", u8::from(*on_peer))).unwrap(),
                at: when,
                by: "node".into(),
                by_level,
                note: None,
                kind,
            };
            let _ = report::record_event(doc, &id, &ev);
        }
        Step::Merge => {
            mine.merge(peer).unwrap();
            peer.merge(mine).unwrap();
        }
    }
}
