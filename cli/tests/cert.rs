//! Service certificates end to end: a community of a real federation (made
//! with `chain`) issues a certificate of a member's verified reports,
//! signed-off task and patrol; `yizhan certificate verify`, run with no data
//! directory at all, accepts it (as JSON and as the compact QR text), and
//! refuses, naming why, one altered byte, a wrong root, a malformed file, a
//! certificate from an issuer revoked before it signed, and one claiming a
//! member of another community.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use node::Identity;
use node::certificate::Certificate;
use serde_json::Value;

const COMMUNITY: &str = "guandu/yiliu/xinyazhou";

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not text"))
        .to_owned()
}

/// Runs `yizhan` as a platform would on its own machine: no --data-dir, no
/// YIZHAN_DATA_DIR, and a home directory of its own, which must stay empty.
fn verify_bare(home: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_yizhan"))
        .args(args)
        .env_remove("YIZHAN_DATA_DIR")
        .env_remove("XDG_DATA_HOME")
        .env_remove("RUST_LOG")
        .env("HOME", home)
        .current_dir(home)
        .output()
        .expect("run yizhan");
    let left: Vec<_> = std::fs::read_dir(home).unwrap().collect();
    assert!(
        left.is_empty(),
        "verify wrote into {}: {left:?}",
        home.display()
    );
    out
}

/// A verification that must fail: one line on stderr naming `needle`.
fn refused(home: &Path, args: &[&str], needle: &str) -> String {
    let out = verify_bare(home, args);
    let err = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err}");
    assert!(err.contains(needle), "{err:?} should name {needle:?}");
    err
}

