//! What the demo found once the morning was over: which node holds which
//! item, the street's statistics and the points balances, gathered from the
//! running nodes, then printed as tables for people or as one JSON object.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use chrono::Local;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use crdt_model::Status;
use node::admin::{Request, Response};
use node::api::{ReportFilter, ReportView};
use node::store::BlobHash;
use node::workflow::{BalanceRow, PointsRequest, StatsView, WorkflowRequest, WorkflowResponse};
use serde::Serialize;

use super::fleet::{Fleet, Who};
use super::morning::{Joined, Morning, Played, Step, report_at, secs};
use crate::i18n::{tr, tr_args};
use crate::output::{Output, print_json, table};

/// How long everything may take to settle once the morning is over.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Shown for an item a node holds.
const HELD: &str = "✓";
/// Shown for an item a node does not hold.
const NOT_HELD: &str = "–";

/// A node as the demo ran it.
#[derive(Debug, Serialize)]
pub(super) struct NodeFacts {
    /// Short name.
    pub name: &'static str,
    /// Role.
    pub role: &'static str,
    /// Place.
    pub place: &'static str,
    /// Peer id.
    pub peer_id: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Log file.
    pub log: PathBuf,
    /// Process id of its `yizhan node start`.
    pub pid: Option<u32>,
    /// Where it listened.
    pub listen: Vec<String>,
    /// The nodes it dialled, by short name.
    pub dials: Vec<&'static str>,
    /// Every document it held at the end.
    pub documents: Vec<String>,
    /// How many reports it held at the end.
    pub reports: usize,
    /// Its exit code once stopped (0: a clean stop).
    pub exit_code: Option<i32>,
}

/// A report and where it arrived.
#[derive(Debug, Serialize)]
pub(super) struct ReportFacts {
    /// The report as played.
    #[serde(flatten)]
    pub played: Played,
    /// "Me too" confirmations on it.
    pub confirmations: u32,
    /// Places of the nodes holding it.
    pub held_by: Vec<&'static str>,
    /// Places of the nodes holding its photo (empty without one).
    pub photo_held_by: Vec<&'static str>,
}

/// A document and where it arrived.
#[derive(Debug, Serialize)]
pub(super) struct DocFacts {
    /// Its id.
    pub id: String,
    /// What it holds, in English.
    pub what: String,
    /// `what` as a text of the locale files.
    #[serde(skip)]
    pub key: &'static str,
    /// Places of the nodes holding it.
    pub held_by: Vec<&'static str>,
}

/// What the morning played, in counts, to hold the statistics against.
#[derive(Debug, Serialize)]
pub(super) struct PlayedCounts {
    /// Reports submitted.
    pub reports: u64,
    /// Cases still open.
    pub open: u64,
    /// Cases closed.
    pub closed: u64,
    /// Cases voided.
    pub voided: u64,
    /// "Me too" confirmations.
    pub confirmations: u64,
}

/// Everything the demo shows.
#[derive(Debug, Serialize)]
pub(super) struct Facts {
    /// Where the nodes' data directories and logs are (or were).
    pub data_dir: PathBuf,
    /// True when they stay after the demo (`--keep`).
    pub kept: bool,
    /// How long the demo took, in seconds.
    pub seconds: f64,
    /// The four nodes.
    pub nodes: Vec<NodeFacts>,
    /// The morning's timeline.
    pub morning: Vec<Step>,
    /// The riders who joined.
    pub members: Vec<Joined>,
    /// Each report and where it arrived.
    pub reports: Vec<ReportFacts>,
    /// Each document looked for and where it arrived.
    pub documents: Vec<DocFacts>,
    /// What the morning played.
    pub played: PlayedCounts,
    /// Statistics of the street's place, as the street counts them.
    pub street_stats: StatsView,
    /// Statistics of the street's place, as the district counts them.
    pub district_stats: StatsView,
    /// Xinyazhou's points balances, as the street sees them.
    pub balances_at_street: Vec<BalanceRow>,
    /// True once every node has stopped.
    pub stopped: bool,
}

