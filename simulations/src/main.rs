//! `simulations run SCENARIO.toml --seeds 1..=20`: runs a scenario for each
//! seed, prints a row per seed and every failure with the seed that replays
//! it, and exits non-zero if any invariant failed.
//!
//! `simulations bench`: the benchmark suite (ingestion, delta sync, many
//! documents), every figure against a baseline measured in the same run;
//! prints a Markdown table and exits non-zero if a target was missed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use simulations::bench;
use simulations::run::{SeedResult, failures, header, row, run_seed};
use simulations::scenario::Scenario;

#[derive(Parser)]
#[command(about = "Deterministic simulations of Yizhan federations")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario for a list of seeds.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Seeds: `7`, `1..=20`, `1..21` or `3,5,8`.
        #[arg(long, default_value = "1..=20")]
        seeds: String,
        /// Seeds run at once (each seed is single-threaded and deterministic
        /// whatever this is); defaults to the number of CPUs.
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Runs the benchmarks and prints a Markdown table of ratios.
    Bench {
        /// Small sizes that finish in seconds even in a debug build.
        #[arg(long)]
        quick: bool,
        /// Only these benchmarks: any of `ingest,delta,many,converge,cold,blobs,samod,street`.
        #[arg(long)]
        only: Option<String>,
        /// Also write the results into this Markdown file, between its
        /// `<!-- bench:begin … -->` and `<!-- bench:end -->` lines.
        #[arg(long, value_name = "FILE")]
        write: Option<PathBuf>,
    },
}

fn parse_seeds(s: &str) -> anyhow::Result<Vec<u64>> {
    let num = |x: &str| -> anyhow::Result<u64> {
        x.trim()
            .parse()
            .with_context(|| format!("{x:?} is not a seed"))
    };
    if let Some((a, b)) = s.split_once("..=") {
        return Ok((num(a)?..=num(b)?).collect());
    }
    if let Some((a, b)) = s.split_once("..") {
        return Ok((num(a)?..num(b)?).collect());
    }
    let seeds: Vec<u64> = s.split(',').map(num).collect::<anyhow::Result<_>>()?;
    if seeds.is_empty() {
        bail!("no seeds given");
    }
    Ok(seeds)
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Run {
            scenario,
            seeds,
            jobs,
        } => run(scenario, &seeds, jobs),
        Command::Bench { quick, only, write } => bench(quick, only.as_deref(), write.as_deref()),
    }
}

fn bench(quick: bool, only: Option<&str>, write: Option<&Path>) -> anyhow::Result<ExitCode> {
    // Refuse a file without markers before spending minutes on the run.
    if let Some(path) = write {
        let doc = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        bench::report::splice(&doc, "")
            .with_context(|| format!("cannot write results into {}", path.display()))?;
    }
    let scale = if quick {
        bench::Scale::quick()
    } else {
        bench::Scale::full()
    };
    let parts = match only {
        Some(s) => bench::Parts::parse(s)?,
        None => bench::Parts::ALL,
    };
    let started = Instant::now();
    let lines = bench::run(&scale, parts)?;
    print!("{}", bench::table(&lines));
    let seconds = started.elapsed().as_secs_f64();
    println!("{seconds:.1} s of real time");
    if let Some(path) = write {
        let run = bench::report::Run {
            command: std::env::args()
                .map(|a| {
                    // Name the program as the docs do, not by its full path.
                    match a.rsplit_once('/') {
                        Some((_, name)) if a.ends_with("simulations") => name.to_owned(),
                        _ => a,
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
            seconds,
            release: !cfg!(debug_assertions),
            at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        };
        bench::report::write(path, &bench::report::section(&lines, &run))?;
        println!("wrote the results into {}", path.display());
    }
    let missed = lines
        .iter()
        .filter(|l| l.target.as_ref().is_some_and(|t| !t.met))
        .count();
    if missed == 0 {
        println!("every target met");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{missed} target(s) not met");
    Ok(ExitCode::FAILURE)
}

fn run(scenario: PathBuf, seeds: &str, jobs: Option<usize>) -> anyhow::Result<ExitCode> {
    let seeds = parse_seeds(seeds)?;
    let sc = Scenario::load(&scenario).with_context(|| format!("{}", scenario.display()))?;
    println!("scenario {} ({} simulated hours)", sc.name, sc.hours);
    println!("{}", header());
    let started = Instant::now();
    let jobs = jobs
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .clamp(1, seeds.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<BTreeMap<usize, SeedResult>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&seed) = seeds.get(k) else {
                            return Ok(());
                        };
                        let r = run_seed(&sc, seed, None)?;
                        results
                            .lock()
                            .map_err(|_| anyhow::anyhow!("a worker panicked"))?
                            .insert(k, r);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("a worker panicked"))??;
        }
        Ok(())
    })?;
    let results = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a worker panicked"))?;
    let mut failed = Vec::new();
    for r in results.values() {
        println!("{}", row(r));
        failed.extend(failures(r));
    }
    println!("{:.1} s of real time", started.elapsed().as_secs_f64());
    if failed.is_empty() {
        println!("every invariant held for every seed");
        return Ok(ExitCode::SUCCESS);
    }
    for f in &failed {
        println!("FAILED {f}");
    }
    println!(
        "replay one with: cargo run -p simulations --release -- run {} --seeds N",
        scenario.display()
    );
    Ok(ExitCode::FAILURE)
}
