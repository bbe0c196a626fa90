//! The write path at a busy community's scale, through real processes:
//! `yizhan report submit` against a running node at the start of a month
//! and, alternately, against another at its 10,000th report, set against a
//! `yizhan status` round trip on the busy node; and `yizhan report import` of 10,000 reports against
//! `Node::submit_reports` of the same 10,000 in the library, in the same
//! run. Ignored in the suite (it takes a minute or two); run it with
//!
//! ```sh
//! cargo test --release -p yizhan --test write_path_bench -- --ignored --nocapture
//! ```
//!
//! and it prints the figures `docs/benchmarks.md` quotes, and fails when a
//! target of issue 16 is missed.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// Reports in the month when the late submits are timed.
const MONTH: usize = 10_000;
/// Timed submits (and status calls) per sample.
const TIMED: usize = 100;

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Times `n` calls of `yizhan ARGS` against the node in `dir`.
fn timed(dir: &Path, n: usize, args: impl Fn(usize) -> Vec<String>) -> Vec<Duration> {
    (0..n)
        .map(|i| {
            let a = args(i);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let t = Instant::now();
            ok(dir, &a);
            t.elapsed()
        })
        .collect()
}

/// `report submit` arguments for the `i`th timed report: spread over the
/// community, so the "me too" lookup finds some neighbours and not all.
fn submit_args(i: usize) -> Vec<String> {
    let categories = ["traffic", "sanitation", "manhole_cover", "other"];
    [
        "report",
        "submit",
        "--category",
        categories[i % categories.len()],
        "--lat",
        &format!("{:.5}", 24.95 + (i % 97) as f64 * 0.0003),
        "--lon",
        &format!("{:.5}", 102.70 + (i % 89) as f64 * 0.0003),
        "--text",
        &format!("timed hazard {i}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A JSON lines file of `n` reports spread like the timed ones.
fn import_file(root: &Path, name: &str, n: usize) -> std::path::PathBuf {
    let mut text = String::with_capacity(n * 120);
    for i in 0..n {
        let a = submit_args(i + 1_000);
        let row = serde_json::json!({
            "category": a[3],
            "lat": a[5].parse::<f64>().unwrap(),
            "lon": a[7].parse::<f64>().unwrap(),
            "text": format!("seeded hazard {i}"),
            "grid": format!("grid-{}", i % 7),
        });
        text.push_str(&row.to_string());
        text.push('\n');
    }
    let path = root.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes `n` reports through `Node::submit_reports` in one call on a fresh
/// community store, as `report import` would, and returns the time.
fn library_batch(root: &Path, n: usize) -> Duration {
    use node::api::{Node, ReportContent, SubmitReport};
    let dir = root.join("library");
    let mut node = Node::init(
        &dir,
        node::config::Role::Community,
        "guandu/yiliu/xinyazhou".parse().unwrap(),
        None,
    )
    .unwrap();
    let reqs: Vec<SubmitReport> = (0..n)
        .map(|i| {
            let a = submit_args(i + 1_000);
            SubmitReport {
                content: ReportContent {
                    category: a[3].parse().unwrap(),
                    lat: a[5].parse().unwrap(),
                    lon: a[7].parse().unwrap(),
                    text: format!("seeded hazard {i}"),
                    address: None,
                    grid: Some(format!("grid-{}", i % 7)),
                    reporter: None,
                },
                attachments: Vec::new(),
            }
        })
        .collect();
    let t = Instant::now();
    let ids = node.submit_reports(reqs, chrono::Utc::now()).unwrap();
    let took = t.elapsed();
    assert_eq!(ids.len(), n);
    took
}

#[test]
#[ignore = "a benchmark: run with --ignored --nocapture"]
fn submit_latency_does_not_grow_with_the_month() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // Two nodes side by side: one at the start of a month, one whose
    // month holds MONTH - TIMED reports (seeded by one import through the
    // running node). Their submits alternate, so that whatever else the
    // machine does falls on both alike.
    let (fresh, _, _) = chain(&root.join("fresh"));
    let (busy, _, _) = chain(&root.join("busy"));
    let fresh_node = NodeProc::start(&fresh, &[]);
    let busy_node = NodeProc::start(&busy, &[]);
    let seed = import_file(root, "seed.jsonl", MONTH - TIMED);
    let t = Instant::now();
    ok(&busy, &["report", "import", seed.to_str().unwrap()]);
    let seeded_in = t.elapsed();
    let (mut early, mut late, mut status_busy) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..TIMED {
        early.extend(timed(&fresh, 1, |_| submit_args(i)));
        late.extend(timed(&busy, 1, |_| submit_args(i)));
        status_busy.extend(timed(&busy, 1, |_| vec!["status".into()]));
    }
    let status_fresh = timed(&fresh, TIMED, |_| vec!["status".into()]);
    let total = json(&busy, &["stats"])["total"].as_u64().unwrap();
    assert_eq!(total as usize, MONTH);
    fresh_node.stop();
    busy_node.stop();

    // Import of MONTH reports through a running node against the library
    // call it makes, on fresh stores, in the same run.
    let (imp, _, _) = chain(&root.join("import"));
    let node = NodeProc::start(&imp, &[]);
    let whole = import_file(root, "month.jsonl", MONTH);
    let t = Instant::now();
    ok(&imp, &["report", "import", whole.to_str().unwrap()]);
    let import_cli = t.elapsed();
    node.stop();
    let import_lib = library_batch(root, MONTH);

    let (early_ms, late_ms) = (ms(median(early)), ms(median(late)));
    let status_ms = ms(median(status_busy));
    let growth = late_ms / early_ms;
    let vs_status = late_ms / status_ms;
    let import_share = import_lib.as_secs_f64() / import_cli.as_secs_f64();
    println!("| measure | value |");
    println!("| --- | --- |");
    println!("| `report submit`, median of reports 1–{TIMED} of a month | {early_ms:.1} ms |");
    println!(
        "| `report submit`, median of reports {}–{MONTH} | {late_ms:.1} ms |",
        MONTH - TIMED + 1
    );
    println!(
        "| `status` round trip, median of {TIMED}, empty month / month of {MONTH} | {:.1} ms / {status_ms:.1} ms |",
        ms(median(status_fresh))
    );
    println!(
        "| seeding {} reports with one `report import` | {:.2} s |",
        MONTH - TIMED,
        seeded_in.as_secs_f64()
    );
    println!(
        "| `report import` of {MONTH} reports through a running node | {:.2} s ({:.0} reports/s) |",
        import_cli.as_secs_f64(),
        MONTH as f64 / import_cli.as_secs_f64()
    );
    println!(
        "| `Node::submit_reports` of the same {MONTH} in the library | {:.2} s ({:.0} reports/s) |",
        import_lib.as_secs_f64(),
        MONTH as f64 / import_lib.as_secs_f64()
    );
    println!("| submit at report {MONTH} ÷ at report 1–{TIMED} | {growth:.2} (target ≤ 1.5) |");
    println!(
        "| submit at report {MONTH} ÷ `status` on the same node | {vs_status:.2} (target ≤ 3) |"
    );
    println!(
        "| `report import` throughput ÷ `Node::submit_reports` | {import_share:.2} (target ≥ 0.5) |"
    );
    assert!(
        growth <= 1.5,
        "submit latency grew {growth:.2}× over the month"
    );
    assert!(
        vs_status <= 3.0,
        "submit costs {vs_status:.2}× a status round trip"
    );
    assert!(
        import_share >= 0.5,
        "import reached {import_share:.2} of the library's rate"
    );
}
