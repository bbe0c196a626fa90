//! Workflow commands: statistics (and, as they land, roster, tasks, points,
//! directory and export). Each builds a [`WorkflowRequest`], sends it through
//! the admin layer and prints the answer.

use std::path::Path;

use anyhow::Context as _;
use chrono::NaiveDate;
use clap::Subcommand;
use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use crdt_model::PlaceId;
use node::admin::{Request, Response, dispatch};
use node::workflow::{StatsView, WorkflowRequest, WorkflowResponse};

use crate::output::Output;

/// Workflow commands, flattened into the top level.
#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Counts by category, status, grid and month, with closure rates, over every report this node can see.
    Stats {
        /// Only places under this prefix.
        #[arg(long)]
        place: Option<String>,
        /// Only reports submitted on or after this day (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Only reports submitted on or before this day (YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
    },
}

fn date(s: &str, flag: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("{flag} {s:?} is not a date; write it as YYYY-MM-DD"))
}

/// Sends a workflow request and returns its answer.
pub fn call(dir: &Path, req: WorkflowRequest) -> anyhow::Result<WorkflowResponse> {
    match dispatch(dir, Request::Workflow(req))? {
        Response::Workflow(w) => Ok(*w),
        other => anyhow::bail!("the node gave an unexpected answer: {other:?}"),
    }
}

/// Runs a workflow command.
pub fn run(dir: &Path, cmd: WorkflowCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        WorkflowCommand::Stats { place, from, to } => {
            let req = WorkflowRequest::Stats {
                place: place.as_deref().map(PlaceId::parse).transpose()?,
                from: from.as_deref().map(|s| date(s, "--from")).transpose()?,
                to: to.as_deref().map(|s| date(s, "--to")).transpose()?,
            };
            match call(dir, req)? {
                WorkflowResponse::Stats(s) => print_stats(&s, out),
            }
        }
    }
}

fn rate(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn print_stats(s: &StatsView, out: &Output) -> anyhow::Result<()> {
    if out.json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    let st = &s.stats;
    println!(
        "{} reports: {} open, {} closed, {} voided, {} overdue; closure rate {}, on time {}",
        st.total,
        st.open,
        st.closed,
        st.voided,
        st.overdue,
        rate(s.closure_rate),
        rate(s.on_time_closure_rate)
    );
    for (title, map) in [
        ("category", &st.by_category),
        ("status", &st.by_status),
        ("grid", &st.by_grid),
        ("month", &st.by_month),
        ("place", &st.by_place),
    ] {
        if map.is_empty() {
            continue;
        }
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_header(vec![title, "reports"]);
        for (k, v) in map {
            t.add_row(vec![k.clone(), v.to_string()]);
        }
        println!("{t}");
    }
    Ok(())
}
