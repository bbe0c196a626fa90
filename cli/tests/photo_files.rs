//! Photos as files beside the store, through the `yizhan` binary: where
//! they are, a damaged or truncated one named by `check` and refused by
//! `blob get` and by the network, one damaged under a running node set
//! aside and fetched again, what a crash leaves cleaned when the node
//! starts, and photos carried through a backup and a restore.

mod common;

use std::path::{Path, PathBuf};

use common::{NodeProc, chain, fails, json, ok, submit_photo_report, wait_for, yizhan};
use serde_json::Value;

/// A photo of random-looking bytes, 100 KB: seven 16 KiB groups.
fn photo_bytes() -> Vec<u8> {
    let mut bytes = vec![0u8; 100_000];
    blake3::Hasher::new()
        .update(b"yizhan photo-files test")
        .finalize_xof()
        .fill(&mut bytes);
    bytes
}

/// The community of a federation holding one report with the photo; its
/// directory, street's and the photo's hash.
fn community_with_photo(root: &Path) -> (PathBuf, PathBuf, String) {
    let (c, s, _) = chain(root);
    let photo = root.join("cover.jpg");
    std::fs::write(&photo, photo_bytes()).unwrap();
    submit_photo_report(&c, &photo);
    (c, s, blake3::hash(&photo_bytes()).to_hex().to_string())
}

