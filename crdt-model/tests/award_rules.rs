//! The facts rule-based points rest on: whether a report was verified, and
//! whether a reference was already credited.

mod common;

use common::*;
use crdt_model::ledger::{self, Entry, EntryKind};
use crdt_model::report::{self, EventKind, VoidReason};
use crdt_model::{Category, PlaceLevel, ReportId};

fn report_with(events: &[(&str, i64, PlaceLevel, EventKind)]) -> report::Report {
    let mut d = doc(1);
    let r = new_report(1, Category::ManholeCover, t0());
    report::submit(&mut d, &r).unwrap();
    for (id, minutes, level, kind) in events {
        report::record_event(&mut d, &r.id, &event(id, *minutes, *level, kind.clone())).unwrap();
    }
    report::get(&d, &r.id).unwrap().unwrap()
}

#[test]
fn a_report_counts_as_verified_once_the_fold_took_its_verification() {
    use PlaceLevel::Community;
    assert!(!report_with(&[]).was_verified());
    assert!(report_with(&[("e1", 1, Community, EventKind::Verify)]).was_verified());
    // Verified, then worked on and closed: still a verified report.
    let closed = report_with(&[
        ("e1", 1, Community, EventKind::Verify),
        ("e2", 2, Community, EventKind::Escalate),
        (
            "e3",
            3,
            Community,
            EventKind::Close {
                reason: report::CloseReason::NoFurtherAction,
            },
        ),
    ]);
    assert!(closed.was_verified());
    // Verified, then found to be a duplicate and voided: no longer.
    let voided = report_with(&[
        ("e1", 1, Community, EventKind::Verify),
        (
            "e2",
            2,
            Community,
            EventKind::Void {
                reason: VoidReason::Duplicate,
            },
        ),
    ]);
    assert!(!voided.was_verified());
}

#[test]
fn a_verification_the_fold_skipped_does_not_count() {
    // A street's verify (merged from a replica) is skipped by the fold on every node.
    let mut r = report_with(&[]);
    let street_verify = event("e1", 1, PlaceLevel::Street, EventKind::Verify);
    r.events.push(street_verify.clone());
    assert_eq!(r.state().skipped, vec![street_verify.id]);
    assert!(!r.was_verified());
}

#[test]
fn credits_are_found_by_kind_and_reference() {
    let mut roster_doc = doc(1);
    let a = active_member(&mut roster_doc, "m-a");
    let mut d = doc(2);
    let rid = ReportId::new(t0(), 7).to_string();
    let credit = |id: &str, kind: EntryKind, reference: Option<&str>| Entry {
        id: id.parse().unwrap(),
        member: a.id.clone(),
        amount: 5,
        kind,
        at: t0(),
        by: "node".into(),
        reason: None,
        reference: reference.map(str::to_owned),
        redeemed_at: None,
        item: None,
    };
    ledger::credit(&mut d, &a, &credit("e1", EntryKind::Report, Some(&rid))).unwrap();
    ledger::credit(&mut d, &a, &credit("e2", EntryKind::Patrol, None)).unwrap();
    let entries = ledger::list(&d).unwrap();
    assert_eq!(
        ledger::credited_for(&entries, EntryKind::Report, &rid).map(|e| e.id.to_string()),
        Some("e1".to_owned())
    );
    assert!(ledger::credited_for(&entries, EntryKind::Task, &rid).is_none());
    assert!(ledger::credited_for(&entries, EntryKind::Report, "202611-00000000").is_none());
}
