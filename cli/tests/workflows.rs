//! The governance workflows driven through the `yizhan` binary on one node:
//! roster, report lifecycle, "me too", tasks and needs, points, directory,
//! statistics, export and completions, and the refusals that leave the store
//! as it was.
//!
//! Where a step needs a second node's replica (the street acting on a
//! community's report, two nodes claiming one task), the test copies
//! documents between data directories through the public store API and
//! merges them with Automerge: what sync would deliver, without the network.

mod common;

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
fn roster_runs_from_application_to_suspension_and_keeps_personal_data_home() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let added = json(
        &d,
        &[
            "roster",
            "add",
            "--display-name",
            "小王",
            "--name",
            "王小明",
            "--phone",
            "+86 138 0000 0000",
            "--id-number",
            "530102199001011234",
            "--kind",
            "courier",
            "--platform",
            "sf",
            "--grid",
            "g01",
            "--role",
            "part_time_grid_worker",
        ],
    );
    let m = s(&added["id"]);
    assert!(m.starts_with("m-"), "{m}");
    assert_eq!(added["status"], "applied");
    assert_eq!(added["private"]["real_name"], "王小明");

    // Certification needs an active member.
    fails(
        &d,
        &[
            "roster",
            "certify",
            &m,
            "--number",
            "GO-1",
            "--issued",
            "2026-01-05",
            "--expires",
            "2027-01-04",
        ],
        "needs an active member",
    );
    assert_eq!(json(&d, &["roster", "approve", &m])["status"], "active");
    let cert = json(
        &d,
        &[
            "roster",
            "certify",
            &m,
            "--number",
            "GO-2026-017",
            "--issued",
            "2026-01-05",
            "--expires",
            "2027-01-04",
        ],
    );
    assert_eq!(cert["certificate"]["number"], "GO-2026-017");
    assert_eq!(cert["certificate"]["expires"], "2027-01-04");
    assert!(
        cert["roles"]
            .as_array()
            .unwrap()
            .contains(&"governance_observer".into())
    );
    assert_eq!(
        json(&d, &["roster", "move", &m, "--grid", "g03"])["grid"],
        "g03"
    );
    let trained = json(
        &d,
        &[
            "roster",
            "train",
            &m,
            "--topic",
            "grid duties",
            "--date",
            "2026-01-06",
            "--hours",
            "2.5",
            "--trainer",
            "street centre",
        ],
    );
    assert_eq!(trained["training"][0]["topic"], "grid duties");
    assert_eq!(trained["training"][0]["hours"], 2.5);
    assert_eq!(json(&d, &["roster", "suspend", &m])["status"], "suspended");
    fails(&d, &["roster", "suspend", &m], "cannot go from suspended");

    // The member's own node shows name and phone; lists and exports never do.
    let shown = json(&d, &["roster", "show", &m]);
    assert_eq!(shown["private"]["phone"], "+86 138 0000 0000");
    let text = ok(&d, &["roster", "show", &m]);
    assert!(text.contains("王小明") && text.contains("g03"), "{text}");
    // The ID number is masked in every display, whole only when asked for.
    assert_eq!(shown["private"]["id_number"], "5301**********1234");
    assert!(
        text.contains("5301**********1234") && !text.contains("530102199001011234"),
        "{text}"
    );
    assert_eq!(added["private"]["id_number"], "5301**********1234");
    let revealed = json(&d, &["roster", "show", &m, "--reveal"]);
    assert_eq!(revealed["private"]["id_number"], "530102199001011234");
    let list = json(&d, &["roster", "list", "--status", "suspended"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("private").is_none());
    for format in ["json", "csv"] {
        let out = ok(&d, &["export", "roster", "--format", format]);
        assert!(out.contains(&m), "{out}");
        assert!(
            !out.contains("王小明") && !out.contains("0000 0000") && !out.contains("530102"),
            "personal data in the {format} export: {out}"
        );
    }

    // The street holds the roster (not roster-private) and shows no personal data.
    let st = street(tmp.path());
    replicate(&d, &st, &format!("{COMMUNITY}/roster"));
    let there = json(&st, &["roster", "show", &m]);
    assert_eq!(there["display_name"], "小王");
    assert_eq!(there["place"], COMMUNITY);
    assert!(there.get("private").is_none(), "{there}");
    assert!(!ok(&st, &["roster", "show", &m]).contains("王小明"));
    fails(&st, &["roster", "show", &m, "--reveal"], "community");
    fails(
        &st,
        &[
            "roster",
            "add",
            "--display-name",
            "x",
            "--name",
            "x",
            "--phone",
            "1",
        ],
        "kept by community nodes",
    );
}

