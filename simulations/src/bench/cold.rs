//! Item 5: cold start. A community node whose store holds many reports is
//! started as an operator starts it, `yizhan node start` in its own process,
//! and timed from the spawn to the moment it serves:
//!
//! - **listening**: the admin socket answers `status` and the node reports
//!   the address it listens on for peers, so both operators and peers can
//!   reach it;
//! - **first report**: `report show` of a report in the oldest month answers
//!   through the running node, which loads that month's document;
//! - **in sync with its district**: a district node that already holds every
//!   report keeps running; the community dials it on start, and is timed
//!   until `sync status` shows every reports document in sync with it. This
//!   is the whole cost of coming back: loading each document to compare
//!   heads and answering the district's summaries.
//!
//! Baselines from the same run: the same start over a store holding no
//! reports (the fixed cost of a process, the runtime and the swarm), and
//! raw redb opening the same file and reading every key once. Resident
//! memory (`VmRSS` from `/proc`) is set against the store file's size.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, TimeZone, Utc};
use crdt_model::{PlaceId, ReportId};
use node::admin::{Call, Request, Response, call_running};
use node::{Node, Role};
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};

use super::fixtures::submission;
use super::{Line, Scale, Target};

const DISTRICT: &str = "guandu";
const COMMUNITY: &str = "guandu/yiliu/xinyazhou";
/// Reports per durable commit while the store is filled (untimed).
const FILL_BATCH: u32 = 500;
/// Months the reports spread over, one `reports/YYYY-MM` document each.
const MONTHS: u32 = 12;
/// How long a start may take before the run gives up.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// The target for time to serving.
const TARGET_S: f64 = 2.0;