/// Waits until every report has reached the street and the district in its
/// final state, the photo and every document have reached the nodes that
/// should hold them, and the street sees the final points balances.
pub(super) fn settle(fleet: &mut Fleet, m: &Morning) -> anyhow::Result<()> {
    for r in &m.reports {
        for who in [r.owner, Who::Street, Who::District] {
            let what = format!("report {} to reach {} as {}", r.id, who.name(), r.status);
            fleet.wait(&what, SETTLE_TIMEOUT, |f| {
                Ok(report_at(f, who, &r.id)?.is_some_and(|v| v.status == r.status))
            })?;
        }
        if let Some(hash) = &r.photo {
            let hash: BlobHash = hash.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            for who in [r.owner, Who::Street, Who::District] {
                let what = format!("the photo of {} to reach {}", r.id, who.name());
                fleet.wait(&what, SETTLE_TIMEOUT, |f| {
                    Ok(f.try_ask(who, Request::Blob(hash))?.is_ok())
                })?;
            }
        }
    }
    for d in &m.documents {
        for &who in &d.expected {
            let what = format!("{} to reach {}", d.id, who.name());
            let id = d.id.to_string();
            fleet.wait(&what, SETTLE_TIMEOUT, |f| {
                Ok(documents(f, who)?.contains(&id))
            })?;
        }
    }
    for (member, balance) in &m.balances {
        let what = format!("the street to see {member} at {balance} points");
        fleet.wait(&what, SETTLE_TIMEOUT, |f| {
            Ok(balances(f, Who::Street)?
                .iter()
                .any(|b| &b.member == member && b.balance == *balance))
        })?;
    }
    Ok(())
}

fn documents(f: &Fleet, who: Who) -> anyhow::Result<BTreeSet<String>> {
    match f.ask(who, Request::Documents)? {
        Response::Documents(rows) => Ok(rows.into_iter().map(|r| r.id).collect()),
        other => bail!("{} gave an unexpected answer: {other:?}", who.name()),
    }
}

fn balances(f: &Fleet, who: Who) -> anyhow::Result<Vec<BalanceRow>> {
    let req = PointsRequest::Balance {
        place: Some(Who::Xinyazhou.place_id()?),
        member: None,
    };
    match f.flow(who, WorkflowRequest::Points(req))? {
        WorkflowResponse::Balances(rows) => Ok(rows),
        other => bail!("{} gave an unexpected answer: {other:?}", who.name()),
    }
}

fn stats(f: &Fleet, who: Who) -> anyhow::Result<StatsView> {
    let req = WorkflowRequest::Stats {
        place: Some(Who::Street.place_id()?),
        from: None,
        to: None,
    };
    match f.flow(who, req)? {
        WorkflowResponse::Stats(s) => Ok(s),
        other => bail!("{} gave an unexpected answer: {other:?}", who.name()),
    }
}

