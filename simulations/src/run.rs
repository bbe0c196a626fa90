//! Running a scenario for one seed, and the table of results.

use std::fmt::Write as _;

use crate::cutoffs::CutOffs;
use crate::federation;
use crate::invariants::{self, NAMES, Outcome};
use crate::scenario::Scenario;
use crate::sim::{Counters, Mutation, Sim};
use crate::workload::{self, Plan};

/// How often, in simulated ms, quiescence is checked once the workload and
/// the faults are over.
const QUIET_CHECK_MS: u64 = 1_000;

/// The outcome of one seed.
#[derive(Debug, Clone)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Simulated ms from the last write, cut, heal, stop or start to the
    /// last document change anywhere: how long the federation took to converge.
    pub converge_ms: u64,
    /// Simulated ms at which the federation was found quiet, or `None` if
    /// it never was before the cap.
    pub quiet_at_ms: Option<u64>,
    /// Traffic and refusals.
    pub counters: Counters,
    /// Each invariant's outcome, in the order of [`NAMES`].
    pub invariants: Vec<(&'static str, Outcome)>,
    /// Places of the nodes cut off at the end (revoked or lapsed).
    pub cut_off: Vec<String>,
    /// Writes cut-off nodes acknowledged after their cut-off: work that
    /// must stay with them.
    pub stayed_home: u64,
}

impl SeedResult {
    /// True when every invariant held and the federation went quiet.
    pub fn passed(&self) -> bool {
        self.quiet_at_ms.is_some() && self.invariants.iter().all(|(_, o)| o.is_ok())
    }
}

/// Runs `scenario` with `seed`; `mutation` injects a deliberate bug.
pub fn run_seed(
    scenario: &Scenario,
    seed: u64,
    mutation: Option<Mutation>,
) -> Result<SeedResult, federation::BuildError> {
    let ids = federation::build(&scenario.topology, &scenario.expiries, seed, scenario.start)?;
    let mut sim = Sim::new(
        ids,
        seed,
        scenario.start,
        scenario.network.clone(),
        scenario.faults.clone(),
        mutation,
    );
    let end_ms = scenario.hours * 3_600_000;
    sim.boot(end_ms, scenario.backup_every_hours * 3_600_000);
    let plan = Plan {
        workload: scenario.workload.clone(),
        end_ms,
    };
    sim.plan = Some(plan.clone());
    workload::start(&mut sim, &plan);
    // The last admission to lapse is a fault like any other: the
    // federation must settle after it.
    let lapse_ms = scenario
        .expiries
        .iter()
        .map(|e| crate::sim::hours_ms(e.at_hour))
        .max()
        .unwrap_or(0);
    let calm_from = end_ms.max(sim.faults_end_ms()).max(lapse_ms);
    let cap = calm_from + scenario.settle_hours_max * 3_600_000;
    let mut next_check = calm_from;
    let mut quiet_at_ms = None;
    loop {
        match sim.next_at() {
            Some(at) if at <= cap => {
                if at >= next_check {
                    sim.now = sim.now.max(next_check);
                    if sim.quiet() {
                        quiet_at_ms = Some(sim.now);
                        break;
                    }
                    next_check = next_check.max(sim.now) + QUIET_CHECK_MS;
                }
                sim.step();
            }
            _ => {
                if sim.quiet() {
                    quiet_at_ms = Some(sim.now);
                }
                break;
            }
        }
    }
    let calm = sim.last_write_ms.max(sim.last_fault_ms);
    let cut = CutOffs::at_end(&mut sim);
    let invariants = invariants::check_with(&mut sim, &cut);
    let cut_off = (0..sim.nodes.len())
        .filter(|&i| cut.is_cut(i))
        .map(|i| sim.nodes[i].id.place.to_string())
        .collect();
    let stayed_home = sim
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.acked.iter().map(move |a| (i, a)))
        .filter(|(i, a)| !cut.after(*i, &a.doc, &a.hash).is_empty())
        .count() as u64;
    Ok(SeedResult {
        seed,
        converge_ms: sim.last_change_ms.saturating_sub(calm),
        quiet_at_ms,
        counters: sim.counters,
        invariants,
        cut_off,
        stayed_home,
    })
}

/// The table header.
pub fn header() -> String {
    let mut s = format!(
        "{:>6} {:>10} {:>7} {:>9} {:>11} {:>6} {:>8} {:>5} {:>8} {:>7} {:>7} {:>3} {:>6}",
        "seed",
        "converge",
        "writes",
        "messages",
        "bytes",
        "forged",
        "restarts",
        "lost",
        "withheld",
        "cutoffs",
        "dropped",
        "cut",
        "stayed"
    );
    for n in NAMES {
        let _ = write!(s, " {n:>w$}", w = n.len());
    }
    s
}

/// One row of the table.
pub fn row(r: &SeedResult) -> String {
    let converge = match r.quiet_at_ms {
        Some(_) => format!("{} ms", r.converge_ms),
        None => "never".into(),
    };
    let c = &r.counters;
    let mut s = format!(
        "{:>6} {:>10} {:>7} {:>9} {:>11} {:>6} {:>8} {:>5} {:>8} {:>7} {:>7} {:>3} {:>6}",
        r.seed,
        converge,
        c.writes,
        c.messages,
        c.bytes,
        c.forged,
        c.restarts,
        c.stores_lost,
        c.withheld,
        c.cutoffs,
        c.dropped,
        r.cut_off.len(),
        r.stayed_home
    );
    for (n, o) in &r.invariants {
        let mark = if o.is_ok() { "ok" } else { "FAIL" };
        let _ = write!(s, " {mark:>w$}", w = n.len());
    }
    s
}

/// What failed in `r`, one line each, every line naming the seed.
pub fn failures(r: &SeedResult) -> Vec<String> {
    let mut out = Vec::new();
    if r.quiet_at_ms.is_none() {
        out.push(format!(
            "seed {}: the federation never went quiet before the cap",
            r.seed
        ));
    }
    for (n, o) in &r.invariants {
        if let Err(why) = o {
            out.push(format!("seed {}: {n} failed: {why}", r.seed));
        }
    }
    out
}
