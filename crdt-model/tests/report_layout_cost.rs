//! What a month of reports costs in Automerge under the report layout of
//! this build: operations and change bytes per report, the saved document,
//! and the time to write, save, load and list it. Ignored: it prints
//! figures for docs/benchmarks.md ("A report's content as one value")
//! rather than checking behaviour, and the same file run against the
//! earlier layout gives the other column.
//!
//! cargo test --release -p crdt-model --test report_layout_cost -- --ignored --nocapture

use std::time::{Duration, Instant};

use automerge::{ActorId, AutoCommit};
use chrono::{Duration as Minutes, TimeZone, Utc};
use crdt_model::report::{self, Attachment, AttachmentKind, NewReport};
use crdt_model::{Category, LatLon, Location, ReportId};

/// Reports in the month.
const REPORTS: u32 = 5_000;
/// Reports per commit, as a batched import writes them.
const PER_COMMIT: u32 = 100;
/// Runs of each timing; the median is printed.
const RUNS: usize = 5;

/// Report `n`: every third with a grid cell, every other with a photo, a
/// text of a typical rider's length.
fn new_report(n: u32) -> NewReport {
    let at = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + Minutes::minutes(i64::from(n));
    let categories = [
        Category::Traffic,
        Category::Sanitation,
        Category::ManholeCover,
    ];
    NewReport {
        id: ReportId::new(at, n),
        category: categories[n as usize % categories.len()],
        location: Location {
            point: LatLon::new(
                24.95 + f64::from(n % 97) * 0.0003,
                102.71 + f64::from(n % 89) * 0.0003,
            )
            .unwrap(),
            address: None,
            grid: n.is_multiple_of(3).then(|| format!("grid-{}", n % 40)),
        },
        text: format!("第 {n} 号：井盖翘起，电动车经过很危险"),
        attachments: if n.is_multiple_of(2) {
            vec![Attachment {
                hash: blake3::hash(&n.to_le_bytes()).to_hex().to_string(),
                mime: "image/jpeg".into(),
                size: 200_000,
                kind: AttachmentKind::Photo,
            }]
        } else {
            Vec::new()
        },
        reporter: None,
        submitted_at: at,
        submitted_by: "12D3KooWCommunityNodePeerIdForTheBench".into(),
        deadline: None,
    }
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn write_month() -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(vec![7u8; 32]));
    for c in 0..REPORTS / PER_COMMIT {
        for n in c * PER_COMMIT..(c + 1) * PER_COMMIT {
            report::submit(&mut doc, &new_report(n)).unwrap();
        }
        doc.commit();
    }
    doc
}

fn timed<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    (median(times), last.unwrap())
}

#[test]
#[ignore = "prints figures for docs/benchmarks.md"]
fn report_layout_costs() {
    let (write, mut doc) = timed(write_month);
    let changes = doc.get_changes(&[]);
    let ops: usize = changes.iter().map(|c| c.len()).sum();
    let change_bytes: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
    let (save, saved) = timed(|| doc.save());
    let (load, loaded) = timed(|| AutoCommit::load(&saved).unwrap());
    let (list, reports) = timed(|| report::list(&loaded).unwrap());
    assert_eq!(reports.len(), REPORTS as usize);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(REPORTS);
    let n = REPORTS as usize;
    println!("{REPORTS} reports, {PER_COMMIT} per commit, medians of {RUNS} runs");
    println!("operations per report: {:.1}", ops as f64 / n as f64);
    println!(
        "change bytes per report: {:.0}",
        change_bytes as f64 / n as f64
    );
    println!(
        "saved document bytes per report: {:.0}",
        saved.len() as f64 / n as f64
    );
    println!("write (submit + commit) per report: {:.1} µs", per(write));
    println!("save per report: {:.1} µs", per(save));
    println!("load per report: {:.1} µs", per(load));
    println!("list (read every report) per report: {:.1} µs", per(list));
}
