//! Reports the benchmarks write: the same content through every path.

use automerge::AutoCommit;
use chrono::{DateTime, TimeZone, Utc};
use crdt_model::report::{self, NewReport};
use crdt_model::{Category, LatLon, Location, ReportId};
use node::api::{ReportContent, SubmitReport};

/// The moment every benchmark report is submitted at (one month, so one
/// `reports/YYYY-MM` document).
pub fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

fn category(i: u32) -> Category {
    Category::ALL[i as usize % Category::ALL.len()]
}

fn lat(i: u32) -> f64 {
    24.90 + f64::from(i % 1000) * 1e-4
}

fn text(i: u32) -> String {
    format!("井盖翘起，电动车容易摔倒 #{i}")
}

fn grid(i: u32) -> String {
    format!("g{:02}", i % 40)
}

/// Report `i` as the node's API takes it.
pub fn submission(i: u32) -> SubmitReport {
    SubmitReport {
        content: ReportContent {
            category: category(i),
            lat: lat(i),
            lon: 102.74,
            text: text(i),
            address: Some(format!("关渡区驿站路 {} 号", i % 300)),
            grid: Some(grid(i)),
            reporter: None,
        },
        attachments: Vec::new(),
    }
}

/// Report `i` as the model takes it, with the same content as
/// [`submission`]; `by` names the recording node.
pub fn new_report(i: u32, by: &str) -> NewReport {
    NewReport {
        id: ReportId::new(at(), i),
        category: category(i),
        location: Location {
            point: LatLon {
                lat: lat(i),
                lon: 102.74,
            },
            address: Some(format!("关渡区驿站路 {} 号", i % 300)),
            grid: Some(grid(i)),
        },
        text: text(i),
        attachments: Vec::new(),
        reporter: None,
        submitted_at: at(),
        submitted_by: by.into(),
        deadline: None,
    }
}

/// Submits reports `first..first + n` into `doc`, one commit each.
pub fn submit_each(doc: &mut AutoCommit, first: u32, n: u32, by: &str) -> anyhow::Result<()> {
    for i in first..first + n {
        report::submit(doc, &new_report(i, by))?;
        doc.commit();
    }
    Ok(())
}
