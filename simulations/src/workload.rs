//! What people do at the nodes: riders report hazards, communities take
//! cases through their lifecycle, escalate some to the street, post and
//! claim tasks, credit and redeem points; streets accept escalated cases.
//! Every write goes through the real model functions and is signed.

use chrono::Duration;
use crdt_model::ids::{ClaimId, EntryId, TaskId};
use crdt_model::ledger::{self, Entry, EntryKind};
use crdt_model::report::{self, CloseReason, EventKind, NewReport, ReportEvent, VoidReason};
use crdt_model::roster::{self, MemberKind, MemberStatus, NewMember};
use crdt_model::roster_private::{self, PrivateRecord};
use crdt_model::tasks::{self, NewTask};
use crdt_model::{
    Category, DocKind, DocumentId, EventId, LatLon, Location, PlaceLevel, ReportId, Status,
};
use rand::Rng;

use crate::scenario::Workload;
use crate::sim::{Event, Sim, exp_ms};

/// One thing a person does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// A community sets up its roster and private records.
    Setup {
        /// The community.
        node: usize,
    },
    /// A rider submits a report at a random community.
    Report,
    /// A community takes a lifecycle step on one of its cases.
    Step,
    /// A community posts or a rider claims a task.
    Task,
    /// A community credits or redeems points.
    Points,
    /// A community grants a station escrow, or a station redeems or returns.
    Escrow,
    /// A street accepts, dispatches and handles escalated cases.
    StreetRound {
        /// The street.
        node: usize,
    },
}

/// The workload of a run: rates and when it stops.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Rates.
    pub workload: Workload,
    /// No act is scheduled at or after this time (ms).
    pub end_ms: u64,
}

/// Schedules the setup of every community and the first of every act.
pub fn start(sim: &mut Sim, plan: &Plan) {
    for node in communities(sim) {
        sim.schedule(0, Event::Act(Act::Setup { node }));
    }
    for act in [Act::Report, Act::Step, Act::Task, Act::Points, Act::Escrow] {
        schedule_next(sim, plan, act);
    }
    for node in 0..sim.nodes.len() {
        if sim.nodes[node].id.role == node::Role::Street {
            schedule_next(sim, plan, Act::StreetRound { node });
        }
    }
}

fn rate(w: &Workload, act: Act) -> f64 {
    match act {
        Act::Setup { .. } => 0.0,
        Act::Report => w.reports_per_hour,
        Act::Step => w.steps_per_hour,
        Act::Task => w.tasks_per_hour,
        Act::Points => w.points_per_hour,
        Act::Escrow => w.escrow_per_hour,
        Act::StreetRound { .. } => w.street_rounds_per_hour,
    }
}

fn schedule_next(sim: &mut Sim, plan: &Plan, act: Act) {
    let at = sim
        .now
        .saturating_add(exp_ms(&mut sim.rng, rate(&plan.workload, act)));
    if at < plan.end_ms {
        sim.schedule(at, Event::Act(act));
    }
}

fn communities(sim: &Sim) -> Vec<usize> {
    (0..sim.nodes.len())
        .filter(|&i| sim.nodes[i].id.role == node::Role::Community)
        .collect()
}

fn random_community(sim: &mut Sim) -> usize {
    let cs = communities(sim);
    cs[sim.rng.random_range(0..cs.len())]
}

fn short_id(sim: &mut Sim, prefix: &str) -> String {
    format!("{prefix}-{:08x}", sim.rng.random::<u32>())
}

/// Does `act` now and schedules the next one of its kind.
pub fn act(sim: &mut Sim, act: Act) {
    let Some(plan) = sim.plan.clone() else {
        return;
    };
    match act {
        Act::Setup { node } => setup(sim, node),
        Act::Report => {
            let c = random_community(sim);
            submit(sim, c);
        }
        Act::Step => {
            let c = random_community(sim);
            step(sim, c);
        }
        Act::Task => {
            let c = random_community(sim);
            task(sim, c);
        }
        Act::Points => {
            let c = random_community(sim);
            points(sim, c);
        }
        Act::Escrow => crate::escrow::act(sim),
        Act::StreetRound { node } => street_round(sim, node),
    }
    if !matches!(act, Act::Setup { .. }) {
        schedule_next(sim, &plan, act);
    }
}

fn doc(sim: &Sim, i: usize, kind: DocKind) -> DocumentId {
    let place = sim.nodes[i].id.place.clone();
    match kind {
        DocKind::Reports => DocumentId::reports(place, sim.wall()),
        DocKind::Ledger => DocumentId::ledger(place, sim.wall()),
        k => DocumentId::singleton(place, k),
    }
}

