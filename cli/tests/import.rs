//! `yizhan report import`: CSV and JSON lines files through a running node
//! and on the store directly; a file with bad rows writes nothing and names
//! each bad row; Excel's byte order mark and Chinese text are accepted.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn community(root: &Path) -> std::path::PathBuf {
    let (c, _s, _d) = chain(root);
    c
}

fn csv_file(root: &Path, name: &str, rows: usize) -> std::path::PathBuf {
    let mut text = String::from("category,lat,lon,text,address,grid\n");
    for i in 0..rows {
        text.push_str(&format!(
            "traffic,24.9{i:02},102.7,\"pothole {i}, lane 2\",Guanshang Rd {i},grid-{}\n",
            i % 3
        ));
    }
    let path = root.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn jsonl_file(root: &Path, name: &str, rows: usize) -> std::path::PathBuf {
    let mut text = String::new();
    for i in 0..rows {
        let row = serde_json::json!({
            "category": "sanitation",
            "lat": 24.95,
            "lon": 102.71 + i as f64 / 1000.0,
            "text": format!("垃圾堆积 {i}"),
        });
        text.push_str(&row.to_string());
        text.push('\n');
    }
    let path = root.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn import(dir: &Path, file: &Path) -> Value {
    json(dir, &["report", "import", file.to_str().unwrap()])
}

#[test]
fn csv_and_jsonl_import_offline_in_one_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let c = community(tmp.path());
    let done = import(&c, &csv_file(tmp.path(), "day.csv", 12));
    assert_eq!(done["imported"], 12);
    let doc = done["document"].as_str().unwrap().to_owned();
    assert!(doc.contains("/reports/"), "{done}");
    // One commit: the document holds one change, carrying all twelve.
    let file = tmp.path().join("doc.automerge");
    ok(
        &c,
        &["doc", "export", &doc, "--out", file.to_str().unwrap()],
    );
    let mut am = automerge::AutoCommit::load(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(am.get_changes(&[]).len(), 1);
    let held = report_texts(&c);
    assert_eq!(held.len(), 12);
    assert!(held.contains(&"pothole 3, lane 2".to_owned()), "{held:?}");
    let listed = json(&c, &["report", "list"]);
    let r = &listed.as_array().unwrap()[0];
    assert!(r["grid"].as_str().unwrap().starts_with("grid-"), "{r}");
    assert!(r["address"].as_str().unwrap().starts_with("Guanshang Rd"));

    let done = import(&c, &jsonl_file(tmp.path(), "day.jsonl", 5));
    assert_eq!(done["imported"], 5);
    assert_eq!(report_texts(&c).len(), 17);
    let stats = json(&c, &["stats"]);
    assert_eq!(stats["total"], 17);
    assert_eq!(stats["by_category"]["sanitation"], 5);
}

#[test]
fn csv_and_jsonl_import_through_a_running_node() {
    let tmp = tempfile::tempdir().unwrap();
    let c = community(tmp.path());
    let node = NodeProc::start(&c, &[]);
    let done = import(&c, &csv_file(tmp.path(), "day.csv", 30));
    assert_eq!(done["imported"], 30);
    let done = import(&c, &jsonl_file(tmp.path(), "more.ndjson", 20));
    assert_eq!(done["imported"], 20);
    assert_eq!(node.status()["running"], true);
    assert_eq!(report_texts(&c).len(), 50);
    // The node's statistics follow the imports without a restart.
    let stats = json(&c, &["stats"]);
    assert_eq!(stats["total"], 50);
    assert_eq!(stats["by_category"]["traffic"], 30);
    // A report submitted next sees the imported ones nearby.
    let near = json(
        &c,
        &[
            "report",
            "submit",
            "--category",
            "sanitation",
            "--lat",
            "24.95",
            "--lon",
            "102.71",
        ],
    );
    let nearby = near["nearby"].as_array().unwrap();
    assert!(!nearby.is_empty(), "{near}");
    assert_eq!(nearby[0][1].as_f64().unwrap(), 0.0);
    node.stop();
}

#[test]
fn two_bad_rows_write_nothing_and_are_both_named() {
    let tmp = tempfile::tempdir().unwrap();
    let c = community(tmp.path());
    let path = tmp.path().join("bad.csv");
    std::fs::write(
        &path,
        "category,lat,lon,text\n\
         traffic,24.9,102.7,fine\n\
         traffic,95,102.7,latitude out of range\n\
         traffic,24.9,102.7,fine too\n\
         potholes,24.9,102.7,no such category\n",
    )
    .unwrap();
    for running in [false, true] {
        let node = running.then(|| NodeProc::start(&c, &[]));
        let out = yizhan(&c, &["report", "import", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(
            lines.len(),
            3,
            "one line per bad row and one to sum up: {err}"
        );
        assert!(
            lines[0].contains("line 3") && lines[0].contains("95"),
            "{err}"
        );
        assert!(
            lines[1].contains("line 5") && lines[1].contains("potholes"),
            "{err}"
        );
        assert!(lines[2].contains("nothing imported: 2 rows"), "{err}");
        assert!(report_texts(&c).is_empty());
        if let Some(n) = node {
            n.stop();
        }
    }
    // With --json: one error object naming both rows.
    let out = yizhan(&c, &["--json", "report", "import", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let v: Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(v["error"]["code"], "report_import_refused");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("line 3") && msg.contains("line 5"), "{msg}");
}

#[test]
fn a_reporter_not_on_the_roster_is_refused_by_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let c = community(tmp.path());
    let path = tmp.path().join("who.jsonl");
    std::fs::write(
        &path,
        "{\"category\":\"traffic\",\"lat\":24.9,\"lon\":102.7}\n\
         {\"category\":\"traffic\",\"lat\":24.9,\"lon\":102.7,\"reporter\":\"m-0badc0de\"}\n",
    )
    .unwrap();
    let out = yizhan(&c, &["report", "import", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].contains("line 2") && lines[0].contains("m-0badc0de"),
        "{err}"
    );
    assert!(report_texts(&c).is_empty());
}

#[test]
fn a_byte_order_mark_and_chinese_text_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let c = community(tmp.path());
    let path = tmp.path().join("excel.csv");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        "category,lat,lon,text,address\r\n\
         manhole_cover,24.97,102.74,井盖翘起，电动车容易摔倒,关上街道新亚洲小区东门\r\n"
            .as_bytes(),
    );
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(import(&c, &path)["imported"], 1);
    let listed = json(&c, &["report", "list"]);
    let r = &listed.as_array().unwrap()[0];
    assert_eq!(r["text"], "井盖翘起，电动车容易摔倒");
    assert_eq!(r["address"], "关上街道新亚洲小区东门");
    assert_eq!(r["category"], "manhole_cover");
    // And the confirmation reads in Chinese under a Chinese locale.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_yizhan"))
        .arg("--data-dir")
        .arg(&c)
        .args(["--lang", "zh", "report", "import", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("已从"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_file_of_unknown_form_is_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let c = community(tmp.path());
    let odd = tmp.path().join("reports.txt");
    std::fs::write(&odd, "category,lat,lon\ntraffic,24.9,102.7\n").unwrap();
    fails(
        &c,
        &["report", "import", odd.to_str().unwrap()],
        "--format csv",
    );
    let header = tmp.path().join("header.csv");
    std::fs::write(&header, "category,lat,longitude\ntraffic,24.9,102.7\n").unwrap();
    fails(
        &c,
        &["report", "import", header.to_str().unwrap()],
        "unknown column",
    );
    // A device says it holds nothing and never ends: refused at the cap.
    fails(
        &c,
        &["report", "import", "/dev/zero", "--format", "jsonl"],
        "more than",
    );
    ok(
        &c,
        &["report", "import", odd.to_str().unwrap(), "--format", "csv"],
    );
    assert_eq!(report_texts(&c).len(), 1);
}
