//! Property tests: replicas that edit concurrently and merge in any order end
//! with identical documents and identical derived views, and no balance goes
//! negative through the public API.

mod common;

use automerge::{ActorId, AutoCommit};
use chrono::Duration;
use common::*;
use crdt_model::ledger::{self, Entry, EntryKind};
use crdt_model::report::{self, CloseReason, EventKind, VoidReason};
use crdt_model::roster::Member;
use crdt_model::tasks::{self, NewTask};
use crdt_model::{Category, EventId, PlaceLevel};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Submit {
        category: usize,
    },
    Event {
        report: usize,
        kind: usize,
        street: bool,
    },
    Credit {
        member: usize,
        points: i64,
    },
    Redeem {
        member: usize,
        points: i64,
    },
    Claim {
        task: usize,
        member: usize,
    },
    Complete {
        task: usize,
        member: usize,
    },
    Merge {
        from: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..Category::ALL.len()).prop_map(|category| Op::Submit { category }),
        6 => (0..8usize, 0..10usize, any::<bool>()).prop_map(|(report, kind, street)| Op::Event { report, kind, street }),
        2 => (0..3usize, 1..20i64).prop_map(|(member, points)| Op::Credit { member, points }),
        2 => (0..3usize, 1..30i64).prop_map(|(member, points)| Op::Redeem { member, points }),
        2 => (0..2usize, 0..3usize).prop_map(|(task, member)| Op::Claim { task, member }),
        1 => (0..2usize, 0..3usize).prop_map(|(task, member)| Op::Complete { task, member }),
        2 => (0..4usize).prop_map(|from| Op::Merge { from }),
    ]
}

/// One replica: a reports, a ledger and a tasks document.
struct Replica {
    reports: AutoCommit,
    ledger: AutoCommit,
    tasks: AutoCommit,
}