fn setup(sim: &mut Sim, c: usize) {
    let at = sim.wall();
    let riders = sim.nodes[c].id.riders.clone();
    let grids = sim.nodes[c].id.grids.clone();
    let roster_doc = doc(sim, c, DocKind::Roster);
    let members = sim.write(c, &roster_doc, |d| {
        let mut out = Vec::new();
        for (k, id) in riders.iter().enumerate() {
            roster::add(
                d,
                &NewMember {
                    id: id.clone(),
                    display_name: format!("rider {id}"),
                    kind: MemberKind::Rider,
                    platform: Some("meituan".into()),
                    grid: Some(grids[k % grids.len()].clone()),
                    roles: vec![],
                    applied_at: at,
                },
            )?;
            out.push(roster::set_status(d, id, MemberStatus::Active, at)?);
        }
        Ok(out)
    });
    if let Some(members) = members {
        sim.nodes[c].members = members;
    }
    let private_doc = doc(sim, c, DocKind::RosterPrivate);
    sim.write(c, &private_doc, |d| {
        for (k, id) in riders.iter().enumerate() {
            roster_private::put(
                d,
                id,
                &PrivateRecord {
                    real_name: format!("Real Name {k}"),
                    phone: format!("+86 139 {k:08}"),
                    id_number: None,
                },
            )?;
        }
        Ok(())
    });
}

fn submit(sim: &mut Sim, c: usize) {
    let n = &sim.nodes[c];
    if n.members.is_empty() {
        return;
    }
    let member = n.members[sim.rng.random_range(0..n.members.len())].clone();
    let at = sim.wall();
    let category = Category::ALL[sim.rng.random_range(0..Category::ALL.len())];
    let lat = 24.97 + sim.rng.random_range(0.0..0.05);
    let lon = 102.70 + sim.rng.random_range(0.0..0.05);
    let Ok(point) = LatLon::new(lat, lon) else {
        return;
    };
    let r = NewReport {
        id: ReportId::new(at, sim.rng.random()),
        category,
        location: Location {
            point,
            address: None,
            grid: member.grid.clone(),
        },
        text: format!("{} seen by {}", category.as_str(), member.id),
        attachments: vec![],
        reporter: Some(member.id.clone()),
        submitted_at: at,
        submitted_by: sim.nodes[c].peer.to_string(),
        deadline: None,
    };
    let id = doc(sim, c, DocKind::Reports);
    sim.write(c, &id, |d| report::submit(d, &r));
}

/// The cases of a reports document at node `i`: id, status, level, reporter.
fn cases(
    sim: &Sim,
    i: usize,
    id: &DocumentId,
) -> Vec<(ReportId, Status, PlaceLevel, Option<crdt_model::MemberId>)> {
    let Some(d) = sim.nodes[i].store.docs.get(id) else {
        return Vec::new();
    };
    report::list(d)
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            let s = r.state();
            (r.id, s.status, s.level, r.reporter)
        })
        .collect()
}

fn event(sim: &mut Sim, i: usize, kind: EventKind, level: PlaceLevel) -> ReportEvent {
    ReportEvent {
        id: EventId::parse(&short_id(sim, "e")).expect("a valid slug"),
        at: sim.wall(),
        by: sim.nodes[i].id.key.to_string(),
        by_level: level,
        note: None,
        kind,
    }
}

fn step(sim: &mut Sim, c: usize) {
    let id = doc(sim, c, DocKind::Reports);
    let open: Vec<_> = cases(sim, c, &id)
        .into_iter()
        .filter(|(_, s, _, _)| *s != Status::Voided)
        .collect();
    if open.is_empty() {
        return;
    }
    let (report_id, status, level, reporter) = open[sim.rng.random_range(0..open.len())].clone();
    let roll: f64 = sim.rng.random();
    let kind = match (status, level) {
        (Status::Submitted | Status::Reopened, _) if roll < 0.7 => EventKind::Verify,
        (Status::Submitted | Status::Reopened, _) if roll < 0.85 => EventKind::Escalate,
        (Status::Submitted | Status::Reopened, _) => EventKind::Void {
            reason: VoidReason::Duplicate,
        },
        (Status::Verified, _) if roll < 0.6 => EventKind::Dispatch {
            to: "grid-team".into(),
            due: sim.wall() + Duration::hours(4),
        },
        (Status::Verified, _) => EventKind::Escalate,
        (Status::Dispatched, PlaceLevel::Community) => EventKind::Handle { photo: None },
        (Status::Handled, _) => EventKind::Close {
            reason: CloseReason::Fixed,
        },
        // Races the street's accept: the fold decides, the same everywhere.
        (Status::Escalated | Status::Accepted, _) if roll < 0.2 => EventKind::Close {
            reason: CloseReason::NoFurtherAction,
        },
        (Status::Closed, _) if roll < 0.1 => EventKind::Reopen,
        _ => return,
    };
    let verify = kind == EventKind::Verify;
    let ev = event(sim, c, kind, PlaceLevel::Community);
    let done = sim.write(c, &id, |d| report::record_event(d, &report_id, &ev));
    if done.is_some()
        && verify
        && let Some(who) = reporter
    {
        credit(sim, c, &who, ledger::RULE_POINTS_REPORT, EntryKind::Report);
    }
}

