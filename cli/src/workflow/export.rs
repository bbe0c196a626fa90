//! `yizhan export`: reports as JSON, CSV or GeoJSON (points in WGS-84 that GIS
//! tools load), the roster without personal data, and the ledger with each
//! member's running balance.
//!
//! CSV is for offices, which open it in Excel: it starts with a UTF-8 byte
//! order mark (without one, Excel on Chinese Windows reads the file as GBK
//! and garbles every Chinese character; `--no-bom` leaves it out for other
//! tools), and its times are in the node's time zone with the offset written
//! (`2026-11-30T23:30:00+08:00`). JSON and GeoJSON are for programs and keep
//! UTC (`…Z`), the same shapes `--json` prints. `--from`/`--to`, `--year`
//! and `--month` choose reports by their local day in every format.
//!
//! A file is written beside its target and renamed into place, so a reader
//! never sees half an export. A progress bar shows on a terminal for long
//! exports.

use crate::file_error::FileContext as _;
use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use node::admin::{Request, Response, dispatch};
use node::api::{ReportFilter, ReportView};
use node::workflow::{
    LedgerView, MemberView, PointsRequest, RosterRequest, WorkflowRequest, WorkflowResponse,
};
use serde_json::json;

use super::local_days::{DayFlags, DayRange, stamp};
use super::{call, member, place};
use crate::error_out::refuse;
use crate::output::Output;

/// Rows below this many export without a progress bar.
const PROGRESS_ROWS_MIN: usize = 200;

/// The UTF-8 byte order mark: how Excel tells a CSV file is UTF-8.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportWhat {
    /// Every report this node holds, with its status and deadline.
    Reports,
    /// Members of the rosters held, without names, phones or ID numbers.
    Roster,
    /// The ledgers of a year held under a place: every entry with the member's balance after it.
    Ledger,
}

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// JSON, the same shapes as `--json`.
    Json,
    /// Comma-separated values with a header row.
    Csv,
    /// A GeoJSON FeatureCollection of points (reports only).
    Geojson,
}

/// `yizhan export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// What to export.
    #[arg(value_enum)]
    pub what: ExportWhat,
    /// The file format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Write to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only places under this prefix: a street covers the communities below
    /// it whose documents it holds [default: every place held; the ledger:
    /// this node's place].
    #[arg(long)]
    pub place: Option<String>,
    /// Reports submitted on or after this day, YYYY-MM-DD, in the node's time zone.
    #[arg(long)]
    pub from: Option<String>,
    /// Reports submitted on or before this day, YYYY-MM-DD, in the node's time zone.
    #[arg(long)]
    pub to: Option<String>,
    /// Reports: those submitted in this year in the node's time zone.
    /// Ledger: the year's ledger (default: this year).
    #[arg(long)]
    pub year: Option<i32>,
    /// Reports submitted in this month, YYYY-MM, in the node's time zone.
    #[arg(long)]
    pub month: Option<String>,
    /// CSV without the UTF-8 byte order mark (for tools that show it as a stray character).
    #[arg(long)]
    pub no_bom: bool,
    /// Only this member's ledger entries.
    #[arg(long)]
    pub member: Option<String>,
}

fn check(a: &ExportArgs) -> anyhow::Result<()> {
    if a.format == Format::Geojson && a.what != ExportWhat::Reports {
        return Err(refuse("bad_flags", "input.geojson_reports_only", &[]));
    }
    if a.what != ExportWhat::Reports && (a.from.is_some() || a.to.is_some() || a.month.is_some()) {
        return Err(refuse("bad_flags", "input.days_select_reports", &[]));
    }
    if a.what == ExportWhat::Roster && a.year.is_some() {
        return Err(refuse("bad_flags", "input.year_not_members", &[]));
    }
    if a.what != ExportWhat::Ledger && a.member.is_some() {
        return Err(refuse("bad_flags", "input.member_selects_ledger", &[]));
    }
    if a.no_bom && a.format != Format::Csv {
        return Err(refuse("bad_flags", "input.no_bom_csv_only", &[]));
    }
    Ok(())
}

