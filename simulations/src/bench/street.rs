//! The busy street (issue 16's must-show): 40 communities under one street,
//! each writing 50 signed reports a minute for 10 simulated minutes, over
//! 4G-like links ([`LATENCY_MS`] each way), to one district. Every node runs
//! the real engine with the node's signed-change checks (the simulator's
//! `store.rs`), so the street does what a street does: checks each report's
//! signature and its author's admission chain, merges it into that
//! community's monthly document, and passes it on to the district, which
//! checks it again.
//!
//! Two figures, each with its target:
//!
//! - the street's CPU: the thread CPU time of every engine call the street
//!   handles (message, timer, peer up or down, with the signature checks it
//!   makes on the spot), summed, divided by the simulated time the
//!   communities write for. Under one core means one core keeps up. The
//!   busiest simulated minute is held to the same target, so a street that
//!   keeps up on average but falls behind as its documents grow is caught.
//! - delivery: for every report, simulated time from its write at the
//!   community to the moment the district holds its change. The maximum is
//!   held to [`DELIVERY_MS_MAX`]; a report that never arrives counts as
//!   missing the target.
//!
//! What the simulator does not run, and the figure therefore leaves out:
//! the street's redb writes, libp2p with Noise and Yamux, and its daemon's
//! periodic work (statistics, street summaries); `docs/benchmarks.md` says
//! what the process tests measured of those.

use std::time::Duration;

use anyhow::Context;
use automerge::ChangeHash;
use crdt_model::report::{self, NewReport};
use crdt_model::{Category, DocumentId, LatLon, Location, ReportId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Line, Scale, Target, number};
use crate::cpu::CpuLog;
use crate::federation;
use crate::scenario::Scenario;
use crate::sim::{Mutation, Sim};

/// One-way latency of every link, ms: a 4G uplink on a good day.
pub const LATENCY_MS: u64 = 50;
/// The 4G of a bad day, run as well for its figures (no targets): one-way
/// latency drawn from this range (so messages reorder), ms, …
pub const JITTER_MS: (u64, u64) = (30, 150);
/// … and this share of messages lost, and as many delivered twice.
pub const LOSS: f64 = 0.01;
/// The most a report may take from its write to the district, ms.
pub const DELIVERY_MS_MAX: u64 = 5_000;
/// Links between a community and the district.
pub const HOPS: u64 = 2;
/// How long after the last write the run waits for reports still on their
/// way, ms; one still missing then never arrived.
pub const GRACE_MS: u64 = 60_000;

const MINUTE_MS: u64 = 60_000;

/// The street's load.
#[derive(Debug, Clone)]
pub struct Busy {
    /// Communities under the street.
    pub communities: usize,
    /// Simulated minutes the communities write for.
    pub minutes: u64,
    /// Reports each community writes per minute.
    pub per_minute: u32,
    /// Least one-way latency of every link, ms.
    pub latency_ms_min: u64,
    /// Most one-way latency, ms; equal to the least for a fixed link.
    pub latency_ms_max: u64,
    /// Share of messages lost, and of messages delivered twice.
    pub loss: f64,
    /// Seeds keys, write times and report contents.
    pub seed: u64,
}

impl Busy {
    /// The load the issue names, at `scale`'s size.
    pub fn of(scale: &Scale) -> Busy {
        Busy {
            communities: scale.street_communities,
            minutes: scale.street_minutes,
            per_minute: 50,
            latency_ms_min: LATENCY_MS,
            latency_ms_max: LATENCY_MS,
            loss: 0.0,
            seed: 1,
        }
    }

    /// The same load over jittered, lossy links ([`JITTER_MS`], [`LOSS`]).
    pub fn lossy(self) -> Busy {
        Busy {
            latency_ms_min: JITTER_MS.0,
            latency_ms_max: JITTER_MS.1,
            loss: LOSS,
            ..self
        }
    }

    /// True on the fixed, lossless link the targets are set for.
    pub fn fixed(&self) -> bool {
        self.latency_ms_min == self.latency_ms_max && self.loss == 0.0
    }

