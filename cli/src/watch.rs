//! `yizhan watch`: follows the running node's new, urgent and overdue
//! cases, one line each (one JSON object per line with `--json`), until
//! Ctrl-C or the node stops.
//!
//! It polls the admin socket with a cursor ([`node::alerts::feed`]) every
//! [`POLL_MS`]: one short request at a time, so a watcher holds none of the
//! node's admin slots between polls.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use node::admin::{Call, Request, Response, call_running};
use node::alerts::{CaseEvent, Condition, WatchPage};
use tokio::signal::unix::{Signal, SignalKind, signal};

use unicode_width::UnicodeWidthStr as _;

use crate::error_out::refuse;
use crate::i18n::{tr, tr_args};
use crate::output::{Output, clip, local};
use crate::table::printable;

/// How often the node is asked for new cases.
const POLL_MS: u64 = 500;

/// What one poll found.
enum Poll {
    Page(WatchPage),
    /// No node answers on the socket any more.
    Stopped,
}

fn poll(dir: &Path, after: Option<u64>) -> anyhow::Result<Poll> {
    let call = Call::new(Request::Watch { after });
    match call_running(dir, &call) {
        Ok(Some(Response::Watch(page))) => Ok(Poll::Page(*page)),
        Ok(Some(Response::Failed(body))) => Err(node::NodeError::Remote(body).into()),
        Ok(Some(other)) => crate::report::unexpected(other),
        Ok(None) => Ok(Poll::Stopped),
        // The node closed the connection while stopping.
        Err(e) if after.is_some() && matches!(e, node::NodeError::Io { .. }) => Ok(Poll::Stopped),
        Err(e) => Err(e.into()),
    }
}

/// Runs until Ctrl-C (exit 0) or the node stops (exit 1, saying so).
pub fn run(dir: &Path, out: &Output) -> anyhow::Result<()> {
    let mut cursor = match poll(dir, None)? {
        Poll::Page(p) => p.cursor,
        Poll::Stopped => return Err(stopped(dir, "node_not_running", "watch.not_running")),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let dir: PathBuf = dir.to_owned();
    rt.block_on(async move {
        // Registered before saying so: a Ctrl-C from then on ends cleanly.
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch for Ctrl-C")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
        // On stderr, also with --json: stdout holds only the cases.
        let at = [("dir", dir.display().to_string())];
        eprintln!("{}", printable(&tr_args("watch.watching", &at)));
        loop {
            let d = dir.clone();
            let asked = tokio::task::spawn_blocking(move || poll(&d, Some(cursor)));
            let page = tokio::select! {
                _ = stop(&mut interrupt, &mut terminate) => {
                    if !out.json {
                        eprintln!("{}", tr("watch.ended"));
                    }
                    return Ok(());
                }
                r = asked => r.context("the poll did not finish")??,
            };
            let page = match page {
                Poll::Page(p) => p,
                Poll::Stopped => return Err(stopped(&dir, "node_stopped", "watch.node_stopped")),
            };
            if page.missed > 0 {
                let missed = [("n", page.missed.to_string())];
                eprintln!("{}", tr_args("watch.missed", &missed));
            }
            for e in &page.events {
                print_event(e, out)?;
            }
            cursor = page.cursor;
            if page.events.is_empty() {
                tokio::select! {
                    _ = stop(&mut interrupt, &mut terminate) => {
                        if !out.json {
                            eprintln!("{}", tr("watch.ended"));
                        }
                        return Ok(());
                    }
                    () = tokio::time::sleep(Duration::from_millis(POLL_MS)) => {}
                }
            }
        }
    })
}

/// No node answers in `dir`: before the watch began, or since.
fn stopped(dir: &Path, code: &'static str, key: &'static str) -> anyhow::Error {
    refuse(code, key, &[("dir", dir.display().to_string())])
}

/// Resolves on SIGINT or SIGTERM.
async fn stop(interrupt: &mut Signal, terminate: &mut Signal) {
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

fn print_event(e: &CaseEvent, out: &Output) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if out.json {
        writeln!(stdout, "{}", serde_json::to_string(e)?)?;
    } else {
        let what = tr(match e.condition {
            Condition::New => "watch.new",
            Condition::Urgent => "watch.urgent",
            Condition::Overdue => "watch.overdue",
        });
        // Padded in display columns, so that Chinese labels line up too.
        let pad = " ".repeat(7usize.saturating_sub(what.width()));
        let due = [("deadline", local(e.deadline))];
        writeln!(
            stdout,
            "{}  {what}{pad}  {}  {}  {}  {}  {}  {}",
            local(e.noticed_at),
            crate::i18n::category(&e.category.to_string()),
            e.place,
            e.report_id,
            crate::i18n::status(e.status.as_str()),
            tr_args("watch.due", &due),
            clip(&printable(&e.text), 60)
        )?;
    }
    // Each case as it comes, also through a pipe.
    stdout.flush()?;
    Ok(())
}
