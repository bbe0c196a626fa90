//! What a community or district office does with its files: CSV exports that
//! Excel on Chinese Windows opens, with local times and local months, and
//! the upkeep of the roster (corrections, duplicate phones, spreadsheet
//! imports). Everything goes through the `yizhan` binary on real data
//! directories; the reports of the month-end evening are written with the
//! node library at a chosen time, as no operator command backdates a report.

mod common;

use std::path::Path;

use chrono::{TimeZone as _, Utc};
use common::{fails, init, json, ok};
use crdt_model::Category;
use node::Node;
use node::api::{ReportContent, SubmitReport};

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn set_timezone(dir: &Path, zone: &str) {
    let path = dir.join("config.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("timezone = \"{zone}\"\n"));
    std::fs::write(&path, text).unwrap();
}

fn report(text: &str) -> SubmitReport {
    SubmitReport {
        content: ReportContent {
            category: Category::ManholeCover,
            lat: 24.97,
            lon: 102.74,
            text: text.into(),
            address: Some("新亚洲体育城北门".into()),
            grid: None,
            reporter: None,
        },
        attachments: Vec::new(),
    }
}

/// A community whose office is in Shanghai time, with one report at 23:30
/// local on 30 November 2026 and one at 07:30 local on 1 December (both
/// still 30 November in UTC).
fn month_end(root: &Path) -> std::path::PathBuf {
    let c = root.join("c");
    init(&c, "community", "guandu/yiliu/xinyazhou");
    set_timezone(&c, "Asia/Shanghai");
    let mut node = Node::open(&c).unwrap();
    let late = Utc.with_ymd_and_hms(2026, 11, 30, 15, 30, 0).unwrap();
    let early = Utc.with_ymd_and_hms(2026, 11, 30, 23, 30, 0).unwrap();
    node.submit_reports(vec![report("十一月最后一晚：井盖翘起")], late)
        .unwrap();
    node.submit_reports(vec![report("十二月第一早：井盖缺失")], early)
        .unwrap();
    c
}

fn export(dir: &Path, extra: &[&str]) -> Vec<u8> {
    export_what(dir, "reports", extra)
}

fn export_what(dir: &Path, what: &str, extra: &[&str]) -> Vec<u8> {
    let file = dir.join("export.csv");
    let mut args = vec!["export", what, "--out", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    ok(dir, &args);
    std::fs::read(&file).unwrap()
}

#[test]
fn csv_exports_open_in_excel_with_local_times_and_months() {
    let root = tempfile::tempdir().unwrap();
    let c = month_end(root.path());

    let november = export(&c, &["--format", "csv", "--month", "2026-11"]);
    assert!(november.starts_with(BOM), "CSV starts with a UTF-8 BOM");
    let text = std::str::from_utf8(&november[BOM.len()..]).unwrap();
    assert!(text.contains("十一月最后一晚"), "{text}");
    assert!(!text.contains("十二月第一早"), "{text}");
    assert!(text.contains("2026-11-30T23:30:00+08:00"), "{text}");
    assert!(text.contains("新亚洲体育城北门"));

    let december = export(&c, &["--format", "csv", "--month", "2026-12"]);
    let text = String::from_utf8(december).unwrap();
    assert!(text.contains("十二月第一早") && !text.contains("十一月最后一晚"));
    assert!(text.contains("2026-12-01T07:30:00+08:00"), "{text}");

    // --from/--to and --year are local days too.
    let day = export(
        &c,
        &[
            "--format",
            "csv",
            "--from",
            "2026-11-30",
            "--to",
            "2026-11-30",
        ],
    );
    let text = String::from_utf8(day).unwrap();
    assert!(text.contains("十一月最后一晚") && !text.contains("十二月第一早"));
    let year = export(&c, &["--format", "csv", "--year", "2026"]);
    assert_eq!(String::from_utf8(year).unwrap().lines().count(), 3);

    let bare = export(&c, &["--format", "csv", "--month", "2026-11", "--no-bom"]);
    assert!(bare.starts_with(b"id,"), "no BOM with --no-bom");

    // Stdout gets the same bytes as the file.
    let piped = common::yizhan(
        &c,
        &["export", "reports", "--format", "csv", "--month", "2026-11"],
    );
    assert!(piped.status.success() && piped.stdout.starts_with(BOM));

    // JSON stays in UTC for programs, but its days are local as well.
    let json_out = export(&c, &["--format", "json", "--month", "2026-11"]);
    assert!(!json_out.starts_with(BOM));
    let reports: serde_json::Value = serde_json::from_slice(&json_out).unwrap();
    assert_eq!(reports.as_array().unwrap().len(), 1);
    assert_eq!(reports[0]["submitted_at"], "2026-11-30T15:30:00Z");

    fails(
        &c,
        &["export", "reports", "--format", "json", "--no-bom"],
        "--no-bom",
    );
    fails(
        &c,
        &["export", "reports", "--format", "csv", "--month", "2026-13"],
        "--month",
    );
    fails(
        &c,
        &[
            "export",
            "reports",
            "--format",
            "csv",
            "--month",
            "2026-11",
            "--from",
            "2026-11-01",
        ],
        "not both",
    );
}

#[test]
fn the_time_zone_is_shown_and_a_bad_one_refused() {
    let root = tempfile::tempdir().unwrap();
    let c = root.path().join("c");
    init(&c, "community", "guandu/yiliu/xinyazhou");
    set_timezone(&c, "Asia/Shanghai");
    let shown = json(&c, &["config", "show"]);
    let zone = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "timezone")
        .unwrap();
    assert_eq!(zone["value"], "Asia/Shanghai");
    assert_eq!(zone["source"], "file");

    let d = root.path().join("d");
    init(&d, "district", "guandu");
    set_timezone(&d, "Beijing");
    fails(
        &d,
        &["export", "reports", "--format", "csv"],
        "Asia/Shanghai",
    );
}

#[test]
fn a_district_is_told_it_is_the_root() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("d");
    let said = ok(&d, &["init", "--role", "district", "--place", "guandu"]);
    assert!(said.contains("this node is its root"), "{said}");
    assert!(!said.contains("join"), "{said}");
    let s = root.path().join("s");
    let said = ok(&s, &["init", "--role", "street", "--place", "guandu/yiliu"]);
    assert!(said.contains("yizhan join TOKEN"), "{said}");
}

fn add_member(dir: &Path, display: &str, phone: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "roster",
        "add",
        "--display-name",
        display,
        "--name",
        "王小明",
        "--phone",
        phone,
    ];
    args.extend_from_slice(extra);
    json(dir, &args)["id"].as_str().unwrap().to_owned()
}

#[test]
fn roster_lines_read_well() {
    let root = tempfile::tempdir().unwrap();
    let c = root.path().join("c");
    init(&c, "community", "guandu/yiliu/xinyazhou");
    let m = add_member(&c, "小王", "13800001111", &[]);
    let said = ok(&c, &["roster", "leave", &m]);
    assert_eq!(said.trim(), format!("{m} has left the roster"));
    // A member without training has 0 hours, not "-0".
    let csv = export_what(&c, "roster", &["--format", "csv", "--no-bom"]);
    let csv = String::from_utf8(csv).unwrap();
    let row = csv.lines().nth(1).unwrap();
    assert!(row.ends_with(",0,0"), "{row}");
}