/// Asks the running nodes what they hold.
pub(super) fn gather(fleet: &Fleet, m: &Morning) -> anyhow::Result<Facts> {
    let mut nodes = Vec::new();
    let mut docs_at: BTreeMap<Who, BTreeSet<String>> = BTreeMap::new();
    let mut reports_at: BTreeMap<Who, BTreeMap<String, ReportView>> = BTreeMap::new();
    for n in fleet.nodes() {
        let docs = documents(fleet, n.who)?;
        let reports = match fleet.ask(n.who, Request::ListReports(ReportFilter::default()))? {
            Response::Reports(rows) => rows,
            other => bail!("{} gave an unexpected answer: {other:?}", n.who.name()),
        };
        nodes.push(NodeFacts {
            name: n.who.name(),
            role: n.who.role().as_str(),
            place: n.who.place(),
            peer_id: n.peer_id.clone(),
            data_dir: n.dir.clone(),
            log: n.log.clone(),
            pid: n.pid,
            listen: n.listen.clone(),
            dials: n.dials.iter().map(|w| w.name()).collect(),
            documents: docs.iter().cloned().collect(),
            reports: reports.len(),
            exit_code: None,
        });
        docs_at.insert(n.who, docs);
        reports_at.insert(
            n.who,
            reports.into_iter().map(|r| (r.id.to_string(), r)).collect(),
        );
    }
    let mut reports = Vec::new();
    for r in &m.reports {
        let key = r.id.to_string();
        let held_by = Who::ALL
            .into_iter()
            .filter(|w| reports_at[w].contains_key(&key))
            .map(Who::place)
            .collect();
        let mut photo_held_by = Vec::new();
        if let Some(hash) = &r.photo {
            let hash: BlobHash = hash.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            for who in Who::ALL {
                if fleet.try_ask(who, Request::Blob(hash))?.is_ok() {
                    photo_held_by.push(who.place());
                }
            }
        }
        let confirmations = reports_at[&r.owner]
            .get(&key)
            .map(|v| v.state.confirmations)
            .unwrap_or(0);
        reports.push(ReportFacts {
            played: r.clone(),
            confirmations,
            held_by,
            photo_held_by,
        });
    }
    let documents = m
        .documents
        .iter()
        .map(|d| {
            let id = d.id.to_string();
            DocFacts {
                held_by: Who::ALL
                    .into_iter()
                    .filter(|w| docs_at[w].contains(&id))
                    .map(Who::place)
                    .collect(),
                id,
                what: d.what.clone(),
                key: d.key,
            }
        })
        .collect();
    let confirmations = reports.iter().map(|r| u64::from(r.confirmations)).sum();
    Ok(Facts {
        data_dir: PathBuf::new(),
        kept: false,
        seconds: 0.0,
        nodes,
        morning: m.steps.clone(),
        members: m.members.clone(),
        reports,
        documents,
        played: PlayedCounts {
            reports: m.reports.len() as u64,
            open: m.count(Status::is_open),
            closed: m.count(|s| s == Status::Closed),
            voided: m.count(|s| s == Status::Voided),
            confirmations,
        },
        street_stats: stats(fleet, Who::Street)?,
        district_stats: stats(fleet, Who::District)?,
        balances_at_street: balances(fleet, Who::Street)?,
        stopped: false,
    })
}

