//! Nodes find each other again after restarts, on whatever port they listen
//! on now, without `--peer` flags: each keeps its admitted peers' listen
//! addresses (from identify and its own dials) and redials them with
//! backoff. A street killed and restarted on a new port, then on the same
//! port, reconnects to both its communities and the district; a community
//! restarted on a new port dials its street again.

mod common;

use std::path::Path;
use std::time::Instant;

use common::*;

fn connected(dir: &Path, peer: &str) -> bool {
    json(dir, &["peers"])
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["peer_id"] == peer && p["connected"] == true)
}

fn has(dir: &Path, id: &str) -> bool {
    yizhan(dir, &["report", "show", id]).status.success()
}

/// Waits until the street is connected to every one of `peers` again, and
/// returns how long that took.
fn reconnected(street: &Path, peers: &[&str], what: &str) -> f64 {
    let start = Instant::now();
    wait_for(what, 30, || peers.iter().all(|p| connected(street, p)));
    start.elapsed().as_secs_f64()
}

#[test]
fn nodes_reconnect_after_restarts_on_new_and_same_ports() {
    let tmp = tempfile::tempdir().unwrap();
    let (c1, s, d) = chain(tmp.path());
    let c2 = tmp.path().join("c2");
    init(&c2, "community", "guandu/yiliu/guanshuo");
    admit(&s, &c2, "community", "guandu/yiliu/guanshuo", false);
    let (c1_id, c2_id, d_id, s_id) = (peer_id(&c1), peer_id(&c2), peer_id(&d), peer_id(&s));

    let district = NodeProc::start(&d, &[]);
    let community1 = NodeProc::start(&c1, &[]);
    let community2 = NodeProc::start(&c2, &[]);
    // Only the first start names its peers.
    let street = NodeProc::start(&s, &[community1.addr(), community2.addr(), district.addr()]);
    let first = submit_report(&c1, "before the restarts");
    wait_for("the first report at the district", 60, || has(&d, &first));
    let all = [c1_id.as_str(), c2_id.as_str(), d_id.as_str()];
    reconnected(&s, &all, "the street connected to everyone");
    let old_port = street.port();

    // Killed, then back on a new port with no --peer: it dials what it recorded.
    street.kill();
    let street = NodeProc::start(&s, &[]);
    assert_ne!(street.port(), old_port);
    let took = reconnected(&s, &all, "the street back on a new port");
    eprintln!("reconnected on a new port in {took:.1} s");
    let second = submit_report(&c2, "after the street moved");
    wait_for("the report after the move at the district", 30, || {
        has(&d, &second)
    });

    // Killed again, back on the same port.
    let port = street.port();
    street.kill();
    let street = NodeProc::start_on(&s, &format!("/ip4/127.0.0.1/tcp/{port}"), &[]);
    let took = reconnected(&s, &all, "the street back on the same port");
    eprintln!("reconnected on the same port in {took:.1} s");

    // A community restarted on a new port dials its street again.
    community1.stop();
    let community1 = NodeProc::start(&c1, &[]);
    wait_for("the community to reach its street again", 30, || {
        connected(&c1, &s_id)
    });
    let third = submit_report(&c1, "after the community moved");
    wait_for(
        "the report from the moved community at the district",
        30,
        || has(&d, &third),
    );
    // Strangers are never recorded: only admitted peers are listed.
    let listed = json(&s, &["peers"]);
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    for node in [&street, &community1, &community2, &district] {
        assert!(!node.logged().contains("panicked"), "{}", node.logged());
    }
    street.stop();
    community1.stop();
    community2.stop();
    district.stop();
}
