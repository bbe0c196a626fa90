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

const ROSTER_DOC: &str = "guandu/yiliu/xinyazhou/roster";

fn community(root: &Path) -> std::path::PathBuf {
    let c = root.join("c");
    init(&c, "community", "guandu/yiliu/xinyazhou");
    c
}

/// `yizhan roster edit MEMBER ARGS...`, which must succeed.
fn edit(dir: &Path, member: &str, args: &[&str]) -> String {
    let mut all = vec!["roster", "edit", member];
    all.extend_from_slice(args);
    ok(dir, &all)
}

fn members(dir: &Path) -> usize {
    json(dir, &["roster", "list"]).as_array().unwrap().len()
}

/// Every key and string the exported public roster document ever held, at
/// every change of its history, read with Automerge alone.
fn roster_strings(dir: &Path) -> Vec<String> {
    use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, Value};
    fn walk(doc: &AutoCommit, obj: &automerge::ObjId, out: &mut Vec<String>) {
        for key in doc.keys(obj) {
            out.push(key.clone());
            match doc.get(obj, &key).unwrap() {
                Some((Value::Object(ObjType::Map), id)) => walk(doc, &id, out),
                Some((Value::Scalar(s), _)) => out.push(s.to_string()),
                _ => {}
            }
        }
    }
    let file = dir.join("roster.automerge");
    ok(
        dir,
        &["doc", "export", ROSTER_DOC, "--out", file.to_str().unwrap()],
    );
    let mut doc = AutoCommit::load(&std::fs::read(&file).unwrap()).unwrap();
    let hashes: Vec<_> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
    let mut out = Vec::new();
    for h in hashes {
        let past = doc.fork_at(&[h]).unwrap();
        walk(&past, &ROOT, &mut out);
    }
    out
}

#[test]
fn roster_edit_corrects_public_and_private_fields() {
    let root = tempfile::tempdir().unwrap();
    let c = community(root.path());
    let m = add_member(
        &c,
        "小王",
        "138 0000 1111",
        &["--platform", "meituan", "--grid", "g01"],
    );
    let said = edit(
        &c,
        &m,
        &[
            "--display-name",
            "王师傅",
            "--platform",
            "eleme",
            "--grid",
            "g02",
            "--name",
            "王晓明",
            "--phone",
            "139 0000 2222",
            "--id-number",
            "530102199001011234",
        ],
    );
    assert!(said.contains("corrected the record"), "{said}");
    let shown = json(&c, &["roster", "show", &m, "--reveal"]);
    assert_eq!(shown["display_name"], "王师傅");
    assert_eq!(shown["platform"], "eleme");
    assert_eq!(shown["grid"], "g02");
    assert_eq!(shown["private"]["real_name"], "王晓明");
    assert_eq!(shown["private"]["phone"], "139 0000 2222");
    assert_eq!(shown["private"]["id_number"], "530102199001011234");

    // One field given changes that field only.
    edit(&c, &m, &["--phone", "13900003333"]);
    let shown = json(&c, &["roster", "show", &m]);
    assert_eq!(shown["private"]["phone"], "13900003333");
    assert_eq!(shown["private"]["real_name"], "王晓明");
    assert_eq!(shown["display_name"], "王师傅");

    // The public roster document, in its whole history, holds the new
    // public fields and none of the personal ones.
    let strings = roster_strings(&c);
    assert!(strings.iter().any(|s| s.contains("王师傅")), "{strings:?}");
    for private in [
        "王晓明",
        "王小明",
        "139 0000 2222",
        "13900003333",
        "138 0000 1111",
        "530102199001011234",
    ] {
        assert!(
            !strings.iter().any(|s| s.contains(private)),
            "{private} is in the public roster: {strings:?}"
        );
    }

    // Refusals name the problem and change nothing.
    fails(&c, &["roster", "edit", &m], "nothing to change");
    fails(
        &c,
        &["roster", "edit", &m, "--phone", "电话", "--grid", "g09"],
        "phone",
    );
    fails(
        &c,
        &["roster", "edit", &m, "--display-name", " "],
        "display name",
    );
    fails(
        &c,
        &["roster", "edit", "m-00000000", "--grid", "g03"],
        "m-00000000",
    );
    let after = json(&c, &["roster", "show", &m]);
    assert_eq!(after["grid"], "g02");
    assert_eq!(after["private"]["phone"], "13900003333");
}