fn verified(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json", "certificate", "verify"];
    all.extend_from_slice(args);
    let out = verify_bare(home, &all);
    assert!(
        out.status.success(),
        "{all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn active_member(d: &Path, display: &str, phone: &str) -> String {
    let m = json(
        d,
        &[
            "roster",
            "add",
            "--display-name",
            display,
            "--name",
            "王小明",
            "--phone",
            phone,
        ],
    );
    let id = s(&m["id"]);
    ok(d, &["roster", "approve", &id]);
    id
}

/// A report by `reporter`, verified and credited.
fn verified_report(d: &Path, photo: &Path, reporter: &str) {
    let id = submit_photo_report_by(d, photo, &["--reporter", reporter]);
    ok(d, &["report", "verify", &id]);
    ok(d, &["points", "award", "--rule", "report", "--report", &id]);
}

/// A member with two verified reports, an unverified one, a signed-off task
/// and a patrol, and another member with a patrol of their own.
fn service(c: &Path) -> String {
    let a = active_member(c, "小王", "138-0000-0001");
    let b = active_member(c, "小李", "138-0000-0002");
    let photo = c.with_extension("jpg");
    std::fs::write(&photo, b"\xff\xd8 a manhole cover").unwrap();
    verified_report(c, &photo, &a);
    verified_report(c, &photo, &a);
    // Submitted, never verified: not counted.
    submit_photo_report_by(c, &photo, &["--reporter", &a]);
    let task = s(&json(
        c,
        &[
            "task",
            "post",
            "--title",
            "deliver medicine",
            "--points",
            "12",
        ],
    )["id"]);
    ok(c, &["task", "claim", &task, "--member", &a]);
    ok(c, &["task", "complete", &task, "--member", &a]);
    ok(c, &["task", "sign-off", &task]);
    ok(c, &["points", "award", "--rule", "patrol", "--member", &a]);
    ok(c, &["points", "award", "--rule", "patrol", "--member", &b]);
    a
}

#[test]
fn a_certificate_verifies_offline_and_every_forgery_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s_dir, d) = chain(tmp.path());
    let home = tmp.path().join("platform");
    std::fs::create_dir(&home).unwrap();
    let root = peer_id(&d);
    let a = service(&c);

    let file = tmp.path().join("cert.json");
    let png = tmp.path().join("cert.png");
    let issued = json(
        &c,
        &[
            "points",
            "certificate",
            &a,
            "--out",
            file.to_str().unwrap(),
            "--qr",
            png.to_str().unwrap(),
        ],
    );
    let body = &issued["certificate"]["body"];
    assert_eq!(body["community"], COMMUNITY);
    assert_eq!(body["member"]["id"], a.as_str());
    assert_eq!(body["member"]["display_name"], "小王");
    let svc = &body["service"];
    assert_eq!(svc["verified_reports"], 2, "{svc}");
    assert_eq!(svc["signed_off_tasks"], 1, "{svc}");
    assert_eq!(svc["patrols"], 1, "{svc}");
    assert_eq!(svc["points_earned"], 5 + 5 + 12 + 3, "{svc}");
    // The PNG is a QR code of the compact form, as a phone camera reads it.
    let compact = s(&issued["compact"]);
    assert!(compact.starts_with("yzc1."), "{compact}");
    let img = image::open(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        img.width() as usize,
        img.height() as usize,
        |x, y| img.get_pixel(x as u32, y as u32).0[0],
    );
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the PNG");
    let (_, scanned) = grids[0].decode().unwrap();
    assert_eq!(scanned, compact);

    // Valid with no data directory, from the JSON and from the QR text.
    let f = file.to_str().unwrap();
    let v = verified(&home, &[f, "--root", &root]);
    assert_eq!(v["valid"], true);
    assert_eq!(v["certificate"]["service"], *svc);
    assert_eq!(v["certificate"]["member"]["id"], a.as_str());
    let qr_text = tmp.path().join("cert.txt");
    std::fs::write(&qr_text, &compact).unwrap();
    let from_qr = verified(&home, &[qr_text.to_str().unwrap(), "--root", &root]);
    assert_eq!(from_qr["certificate"], v["certificate"]);
    let table = verify_bare(&home, &["certificate", "verify", f, "--root", &root]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("valid service certificate") && table.contains("小王"),
        "{table}"
    );

    // A period with no service counts nothing.
    let empty = json(
        &c,
        &[
            "points",
            "certificate",
            &a,
            "--from",
            "2020-01-01",
            "--to",
            "2020-12-31",
            "--out",
            tmp.path().join("2020.json").to_str().unwrap(),
        ],
    );
    assert_eq!(empty["certificate"]["body"]["service"]["points_earned"], 0);

    // One altered byte: a count in the body, or a letter of a link's signature.
    let text = std::fs::read_to_string(&file).unwrap();
    let altered = tmp.path().join("altered.json");
    std::fs::write(
        &altered,
        text.replacen("\"verified_reports\": 2", "\"verified_reports\": 3", 1),
    )
    .unwrap();
    let altered_s = altered.to_str().unwrap();
    refused(
        &home,
        &["certificate", "verify", altered_s, "--root", &root],
        "bad signature",
    );
    let cert: Certificate = serde_json::from_str(&text).unwrap();
    let link_sig = serde_json::to_value(&cert.credential.links[0].signature).unwrap();
    let link_sig = s(&link_sig);
    let first = if link_sig.starts_with('A') { 'B' } else { 'A' };
    let forged_link = text.replacen(&link_sig, &format!("{first}{}", &link_sig[1..]), 1);
    std::fs::write(&altered, forged_link).unwrap();
    refused(
        &home,
        &["certificate", "verify", altered_s, "--root", &root],
        "bad admission chain",
    );
    // A wrong root, a malformed file, a malformed root.
    refused(
        &home,
        &["certificate", "verify", f, "--root", &peer_id(&s_dir)],
        "wrong root",
    );
    std::fs::write(&altered, &text[..text.len() / 2]).unwrap();
    refused(
        &home,
        &["certificate", "verify", altered_s, "--root", &root],
        "malformed certificate",
    );
    refused(
        &home,
        &["certificate", "verify", f, "--root", "not-a-peer"],
        "malformed certificate",
    );

    // Another community's member: the community node signs (with its real
    // key and chain) a certificate naming a community it was not admitted
    // for. The signature holds; the chain does not back the claim.
    let key = Identity::load(&c.join("identity.key")).unwrap();
    let mut claim = cert.body.clone();
    claim.community = crdt_model::PlaceId::parse("guandu/yiliu/huaxi").unwrap();
    let other = claim
        .sign(key.keypair(), &cert.credential.credential())
        .unwrap();
    let other_file = tmp.path().join("other.json");
    std::fs::write(&other_file, other.to_json().unwrap()).unwrap();
    refused(
        &home,
        &[
            "certificate",
            "verify",
            other_file.to_str().unwrap(),
            "--root",
            &root,
        ],
        "does not admit the issuer for guandu/yiliu/huaxi",
    );

    // Revocation: the street revokes the community once the first
    // certificate's second has passed. That certificate stays valid against
    // the charter; one the community (not yet told) issues afterwards does not.
    let issued_at = body["issued_at"].as_i64().unwrap();
    wait_for("the clock to pass the issue second", 5, || {
        chrono::Utc::now().timestamp() > issued_at
    });
    ok(
        &s_dir,
        &["revoke", &peer_id(&c), "--reason", "lost its key"],
    );
    let charter = tmp.path().join("charter.automerge");
    ok(
        &s_dir,
        &[
            "doc",
            "export",
            "guandu/charter",
            "--out",
            charter.to_str().unwrap(),
        ],
    );
    let ch = charter.to_str().unwrap();
    let before = verified(&home, &[f, "--root", &root, "--charter", ch]);
    assert_eq!(before["certificate"]["charter_checked"], true);
    let late = tmp.path().join("late.json");
    ok(
        &c,
        &["points", "certificate", &a, "--out", late.to_str().unwrap()],
    );
    let late_s = late.to_str().unwrap();
    verified(&home, &[late_s, "--root", &root]);
    let line = refused(
        &home,
        &[
            "certificate",
            "verify",
            late_s,
            "--root",
            &root,
            "--charter",
            ch,
        ],
        "revoked issuer",
    );
    assert!(line.contains("lost its key"), "{line}");
    refused(
        &home,
        &[
            "certificate",
            "verify",
            late_s,
            "--root",
            &root,
            "--charter",
            f,
        ],
        "charter file",
    );
}

