//! `yizhan rebuild` through real processes (issue 13 item 3): a community
//! whose store is deleted, or damaged past reading, is rebuilt under the
//! same identity and admission, refilled by its street with every document
//! and photo the street holds for it, and syncs on as before; the old file
//! is kept, moved aside.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::Value;

/// Document id → heads, for every document `dir` holds that sync carries
/// (roster-private never leaves its node, so no peer holds it).
fn documents(dir: &Path) -> BTreeMap<String, Value> {
    json(dir, &["doc", "list"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["id"].as_str().unwrap().ends_with("/roster-private"))
        .map(|d| (d["id"].as_str().unwrap().to_owned(), d["heads"].clone()))
        .collect()
}

/// True when `dir` holds every document of `wanted` at the same heads.
fn holds_documents(dir: &Path, wanted: &BTreeMap<String, Value>) -> bool {
    let held = documents(dir);
    wanted.iter().all(|(id, heads)| held.get(id) == Some(heads))
}

/// The photo of every report at `dir`, by hash, as `blob get` returns it.
fn photos(dir: &Path, tmp: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for r in json(dir, &["report", "list"]).as_array().unwrap() {
        for a in r["attachments"].as_array().unwrap() {
            let hash = a["hash"].as_str().unwrap().to_owned();
            let file = tmp.join("fetched");
            ok(
                dir,
                &["blob", "get", &hash, "--out", file.to_str().unwrap()],
            );
            out.insert(hash, std::fs::read(&file).unwrap());
        }
    }
    out
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// How the community's store is lost.
#[derive(Clone, Copy)]
enum Loss {
    Deleted,
    Garbage,
}

fn community_rebuilt_after(loss: Loss) {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d) = chain(tmp.path());
    let district = NodeProc::start(&d, &[]);
    let street = NodeProc::start(&s, &[district.addr()]);
    let community = NodeProc::start(&c, &[street.addr()]);
    let before = community.status();

    submit_report(&c, "before the loss");
    for n in 0..2u8 {
        let photo = tmp.path().join(format!("photo{n}.jpg"));
        let mut bytes = vec![0xff, 0xd8, 0xff, 0xe0];
        bytes.extend(std::iter::repeat_n(n, 40_000));
        std::fs::write(&photo, &bytes).unwrap();
        submit_photo_report(&c, &photo);
    }
    let mut texts = vec!["before the loss".to_owned(), "井盖翘起".to_owned()];
    let held_before = documents(&c);
    let photos_before = photos(&c, tmp.path());
    assert_eq!(photos_before.len(), 2);
    wait_for("every community document at the street", 60, || {
        holds_documents(&s, &held_before)
    });
    wait_for("both photos at the street", 60, || {
        json(&s, &["status"])["blobs"].as_u64() >= Some(2)
    });

    // Refused while the node runs, and nothing changes.
    let listing = files_in(&c);
    fails(&c, &["rebuild", "--no-wait"], "is running");
    assert_eq!(files_in(&c), listing);

    community.stop();
    let store = c.join("store.redb");
    let damaged = match loss {
        Loss::Deleted => {
            std::fs::remove_file(&store).unwrap();
            None
        }
        Loss::Garbage => {
            // Cut short, and its header overwritten.
            let mut bytes = std::fs::read(&store).unwrap();
            bytes.truncate(bytes.len() / 3);
            bytes[..4096].fill(0x5a);
            std::fs::write(&store, &bytes).unwrap();
            Some(bytes)
        }
    };
    // Whatever the loss, the operator is told to rebuild.
    fails(&c, &["status"], "yizhan rebuild");

    let street_addr = street.addr();
    let rebuilt = json(
        &c,
        &[
            "rebuild",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--peer",
            &street_addr,
            "--wait-secs",
            "120",
        ],
    );
    assert_eq!(rebuilt["peer_id"], before["peer_id"]);
    assert_eq!(rebuilt["admission"], "admission_file");
    assert_eq!(rebuilt["rejoin_needed"], false);
    assert_eq!(rebuilt["refill"]["finished"], true, "{rebuilt}");
    assert_eq!(rebuilt["actor_epoch"].as_str().unwrap().len(), 16);
    match damaged {
        None => {
            assert_eq!(rebuilt["old_store"]["state"], "absent");
            assert!(rebuilt["moved_aside"].is_null());
        }
        Some(bytes) => {
            assert_eq!(rebuilt["old_store"]["state"], "unreadable");
            let aside = Path::new(rebuilt["moved_aside"].as_str().unwrap());
            assert!(
                aside
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("store.redb.damaged-")
            );
            assert_eq!(aside.parent().unwrap(), c.canonicalize().unwrap());
            assert_eq!(
                std::fs::read(aside).unwrap(),
                bytes,
                "the old file is kept as it was"
            );
        }
    }

    // Back, with the node stopped: every document and photo the street held.
    assert!(holds_documents(&c, &held_before));
    assert_eq!(photos(&c, tmp.path()), photos_before);
    assert!(holds_all(&c, &texts));

    // Restarted, it is the same member: same identity, role, place and
    // federation, and the street syncs with it.
    let community = NodeProc::start(&c, std::slice::from_ref(&street_addr));
    let after = community.status();
    assert_eq!(after["peer_id"], before["peer_id"]);
    assert_eq!(after["membership"], before["membership"]);
    assert!(!after["membership"].is_null());
    submit_report(&c, "after the rebuild");
    texts.push("after the rebuild".to_owned());
    wait_for("the new report at the street", 60, || holds_all(&s, &texts));
    for node in [&community, &street] {
        assert!(
            !node.logged().contains("sequence clash"),
            "{}",
            node.logged()
        );
    }
    drop(district);
}

#[test]
fn community_rebuilt_after_its_store_is_deleted_gets_everything_back() {
    community_rebuilt_after(Loss::Deleted);
}

#[test]
fn community_rebuilt_from_a_garbage_store_keeps_identity_and_admission() {
    community_rebuilt_after(Loss::Garbage);
}