/// The `yizhan` executable: `$YIZHAN_BIN`, else the one Cargo built beside
/// this program (`target/<profile>/yizhan`, also from `target/<profile>/deps`).
pub fn yizhan_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("YIZHAN_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let mut dir = exe.parent().map(Path::to_owned).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("yizhan");
    if !bin.is_file() {
        bail!(
            "no yizhan executable at {}: build it first (cargo build --release -p yizhan) or set YIZHAN_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

fn month(m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, m + 1, 10, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A district and a community it admitted, in `root`; the community holds
/// `reports` reports spread over [`MONTHS`] months. Returns the community's
/// directory, the district's, and the id of one report of the first month.
fn fill(root: &Path, reports: u32) -> anyhow::Result<(PathBuf, PathBuf, Option<ReportId>)> {
    // Admissions must not lie in the future when the nodes start.
    let now = Utc::now();
    let district_dir = root.join("district");
    let mut district = Node::init(
        &district_dir,
        Role::District,
        PlaceId::parse(DISTRICT)?,
        None,
    )?;
    let dir = root.join("community");
    let mut community = Node::init(&dir, Role::Community, PlaceId::parse(COMMUNITY)?, None)?;
    let peer = community.identity().peer_id().to_string();
    let token = district.admit(
        &peer,
        Role::Community,
        PlaceId::parse(COMMUNITY)?,
        false,
        None,
        now,
    )?;
    community.join(&token, now)?;
    let mut first = None;
    let per_month = reports.div_ceil(MONTHS);
    let mut i = 0;
    while i < reports {
        let m = (i / per_month).min(MONTHS - 1);
        let n = FILL_BATCH.min(reports - i).min(per_month * (m + 1) - i);
        let reqs = (i..i + n).map(submission).collect();
        let ids = community.submit_reports(reqs, month(m))?;
        if first.is_none() {
            first = ids.first().cloned();
        }
        i += n;
        if i % 10_000 < n {
            eprintln!("  cold: {i} of {reports} reports written");
        }
    }
    Ok((dir, district_dir, first))
}

/// A running node process, killed when dropped.
struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One start: seconds from the spawn to each step; resident kB when
/// listening and after the last step, and the peak.
struct Start {
    listening_s: f64,
    in_sync_s: Option<f64>,
    report_s: Option<f64>,
    rss_listening_kb: u64,
    rss_end_kb: u64,
    peak_kb: u64,
}

fn status_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Spawns `yizhan node start` on `dir`, listening on loopback and dialling
/// `peer` if given.
fn spawn(bin: &Path, dir: &Path, peer: Option<&str>) -> anyhow::Result<Running> {
    let mut cmd = Command::new(bin);
    cmd.arg("--data-dir").arg(dir).args([
        "node",
        "start",
        "--no-mdns",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
    ]);
    if let Some(p) = peer {
        cmd.args(["--peer", p]);
    }
    let child = cmd
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    Ok(Running { child })
}

/// Polls until `done` says yes, the node exits, or [`START_TIMEOUT`] passes
/// since `t`; returns what `done` found.
fn wait<T>(
    running: &mut Running,
    t: Instant,
    what: &str,
    mut done: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    loop {
        if let Some(x) = done()? {
            return Ok(x);
        }
        if let Some(code) = running.child.try_wait()? {
            bail!("the node exited with {code} before {what}");
        }
        if t.elapsed() > START_TIMEOUT {
            bail!("the node was not {what} within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The first address the node on `dir` listens on, once it does.
fn listen_addr(dir: &Path) -> anyhow::Result<Option<String>> {
    Ok(match call_running(dir, &Call::new(Request::Status))? {
        Some(Response::Status(s)) if s.running => s.listen.into_iter().next(),
        _ => None,
    })
}

/// True when the node on `dir` reports `want` reports documents in sync
/// with a peer.
fn reports_in_sync(dir: &Path, want: usize) -> anyhow::Result<bool> {
    Ok(match call_running(dir, &Call::new(Request::SyncStatus))? {
        Some(Response::SyncStatus(rows)) => {
            rows.iter()
                .filter(|r| r.in_sync && r.doc.contains("/reports/"))
                .count()
                >= want
        }
        _ => false,
    })
}

fn start(
    bin: &Path,
    dir: &Path,
    report: Option<&ReportId>,
    district: Option<&str>,
) -> anyhow::Result<Start> {
    let t = Instant::now();
    let mut running = spawn(bin, dir, district)?;
    let pid = running.child.id();
    wait(&mut running, t, "listening", || listen_addr(dir))?;
    let listening_s = t.elapsed().as_secs_f64();
    let rss_listening_kb = status_kb(pid, "VmRSS:")?;
    let report_s = match report {
        Some(id) => match call_running(dir, &Call::new(Request::ShowReport(id.clone())))? {
            Some(Response::Report(_)) => Some(t.elapsed().as_secs_f64()),
            other => bail!("report show {id} answered {other:?}"),
        },
        None => None,
    };
    let in_sync_s = match district {
        Some(_) => {
            wait(&mut running, t, "in sync with its district", || {
                Ok(reports_in_sync(dir, MONTHS as usize)?.then_some(()))
            })?;
            Some(t.elapsed().as_secs_f64())
        }
        None => None,
    };
    let rss_end_kb = status_kb(pid, "VmRSS:")?;
    let peak_kb = status_kb(pid, "VmHWM:")?;
    drop(running);
    Ok(Start {
        listening_s,
        in_sync_s,
        report_s,
        rss_listening_kb,
        rss_end_kb,
        peak_kb,
    })
}

/// Value bytes of every entry of table `name`, keyed by `K`; 0 if the
/// store has no such table.
fn read_table<K: redb::Key + 'static>(tx: &ReadTransaction, name: &str) -> anyhow::Result<u64> {
    let def: TableDefinition<K, &[u8]> = TableDefinition::new(name);
    let table = match tx.open_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut bytes = 0;
    for entry in table.iter()? {
        bytes += entry?.1.value().len() as u64;
    }
    Ok(bytes)
}

/// Seconds for raw redb to open `file` and read every value of every table
/// of the node's layout (docs/storage.md) once, and the bytes read.
fn raw_open(file: &Path) -> anyhow::Result<(f64, u64)> {
    let t = Instant::now();
    let db = Database::open(file)?;
    let tx = db.begin_read()?;
    let mut bytes = 0;
    for name in ["meta", "doc_snapshots", "doc_info", "peers"] {
        bytes += read_table::<&str>(&tx, name)?;
    }
    for name in ["blobs", "signatures", "authors"] {
        bytes += read_table::<&[u8; 32]>(&tx, name)?;
    }
    bytes += read_table::<(&str, u64)>(&tx, "doc_changes")?;
    bytes += read_table::<(&str, &str)>(&tx, "sync_states")?;
    Ok((t.elapsed().as_secs_f64(), bytes))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs item 5 at `scale`: fills a store with `scale.cold_reports` reports,
/// then starts it three times (and an empty one three times) and takes the
/// medians.
pub fn run(scale: &Scale) -> anyhow::Result<Vec<Line>> {
    let bin = yizhan_binary()?;
    let tmp = tempfile::tempdir()?;
    let t = Instant::now();
    let (full, district_dir, first) = fill(&tmp.path().join("full"), scale.cold_reports)?;
    let fill_s = t.elapsed().as_secs_f64();
    let (empty, _, _) = fill(&tmp.path().join("empty"), 0)?;
    let first = first.context("no report was written")?;
    let store = full.join("store.redb");
    let store_bytes = std::fs::metadata(&store)
        .with_context(|| format!("{}", store.display()))?
        .len();

    // The district copies every report once, untimed, and keeps running.
    let t = Instant::now();
    let mut district = spawn(&bin, &district_dir, None)?;
    let addr = wait(&mut district, t, "listening", || listen_addr(&district_dir))?;
    let mut first_sync = spawn(&bin, &full, Some(&addr))?;
    wait(&mut first_sync, t, "in sync with its district", || {
        Ok(reports_in_sync(&full, MONTHS as usize)?.then_some(()))
    })?;
    drop(first_sync);
    let copy_s = t.elapsed().as_secs_f64();

    const RUNS: usize = 3;
    let mut full_runs = Vec::new();
    let mut empty_runs = Vec::new();
    let mut raw = Vec::new();
    let mut raw_bytes = 0;
    for _ in 0..RUNS {
        full_runs.push(start(&bin, &full, Some(&first), Some(&addr))?);
        empty_runs.push(start(&bin, &empty, None, None)?);
        let (s, b) = raw_open(&store)?;
        raw.push(s);
        raw_bytes = b;
    }
    let listening = median(full_runs.iter().map(|s| s.listening_s).collect());
    let report = median(full_runs.iter().filter_map(|s| s.report_s).collect());
    let in_sync = median(full_runs.iter().filter_map(|s| s.in_sync_s).collect());
    drop(district);
    let empty_listening = median(empty_runs.iter().map(|s| s.listening_s).collect());
    let raw_s = median(raw.clone());
    let kb = |f: fn(&Start) -> Option<u64>| {
        median(
            full_runs
                .iter()
                .filter_map(f)
                .map(|k| k as f64 * 1024.0 / 1e6)
                .collect(),
        )
    };
    let rss_listening = kb(|s| Some(s.rss_listening_kb));
    let rss_end = kb(|s| Some(s.rss_end_kb));
    let peak = kb(|s| Some(s.peak_kb));
    let empty_rss = median(
        empty_runs
            .iter()
            .map(|s| s.rss_listening_kb as f64 * 1024.0 / 1e6)
            .collect(),
    );
    let n = scale.cold_reports;
    let mb = store_bytes as f64 / 1e6;
    let held = format!(
        "{n} reports in {MONTHS} monthly documents, store {mb:.1} MB (filled in {fill_s:.0} s); median of {RUNS} starts"
    );
    let target = |s: f64| Target {
        rule: format!("≤ {TARGET_S} s"),
        met: s <= TARGET_S,
    };
    Ok(vec![
        Line {
            bench: "cold",
            what: format!("`yizhan node start`, {n} reports: spawn to listening"),
            value: listening,
            baseline: "the same start, no reports".into(),
            base: empty_listening,
            unit: "s",
            target: Some(target(listening)),
            note: format!("{held}; admin socket answers `status` with a listen address"),
        },
        Line {
            bench: "cold",
            what: format!("`yizhan node start`, {n} reports: spawn to listening"),
            value: listening,
            baseline: "raw redb: open the file, read every entry".into(),
            base: raw_s,
            unit: "s",
            target: None,
            note: format!("raw redb read {:.1} MB of values", raw_bytes as f64 / 1e6),
        },
        Line {
            bench: "cold",
            what: format!("`yizhan node start`, {n} reports: spawn to first `report show`"),
            value: report,
            baseline: "the same start, no reports, to listening".into(),
            base: empty_listening,
            unit: "s",
            target: Some(target(report)),
            note: "the report lies in the first month; showing it loads that month's document"
                .into(),
        },
        Line {
            bench: "cold",
            what: format!("`yizhan node start`, {n} reports: spawn to in sync with its district"),
            value: in_sync,
            baseline: "the same start, no reports, to listening".into(),
            base: empty_listening,
            unit: "s",
            target: Some(target(in_sync)),
            note: format!(
                "the running district already holds every report (its first copy took {copy_s:.1} s); \
                 `sync status` shows all {MONTHS} reports documents in sync"
            ),
        },
        Line {
            bench: "cold",
            what: "resident memory when listening".into(),
            value: rss_listening,
            baseline: "store file size".into(),
            base: mb,
            unit: "MB",
            target: None,
            note: format!("the node with no reports: {:.1} MB resident", empty_rss),
        },
        Line {
            bench: "cold",
            what: "resident memory after the first `report show` and the district's sync".into(),
            value: rss_end,
            baseline: "store file size".into(),
            base: mb,
            unit: "MB",
            target: None,
            note: format!("peak resident (VmHWM) {:.1} MB", peak),
        },
    ])
}
