//! A day in Guandu, end to end with real processes on loopback: district,
//! street, two communities (one of them with a second node at its service
//! station), ten riders. Reports of several categories, a duplicate voided,
//! a "me too", a case escalated to the street and handled there, a task
//! claimed concurrently on two nodes and resolved to one winner, points
//! earned and redeemed at a station, an overdraft refused. Then `stats` at
//! the street and at the district must match what this script played.

mod common;

use std::path::Path;

use chrono::{Duration, Local};
use common::*;
use serde_json::Value;

const XIN: &str = "guandu/yiliu/xinyazhou";
const GUAN: &str = "guandu/yiliu/guanshuo";

fn rider(dir: &Path, n: usize) -> String {
    let name = format!("rider {n}");
    let m = json(
        dir,
        &[
            "roster",
            "add",
            "--display-name",
            &name,
            "--name",
            &format!("骑手{n}"),
            "--phone",
            &format!("138{n:08}"),
            "--platform",
            "meituan",
        ],
    );
    let id = m["id"].as_str().unwrap().to_owned();
    ok(dir, &["roster", "approve", &id]);
    id
}

fn submit(dir: &Path, category: &str, lat: &str, text: &str, reporter: &str) -> String {
    json(
        dir,
        &[
            "report",
            "submit",
            "--category",
            category,
            "--lat",
            lat,
            "--lon",
            "102.7400",
            "--text",
            text,
            "--reporter",
            reporter,
        ],
    )["report"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn status_of(dir: &Path, id: &str) -> String {
    let out = yizhan(dir, &["--json", "report", "show", id]);
    if !out.status.success() {
        return "absent".into();
    }
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn holder(dir: &Path, task: &str) -> Option<String> {
    let tasks = json(dir, &["task", "list"]);
    let t = tasks.as_array().unwrap().iter().find(|t| t["id"] == task)?;
    t["holder"]["member"].as_str().map(str::to_owned)
}

fn balance(dir: &Path, member: &str) -> i64 {
    json(dir, &["points", "balance", member])[0]["balance"]
        .as_i64()
        .unwrap()
}

#[test]
fn a_day_in_guandu() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("guandu");
    let s = tmp.path().join("yiliu");
    let c1 = tmp.path().join("xinyazhou");
    let c1b = tmp.path().join("xinyazhou-station");
    let c2 = tmp.path().join("guanshuo");
    init(&d, "district", "guandu");
    init(&s, "street", "guandu/yiliu");
    init(&c1, "community", XIN);
    init(&c1b, "community", XIN);
    init(&c2, "community", GUAN);
    admit(&d, &s, "street", "guandu/yiliu", true);
    admit(&s, &c1, "community", XIN, false);
    admit(&s, &c1b, "community", XIN, false);
    admit(&s, &c2, "community", GUAN, false);

    // Morning roll call: ten riders, six at xinyazhou, four at guanshuo.
    let xin: Vec<String> = (0..6).map(|n| rider(&c1, n)).collect();
    let guan: Vec<String> = (6..10).map(|n| rider(&c2, n)).collect();
    ok(
        &c1,
        &[
            "directory",
            "station",
            "add",
            "--name",
            "暖新驿站",
            "--lat",
            "24.97",
            "--lon",
            "102.74",
            "--hours",
            "08:00-21:00",
            "--service",
            "water",
            "--service",
            "charging",
        ],
    );

    let district = NodeProc::start(&d, &[]);
    let comm1 = NodeProc::start(&c1, &[]);
    let comm2 = NodeProc::start(&c2, &[]);
    let street = NodeProc::start(&s, &[district.addr(), comm1.addr(), comm2.addr()]);
    let station = NodeProc::start(&c1b, &[street.addr()]);

    // Reports along the routes.
    let cover = submit(&c1, "manhole_cover", "24.97000", "井盖翘起", &xin[0]);
    let rubbish = submit(&c1, "sanitation", "24.98000", "垃圾堆积", &xin[1]);
    let again = submit(&c1, "manhole_cover", "24.97010", "井盖又翘起", &xin[2]);
    let fire = submit(&c1, "electrical_fire", "24.99000", "电箱冒烟", &xin[3]);
    let traffic = submit(&c2, "traffic", "24.95000", "红绿灯坏了", &guan[0]);
    let dispute = submit(&c2, "dispute", "24.96000", "邻里纠纷", &guan[1]);
    // A fifth rider passes the same manhole cover: "me too", not a new case.
    ok(
        &c1,
        &[
            "report",
            "submit",
            "--category",
            "manhole_cover",
            "--lat",
            "24.97001",
            "--lon",
            "102.7400",
            "--reporter",
            &xin[4],
            "--me-too",
            &cover,
        ],
    );

    // The community assesses.
    ok(&c1, &["report", "verify", &cover]);
    ok(&c1, &["report", "void", &again, "--reason", "duplicate"]);
    ok(
        &c1,
        &[
            "points", "award", "--rule", "report", "--report", &cover, "--member", &xin[0],
        ],
    );

    // The electrical box is beyond the community: escalated, handled by the street.
    ok(&c1, &["report", "verify", &fire]);
    ok(&c1, &["report", "escalate", &fire]);
    wait_for("the escalation at the street", 60, || {
        status_of(&s, &fire) == "escalated"
    });
    let due = (Local::now() + Duration::hours(4))
        .format("%Y-%m-%d %H:%M")
        .to_string();
    ok(&s, &["report", "accept", &fire]);
    ok(
        &s,
        &[
            "report",
            "dispatch",
            &fire,
            "--to",
            "street power crew",
            "--due",
            &due,
        ],
    );
    ok(&s, &["report", "handle", &fire, "--note", "box replaced"]);
    wait_for("the street's handling at the community", 60, || {
        status_of(&c1, &fire) == "handled"
    });
    ok(&c1, &["report", "close", &fire, "--reason", "fixed"]);

    // A task, claimed on two nodes of xinyazhou while they cannot see each other.
    let task = json(
        &c1,
        &[
            "task",
            "post",
            "--title",
            "送药给独居老人",
            "--points",
            "10",
            "--lease-minutes",
            "60",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for("the task at the station node", 60, || {
        holder(&c1b, &task).is_none()
            && json(&c1b, &["task", "list"]).as_array().unwrap().len() == 1
    });
    wait_for("the riders at the station node", 60, || {
        json(&c1b, &["roster", "list"]).as_array().unwrap().len() == 6
    });
    station.stop();
    ok(&c1, &["task", "claim", &task, "--member", &xin[2]]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    ok(&c1b, &["task", "claim", &task, "--member", &xin[3]]);
    assert_eq!(
        holder(&c1b, &task).as_deref(),
        Some(xin[3].as_str()),
        "offline, the station sees its own claim"
    );
    let station = NodeProc::start(&c1b, &[street.addr()]);
    // After sync, the earlier claim wins on every replica.
    wait_for("one winner on both nodes", 60, || {
        holder(&c1b, &task).as_deref() == Some(xin[2].as_str())
            && holder(&c1, &task).as_deref() == Some(xin[2].as_str())
    });
    ok(&c1, &["task", "complete", &task, "--member", &xin[2]]);
    ok(&c1, &["task", "sign-off", &task]);

    // Points: earned for the report and the task, redeemed at the station; an overdraft refused.
    assert_eq!(balance(&c1, &xin[0]), 5);
    assert_eq!(balance(&c1, &xin[2]), 10);
    ok(
        &c1,
        &[
            "points",
            "redeem",
            "--member",
            &xin[2],
            "--at",
            "暖新驿站",
            "--item",
            "午餐",
            "--points",
            "8",
        ],
    );
    assert_eq!(balance(&c1, &xin[2]), 2);
    let refused = yizhan(
        &c1,
        &[
            "points",
            "redeem",
            "--member",
            &xin[0],
            "--at",
            "暖新驿站",
            "--item",
            "午餐",
            "--points",
            "50",
        ],
    );
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("overdraw"), "{err}");
    assert_eq!(balance(&c1, &xin[0]), 5);

    // What the script played: 6 reports (the "me too" is a confirmation), 1 voided,
    // 1 closed on time, the rest open.
    let expect = |st: &Value| {
        st["total"] == 6
            && st["voided"] == 1
            && st["closed"] == 1
            && st["closed_on_time"] == 1
            && st["open"] == 4
            && st["confirmations"] == 1
            && st["by_category"]["manhole_cover"] == 2
            && st["by_category"]["electrical_fire"] == 1
            && st["by_category"]["sanitation"] == 1
            && st["by_category"]["traffic"] == 1
            && st["by_category"]["dispute"] == 1
            && st["by_status"]["closed"] == 1
            && st["by_status"]["voided"] == 1
            && st["by_status"]["verified"] == 1
            && st["by_status"]["submitted"] == 3
            && st["by_place"][XIN] == 4
            && st["by_place"][GUAN] == 2
    };
    wait_for("the street's statistics", 60, || {
        expect(&json(&s, &["stats"]))
    });
    wait_for("the district's statistics", 60, || {
        expect(&json(&d, &["stats"]))
    });
    let st = json(&d, &["stats"]);
    assert_eq!(st["closure_rate"], 0.2, "1 closed of 5 not voided");
    assert_eq!(st["on_time_closure_rate"], 1.0);
    for id in [&cover, &rubbish, &again, &fire, &traffic, &dispute] {
        assert_ne!(
            status_of(&d, id),
            "absent",
            "report {id} did not reach the district"
        );
    }
    assert_eq!(
        status_of(&c2, &cover),
        "absent",
        "guanshuo holds xinyazhou's report"
    );

    station.stop();
    street.stop();
    comm1.stop();
    comm2.stop();
    district.stop();
}
