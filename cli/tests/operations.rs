//! Operators' housekeeping through the `yizhan` binary: refused writes that leave the store file alone.

mod common;

use std::path::{Path, PathBuf};

use common::{chain, fails, ok, submit_report};

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
