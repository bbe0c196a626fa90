//! Item 4: convergence after a partition. A simulated federation (one
//! district, its streets and communities, every node running the real
//! engine) runs the scenario workload for [`WARM_HOURS`]; then every link of
//! the tree is cut for [`SPLIT_HOURS`] while each node keeps writing alone
//! (reports, lifecycle steps, tasks, points, street rounds); then every link
//! heals at once and the workload stops, so what has to converge is fixed
//! from the heal on. The figure is the simulated time from the heal until
//! the federation has converged: every node entitled to a document holds it
//! at the same heads. That is the time of the last document change anywhere,
//! which the simulator's invariants confirm once the network is quiet.
//!
//! The baseline is tree depth × one-way latency. Tree depth is the number of
//! links between the district and a community, 2. It is also the farthest a
//! change of this workload travels: a community's reports go up to its
//! street and on to the district; a street's events on a community's reports
//! go one link down and one link up; rosters, tasks and ledgers stop at the
//! street. (Documents every node reads, the charter and the directory, would
//! travel 4 links, community to community through the district, but the
//! workload writes none.) So the baseline is what the farthest change needs
//! if every node forwards it the moment it arrives and nothing is asked
//! first.
//!
//! The main network is fixed ([`LATENCY_MS`] each way, no loss, no
//! duplicates), so "one-way latency" means one thing and every
//! message-driven event falls on a multiple of it: a converged time that is
//! such a multiple had no engine timer on its path, and divided by the
//! latency it counts the one-way trips of the longest chain. The same runs
//! over a jittered network, with and without the scenario default's loss
//! and duplicates, are reported too, with the largest latency as the unit.

use std::collections::BTreeMap;

use anyhow::Context;
use yizhan_engine::{RECHECK_MS_MIN, REPLY_TIMEOUT_MS, REPLY_TIMEOUT_MS_MIN};

use super::{Line, Scale, Target};
use crate::federation;
use crate::invariants;
use crate::scenario::{Network, Scenario};
use crate::sim::{Event, Sim};
use crate::workload::{self, Plan};

/// One-way latency of every message on the fixed network, ms.
pub const LATENCY_MS: u64 = 50;
/// Links between the district and a community.
pub const TREE_DEPTH: u64 = 2;
/// Most converged time on the fixed network, in tree depth × one-way
/// latency (issue 16).
pub const FIXED_PER_DEPTH_MAX: f64 = 3.0;
/// The same with loss, in tree depth × largest one-way latency.
pub const LOSSY_PER_DEPTH_MAX: f64 = 5.0;
/// Hours the federation runs connected before the cut.
pub const WARM_HOURS: u64 = 1;
/// Hours every link stays cut while the nodes keep writing.
pub const SPLIT_HOURS: u64 = 4;

const HOUR_MS: u64 = 3_600_000;

/// A network the federation is run over.
struct Net {
    /// How the lines name it.
    name: &'static str,
    network: Network,
}

impl Net {
    /// The latency the baseline counts in: the only one, or the largest.
    fn unit_ms(&self) -> u64 {
        self.network.latency_ms_max
    }

    fn fixed(&self) -> bool {
        self.network.latency_ms_min == self.network.latency_ms_max
    }

    fn lossless(&self) -> bool {
        self.network.loss == 0.0 && self.network.duplicate == 0.0
    }
}

/// What one seed measured from the heal on.
#[derive(Debug, Clone)]
struct Healed {
    /// Heal to the last document change anywhere: from then on every
    /// replica is at its final heads.
    converged_ms: u64,
    /// Heal to the first document change anywhere.
    first_change_ms: u64,
    /// Roles of the nodes the last change landed at, sorted, deduplicated.
    last_roles: Vec<&'static str>,
    /// Heal to quiet: nothing in flight and both ends of every link report
    /// it settled, so every node also knows that it has converged.
    quiet_ms: u64,
    /// Messages handed to the network from the heal to quiet.
    messages: u64,
    /// Their bytes.
    bytes: u64,
    /// Encoded bytes of the changes each node lacked at the heal, summed
    /// over nodes: each has to cross the link into that node at least once.
    missing_bytes: u64,
    /// (node, document) replicas that lacked a change at the heal.
    stale_replicas: u64,
    /// Changes written while the links were cut.
    split_writes: u64,
}

