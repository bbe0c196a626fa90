//! Operators' housekeeping through the `yizhan` binary: `check` on healthy
//! and damaged stores, `config show` and unknown keys, refused writes that
//! leave the store file alone, and `doc export`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use automerge::{AutoCommit, ROOT, ReadDoc};
use common::{NodeProc, chain, fails, json, ok, submit_photo_report, submit_report, yizhan};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;

/// Bytes no other part of a store holds: a header to find them by, then a
/// pattern that does not repeat within the photo.
fn photo_bytes() -> Vec<u8> {
    let mut bytes = b"YIZHAN-CHECK-PHOTO-0123456789abcdef".to_vec();
    bytes.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    bytes
}

/// A federation whose community holds a report with a photo. Returns the
/// community's directory and the photo's hash.
fn community_with_photo(root: &Path) -> (PathBuf, String) {
    let (c, _, _) = chain(root);
    let photo = root.join("cover.jpg");
    std::fs::write(&photo, photo_bytes()).unwrap();
    submit_photo_report(&c, &photo);
    submit_report(&c, "a second report");
    let hash = blake3::hash(&photo_bytes()).to_hex().to_string();
    (c, hash)
}

fn store(dir: &Path) -> PathBuf {
    dir.join("store.redb")
}

/// Flips one bit of every copy of `needle` in the file at `path` (redb may
/// keep an old copy of a page until it reuses it); returns how many it
/// found.
fn flip_in_file(path: &Path, needle: &[u8]) -> usize {
    let mut bytes = std::fs::read(path).unwrap();
    let mut found = 0;
    let mut at = 0;
    while let Some(pos) = bytes[at..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + at)
    {
        bytes[pos + needle.len() / 2] ^= 0x01;
        found += 1;
        at = pos + needle.len();
    }
    std::fs::write(path, bytes).unwrap();
    found
}

/// Runs `check` with `extra` arguments, which must fail without panicking;
/// returns its stdout and its one stderr line.
fn check_fails(dir: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec!["check"];
    args.extend_from_slice(extra);
    let out = yizhan(dir, &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    (stdout, stderr)
}

#[test]
fn check_passes_on_a_healthy_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _) = community_with_photo(tmp.path());
    let text = ok(&c, &["check"]);
    assert!(text.contains("no problems found"), "{text}");
    let quick = json(&c, &["check"]);
    assert_eq!(quick["problems"], serde_json::json!([]));
    assert_eq!(quick["documents"], 1, "the month's reports: {quick}");
    assert_eq!(quick["blobs"], 1);
    assert_eq!(quick["changes"], 0);
    let deep = json(&c, &["check", "--deep"]);
    assert_eq!(deep["problems"], serde_json::json!([]), "{deep}");
    assert!(deep["changes"].as_u64().unwrap() >= 2, "{deep}");
}

#[test]
fn check_names_a_blob_whose_bytes_were_altered() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, hash) = community_with_photo(tmp.path());
    ok(&c, &["check"]);
    let file = c.join("blobs").join(&hash);
    assert_eq!(
        flip_in_file(&file, b"YIZHAN-CHECK-PHOTO-0123456789abcdef"),
        1
    );
    let (stdout, stderr) = check_fails(&c, &[]);
    assert!(
        stdout.contains(&format!("problem: blob {hash}: its 20035 bytes hash to")),
        "{stdout}"
    );
    assert!(stderr.contains("check found"), "{stderr}");
}

#[test]
fn check_deep_names_a_change_whose_signature_was_altered() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _) = community_with_photo(tmp.path());
    // One recorded signature, read through redb before the damage.
    const SIGNATURES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("signatures");
    let (change, signature) = {
        let db = redb::ReadOnlyDatabase::open(store(&c)).unwrap();
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(SIGNATURES).unwrap();
        let (key, value) = table.iter().unwrap().next().unwrap().unwrap();
        assert_eq!(value.value().len(), 96, "author key and signature");
        (hex::encode(key.value()), value.value()[32..].to_vec())
    };
    assert!(flip_in_file(&store(&c), &signature) >= 1);
    let (stdout, _) = check_fails(&c, &["--deep"]);
    assert!(
        stdout.contains(&format!("problem: change {change} of "))
            && stdout.contains("signature does not verify"),
        "{stdout}"
    );
    let report = json_failing(&c, &["check", "--deep"]);
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["subject"] == "change" && p["id"] == change.as_str()),
        "{report}"
    );
}