/// `check --json` on a store with problems: exit status 1, the report.
fn failing_check(dir: &Path) -> Value {
    let out = yizhan(dir, &["--json", "check"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn problem_about(report: &Value, id: &str) -> String {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["subject"] == "blob" && p["id"].as_str().unwrap().ends_with(id))
        .unwrap_or_else(|| panic!("no problem about {id}: {report}"))["problem"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_photo_is_a_file_and_a_damaged_one_is_named_and_never_served() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _, hash) = community_with_photo(tmp.path());
    let file = c.join("blobs").join(&hash);
    assert_eq!(std::fs::read(&file).unwrap(), photo_bytes());
    let names: Vec<String> = std::fs::read_dir(c.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec![hash.clone()], "one plain file per photo");
    let healthy = json(&c, &["check"]);
    assert_eq!(healthy["blobs"], 1, "{healthy}");
    assert_eq!(healthy["problems"], serde_json::json!([]));
    assert_eq!(healthy["blobs_missing"], serde_json::json!([]));

    // One bit flipped on disk.
    let mut flipped = photo_bytes();
    flipped[54_321] ^= 0x10;
    std::fs::write(&file, &flipped).unwrap();
    let why = problem_about(&failing_check(&c), &hash);
    assert!(why.contains("bytes hash to"), "{why}");
    let line = fails(&c, &["blob", "get", &hash], "damaged");
    assert!(line.contains(&hash), "{line}");

    // Cut short.
    std::fs::write(&file, &photo_bytes()[..60_000]).unwrap();
    problem_about(&failing_check(&c), &hash);
    fails(&c, &["blob", "get", &hash], "damaged");

    // Whole again: served and healthy.
    std::fs::write(&file, photo_bytes()).unwrap();
    let out = tmp.path().join("back.jpg");
    ok(&c, &["blob", "get", &hash, "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), photo_bytes());
    assert_eq!(json(&c, &["check"])["problems"], serde_json::json!([]));
}

#[test]
fn strays_are_named_and_what_a_crash_left_goes_when_the_node_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _, hash) = community_with_photo(tmp.path());
    let blobs = c.join("blobs");
    let half_written = blobs.join(format!("{hash}.4242-7.tmp"));
    std::fs::write(&half_written, b"half a photo").unwrap();
    let by_hand = blobs.join("notes.txt");
    std::fs::write(&by_hand, b"not a photo").unwrap();
    let report = failing_check(&c);
    problem_about(&report, "notes.txt");
    let why = problem_about(&report, ".4242-7.tmp");
    assert!(why.contains("stray"), "{why}");
    assert!(half_written.exists(), "check only looks");

    let node = NodeProc::start(&c, &[]);
    wait_for("the half-written file removed", 30, || {
        !half_written.exists()
    });
    assert!(by_hand.exists(), "only what a crash leaves is removed");
    let running = failing_check(&c);
    assert_eq!(
        running["problems"].as_array().unwrap().len(),
        1,
        "{running}"
    );
    problem_about(&running, "notes.txt");
    node.stop();
}

#[test]
fn a_peer_is_never_served_a_damaged_photo() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, hash) = community_with_photo(tmp.path());
    let file = c.join("blobs").join(&hash);
    let mut flipped = photo_bytes();
    flipped[99_999] ^= 0x01;
    std::fs::write(&file, &flipped).unwrap();

    let street = NodeProc::start(&s, &[]);
    let community = NodeProc::start(&c, &[street.addr()]);
    wait_for(
        "the community refusing to serve its damaged photo",
        60,
        || {
            community
                .logged()
                .contains("a held blob is damaged; not serving it")
        },
    );
    assert_eq!(json(&s, &["status"])["blobs"], 0);
    let missing = json(&s, &["check"]);
    assert_eq!(missing["problems"], serde_json::json!([]), "{missing}");
    assert_eq!(missing["blobs_missing"], serde_json::json!([hash]));

    // Repaired at the community, the street's next attempt gets it whole.
    std::fs::write(&file, photo_bytes()).unwrap();
    wait_for("the photo at the street", 60, || {
        json(&s, &["status"])["blobs"] == 1
    });
    let out = tmp.path().join("at-street.jpg");
    ok(&s, &["blob", "get", &hash, "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), photo_bytes());
    // Stored by renaming the fetch's verified file, which leaves nothing
    // under partial-blobs/.
    let log = street.logged();
    assert!(!log.contains("cannot take the partial file"), "{log}");
    let left = std::fs::read_dir(s.join("partial-blobs")).map_or(0, |d| d.count());
    assert_eq!(left, 0, "partial files left at the street");
    community.stop();
    street.stop();
}

#[test]
fn a_photo_damaged_under_a_running_node_is_set_aside_and_fetched_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, hash) = community_with_photo(tmp.path());
    let street = NodeProc::start(&s, &[]);
    let community = NodeProc::start(&c, &[street.addr()]);
    wait_for("the photo at the street", 60, || {
        json(&s, &["status"])["blobs"] == 1
    });

    // A bit flips under the running community.
    let mut flipped = photo_bytes();
    flipped[12_345] ^= 0x08;
    std::fs::write(c.join("blobs").join(&hash), &flipped).unwrap();
    // The first reader to meet it is refused, and the node sets the file
    // aside and fetches the photo again from the street.
    fails(&c, &["blob", "get", &hash], "damaged");
    let out = tmp.path().join("again.jpg");
    wait_for("the photo whole again at the community", 60, || {
        yizhan(&c, &["blob", "get", &hash, "--out", out.to_str().unwrap()])
            .status
            .success()
    });
    assert_eq!(std::fs::read(&out).unwrap(), photo_bytes());
    assert_eq!(
        std::fs::read(c.join("blobs").join(&hash)).unwrap(),
        photo_bytes()
    );
    // The damaged bytes are kept for the operator, out of the blob files.
    let aside: Vec<std::fs::DirEntry> = std::fs::read_dir(c.join("damaged-blobs"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(aside.len(), 1);
    assert!(
        aside[0]
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("{hash}."))
    );
    assert_eq!(std::fs::read(aside[0].path()).unwrap(), flipped);
    assert!(
        community
            .logged()
            .contains("set a damaged blob aside; fetching it again from a peer")
    );
    community.stop();
    street.stop();
    let healthy = json(&c, &["check"]);
    assert_eq!(healthy["problems"], serde_json::json!([]), "{healthy}");
    assert_eq!(healthy["blobs"], 1, "{healthy}");
}

#[test]
fn a_backup_carries_the_photos_and_a_restore_writes_them_back_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _, hash) = community_with_photo(tmp.path());
    let backup = tmp.path().join("community.yzbk");
    let summary = json(&c, &["backup", backup.to_str().unwrap()]);
    let blobs = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "blobs")
        .unwrap_or_else(|| panic!("no blobs in the backup: {summary}"))
        .clone();
    assert_eq!(blobs["entries"], 1, "{summary}");

    std::fs::remove_dir_all(&c).unwrap();
    ok(&c, &["restore", backup.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(c.join("blobs").join(&hash)).unwrap(),
        photo_bytes()
    );
    let report = json(&c, &["check"]);
    assert_eq!(report["blobs"], 1, "{report}");
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    let out = tmp.path().join("restored.jpg");
    ok(&c, &["blob", "get", &hash, "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), photo_bytes());
}
