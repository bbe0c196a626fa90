//! The directory of stations and merchants, needs, and statistics.

use super::*;

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
