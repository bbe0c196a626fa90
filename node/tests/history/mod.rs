//! Documents of the fuzz fixture's federation, written as its nodes would,
//! for tests that judge changes against that fixture.
// Each test binary that includes this module uses part of it.
#![allow(dead_code)]

use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit, Change, ROOT, ReadDoc as _, transaction::Transactable as _};
use chrono::{DateTime, Duration, Utc};
use crdt_model::report::{self, EventKind, NewReport, ReportEvent};
use crdt_model::{Category, EventId, LatLon, Location, ReportId};
use node::fuzz_targets::{FixtureNode, fixture};

pub fn actor(node: &FixtureNode) -> ActorId {
    ActorId::from(node.key.0.to_vec())
}

pub fn commit(doc: &mut AutoCommit, at: DateTime<Utc>) {
    doc.commit_with(CommitOptions::default().with_time(at.timestamp()));
}

fn event(id: &str, at: DateTime<Utc>, by: &FixtureNode, kind: EventKind) -> ReportEvent {
    ReportEvent {
        id: EventId::parse(id).unwrap(),
        at,
        by: by.peer.clone(),
        by_level: by.member.role.level(),
        note: None,
        kind,
    }
}

/// A reports document of the fixture's community: a report submitted,
/// verified and escalated by the community, then accepted and dispatched
/// by its street; and a second report. One change per step.
pub fn reports_history() -> AutoCommit {
    let f = fixture();
    let at = f.now - Duration::days(2);
    let id = ReportId::new(at, 42);
    let mut doc = AutoCommit::new();
    doc.set_actor(actor(&f.community));
    for (suffix, text) in [(42, "fallen tree on the bike lane"), (43, "pothole")] {
        let r = NewReport {
            id: ReportId::new(at, suffix),
            category: Category::ALL[0],
            location: Location {
                point: LatLon::new(24.97, 102.74).unwrap(),
                address: None,
                grid: Some("g01".into()),
            },
            text: text.into(),
            attachments: vec![],
            reporter: None,
            submitted_at: at,
            submitted_by: f.community.peer.clone(),
            deadline: None,
        };
        report::submit(&mut doc, &r).unwrap();
        commit(&mut doc, at);
    }
    let t = |m: i64| at + Duration::minutes(m);
    for (ev, m) in [("e1", EventKind::Verify), ("e2", EventKind::Escalate)]
        .into_iter()
        .zip([1, 2])
        .map(|((i, k), m)| (event(i, t(m), &f.community, k), m))
    {
        report::record_event(&mut doc, &id, &ev).unwrap();
        commit(&mut doc, t(m));
    }
    doc.set_actor(actor(&f.street));
    let steps = [
        event("e3", t(3), &f.street, EventKind::Accept),
        event(
            "e4",
            t(4),
            &f.street,
            EventKind::Dispatch {
                to: "street crew".into(),
                due: t(600),
            },
        ),
    ];
    for (i, ev) in steps.iter().enumerate() {
        report::record_event(&mut doc, &id, ev).unwrap();
        commit(&mut doc, t(5 + i as i64));
    }
    doc
}

pub fn raw(changes: &[Change]) -> Vec<u8> {
    changes
        .iter()
        .flat_map(|c| c.raw_bytes().to_vec())
        .collect()
}

/// A street change that breaks the reports rules: it rewrites a report's
/// text (a street only adds events).
pub fn street_overreach(doc: &mut AutoCommit) -> Vec<Change> {
    let f = fixture();
    let before = doc.get_heads();
    let key = format!("report/{}", ReportId::new(f.now - Duration::days(2), 43));
    let (_, r) = doc.get(ROOT, key.as_str()).unwrap().unwrap();
    doc.set_actor(actor(&f.street));
    doc.put(&r, "text", "nothing to see").unwrap();
    commit(doc, f.now - Duration::days(1));
    doc.get_changes(&before)
}

/// One more report in `doc` by whatever actor `doc` writes as.
pub fn one_more_report(doc: &mut AutoCommit) -> Vec<Change> {
    let f = fixture();
    let before = doc.get_heads();
    let at = f.now - Duration::hours(3);
    let r = NewReport {
        id: ReportId::new(at, 77),
        category: Category::ALL[1],
        location: Location {
            point: LatLon::new(24.98, 102.75).unwrap(),
            address: None,
            grid: Some("g02".into()),
        },
        text: "broken street light".into(),
        attachments: vec![],
        reporter: None,
        submitted_at: at,
        submitted_by: f.community.peer.clone(),
        deadline: None,
    };
    report::submit(doc, &r).unwrap();
    commit(doc, at);
    doc.get_changes(&before)
}
