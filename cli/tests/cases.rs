//! Whole cases at every level, through real `yizhan node start` processes:
//! a photo the street attaches when it handles a case reaches the
//! community, and the district when asked for it, and `report show` tells
//! the whole history with place names everywhere.

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
            "139-0000-0000",
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