    fn link(&self) -> String {
        if self.fixed() {
            format!("{} ms one way, no loss", self.latency_ms_max)
        } else {
            format!(
                "{}–{} ms one way, {} % loss, {} % duplicated",
                self.latency_ms_min,
                self.latency_ms_max,
                self.loss * 100.0,
                self.loss * 100.0
            )
        }
    }

    /// Simulated ms the communities write for.
    pub fn writing_ms(&self) -> u64 {
        self.minutes * MINUTE_MS
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Reports written at the communities.
    pub written: u64,
    /// Write-to-district delay of every report that arrived, ms, sorted.
    pub delays_ms: Vec<u64>,
    /// CPU time of the street's engine calls.
    pub street_cpu: Duration,
    /// The most of it in any one simulated minute.
    pub street_busiest_minute: Duration,
    /// The most of it in any one simulated second.
    pub street_busiest_second: Duration,
    /// CPU time of the district's engine calls.
    pub district_cpu: Duration,
    /// Engine calls whose CPU time could not be read.
    pub unread: u64,
    /// Simulated ms the communities wrote for.
    pub writing_ms: u64,
    /// Messages on every link, and their bytes.
    pub messages: u64,
    /// Bytes of those messages.
    pub bytes: u64,
}

impl Outcome {
    /// Reports the district holds.
    pub fn arrived(&self) -> u64 {
        self.delays_ms.len() as u64
    }

    /// The street's CPU time over the writing time: cores in use.
    pub fn street_cores(&self) -> f64 {
        cores(self.street_cpu, self.writing_ms)
    }

