//! `yizhan roster import FILE.csv [--dry-run] [--force]`: applicants from the
//! office's spreadsheet.
//!
//! The columns are named as `roster add`'s flags: `display_name`, `name`,
//! `phone` (required), `id_number`, `kind` (default rider), `platform`,
//! `grid`, `roles` (separated by `;`, as `export roster` writes them). Excel
//! saves "CSV UTF-8" with a byte order mark, which is skipped; a file saved
//! as plain "CSV" on Chinese Windows is GBK, which is refused with the way
//! to save it right, rather than imported as mojibake.
//!
//! Here each row is read and its names (kind, roles) checked; the node then
//! checks what it knows (text limits, phones already on the roster) and
//! writes every row in one commit, or none. Both name each bad row by its
//! line in the file.

use std::collections::HashMap;
use std::path::Path;

use anyhow::anyhow;
use crdt_model::roster::{MemberKind, Role};
use node::workflow::{
    IMPORT_ROWS_MAX, ImportRow, ImportView, MemberApplication, RosterRequest, WorkflowRequest,
    WorkflowResponse,
};

use super::{call, named, unexpected};
use crate::error_out::{self, refuse};
use crate::i18n::{tr, tr_args};
use crate::output::{Output, print_json};

/// A roster file larger than this is not a community's roster.
const IMPORT_FILE_BYTES_MAX: u64 = 8 * 1024 * 1024;

/// The columns a file may have, the required ones first.
const COLUMNS: [&str; 8] = [
    "display_name",
    "name",
    "phone",
    "id_number",
    "kind",
    "platform",
    "grid",
    "roles",
];
const REQUIRED: usize = 3;

/// Runs `yizhan roster import`.
pub fn run(
    dir: &Path,
    file: &Path,
    dry_run: bool,
    force: bool,
    out: &Output,
) -> anyhow::Result<()> {
    // `--json` is English throughout, the rows inside its one error too.
    if out.json {
        crate::i18n::set(crate::i18n::Lang::En);
    }
    let rows = read(file)?;
    let req = RosterRequest::Import {
        rows,
        dry_run,
        force,
    };
    match call(dir, WorkflowRequest::Roster(req))? {
        WorkflowResponse::Imported(v) => print(&v, file, out),
        other => unexpected(other),
    }
}

fn print(v: &ImportView, file: &Path, out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(v);
    }
    if v.dry_run {
        let args = [
            ("rows", v.rows.to_string()),
            ("file", file.display().to_string()),
            ("place", v.place.to_string()),
        ];
        let said = tr_args("roster.import_checked", &args);
        println!("{}", crate::table::printable(&said));
    } else {
        let args = [
            ("n", v.members.len().to_string()),
            ("place", v.place.to_string()),
        ];
        println!("{}", tr_args("roster.imported", &args));
        for id in &v.members {
            println!("  {id}");
        }
    }
    Ok(())
}

/// Reads and checks every row of `file`; refuses the file, naming every bad
/// row in the language in force, if any is wrong.
fn read(file: &Path) -> anyhow::Result<Vec<ImportRow>> {
    let path = ("file", file.display().to_string());
    let text = crate::text_file::read_utf8(file, IMPORT_FILE_BYTES_MAX)?;
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            let why = ("why", crate::text_file::csv_error(&e));
            return Err(refuse("bad_file", "report_import.bad_header", &[path, why]));
        }
    };
    let mut at = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        if !COLUMNS.contains(&name) {
            return Err(refuse(
                "bad_file",
                "import.unknown_column",
                &[
                    path,
                    ("column", format!("{name:?}")),
                    ("columns", COLUMNS.join(", ")),
                ],
            ));
        }
        if at.insert(name, i).is_some() {
            let column = ("column", format!("{name:?}"));
            return Err(refuse("bad_file", "import.column_twice", &[path, column]));
        }
    }
    if let Some(missing) = COLUMNS[..REQUIRED].iter().find(|c| !at.contains_key(*c)) {
        let column = ("column", format!("{missing:?}"));
        return Err(refuse("bad_file", "import.missing_column", &[path, column]));
    }
    // A row's reason as the operator reads it.
    let row = |line: u64, e: &anyhow::Error| {
        let why = error_out::shown(e).localised;
        tr_args("import.row", &[("line", line.to_string()), ("why", why)])
    };
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                bad.push(row(line, &anyhow!(crate::text_file::csv_error(&e))));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // Excel leaves blank lines at the end
        }
        if rows.len() + bad.len() >= IMPORT_ROWS_MAX {
            let max = ("max", IMPORT_ROWS_MAX.to_string());
            return Err(refuse("bad_file", "import.too_many_rows", &[path, max]));
        }
        let cell = |name: &str| crate::text_file::cell(&at, &record, name);
        match application(&cell) {
            Ok(application) => rows.push(ImportRow { line, application }),
            Err(e) => bad.push(row(line, &e)),
        }
    }
    if !bad.is_empty() {
        let rows = ("rows", bad.join(&tr("import.separator")));
        return Err(refuse("import_refused", "import.nothing_imported", &[rows]));
    }
    if rows.is_empty() {
        return Err(refuse("bad_file", "import.no_rows", &[path]));
    }
    Ok(rows)
}

/// One row as an application; the node checks the rest.
fn application(cell: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<MemberApplication> {
    let required = |name: &str| {
        cell(name).ok_or_else(|| {
            let field = ("field", name.to_owned());
            refuse("empty_cell", "report_import.empty", &[field])
        })
    };
    let kind = match cell("kind") {
        Some(k) => named(&k, "member kind", MemberKind::from_name, MemberKind::names)?,
        None => MemberKind::Rider,
    };
    let roles = cell("roles")
        .unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| named(r, "role", Role::from_name, Role::names))
        .collect::<anyhow::Result<_>>()?;
    Ok(MemberApplication {
        display_name: required("display_name")?,
        kind,
        platform: cell("platform"),
        grid: cell("grid"),
        roles,
        real_name: required("name")?,
        phone: required("phone")?,
        id_number: cell("id_number"),
    })
}