#[test]
fn report_lifecycle_runs_through_community_and_street() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let st = street(tmp.path());
    let r = s(&submit(&d, "manhole_cover", "24.97", None)["report"]["id"]);

    fails(
        &d,
        &["report", "handle", &r],
        "cannot handle a case that is submitted",
    );
    assert_eq!(json(&d, &["report", "verify", &r])["status"], "verified");
    let due = (Utc::now() + chrono::Duration::hours(6)).to_rfc3339();
    let dispatched = json(
        &d,
        &[
            "report",
            "dispatch",
            &r,
            "--to",
            "municipal team",
            "--due",
            &due,
        ],
    );
    assert_eq!(dispatched["status"], "dispatched");
    assert_eq!(dispatched["state"]["handler"], "municipal team");
    let photo = tmp.path().join("fixed.jpg");
    std::fs::write(&photo, [0xd8u8; 300]).unwrap();
    let handled = json(
        &d,
        &[
            "report",
            "handle",
            &r,
            "--photo",
            photo.to_str().unwrap(),
            "--note",
            "cover reseated",
        ],
    );
    assert_eq!(handled["status"], "handled");
    let ev = handled["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(ev["photo"]["size"], 300);
    assert_eq!(ev["note"], "cover reseated");
    let closed = json(&d, &["report", "close", &r, "--reason", "fixed"]);
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["state"]["closed_on_time"], true);
    assert_eq!(json(&d, &["report", "reopen", &r])["status"], "reopened");

    // Escalated to the street, which accepts, dispatches and handles it.
    let esc = json(
        &d,
        &["report", "escalate", &r, "--note", "needs the street"],
    );
    assert_eq!(esc["status"], "escalated");
    assert_eq!(esc["state"]["level"], "street");
    fails(&d, &["report", "accept", &r], "the street's step");
    fails(
        &d,
        &["report", "dispatch", &r, "--to", "x", "--due", &due],
        "cannot dispatch a case that is escalated",
    );
    replicate(&d, &st, &report_doc(&r));
    fails(&st, &["report", "verify", &r], "the community's step");
    fails(
        &st,
        &["report", "handle", &r],
        "cannot handle a case that is escalated",
    );
    assert_eq!(json(&st, &["report", "accept", &r])["status"], "accepted");
    let d2 = json(
        &st,
        &[
            "report",
            "dispatch",
            &r,
            "--to",
            "street works",
            "--due",
            "2099-01-01 09:00",
        ],
    );
    assert_eq!(d2["status"], "dispatched");
    assert_eq!(json(&st, &["report", "handle", &r])["status"], "handled");
    fails(
        &st,
        &["report", "close", &r, "--reason", "fixed"],
        "the community's step",
    );
    let by_street = json(&st, &["report", "show", &r]);
    assert!(
        by_street["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["by_level"] == "street" && e["kind"] == "accept")
    );

    // Back at the community, which closes the case.
    replicate(&st, &d, &report_doc(&r));
    assert_eq!(json(&d, &["report", "show", &r])["status"], "handled");
    assert_eq!(
        json(&d, &["report", "close", &r, "--reason", "fixed"])["status"],
        "closed"
    );

    // Voiding and closing for other reasons, with typed reasons.
    let v = s(&submit(&d, "sanitation", "24.90", None)["report"]["id"]);
    let voided = json(&d, &["report", "void", &v, "--reason", "duplicate"]);
    assert_eq!(voided["status"], "voided");
    assert_eq!(voided["state"]["void_reason"], "duplicate");
    fails(
        &d,
        &["report", "verify", &v],
        "cannot verify a case that is voided",
    );
    assert_eq!(json(&d, &["report", "reopen", &v])["status"], "reopened");
    let c = json(&d, &["report", "close", &v, "--reason", "not_responsible"]);
    assert_eq!(c["state"]["close_reason"], "not_responsible");
    fails(
        &d,
        &["report", "void", &v, "--reason", "lazy"],
        "unknown void reason \"lazy\"",
    );

    let shown = ok(&d, &["report", "show", &r]);
    assert!(
        shown.contains("accept") && shown.contains("street"),
        "{shown}"
    );
}