    /// The delay below which `p` of the arrived reports fall (nearest
    /// rank), ms.
    pub fn delay_percentile(&self, p: f64) -> Option<u64> {
        let n = self.delays_ms.len();
        if n == 0 {
            return None;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        self.delays_ms.get(rank - 1).copied()
    }

    /// True when every report arrived within [`DELIVERY_MS_MAX`].
    pub fn delivered_in_time(&self) -> bool {
        self.arrived() == self.written
            && self.delays_ms.last().is_none_or(|&d| d <= DELIVERY_MS_MAX)
    }

    /// True when the street used under one core, over the run and in its
    /// busiest minute, and every engine call's time was read.
    pub fn street_kept_up(&self) -> bool {
        self.unread == 0
            && self.street_cores() < 1.0
            && cores(self.street_busiest_minute, MINUTE_MS.min(self.writing_ms)) < 1.0
    }
}

fn cores(cpu: Duration, over_ms: u64) -> f64 {
    cpu.as_secs_f64() * 1_000.0 / over_ms.max(1) as f64
}

/// The federation: one district, one street, `communities` communities
/// (the scenario's default grids and riders, which the reports do not use),
/// over `busy`'s links.
fn scenario(busy: &Busy) -> anyhow::Result<Scenario> {
    let text = format!(
        "name = \"busy street\"\nhours = 1\n\
         [topology]\nstreets = 1\ncommunities = {}\n\
         [network]\nlatency_ms_min = {}\nlatency_ms_max = {}\nloss = {:?}\nduplicate = {:?}\n",
        busy.communities, busy.latency_ms_min, busy.latency_ms_max, busy.loss, busy.loss,
    );
    Scenario::parse(&text).context("the busy-street scenario")
}

/// When each community writes: `per_minute × minutes` moments drawn
/// uniformly over the writing time for each, so the count is exact and the
/// arrivals bunch as independent riders' do. Sorted by time.
fn write_times(busy: &Busy, communities: &[usize], rng: &mut StdRng) -> Vec<(u64, usize)> {
    let each = u64::from(busy.per_minute) * busy.minutes;
    let mut times: Vec<(u64, usize)> = communities
        .iter()
        .flat_map(|&c| (0..each).map(move |_| c))
        .map(|c| (rng.random_range(0..busy.writing_ms().max(1)), c))
        .collect();
    times.sort_unstable();
    times
}

fn new_report(sim: &Sim, c: usize, rng: &mut StdRng) -> anyhow::Result<NewReport> {
    let at = sim.wall();
    let category = Category::ALL[rng.random_range(0..Category::ALL.len())];
    let point = LatLon::new(
        24.97 + rng.random_range(0.0..0.05),
        102.70 + rng.random_range(0.0..0.05),
    )
    .context("a point in Kunming")?;
    Ok(NewReport {
        id: ReportId::new(at, rng.random()),
        category,
        location: Location {
            point,
            address: Some(format!("驿站路 {} 号", rng.random_range(1..300))),
            grid: None,
        },
        text: format!("{} 电动车道上，骑手上报", category.as_str()),
        attachments: Vec::new(),
        reporter: None,
        submitted_at: at,
        submitted_by: sim.nodes[c].peer.to_string(),
        deadline: None,
    })
}

/// A report written and not yet seen at the district.
struct Pending {
    doc: DocumentId,
    hash: ChangeHash,
    written_ms: u64,
}

/// Runs the busy street once; `mutation` injects a deliberate bug (tests).
pub fn simulate(busy: &Busy, mutation: Option<Mutation>) -> anyhow::Result<Outcome> {
    let sc = scenario(busy)?;
    let ids = federation::build(&sc.topology, &sc.expiries, busy.seed, sc.start)?;
    let mut sim = Sim::new(
        ids,
        busy.seed,
        sc.start,
        sc.network.clone(),
        Vec::new(),
        mutation,
    );
    sim.cpu = Some(CpuLog::new(sim.nodes.len()));
    // Nothing is lost here, so no backups; no workload plan either: the
    // reports below are the only writes.
    sim.boot(busy.writing_ms(), 0);
    let (district, street) = (0, 1);
    let communities: Vec<usize> = (0..sim.nodes.len())
        .filter(|&i| sim.nodes[i].id.role == node::Role::Community)
        .collect();
    let mut rng = StdRng::seed_from_u64(busy.seed ^ 0x5157_2ee7);
    let writes = write_times(busy, &communities, &mut rng);
    let cap = busy.writing_ms() + GRACE_MS;

    let mut pending: Vec<Pending> = Vec::new();
    let mut delays = Vec::with_capacity(writes.len());
    let mut next = writes.iter().peekable();
    loop {
        let write_due = next.peek().map(|&&(at, _)| at);
        let event_due = sim.next_at();
        let write_first = match (write_due, event_due) {
            (Some(w), Some(e)) => w < e,
            (Some(_), None) => true,
            (None, Some(e)) => {
                if pending.is_empty() || e > cap {
                    break;
                }
                false
            }
            (None, None) => break,
        };
        if write_first {
            let Some(&(at, c)) = next.next() else { break };
            sim.now = sim.now.max(at);
            let r = new_report(&sim, c, &mut rng)?;
            let doc = DocumentId::reports(sim.nodes[c].id.place.clone(), sim.wall());
            let acked = sim.nodes[c].acked.len();
            sim.write(c, &doc, |d| report::submit(d, &r))
                .with_context(|| format!("community {c} refused report {}", r.id))?;
            pending.extend(sim.nodes[c].acked[acked..].iter().map(|a| Pending {
                doc: a.doc.clone(),
                hash: a.hash,
                written_ms: a.at_ms,
            }));
            continue;
        }
        sim.step();
        // Only an event that changed a document can bring a report.
        if sim.last_change_ms == sim.now && !pending.is_empty() {
            let now = sim.now;
            let docs = &mut sim.nodes[district].store.docs;
            pending.retain(|p| {
                let here = docs
                    .get_mut(&p.doc)
                    .is_some_and(|d| d.get_change_by_hash(&p.hash).is_some());
                if here {
                    delays.push(now - p.written_ms);
                }
                !here
            });
        }
    }
    delays.sort_unstable();
    let log = sim.cpu.take().unwrap_or_default();
    Ok(Outcome {
        written: writes.len() as u64,
        delays_ms: delays,
        street_cpu: log.total.get(street).copied().unwrap_or_default(),
        street_busiest_minute: log.busiest(street, 60),
        street_busiest_second: log.busiest(street, 1),
        district_cpu: log.total.get(district).copied().unwrap_or_default(),
        unread: log.unread,
        writing_ms: busy.writing_ms(),
        messages: sim.counters.messages,
        bytes: sim.counters.bytes,
    })
}

/// The figures of one run; with their targets on the fixed link, for which
/// the issue sets them.
pub fn lines(busy: &Busy, o: &Outcome) -> Vec<Line> {
    let shape = format!(
        "{} communities × {} reports a minute × {} simulated min = {} signed reports, \
         1 street, 1 district, {}; seed {}",
        busy.communities,
        busy.per_minute,
        busy.minutes,
        o.written,
        busy.link(),
        busy.seed
    );
    let held = busy.fixed();
    let on = if held { "" } else { ", jittered lossy links" };
    let floor = (HOPS * busy.latency_ms_max) as f64;
    let floor_name = if busy.fixed() {
        format!("{HOPS} links × one-way latency {} ms", busy.latency_ms_max)
    } else {
        format!(
            "{HOPS} links × largest one-way latency {} ms",
            busy.latency_ms_max
        )
    };
    let missing = o.written - o.arrived();
    let delay = |what: &str, value: Option<u64>, target: Option<Target>, note: String| Line {
        bench: "street",
        what: format!("report write → held at the district, {what}{on}"),
        // A report that never arrived has no delay: the line then shows
        // infinity, which the table prints as "-".
        value: value.map_or(f64::INFINITY, |v| v as f64),
        baseline: floor_name.clone(),
        base: floor,
        unit: "ms",
        target,
        note,
    };
    let minute = MINUTE_MS.min(o.writing_ms);
    vec![
        Line {
            bench: "street",
            what: format!("street CPU over the writing time{on}"),
            value: o.street_cores(),
            baseline: "one core".into(),
            base: 1.0,
            unit: "cores",
            target: held.then(|| Target {
                rule: "< 1 core".into(),
                met: o.unread == 0 && o.street_cores() < 1.0,
            }),
            note: format!(
                "{shape}; {} s of thread CPU in the street's engine calls (signature and \
                 chain checks included) over {} s simulated; the district's: {} s",
                number(o.street_cpu.as_secs_f64()),
                o.writing_ms / 1_000,
                number(o.district_cpu.as_secs_f64()),
            ),
        },
        Line {
            bench: "street",
            what: format!("street CPU in its busiest simulated minute{on}"),
            value: cores(o.street_busiest_minute, minute),
            baseline: "one core".into(),
            base: 1.0,
            unit: "cores",
            target: held.then(|| Target {
                rule: "< 1 core".into(),
                met: cores(o.street_busiest_minute, minute) < 1.0,
            }),
            note: format!(
                "busiest simulated second: {} cores",
                number(cores(o.street_busiest_second, 1_000))
            ),
        },
        delay("median", o.delay_percentile(0.5), None, String::new()),
        delay("p99", o.delay_percentile(0.99), None, String::new()),
        delay(
            "max",
            if missing == 0 {
                o.delays_ms.last().copied()
            } else {
                None
            },
            held.then(|| Target {
                rule: format!("≤ {} s, every report", DELIVERY_MS_MAX / 1_000),
                met: o.delivered_in_time(),
            }),
            format!(
                "{} of {} reports arrived{}; {} messages, {} B on all links ({} B per report)",
                o.arrived(),
                o.written,
                if missing == 0 {
                    String::new()
                } else {
                    format!(", {missing} never did (waited {} s)", GRACE_MS / 1_000)
                },
                o.messages,
                o.bytes,
                o.bytes / o.written.max(1),
            ),
        ),
    ]
}

/// Runs the busy street at `scale`'s size.
pub fn run(scale: &Scale) -> anyhow::Result<Vec<Line>> {
    let mut out = Vec::new();
    for busy in [Busy::of(scale), Busy::of(scale).lossy()] {
        eprintln!("  {} …", busy.link());
        let o = simulate(&busy, None)?;
        out.extend(lines(&busy, &o));
    }
    Ok(out)
}
