//! Revocation and expiry are not retroactive, over real processes: a
//! community's reports reach its street while the district is down; the
//! community is then revoked (or its admission lapses); when the district
//! comes back it receives every report the community made before the
//! cut-off and none made after. Also: `reinstate` end to end, the scope
//! rules `revoke` enforces up front, and a node whose configuration no
//! longer matches its admission.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::*;
use crdt_model::PlaceId;
use node::Identity;
use node::config::Role;
use node::trust::{Admission, Credential, NodeKey};

const COMMUNITY: &str = "guandu/yiliu/xinyazhou";

fn ids(dir: &Path) -> BTreeSet<String> {
    json(dir, &["report", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn holds_all(dir: &Path, wanted: &[String]) -> bool {
    let held = ids(dir);
    wanted.iter().all(|id| held.contains(id))
}

/// Asserts that `happened` stays false for `secs` seconds (polled): the
/// only way to show that something never arrives.
fn assert_never(what: &str, secs: u64, mut happened: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        assert!(!happened(), "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The part every cut-off test shares: the district goes down, the
/// community reports to its street, then `cut` cuts the community off
/// while the district is still down, the district comes back, and once the
/// street has cut the community off the community reports again. Returns
/// the reports made before and after.
fn district_down_then_cut(
    c: &Path,
    s: &Path,
    d: &Path,
    cut: impl FnOnce(&NodeProc),
) -> (Vec<String>, String) {
    let district = NodeProc::start(d, &[]);
    let community = NodeProc::start(c, &[]);
    let street = NodeProc::start(s, &[community.addr(), district.addr()]);
    let mut before = vec![submit_report(c, "before the outage")];
    wait_for("the first report at the district", 60, || {
        holds_all(d, &before)
    });
    district.stop();
    for i in 0..3 {
        before.push(submit_report(c, &format!("while the district is down {i}")));
    }
    wait_for("the reports at the street", 60, || holds_all(s, &before));
    cut(&street);
    let district = NodeProc::start(d, &[street.addr()]);
    wait_for("the street to cut the community off", 60, || {
        street.logged().contains("peer lost access")
    });
    let after = submit_report(c, "after the cut-off");
    let start = Instant::now();
    while !holds_all(d, &before) {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the district lacks reports from before the cut-off\n--- district:\n{}\n--- street:\n{}",
            district.logged(),
            street.logged()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_never("a report from after the cut-off arrived", 5, || {
        ids(d).contains(&after) || ids(s).contains(&after)
    });
    let expected: BTreeSet<String> = before.iter().cloned().collect();
    assert_eq!(
        ids(d),
        expected,
        "the district holds exactly the reports from before"
    );
    assert_eq!(
        ids(s),
        expected,
        "the street holds exactly the reports from before"
    );
    assert!(
        street
            .logged()
            .contains("recorded where a cut-off node's valid work ends"),
        "the street did not witness the cut-off:\n{}",
        street.logged()
    );
    for node in [&district, &street, &community] {
        assert!(!node.logged().contains("panicked"), "{}", node.logged());
    }
    district.stop();
    street.stop();
    community.stop();
    (before, after)
}

#[test]
fn a_revocation_keeps_what_the_community_did_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d) = chain(tmp.path());
    let c_id = peer_id(&c);
    // The district revokes while it is down and knows none of the reports
    // the street holds; the street witnesses them.
    district_down_then_cut(&c, &s, &d, |_| {
        ok(&d, &["revoke", &c_id, "--reason", "lost its key"]);
    });
}

#[test]
fn an_expired_admission_keeps_what_the_community_did_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d, _, lapses) = lapsing_community(tmp.path(), 20);
    district_down_then_cut(&c, &s, &d, |_| {
        wait_for("the admission to lapse", 60, || {
            Utc::now().timestamp() > lapses
        });
    });
}

/// Community, street and district under `root`, the street admitted by the
/// district and the community by the street for `secs` seconds only.
/// Returns their directories, the street's token and when the community's
/// admission lapses (unix seconds).
fn lapsing_community(root: &Path, secs: i64) -> (PathBuf, PathBuf, PathBuf, String, i64) {
    let (c, s, d) = (root.join("c"), root.join("s"), root.join("d"));
    init(&c, "community", COMMUNITY);
    init(&s, "street", "guandu/yiliu");
    init(&d, "district", "guandu");
    let street_token = admit_token(&d, &peer_id(&s), "street", "guandu/yiliu", true);
    ok(&s, &["join", &street_token]);
    let lapses = Utc::now().timestamp() + secs;
    ok(&c, &["join", &admit_until(&s, &street_token, &c, lapses)]);
    (c, s, d, street_token, lapses)
}

/// The street admits the community until `lapses` (unix seconds): built
/// with the library, as `yizhan admit` counts in days. Returns the token.
fn admit_until(street: &Path, street_token: &str, community: &Path, lapses: i64) -> String {
    let street_key = Identity::load(&street.join("identity.key")).unwrap();
    let street_cred = Credential::from_token(street_token).unwrap();
    street_cred
        .admit(
            street_key.keypair(),
            Admission {
                node: NodeKey::of_peer(&peer_id(community).parse().unwrap()).unwrap(),
                role: Role::Community,
                place: PlaceId::parse(COMMUNITY).unwrap(),
                may_admit: false,
                issued: Utc::now().timestamp(),
                expires: Some(lapses),
                issuer: NodeKey::of_keypair(street_key.keypair()).unwrap(),
            },
        )
        .unwrap()
        .to_token()
        .unwrap()
}

#[test]
fn a_renewed_admission_replaces_the_old_one_while_connected() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d, street_token, lapses) = lapsing_community(tmp.path(), 15);
    let district = NodeProc::start(&d, &[]);
    let community = NodeProc::start(&c, &[]);
    let street = NodeProc::start(&s, &[community.addr(), district.addr()]);
    let first = submit_report(&c, "before the renewal");
    wait_for("the report at the street", 60, || {
        holds_all(&s, std::slice::from_ref(&first))
    });
    // Renewed for a day while running: the street takes the new credential.
    let renewed = admit_until(&s, &street_token, &c, Utc::now().timestamp() + 86_400);
    ok(&c, &["join", &renewed]);
    wait_for("the street to take the renewed credential", 30, || {
        street.logged().contains("peer renewed its credential")
    });
    wait_for("the first admission to lapse", 60, || {
        Utc::now().timestamp() > lapses + 1
    });
    let later = submit_report(&c, "after the first admission lapsed");
    wait_for(
        "the later report at the street and the district",
        60,
        || {
            holds_all(&s, std::slice::from_ref(&later))
                && holds_all(&d, &[first.clone(), later.clone()])
        },
    );
    assert!(
        !street.logged().contains("peer lost access"),
        "{}",
        street.logged()
    );
    community.stop();
    street.stop();
    district.stop();
}

