//! The write rules against honest and hostile changes of both writers.

use automerge::transaction::Transactable;
use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::geo::{LatLon, Location};
use crate::ids::EventId;
use crate::report::{self, Attachment, AttachmentKind, CloseReason, EventKind, NewReport};

const COMMUNITY: &str = "peer-community";
const STREET: &str = "peer-street";
const OWNER: ChangeAuthor<'static> = ChangeAuthor {
    by: COMMUNITY,
    level: PlaceLevel::Community,
    owner: true,
};
const STREET_NODE: ChangeAuthor<'static> = ChangeAuthor {
    by: STREET,
    level: PlaceLevel::Street,
    owner: false,
};

/// A write to a replica of the fixture's report.
type Write = fn(&ReportId, &mut AutoCommit);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()
}

/// Records an event through the model, as an honest node does.
fn record(doc: &mut AutoCommit, report: &ReportId, id: &str, minutes: i64, kind: EventKind) {
    let (by, by_level) = match kind {
        EventKind::Accept | EventKind::Dispatch { .. } | EventKind::Handle { .. } => {
            (STREET, PlaceLevel::Street)
        }
        _ => (COMMUNITY, PlaceLevel::Community),
    };
    let ev = report::ReportEvent {
        id: EventId::parse(id).unwrap(),
        at: t0() + Duration::minutes(minutes),
        by: by.into(),
        by_level,
        note: None,
        kind,
    };
    report::record_event(doc, report, &ev).unwrap();
}

fn report_obj(doc: &AutoCommit, report: &ReportId) -> ObjId {
    doc.get(ROOT, format!("report/{report}"))
        .unwrap()
        .unwrap()
        .1
}

fn events_obj(doc: &AutoCommit, report: &ReportId) -> ObjId {
    doc.get(report_obj(doc, report), "events")
        .unwrap()
        .unwrap()
        .1
}

fn event_obj(doc: &AutoCommit, report: &ReportId, id: &str) -> ObjId {
    doc.get(events_obj(doc, report), id).unwrap().unwrap().1
}

/// Writes an event map field by field, as a node that skips the model's checks would.
fn raw_event(doc: &mut AutoCommit, r: &ReportId, kind: &str, by: Option<&str>, level: &str) {
    let ev = doc
        .put_object(events_obj(doc, r), "ev-raw", ObjType::Map)
        .unwrap();
    doc.put(&ev, "at", t0().timestamp_millis() + 600_000)
        .unwrap();
    let fields = [("kind", Some(kind)), ("by", by), ("by_level", Some(level))];
    for (k, v) in fields.into_iter().filter_map(|(k, v)| Some((k, v?))) {
        doc.put(&ev, k, v).unwrap();
    }
}

/// A community's month of reports holding one escalated report, and a street's replica.
struct Fixture {
    community: AutoCommit,
    street: AutoCommit,
    report: ReportId,
}

impl Fixture {
    /// A report as the community submits it.
    fn report(id: ReportId) -> NewReport {
        NewReport {
            id,
            category: crate::Category::ManholeCover,
            location: Location {
                point: LatLon::new(24.97, 102.74).unwrap(),
                address: None,
                grid: None,
            },
            text: "cover missing".into(),
            attachments: vec![],
            reporter: None,
            submitted_at: t0(),
            submitted_by: COMMUNITY.into(),
            deadline: None,
        }
    }

    fn escalated() -> Fixture {
        let mut community = AutoCommit::new().with_actor(ActorId::from(vec![1; 32]));
        let report = ReportId::new(t0(), 42);
        let new = Fixture::report(report.clone());
        report::submit(&mut community, &new).unwrap();
        record(
            &mut community,
            &report,
            "ev-escalate",
            5,
            EventKind::Escalate,
        );
        community.commit();
        let street = community.fork().with_actor(ActorId::from(vec![2; 32]));
        Fixture {
            community,
            street,
            report,
        }
    }