#[test]
fn me_too_confirms_an_open_case_instead_of_a_second_report() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let rider = active_member(&d, "小李");
    let first = s(&submit(&d, "manhole_cover", "24.9700", None)["report"]["id"]);
    // 22 m away, same category: suggested.
    let near = submit(&d, "manhole_cover", "24.9702", None);
    assert_eq!(near["nearby"][0][0], first.as_str());
    let second = s(&near["report"]["id"]);
    assert_eq!(json(&d, &["report", "list"]).as_array().unwrap().len(), 2);

    let conf = json(
        &d,
        &[
            "report",
            "submit",
            "--me-too",
            &first,
            "--reporter",
            &rider,
            "--text",
            "still open",
        ],
    );
    assert_eq!(conf["id"], first.as_str());
    assert_eq!(conf["state"]["confirmations"], 1);
    let ev = conf["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(ev["kind"], "confirm");
    assert_eq!(ev["member"], rider.as_str());
    assert_eq!(
        json(&d, &["report", "list"]).as_array().unwrap().len(),
        2,
        "a confirmation is not a new report"
    );

    fails(
        &d,
        &[
            "report",
            "submit",
            "--me-too",
            &first,
            "--category",
            "sanitation",
        ],
        "is a manhole_cover case",
    );
    fails(
        &d,
        &[
            "report",
            "submit",
            "--me-too",
            &first,
            "--reporter",
            "m-nobody",
        ],
        "m-nobody",
    );
    ok(&d, &["report", "close", &second, "--reason", "duplicate"]);
    fails(
        &d,
        &["report", "submit", "--me-too", &second],
        "cannot confirm a case that is closed",
    );
    // A closed case is no longer suggested.
    let third = submit(&d, "manhole_cover", "24.9701", None);
    let nearby: Vec<String> = third["nearby"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(&n[0]))
        .collect();
    assert_eq!(nearby, vec![first]);
}

