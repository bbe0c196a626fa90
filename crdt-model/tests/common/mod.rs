// Builders shared by the model's integration tests.
#![allow(dead_code)]

use automerge::{ActorId, AutoCommit};
use chrono::{DateTime, Duration, TimeZone, Utc};
use crdt_model::report::{EventKind, NewReport, ReportEvent};
use crdt_model::roster::{self, MemberKind, MemberStatus, NewMember};
use crdt_model::{Category, EventId, LatLon, Location, MemberId, PlaceLevel, ReportId};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()
}

pub fn doc(actor: u8) -> AutoCommit {
    AutoCommit::new().with_actor(ActorId::from(vec![actor; 16]))
}

pub fn new_report(n: u32, category: Category, at: DateTime<Utc>) -> NewReport {
    NewReport {
        id: ReportId::new(at, n),
        category,
        location: Location {
            point: LatLon::new(24.97 + f64::from(n) * 1e-4, 102.74).unwrap(),
            address: None,
            grid: Some(format!("g{:02}", n % 4)),
        },
        text: format!("hazard {n}"),
        attachments: vec![],
        reporter: None,
        submitted_at: at,
        submitted_by: "node-a".into(),
        deadline: None,
    }
}

pub fn event(id: &str, minutes: i64, level: PlaceLevel, kind: EventKind) -> ReportEvent {
    ReportEvent {
        id: EventId::parse(id).unwrap(),
        at: t0() + Duration::minutes(minutes),
        by: "node".into(),
        by_level: level,
        note: None,
        kind,
    }
}

pub fn active_member(doc: &mut AutoCommit, id: &str) -> roster::Member {
    let id = MemberId::parse(id).unwrap();
    roster::add(
        doc,
        &NewMember {
            id: id.clone(),
            display_name: format!("rider {id}"),
            kind: MemberKind::Rider,
            platform: Some("meituan".into()),
            grid: Some("g01".into()),
            roles: vec![],
            applied_at: t0(),
        },
    )
    .unwrap();
    roster::set_status(doc, &id, MemberStatus::Active, t0()).unwrap()
}