/// The scenario: the topology of `scale`, the default workload, `network`.
fn scenario(scale: &Scale, network: &Network) -> anyhow::Result<Scenario> {
    let text = format!(
        "name = \"converge\"\nhours = {}\n\
         [topology]\nstreets = {}\ncommunities = {}\n\
         [network]\nlatency_ms_min = {}\nlatency_ms_max = {}\nloss = {:?}\nduplicate = {:?}\n",
        WARM_HOURS + SPLIT_HOURS,
        scale.converge_streets,
        scale.converge_communities,
        network.latency_ms_min,
        network.latency_ms_max,
        network.loss,
        network.duplicate,
    );
    Scenario::parse(&text).context("the convergence scenario")
}

/// Runs `scenario` for `seed` through the split and the heal until quiet,
/// checks every invariant, and measures from the heal on.
fn split_and_heal(scenario: &Scenario, seed: u64) -> anyhow::Result<Healed> {
    let ids = federation::build(&scenario.topology, &scenario.expiries, seed, scenario.start)?;
    let mut sim = Sim::new(
        ids,
        seed,
        scenario.start,
        scenario.network.clone(),
        Vec::new(),
        None,
    );
    let cut_ms = WARM_HOURS * HOUR_MS;
    let heal_ms = scenario.hours * HOUR_MS;
    // No backups: no store is lost here.
    sim.boot(heal_ms, 0);
    for child in 0..sim.nodes.len() {
        if sim.nodes[child].id.parent.is_some() {
            sim.schedule(cut_ms, Event::Cut { child, cut: true });
            sim.schedule(heal_ms, Event::Cut { child, cut: false });
        }
    }
    let plan = Plan {
        workload: scenario.workload.clone(),
        end_ms: heal_ms,
    };
    sim.plan = Some(plan.clone());
    workload::start(&mut sim, &plan);

    let mut writes_at_cut = None;
    while let Some(at) = sim.next_at().filter(|&at| at < heal_ms) {
        if at >= cut_ms && writes_at_cut.is_none() {
            writes_at_cut = Some(sim.counters.writes);
        }
        sim.step();
    }
    let split_writes = sim.counters.writes - writes_at_cut.unwrap_or(sim.counters.writes);
    let at_heal = invariants::all_heads(&mut sim);
    let before = sim.counters;

    // Quiet is checked after every event rather than polled, so its time is
    // exact; after every event that changed a document, the heads say where.
    let cap = heal_ms + scenario.settle_hours_max * HOUR_MS;
    let mut seen = at_heal.clone();
    let mut first_change = None;
    let mut last_change = 0;
    let mut last_nodes: Vec<usize> = Vec::new();
    let mut quiet_at = None;
    while sim.next_at().is_some_and(|at| at <= cap) {
        sim.step();
        if sim.last_change_ms == sim.now {
            first_change.get_or_insert(sim.now);
            if sim.now > last_change {
                last_change = sim.now;
                last_nodes.clear();
            }
            let heads = invariants::all_heads(&mut sim);
            last_nodes.extend((0..heads.len()).filter(|&i| heads[i] != seen[i]));
            seen = heads;
        }
        if sim.quiet() {
            quiet_at = Some(sim.now);
            break;
        }
    }
    let quiet_at = quiet_at.with_context(|| {
        format!(
            "seed {seed}: not quiet within {} h of the heal",
            scenario.settle_hours_max
        )
    })?;
    for (name, outcome) in invariants::check(&mut sim) {
        if let Err(why) = outcome {
            anyhow::bail!("seed {seed}: {name} failed after the heal: {why}");
        }
    }
    let first_change = first_change.with_context(|| format!("seed {seed}: nothing changed"))?;
    anyhow::ensure!(
        last_change == sim.last_change_ms,
        "seed {seed}: the last change, at {} ms, was not seen",
        sim.last_change_ms
    );

    let mut missing_bytes = 0;
    let mut stale_replicas = 0;
    for (n, had) in sim.nodes.iter_mut().zip(&at_heal) {
        for (id, d) in n.store.docs.iter_mut() {
            let heads = had.get(id).map(Vec::as_slice).unwrap_or_default();
            let new = d.get_changes(heads);
            stale_replicas += u64::from(!new.is_empty());
            for mut c in new {
                missing_bytes += c.bytes().len() as u64;
            }
        }
    }
    anyhow::ensure!(
        stale_replicas > 0,
        "seed {seed}: no replica was stale at the heal"
    );
    let mut last_roles: Vec<&'static str> = last_nodes
        .iter()
        .map(|&i| sim.nodes[i].id.role.as_str())
        .collect();
    last_roles.sort_unstable();
    last_roles.dedup();
    Ok(Healed {
        converged_ms: last_change - heal_ms,
        first_change_ms: first_change - heal_ms,
        last_roles,
        quiet_ms: quiet_at - heal_ms,
        messages: sim.counters.messages - before.messages,
        bytes: sim.counters.bytes - before.bytes,
        missing_bytes,
        stale_replicas,
        split_writes,
    })
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(mut xs: Vec<u64>) -> f64 {
    xs.sort_unstable();
    let n = xs.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => xs[n / 2] as f64,
        _ => (xs[n / 2 - 1] + xs[n / 2]) as f64 / 2.0,
    }
}