#[test]
fn only_a_community_node_with_its_member_issues() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s_dir, _d) = chain(tmp.path());
    let out = tmp.path().join("x.json");
    let o = out.to_str().unwrap();
    fails(
        &s_dir,
        &["points", "certificate", "m-00000001", "--out", o],
        "community",
    );
    fails(
        &c,
        &["points", "certificate", "m-00000001", "--out", o],
        "m-00000001",
    );
    let lone = tmp.path().join("lone");
    init(&lone, "community", "guandu/yiliu/lone");
    let m = active_member(&lone, "小赵", "138-0000-0009");
    fails(
        &lone,
        &["points", "certificate", &m, "--out", o],
        "has not joined a federation",
    );
    assert!(!out.exists(), "nothing is written when issuing fails");
}

#[test]
fn a_running_community_node_issues_through_its_admin_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _s, d) = chain(tmp.path());
    let home = tmp.path().join("platform");
    std::fs::create_dir(&home).unwrap();
    let node = NodeProc::start(&c, &[]);
    let m = active_member(&c, "小赵", "138-0000-0003");
    ok(&c, &["points", "award", "--rule", "patrol", "--member", &m]);
    let out = tmp.path().join("cert.json");
    let text = ok(
        &c,
        &["points", "certificate", &m, "--out", out.to_str().unwrap()],
    );
    // The table, then the terminal QR code in block characters.
    assert!(text.contains("小赵") && text.contains('▀'), "{text}");
    let v = verified(&home, &[out.to_str().unwrap(), "--root", &peer_id(&d)]);
    assert_eq!(v["certificate"]["service"]["patrols"], 1);
    node.stop();
}