#[test]
fn overdue_cases_are_listed_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let r = s(&submit(&d, "electrical_fire", "24.97", None)["report"]["id"]);
    submit(&d, "sanitation", "24.98", None);
    ok(&d, &["report", "verify", &r]);
    let due = (Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    ok(
        &d,
        &[
            "report",
            "dispatch",
            &r,
            "--to",
            "power company",
            "--due",
            &due,
        ],
    );
    assert!(
        json(&d, &["report", "list", "--overdue"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    std::thread::sleep(std::time::Duration::from_millis(1600));
    let overdue = json(&d, &["report", "list", "--overdue"]);
    let ids: Vec<String> = overdue
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(&r["id"]))
        .collect();
    assert_eq!(ids, vec![r.clone()]);
    assert!(ok(&d, &["report", "list", "--overdue"]).contains("OVERDUE"));
    assert_eq!(json(&d, &["stats"])["overdue"], 1);
}

#[test]
fn task_leases_refuse_second_claims_and_sign_off_awards_points() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let a = active_member(&d, "小王");
    let b = active_member(&d, "小李");
    let t = json(
        &d,
        &[
            "task",
            "post",
            "--title",
            "deliver medicine to Mrs Zhao",
            "--points",
            "12",
            "--lease-minutes",
            "45",
        ],
    );
    let task = s(&t["id"]);
    assert_eq!(t["status"], "open");
    let claimed = json(&d, &["task", "claim", &task, "--member", &a]);
    assert_eq!(claimed["status"], "claimed");
    assert_eq!(claimed["holder"]["member"], a.as_str());
    let line = fails(&d, &["task", "claim", &task, "--member", &b], "claimed by");
    assert!(line.contains(&a), "{line}");
    fails(
        &d,
        &["task", "complete", &task, "--member", &b],
        "held by another member",
    );
    fails(
        &d,
        &["task", "sign-off", &task],
        "is claimed, not completed",
    );
    let done = json(
        &d,
        &[
            "task",
            "complete",
            &task,
            "--member",
            &a,
            "--note",
            "delivered",
        ],
    );
    assert_eq!(done["status"], "completed");
    let signed = json(&d, &["task", "sign-off", &task]);
    assert_eq!(signed["task"]["status"], "signed_off");
    assert_eq!(signed["entry"]["amount"], 12);
    assert_eq!(signed["entry"]["kind"], "task");
    assert_eq!(signed["entry"]["reference"], task.as_str());
    fails(&d, &["task", "sign-off", &task], "signed_off");
    fails(
        &d,
        &["points", "award", "--rule", "task", "--task", &task],
        "already awarded",
    );
    let bal = json(&d, &["points", "balance", &a]);
    assert_eq!(bal[0]["balance"], 12);
    let listed = json(&d, &["task", "list", "--status", "signed_off"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let text = ok(&d, &["task", "show", &task]);
    assert!(
        text.contains("deliver medicine") && text.contains(&a),
        "{text}"
    );
}

#[test]
fn concurrent_claims_on_two_nodes_pick_the_same_winner_on_both() {
    let tmp = tempfile::tempdir().unwrap();
    // Two nodes of one community (the office PC and a station's machine)
    // that share the roster and the task list.
    let one = community(tmp.path());
    let two = tmp.path().join("station");
    init(&two, "community", COMMUNITY);
    let a = active_member(&one, "小王");
    let b = active_member(&one, "小李");
    let task = s(&json(
        &one,
        &["task", "post", "--title", "night patrol", "--points", "5"],
    )["id"]);
    for doc in ["roster", "tasks"] {
        replicate(&one, &two, &format!("{COMMUNITY}/{doc}"));
    }
    // Partitioned: each node grants a claim, b's first.
    let at_two = json(&two, &["task", "claim", &task, "--member", &b]);
    assert_eq!(at_two["holder"]["member"], b.as_str());
    let at_one = json(&one, &["task", "claim", &task, "--member", &a]);
    assert_eq!(at_one["holder"]["member"], a.as_str());

    // Healed: both replicas hold both claims and fold to the same holder,
    // the earlier claim.
    let tasks = format!("{COMMUNITY}/tasks");
    replicate(&one, &two, &tasks);
    replicate(&two, &one, &tasks);
    let seen: Vec<Value> = [&one, &two]
        .iter()
        .map(|d| json(d, &["task", "show", &task]))
        .collect();
    for v in &seen {
        assert_eq!(v["claims"].as_array().unwrap().len(), 2);
        assert_eq!(v["holder"]["member"], b.as_str(), "the earlier claim wins");
    }
    assert_eq!(seen[0]["holder"], seen[1]["holder"]);
    assert_eq!(heads(&one)[&tasks], heads(&two)[&tasks]);
    // The loser cannot complete the task; the winner can.
    fails(
        &one,
        &["task", "complete", &task, "--member", &a],
        "held by another member",
    );
    ok(&one, &["task", "complete", &task, "--member", &b]);
}

#[test]
fn points_are_awarded_by_rule_redeemed_corrected_and_stated() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let a = active_member(&d, "小王");
    let b = active_member(&d, "小李");
    let r = s(&submit(&d, "fire_lane_blocked", "24.97", Some(&a))["report"]["id"]);

    fails(
        &d,
        &["points", "award", "--rule", "report", "--report", &r],
        "has not been verified",
    );
    ok(&d, &["report", "verify", &r]);
    fails(
        &d,
        &[
            "points", "award", "--rule", "report", "--report", &r, "--member", &b,
        ],
        "only the reporter",
    );
    let award = json(&d, &["points", "award", "--rule", "report", "--report", &r]);
    assert_eq!(award["entries"][0]["member"], a.as_str());
    assert_eq!(award["entries"][0]["amount"], 5);
    assert_eq!(award["entries"][0]["kind"], "report");
    fails(
        &d,
        &["points", "award", "--rule", "report", "--report", &r],
        "already awarded",
    );
    // A bulk patrol award and a discretionary one.
    let patrol = json(
        &d,
        &[
            "points",
            "award",
            "--rule",
            "patrol",
            "--member",
            &a,
            "--member",
            &b,
            "--reason",
            "night market",
        ],
    );
    assert_eq!(patrol["entries"].as_array().unwrap().len(), 2);
    ok(
        &d,
        &[
            "points",
            "award",
            "--member",
            &b,
            "--points",
            "20",
            "--reason",
            "found a lost elderly man",
        ],
    );
    fails(
        &d,
        &["points", "award", "--member", &b, "--points", "20"],
        "needs --reason",
    );

    // Redemption at a merchant's listed price and at a station.
    let shop = json(
        &d,
        &[
            "directory",
            "merchant",
            "add",
            "--name",
            "老张面馆",
            "--reward",
            "lunch=8",
            "--reward",
            "drink=3",
        ],
    );
    let station = json(
        &d,
        &[
            "directory",
            "station",
            "add",
            "--name",
            "暖新驿站",
            "--lat",
            "24.971",
            "--lon",
            "102.741",
            "--hours",
            "08:00-21:00",
            "--service",
            "water",
        ],
    );
    let red = json(
        &d,
        &[
            "points",
            "redeem",
            "--member",
            &a,
            "--at",
            "老张面馆",
            "--item",
            "lunch",
        ],
    );
    assert_eq!(red["entries"][0]["amount"], -8);
    assert_eq!(red["entries"][0]["redeemed_at"], shop["id"]);
    assert_eq!(red["balances"][0]["balance"], 0, "5 + 3 - 8");
    fails(
        &d,
        &[
            "points",
            "redeem",
            "--member",
            &a,
            "--at",
            "老张面馆",
            "--item",
            "drink",
        ],
        "would overdraw",
    );
    fails(
        &d,
        &[
            "points",
            "redeem",
            "--member",
            &b,
            "--at",
            "老张面馆",
            "--item",
            "beer",
        ],
        "does not offer \"beer\"",
    );
    let st = s(&station["id"]);
    fails(
        &d,
        &[
            "points", "redeem", "--member", &b, "--at", &st, "--item", "water",
        ],
        "--points",
    );
    ok(
        &d,
        &[
            "points", "redeem", "--member", &b, "--at", &st, "--item", "water", "--points", "1",
        ],
    );
    // A correction is a new entry; the corrected one stays.
    let first = patrol["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["member"] == b.as_str())
        .map(|e| s(&e["id"]))
        .unwrap();
    let fix = json(
        &d,
        &[
            "points",
            "correct",
            "--member",
            &b,
            "--points",
            "-2",
            "--reason",
            "patrol counted twice",
            "--entry",
            &first,
        ],
    );
    assert_eq!(fix["entries"][0]["kind"], "correction");
    let stmt = json(&d, &["points", "statement", &b]);
    let lines = stmt["entries"].as_array().unwrap();
    let kinds: Vec<String> = lines.iter().map(|l| s(&l["kind"])).collect();
    assert_eq!(kinds, ["patrol", "award", "redeem", "correction"]);
    let balances: Vec<i64> = lines
        .iter()
        .map(|l| l["balance"].as_i64().unwrap())
        .collect();
    assert_eq!(balances, [3, 23, 22, 20]);
    assert_eq!(stmt["balance"], 20);
    assert_eq!(lines[1]["reason"], "found a lost elderly man");
    assert_eq!(lines[2]["item"], "water");
    assert_eq!(lines[3]["reference"], first.as_str());
    let text = ok(&d, &["points", "statement", &b]);
    assert!(
        text.contains("patrol counted twice") && text.contains("water at"),
        "{text}"
    );
    let all = json(&d, &["points", "balance"]);
    assert_eq!(all.as_array().unwrap().len(), 2);
    fails(
        &d,
        &[
            "points", "correct", "--member", &a, "--points", "-1", "--reason", "x",
        ],
        "would overdraw",
    );
}

#[test]
fn a_new_year_opens_with_the_balances_carried_forward() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let a = active_member(&d, "小王");
    // Last year's ledger, as an earlier version of this node would have left it.
    let last = Utc::now().year() - 1;
    {
        use crdt_model::ledger::{self, Entry, EntryKind};
        let roster = Store::open_read_only(&d.join("store.redb"))
            .unwrap()
            .load_document(&format!("{COMMUNITY}/roster"))
            .unwrap()
            .unwrap();
        let member_id = crdt_model::MemberId::parse(&a).unwrap();
        let member = crdt_model::roster::require(&roster, &member_id).unwrap();
        let mut doc = automerge::AutoCommit::new();
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, last, 6, 1, 8, 0, 0).unwrap();
        let entry = Entry {
            id: "e-lastyear".parse().unwrap(),
            member: member_id,
            amount: 42,
            kind: EntryKind::Patrol,
            at,
            by: "earlier".into(),
            reason: None,
            reference: None,
            redeemed_at: None,
            item: None,
        };
        ledger::credit(&mut doc, &member, &entry).unwrap();
        let store = Store::open(&d.join("store.redb")).unwrap();
        let mut batch = store.batch().unwrap();
        let id = format!("{COMMUNITY}/ledger/{last}");
        batch
            .put_snapshot(&id, &doc.save(), &doc.get_heads())
            .unwrap();
        batch.commit().unwrap();
    }
    // Before any entry this year, the balance is what carries forward.
    assert_eq!(json(&d, &["points", "balance", &a])[0]["balance"], 42);
    assert_eq!(json(&d, &["points", "statement", &a])["carried"], 42);
    ok(&d, &["points", "award", "--rule", "patrol", "--member", &a]);
    let stmt = json(&d, &["points", "statement", &a]);
    let kinds: Vec<String> = stmt["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| s(&l["kind"]))
        .collect();
    assert_eq!(kinds, ["opening", "patrol"]);
    assert_eq!(stmt["balance"], 45);
    assert_eq!(stmt["carried"], 0);
    let old = json(
        &d,
        &["points", "statement", &a, "--year", &last.to_string()],
    );
    assert_eq!(old["balance"], 42);
}

#[test]
fn directory_keeps_stations_with_hours_and_maintenance_and_merchants_with_prices() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let st = json(
        &d,
        &[
            "directory",
            "station",
            "add",
            "--name",
            "暖新驿站",
            "--lat",
            "24.971",
            "--lon",
            "102.741",
            "--address",
            "新亚洲体育城 3 号门",
            "--hours",
            "08:00–21:00",
            "--service",
            "warmth",
            "--service",
            "cooling",
            "--service",
            "water",
            "--service",
            "rest",
            "--service",
            "first_aid",
            "--service",
            "charging",
        ],
    );
    let id = s(&st["id"]);
    assert_eq!(st["opens"], "08:00:00");
    assert_eq!(st["closes"], "21:00:00");
    assert_eq!(st["services"].as_array().unwrap().len(), 6);
    let kept = json(
        &d,
        &[
            "directory",
            "station",
            "maintain",
            &id,
            "--note",
            "weekly: water refilled",
        ],
    );
    assert_eq!(kept["maintenance"][0]["note"], "weekly: water refilled");
    let text = ok(&d, &["directory", "station", "list"]);
    assert!(
        text.contains("08:00–21:00") && text.contains("weekly"),
        "{text}"
    );
    fails(
        &d,
        &[
            "directory",
            "station",
            "maintain",
            "st-nothere",
            "--note",
            "x",
        ],
        "station st-nothere does not exist",
    );
    fails(
        &d,
        &[
            "directory",
            "station",
            "add",
            "--name",
            "x",
            "--lat",
            "24",
            "--lon",
            "102",
            "--hours",
            "8-21",
        ],
        "HH:MM-HH:MM",
    );
    let shop = json(
        &d,
        &[
            "directory",
            "merchant",
            "add",
            "--name",
            "便民超市",
            "--reward",
            "bottled water=2",
            "--reward",
            "daily goods pack=15",
        ],
    );
    assert_eq!(shop["rewards"]["daily goods pack"], 15);
    let list = json(&d, &["directory", "merchant", "list"]);
    assert_eq!(list[0]["name"], "便民超市");
    fails(
        &d,
        &[
            "directory",
            "merchant",
            "add",
            "--name",
            "x",
            "--reward",
            "tea",
        ],
        "ITEM=POINTS",
    );
}

#[test]
fn needs_are_raised_listed_and_resolved() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let a = active_member(&d, "小王");
    let n = json(
        &d,
        &[
            "need",
            "add",
            "--member",
            &a,
            "--kind",
            "legal",
            "--text",
            "unpaid wages",
        ],
    );
    let id = s(&n["id"]);
    assert_eq!(n["kind"], "legal");
    json(
        &d,
        &[
            "need", "add", "--member", &a, "--kind", "meal", "--text", "lunch",
        ],
    );
    assert_eq!(
        json(&d, &["need", "list", "--open"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let done = json(&d, &["need", "resolve", &id, "--note", "legal aid booked"]);
    assert_eq!(done["resolved"][1], "legal aid booked");
    assert_eq!(
        json(&d, &["need", "list", "--open"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    fails(&d, &["need", "resolve", &id], "already resolved");
    fails(
        &d,
        &[
            "need", "add", "--member", &a, "--kind", "yacht", "--text", "x",
        ],
        "unknown need kind",
    );
}

#[test]
fn stats_count_and_rate_closures() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let r1 = s(&submit(&d, "manhole_cover", "24.97", None)["report"]["id"]);
    let r2 = s(&submit(&d, "manhole_cover", "24.98", None)["report"]["id"]);
    let r3 = s(&submit(&d, "sanitation", "24.99", None)["report"]["id"]);
    ok(
        &d,
        &["report", "close", &r1, "--reason", "no_further_action"],
    );
    ok(&d, &["report", "void", &r2, "--reason", "duplicate"]);
    let st = json(&d, &["stats"]);
    assert_eq!(st["total"], 3);
    assert_eq!(st["by_category"]["manhole_cover"], 2);
    assert_eq!(st["by_status"]["closed"], 1);
    assert_eq!(st["by_status"]["voided"], 1);
    assert_eq!(st["by_grid"]["g01"], 3);
    assert_eq!(st["closure_rate"], 0.5, "1 closed of 2 not voided");
    assert_eq!(st["on_time_closure_rate"], 1.0);
    let month = Utc::now().format("%Y-%m").to_string();
    assert_eq!(st["by_month"][&month], 3);
    let today = Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(json(&d, &["stats", "--from", &today])["total"], 3);
    assert_eq!(json(&d, &["stats", "--to", "2000-01-01"])["total"], 0);
    let text = ok(&d, &["stats"]);
    assert!(text.contains("closure rate 50.0%"), "{text}");
    let _ = r3;
}

#[test]
fn exports_write_reports_as_json_csv_and_geojson_and_the_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let a = active_member(&d, "小王");
    let r = s(&submit(&d, "manhole_cover", "24.97", Some(&a))["report"]["id"]);
    submit(&d, "dispute", "24.975", None);
    ok(&d, &["report", "verify", &r]);
    ok(&d, &["points", "award", "--rule", "report", "--report", &r]);

    let geo_path = tmp.path().join("reports.geojson");
    let summary = json(
        &d,
        &[
            "export",
            "reports",
            "--format",
            "geojson",
            "--out",
            geo_path.to_str().unwrap(),
        ],
    );
    assert_eq!(summary["count"], 2);
    let geo: Value = serde_json::from_slice(&std::fs::read(&geo_path).unwrap()).unwrap();
    assert_eq!(geo["type"], "FeatureCollection");
    let features = geo["features"].as_array().unwrap();
    assert_eq!(features.len(), 2);
    let f = features.iter().find(|f| f["id"] == r.as_str()).unwrap();
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["geometry"]["type"], "Point");
    assert_eq!(
        f["geometry"]["coordinates"],
        serde_json::json!([102.74, 24.97])
    );
    assert_eq!(f["properties"]["status"], "verified");
    assert!(f["properties"].get("reporter").is_none());

    let csv = ok(&d, &["export", "reports", "--format", "csv"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(
        rows[0].starts_with("\u{feff}id,place,category,status,lat,lon"),
        "{}",
        rows[0]
    );
    assert!(csv.contains(&r));
    let js: Value =
        serde_json::from_str(&ok(&d, &["export", "reports", "--format", "json"])).unwrap();
    assert_eq!(js.as_array().unwrap().len(), 2);
    let none = ok(
        &d,
        &["export", "reports", "--format", "csv", "--to", "2000-01-01"],
    );
    assert_eq!(none.lines().count(), 1, "header only");

    let ledger = ok(&d, &["export", "ledger", "--format", "csv"]);
    let lines: Vec<&str> = ledger.lines().collect();
    assert_eq!(lines.len(), 2, "{ledger}");
    assert!(lines[0].starts_with("\u{feff}at,entry,place,member,amount,balance,kind"));
    assert!(
        lines[1].contains(&a) && lines[1].contains(",5,5,report,"),
        "{}",
        lines[1]
    );
    let lj: Value =
        serde_json::from_str(&ok(&d, &["export", "ledger", "--format", "json"])).unwrap();
    assert_eq!(lj[0]["entries"][0]["reference"], r.as_str());

    fails(
        &d,
        &["export", "roster", "--format", "geojson"],
        "exports reports only",
    );
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("none");
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&d, &["completions", shell]);
        assert!(script.contains("yizhan"), "{shell}");
        assert!(
            script.contains("roster") && script.contains("sign-off"),
            "{shell}"
        );
    }
    assert!(!d.exists(), "completions touched the data directory");
}

#[test]
fn refused_invocations_exit_non_zero_in_one_line_and_change_no_document() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let a = active_member(&d, "小王");
    let applicant = s(&json(
        &d,
        &[
            "roster",
            "add",
            "--display-name",
            "新人",
            "--name",
            "李四",
            "--phone",
            "139",
        ],
    )["id"]);
    let r = s(&submit(&d, "manhole_cover", "24.97", Some(&a))["report"]["id"]);
    let closed = s(&submit(&d, "sanitation", "24.90", None)["report"]["id"]);
    ok(
        &d,
        &["report", "close", &closed, "--reason", "no_further_action"],
    );
    let task = s(&json(&d, &["task", "post", "--title", "patrol", "--points", "5"])["id"]);
    ok(&d, &["task", "claim", &task, "--member", &a]);
    ok(&d, &["points", "award", "--rule", "patrol", "--member", &a]);
    let need = s(&json(
        &d,
        &[
            "need", "add", "--member", &a, "--kind", "rest", "--text", "a seat",
        ],
    )["id"]);
    ok(&d, &["need", "resolve", &need]);
    ok(
        &d,
        &[
            "directory",
            "merchant",
            "add",
            "--name",
            "面馆",
            "--reward",
            "lunch=8",
        ],
    );
    let before = heads(&d);
    assert!(before.len() >= 6, "{before:?}");

    let refusals: &[(&[&str], &str)] = &[
        // Illegal transitions.
        (
            &["report", "handle", &r],
            "cannot handle a case that is submitted",
        ),
        (
            &["report", "close", &r, "--reason", "fixed"],
            "cannot close a case that is submitted",
        ),
        (
            &["report", "reopen", &r],
            "cannot reopen a case that is submitted",
        ),
        (
            &["report", "verify", &closed],
            "cannot verify a case that is closed",
        ),
        (&["report", "accept", &r], "the street's step"),
        // Unknown report ids, malformed ones, bad reasons.
        (
            &["report", "verify", "202611-00000000"],
            "not held on this node",
        ),
        (&["report", "escalate", "not-an-id"], "report id"),
        (
            &["report", "void", &r, "--reason", "bored"],
            "unknown void reason",
        ),
        // Bad dates and times.
        (
            &[
                "report", "dispatch", &r, "--to", "team", "--due", "tomorrow",
            ],
            "is not a time",
        ),
        (
            &[
                "report",
                "dispatch",
                &r,
                "--to",
                "team",
                "--due",
                "2001-01-01 10:00",
            ],
            "in the past",
        ),
        (
            &[
                "roster",
                "certify",
                &a,
                "--number",
                "N1",
                "--issued",
                "2026-02-30",
                "--expires",
                "2027-01-01",
            ],
            "is not a date",
        ),
        (
            &[
                "roster",
                "certify",
                &a,
                "--number",
                "N1",
                "--issued",
                "2026-02-01",
                "--expires",
                "2025-01-01",
            ],
            "must come after",
        ),
        (&["stats", "--from", "2026/01/01"], "is not a date"),
        // Bad coordinates.
        (
            &[
                "report",
                "submit",
                "--category",
                "other",
                "--lat",
                "91",
                "--lon",
                "102",
            ],
            "latitude 91",
        ),
        (
            &[
                "directory",
                "station",
                "add",
                "--name",
                "x",
                "--lat",
                "24",
                "--lon",
                "200",
                "--hours",
                "08:00-21:00",
            ],
            "longitude 200",
        ),
        // Unknown members, and members who may not.
        (
            &["roster", "approve", "m-nobody"],
            "m-nobody is not on this community's roster",
        ),
        (
            &["task", "claim", &task, "--member", "m-nobody"],
            "m-nobody",
        ),
        (
            &[
                "points", "award", "--rule", "patrol", "--member", &applicant,
            ],
            "is applied",
        ),
        (
            &["roster", "approve", &a],
            "cannot go from active to active",
        ),
        // A live lease, a task not completed.
        (
            &["task", "claim", &task, "--member", &applicant],
            "needs an active member",
        ),
        (&["task", "sign-off", &task], "not completed"),
        (
            &["task", "claim", "t-nothere", "--member", &a],
            "task t-nothere",
        ),
        // Overdraft and double awards.
        (
            &[
                "points", "redeem", "--member", &a, "--at", "面馆", "--item", "lunch",
            ],
            "would overdraw",
        ),
        (
            &[
                "points", "correct", "--member", &a, "--points", "-4", "--reason", "oops",
            ],
            "would overdraw",
        ),
        (
            &["points", "award", "--rule", "report", "--report", &r],
            "has not been verified",
        ),
        (
            &[
                "points", "award", "--member", &a, "--points", "0", "--reason", "x",
            ],
            "outside 1..=",
        ),
        // Resolved need, unknown station, malformed values.
        (&["need", "resolve", &need], "already resolved"),
        (
            &["directory", "station", "maintain", "st-none", "--note", "x"],
            "does not exist",
        ),
        (
            &["task", "post", "--title", "x", "--points", "-3"],
            "must be positive",
        ),
        (
            &["roster", "list", "--status", "asleep"],
            "unknown member status",
        ),
        // Malformed on the command line itself (exit 2).
        (
            &["task", "post", "--title", "x", "--points", "many"],
            "--points",
        ),
    ];
    assert!(refusals.len() >= 15);
    for (args, needle) in refusals {
        fails(&d, args, needle);
    }
    assert_eq!(heads(&d), before, "a refused command changed a document");
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