impl Replica {
    fn fork(base: &mut Replica, actor: u8) -> Replica {
        let a = |k: u8| ActorId::from(vec![actor, k, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        Replica {
            reports: base.reports.fork().with_actor(a(1)),
            ledger: base.ledger.fork().with_actor(a(2)),
            tasks: base.tasks.fork().with_actor(a(3)),
        }
    }

    fn merge_from(&mut self, other: &mut Replica) {
        self.reports.merge(&mut other.reports).unwrap();
        self.ledger.merge(&mut other.ledger).unwrap();
        self.tasks.merge(&mut other.tasks).unwrap();
    }

    /// Everything a user could see, derived.
    fn views(&mut self) -> String {
        let reports: Vec<_> = report::list(&self.reports)
            .unwrap()
            .into_iter()
            .map(|r| (r.state(), r))
            .collect();
        let balances = ledger::balances(&self.ledger).unwrap();
        let now = t0() + Duration::days(1);
        let tasks: Vec<_> = tasks::list(&self.tasks)
            .unwrap()
            .into_iter()
            .map(|t| {
                (
                    t.status(now),
                    t.holder(t0() + Duration::minutes(30)).cloned(),
                    t,
                )
            })
            .collect();
        format!("{reports:?}\n{balances:?}\n{tasks:?}")
    }
}

fn event_kind(i: usize) -> EventKind {
    let due = t0() + Duration::days(3);
    match i {
        0 => EventKind::Verify,
        1 => EventKind::Void {
            reason: VoidReason::Duplicate,
        },
        2 => EventKind::Dispatch {
            to: "crew".into(),
            due,
        },
        3 => EventKind::Handle { photo: None },
        4 => EventKind::Escalate,
        5 => EventKind::Accept,
        6 => EventKind::Close {
            reason: CloseReason::Fixed,
        },
        7 => EventKind::Reopen,
        8 => EventKind::Close {
            reason: CloseReason::NoFurtherAction,
        },
        _ => EventKind::Confirm { member: None },
    }
}

fn setup(n: usize) -> (Vec<Replica>, Vec<Member>) {
    let mut roster_doc = doc(9);
    let members: Vec<Member> = (0..3)
        .map(|i| active_member(&mut roster_doc, &format!("m-{i}")))
        .collect();
    let mut base = Replica {
        reports: doc(0),
        ledger: doc(0),
        tasks: doc(0),
    };
    for t in 0..2 {
        tasks::post(
            &mut base.tasks,
            &NewTask {
                id: format!("t{t}").parse().unwrap(),
                title: "patrol".into(),
                description: None,
                points: 5,
                lease_minutes: 20,
                posted_at: t0(),
                posted_by: "base".into(),
            },
        )
        .unwrap();
    }
    let replicas = (0..n)
        .map(|i| Replica::fork(&mut base, i as u8 + 1))
        .collect();
    (replicas, members)
}

fn apply(replicas: &mut [Replica], members: &[Member], who: usize, op: &Op, step: u32) {
    let at = t0() + Duration::minutes(i64::from(step));
    let by = format!("node-{who}");
    // Refusals are part of the game: the API validates and writes nothing.
    match op {
        Op::Submit { category } => {
            let mut r = new_report(step * 10 + who as u32, Category::ALL[*category], at);
            r.submitted_at = at;
            let _ = report::submit(&mut replicas[who].reports, &r);
        }
        Op::Event {
            report: idx,
            kind,
            street,
        } => {
            let list = report::list(&replicas[who].reports).unwrap();
            if let Some(r) = list.get(idx % list.len().max(1)) {
                let last = r.events.last().map(|e| e.at).unwrap_or(r.submitted_at);
                let ev = report::ReportEvent {
                    id: EventId::parse(&format!("e{step}-{who}")).unwrap(),
                    at: at.max(last),
                    by,
                    by_level: if *street {
                        PlaceLevel::Street
                    } else {
                        PlaceLevel::Community
                    },
                    note: None,
                    kind: event_kind(*kind),
                };
                let _ = report::record_event(&mut replicas[who].reports, &r.id, &ev);
            }
        }
        Op::Credit { member, points } => {
            let m = &members[*member];
            let e = Entry {
                id: format!("c{step}-{who}").parse().unwrap(),
                member: m.id.clone(),
                amount: *points,
                kind: EntryKind::Patrol,
                at,
                by,
                reason: None,
                reference: None,
                redeemed_at: None,
                item: None,
            };
            let _ = ledger::credit(&mut replicas[who].ledger, m, &e);
        }
        Op::Redeem { member, points } => {
            // Debits are written only by the member's home community: replica 0.
            let id = format!("r{step}").parse().unwrap();
            let _ = ledger::redeem(
                &mut replicas[0].ledger,
                &id,
                &members[*member],
                *points,
                "station",
                "lunch",
                at,
                "node-0",
            );
        }
        Op::Claim { task, member } => {
            let id = format!("t{task}").parse().unwrap();
            let claim = format!("k{step}-{who}").parse().unwrap();
            let _ = tasks::claim(&mut replicas[who].tasks, &id, &claim, &members[*member], at);
        }
        Op::Complete { task, member } => {
            let id = format!("t{task}").parse().unwrap();
            let _ = tasks::complete(
                &mut replicas[who].tasks,
                &id,
                &members[*member].id,
                at,
                None,
            );
        }
        Op::Merge { from } => {
            let from = from % replicas.len();
            if from != who {
                let (a, b) = if from < who {
                    let (l, r) = replicas.split_at_mut(who);
                    (&mut r[0], &mut l[from])
                } else {
                    let (l, r) = replicas.split_at_mut(from);
                    (&mut l[who], &mut r[0])
                };
                a.merge_from(b);
            }
        }
    }
}

fn assert_no_negative_balance(r: &Replica) {
    for (m, b) in ledger::balances(&r.ledger).unwrap() {
        assert!(b >= 0, "member {m} has balance {b}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_whatever_the_merge_order(
        n in 2..=4usize,
        ops in prop::collection::vec((0..4usize, op()), 1..60),
        order in Just(()).prop_perturb(|_, mut rng| {
            let mut v: Vec<usize> = (0..4).collect();
            for i in (1..v.len()).rev() {
                v.swap(i, rng.random_range(0..=i));
            }
            v
        }),
    ) {
        let (mut replicas, members) = setup(n);
        for (step, (who, op)) in ops.iter().enumerate() {
            apply(&mut replicas, &members, who % n, op, step as u32 + 1);
            for r in &replicas {
                assert_no_negative_balance(r);
            }
        }
        // Gather everything into one replica in a random order, then spread it back.
        let order: Vec<usize> = order.into_iter().filter(|i| *i < n).collect();
        let hub = order[0];
        for &i in &order[1..] {
            let (a, b) = if i < hub { let (l, r) = replicas.split_at_mut(hub); (&mut r[0], &mut l[i]) } else { let (l, r) = replicas.split_at_mut(i); (&mut l[hub], &mut r[0]) };
            a.merge_from(b);
        }
        for &i in order[1..].iter().rev() {
            let (a, b) = if i < hub { let (l, r) = replicas.split_at_mut(hub); (&mut l[i], &mut r[0]) } else { let (l, r) = replicas.split_at_mut(i); (&mut r[0], &mut l[hub]) };
            a.merge_from(b);
        }
        let first_heads = (replicas[0].reports.get_heads(), replicas[0].ledger.get_heads(), replicas[0].tasks.get_heads());
        let first_views = replicas[0].views();
        for r in replicas.iter_mut().skip(1) {
            prop_assert_eq!(&(r.reports.get_heads(), r.ledger.get_heads(), r.tasks.get_heads()), &first_heads);
            prop_assert_eq!(&r.views(), &first_views);
            assert_no_negative_balance(r);
        }
    }

    #[test]
    fn no_sequence_of_ledger_calls_overdraws(
        calls in prop::collection::vec((0..3usize, -40..40i64, 0..3u8), 1..80),
    ) {
        let (_, members) = setup(1);
        let mut d = doc(1);
        for (i, (m, amount, kind)) in calls.iter().enumerate() {
            let member = &members[*m];
            let at = t0() + Duration::minutes(i as i64);
            let id = format!("x{i}").parse().unwrap();
            let _ = match kind {
                0 => ledger::credit(&mut d, member, &Entry { id, member: member.id.clone(), amount: *amount, kind: EntryKind::Report, at, by: "n".into(), reason: None, reference: None, redeemed_at: None, item: None }),
                1 => ledger::redeem(&mut d, &id, member, *amount, "station", "water", at, "n").map(|_| ()),
                _ => ledger::correct(&mut d, member, &Entry { id, member: member.id.clone(), amount: *amount, kind: EntryKind::Correction, at, by: "n".into(), reason: Some("fix".into()), reference: None, redeemed_at: None, item: None }),
            };
            for (who, b) in ledger::balances(&d).unwrap() {
                prop_assert!(b >= 0, "{} went to {}", who, b);
            }
        }
    }
}
