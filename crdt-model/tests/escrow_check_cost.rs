//! What the receive-side escrow check costs on a year's ledger, read in place
//! at the change's hash (as `check_ledger_change` does) against a fork of the
//! ledger at that hash (as it did before), in the same run. Ignored: it
//! prints figures for docs/benchmarks.md rather than checking behaviour.
//!
//! cargo test -p crdt-model --test escrow_check_cost -- --ignored --nocapture
//!
//! (The debug profile builds Automerge at opt-level 3; crdt-model itself
//! runs unoptimised, so both columns carry the same overhead.)

use std::time::{Duration, Instant};

use automerge::{ActorId, AutoCommit, Change};
use chrono::{TimeZone, Utc};
use crdt_model::escrow;
use crdt_model::escrow_rules::check_ledger_change;
use crdt_model::ids::{EntryId, MemberId};
use crdt_model::ledger::{self, Entry, EntryKind};
use crdt_model::roster::{Member, MemberKind, MemberStatus};

const COMMUNITY: &str = "community";
const STATION: &str = "station";
const REPS: u32 = 20;

fn member(i: usize) -> Member {
    Member {
        id: MemberId::parse(&format!("m-{i}")).unwrap(),
        display_name: "rider".into(),
        kind: MemberKind::Rider,
        platform: None,
        grid: None,
        roles: vec![],
        status: MemberStatus::Active,
        applied_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        left_at: None,
        certificate: None,
        training: vec![],
    }
}

/// A ledger of `n` credits and `n` grants to the station (one change each,
/// over 50 members), and the station's redemption change on top of it.
fn ledger(n: usize) -> (AutoCommit, Change) {
    let at = Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap();
    let mut c = AutoCommit::new().with_actor(ActorId::from(vec![1; 32]));
    for i in 0..n {
        let m = member(i % 50);
        let e = Entry {
            id: EntryId::parse(&format!("e-{i}")).unwrap(),
            member: m.id.clone(),
            amount: 3,
            kind: EntryKind::Patrol,
            at,
            by: COMMUNITY.into(),
            reason: None,
            reference: None,
            redeemed_at: None,
            item: None,
        };
        ledger::credit(&mut c, &m, &e).unwrap();
        c.commit();
        let g = EntryId::parse(&format!("g-{i}")).unwrap();
        escrow::grant(&mut c, &g, &m, STATION, 1, at, COMMUNITY).unwrap();
        c.commit();
    }
    let mut s = c.fork().with_actor(ActorId::from(vec![2; 32]));
    let r = EntryId::parse("r-0").unwrap();
    escrow::station_move(&mut s, &r, &member(0).id, 1, Some("meal"), at, STATION).unwrap();
    s.commit();
    let change = s.get_last_local_change().unwrap().clone();
    (s, change)
}

/// The old way: copy the ledger, fork it at the change, read the fork.
fn by_fork(doc: &AutoCommit, change: &Change) -> i64 {
    let mut copy = doc.clone();
    let at = copy.fork_at(&[change.hash()]).unwrap();
    escrow::held(&at, STATION, &member(0).id).unwrap()
}

fn mean(f: impl Fn()) -> Duration {
    f();
    let start = Instant::now();
    for _ in 0..REPS {
        f();
    }
    start.elapsed() / REPS
}

#[test]
#[ignore = "prints figures for docs/benchmarks.md: --ignored --nocapture"]
fn escrow_check_reads_in_place_rather_than_forking() {
    eprintln!("| moves + entries | check in place | fork and read | ratio |");
    eprintln!("| --- | --- | --- | --- |");
    for n in [500, 2_500] {
        let (doc, change) = ledger(n);
        assert_eq!(by_fork(&doc, &change), n as i64 / 50 - 1);
        let in_place = mean(|| {
            check_ledger_change(&doc, &change, STATION, true).unwrap();
        });
        let forked = mean(|| {
            by_fork(&doc, &change);
        });
        eprintln!(
            "| {} | {:.1} ms | {:.1} ms | {:.1}× |",
            2 * n,
            in_place.as_secs_f64() * 1e3,
            forked.as_secs_f64() * 1e3,
            forked.as_secs_f64() / in_place.as_secs_f64()
        );
    }
}