/// `--json` output of a command that exits 1.
fn json_failing(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = yizhan(dir, &all);
    assert_eq!(out.status.code(), Some(1));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn check_names_a_truncated_store_without_panicking() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _) = community_with_photo(tmp.path());
    let bytes = std::fs::read(store(&c)).unwrap();
    std::fs::write(store(&c), &bytes[..bytes.len() / 2]).unwrap();
    for extra in [&[][..], &["--deep"][..]] {
        let (stdout, stderr) = check_fails(&c, extra);
        assert!(stdout.contains("problem: store "), "{stdout}");
        assert!(stderr.contains("store.redb"), "{stderr}");
        assert!(stderr.contains("failed verification"), "{stderr}");
    }
    // The file was only read.
    assert_eq!(std::fs::read(store(&c)).unwrap().len(), bytes.len() / 2);
}

#[test]
fn check_and_export_go_through_a_running_node() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _) = community_with_photo(tmp.path());
    let node = NodeProc::start(&c, &[]);
    let text = ok(&c, &["check", "--deep"]);
    assert!(text.contains("the node is running"), "{text}");
    assert!(text.contains("no problems found"), "{text}");
    assert_eq!(json(&c, &["check"])["running"], true);
    let id = reports_doc(&c);
    let file = tmp.path().join("running.automerge");
    ok(&c, &["doc", "export", &id, "--out", file.to_str().unwrap()]);
    assert_eq!(report_texts(&file).len(), 2);
    node.stop();
}