#[test]
fn reinstate_lets_a_revoked_node_back_with_its_token() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d) = chain(tmp.path());
    let c_id = peer_id(&c);
    let district = NodeProc::start(&d, &[]);
    let community = NodeProc::start(&c, &[]);
    let street = NodeProc::start(&s, &[community.addr(), district.addr()]);
    let first = submit_report(&c, "before");
    wait_for("the report at the street", 60, || {
        holds_all(&s, std::slice::from_ref(&first))
    });

    ok(&s, &["revoke", &c_id, "--reason", "by mistake"]);
    wait_for("the street to drop the community", 60, || {
        street.logged().contains("peer lost access")
    });
    let while_revoked = submit_report(&c, "while revoked");
    // Only the root or the revoker may undo it; the community cannot.
    fails(
        &c,
        &["reinstate", &c_id],
        "only the district and nodes that may admit",
    );
    let out = ok(&s, &["reinstate", &c_id]);
    assert!(out.contains("reinstated"), "{out}");
    // The street redials the community, which shows the token it always had.
    let later = submit_report(&c, "after the reinstatement");
    wait_for("the community's work at the street again", 60, || {
        holds_all(&s, &[while_revoked.clone(), later.clone()])
    });
    wait_for("and at the district", 60, || {
        holds_all(&d, &[first.clone(), while_revoked.clone(), later.clone()])
    });
    assert!(json(&c, &["status"])["membership"].is_object());
    fails(&s, &["reinstate", &c_id], "is not revoked");
    community.stop();
    street.stop();
    district.stop();
}

#[test]
fn revoke_refuses_what_is_out_of_scope_naming_the_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d) = chain(tmp.path());
    let other = tmp.path().join("other");
    init(&other, "street", "guandu/dongguan");
    admit(&d, &other, "street", "guandu/dongguan", true);
    let before = json(&s, &["doc", "list"]);
    fails(
        &s,
        &["revoke", &peer_id(&d)],
        "the federation's root can never be revoked",
    );
    // The street knows no chain of the other street: only the root may
    // revoke without one (the malicious-member test shows a chain it knows
    // but is not on).
    fails(
        &s,
        &["revoke", &peer_id(&other)],
        "only the root may revoke a node without one",
    );
    fails(&s, &["revoke", &peer_id(&s)], "a node cannot revoke itself");
    fails(
        &c,
        &["revoke", &peer_id(&s)],
        "only the district and nodes that may admit",
    );
    assert_eq!(
        json(&s, &["doc", "list"]),
        before,
        "a refused revocation wrote a document"
    );
    // In scope: the street revokes its own community, the district anyone.
    ok(&s, &["revoke", &peer_id(&c)]);
    fails(&s, &["revoke", &peer_id(&c)], "already revoked");
    ok(&d, &["revoke", &peer_id(&other)]);
}

#[test]
fn a_node_whose_config_disagrees_with_its_admission_refuses_to_start_and_write() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _s, _d) = chain(tmp.path());
    let config = c.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace(COMMUNITY, "guandu/yiliu/dongguan")).unwrap();
    let err = fails(
        &c,
        &[
            "report",
            "submit",
            "--category",
            "traffic",
            "--lat",
            "24.9",
            "--lon",
            "102.7",
        ],
        "admitted as a community at guandu/yiliu/xinyazhou",
    );
    assert!(err.contains("place"), "{err}");
    fails(
        &c,
        &[
            "node",
            "start",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
        ],
        "set its place back to community at guandu/yiliu/xinyazhou",
    );
}
