//! The `yizhan` binary driven as an operator would, on real data directories.

mod common;

use std::path::{Path, PathBuf};

use common::{fails, json, ok};

fn community(tmp: &Path) -> PathBuf {
    let d = tmp.join("node");
    ok(
        &d,
        &[
            "init",
            "--role",
            "community",
            "--place",
            "guandu/yiliu/xinyazhou",
        ],
    );
    d
}

/// A digest of the store file, to show a command left it byte-for-byte alone.
fn store_digest(d: &Path) -> String {
    blake3::hash(&std::fs::read(d.join("store.redb")).unwrap())
        .to_hex()
        .to_string()
}

#[test]
fn newcomer_records_and_lists_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    ok(
        &d,
        &[
            "report",
            "submit",
            "--category",
            "manhole_cover",
            "--lat",
            "24.97",
            "--lon",
            "102.74",
            "--text",
            "井盖翘起",
        ],
    );
    let list = json(&d, &["report", "list"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    let r = &list[0];
    assert_eq!(r["category"], "manhole_cover");
    assert_eq!(r["status"], "submitted");
    assert_eq!(r["lat"], 24.97);
    assert_eq!(r["lon"], 102.74);
    assert_eq!(r["place"], "guandu/yiliu/xinyazhou");
    assert_eq!(r["text"], "井盖翘起");
    let id = r["id"].as_str().unwrap();
    let shown = json(&d, &["report", "show", id]);
    assert_eq!(shown["id"], id);

    let status = json(&d, &["status"]);
    assert!(status["peer_id"].as_str().unwrap().starts_with("12D3KooW"));
    assert_eq!(status["role"], "community");
    assert_eq!(status["place"], "guandu/yiliu/xinyazhou");
}

#[test]
fn photos_and_voice_notes_are_stored_as_verified_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let photo = tmp.path().join("cover.jpg");
    let voice = tmp.path().join("note.amr");
    std::fs::write(&photo, vec![0xffu8; 5000]).unwrap();
    std::fs::write(&voice, b"#!AMR\n voice bytes").unwrap();
    let out = json(
        &d,
        &[
            "report",
            "submit",
            "--category",
            "electrical_fire",
            "--lat",
            "24.9",
            "--lon",
            "102.7",
            "--photo",
            photo.to_str().unwrap(),
            "--voice",
            voice.to_str().unwrap(),
        ],
    );
    let atts = out["report"]["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2);
    assert_eq!(atts[0]["kind"], "photo");
    assert_eq!(atts[0]["mime"], "image/jpeg");
    assert_eq!(atts[0]["size"], 5000);
    assert_eq!(
        atts[0]["hash"],
        blake3::hash(&[0xffu8; 5000]).to_hex().as_str()
    );
    assert_eq!(atts[1]["mime"], "audio/amr");
    assert_eq!(json(&d, &["status"])["blobs"], 2);
}

#[test]
fn nearby_open_report_of_same_category_is_suggested() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let submit = |lat: &str| {
        json(
            &d,
            &[
                "report",
                "submit",
                "--category",
                "manhole_cover",
                "--lat",
                lat,
                "--lon",
                "102.74",
            ],
        )
    };
    let first = submit("24.9700");
    assert!(first["nearby"].as_array().unwrap().is_empty());
    let second = submit("24.9702");
    let nearby = second["nearby"].as_array().unwrap();
    assert_eq!(nearby.len(), 1);
    assert_eq!(nearby[0][0], first["report"]["id"]);
}