fn credit(sim: &mut Sim, c: usize, who: &crdt_model::MemberId, amount: i64, kind: EntryKind) {
    let Some(member) = sim.nodes[c].members.iter().find(|m| &m.id == who).cloned() else {
        return;
    };
    let entry = Entry {
        id: EntryId::parse(&short_id(sim, "x")).expect("a valid slug"),
        member: member.id.clone(),
        amount,
        kind,
        at: sim.wall(),
        by: sim.nodes[c].peer.to_string(),
        reason: (kind == EntryKind::Award).then(|| "helped a neighbour".to_string()),
        reference: None,
        redeemed_at: None,
        item: None,
    };
    let id = doc(sim, c, DocKind::Ledger);
    sim.write(c, &id, |d| ledger::credit(d, &member, &entry));
}

fn points(sim: &mut Sim, c: usize) {
    let n = &sim.nodes[c];
    if n.members.is_empty() {
        return;
    }
    let member = n.members[sim.rng.random_range(0..n.members.len())].clone();
    if sim.rng.random_bool(0.5) {
        let amount = sim.rng.random_range(1..=20);
        credit(sim, c, &member.id, amount, EntryKind::Award);
        return;
    }
    // Redemptions only at the home community, against the balance it holds;
    // some ask for more than the balance and must be refused.
    let points = sim.rng.random_range(1..=15);
    let entry = EntryId::parse(&short_id(sim, "r")).expect("a valid slug");
    let at = sim.wall();
    let by = sim.nodes[c].peer.to_string();
    let id = doc(sim, c, DocKind::Ledger);
    let done = sim.write(c, &id, |d| {
        ledger::redeem(d, &entry, &member, points, "station-1", "water", at, &by)
    });
    if done.is_some() {
        sim.nodes[c].redemptions.insert(entry.to_string());
    }
}

fn task(sim: &mut Sim, c: usize) {
    let id = doc(sim, c, DocKind::Tasks);
    let at = sim.wall();
    let open: Vec<TaskId> = sim.nodes[c]
        .store
        .docs
        .get(&id)
        .and_then(|d| tasks::list(d).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.status(at) == tasks::TaskStatus::Open)
        .map(|t| t.id)
        .collect();
    if open.is_empty() || sim.rng.random_bool(0.4) {
        let t = NewTask {
            id: TaskId::parse(&short_id(sim, "t")).expect("a valid slug"),
            title: "check the fire lane".into(),
            description: None,
            points: 10,
            lease_minutes: 60,
            posted_at: at,
            posted_by: sim.nodes[c].peer.to_string(),
        };
        sim.write(c, &id, |d| tasks::post(d, &t));
        return;
    }
    let n = &sim.nodes[c];
    if n.members.is_empty() {
        return;
    }
    let member = n.members[sim.rng.random_range(0..n.members.len())].clone();
    let task = open[sim.rng.random_range(0..open.len())].clone();
    let claim = ClaimId::parse(&short_id(sim, "k")).expect("a valid slug");
    sim.write(c, &id, |d| tasks::claim(d, &task, &claim, &member, at));
}

fn street_round(sim: &mut Sim, s: usize) {
    let docs: Vec<DocumentId> = sim.nodes[s]
        .store
        .docs
        .keys()
        .filter(|d| d.kind() == DocKind::Reports && d.place() != &sim.nodes[s].id.place)
        .cloned()
        .collect();
    for id in docs {
        for (report_id, status, level, _) in cases(sim, s, &id) {
            let kind = match (status, level) {
                (Status::Escalated, _) => EventKind::Accept,
                (Status::Accepted, _) => EventKind::Dispatch {
                    to: "street-team".into(),
                    due: sim.wall() + Duration::hours(8),
                },
                (Status::Dispatched, PlaceLevel::Street) => EventKind::Handle { photo: None },
                _ => continue,
            };
            let ev = event(sim, s, kind, PlaceLevel::Street);
            sim.write(s, &id, |d| report::record_event(d, &report_id, &ev));
        }
    }
}
