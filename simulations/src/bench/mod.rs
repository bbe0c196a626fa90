//! `simulations bench`: throughput and bandwidth of the node's write path and
//! sync engine, each figure against a baseline measured in the same run.
//!
//! - [`ingest`]: reports per second durably committed through
//!   [`node::Node`], against Automerge making the same changes plus raw
//!   redb committing their bytes in the same batches (and against each half
//!   alone), medians of interleaved runs.
//! - [`delta`]: bytes on the wire and round trips to bring a peer up to date
//!   after `d` new changes to a document with a long history, against the
//!   bytes of those changes one by one (`save_after`) and as one compressed
//!   bundle.
//! - [`many`]: two engines sharing thousands of documents of which a few
//!   differ, against Automerge's sync protocol run per document.
//! - [`converge`]: a simulated federation partitioned and healed: time to
//!   converge against tree depth × one-way latency.
//! - [`cold`]: a `yizhan node start` process over a store of many reports:
//!   time to serving, and resident memory against the store's size.
//! - [`blobs`]: photos fetched between two libp2p nodes on loopback, against
//!   the disk's ceiling, TCP with Noise alone and raw TCP on loopback.
//! - [`street`]: a street under 40 busy communities in the simulator: its
//!   CPU against one core, and every report's time to the district.
//! - [`versus`]: the same documents synced by Yizhan (signed) and by samod
//!   0.16 over the same in-memory transport, with and without a delay line.
//!
//! Every figure is a ratio to its baseline; times alone say little about a
//! machine we do not know.

pub mod blobs;
pub mod cold;
pub mod converge;
pub mod delta;
pub mod duplex;
pub mod exchange;
pub mod fixtures;
pub mod ingest;
pub mod many;
pub mod report;
pub mod samod_side;
pub mod street;
pub mod versus;
pub mod yizhan_side;

/// How big the runs are.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Reports committed one per commit (node and raw redb).
    pub single: u32,
    /// Commits of `batch` reports each.
    pub batches: u32,
    /// Reports per batched commit.
    pub batch: u32,
    /// Runs of every ingestion path (medians).
    pub ingest_runs: u32,
    /// Operations of history for the delta-sync documents.
    pub histories: Vec<u64>,
    /// New changes added before a delta sync.
    pub deltas: Vec<u32>,
    /// Documents shared by the two engines of the many-documents run.
    pub docs: u32,
    /// How many of them differ.
    pub differing: u32,
    /// Streets of the simulated federation that is partitioned and healed.
    pub converge_streets: u32,
    /// Communities of that federation, spread over the streets.
    pub converge_communities: u32,
    /// Seeds the convergence run is repeated for.
    pub converge_seeds: u32,
    /// Reports in the store of the cold-started node.
    pub cold_reports: u32,
    /// Photos fetched in the blob run.
    pub blob_count: u32,
    /// Bytes of each photo.
    pub blob_bytes: u32,
    /// Documents of the samod comparison.
    pub samod_docs: u32,
    /// Silence on the link after which the samod comparison stops counting
    /// bytes, in ms.
    pub samod_quiet_ms: u64,
    /// Runs of each system per link in the samod comparison (medians).
    pub samod_runs: u32,
    /// Communities under the busy street.
    pub street_communities: usize,
    /// Simulated minutes they write for.
    pub street_minutes: u64,
}

impl Scale {
    /// The sizes the issue asks for (release build; a few minutes on 2 cores).
    pub fn full() -> Scale {
        Scale {
            single: 300,
            batches: 30,
            batch: 100,
            ingest_runs: 5,
            histories: vec![1_000, 100_000],
            deltas: vec![1, 10, 1000],
            docs: 10_000,
            differing: 10,
            converge_streets: 4,
            converge_communities: 40,
            converge_seeds: 5,
            cold_reports: 100_000,
            blob_count: 16,
            blob_bytes: 3_000_000,
            samod_docs: 1_000,
            samod_quiet_ms: versus::QUIET_MS,
            samod_runs: 3,
            street_communities: 40,
            street_minutes: 10,
        }
    }

    /// Small sizes that run in seconds in a debug build (tests, smoke runs).
    pub fn quick() -> Scale {
        Scale {
            single: 10,
            batches: 3,
            batch: 20,
            ingest_runs: 1,
            histories: vec![300],
            deltas: vec![1, 10],
            docs: 200,
            differing: 3,
            converge_streets: 2,
            converge_communities: 6,
            converge_seeds: 1,
            cold_reports: 300,
            blob_count: 2,
            blob_bytes: 200_000,
            samod_docs: 50,
            // Shorter than Yizhan's re-check: its bytes may then be counted
            // in the next run; fine for a smoke run, not for the figures.
            samod_quiet_ms: 1_000,
            samod_runs: 1,
            street_communities: 4,
            street_minutes: 1,
        }
    }
}

/// A target a figure is held to.
#[derive(Debug, Clone)]
pub struct Target {
    /// The rule, as written in the report (`≥ 0.5`).
    pub rule: String,
    /// Whether the figure meets it.
    pub met: bool,
}

/// One measured figure with its baseline.
#[derive(Debug, Clone)]
pub struct Line {
    /// Which benchmark (`ingest`, `delta`, `many`).
    pub bench: &'static str,
    /// What was measured.
    pub what: String,
    /// The figure.
    pub value: f64,
    /// What the baseline is.
    pub baseline: String,
    /// The baseline's figure, in the same unit.
    pub base: f64,
    /// The unit of both.
    pub unit: &'static str,
    /// The target, if the issue sets one for this figure.
    pub target: Option<Target>,
    /// Anything a reader needs to read the figure right.
    pub note: String,
}