fn max(xs: &[u64]) -> f64 {
    xs.iter().max().map_or(f64::NAN, |&x| x as f64)
}

/// `1 seed`, `5 seeds`.
fn seeds(n: usize) -> String {
    if n == 1 {
        "1 seed".into()
    } else {
        format!("{n} seeds")
    }
}

/// Where the last change landed, counted over seeds: `at the district in 5
/// of 5 seeds`.
fn landed(runs: &[Healed]) -> String {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for h in runs {
        *count.entry(h.last_roles.join(" and ")).or_default() += 1;
    }
    count
        .iter()
        .map(|(roles, k)| format!("at the {roles} in {k} of {}", seeds(runs.len())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What dominates the converged time on `net`, as far as the runs show.
fn path(net: &Net, runs: &[Healed]) -> String {
    let unit = net.unit_ms();
    let first = median(runs.iter().map(|h| h.first_change_ms).collect());
    let converged: Vec<u64> = runs.iter().map(|h| h.converged_ms).collect();
    if net.fixed() {
        let off = converged.iter().filter(|&&t| t % unit != 0).count();
        let timers = if off == 0 {
            "no engine timer on the path in any seed".to_string()
        } else {
            format!(
                "an engine timer on the path in {off} of {}",
                seeds(runs.len())
            )
        };
        return format!(
            "median {:.0} one-way trips, {timers}: {:.0} until the first change lands (each end \
             of a link pushes, with the summary, what changed since its saved sync state and \
             what the peer never had), the rest until the last, which lands {}; a street pushes \
             on what a community sent it in the same step (1 trip per forwarding hop; before \
             issue 16 a summary swap and an inventory walk from the root came first, and each \
             hop was announce, pull, send: 16 trips)",
            median(converged) / unit as f64,
            first / unit as f64,
            landed(runs),
        );
    }
    let n = &net.network;
    let why = if net.lossless() {
        "each trip of the fixed network's path now waits for the slowest of the messages it \
         depends on"
            .to_string()
    } else {
        let late = converged.iter().filter(|&&t| t > RECHECK_MS_MIN).count();
        format!(
            "a lost message on the path waits for a timer: a lost push or request for its reply \
             timeout ({REPLY_TIMEOUT_MS_MIN} ms + up to 25 % once the link's first round trip is \
             measured, {REPLY_TIMEOUT_MS} ms before), then a round trip to learn the peer's heads \
             and the send; the last change came after the {RECHECK_MS_MIN} ms re-check in \
             {late} of {}",
            seeds(runs.len())
        )
    };
    format!(
        "latency {}–{} ms, {:.0} % loss, {:.0} % duplicates; the first change lands after a \
         median of {first:.0} ms, the last {}; {why}",
        n.latency_ms_min,
        n.latency_ms_max,
        n.loss * 100.0,
        n.duplicate * 100.0,
        landed(runs),
    )
}

/// The lines of one network's runs.
fn lines(scale: &Scale, net: &Net, runs: &[Healed]) -> Vec<Line> {
    let unit = net.unit_ms();
    let base = (TREE_DEPTH * unit) as f64;
    let baseline = if net.fixed() {
        format!("tree depth {TREE_DEPTH} × one-way latency {unit} ms")
    } else {
        format!("tree depth {TREE_DEPTH} × largest one-way latency {unit} ms")
    };
    let converged: Vec<u64> = runs.iter().map(|h| h.converged_ms).collect();
    let writes = median(runs.iter().map(|h| h.split_writes).collect());
    // Issue 16's must-show: the fixed network, and the one with loss.
    let limit = if net.fixed() && net.lossless() {
        Some(FIXED_PER_DEPTH_MAX)
    } else if !net.lossless() {
        Some(LOSSY_PER_DEPTH_MAX)
    } else {
        None
    };
    let target = limit.map(|max| Target {
        rule: format!("≤ {max} × depth × latency"),
        met: median(converged.clone()) <= max * base,
    });
    let stale = median(runs.iter().map(|h| h.stale_replicas).collect());
    let setting = format!(
        "1 district, {} streets, {} communities; every link cut {SPLIT_HOURS} h while each node \
         wrote alone (median {writes:.0} changes, {stale:.0} stale replicas at the heal), then all \
         healed at once; converged = every node entitled to a document holds it at the same \
         heads, invariants checked",
        scale.converge_streets, scale.converge_communities,
    );
    let mut out = vec![
        Line {
            bench: "converge",
            what: format!(
                "heal → converged, {} network, median of {}",
                net.name,
                seeds(runs.len())
            ),
            value: median(converged.clone()),
            baseline: baseline.clone(),
            base,
            unit: "ms",
            target,
            note: format!("{setting}; {}", path(net, runs)),
        },
        Line {
            bench: "converge",
            what: format!(
                "heal → converged, {} network, max of {}",
                net.name,
                seeds(runs.len())
            ),
            value: max(&converged),
            baseline: baseline.clone(),
            base,
            unit: "ms",
            target: None,
            note: String::new(),
        },
    ];
    if !net.fixed() {
        return out;
    }
    let quiet: Vec<u64> = runs.iter().map(|h| h.quiet_ms).collect();
    out.push(Line {
        bench: "converge",
        what: format!(
            "heal → quiet (every link settled), {} network, median of {}",
            net.name,
            seeds(runs.len())
        ),
        value: median(quiet.clone()),
        baseline,
        base,
        unit: "ms",
        target: None,
        note: format!(
            "max {:.0} ms; the data converged long before: a link reports itself settled only \
             when its summaries are compared again, at the inventory re-check first due \
             {RECHECK_MS_MIN} ms (+ up to 25 % jitter) after it came up",
            max(&quiet)
        ),
    });
    let per_seed =
        |f: fn(&Healed) -> u64| runs.iter().map(f).sum::<u64>() as f64 / runs.len() as f64;
    out.push(Line {
        bench: "converge",
        what: format!(
            "bytes sent from heal to quiet, {} network, mean per seed",
            net.name
        ),
        value: per_seed(|h| h.bytes),
        baseline: "bytes of the changes each node lacked at the heal, summed over nodes".into(),
        base: per_seed(|h| h.missing_bytes),
        unit: "B",
        target: None,
        note: format!(
            "{:.0} messages per seed; the baseline is plain forwarding: every change a node \
             lacked crosses the link into it once, as Automerge encodes it, and nothing else \
             is sent",
            per_seed(|h| h.messages)
        ),
    });
    out
}

/// Runs item 4.
pub fn run(scale: &Scale) -> anyhow::Result<Vec<Line>> {
    anyhow::ensure!(scale.converge_seeds > 0, "no seeds to run");
    let jittered = Network::default();
    let nets = [
        Net {
            name: "fixed",
            network: Network {
                latency_ms_min: LATENCY_MS,
                latency_ms_max: LATENCY_MS,
                loss: 0.0,
                duplicate: 0.0,
            },
        },
        Net {
            name: "jittered",
            network: Network {
                loss: 0.0,
                duplicate: 0.0,
                ..jittered.clone()
            },
        },
        Net {
            name: "jittered, lossy",
            network: jittered,
        },
    ];
    let mut out = Vec::new();
    for net in &nets {
        let scenario = scenario(scale, &net.network)?;
        let mut runs = Vec::new();
        for seed in 1..=u64::from(scale.converge_seeds) {
            let h = split_and_heal(&scenario, seed)?;
            eprintln!(
                "  {} network, seed {seed}: converged {} ms after the heal (first change at {} \
                 ms), quiet at {} ms, {} messages, {} B",
                net.name, h.converged_ms, h.first_change_ms, h.quiet_ms, h.messages, h.bytes
            );
            runs.push(h);
        }
        out.extend(lines(scale, net, &runs));
    }
    Ok(out)
}
