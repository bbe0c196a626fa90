//! An admitted peer that floods its street with garbage strikes out: it is
//! disconnected and kept out for a while, its refusals stop filling the log,
//! and an honest community's report still reaches the street within
//! seconds while the flood runs.

mod common;

use std::time::{Duration, Instant};

use common::hostile::Hostile;
use common::*;
use libp2p::identity::Keypair;
use node::engine::MemDocs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_member_is_disconnected_and_kept_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, _d) = chain(tmp.path());
    let key = Keypair::generate_ed25519();
    let evil_id = key.public().to_peer_id().to_string();
    let token = admit_token(&s, &evil_id, "community", "guandu/yiliu/evil", false);
    let community = NodeProc::start(&c, &[]);
    let street = NodeProc::start(&s, &[community.addr()]);
    let mut h = Hostile::new(key, &token, MemDocs::new());
    h.connect(&street.addr()).await;
    let admitted = format!("peer admitted peer={evil_id}");
    assert!(h.pump(20, |_| street.logged().contains(&admitted)).await);

    // The flood: garbage as fast as the swarm takes it, while the community
    // reports.
    let started = Instant::now();
    let report = submit_report(&c, "during the flood");
    let mut arrived = None;
    let mut sent = 0usize;
    let banned = "disconnecting a peer after too many strikes";
    let deadline = Instant::now() + Duration::from_secs(30);
    while !street.logged().contains(banned) {
        assert!(
            Instant::now() < deadline,
            "the flooder was never disconnected:\n{}",
            street.logged()
        );
        if h.victim.is_some() {
            for i in 0..20u32 {
                h.send_raw(i.to_be_bytes().repeat(50));
                sent += 1;
            }
        }
        // Drive the swarm a moment so the messages go out.
        let until = Instant::now() + Duration::from_millis(200);
        h.pump(1, |_| Instant::now() >= until).await;
        if arrived.is_none() && yizhan(&s, &["report", "show", &report]).status.success() {
            arrived = Some(started.elapsed());
        }
    }
    wait_for("the community's report at the street", 30, || {
        yizhan(&s, &["report", "show", &report]).status.success()
    });
    let arrived = arrived.unwrap_or_else(|| started.elapsed());
    eprintln!(
        "the honest report reached the street {:.2} s after it was made",
        arrived.as_secs_f64()
    );
    assert!(arrived < Duration::from_secs(5), "took {arrived:?}");

    // Kept out: a new connection is closed before the peer is admitted again.
    h.victim = None;
    let _ = h
        .swarm
        .dial(street.addr().parse::<libp2p::Multiaddr>().unwrap());
    h.pump(3, |_| false).await;
    let log = street.logged();
    assert_eq!(
        log.matches(&admitted).count(),
        1,
        "the flooder was let back in:\n{log}"
    );
    // Its refusals stopped being logged well before the ban: about the
    // first 20 strikes' worth, plus what decayed meanwhile.
    let refusals = log
        .lines()
        .filter(|l| l.contains("refused input from peer") && l.contains(&evil_id))
        .count();
    eprintln!("{sent} garbage messages sent, {refusals} refusal lines logged");
    assert!(
        refusals < 40 && refusals < sent,
        "{refusals} refusal lines for {sent} messages"
    );
    assert!(!log.contains("panicked"), "{log}");
    street.stop();
    community.stop();
}
