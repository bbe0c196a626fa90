//! Operators' housekeeping through the `yizhan` binary: refused writes that leave the store file alone, and `config show`
//! and unknown keys in `config.toml`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{chain, fails, json, ok, submit_report};
use serde_json::Value;

fn store(dir: &Path) -> PathBuf {
    dir.join("store.redb")
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
