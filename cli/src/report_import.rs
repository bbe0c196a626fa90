//! `yizhan report import FILE [--format csv|jsonl]`: many reports in one
//! commit, through the running node or on the store when none runs.
//!
//! The fields are named as `report submit`'s flags: `category`, `lat`,
//! `lon` (required), `text`, `address`, `grid`, `reporter`. A CSV file has
//! them as its header row; a JSON lines file has one object per line. Every
//! row is read and checked here first (category, coordinates, text limits,
//! one-line fields, member id form); the node then checks what it knows
//! (reporters on the roster) and writes all rows in one durable commit, or
//! none. A refused file names each bad row by its line, one per line.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use crdt_model::report::{self, NewReport};
use crdt_model::{Category, LatLon, Location, MemberId, ReportId};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use node::admin::{Request, Response, dispatch};
use node::api::ReportContent;
use node::error::NodeError;
use node::error_code::ErrorBody;
use node::report_import::{IMPORT_REPORTS_MAX, ImportedReport, ReportsImported};

use crate::error_out::{self, Refusal};
use crate::i18n::{tr, tr_args};
use crate::output::{Output, print_json};

/// A file larger than this is more than one import may hold.
const IMPORT_FILE_BYTES_MAX: u64 = 32 * 1024 * 1024;

/// The fields a row may have, the required ones first.
const FIELDS: [&str; 7] = [
    "category", "lat", "lon", "text", "address", "grid", "reporter",
];
const REQUIRED: usize = 3;

/// How the file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated, with a header row naming the fields.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// `yizhan report import`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file: CSV with a header row, or JSON lines.
    pub file: PathBuf,
    /// csv or jsonl [default: from the file's extension].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// One row as read, or why it is refused.
type Row = Result<ImportedReport, String>;

/// Runs `yizhan report import`.
pub fn run(dir: &Path, a: ImportArgs, out: &Output) -> anyhow::Result<()> {
    // `--json` is English throughout, the rows inside its one error too.
    if out.json {
        crate::i18n::set(crate::i18n::Lang::En);
    }
    let format = match a.format {
        Some(f) => f,
        None => format_of(&a.file)?,
    };
    let text = crate::text_file::read_utf8(&a.file, IMPORT_FILE_BYTES_MAX)?;
    let bar = bar(out, text.lines().count() as u64);
    let read = match format {
        Format::Csv => read_csv(&a.file, &text, &bar)?,
        Format::Jsonl => read_jsonl(&text, &bar),
    };
    let mut rows = Vec::with_capacity(read.len());
    let mut bad = Vec::new();
    for row in read {
        match row {
            Ok(r) => rows.push(r),
            Err(why) => bad.push(why),
        }
    }
    if !bad.is_empty() {
        bar.finish_and_clear();
        return refuse(&a.file, bad, out);
    }
    if rows.is_empty() {
        bar.finish_and_clear();
        return Err(file_refused("report_import.no_rows", &a.file, vec![]));
    }
    if rows.len() > IMPORT_REPORTS_MAX {
        bar.finish_and_clear();
        return Err(file_refused(
            "report_import.too_many",
            &a.file,
            vec![
                ("count", rows.len().to_string()),
                ("max", IMPORT_REPORTS_MAX.to_string()),
            ],
        ));
    }
    let count = rows.len();
    bar.set_style(spinner_style());
    bar.set_message(tr_args(
        "report_import.writing",
        &[("count", count.to_string())],
    ));
    let answer = dispatch(dir, Request::ImportReports(rows));
    bar.finish_and_clear();
    match answer {
        Ok(Response::ImportedReports(done)) => print(&done, &a.file, out),
        Ok(other) => crate::report::unexpected(other),
        Err(e) => match refused_rows(&e) {
            Some(rows) => refuse(&a.file, rows, out),
            None => Err(e.into()),
        },
    }
}

/// A file refused before any row is read, in the language in force.
fn file_refused(
    key: &'static str,
    file: &Path,
    mut args: Vec<(&'static str, String)>,
) -> anyhow::Error {
    args.push(("file", file.display().to_string()));
    Refusal {
        code: "report_import_file",
        key,
        args,
    }
    .into()
}

fn format_of(file: &Path) -> anyhow::Result<Format> {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => Ok(Format::Csv),
        Some("jsonl" | "ndjson" | "json") => Ok(Format::Jsonl),
        _ => Err(file_refused("report_import.unknown_format", file, vec![])),
    }
}

/// The rows a node refused, from its error, each in the language in force.
fn refused_rows(e: &NodeError) -> Option<Vec<String>> {
    let body = ErrorBody::of(e);
    (body.code == "report_import_refused")
        .then(|| body.rows.iter().map(error_out::row_text).collect())
}

/// Names each bad row on a line of its own (in one JSON error with
/// `--json`), then fails: nothing was written.
fn refuse(file: &Path, bad: Vec<String>, out: &Output) -> anyhow::Result<()> {
    if !out.json {
        for why in &bad {
            eprintln!(
                "{}",
                crate::table::printable(&format!("{}: {why}", file.display()))
            );
        }
    }
    let mut args = vec![("count", bad.len().to_string())];
    if out.json {
        args.push(("rows", bad.join("; ")));
    }
    Err(Refusal {
        code: "report_import_refused",
        key: if out.json {
            "report_import.refused_rows"
        } else {
            "report_import.refused"
        },
        args,
    }
    .into())
}

fn print(done: &ReportsImported, file: &Path, out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(done);
    }
    println!(
        "{}",
        tr_args(
            "report_import.done",
            &[
                ("count", done.imported.to_string()),
                ("file", file.display().to_string()),
                ("document", done.document.clone()),
            ],
        )
    );
    Ok(())
}

