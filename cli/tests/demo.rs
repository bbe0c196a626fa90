//! `yizhan demo` as a newcomer runs it: four real node processes on
//! loopback, a morning played through them, and the facts it reports
//! checked against what the federation promises: reports travel up to the
//! street and the district and never sideways, rosters stop at the street,
//! personal data stays home, the street's statistics count what was played,
//! and no node is left running afterwards.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const C1: &str = "guandu/yiliu/xinyazhou";
const C2: &str = "guandu/yiliu/guanshuo";
const STREET: &str = "guandu/yiliu";
const DISTRICT: &str = "guandu";

fn demo(args: &[&str], tmpdir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yizhan"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("YIZHAN_DATA_DIR")
        .env("TMPDIR", tmpdir)
        .output()
        .expect("run yizhan demo")
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("{v} is not a list"))
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

fn node<'a>(facts: &'a Value, place: &str) -> &'a Value {
    facts["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["place"] == place)
        .unwrap_or_else(|| panic!("no node at {place}"))
}

/// True while a process with this id runs `yizhan` on a data directory under `root`.
fn runs_under(pid: u64, root: &Path) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => String::from_utf8_lossy(&cmdline).contains(&*root.to_string_lossy()),
        Err(_) => false,
    }
}

#[test]
fn the_demo_shows_where_everything_arrived_and_leaves_no_node_running() {
    let tmp = tempfile::tempdir().unwrap();
    let keep = tmp.path().join("demo");
    let out = demo(
        &["--json", "demo", "--keep", keep.to_str().unwrap()],
        tmp.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "yizhan demo failed: {stderr}");
    let facts: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let keep = keep.canonicalize().unwrap();
    assert_eq!(facts["data_dir"], keep.to_str().unwrap());
    assert_eq!(facts["kept"], true);
    assert_eq!(facts["stopped"], true);
    let seconds = facts["seconds"].as_f64().unwrap();
    assert!(seconds < 60.0, "the demo took {seconds} s");

    // Four nodes, each stopped cleanly, none left running.
    let nodes = facts["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    for n in nodes {
        assert_eq!(n["exit_code"], 0, "{} did not stop cleanly", n["name"]);
        let dir = PathBuf::from(n["data_dir"].as_str().unwrap());
        assert!(dir.starts_with(&keep), "{dir:?} is outside {keep:?}");
        let sock = dir.join("admin.sock");
        assert!(
            UnixStream::connect(&sock).is_err(),
            "{} still answers on {sock:?}",
            n["name"]
        );
        let pid = n["pid"].as_u64().expect("a pid");
        assert!(!runs_under(pid, &keep), "node process {pid} still runs");
        let log = PathBuf::from(n["log"].as_str().unwrap());
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(logged.contains("listening on"), "{log:?}: {logged}");
        assert!(!logged.contains("panicked"), "{log:?}: {logged}");
    }
    // The street dialled the other three, as an operator would start it.
    assert_eq!(
        strs(&node(&facts, STREET)["dials"]).len(),
        3,
        "{}",
        node(&facts, STREET)
    );
    // The data directories stay, and say no node runs on them.
    for n in nodes {
        let status = Command::new(env!("CARGO_BIN_EXE_yizhan"))
            .arg("--data-dir")
            .arg(n["data_dir"].as_str().unwrap())
            .args(["--json", "status"])
            .output()
            .unwrap();
        assert!(status.status.success());
        let status: Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(status["running"], false);
        assert_eq!(status["place"], n["place"]);
        assert!(
            status["membership"].is_object(),
            "{} never joined",
            n["name"]
        );
    }

    // Every report reached its street and district, never the sibling.
    let reports = facts["reports"].as_array().unwrap();
    assert!(reports.len() >= 4, "{reports:?}");
    let mut photos = 0;
    for r in reports {
        let place = r["place"].as_str().unwrap();
        let sibling = if place == C1 { C2 } else { C1 };
        assert!(place == C1 || place == C2, "{r}");
        let held = strs(&r["held_by"]);
        for p in [place, STREET, DISTRICT] {
            assert!(
                held.contains(&p),
                "report {} is not at {p}: {held:?}",
                r["id"]
            );
        }
        assert!(
            !held.contains(&sibling),
            "report {} reached {sibling}",
            r["id"]
        );
        if r["photo"].is_string() {
            photos += 1;
            let held = strs(&r["photo_held_by"]);
            assert!(
                held.contains(&place) && held.contains(&STREET) && held.contains(&DISTRICT),
                "the photo of {} is only at {held:?}",
                r["id"]
            );
            assert!(!held.contains(&sibling));
        }
    }
    assert!(photos >= 1, "no report carries a photo");
    for p in [C1, C2] {
        assert!(reports.iter().any(|r| r["place"] == p), "no report at {p}");
    }

    // Each node holds only what its role and place allow.
    let docs = |place: &str| -> Vec<String> {
        strs(&node(&facts, place)["documents"])
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    let district = docs(DISTRICT);
    assert!(
        !district
            .iter()
            .any(|d| d.ends_with("/roster") || d.ends_with("/roster-private")),
        "the district holds a roster: {district:?}"
    );
    assert!(
        district.contains(&format!("{STREET}/summary")),
        "{district:?}"
    );
    let street = docs(STREET);
    assert!(street.contains(&format!("{C1}/roster")) && street.contains(&format!("{C2}/roster")));
    assert!(
        !street.iter().any(|d| d.ends_with("/roster-private")),
        "the street holds personal data: {street:?}"
    );
    for (me, sibling) in [(C1, C2), (C2, C1)] {
        let mine = docs(me);
        assert!(mine.contains(&format!("{me}/roster-private")));
        let foreign: Vec<&String> = mine
            .iter()
            .filter(|d| d.starts_with(&format!("{sibling}/")) && !d.ends_with("/directory"))
            .collect();
        assert!(foreign.is_empty(), "{me} holds {foreign:?}");
    }
    // The arrival table says the same.
    for d in facts["documents"].as_array().unwrap() {
        let held = strs(&d["held_by"]);
        let id = d["id"].as_str().unwrap();
        if id.ends_with("/roster-private") {
            assert_eq!(held.len(), 1, "{id} left its community: {held:?}");
        }
        if id.ends_with("/roster") {
            assert!(!held.contains(&DISTRICT), "{id} reached the district");
        }
    }

    // The street counts what the demo played.
    let played = &facts["played"];
    let count = |status: &str| reports.iter().filter(|r| r["status"] == status).count() as u64;
    assert_eq!(played["reports"], reports.len() as u64);
    assert_eq!(played["closed"], count("closed"));
    assert_eq!(played["voided"], count("voided"));
    assert!(played["closed"].as_u64().unwrap() >= 1);
    assert!(played["voided"].as_u64().unwrap() >= 1);
    assert!(played["confirmations"].as_u64().unwrap() >= 1);
    for who in ["street_stats", "district_stats"] {
        let st = &facts[who];
        for k in ["open", "closed", "voided", "confirmations"] {
            assert_eq!(st[k], played[k], "{who}.{k}");
        }
        assert_eq!(st["total"], played["reports"], "{who}.total");
        assert_eq!(
            st["by_place"][C1].as_u64().unwrap() + st["by_place"][C2].as_u64().unwrap(),
            st["total"].as_u64().unwrap()
        );
        let closed = st["closed"].as_f64().unwrap();
        let counted = st["total"].as_f64().unwrap() - st["voided"].as_f64().unwrap();
        let rate = st["closure_rate"].as_f64().unwrap();
        assert!((rate - closed / counted).abs() < 1e-9, "{who}: {rate}");
    }

    // The street sees xinyazhou's ledger: the report award and the task,
    // less the redemption.
    let wang = facts["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["display_name"] == "小王")
        .unwrap()["id"]
        .clone();
    let balance = facts["balances_at_street"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["member"] == wang)
        .expect("the street sees 小王's balance")["balance"]
        .as_i64()
        .unwrap();
    assert_eq!(balance, crdt_model::ledger::RULE_POINTS_REPORT + 12 - 2);
}

#[test]
fn the_demo_prints_tables_and_removes_its_temporary_data() {
    let tmp = tempfile::tempdir().unwrap();
    let out = demo(&["demo"], tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "yizhan demo failed: {stderr}");
    assert!(
        stderr.is_empty(),
        "no spinner or logs off a terminal: {stderr}"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for heading in [
        "The nodes",
        "The morning",
        "Where everything arrived",
        "Street statistics",
        "closure rate",
        "All four nodes are stopped.",
    ] {
        assert!(text.contains(heading), "no {heading:?} in:\n{text}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "the demo left {left:?} behind");
}

#[test]
fn keep_refuses_a_directory_that_holds_something() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let out = demo(
        &["demo", "--keep", tmp.path().to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("notes.txt")).unwrap(),
        "mine"
    );
}
