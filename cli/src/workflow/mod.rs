//! Workflow commands: roster, tasks and needs, points, directory, statistics,
//! export and shell completions. Each builds a [`WorkflowRequest`] from
//! arguments it has validated, sends it through the admin layer (to the
//! running node, or straight to the store) and prints the answer: an aligned
//! table with local times for people, JSON with `--json`.

mod directory;
mod escrow;
mod export;
mod local_days;
mod points;
mod roster;
mod roster_import;
mod stats;
mod tasks;

pub(crate) use export::write_file;

use std::path::Path;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone as _, Utc};
use clap::{Subcommand, ValueEnum};
use crdt_model::{MemberId, PlaceId};
use node::admin::{Request, Response, dispatch};
use node::workflow::{WorkflowRequest, WorkflowResponse};

use crate::error_out::{Refusal, refuse};
use crate::output::Output;

/// Workflow commands, flattened into the top level.
#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Counts by category, status, grid and month, with closure rates, over every report this node can see.
    Stats(stats::StatsArgs),
    /// The community's members: apply, approve, certify, move, suspend, train; correct, import from CSV; list and show.
    #[command(subcommand)]
    Roster(roster::RosterCommand),
    /// The task list: post, claim (with a lease), complete, sign off (awards the points).
    #[command(subcommand)]
    Task(tasks::TaskCommand),
    /// The needs list: what riders need (meals, rest, charging, legal or health help).
    #[command(subcommand)]
    Need(tasks::NeedCommand),
    /// Volunteer points: award, redeem, correct; escrow at stations; balances and statements.
    #[command(subcommand)]
    Points(points::PointsCommand),
    /// Service stations and caring merchants.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
    /// Write reports (JSON, CSV, GeoJSON), the roster (without personal data) or the ledger to a file or stdout.
    Export(export::ExportArgs),
    /// Print a shell completion script: `yizhan completions bash > /etc/bash_completion.d/yizhan`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: ShellArg,
    },
}

/// Shells `yizhan completions` writes scripts for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShellArg {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// Runs a workflow command.
pub fn run(dir: &Path, cmd: WorkflowCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        WorkflowCommand::Stats(a) => stats::run(dir, a, out),
        WorkflowCommand::Roster(c) => roster::run(dir, c, out),
        WorkflowCommand::Task(c) => tasks::run_task(dir, c, out),
        WorkflowCommand::Need(c) => tasks::run_need(dir, c, out),
        WorkflowCommand::Points(c) => points::run(dir, c, out),
        WorkflowCommand::Directory(c) => directory::run(dir, c, out),
        WorkflowCommand::Export(a) => export::run(dir, a, out),
        WorkflowCommand::Completions { shell } => {
            let shell = match shell {
                ShellArg::Bash => clap_complete::Shell::Bash,
                ShellArg::Zsh => clap_complete::Shell::Zsh,
                ShellArg::Fish => clap_complete::Shell::Fish,
            };
            let mut cmd = <crate::args::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "yizhan", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Sends a workflow request and returns its answer.
pub fn call(dir: &Path, req: WorkflowRequest) -> anyhow::Result<WorkflowResponse> {
    match dispatch(dir, Request::Workflow(req))? {
        Response::Workflow(w) => Ok(*w),
        other => Err(crate::file_error::unexpected(&other)),
    }
}

/// An answer of the wrong kind: a bug, said plainly.
pub(crate) fn unexpected(resp: WorkflowResponse) -> anyhow::Result<()> {
    Err(crate::file_error::unexpected(&resp))
}

/// A day written `YYYY-MM-DD`.
pub(crate) fn date(s: &str, flag: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad_value("input.not_a_date", s, flag))
}

/// A refusal of `value` given for `flag`.
fn bad_value(key: &'static str, value: &str, flag: &str) -> anyhow::Error {
    refuse(
        "bad_value",
        key,
        &[("flag", flag.to_owned()), ("value", format!("{value:?}"))],
    )
}

/// A moment written in RFC 3339 (`2026-11-23T18:00:00+08:00`) or as
/// `YYYY-MM-DD HH:MM` in local time.
pub(crate) fn datetime(s: &str, flag: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .ok_or_else(|| bad_value("input.not_a_time", s, flag))?;
    let local = Local
        .from_local_datetime(&naive)
        .single()
        .ok_or_else(|| bad_value("input.ambiguous_time", s, flag))?;
    Ok(local.with_timezone(&Utc))
}

/// A member id, such as `m-3f9a2c1d`.
pub(crate) fn member(s: &str) -> anyhow::Result<MemberId> {
    Ok(MemberId::parse(s)?)
}

/// A place prefix, if given.
pub(crate) fn place(s: Option<&str>) -> anyhow::Result<Option<PlaceId>> {
    Ok(s.map(PlaceId::parse).transpose()?)
}

/// A value of one of the model's closed sets of names, or an error listing them.
pub(crate) fn named<T>(
    s: &str,
    what: &str,
    from_name: fn(&str) -> Option<T>,
    names: fn() -> Vec<&'static str>,
) -> anyhow::Result<T> {
    from_name(s).ok_or_else(|| {
        Refusal {
            code: "unknown_name",
            key: "input.unknown_name",
            args: vec![
                ("what", what.to_owned()),
                ("value", format!("{s:?}")),
                ("known", names().join(", ")),
            ],
        }
        .into()
    })
}