fn reports_doc(dir: &Path) -> String {
    json(dir, &["doc", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .find(|id| id.contains("/reports/"))
        .unwrap()
}

/// The texts of the reports in an exported document, read with Automerge
/// alone, by the layout docs/storage.md describes.
fn report_texts(file: &Path) -> Vec<String> {
    let doc = AutoCommit::load(&std::fs::read(file).unwrap()).unwrap();
    doc.keys(ROOT)
        .filter(|k| k.starts_with("report/"))
        .map(|k| {
            let (_, report) = doc.get(ROOT, &k).unwrap().unwrap();
            let (content, _) = doc.get(&report, "content").unwrap().unwrap();
            let content: serde_json::Value =
                serde_json::from_str(&content.into_string().unwrap()).unwrap();
            assert_eq!(content["v"], 1, "{content}");
            content["text"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn doc_export_writes_automerge_bytes_other_tools_load() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _) = community_with_photo(tmp.path());
    let id = reports_doc(&c);
    let file = tmp.path().join("reports.automerge");
    let done = json(&c, &["doc", "export", &id, "--out", file.to_str().unwrap()]);
    assert_eq!(done["document"], id.as_str());
    let mut texts = report_texts(&file);
    texts.sort();
    assert_eq!(texts, ["a second report", "井盖翘起"]);
}

#[test]
fn doc_export_refuses_documents_not_held_or_private() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _) = community_with_photo(tmp.path());
    let file = tmp.path().join("out.automerge");
    let out = file.to_str().unwrap();
    fails(
        &c,
        &[
            "doc",
            "export",
            "guandu/yiliu/xinyazhou/reports/1999-01",
            "--out",
            out,
        ],
        "is not held on this node",
    );
    fails(
        &c,
        &[
            "doc",
            "export",
            "guandu/yiliu/xinyazhou/roster-private",
            "--out",
            out,
        ],
        "never leaves its community's node",
    );
    fails(
        &c,
        &["doc", "export", "no such thing", "--out", out],
        "is not a document id",
    );
    assert!(!file.exists());
}

fn digest(dir: &Path) -> String {
    blake3::hash(&std::fs::read(store(dir)).unwrap())
        .to_hex()
        .to_string()
}

#[test]
fn refused_writes_leave_the_store_byte_for_byte_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, _) = chain(tmp.path());
    let r = submit_report(&c, "井盖翘起");
    let (c_before, s_before) = (digest(&c), digest(&s));
    let at_community: &[(&[&str], &str)] = &[
        (&["report", "accept", &r], "the street's step"),
        (
            &["report", "close", &r, "--reason", "fixed"],
            "cannot close a case that is submitted",
        ),
        (&["report", "verify", "202611-00000000"], "not held"),
        (
            &[
                "points",
                "award",
                "--member",
                "m-00000000",
                "--points",
                "5",
                "--reason",
                "x",
            ],
            "m-00000000",
        ),
        (&["join", "not-a-token"], "token"),
    ];
    for (args, needle) in at_community {
        fails(&c, args, needle);
    }
    fails(
        &s,
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
    fails(&s, &["report", "verify", &r], "not held");
    assert_eq!(
        digest(&c),
        c_before,
        "a refused command changed the community's store"
    );
    assert_eq!(
        digest(&s),
        s_before,
        "a refused command changed the street's store"
    );
    // The digest does see a write.
    ok(&c, &["report", "verify", &r]);
    assert_ne!(digest(&c), c_before);
}

fn config_rows(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["config", "show"];
    args.extend_from_slice(extra);
    let rows = json(dir, &args);
    let mut by_key = serde_json::Map::new();
    for row in rows.as_array().unwrap() {
        by_key.insert(row["key"].as_str().unwrap().to_owned(), row.clone());
    }
    Value::Object(by_key)
}

#[test]
fn config_show_names_the_source_of_every_value() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _, _) = chain(tmp.path());
    // `init` writes every key; an operator's file may hold only some.
    let config = c.join("config.toml");
    let minimal = "role = \"community\"\nplace = \"guandu/yiliu/xinyazhou\"\n";
    std::fs::write(&config, minimal).unwrap();
    let rows = config_rows(&c, &[]);
    for (key, source) in [
        ("data_dir", "flag"),
        ("role", "file"),
        ("place", "file"),
        ("mdns", "default"),
        ("duplicate_radius_m", "default"),
        ("listen", "default"),
        ("log", "default"),
    ] {
        assert_eq!(rows[key]["source"], source, "{key}: {rows}");
    }
    assert_eq!(rows["place"]["value"], "guandu/yiliu/xinyazhou");
    assert_eq!(rows["duplicate_radius_m"]["value"], 50.0);

    std::fs::write(
        &config,
        format!("{minimal}duplicate_radius_m = 80.0\nlisten = [\"/ip4/0.0.0.0/tcp/4001\"]\n"),
    )
    .unwrap();
    let rows = config_rows(&c, &["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "-v"]);
    assert_eq!(rows["duplicate_radius_m"]["value"], 80.0, "{rows}");
    assert_eq!(rows["duplicate_radius_m"]["source"], "file");
    assert_eq!(rows["mdns"]["value"], false);
    assert_eq!(rows["mdns"]["source"], "flag");
    assert_eq!(
        rows["listen"]["value"],
        serde_json::json!(["/ip4/0.0.0.0/tcp/4001", "/ip4/127.0.0.1/tcp/0"])
    );
    assert_eq!(rows["listen"]["source"], "file_and_flag");
    assert_eq!(rows["log"]["value"], "info");
    assert_eq!(rows["log"]["source"], "flag");

    // The data directory from the environment, the log filter from RUST_LOG.
    let out = Command::new(env!("CARGO_BIN_EXE_yizhan"))
        .args(["--json", "config", "show"])
        .env("YIZHAN_DATA_DIR", &c)
        .env("RUST_LOG", "node=debug")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |key: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap()
            .clone()
    };
    assert_eq!(row("data_dir")["source"], "environment");
    assert_eq!(row("log")["source"], "environment");
    assert_eq!(row("log")["value"], "node=debug");

    let table = ok(&c, &["config", "show"]);
    assert!(
        table.contains("duplicate_radius_m") && table.contains("file"),
        "{table}"
    );
}

#[test]
fn unknown_config_keys_are_refused_listing_the_valid_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _, _) = chain(tmp.path());
    let config = c.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}mnds = false\n")).unwrap();
    let before = digest(&c);
    for args in [
        &["status"][..],
        &["config", "show"][..],
        &["report", "list"][..],
    ] {
        let line = fails(&c, args, "unknown key `mnds`");
        assert!(
            line.contains("learn_addresses") && line.contains("duplicate_radius_m"),
            "{line}"
        );
    }
    assert_eq!(digest(&c), before);
}