fn bar(out: &Output, lines: u64) -> ProgressBar {
    if out.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(lines), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(crate::i18n::tr("report_import.checking"));
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn read_csv(file: &Path, text: &str, bar: &ProgressBar) -> anyhow::Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(file_refused(
                "report_import.bad_header",
                file,
                vec![("why", crate::text_file::csv_error(&e))],
            ));
        }
    };
    let mut at = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        if !FIELDS.contains(&name) {
            return Err(file_refused(
                "report_import.unknown_column",
                file,
                vec![("column", name.to_owned()), ("columns", FIELDS.join(", "))],
            ));
        }
        if at.insert(name, i).is_some() {
            return Err(file_refused(
                "report_import.column_twice",
                file,
                vec![("column", name.to_owned())],
            ));
        }
    }
    if let Some(missing) = FIELDS[..REQUIRED].iter().find(|c| !at.contains_key(*c)) {
        return Err(file_refused(
            "report_import.missing_column",
            file,
            vec![("column", (*missing).to_owned())],
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        bar.inc(1);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                rows.push(Err(at_line(line, &crate::text_file::csv_error(&e))));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // Excel leaves blank lines at the end
        }
        let cell = |name: &str| crate::text_file::cell(&at, &record, name);
        let lat = cell("lat").map(|v| number(&v, "lat"));
        let lon = cell("lon").map(|v| number(&v, "lon"));
        let fields = Fields {
            category: cell("category"),
            lat,
            lon,
            text: cell("text"),
            address: cell("address"),
            grid: cell("grid"),
            reporter: cell("reporter"),
        };
        rows.push(
            fields
                .check()
                .map(|content| ImportedReport { line, content })
                .map_err(|why| at_line(line, &why)),
        );
    }
    Ok(rows)
}

fn read_jsonl(text: &str, bar: &ProgressBar) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        bar.inc(1);
        let line = i as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        rows.push(
            json_row(raw)
                .map(|content| ImportedReport { line, content })
                .map_err(|why| at_line(line, &why)),
        );
    }
    rows
}

fn json_row(raw: &str) -> Result<ReportContent, String> {
    let value: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| tr_args("report_import.not_json", &[("why", e.to_string())]))?;
    let serde_json::Value::Object(map) = value else {
        return Err(tr("report_import.not_object"));
    };
    if let Some(k) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(tr_args(
            "report_import.unknown_field",
            &[("field", k.clone()), ("fields", FIELDS.join(", "))],
        ));
    }
    let text = |name: &str| -> Result<Option<String>, String> {
        match map.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(tr_args(
                "report_import.not_string",
                &[("field", name.to_owned()), ("value", other.to_string())],
            )),
        }
    };
    let coordinate = |name: &str| -> Option<Result<f64, String>> {
        match map.get(name)? {
            serde_json::Value::Number(n) => {
                Some(n.as_f64().ok_or_else(|| not_number(name, &n.to_string())))
            }
            serde_json::Value::String(s) => Some(number(s, name)),
            serde_json::Value::Null => None,
            other => Some(Err(not_number(name, &other.to_string()))),
        }
    };
    Fields {
        category: text("category")?,
        lat: coordinate("lat"),
        lon: coordinate("lon"),
        text: text("text")?,
        address: text("address")?,
        grid: text("grid")?,
        reporter: text("reporter")?,
    }
    .check()
}

fn number(v: &str, name: &str) -> Result<f64, String> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| not_number(name, v))
}

fn not_number(field: &str, value: &str) -> String {
    tr_args(
        "report_import.not_number",
        &[("field", field.to_owned()), ("value", value.to_owned())],
    )
}

fn empty(field: &str) -> String {
    tr_args("report_import.empty", &[("field", field.to_owned())])
}

fn at_line(line: u64, why: &str) -> String {
    tr_args(
        "import.row",
        &[("line", line.to_string()), ("why", why.to_owned())],
    )
}

/// A row's fields as found, before checking.
struct Fields {
    category: Option<String>,
    lat: Option<Result<f64, String>>,
    lon: Option<Result<f64, String>>,
    text: Option<String>,
    address: Option<String>,
    grid: Option<String>,
    reporter: Option<String>,
}

impl Fields {
    /// Checks the row as `report submit` checks its flags, and as the
    /// model checks a new report; the reason is in the language in force.
    fn check(self) -> Result<ReportContent, String> {
        let shown = |e: anyhow::Error| error_out::shown(&e).localised;
        let category: Category = self
            .category
            .ok_or_else(|| empty("category"))?
            .parse()
            .map_err(|e: crdt_model::ValidationError| shown(e.into()))?;
        let lat = self.lat.ok_or_else(|| empty("lat"))??;
        let lon = self.lon.ok_or_else(|| empty("lon"))??;
        let point = LatLon::new(lat, lon).map_err(|e| shown(e.into()))?;
        let reporter = self
            .reporter
            .as_deref()
            .map(MemberId::parse)
            .transpose()
            .map_err(|e| shown(crdt_model::ValidationError::Id(e).into()))?;
        let content = ReportContent {
            category,
            lat,
            lon,
            text: self.text.unwrap_or_default(),
            address: self.address,
            grid: self.grid,
            reporter,
        };
        // The model's own check of a new report, on a stand-in id and time:
        // text limits and one-line fields, as the node will check them.
        let now = chrono::Utc::now();
        let probe = NewReport {
            id: ReportId::new(now, 0),
            category,
            location: Location {
                point,
                address: content.address.clone(),
                grid: content.grid.clone(),
            },
            text: content.text.clone(),
            attachments: Vec::new(),
            reporter: content.reporter.clone(),
            submitted_at: now,
            submitted_by: String::new(),
            deadline: None,
        };
        report::validate_new(&probe).map_err(|e| shown(e.into()))?;
        Ok(content)
    }
}
