//! `yizhan rebuild`: a fresh store for a node whose store is lost or
//! damaged, under the same identity and admission, refilled from its peers.
//!
//! The store is made by `node::rebuild`; then, unless `--no-wait`, this
//! command runs the node itself until its peers have given back what they
//! hold for it, showing the progress, and stops it, so the operator starts
//! it again the usual way (`docs/operator-guide.md`, "Rebuilding a damaged
//! store").

use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use node::admin::{Call, Request, Response, call_running};
use node::rebuild::{AdmissionFrom, OldStore, Rebuilt};
use serde::Serialize;

use crate::args::StartArgs;
use crate::i18n::{tr, tr_args};
use crate::output::{Output, print_json};
use crate::table::printable;

/// How often the refill is looked at.
const REFILL_POLL_MS: u64 = 500;

/// `yizhan rebuild`
#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// How to run the node while it refills (as for `node start`).
    #[command(flatten)]
    pub start: StartArgs,
    /// Only make the fresh store; start the node yourself and it refills.
    #[arg(long)]
    pub no_wait: bool,
    /// Stop waiting for the refill after this many seconds (what arrived
    /// is kept; the node goes on refilling when it next runs).
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    pub wait_secs: u64,
}

/// How far the refill got, from the running node's status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Refill {
    /// Documents in the store.
    pub documents: usize,
    /// Photos and voice notes in the store.
    pub blobs: usize,
    /// Blobs known missing and being fetched.
    pub blobs_wanted: usize,
    /// Admitted peers connected.
    pub peers: usize,
    /// Of those, the ones in step: everything shared with them matches.
    pub peers_in_step: usize,
    /// Seconds the refill ran.
    pub seconds: u64,
    /// Every connected peer in step and no blob missing, twice in a row.
    pub finished: bool,
}

impl Refill {
    fn complete(&self) -> bool {
        self.peers > 0 && self.peers_in_step == self.peers && self.blobs_wanted == 0
    }

    fn describe(&self) -> String {
        tr_args(self.describe_key(), &self.values())
    }

    fn describe_key(&self) -> &'static str {
        if self.peers == 0 {
            "rebuild.waiting"
        } else {
            "rebuild.refilling"
        }
    }

    /// The numbers the texts about a refill name.
    fn values(&self) -> Vec<(&'static str, String)> {
        vec![
            ("documents", self.documents.to_string()),
            ("blobs", self.blobs.to_string()),
            ("wanted", self.blobs_wanted.to_string()),
            ("in_step", self.peers_in_step.to_string()),
            ("peers", self.peers.to_string()),
            ("seconds", self.seconds.to_string()),
        ]
    }
}

#[derive(Serialize)]
struct RebuildReport<'a> {
    #[serde(flatten)]
    rebuilt: &'a Rebuilt,
    rejoin_needed: bool,
    refill: Option<Refill>,
}

/// The running node's view of the refill; `None` while it does not answer.
fn look(dir: &Path, started: Instant) -> Option<Refill> {
    match call_running(dir, &Call::new(Request::Status)) {
        Ok(Some(Response::Status(s))) => {
            let sync = s.sync.unwrap_or_default();
            Some(Refill {
                documents: s.documents,
                blobs: s.blobs,
                blobs_wanted: sync.blobs_wanted,
                peers: sync.peers_admitted.len(),
                peers_in_step: sync
                    .peers_in_step
                    .iter()
                    .filter(|p| sync.peers_admitted.contains(p))
                    .count(),
                seconds: started.elapsed().as_secs(),
                finished: false,
            })
        }
        _ => None,
    }
}

/// Polls the node until the refill is complete twice in a row with nothing
/// new arriving in between (a peer in step at one look may have announced a
/// change just after), until `wait` passes, or until `stop` is set.
fn watch(dir: &Path, wait: Duration, bar: &ProgressBar, stop: &AtomicBool) -> Refill {
    let started = Instant::now();
    let mut last: Option<Refill> = None;
    while !stop.load(Ordering::Relaxed) && started.elapsed() < wait {
        if let Some(now) = look(dir, started) {
            bar.set_message(now.describe());
            let settled = last.as_ref().is_some_and(|l| {
                l.complete() && l.documents == now.documents && l.blobs == now.blobs
            });
            if settled && now.complete() {
                return Refill {
                    finished: true,
                    ..now
                };
            }
            last = Some(now);
        }
        std::thread::sleep(Duration::from_millis(REFILL_POLL_MS));
    }
    last.unwrap_or_default()
}

