//! Runs the operator's alert command: a few at once, each with the case as
//! JSON on its standard input and a time limit, retried with backoff, and
//! recorded in the store when it ends. Nothing here runs on the node's
//! loop: a slow SMS gateway never holds up sync.

use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{Semaphore, mpsc};
use tracing::{Instrument as _, error, info, warn};

use super::case::CaseEvent;
use super::records::{self, Outcome, SentRecord};
use crate::config::AlertsConfig;
use crate::store::Store;

/// Alert commands running at once at most.
pub const ALERTS_RUNNING_MAX: usize = 4;
/// Alerts waiting for a free slot at most; past it an alert is dropped
/// (logged, not recorded, so it is sent after the next start).
pub const ALERTS_QUEUED_MAX: usize = 256;
/// Wait before the first retry; doubles per retry.
pub const ALERT_RETRY_BACKOFF_MS_MIN: u64 = 1_000;
/// Longest wait between retries.
pub const ALERT_RETRY_BACKOFF_MS_MAX: u64 = 60_000;

/// Where alerts are handed to the runner.
pub type AlertQueue = mpsc::Sender<CaseEvent>;

/// Starts the runner on the current tokio runtime; it ends when every
/// sender of the returned queue is dropped.
pub fn spawn(config: AlertsConfig, store: Store) -> AlertQueue {
    let (tx, mut rx) = mpsc::channel::<CaseEvent>(ALERTS_QUEUED_MAX);
    let slots = Arc::new(Semaphore::new(ALERTS_RUNNING_MAX));
    let config = Arc::new(config);
    tokio::spawn(
        async move {
            while let Some(event) = rx.recv().await {
                let (config, store, slots) = (config.clone(), store.clone(), slots.clone());
                tokio::spawn(deliver(config, store, slots, event).in_current_span());
            }
        }
        .in_current_span(),
    );
    tx
}

/// Runs the command for `event` until it succeeds or the retries run out,
/// holding a slot only while the command runs, then records the outcome.
async fn deliver(config: Arc<AlertsConfig>, store: Store, slots: Arc<Semaphore>, event: CaseEvent) {
    let payload = match serde_json::to_vec(&event) {
        Ok(mut p) => {
            p.push(b'\n');
            p
        }
        Err(e) => {
            error!(report = %event.report_id, error = %e, "cannot describe a case for the alert command");
            return;
        }
    };
    let cond = event.condition.as_str();
    let mut backoff = ALERT_RETRY_BACKOFF_MS_MIN;
    let mut attempts = 0;
    let (outcome, why) = loop {
        attempts += 1;
        let result = {
            let Ok(_slot) = slots.acquire().await else {
                return;
            };
            run_once(&config, &payload).await
        };
        match result {
            Ok(()) => break (Outcome::Sent, String::new()),
            Err(why) if attempts > config.retries => break (Outcome::Failed, why),
            Err(why) => {
                // Logged on the first failure only: a command that keeps
                // failing for one case does not flood the log.
                if attempts == 1 {
                    warn!(report = %event.report_id, condition = cond, why = %why, retries = config.retries, "alert command failed; trying again");
                }
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                backoff = (backoff * 2).min(ALERT_RETRY_BACKOFF_MS_MAX);
            }
        }
    };
    let rec = SentRecord {
        at: Utc::now(),
        outcome,
        attempts,
    };
    let id = event.report_id.clone();
    let condition = event.condition;
    // Recorded before the outcome is logged: once the log says so, a
    // restart does not send it again.
    let stored =
        tokio::task::spawn_blocking(move || records::record(&store, condition, &id, &rec)).await;
    match stored {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            warn!(report = %event.report_id, error = %e, "cannot record an alert; it may be sent again after a restart")
        }
        Err(e) => warn!(report = %event.report_id, error = %e, "cannot record an alert"),
    }
    match outcome {
        Outcome::Sent => info!(report = %event.report_id, condition = cond, attempts, "alert sent"),
        Outcome::Failed => {
            error!(report = %event.report_id, condition = cond, attempts, why = %why, "alert command failed every attempt; giving up on this alert")
        }
    }
}

/// One run of the command: the payload on stdin, killed (with its whole
/// process group, so `sh -c` leaves no child behind) past the time limit.
async fn run_once(config: &AlertsConfig, payload: &[u8]) -> Result<(), String> {
    let Some((program, args)) = config.command.split_first() else {
        return Err("no command is configured".into());
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let group = child.id();
    let mut stdin = child.stdin.take();
    let run = async {
        if let Some(stdin) = stdin.as_mut() {
            // A command that does not read its input is not an error.
            let _ = stdin.write_all(payload).await;
        }
        drop(stdin.take());
        child.wait().await
    };
    let limit = Duration::from_secs(config.timeout_s);
    match tokio::time::timeout(limit, run).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(match (status.code(), status.signal()) {
            (Some(code), _) => format!("{program} exited with status {code}"),
            (None, Some(sig)) => format!("{program} was killed by signal {sig}"),
            _ => format!("{program} failed"),
        }),
        Ok(Err(e)) => Err(format!("cannot wait for {program}: {e}")),
        Err(_) => {
            if let Some(pid) = group.and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill().await;
            Err(format!(
                "{program} was still running after {} s and was killed",
                config.timeout_s
            ))
        }
    }
}
