//! `yizhan stats`: counts by category, status, grid, month and place, with
//! the closure rate and the on-time closure rate.

use std::path::Path;

use clap::Args;
use node::workflow::{StatsView, WorkflowRequest, WorkflowResponse};

use super::{call, date, place, unexpected};
use crate::i18n::{self, tr_args};
use crate::output::{Output, labelled, print_json};

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
        "{}",
        tr_args(
            "stats.summary",
            &[
                ("total", st.total.to_string()),
                ("open", st.open.to_string()),
                ("closed", st.closed.to_string()),
                ("voided", st.voided.to_string()),
                ("overdue", st.overdue.to_string()),
                ("rate", rate(s.closure_rate)),
                ("on_time", rate(s.on_time_closure_rate)),
            ],
        )
    );
    // Category and status keys are the stable names; people read them.
    let as_is = |k: &str| k.to_owned();
    for (title, map, name) in [
        (
            "list.category",
            &st.by_category,
            &i18n::category as &dyn Fn(&str) -> String,
        ),
        ("list.status", &st.by_status, &i18n::status),
        ("case.grid", &st.by_grid, &as_is),
        ("stats.month", &st.by_month, &as_is),
        ("list.place", &st.by_place, &as_is),
    ] {
        if map.is_empty() {
            continue;
        }
        let mut t = labelled(&[title, "stats.reports"]);
        for (k, v) in map {
            t.add_row(vec![name(k), v.to_string()]);
        }
        crate::table::print(t);
    }
    Ok(())
}
