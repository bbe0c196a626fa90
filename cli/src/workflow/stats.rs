//! `yizhan stats`: counts by category, status, grid, month and place, with
//! the closure rate and the on-time closure rate.

use std::path::Path;

use clap::Args;
use node::workflow::{StatsView, WorkflowRequest, WorkflowResponse};

use super::{align_right, call, date, place, unexpected};
use crate::output::{Output, print_json, table};

/// `yizhan stats`
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only places under this prefix.
    #[arg(long)]
    pub place: Option<String>,
    /// Only reports submitted on or after this day (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Only reports submitted on or before this day (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
}

/// Runs `yizhan stats`.
pub fn run(dir: &Path, a: StatsArgs, out: &Output) -> anyhow::Result<()> {
    let req = WorkflowRequest::Stats {
        place: place(a.place.as_deref())?,
        from: a.from.as_deref().map(|s| date(s, "--from")).transpose()?,
        to: a.to.as_deref().map(|s| date(s, "--to")).transpose()?,
    };
    match call(dir, req)? {
        WorkflowResponse::Stats(s) => print_stats(&s, out),
        other => unexpected(other),
    }
}

fn rate(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn print_stats(s: &StatsView, out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(s);
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
        let mut t = table(&[title, "reports"]);
        for (k, v) in map {
            t.add_row(vec![k.clone(), v.to_string()]);
        }
        align_right(&mut t, &[1]);
        crate::table::print(t);
    }
    Ok(())
}
