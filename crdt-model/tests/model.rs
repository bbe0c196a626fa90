//! The domain model driven through its public API, one document kind at a time.

mod common;

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use common::*;
use crdt_model::directory::{self, Maintenance, Merchant, Service, Station};
use crdt_model::ledger::{self, Entry, EntryKind};
use crdt_model::report::{self, Attachment, AttachmentKind, CloseReason, EventKind, VoidReason};
use crdt_model::roster::{self, Certificate, MemberStatus, TrainingRecord};
use crdt_model::roster_private::{self, PrivateRecord};
use crdt_model::tasks::{self, NewTask, TaskStatus};
use crdt_model::{
    Category, LatLon, MemberId, ModelError, PlaceId, PlaceLevel, Stats, StatsFilter, Status,
    ValidationError,
};

fn invalid(r: Result<impl std::fmt::Debug, ModelError>) -> ValidationError {
    match r {
        Err(ModelError::Invalid(e)) => e,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn report_round_trips_with_attachments() {
    let mut d = doc(1);
    let mut r = new_report(1, Category::ManholeCover, t0());
    r.text = "井盖翘起".into();
    r.attachments.push(Attachment {
        hash: "ab".repeat(32),
        mime: "image/jpeg".into(),
        size: 1234,
        kind: AttachmentKind::Photo,
    });
    report::submit(&mut d, &r).unwrap();
    let back = report::get(&d, &r.id).unwrap().unwrap();
    assert_eq!(back.text, "井盖翘起");
    assert_eq!(back.attachments, r.attachments);
    assert_eq!(
        back.deadline,
        t0() + Category::ManholeCover.default_deadline()
    );
    assert_eq!(back.state().status, Status::Submitted);
    assert_eq!(report::list(&d).unwrap().len(), 1);
    assert!(matches!(
        invalid(report::submit(&mut d, &r)),
        ValidationError::DuplicateEntity { .. }
    ));
}

#[test]
fn bad_reports_are_refused_and_write_nothing() {
    let mut d = doc(1);
    let heads = d.get_heads();
    let mut r = new_report(1, Category::Other, t0());
    r.location.point.lat = 200.0;
    assert_eq!(
        invalid(report::submit(&mut d, &r)),
        ValidationError::LatitudeOutOfRange(200.0)
    );
    let mut r = new_report(2, Category::Other, t0());
    r.attachments.push(Attachment {
        hash: "xyz".into(),
        mime: "image/jpeg".into(),
        size: 1,
        kind: AttachmentKind::Photo,
    });
    assert!(matches!(
        invalid(report::submit(&mut d, &r)),
        ValidationError::BadAttachment(_)
    ));
    let mut r = new_report(3, Category::Other, t0());
    r.text = "长".repeat(report::REPORT_TEXT_CHARS_MAX + 1);
    assert!(matches!(
        invalid(report::submit(&mut d, &r)),
        ValidationError::TextTooLong { .. }
    ));
    assert_eq!(d.get_heads(), heads);
    assert!(report::list(&d).unwrap().is_empty());
}

#[test]
fn full_lifecycle_through_the_street() {
    use PlaceLevel::{Community as C, Street as S};
    let mut d = doc(1);
    let r = new_report(7, Category::ElevatorFault, t0());
    report::submit(&mut d, &r).unwrap();
    let due = t0() + Duration::hours(6);
    let steps = [
        event("e1", 1, C, EventKind::Verify),
        event("e2", 2, C, EventKind::Escalate),
        event("e3", 3, S, EventKind::Accept),
        event(
            "e4",
            4,
            S,
            EventKind::Dispatch {
                to: "elevator-co".into(),
                due,
            },
        ),
        event("e5", 5, S, EventKind::Handle { photo: None }),
        event(
            "e6",
            6,
            C,
            EventKind::Close {
                reason: CloseReason::Fixed,
            },
        ),
    ];
    let expect = [
        Status::Verified,
        Status::Escalated,
        Status::Accepted,
        Status::Dispatched,
        Status::Handled,
        Status::Closed,
    ];
    for (ev, want) in steps.iter().zip(expect) {
        let st = report::record_event(&mut d, &r.id, ev).unwrap();
        assert_eq!(st.status, want, "after {}", ev.kind.name());
    }
    let st = report::get(&d, &r.id).unwrap().unwrap().state();
    assert_eq!(st.closed_on_time, Some(true));
    assert_eq!(st.deadline, due);
    assert_eq!(st.level, PlaceLevel::Community);
    let st = report::record_event(&mut d, &r.id, &event("e7", 7, C, EventKind::Reopen)).unwrap();
    assert_eq!(st.status, Status::Reopened);
    assert!(st.closed_at.is_none());
}

#[test]
fn illegal_transitions_are_refused() {
    use PlaceLevel::{Community as C, Street as S};
    let mut d = doc(1);
    let r = new_report(8, Category::Sanitation, t0());
    report::submit(&mut d, &r).unwrap();
    let heads = d.get_heads();
    let bad = [
        event("x1", 1, C, EventKind::Handle { photo: None }),
        event(
            "x2",
            1,
            C,
            EventKind::Close {
                reason: CloseReason::Fixed,
            },
        ),
        event("x3", 1, S, EventKind::Accept),
        event("x4", 1, S, EventKind::Verify),
        event("x5", 1, C, EventKind::Reopen),
    ];
    for ev in &bad {
        let e = invalid(report::record_event(&mut d, &r.id, ev));
        assert!(
            matches!(e, ValidationError::IllegalTransition { .. }),
            "{e}"
        );
    }
    assert_eq!(d.get_heads(), heads);
    report::record_event(
        &mut d,
        &r.id,
        &event(
            "v",
            2,
            C,
            EventKind::Void {
                reason: VoidReason::Duplicate,
            },
        ),
    )
    .unwrap();
    let e = invalid(report::record_event(
        &mut d,
        &r.id,
        &event("v2", 3, C, EventKind::Verify),
    ));
    assert_eq!(
        e.to_string(),
        format!("report {}: cannot verify a case that is voided", r.id)
    );
    let unknown = crdt_model::ReportId::new(t0(), 0xdead);
    assert!(matches!(
        invalid(report::record_event(
            &mut d,
            &unknown,
            &event("v3", 3, C, EventKind::Verify)
        )),
        ValidationError::UnknownEntity { .. }
    ));
}

#[test]
fn concurrent_events_fold_to_one_status_on_both_replicas() {
    use PlaceLevel::{Community as C, Street as S};
    let mut community = doc(1);
    let r = new_report(9, Category::FireLaneBlocked, t0());
    report::submit(&mut community, &r).unwrap();
    report::record_event(
        &mut community,
        &r.id,
        &event("a", 1, C, EventKind::Escalate),
    )
    .unwrap();
    let mut street = community
        .fork()
        .with_actor(automerge::ActorId::from(vec![2u8; 16]));
    // The street accepts while the community, not yet knowing, closes with a non-fixed reason.
    report::record_event(&mut street, &r.id, &event("b", 3, S, EventKind::Accept)).unwrap();
    report::record_event(
        &mut community,
        &r.id,
        &event(
            "c",
            2,
            C,
            EventKind::Close {
                reason: CloseReason::NotResponsible,
            },
        ),
    )
    .unwrap();
    community.merge(&mut street).unwrap();
    street.merge(&mut community).unwrap();
    let a = report::get(&community, &r.id).unwrap().unwrap().state();
    let b = report::get(&street, &r.id).unwrap().unwrap().state();
    assert_eq!(a, b);
    assert_eq!(a.status, Status::Closed);
    assert_eq!(a.skipped.len(), 1, "the accept after the close is skipped");
}

#[test]
fn nearby_open_reports_are_suggested() {
    let mut d = doc(1);
    for n in 0..5 {
        report::submit(&mut d, &new_report(n, Category::ManholeCover, t0())).unwrap();
    }
    report::submit(&mut d, &new_report(9, Category::Traffic, t0())).unwrap();
    let all = report::list(&d).unwrap();
    let here = LatLon::new(24.97, 102.74).unwrap();
    let near = report::nearby_open(&all, Category::ManholeCover, &here, 50.0);
    // Reports 0..=4 are 0, 11, 22, 33, 44 m away.
    assert_eq!(near.len(), 5);
    assert!(near.windows(2).all(|w| w[0].1 <= w[1].1));
    assert_eq!(
        report::nearby_open(&all, Category::ManholeCover, &here, 20.0).len(),
        2
    );
}

#[test]
fn roster_lifecycle_and_private_data() {
    let mut d = doc(1);
    let m = active_member(&mut d, "m-01");
    assert_eq!(m.status, MemberStatus::Active);
    let id = m.id.clone();
    let cert = Certificate {
        number: "SN-2026-024".into(),
        issued: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        expires: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
    };
    roster::certify(&mut d, &id, &cert).unwrap();
    roster::move_grid(&mut d, &id, "g07").unwrap();
    roster::add_training(
        &mut d,
        &id,
        &TrainingRecord {
            id: "t1".parse().unwrap(),
            topic: "grid concepts".into(),
            date: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            hours: 2.0,
            trainer: Some("street centre".into()),
        },
    )
    .unwrap();
    roster::set_status(&mut d, &id, MemberStatus::Suspended, t0()).unwrap();
    let back = roster::get(&d, &id).unwrap().unwrap();
    assert_eq!(back.certificate, Some(cert));
    assert_eq!(back.grid.as_deref(), Some("g07"));
    assert_eq!(back.roles, vec![roster::Role::GovernanceObserver]);
    assert_eq!(back.training.len(), 1);
    assert_eq!(back.status, MemberStatus::Suspended);
    assert!(matches!(
        invalid(roster::set_status(
            &mut d,
            &id,
            MemberStatus::Suspended,
            t0()
        )),
        ValidationError::IllegalMemberTransition { .. }
    ));
    assert_eq!(back.left_at, None, "only leaving records a time");
    let left = t0() + Duration::days(30);
    let gone = roster::set_status(&mut d, &id, MemberStatus::Left, left).unwrap();
    assert_eq!(gone.left_at, Some(left));
    assert_eq!(roster::get(&d, &id).unwrap().unwrap().left_at, Some(left));
    let unknown = MemberId::parse("m-99").unwrap();
    assert_eq!(
        invalid(roster::move_grid(&mut d, &unknown, "g1")),
        ValidationError::UnknownMember("m-99".into())
    );

    let mut private = doc(1);
    let rec = PrivateRecord {
        real_name: "张三".into(),
        phone: "+86 138-0000-0000".into(),
        id_number: None,
    };
    roster_private::put(&mut private, &id, &rec).unwrap();
    assert_eq!(roster_private::get(&private, &id).unwrap(), Some(rec));
    let bad = PrivateRecord {
        real_name: "x".into(),
        phone: "call me".into(),
        id_number: None,
    };
    assert!(roster_private::put(&mut private, &id, &bad).is_err());
}

fn task(id: &str, lease: i64) -> NewTask {
    NewTask {
        id: id.parse().unwrap(),
        title: "patrol the night market".into(),
        description: None,
        points: 10,
        lease_minutes: lease,
        posted_at: t0(),
        posted_by: "node".into(),
    }
}

#[test]
fn task_leases_refuse_second_claims_and_expire() {
    let mut roster_doc = doc(1);
    let a = active_member(&mut roster_doc, "m-a");
    let b = active_member(&mut roster_doc, "m-b");
    let mut d = doc(1);
    tasks::post(&mut d, &task("t1", 30)).unwrap();
    let id = "t1".parse().unwrap();
    tasks::claim(&mut d, &id, &"c1".parse().unwrap(), &a, t0()).unwrap();
    let e = invalid(tasks::claim(
        &mut d,
        &id,
        &"c2".parse().unwrap(),
        &b,
        t0() + Duration::minutes(10),
    ));
    assert!(e.to_string().contains("claimed by m-a"), "{e}");
    // b completing a's task is refused; after the lease runs out a's completion is refused too.
    assert!(tasks::complete(&mut d, &id, &b.id, t0() + Duration::minutes(5), None).is_err());
    let late = t0() + Duration::minutes(31);
    let e = invalid(tasks::complete(&mut d, &id, &a.id, late, None));
    assert!(e.to_string().contains("expired"), "{e}");
    tasks::claim(&mut d, &id, &"c3".parse().unwrap(), &b, late).unwrap();
    tasks::complete(
        &mut d,
        &id,
        &b.id,
        late + Duration::minutes(1),
        Some("done"),
    )
    .unwrap();
    let t = tasks::sign_off(&mut d, &id, "node", late + Duration::minutes(2)).unwrap();
    assert_eq!(t.status(late + Duration::minutes(3)), TaskStatus::SignedOff);
    assert_eq!(t.valid_completion().unwrap().member, b.id);
    assert!(tasks::sign_off(&mut d, &id, "node", late + Duration::minutes(4)).is_err());
}

#[test]
fn concurrent_claims_pick_the_same_winner_everywhere() {
    let mut roster_doc = doc(1);
    let a = active_member(&mut roster_doc, "m-a");
    let b = active_member(&mut roster_doc, "m-b");
    let mut one = doc(1);
    tasks::post(&mut one, &task("t1", 60)).unwrap();
    let mut two = one
        .fork()
        .with_actor(automerge::ActorId::from(vec![2u8; 16]));
    let id = "t1".parse().unwrap();
    tasks::claim(
        &mut two,
        &id,
        &"cb".parse().unwrap(),
        &b,
        t0() + Duration::minutes(2),
    )
    .unwrap();
    tasks::claim(
        &mut one,
        &id,
        &"ca".parse().unwrap(),
        &a,
        t0() + Duration::minutes(3),
    )
    .unwrap();
    one.merge(&mut two).unwrap();
    two.merge(&mut one).unwrap();
    let now = t0() + Duration::minutes(4);
    for d in [&one, &two] {
        let t = tasks::get(d, &id).unwrap().unwrap();
        assert_eq!(
            t.holder(now).unwrap().member,
            b.id,
            "the earlier claim wins"
        );
    }
}

fn entry(id: &str, member: &MemberId, amount: i64, kind: EntryKind) -> Entry {
    Entry {
        id: id.parse().unwrap(),
        member: member.clone(),
        amount,
        kind,
        at: t0(),
        by: "node".into(),
        reason: Some("test".into()),
        reference: None,
        redeemed_at: None,
        item: None,
    }
}

#[test]
fn ledger_refuses_overdraft_and_non_positive_amounts() {
    let mut roster_doc = doc(1);
    let m = active_member(&mut roster_doc, "m-a");
    let mut d = doc(1);
    ledger::credit(&mut d, &m, &entry("e1", &m.id, 10, EntryKind::Report)).unwrap();
    assert_eq!(
        invalid(ledger::credit(
            &mut d,
            &m,
            &entry("e2", &m.id, 0, EntryKind::Patrol)
        )),
        ValidationError::NonPositiveAmount(0)
    );
    let heads = d.get_heads();
    let e = invalid(ledger::redeem(
        &mut d,
        &"r1".parse().unwrap(),
        &m,
        11,
        "station-1",
        "lunch",
        t0(),
        "node",
    ));
    assert_eq!(
        e,
        ValidationError::Overdraw {
            member: "m-a".into(),
            balance: 10,
            needed: 11
        }
    );
    assert_eq!(d.get_heads(), heads);
    let later = t0() + Duration::minutes(30);
    ledger::redeem(
        &mut d,
        &"r2".parse().unwrap(),
        &m,
        8,
        "station-1",
        "lunch",
        later,
        "node",
    )
    .unwrap();
    let mut fix = entry("c1", &m.id, -3, EntryKind::Correction);
    fix.at = later + Duration::minutes(1);
    fix.reference = Some("e1".into());
    assert!(matches!(
        invalid(ledger::correct(&mut d, &m, &fix)),
        ValidationError::Overdraw { .. }
    ));
    fix.amount = -2;
    ledger::correct(&mut d, &m, &fix).unwrap();
    assert_eq!(ledger::balance(&d, &m.id).unwrap(), 0);
    let st = ledger::statement(&d, &m.id).unwrap();
    assert_eq!(
        st.iter().map(|e| e.amount).collect::<Vec<_>>(),
        vec![10, -8, -2]
    );
    let mut next = doc(1);
    let carried = BTreeMap::from([(m.id.clone(), 5)]);
    ledger::open_year(&mut next, &carried, t0(), "node").unwrap();
    assert!(ledger::open_year(&mut next, &carried, t0(), "node").is_err());
    assert_eq!(ledger::balance(&next, &m.id).unwrap(), 5);
}

#[test]
fn directory_holds_stations_and_merchants() {
    let mut d = doc(1);
    let (opens, closes) = directory::parse_hours("08:00-21:00").unwrap();
    assert!(directory::parse_hours("8am to 9pm").is_err());
    let s = Station {
        id: "warm-1".parse().unwrap(),
        name: "暖新驿站 1".into(),
        point: LatLon::new(39.2, 116.5).unwrap(),
        address: None,
        opens,
        closes,
        services: vec![Service::Water, Service::Charging],
        maintenance: vec![],
    };
    directory::add_station(&mut d, &s).unwrap();
    directory::log_maintenance(
        &mut d,
        &s.id,
        &Maintenance {
            at: t0(),
            note: "weekly check".into(),
            by: "node".into(),
        },
    )
    .unwrap();
    let back = &directory::list_stations(&d).unwrap()[0];
    assert_eq!(back.services, s.services);
    assert_eq!(back.maintenance.len(), 1);
    assert_eq!(back.opens.to_string(), "08:00:00");
    let m = Merchant {
        id: "noodles".parse().unwrap(),
        name: "Noodle shop".into(),
        address: None,
        rewards: BTreeMap::from([("lunch".into(), 20)]),
    };
    directory::add_merchant(&mut d, &m).unwrap();
    assert_eq!(directory::list_merchants(&d).unwrap(), vec![m]);
}

#[test]
fn statistics_count_and_rate() {
    use PlaceLevel::Community as C;
    let mut d = doc(1);
    let place = PlaceId::parse("guandu/yiliu/xinyazhou").unwrap();
    for n in 0..4 {
        report::submit(&mut d, &new_report(n, Category::ManholeCover, t0())).unwrap();
    }
    let ids: Vec<_> = report::list(&d)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    report::record_event(
        &mut d,
        &ids[0],
        &event(
            "a1",
            1,
            C,
            EventKind::Void {
                reason: VoidReason::Duplicate,
            },
        ),
    )
    .unwrap();
    for (i, close_at) in [(1, 60), (2, 60 * 30)] {
        let due = t0() + Duration::hours(24);
        report::record_event(
            &mut d,
            &ids[i],
            &event(&format!("v{i}"), 1, C, EventKind::Verify),
        )
        .unwrap();
        report::record_event(
            &mut d,
            &ids[i],
            &event(
                &format!("d{i}"),
                2,
                C,
                EventKind::Dispatch {
                    to: "crew".into(),
                    due,
                },
            ),
        )
        .unwrap();
        report::record_event(
            &mut d,
            &ids[i],
            &event(&format!("h{i}"), 3, C, EventKind::Handle { photo: None }),
        )
        .unwrap();
        let close = event(
            &format!("c{i}"),
            close_at,
            C,
            EventKind::Close {
                reason: CloseReason::Fixed,
            },
        );
        report::record_event(&mut d, &ids[i], &close).unwrap();
    }
    let all = report::list(&d).unwrap();
    let now = t0() + Duration::hours(48);
    let s = Stats::compute(
        all.iter().map(|r| (&place, r)),
        &StatsFilter::default(),
        now,
    );
    assert_eq!(s.total, 4);
    assert_eq!((s.open, s.closed, s.voided, s.overdue), (1, 2, 1, 1));
    assert_eq!(s.closure_rate(), Some(2.0 / 3.0));
    assert_eq!(s.on_time_closure_rate(), Some(0.5));
    assert_eq!(s.by_status["closed"], 2);
    assert_eq!(s.by_month["2026-11"], 4);
    let other = PlaceId::parse("guandu/yiliu/guanshuo").unwrap();
    let only_other = StatsFilter {
        place: Some(other),
        ..Default::default()
    };
    assert_eq!(
        Stats::compute(all.iter().map(|r| (&place, r)), &only_other, now).total,
        0
    );
    let mut merged = s.clone();
    merged.merge(&s);
    assert_eq!(merged.total, 8);
    assert_eq!(merged.closure_rate(), s.closure_rate());
}
