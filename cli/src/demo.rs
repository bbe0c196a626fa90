//! `yizhan demo`: a small federation on loopback, played for a newcomer.
//!
//! It sets up a district (`guandu`), a street (`guandu/yiliu`) and two
//! communities (`guandu/yiliu/xinyazhou`, `guandu/yiliu/guanshuo`) in
//! fresh data directories exactly as operators would (`init`, `admit`,
//! `join`), starts each as a `yizhan node start` process on 127.0.0.1 with
//! mDNS off, plays a morning of rosters, reports, tasks and points through
//! their admin sockets, and shows where each item arrived and the street's
//! statistics. The nodes are stopped at the end, also when something fails.

mod fleet;
mod morning;
mod photo;
mod show;
mod timeline;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Output;

/// `yizhan demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's data directories and logs here instead of in a
    /// temporary directory that is removed afterwards (a new or empty
    /// directory).
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

/// Runs the demo: sets up and starts the four nodes, plays the morning,
/// prints what arrived where, and stops the nodes.
pub fn run(args: DemoArgs, out: &Output) -> anyhow::Result<()> {
    let started = Instant::now();
    let (root, tmp) = match &args.keep {
        Some(dir) => (prepare_kept(dir)?, None),
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("yizhan-demo-")
                .tempdir()
                .context("cannot create a temporary directory for the demo")?;
            (tmp.path().to_owned(), Some(tmp))
        }
    };
    let bar = spinner();
    let result = play(&root, &bar);
    bar.finish_and_clear();
    let mut facts = match result {
        Ok(facts) => facts,
        Err(e) => {
            // Keep the nodes' logs for whoever wants to know why.
            let dir = match tmp {
                Some(t) => t.keep(),
                None => root,
            };
            return Err(e.context(format!(
                "the demo failed; its nodes' data and logs are in {}",
                dir.display()
            )));
        }
    };
    facts.data_dir = root;
    facts.kept = tmp.is_none();
    facts.seconds = started.elapsed().as_secs_f64();
    show::print(&facts, out)
    // A temporary directory is removed here, after the nodes have stopped.
}

/// Sets up, starts, plays, gathers and stops. The fleet stops its nodes
/// when dropped, so an error anywhere leaves no node running.
fn play(root: &Path, bar: &ProgressBar) -> anyhow::Result<show::Facts> {
    bar.set_message("setting up four nodes: init, admit, join");
    let mut fleet = fleet::Fleet::set_up(root)?;
    bar.set_message("starting the nodes on 127.0.0.1");
    fleet.start()?;
    let morning = morning::play(&mut fleet, root, bar)?;
    bar.set_message("waiting for everything to arrive where it should");
    show::settle(&mut fleet, &morning)?;
    let mut facts = show::gather(&fleet, &morning)?;
    bar.set_message("stopping the nodes");
    fleet.stop()?;
    for (f, n) in facts.nodes.iter_mut().zip(fleet.nodes()) {
        f.exit_code = n.exit.and_then(|s| s.code());
    }
    facts.stopped = true;
    Ok(facts)
}

/// The directory `--keep` names, created if missing; refused if it holds
/// anything already.
fn prepare_kept(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("--keep {}: cannot read the directory", dir.display()))?;
        if entries.next().is_some() {
            let dir = [("dir", dir.display().to_string())];
            return Err(crate::error_out::refuse(
                "not_empty",
                "input.keep_not_empty",
                &dir,
            ));
        }
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--keep {}: cannot create the directory", dir.display()))?;
    std::fs::canonicalize(dir).with_context(|| format!("--keep {}", dir.display()))
}

/// A spinner on stderr when it is a terminal; hidden otherwise.
fn spinner() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>3} {wide_msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