    /// Escalated, then accepted by the street, and both replicas hold the accept.
    fn accepted() -> Fixture {
        let mut f = Fixture::escalated();
        record(&mut f.street, &f.report, "ev-accept", 10, EventKind::Accept);
        f.street.commit();
        f.community.merge(&mut f.street).unwrap();
        f
    }

    fn check_street(&mut self, write: Write) -> Result<(), RuleError> {
        write(&self.report, &mut self.street);
        let change = last_change(&mut self.street);
        check_reports_change(&received(&self.community, &change), &change, &STREET_NODE)
    }

    fn check_owner(&mut self, write: Write) -> Result<(), RuleError> {
        write(&self.report, &mut self.community);
        let change = last_change(&mut self.community);
        check_reports_change(&received(&self.street, &change), &change, &OWNER)
    }
}

fn last_change(doc: &mut AutoCommit) -> Change {
    doc.commit();
    doc.get_last_local_change().unwrap()
}

/// The receiver's scratch copy: its replica with the change applied.
fn received(receiver: &AutoCommit, change: &Change) -> AutoCommit {
    let mut scratch = receiver.clone();
    scratch.apply_changes([change.clone()]).unwrap();
    scratch
}

fn street_accept(r: &ReportId, d: &mut AutoCommit) {
    record(d, r, "ev-accept", 10, EventKind::Accept);
}

#[test]
fn honest_street_events_are_accepted() {
    let cases: [(&str, Write); 2] = [
        ("accept", street_accept),
        ("accept, dispatch and handle with a photo", |r, d| {
            street_accept(r, d);
            let due = t0() + Duration::hours(4);
            let to = "road-team".to_owned();
            record(d, r, "ev-dispatch", 11, EventKind::Dispatch { to, due });
            let photo = Attachment {
                hash: "ab".repeat(32),
                mime: "image/jpeg".into(),
                size: 1000,
                kind: AttachmentKind::Photo,
            };
            let photo = Some(photo);
            record(d, r, "ev-handle", 12, EventKind::Handle { photo });
        }),
    ];
    for (what, write) in cases {
        let result = Fixture::escalated().check_street(write);
        assert_eq!(result, Ok(()), "{what}");
    }
}

#[test]
fn hostile_street_changes_are_refused() {
    use Rule::*;
    let cases: [(&str, Write, Rule); 8] = [
        (
            "edits the report's text",
            |r, d| d.put(report_obj(d, r), "text", "x").unwrap(),
            StreetScope,
        ),
        (
            "rewrites the report's content, validly",
            |r, d| rewrite_content(d, r, |c| c.replace("cover missing", "nothing")),
            StreetScope,
        ),
        (
            "deletes the report",
            |r, d| d.delete(ROOT, format!("report/{r}")).unwrap(),
            StreetDeletes,
        ),
        (
            "claims the community level",
            |r, d| raw_event(d, r, "accept", Some(STREET), "community"),
            EventAuthor,
        ),
        (
            "signs as another peer",
            |r, d| raw_event(d, r, "accept", Some("peer-x"), "street"),
            EventAuthor,
        ),
        (
            "leaves by out",
            |r, d| raw_event(d, r, "accept", None, "street"),
            EventAuthor,
        ),
        (
            "writes a verify",
            |r, d| raw_event(d, r, "verify", Some(STREET), "street"),
            EventKind,
        ),
        (
            "notes in the community's event",
            |r, d| d.put(event_obj(d, r, "ev-escalate"), "note", "x").unwrap(),
            StreetScope,
        ),
    ];
    for (what, write, rule) in cases {
        let err = Fixture::escalated().check_street(write).expect_err(what);
        assert_eq!(err.rule, rule, "{what}: {err}");
    }
}

#[test]
fn refusal_names_the_rule_and_the_place() {
    let mut f = Fixture::escalated();
    let err = f.check_street(|r, d| d.put(report_obj(d, r), "text", "x").unwrap());
    let want = "a street may only add events to reports: change puts text at report/";
    assert_eq!(
        err.unwrap_err().to_string(),
        format!("{want}{}/text", f.report)
    );
}