#[test]
fn bad_arguments_fail_in_one_line_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    ok(
        &d,
        &[
            "report",
            "submit",
            "--category",
            "other",
            "--lat",
            "1",
            "--lon",
            "1",
        ],
    );
    let before = store_digest(&d);
    let submit = ["report", "submit", "--lon", "102.74"];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--category", "manhole_cover", "--lat", "200"],
            "latitude 200",
        ),
        (
            &["--category", "manhole_cover", "--lat", "-91"],
            "latitude -91",
        ),
        (
            &["--category", "nope", "--lat", "24.9"],
            "unknown category \"nope\"",
        ),
        (&["--category", "other", "--lat", "abc"], "--lat"),
        (
            &[
                "--category",
                "other",
                "--lat",
                "1",
                "--photo",
                "/nonexistent.jpg",
            ],
            "/nonexistent.jpg",
        ),
        (
            &["--category", "other", "--lat", "1", "--reporter", "Bad Id"],
            "member id",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = submit.to_vec();
        args.extend_from_slice(extra);
        fails(&d, &args, needle);
    }
    fails(&d, &["report", "show", "202611-00000000"], "not held");
    fails(
        &d,
        &["report", "list", "--category", "nope"],
        "unknown category",
    );
    fails(&d, &["report", "list", "--place", "Guandu"], "Guandu");
    fails(&d, &["report", "show", "nonsense"], "report id");
    fails(
        &d,
        &["report", "list", "--status", "sleeping"],
        "unknown status",
    );
    assert_eq!(
        store_digest(&d),
        before,
        "a refused command changed the store"
    );
    assert_eq!(json(&d, &["report", "list"]).as_array().unwrap().len(), 1);
}

#[test]
fn init_refuses_bad_places_and_existing_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("n");
    fails(
        &d,
        &["init", "--role", "community", "--place", "guandu/yiliu"],
        "segment",
    );
    fails(
        &d,
        &["init", "--role", "street", "--place", "Guandu/yiliu"],
        "Guandu",
    );
    assert!(!d.exists(), "a refused init created the data directory");
    let d = community(tmp.path());
    fails(
        &d,
        &[
            "init",
            "--role",
            "community",
            "--place",
            "guandu/yiliu/xinyazhou",
        ],
        "already holds",
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.join("identity.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn uninitialised_data_dir_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("never");
    fails(&d, &["report", "list"], "yizhan init");
    fails(&d, &["status"], "yizhan init");
    assert!(!d.exists());
}

#[test]
fn damaged_stores_are_refused_without_panic_or_write() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    ok(
        &d,
        &[
            "report",
            "submit",
            "--category",
            "other",
            "--lat",
            "1",
            "--lon",
            "1",
        ],
    );
    let path = d.join("store.redb");
    let good = std::fs::read(&path).unwrap();

    // Garbage of the same size.
    let garbage: Vec<u8> = (0..good.len()).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let before = store_digest(&d);
    fails(&d, &["report", "list"], "store.redb");
    fails(
        &d,
        &[
            "report",
            "submit",
            "--category",
            "other",
            "--lat",
            "1",
            "--lon",
            "1",
        ],
        "store.redb",
    );
    assert_eq!(store_digest(&d), before);

    // Truncated to half.
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let before = store_digest(&d);
    fails(&d, &["report", "list"], "store.redb");
    fails(
        &d,
        &[
            "report",
            "submit",
            "--category",
            "other",
            "--lat",
            "1",
            "--lon",
            "1",
        ],
        "store.redb",
    );
    assert_eq!(store_digest(&d), before);

    // Empty.
    std::fs::write(&path, b"").unwrap();
    fails(&d, &["status"], "store.redb");
}

#[test]
fn store_from_a_newer_yizhan_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    {
        // What a newer yizhan would do to the file: raise the schema version in `meta`.
        let db = redb::Database::open(d.join("store.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
            let mut t = tx.open_table(meta).unwrap();
            t.insert(
                "schema_version",
                &(node::store::SCHEMA_VERSION + 1).to_le_bytes()[..],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let before = store_digest(&d);
    let newer = format!("schema version {}", node::store::SCHEMA_VERSION + 1);
    let line = fails(&d, &["report", "list"], &newer);
    assert!(line.contains("upgrade yizhan"), "{line}");
    fails(
        &d,
        &[
            "report",
            "submit",
            "--category",
            "other",
            "--lat",
            "1",
            "--lon",
            "1",
        ],
        &newer,
    );
    assert_eq!(store_digest(&d), before);
}