#[test]
fn a_phone_already_on_the_roster_is_refused_without_force() {
    let root = tempfile::tempdir().unwrap();
    let c = community(root.path());
    let first = add_member(&c, "小王", "138 0000 1111", &[]);
    // The same number typed another way.
    let said = fails(
        &c,
        &[
            "roster",
            "add",
            "--display-name",
            "老王",
            "--name",
            "王大明",
            "--phone",
            "+86 138-0000-1111",
        ],
        &first,
    );
    assert!(said.contains("--force"), "{said}");
    assert_eq!(members(&c), 1);
    add_member(&c, "老王", "+86 138-0000-1111", &["--force"]);
    assert_eq!(members(&c), 2);

    let third = add_member(&c, "小李", "13700000000", &[]);
    fails(
        &c,
        &["roster", "edit", &third, "--phone", "13800001111"],
        "already on the roster",
    );
    assert_eq!(
        json(&c, &["roster", "show", &third])["private"]["phone"],
        "13700000000"
    );
    edit(&c, &third, &["--phone", "13800001111", "--force"]);
    // A member's own phone is not a duplicate of itself.
    edit(&c, &third, &["--phone", "138 0000 1111", "--force"]);
    edit(
        &c,
        &first,
        &["--name", "王小明", "--phone", "138 0000 1111", "--force"],
    );
}

const GOOD_CSV: &str = "\u{feff}display_name,name,phone,id_number,kind,platform,grid,roles
小张,张伟,13800000001,530102199001011111,rider,meituan,g01,part_time_grid_worker
小刘,刘洋,138 0000 0002,,courier,sf,g02,
小陈,陈静,+86 13800000003,,,,g01,part_time_grid_worker;governance_observer
,,,,,,,
";

#[test]
fn roster_import_writes_every_row_in_one_commit_or_none() {
    let root = tempfile::tempdir().unwrap();
    let c = community(root.path());
    let good = root.path().join("good.csv");
    std::fs::write(&good, GOOD_CSV).unwrap();
    let file = good.to_str().unwrap();

    let said = ok(&c, &["roster", "import", file, "--dry-run"]);
    assert!(said.contains("dry run: all 3 rows"), "{said}");
    assert_eq!(members(&c), 0);

    // A bad row, found by the command (an unknown kind) or by the node (a
    // phone with letters): nothing is written, and the row is named.
    let bad = root.path().join("bad.csv");
    std::fs::write(&bad, GOOD_CSV.replace("courier,sf", "bicycle,sf")).unwrap();
    let said = fails(&c, &["roster", "import", bad.to_str().unwrap()], "line 3");
    assert!(
        said.contains("bicycle") && !said.contains("line 2"),
        "{said}"
    );
    std::fs::write(&bad, GOOD_CSV.replace("+86 13800000003", "138-abc")).unwrap();
    let said = fails(
        &c,
        &["roster", "import", bad.to_str().unwrap(), "--dry-run"],
        "line 4",
    );
    assert!(said.contains("phone"), "{said}");
    fails(&c, &["roster", "import", bad.to_str().unwrap()], "line 4");
    std::fs::write(&bad, GOOD_CSV.replace("138 0000 0002", "13800000001")).unwrap();
    fails(
        &c,
        &["roster", "import", bad.to_str().unwrap()],
        "line 3: the phone is also on line 2",
    );
    // Excel's plain "CSV" on Chinese Windows is GBK: "小张" is C8 A1 D5 C5 there.
    std::fs::write(&bad, b"display_name,name,phone\n\xD0\xA1\xD5\xC5,x,1\n").unwrap();
    fails(
        &c,
        &["roster", "import", bad.to_str().unwrap()],
        "CSV UTF-8",
    );
    std::fs::write(&bad, "display_name,phone\nx,1\n").unwrap();
    fails(&c, &["roster", "import", bad.to_str().unwrap()], "\"name\"");
    assert_eq!(members(&c), 0);
    assert!(
        !json(&c, &["doc", "list"]).to_string().contains(ROSTER_DOC),
        "refused imports wrote nothing"
    );

    let done = json(&c, &["roster", "import", file]);
    assert_eq!(done["rows"], 3);
    let list = json(&c, &["roster", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    for n in ["小张", "小刘", "小陈"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let id = done["members"][2].as_str().unwrap();
    let chen = json(&c, &["roster", "show", id]);
    assert_eq!(chen["private"]["real_name"], "陈静");
    assert_eq!(chen["roles"].as_array().unwrap().len(), 2);
    assert_eq!(chen["kind"], "rider");
    // One commit for the batch.
    let file_out = root.path().join("roster.automerge");
    ok(
        &c,
        &[
            "doc",
            "export",
            ROSTER_DOC,
            "--out",
            file_out.to_str().unwrap(),
        ],
    );
    let mut doc = automerge::AutoCommit::load(&std::fs::read(&file_out).unwrap()).unwrap();
    assert_eq!(doc.get_changes(&[]).len(), 1);

    // The same file again: every phone is on the roster now.
    fails(
        &c,
        &["roster", "import", file, "--dry-run"],
        "already on the roster",
    );
    let said = ok(&c, &["roster", "import", file, "--force"]);
    assert!(said.contains("imported 3 members"), "{said}");
    assert_eq!(members(&c), 6);
}