#[test]
fn street_event_shadowing_an_existing_event_is_refused() {
    // An honest accept rekeyed onto the community's event id with an empty
    // pred: it would conflict with the escalation and could hide it.
    let mut f = Fixture::escalated();
    street_accept(&f.report, &mut f.street);
    let mut expanded = last_change(&mut f.street).decode();
    for op in &mut expanded.operations {
        if op.key == Key::from("ev-accept") {
            op.key = Key::from("ev-escalate");
        }
    }
    let forged = Change::from(expanded);
    let scratch = received(&f.community, &forged);
    let err = check_reports_change(&scratch, &forged, &STREET_NODE).unwrap_err();
    assert_eq!(err.rule, Rule::HiddenOverwrite, "{err}");
}

#[test]
fn unknown_objects_and_writers_that_are_not_a_street_are_refused() {
    let mut f = Fixture::escalated();
    street_accept(&f.report, &mut f.street);
    let change = last_change(&mut f.street);
    // The community's replica without the change does not know the new event map.
    let err = check_reports_change(&f.community, &change, &STREET_NODE).unwrap_err();
    assert_eq!(err.rule, Rule::Unresolved, "{err}");
    let level = PlaceLevel::District;
    let district = ChangeAuthor {
        level,
        ..STREET_NODE
    };
    let scratch = received(&f.community, &change);
    let err = check_reports_change(&scratch, &change, &district).unwrap_err();
    assert_eq!(err.rule, Rule::Writer, "{err}");
}

/// The content value of the fixture's report as it stands.
fn content_of(d: &AutoCommit, r: &ReportId) -> String {
    match d.get(report_obj(d, r), CONTENT_KEY).unwrap() {
        Some((Value::Scalar(v), _)) => v.as_str().unwrap().to_owned(),
        other => panic!("no content: {other:?}"),
    }
}

/// Puts `edit` of the report's content in place of it, as a whole value.
fn rewrite_content(d: &mut AutoCommit, r: &ReportId, edit: fn(&str) -> String) {
    let value = edit(&content_of(d, r));
    d.put(report_obj(d, r), CONTENT_KEY, value).unwrap();
}

/// A second report, made field by field with `fields` in its map.
fn raw_report(d: &mut AutoCommit, fields: &[&str]) {
    let id = ReportId::new(t0(), 43);
    let obj = d
        .put_object(ROOT, format!("report/{id}"), ObjType::Map)
        .unwrap();
    for f in fields {
        if *f == "events" {
            d.put_object(&obj, "events", ObjType::Map).unwrap();
        } else {
            d.put(&obj, *f, "x").unwrap();
        }
    }
}

#[test]
fn honest_owner_changes_are_accepted() {
    let cases: [(&str, Write); 3] = [
        ("close", |r, d| {
            let reason = CloseReason::NoFurtherAction;
            record(d, r, "ev-close", 20, EventKind::Close { reason });
        }),
        ("rewrite its report's content whole", |r, d| {
            rewrite_content(d, r, |c| c.replace("cover missing", "north side"));
        }),
        ("submit a second report", |_, d| {
            let mut new = Fixture::report(ReportId::new(t0(), 43));
            new.text = "second".into();
            report::submit(d, &new).unwrap();
        }),
    ];
    for (what, write) in cases {
        assert_eq!(Fixture::accepted().check_owner(write), Ok(()), "{what}");
    }
}

