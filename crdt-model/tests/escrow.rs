//! Property tests of escrow at stations: a community and two stations write
//! grants, redemptions and returns on their own replicas of one ledger and
//! merge in any order; no replica ever shows a negative balance or a negative
//! escrow, and once all have merged every replica holds exactly the station
//! redemptions their writers made, each once.

mod common;

use std::collections::BTreeSet;

use automerge::AutoCommit;
use chrono::Duration;
use common::*;
use crdt_model::escrow::{self, EscrowKind};
use crdt_model::ids::EntryId;
use crdt_model::ledger::{self, Entry, EntryKind};
use crdt_model::roster::Member;
use proptest::prelude::*;

/// Replica 0 is the community; 1 and 2 are stations.
const REPLICAS: usize = 3;
const MEMBERS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Earn {
        member: usize,
        points: i64,
    },
    Redeem {
        member: usize,
        points: i64,
    },
    Grant {
        member: usize,
        station: usize,
        points: i64,
    },
    StationRedeem {
        station: usize,
        member: usize,
        points: i64,
    },
    StationReturn {
        station: usize,
        member: usize,
        points: i64,
    },
    Merge {
        into: usize,
        from: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let m = 0..MEMBERS;
    let s = 1..REPLICAS;
    prop_oneof![
        2 => (m.clone(), 1..20i64).prop_map(|(member, points)| Op::Earn { member, points }),
        1 => (m.clone(), 1..15i64).prop_map(|(member, points)| Op::Redeem { member, points }),
        3 => (m.clone(), s.clone(), 1..15i64)
            .prop_map(|(member, station, points)| Op::Grant { member, station, points }),
        4 => (s.clone(), m.clone(), 1..10i64)
            .prop_map(|(station, member, points)| Op::StationRedeem { station, member, points }),
        1 => (s, m, 1..10i64)
            .prop_map(|(station, member, points)| Op::StationReturn { station, member, points }),
        4 => (0..REPLICAS, 0..REPLICAS).prop_map(|(into, from)| Op::Merge { into, from }),
    ]
}

fn writer(replica: usize) -> String {
    if replica == 0 {
        "community".into()
    } else {
        format!("station-{replica}")
    }
}

struct World {
    ledgers: Vec<AutoCommit>,
    members: Vec<Member>,
    next: u32,
    /// Station redemptions their writers made.
    redeemed: BTreeSet<String>,
}

impl World {
    fn new() -> World {
        let mut roster = doc(9);
        let members = (0..MEMBERS)
            .map(|i| active_member(&mut roster, &format!("m-{i}")))
            .collect();
        World {
            ledgers: (0..REPLICAS).map(|i| doc(i as u8 + 1)).collect(),
            members,
            next: 0,
            redeemed: BTreeSet::new(),
        }
    }

    fn id(&mut self, replica: usize) -> EntryId {
        self.next += 1;
        EntryId::parse(&format!("{}-{}", writer(replica), self.next)).unwrap()
    }