/// The runs of one figure: the median is the figure, the range says how
/// much a run moved.
#[derive(Debug, Clone, Default)]
pub struct Spread(Vec<f64>);

impl Spread {
    /// Adds one run's figure.
    pub fn push(&mut self, x: f64) {
        self.0.push(x);
    }

    /// The median run (the mean of the middle two of an even count); NaN
    /// with no runs.
    pub fn median(&self) -> f64 {
        let mut xs = self.0.clone();
        xs.sort_by(f64::total_cmp);
        match xs.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => xs[n / 2],
            n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
        }
    }

    /// "median of 5 (3650–3900)", or "1 run".
    pub fn runs(&self) -> String {
        let lo = self.0.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        match self.0.len() {
            0 => "no runs".into(),
            1 => "1 run".into(),
            n => format!("median of {n} ({}–{})", number(lo), number(hi)),
        }
    }
}

impl Line {
    /// `value ÷ base`.
    pub fn ratio(&self) -> f64 {
        if self.base == 0.0 {
            f64::NAN
        } else {
            self.value / self.base
        }
    }
}

/// Which parts to run.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    /// Item 1.
    pub ingest: bool,
    /// Item 2.
    pub delta: bool,
    /// Item 3.
    pub many: bool,
    /// Item 4.
    pub converge: bool,
    /// Item 5.
    pub cold: bool,
    /// Item 6.
    pub blobs: bool,
    /// Yizhan against samod.
    pub samod: bool,
    /// The busy street.
    pub street: bool,
}

impl Parts {
    /// Every part.
    pub const ALL: Parts = Parts {
        ingest: true,
        delta: true,
        many: true,
        converge: true,
        cold: true,
        blobs: true,
        samod: true,
        street: true,
    };

    /// The names [`Parts::parse`] takes.
    pub const NAMES: &str = "ingest, delta, many, converge, cold, blobs, samod, street";

    /// Parses a comma-separated subset of [`Parts::NAMES`].
    pub fn parse(s: &str) -> anyhow::Result<Parts> {
        let mut p = Parts {
            ingest: false,
            delta: false,
            many: false,
            converge: false,
            cold: false,
            blobs: false,
            samod: false,
            street: false,
        };
        for part in s.split(',').map(str::trim) {
            match part {
                "ingest" => p.ingest = true,
                "delta" => p.delta = true,
                "many" => p.many = true,
                "converge" => p.converge = true,
                "cold" => p.cold = true,
                "blobs" => p.blobs = true,
                "samod" => p.samod = true,
                "street" => p.street = true,
                other => anyhow::bail!("unknown benchmark {other:?} ({})", Parts::NAMES),
            }
        }
        Ok(p)
    }
}

/// Runs the chosen benchmarks at `scale`, printing progress to stderr, and
/// returns every figure.
pub fn run(scale: &Scale, parts: Parts) -> anyhow::Result<Vec<Line>> {
    let mut lines = Vec::new();
    if parts.ingest {
        eprintln!("bench ingest ...");
        lines.extend(ingest::run(scale)?);
    }
    if parts.delta {
        eprintln!("bench delta ...");
        lines.extend(delta::run(scale)?);
    }
    if parts.many {
        eprintln!("bench many ...");
        lines.extend(many::run(scale)?);
    }
    if parts.converge {
        eprintln!("bench converge ...");
        lines.extend(converge::run(scale)?);
    }
    if parts.cold {
        eprintln!("bench cold ...");
        lines.extend(cold::run(scale)?);
    }
    if parts.blobs {
        eprintln!("bench blobs ...");
        lines.extend(blobs::run(scale)?);
    }
    if parts.street {
        eprintln!("bench street ...");
        lines.extend(street::run(scale)?);
    }
    if parts.samod {
        eprintln!("bench samod ...");
        lines.extend(versus::run(scale)?);
    }
    Ok(lines)
}

pub(crate) fn number(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let a = x.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// The figures as a Markdown table.
pub fn table(lines: &[Line]) -> String {
    let mut s = String::from(
        "| bench | measured | value | baseline | baseline value | ratio | target | note |\n\
         | --- | --- | ---: | --- | ---: | ---: | --- | --- |\n",
    );
    for l in lines {
        let target = match &l.target {
            Some(t) => format!("{} {}", t.rule, if t.met { "met" } else { "NOT met" }),
            None => String::new(),
        };
        s.push_str(&format!(
            "| {} | {} | {} {} | {} | {} {} | {} | {} | {} |\n",
            l.bench,
            l.what,
            number(l.value),
            l.unit,
            l.baseline,
            number(l.base),
            l.unit,
            number(l.ratio()),
            target,
            l.note,
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn a_spread_reports_its_median_and_range() {
        let mut s = Spread::default();
        assert!(s.median().is_nan());
        assert_eq!(s.runs(), "no runs");
        s.push(30.0);
        assert_eq!((s.median(), s.runs().as_str()), (30.0, "1 run"));
        s.push(10.0);
        assert_eq!(s.median(), 20.0);
        s.push(1000.0);
        assert_eq!(s.median(), 30.0);
        assert_eq!(s.runs(), "median of 3 (10.0–1000)");
    }
}
