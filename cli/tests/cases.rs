//! Whole cases at every level, through real `yizhan node start` processes:
//! a photo the street attaches when it handles a case reaches the
//! community, and the district when asked for it, and `report show` tells
//! the whole history with place names everywhere; a street exports and
//! counts its communities' reports and ledgers.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not text"))
        .to_owned()
}

/// Adds an approved member on `grid` at the community in `dir`.
fn member(dir: &Path, display: &str, grid: &str) -> String {
    // Each member its own phone: a second applicant with a phone already on
    // the roster is refused without --force.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let phone = format!("139-0000-{n:04}");
    let m = json(
        dir,
        &[
            "roster",
            "add",
            "--display-name",
            display,
            "--name",
            "李四",
            "--phone",
            &phone,
            "--platform",
            "eleme",
            "--grid",
            grid,
        ],
    );
    let id = text(&m["id"]);
    ok(dir, &["roster", "approve", &id]);
    id
}

/// A report by `reporter` at latitude `lat`, with `extra` arguments.
fn report_by(dir: &Path, reporter: &str, lat: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "report",
        "submit",
        "--category",
        "public_facility_damage",
        "--lat",
        lat,
        "--lon",
        "102.74",
        "--text",
        "路灯不亮",
        "--reporter",
        reporter,
    ];
    args.extend_from_slice(extra);
    text(&json(dir, &args)["report"]["id"])
}

/// A discretionary award of `points` to `member` at the community in `dir`.
fn award(dir: &Path, member: &str, points: &str) {
    ok(
        dir,
        &[
            "points",
            "award",
            "--member",
            member,
            "--points",
            points,
            "--reason",
            "夜间巡逻",
        ],
    );
}

fn show(dir: &Path, id: &str) -> Value {
    json(dir, &["report", "show", id])
}

/// Fetches `hash` at `dir` with `blob get` and checks the bytes hash to it.
fn blob_verifies(dir: &Path, hash: &str, out: &Path) -> bool {
    let got = yizhan(dir, &["blob", "get", hash, "--out", out.to_str().unwrap()]);
    got.status.success()
        && std::fs::read(out).is_ok_and(|b| blake3::hash(&b).to_hex().as_str() == hash)
}

#[test]
fn street_handle_photo_reaches_every_level_and_show_names_places() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d) = chain(tmp.path());
    let rider = member(&c, "老王", "g03");
    let witness = member(&c, "小李", "g04");
    let photo = tmp.path().join("cover.jpg");
    std::fs::write(&photo, b"JPEG of a loose cover ".repeat(40)).unwrap();
    let id = submit_photo_report_by(&c, &photo, &["--reporter", &rider]);
    ok(
        &c,
        &["report", "submit", "--me-too", &id, "--reporter", &witness],
    );
    ok(&c, &["report", "verify", &id]);
    ok(
        &c,
        &[
            "report",
            "escalate",
            &id,
            "--note",
            "needs the water company",
        ],
    );

    let community = NodeProc::start(&c, &[]);
    let district = NodeProc::start(&d, &[]);
    let street = NodeProc::start(&s, &[community.addr(), district.addr()]);
    wait_for("the escalated case at the street", 60, || {
        yizhan(&s, &["report", "show", &id]).status.success()
    });
    ok(&s, &["report", "accept", &id]);
    let due = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    ok(
        &s,
        &[
            "report",
            "dispatch",
            &id,
            "--to",
            "市政养护队",
            "--due",
            &due,
        ],
    );
    let fix = tmp.path().join("fixed.jpg");
    std::fs::write(&fix, b"JPEG of the cover bolted down ".repeat(60)).unwrap();
    let handled = json(
        &s,
        &[
            "report",
            "handle",
            &id,
            "--photo",
            fix.to_str().unwrap(),
            "--note",
            "bolted",
        ],
    );
    let fix_hash = handled["events"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["photo"]["hash"].as_str())
        .unwrap()
        .to_owned();
    assert_eq!(
        fix_hash,
        blake3::hash(&std::fs::read(&fix).unwrap())
            .to_hex()
            .as_str()
    );

    // The community fetches the street's photo as it fetches attachments.
    let out = tmp.path().join("at-community.jpg");
    wait_for("the handle photo at the community", 60, || {
        blob_verifies(&c, &fix_hash, &out)
    });

    // The district holds the case but no photo until one is asked for.
    wait_for("the handled case at the district", 60, || {
        yizhan(&d, &["--json", "report", "show", &id])
            .status
            .success()
            && show(&d, &id)["status"] == "handled"
    });
    assert_eq!(
        json(&d, &["status"])["blobs"],
        0,
        "the district fetched a photo nobody asked for"
    );
    let out = tmp.path().join("at-district.jpg");
    assert!(
        blob_verifies(&d, &fix_hash, &out),
        "the district did not fetch the handle photo on demand"
    );
    let original = text(&show(&d, &id)["attachments"][0]["hash"]);
    assert!(blob_verifies(&d, &original, &out));
    assert_eq!(json(&d, &["status"])["blobs"], 2);

    // Every node tells the same history, naming places, not peer ids.
    wait_for("the handled case at the community", 30, || {
        show(&c, &id)["status"] == "handled"
    });
    for dir in [&c, &s, &d] {
        let table = ok(dir, &["report", "show", &id]);
        for needle in [
            "submitted",
            "guandu/yiliu/xinyazhou (community)",
            "guandu/yiliu (street)",
            "handler 市政养护队",
            &format!("photo {fix_hash}"),
            &format!("confirmed by member {witness}"),
            &format!("reporter {rider}"),
            "needs the water company",
            "bolted",
        ] {
            assert!(
                table.contains(needle),
                "report show at {} lacks {needle:?}:\n{table}",
                dir.display()
            );
        }
        for event in [
            "verify", "escalate", "accept", "dispatch", "handle", "confirm",
        ] {
            assert!(table.contains(event), "{event} missing:\n{table}");
        }
        assert!(!table.contains("unknown node"), "{table}");
    }
    street.stop();
    district.stop();
    community.stop();
}