    /// Applies one operation the way an honest node would: through the model's
    /// checked write functions, on the writer's own replica. Refusals are fine.
    fn apply(&mut self, op: &Op) {
        let at = t0() + Duration::minutes(i64::from(self.next));
        match *op {
            Op::Earn { member, points } => {
                let id = self.id(0);
                let e = Entry {
                    id,
                    member: self.members[member].id.clone(),
                    amount: points,
                    kind: EntryKind::Patrol,
                    at,
                    by: writer(0),
                    reason: None,
                    reference: None,
                    redeemed_at: None,
                    item: None,
                };
                ledger::credit(&mut self.ledgers[0], &self.members[member], &e).unwrap();
            }
            Op::Redeem { member, points } => {
                let id = self.id(0);
                let m = self.members[member].clone();
                let _ = ledger::redeem(
                    &mut self.ledgers[0],
                    &id,
                    &m,
                    points,
                    "office",
                    "meal",
                    at,
                    &writer(0),
                );
            }
            Op::Grant {
                member,
                station,
                points,
            } => {
                let id = self.id(0);
                let m = self.members[member].clone();
                let _ = escrow::grant(
                    &mut self.ledgers[0],
                    &id,
                    &m,
                    &writer(station),
                    points,
                    at,
                    &writer(0),
                );
            }
            Op::StationRedeem {
                station,
                member,
                points,
            }
            | Op::StationReturn {
                station,
                member,
                points,
            } => {
                let id = self.id(station);
                let item = matches!(op, Op::StationRedeem { .. }).then_some("meal");
                let m = self.members[member].id.clone();
                let done = escrow::station_move(
                    &mut self.ledgers[station],
                    &id,
                    &m,
                    points,
                    item,
                    at,
                    &writer(station),
                );
                if done.is_ok() && item.is_some() {
                    self.redeemed.insert(id.to_string());
                }
            }
            Op::Merge { into, from } if into != from => {
                // Commit first: a clone would otherwise commit the pending
                // operations itself, as a second change with the same seq.
                self.ledgers[from].commit();
                let mut other = self.ledgers[from].clone();
                self.ledgers[into].merge(&mut other).unwrap();
            }
            Op::Merge { .. } => {}
        }
    }
}

/// No negative balance and no negative escrow on `d`.
fn bounded(d: &AutoCommit) -> Result<(), TestCaseError> {
    for (m, b) in ledger::balances(d).unwrap() {
        prop_assert!(b >= 0, "{m} has balance {b}");
    }
    for ((s, m), h) in escrow::holdings(&escrow::list(d).unwrap()) {
        prop_assert!(h >= 0, "{s} holds {h} for {m}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn escrow_never_overspends_under_any_merge_order(
        ops in proptest::collection::vec(op(), 1..80),
        order in Just((0..REPLICAS).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let mut w = World::new();
        for op in &ops {
            w.apply(op);
            for d in &w.ledgers {
                bounded(d)?;
            }
        }
        // Heal: everyone merges everyone, in a random order.
        for &into in &order {
            for &from in &order {
                w.apply(&Op::Merge { into, from });
            }
        }
        for &into in &order {
            w.apply(&Op::Merge { into, from: order[0] });
        }
        let views: Vec<_> = w.ledgers.iter().map(|d| ledger::balances(d).unwrap()).collect();
        prop_assert!(views.windows(2).all(|p| p[0] == p[1]), "replicas disagree: {views:?}");
        for d in &w.ledgers {
            bounded(d)?;
            let held: BTreeSet<String> = escrow::list(d)
                .unwrap()
                .into_iter()
                .filter(|m| m.kind == EscrowKind::Redeem)
                .map(|m| m.id.to_string())
                .collect();
            prop_assert_eq!(&held, &w.redeemed, "station redemptions differ from those written");
        }
    }

    /// Hostile stations: a station that skips its own bound check (writes a
    /// move past its escrow) is what the check exists to stop; the honest
    /// write function refuses the same move.
    #[test]
    fn station_move_past_its_escrow_is_refused(granted in 1..50i64, extra in 1..50i64) {
        let mut w = World::new();
        w.apply(&Op::Earn { member: 0, points: 19 });
        w.apply(&Op::Earn { member: 0, points: 19 });
        w.apply(&Op::Earn { member: 0, points: 19 });
        let m = w.members[0].clone();
        let g = EntryId::parse("g").unwrap();
        let granted = granted.min(57);
        escrow::grant(&mut w.ledgers[0], &g, &m, "station-1", granted, t0(), "community").unwrap();
        let mut station = w.ledgers[0].clone();
        let r = EntryId::parse("r").unwrap();
        let res = escrow::station_move(&mut station, &r, &m.id, granted + extra, Some("meal"), t0(), "station-1");
        prop_assert!(res.is_err());
        prop_assert_eq!(escrow::held(&station, "station-1", &m.id).unwrap(), granted);
    }
}