fn rate(r: Option<f64>) -> String {
    r.map(|r| format!("{:.0}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn mark(held: bool) -> Cell {
    Cell::new(if held { HELD } else { NOT_HELD }).set_alignment(CellAlignment::Center)
}

/// The column headings of the nodes: name and role.
fn node_headers() -> Vec<String> {
    Who::ALL
        .iter()
        .map(|w| format!("{}\n{}", w.name(), crate::i18n::role(w.role().as_str())))
        .collect()
}

/// How a key of a statistics table is shown (a status or category by its
/// name in the language in force).
type Namer = fn(&str) -> String;

/// Prints the facts: tables for people, one JSON object with `--json`.
pub(super) fn print(f: &Facts, out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(f);
    }
    let seconds = [("seconds", format!("{:.1}", f.seconds))];
    println!("{}", tr_args("demo.title", &seconds));
    println!();

    println!("{}", tr("demo.nodes"));
    let mut t = table(&["node", "role", "place", "listening on", "dials"]);
    for n in &f.nodes {
        let addr = n
            .listen
            .first()
            .map(|a| a.split("/p2p/").next().unwrap_or(a).to_owned())
            .unwrap_or_default();
        t.add_row(vec![
            n.name.to_owned(),
            crate::i18n::role(n.role),
            n.place.to_owned(),
            addr,
            if n.dials.is_empty() {
                NOT_HELD.to_owned()
            } else {
                n.dials.join(", ")
            },
        ]);
    }
    crate::table::print(t);
    println!();

    println!("{}", tr("demo.morning"));
    let mut t = table(&["time", "node", "what happened", "arrived"]);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    for s in &f.morning {
        t.add_row(vec![
            s.at.with_timezone(&Local).format("%H:%M:%S").to_string(),
            s.node.to_owned(),
            s.shown_what(),
            s.shown_arrived(),
        ]);
    }
    crate::table::print(t);
    println!();

    let marks = [("held", HELD.to_owned()), ("not_held", NOT_HELD.to_owned())];
    println!("{}", tr_args("demo.arrived", &marks));
    let mut header = vec![crate::table::label("data")];
    header.extend(node_headers());
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    for r in &f.reports {
        let p = &r.played;
        let mut row = vec![Cell::new(tr_args(
            "demo.report_row",
            &[
                ("id", p.id.to_string()),
                ("category", crate::i18n::category(&p.category.to_string())),
                ("status", crate::i18n::status(p.status.as_str())),
            ],
        ))];
        row.extend(
            Who::ALL
                .iter()
                .map(|w| mark(r.held_by.contains(&w.place()))),
        );
        t.add_row(row);
        if p.photo.is_some() {
            let mut row = vec![Cell::new(tr("demo.its_photo"))];
            row.extend(
                Who::ALL
                    .iter()
                    .map(|w| mark(r.photo_held_by.contains(&w.place()))),
            );
            t.add_row(row);
        }
    }
    for d in &f.documents {
        let mut row = vec![Cell::new(tr(d.key))];
        row.extend(
            Who::ALL
                .iter()
                .map(|w| mark(d.held_by.contains(&w.place()))),
        );
        t.add_row(row);
    }
    println!("{t}");
    println!("{}", tr("demo.how_it_travels"));
    if let Some(first) = f.reports.first() {
        let slowest = f
            .reports
            .iter()
            .map(|r| r.played.reached_district_ms)
            .max()
            .unwrap_or(first.played.reached_district_ms);
        let within = [("time", secs(Duration::from_millis(slowest)))];
        println!("{}", tr_args("demo.reached_district", &within));
    }
    println!();

    let s = &f.street_stats;
    let st = &s.stats;
    println!("{}", tr("demo.street_stats"));
    let counts = [
        ("total", st.total.to_string()),
        ("open", st.open.to_string()),
        ("closed", st.closed.to_string()),
        ("voided", st.voided.to_string()),
        ("overdue", st.overdue.to_string()),
        ("me_too", st.confirmations.to_string()),
        ("rate", rate(s.closure_rate)),
        ("on_time", rate(s.on_time_closure_rate)),
    ];
    println!("{}", tr_args("demo.street_counts", &counts));
    let mut t = table(&["by", "", "reports"]);
    let by: [(&str, &BTreeMap<String, u64>, Namer); 3] = [
        ("status", &st.by_status, crate::i18n::status),
        ("category", &st.by_category, crate::i18n::category),
        ("community", &st.by_place, str::to_owned),
    ];
    for (title, map, name) in by {
        for (i, (k, v)) in map.iter().enumerate() {
            let title = if i == 0 {
                crate::table::label(title)
            } else {
                String::new()
            };
            t.add_row(vec![
                Cell::new(title),
                Cell::new(name(k)),
                Cell::new(v).set_alignment(CellAlignment::Right),
            ]);
        }
    }
    crate::table::print(t);
    let d = &f.district_stats;
    let counts = [
        ("total", d.stats.total.to_string()),
        ("closed", d.stats.closed.to_string()),
        ("rate", rate(d.closure_rate)),
    ];
    println!("{}", tr_args("demo.district_counts", &counts));
    println!();

    println!("{}", tr("demo.points"));
    let mut t = table(&["member", "name", "balance"]);
    for b in &f.balances_at_street {
        t.add_row(vec![
            Cell::new(&b.member),
            Cell::new(b.display_name.as_deref().unwrap_or("")),
            Cell::new(b.balance).set_alignment(CellAlignment::Right),
        ]);
    }
    crate::table::print(t);
    println!();

    println!("{}", tr("demo.stopped"));
    if f.kept {
        let dir = f.data_dir.display();
        let at = [("dir", dir.to_string())];
        println!("{}", tr_args("demo.kept", &at));
        println!("  yizhan --data-dir {dir}/yiliu report list");
        println!("  yizhan --data-dir {dir}/yiliu stats");
        println!("  yizhan --data-dir {dir}/xinyazhou roster list");
        println!("  yizhan --data-dir {dir}/guandu doc list");
    } else {
        println!("{}", tr("demo.removed"));
    }
    Ok(())
}