#[test]
fn hostile_owner_changes_are_refused() {
    use Rule::*;
    let cases: [(&str, Write, Rule); 13] = [
        (
            "claims the street level",
            |r, d| raw_event(d, r, "accept", Some(COMMUNITY), "street"),
            EventAuthor,
        ),
        (
            "rewrites by of its event",
            |r, d| d.put(event_obj(d, r, "ev-escalate"), "by", STREET).unwrap(),
            EventAuthor,
        ),
        (
            "deletes the street's event",
            |r, d| d.delete(events_obj(d, r), "ev-accept").unwrap(),
            OthersOps,
        ),
        (
            "notes in the street's event",
            |r, d| d.put(event_obj(d, r, "ev-accept"), "note", "x").unwrap(),
            OthersOps,
        ),
        (
            "puts a field beside the content",
            |r, d| d.put(report_obj(d, r), "text", "north side").unwrap(),
            ReportLayout,
        ),
        (
            "puts content that is not JSON",
            |r, d| rewrite_content(d, r, |c| c[1..].to_owned()),
            ReportLayout,
        ),
        (
            "puts content of a later version",
            |r, d| rewrite_content(d, r, |c| c.replacen(r#""v":1"#, r#""v":2"#, 1)),
            ReportLayout,
        ),
        (
            "puts content with a place off the globe",
            |r, d| rewrite_content(d, r, |c| c.replacen(r#""lat":24.97"#, r#""lat":124.97"#, 1)),
            ReportLayout,
        ),
        (
            "makes a second events map, hiding the street's events",
            |r, d| {
                drop(
                    d.put_object(report_obj(d, r), "events", ObjType::Map)
                        .unwrap(),
                )
            },
            ReportLayout,
        ),
        (
            "deletes the content",
            |r, d| d.delete(report_obj(d, r), CONTENT_KEY).unwrap(),
            ReportLayout,
        ),
        (
            "makes a report without content",
            |_, d| raw_report(d, &["events"]),
            ReportLayout,
        ),
        (
            "makes a report without events",
            |_, d| raw_report(d, &[CONTENT_KEY]),
            ReportLayout,
        ),
        (
            "makes content a map",
            |r, d| {
                drop(
                    d.put_object(report_obj(d, r), CONTENT_KEY, ObjType::Map)
                        .unwrap(),
                )
            },
            ReportLayout,
        ),
    ];
    for (what, write, rule) in cases {
        let err = Fixture::accepted().check_owner(write).expect_err(what);
        assert_eq!(err.rule, rule, "{what}: {err}");
    }
}

#[test]
fn malformed_content_refusal_says_why() {
    let err = Fixture::accepted()
        .check_owner(|r, d| rewrite_content(d, r, |c| c.replacen(r#""v":1"#, r#""v":2"#, 1)))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("a report holds one valid content value and the events map made with it: change puts text at report/"),
        "{err}"
    );
    assert!(
        err.ends_with("/content: content version 2 is not 1, the one this build reads"),
        "{err}"
    );
}

const TRUST: &[&str] = &["trust/"];

/// A write to a charter replica.
type CharterWrite = fn(&mut AutoCommit);

fn charter_change(write: CharterWrite) -> Change {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(vec![3; 32]));
    doc.put(ROOT, "trust/alice", "statement one").unwrap();
    doc.commit();
    write(&mut doc);
    last_change(&mut doc)
}

#[test]
fn charter_string_at_allowed_prefix_is_accepted() {
    let change = charter_change(|d| d.put(ROOT, "trust/bob", "statement two").unwrap());
    assert_eq!(check_append_only_change(&change, TRUST), Ok(()));
}

#[test]
fn charter_delete_overwrite_non_text_and_other_prefix_are_refused() {
    let cases: [(CharterWrite, &str); 5] = [
        (
            |d| d.delete(ROOT, "trust/alice").unwrap(),
            "deletes root key trust/alice",
        ),
        (
            |d| d.put(ROOT, "trust/alice", "new").unwrap(),
            "overwrites root key trust/alice",
        ),
        (
            |d| drop(d.put_object(ROOT, "trust/carol", ObjType::Map).unwrap()),
            "makes a map at trust/carol",
        ),
        (
            |d| d.put(ROOT, "trust/dave", 7_i64).unwrap(),
            "puts 7 at trust/dave",
        ),
        (
            |d| d.put(ROOT, "admin/eve", "statement").unwrap(),
            "puts text at admin/eve, outside the prefixes [\"trust/\"]",
        ),
    ];
    for (write, detail) in cases {
        let err = check_append_only_change(&charter_change(write), TRUST).unwrap_err();
        assert_eq!((err.rule, err.detail.as_str()), (Rule::AppendOnly, detail));
    }
}
