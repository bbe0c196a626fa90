//! The governance workflows driven through the `yizhan` binary on one node:
//! roster, report lifecycle, "me too", tasks and needs, points, directory,
//! statistics, export and completions, and the refusals that leave the store
//! as it was.
//!
//! Where a step needs a second node's replica (the street acting on a
//! community's report, two nodes claiming one task), the test copies
//! documents between data directories through the public store API and
//! merges them with Automerge: what sync would deliver, without the network.

#[path = "../common/mod.rs"]
mod common;
mod directory;
mod exports;
mod points;
mod refusals;
mod reports;
mod roster;
mod tasks;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, Utc};
use common::{fails, init, json, ok};
use node::store::Store;
use serde_json::Value;

const COMMUNITY: &str = "guandu/yiliu/xinyazhou";
const STREET: &str = "guandu/yiliu";

fn community(tmp: &Path) -> PathBuf {
    let d = tmp.join("community");
    init(&d, "community", COMMUNITY);
    d
}

fn street(tmp: &Path) -> PathBuf {
    let d = tmp.join("street");
    init(&d, "street", STREET);
    d
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not text"))
        .to_owned()
}

/// Adds an applicant and approves them; returns the member id. Each gets
/// a phone of their own: a phone already on the roster is refused.
fn active_member(d: &Path, display: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let phone = format!("138-0000-{n:04}");
    let m = json(
        d,
        &[
            "roster",
            "add",
            "--display-name",
            display,
            "--name",
            "张三",
            "--phone",
            &phone,
            "--platform",
            "meituan",
            "--grid",
            "g01",
        ],
    );
    let id = s(&m["id"]);
    ok(d, &["roster", "approve", &id]);
    id
}

fn submit(d: &Path, category: &str, lat: &str, reporter: Option<&str>) -> Value {
    let mut args = vec![
        "report",
        "submit",
        "--category",
        category,
        "--lat",
        lat,
        "--lon",
        "102.74",
        "--grid",
        "g01",
    ];
    if let Some(r) = reporter {
        args.extend(["--reporter", r]);
    }
    json(d, &args)
}

/// Merges document `id` of the node in `from` into the node in `to`, through
/// the public store API: what sync would deliver.
fn replicate(from: &Path, to: &Path, id: &str) {
    let src = Store::open_read_only(&from.join("store.redb")).unwrap();
    let mut incoming = src.load_document(id).unwrap().expect("source holds it");
    drop(src);
    let dst = Store::open(&to.join("store.redb")).unwrap();
    let mut doc = match dst.load_document(id).unwrap() {
        Some(mut d) => {
            d.merge(&mut incoming).unwrap();
            d
        }
        None => incoming,
    };
    let mut batch = dst.batch().unwrap();
    batch
        .put_snapshot(id, &doc.save(), &doc.get_heads())
        .unwrap();
    batch.commit().unwrap();
}

/// Every document's heads, read from the store file without changing it.
fn heads(d: &Path) -> BTreeMap<String, Vec<String>> {
    let store = Store::open_read_only(&d.join("store.redb")).unwrap();
    store
        .document_ids()
        .unwrap()
        .into_iter()
        .map(|id| {
            let info = store.document_info(&id).unwrap().unwrap();
            let h = info.heads.iter().map(|h| h.to_string()).collect();
            (id, h)
        })
        .collect()
}

fn report_doc(id: &str) -> String {
    // 202611-xxxxxxxx lives in reports/2026-11.
    format!("{COMMUNITY}/reports/{}-{}", &id[..4], &id[4..6])
}

#[test]
fn workflows_answer_the_same_through_a_running_node() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let node = common::NodeProc::start(&d, &[]);
    assert_eq!(node.status()["running"], true);
    // Every kind of answer crosses the admin socket and reads back.
    let a = active_member(&d, "小王");
    assert_eq!(
        json(&d, &["roster", "show", &a])["private"]["real_name"],
        "张三"
    );
    assert_eq!(json(&d, &["roster", "list"]).as_array().unwrap().len(), 1);
    let r = s(&submit(&d, "traffic", "24.97", Some(&a))["report"]["id"]);
    assert_eq!(json(&d, &["report", "verify", &r])["status"], "verified");
    assert_eq!(
        json(&d, &["report", "submit", "--me-too", &r])["state"]["confirmations"],
        1
    );
    ok(&d, &["points", "award", "--rule", "report", "--report", &r]);
    let task = s(&json(&d, &["task", "post", "--title", "patrol", "--points", "7"])["id"]);
    ok(&d, &["task", "claim", &task, "--member", &a]);
    ok(&d, &["task", "complete", &task, "--member", &a]);
    assert_eq!(json(&d, &["task", "sign-off", &task])["entry"]["amount"], 7);
    assert_eq!(json(&d, &["task", "list"])[0]["status"], "signed_off");
    ok(
        &d,
        &[
            "need", "add", "--member", &a, "--kind", "rest", "--text", "a bench",
        ],
    );
    assert_eq!(json(&d, &["need", "list"])[0]["kind"], "rest");
    ok(
        &d,
        &[
            "directory",
            "station",
            "add",
            "--name",
            "驿站",
            "--lat",
            "24.97",
            "--lon",
            "102.74",
            "--hours",
            "08:00-21:00",
        ],
    );
    assert_eq!(
        json(&d, &["directory", "station", "list"])[0]["name"],
        "驿站"
    );
    ok(
        &d,
        &[
            "directory",
            "merchant",
            "add",
            "--name",
            "店",
            "--reward",
            "tea=2",
        ],
    );
    assert_eq!(
        json(&d, &["directory", "merchant", "list"])[0]["rewards"]["tea"],
        2
    );
    let red = json(
        &d,
        &[
            "points", "redeem", "--member", &a, "--at", "店", "--item", "tea",
        ],
    );
    assert_eq!(red["balances"][0]["balance"], 10);
    assert_eq!(
        json(&d, &["points", "statement", &a])["entries"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(json(&d, &["stats"])["total"], 1);
    fails(
        &d,
        &["report", "handle", &r],
        "cannot handle a case that is verified",
    );
    node.stop();
}

#[test]
fn looking_leaves_the_store_file_byte_for_byte_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let a = active_member(&d, "小王");
    let r = s(&submit(&d, "other", "24.97", Some(&a))["report"]["id"]);
    let task = s(&json(&d, &["task", "post", "--title", "t", "--points", "1"])["id"]);
    ok(&d, &["points", "award", "--rule", "patrol", "--member", &a]);
    let digest = || blake3::hash(&std::fs::read(d.join("store.redb")).unwrap());
    let before = digest();
    for args in [
        vec!["roster", "list"],
        vec!["roster", "show", &a],
        vec!["report", "show", &r],
        vec!["task", "list"],
        vec!["task", "show", &task],
        vec!["need", "list"],
        vec!["points", "balance"],
        vec!["points", "statement", &a],
        vec!["points", "escrow", "show"],
        vec!["directory", "station", "list"],
        vec!["directory", "merchant", "list"],
        vec!["stats"],
        vec!["export", "reports", "--format", "geojson"],
        vec!["export", "roster", "--format", "csv"],
        vec!["export", "ledger", "--format", "json"],
    ] {
        ok(&d, &args);
    }
    assert_eq!(
        digest(),
        before,
        "a command that only looks changed the store"
    );
}