/// Runs `yizhan export`.
pub fn run(dir: &Path, a: ExportArgs, out: &Output) -> anyhow::Result<()> {
    check(&a)?;
    let place = place(a.place.as_deref())?;
    let tz = node::Node::load_config(dir)?.zone()?.tz;
    let days = match a.what {
        ExportWhat::Reports => DayRange::from_flags(&DayFlags {
            from: a.from.as_deref(),
            to: a.to.as_deref(),
            year: a.year,
            month: a.month.as_deref(),
        })?,
        _ => DayRange::default(),
    };
    let who = a.member.as_deref().map(member).transpose()?;
    let (bytes, count) = match a.what {
        ExportWhat::Reports => {
            let filter = ReportFilter {
                place,
                ..ReportFilter::default()
            };
            let mut reports = match dispatch(dir, Request::ListReports(filter))? {
                Response::Reports(r) => r,
                other => return Err(crate::file_error::unexpected(&other)),
            };
            reports.retain(|r| days.contains(r.submitted_at, tz));
            reports.sort_by(|x, y| (x.submitted_at, &x.id).cmp(&(y.submitted_at, &y.id)));
            let bar = progress(reports.len(), "reports");
            let bytes = match a.format {
                Format::Json => serde_json::to_vec_pretty(&reports)?,
                Format::Csv => reports_csv(&reports, tz, &bar)?,
                Format::Geojson => reports_geojson(&reports, &bar)?,
            };
            bar.finish_and_clear();
            (bytes, reports.len())
        }
        ExportWhat::Roster => {
            let req = RosterRequest::List {
                place,
                status: None,
                grid: None,
            };
            let members = match call(dir, WorkflowRequest::Roster(req))? {
                WorkflowResponse::Members(m) => m,
                other => return Err(crate::file_error::unexpected(&other)),
            };
            let bytes = match a.format {
                Format::Csv => roster_csv(&members, tz)?,
                _ => serde_json::to_vec_pretty(&members)?,
            };
            (bytes, members.len())
        }
        ExportWhat::Ledger => {
            let req = PointsRequest::Ledger {
                place,
                year: a.year,
                member: who,
            };
            let ledgers = match call(dir, WorkflowRequest::Points(req))? {
                WorkflowResponse::Ledgers(l) => l,
                other => return Err(crate::file_error::unexpected(&other)),
            };
            let bytes = match a.format {
                Format::Csv => ledger_csv(&ledgers, tz)?,
                _ => serde_json::to_vec_pretty(&ledgers)?,
            };
            (bytes, ledgers.iter().map(|l| l.entries.len()).sum())
        }
    };
    let bytes = if a.format == Format::Csv && !a.no_bom {
        [UTF8_BOM, &bytes].concat()
    } else {
        bytes
    };
    let what = match a.what {
        ExportWhat::Reports => "reports",
        ExportWhat::Roster => "members",
        ExportWhat::Ledger => "ledger entries",
    };
    match &a.out {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&bytes)?;
            if !bytes.ends_with(b"\n") {
                stdout.write_all(b"\n")?;
            }
        }
        Some(path) => {
            write_file(path, &bytes)?;
            if out.json {
                println!(
                    "{}",
                    json!({ "file": path, "count": count, "what": what, "bytes": bytes.len() })
                );
            } else {
                let args = [
                    ("count", count.to_string()),
                    ("what", crate::i18n::named("export_what", what)),
                    ("path", path.display().to_string()),
                ];
                println!("{}", crate::i18n::tr_args("export.wrote", &args));
            }
        }
    }
    Ok(())
}

/// A progress bar on stderr when it is a terminal and the work is long; hidden otherwise.
fn progress(len: usize, what: &str) -> ProgressBar {
    if len < PROGRESS_ROWS_MIN || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({eta})") {
        bar.set_style(style);
    }
    bar.set_message(format!("exporting {what}"));
    bar
}

/// Writes beside `path` and renames into place.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    std::fs::write(&part, bytes).writing(&part)?;
    std::fs::rename(&part, path).writing(path)?;
    Ok(())
}

fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn reports_csv(reports: &[ReportView], tz: Tz, bar: &ProgressBar) -> anyhow::Result<Vec<u8>> {
    let local = |t| stamp(t, tz);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "place",
        "category",
        "status",
        "lat",
        "lon",
        "address",
        "grid",
        "text",
        "reporter",
        "submitted_at",
        "deadline",
        "overdue",
        "handler",
        "closed_at",
        "close_reason",
        "void_reason",
        "closed_on_time",
        "confirmations",
        "attachments",
    ])?;
    for r in reports {
        let s = &r.state;
        w.write_record([
            r.id.to_string(),
            r.place.to_string(),
            r.category.to_string(),
            r.status.to_string(),
            r.lat.to_string(),
            r.lon.to_string(),
            r.address.clone().unwrap_or_default(),
            r.grid.clone().unwrap_or_default(),
            r.text.clone(),
            opt(r.reporter.as_ref()),
            local(r.submitted_at),
            local(r.deadline),
            r.overdue.to_string(),
            s.handler.clone().unwrap_or_default(),
            opt(s.closed_at.map(local)),
            opt(s.close_reason),
            opt(s.void_reason),
            opt(s.closed_on_time),
            s.confirmations.to_string(),
            r.attachments.len().to_string(),
        ])?;
        bar.inc(1);
    }
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}

/// A GeoJSON FeatureCollection (RFC 7946): one Point per report, coordinates
/// in [longitude, latitude] order. Reporter ids are left out: maps travel
/// further than case files.
fn reports_geojson(reports: &[ReportView], bar: &ProgressBar) -> anyhow::Result<Vec<u8>> {
    let mut features = Vec::with_capacity(reports.len());
    for r in reports {
        let s = &r.state;
        features.push(json!({
            "type": "Feature",
            "id": r.id,
            "geometry": { "type": "Point", "coordinates": [r.lon, r.lat] },
            "properties": {
                "id": r.id,
                "place": r.place,
                "category": r.category,
                "status": r.status,
                "grid": r.grid,
                "address": r.address,
                "text": r.text,
                "submitted_at": utc(r.submitted_at),
                "deadline": utc(r.deadline),
                "overdue": r.overdue,
                "closed_at": s.closed_at.map(utc),
                "close_reason": s.close_reason,
                "closed_on_time": s.closed_on_time,
                "confirmations": s.confirmations,
            },
        }));
        bar.inc(1);
    }
    let fc = json!({ "type": "FeatureCollection", "features": features });
    Ok(serde_json::to_vec_pretty(&fc)?)
}

fn roster_csv(members: &[MemberView], tz: Tz) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "place",
        "display_name",
        "kind",
        "platform",
        "grid",
        "status",
        "roles",
        "applied_at",
        "certificate_number",
        "certificate_issued",
        "certificate_expires",
        "trainings",
        "training_hours",
    ])?;
    for v in members {
        let m = &v.member;
        let roles: Vec<&str> = m.roles.iter().map(|r| r.as_str()).collect();
        let c = m.certificate.as_ref();
        w.write_record([
            m.id.to_string(),
            v.place.to_string(),
            m.display_name.clone(),
            m.kind.to_string(),
            m.platform.clone().unwrap_or_default(),
            m.grid.clone().unwrap_or_default(),
            m.status.to_string(),
            roles.join(";"),
            stamp(m.applied_at, tz),
            opt(c.map(|c| &c.number)),
            opt(c.map(|c| c.issued)),
            opt(c.map(|c| c.expires)),
            m.training.len().to_string(),
            super::roster::training_hours(m).to_string(),
        ])?;
    }
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}

/// One table for every ledger: the place column tells the communities apart.
fn ledger_csv(ledgers: &[LedgerView], tz: Tz) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "at",
        "entry",
        "place",
        "member",
        "amount",
        "balance",
        "kind",
        "reason",
        "reference",
        "redeemed_at",
        "item",
        "by",
    ])?;
    for (l, line) in ledgers
        .iter()
        .flat_map(|l| l.entries.iter().map(move |line| (l, line)))
    {
        let e = &line.entry;
        w.write_record([
            stamp(e.at, tz),
            e.id.to_string(),
            l.place.to_string(),
            e.member.to_string(),
            e.amount.to_string(),
            line.balance.to_string(),
            e.kind.to_string(),
            e.reason.clone().unwrap_or_default(),
            e.reference.clone().unwrap_or_default(),
            e.redeemed_at.clone().unwrap_or_default(),
            e.item.clone().unwrap_or_default(),
            e.by.clone(),
        ])?;
    }
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}