fn spinner(out: &Output) -> ProgressBar {
    if out.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_message(crate::i18n::tr("rebuild.starting"));
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Runs the node until the refill is complete, the wait runs out, or the
/// operator stops it (SIGINT, SIGTERM); then stops it cleanly.
fn refill(dir: &Path, args: &RebuildArgs, out: &Output) -> anyhow::Result<Refill> {
    let mut opts = crate::start::options(dir, &args.start)?;
    opts.announce = false;
    let rt = crate::start::runtime()?;
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let bar = spinner(out);
    let watcher = {
        let (dir, stop, bar) = (dir.to_owned(), stop.clone(), bar.clone());
        let wait = Duration::from_secs(args.wait_secs);
        std::thread::spawn(move || {
            let r = watch(&dir, wait, &bar, &stop);
            let _ = done_tx.send(());
            r
        })
    };
    let shutdown = async {
        tokio::select! {
            _ = crate::start::stop_signal() => {}
            _ = done_rx => {}
        }
    };
    let ran = rt.block_on(node::daemon::run(dir, opts, shutdown));
    stop.store(true, Ordering::Relaxed);
    let mut refill = watcher.join().unwrap_or_default();
    bar.finish_and_clear();
    ran?;
    // What is durable now the node has stopped and flushed its writes.
    let held = node::Node::open_read_only(dir)?.status()?;
    refill.documents = held.documents;
    refill.blobs = held.blobs;
    Ok(refill)
}

fn admission_words(from: AdmissionFrom) -> String {
    tr(match from {
        AdmissionFrom::OldStore => "rebuild.admission.old_store",
        AdmissionFrom::AdmissionFile => "rebuild.admission.file",
        AdmissionFrom::Founded => "rebuild.admission.founded",
        AdmissionFrom::Missing => "rebuild.admission.missing",
    })
}

fn print_rebuilt(r: &Rebuilt) {
    let moved = match (&r.old_store, &r.moved_aside) {
        (OldStore::Unreadable { reason }, Some(p)) => tr_args(
            "rebuild.moved_unreadable",
            &[
                ("reason", reason.clone()),
                ("path", p.display().to_string()),
            ],
        ),
        (_, Some(p)) => tr_args("rebuild.moved", &[("path", p.display().to_string())]),
        (_, None) => tr("rebuild.no_store"),
    };
    println!("{}", printable(&moved));
    let fresh = tr_args(
        "rebuild.fresh",
        &[
            ("peer", r.peer_id.to_string()),
            ("role", crate::i18n::role(r.role.as_str())),
            ("place", r.place.to_string()),
            ("epoch", r.actor_epoch.to_string()),
            ("admission", admission_words(r.admission)),
            ("peers", r.peers_carried.to_string()),
        ],
    );
    println!("{fresh}");
}

/// `yizhan rebuild`.
pub fn rebuild(dir: &Path, args: RebuildArgs, out: &Output) -> anyhow::Result<()> {
    // Bad flags fail before anything moves.
    crate::start::options(dir, &args.start)?;
    let rebuilt = node::rebuild::rebuild(dir, Utc::now())?;
    if !out.json {
        print_rebuilt(&rebuilt);
    }
    let rejoin = rebuilt.rejoin_needed();
    let refill = if rejoin || args.no_wait {
        None
    } else {
        Some(refill(dir, &args, out)?)
    };
    if out.json {
        print_json(&RebuildReport {
            rebuilt: &rebuilt,
            rejoin_needed: rejoin,
            refill: refill.clone(),
        })?;
    } else if rejoin {
        let args = [
            ("peer", rebuilt.peer_id.to_string()),
            ("role", rebuilt.role.as_str().to_owned()),
            ("place", rebuilt.place.to_string()),
        ];
        println!("{}", tr_args("rebuild.rejoin", &args));
    } else if let Some(r) = &refill {
        if r.finished {
            println!("{}", tr_args("rebuild.refilled", &r.values()));
        }
    } else {
        println!("{}", tr("rebuild.start_it"));
    }
    if let Some(r) = refill.filter(|r| !r.finished) {
        let key = match r.describe_key() {
            "rebuild.waiting" => "rebuild.unfinished_waiting",
            _ => "rebuild.unfinished",
        };
        return Err(crate::error_out::Refusal {
            code: "refill_unfinished",
            key,
            args: r.values(),
        }
        .into());
    }
    Ok(())
}