#[test]
fn street_exports_and_counts_its_communities_by_reporter_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, _d) = chain(tmp.path());
    let c2 = tmp.path().join("c2");
    init(&c2, "community", "guandu/yiliu/dongfeng");
    admit(&s, &c2, "community", "guandu/yiliu/dongfeng", false);

    let (a, b) = (member(&c, "老王", "g01"), member(&c, "小李", "g02"));
    let e = member(&c2, "阿强", "g07");
    let mut ids = vec![
        report_by(&c, &a, "24.961", &[]),
        report_by(&c, &a, "24.962", &[]),
        report_by(&c, &b, "24.963", &[]),
        report_by(&c2, &e, "24.964", &[]),
        // A grid given on the command line wins over the roster's.
        report_by(&c2, &e, "24.965", &["--grid", "g09"]),
    ];
    ids.sort();
    award(&c, &a, "5");
    award(&c, &b, "3");
    award(&c2, &e, "7");
    // The community counts by the reporter's grid as soon as it records.
    let own = json(&c, &["stats"]);
    assert_eq!(own["by_grid"]["g01"], 2, "{own}");
    assert_eq!(own["by_grid"]["g02"], 1, "{own}");

    let community = NodeProc::start(&c, &[]);
    let dongfeng = NodeProc::start(&c2, &[]);
    let street = NodeProc::start(&s, &[community.addr(), dongfeng.addr()]);
    let year = chrono::Datelike::year(&chrono::Utc::now()).to_string();
    let ledger = |place: Option<&str>| {
        let mut args = vec!["export", "ledger", "--format", "csv", "--year", &year];
        if let Some(p) = place {
            args.extend(["--place", p]);
        }
        ok(&s, &args)
    };
    wait_for(
        "both communities' reports and ledgers at the street",
        60,
        || {
            json(&s, &["report", "list"]).as_array().unwrap().len() == 5
                && ledger(None).lines().count() == 4
        },
    );

    for csv in [ledger(Some("guandu/yiliu")), ledger(None)] {
        let rows: Vec<&str> = csv.lines().skip(1).collect();
        assert_eq!(rows.len(), 3, "{csv}");
        for (who, place, points) in [
            (&a, "guandu/yiliu/xinyazhou", ",5,5,"),
            (&b, "guandu/yiliu/xinyazhou", ",3,3,"),
            (&e, "guandu/yiliu/dongfeng", ",7,7,"),
        ] {
            assert!(
                rows.iter()
                    .any(|r| r.contains(who.as_str()) && r.contains(place) && r.contains(points)),
                "no ledger row of {who} at {place}:\n{csv}"
            );
        }
    }
    let only = ledger(Some("guandu/yiliu/dongfeng"));
    assert_eq!(only.lines().count(), 2, "{only}");
    let json_ledgers = json(
        &s,
        &[
            "export",
            "ledger",
            "--format",
            "json",
            "--place",
            "guandu/yiliu",
        ],
    );
    assert_eq!(json_ledgers.as_array().unwrap().len(), 2, "{json_ledgers}");

    let reports = ok(
        &s,
        &[
            "export",
            "reports",
            "--format",
            "csv",
            "--place",
            "guandu/yiliu",
        ],
    );
    let mut exported: Vec<String> = reports
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect();
    exported.sort();
    assert_eq!(exported, ids, "{reports}");
    assert!(
        reports.contains(",guandu/yiliu/xinyazhou,") && reports.contains(",guandu/yiliu/dongfeng,")
    );

    let stats = json(&s, &["stats", "--place", "guandu/yiliu"]);
    assert_eq!(stats["total"], 5, "{stats}");
    let by_grid = stats["by_grid"].as_object().unwrap();
    let expected = [("g01", 2), ("g02", 1), ("g07", 1), ("g09", 1)];
    assert_eq!(by_grid.len(), expected.len(), "{stats}");
    for (grid, n) in expected {
        assert_eq!(by_grid[grid], n, "{stats}");
    }
    assert_eq!(stats["by_place"]["guandu/yiliu/xinyazhou"], 3, "{stats}");
    assert_eq!(stats["by_place"]["guandu/yiliu/dongfeng"], 2, "{stats}");

    // A malformed place is one clear line; a place with nothing is empty.
    fails(
        &s,
        &[
            "export",
            "ledger",
            "--format",
            "csv",
            "--place",
            "Guandu Yiliu",
        ],
        "Guandu Yiliu",
    );
    let nothing = ledger(Some("guandu/yiliu/nowhere"));
    assert_eq!(nothing.lines().count(), 1, "header only: {nothing}");
    street.stop();
    dongfeng.stop();
    community.stop();
}
