//! A stock libp2p peer that was never admitted connects to a street, opens
//! sync and blob streams and sends large frames. The street offers it neither
//! protocol (its streams fail negotiation), so it gets nothing, is
//! disconnected, is never listed or recorded, and the street's resident
//! memory stays bounded. A quiet stranger that sends nothing is closed by
//! the node after the grace period.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt as _;
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use node::net::codec::Frame;
use node::net::{BehaviourEvent, SYNC_MESSAGE_BYTES_MAX, build_swarm};

/// Resident memory the street may reach under this test. Measured on the
/// 2-core machine: about 35 MiB at rest and 60 MiB at the peak while the
/// stranger sends 8 MiB frames (160 MiB before frames carried their length,
/// when the transport buffered each whole before the node could refuse it).
/// Frames up to the cap are still read from a peer without a credential; a
/// per-peer frame cap for such peers is the next step (issue 12).
const STREET_RSS_KIB_MAX: u64 = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_disconnected_unrecorded_and_costs_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let (_c, s, _d) = chain(tmp.path());
    let street = NodeProc::start(&s, &[]);
    let at_rest = street.rss_kib();

    let key = Keypair::generate_ed25519();
    let stranger_id = key.public().to_peer_id();
    let mut swarm = build_swarm(key, false).unwrap();
    swarm
        .dial(street.addr().parse::<Multiaddr>().unwrap())
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let mut victim: Option<PeerId> = None;
    let mut closed = false;
    let mut answers = 0usize;
    let mut denied = 0usize;
    let mut peak = at_rest;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    while !closed {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stranger was never disconnected:\n{}",
            street.logged()
        );
        tokio::select! {
            _ = tick.tick() => {
                peak = peak.max(street.rss_kib());
                if let Some(p) = victim {
                    // Large frames on the sync protocol, garbage on the blob one.
                    for _ in 0..2 {
                        swarm
                            .behaviour_mut()
                            .sync
                            .send_request(&p, Frame::Bytes(vec![7u8; SYNC_MESSAGE_BYTES_MAX]));
                    }
                    swarm.behaviour_mut().blob.send_request(&p, Frame::Bytes(vec![1u8; 44]));
                }
            }
            ev = swarm.select_next_some() => match ev {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => victim = Some(peer_id),
                SwarmEvent::ConnectionClosed { num_established: 0, .. } => closed = true,
                SwarmEvent::Behaviour(BehaviourEvent::Blob(
                    libp2p::request_response::Event::Message { .. },
                )) => answers += 1,
                // The street's gate offers a stranger neither protocol: the
                // streams fail negotiation before a byte of a frame is read.
                SwarmEvent::Behaviour(
                    BehaviourEvent::Sync(libp2p::request_response::Event::OutboundFailure {
                        error: libp2p::request_response::OutboundFailure::UnsupportedProtocols,
                        ..
                    })
                    | BehaviourEvent::Blob(libp2p::request_response::Event::OutboundFailure {
                        error: libp2p::request_response::OutboundFailure::UnsupportedProtocols,
                        ..
                    }),
                ) => denied += 1,
                _ => {}
            },
        }
    }
    let log = street.logged();
    let peers = json(&s, &["peers"]);
    assert!(
        !peers.to_string().contains(&stranger_id.to_string()),
        "the stranger is listed: {peers}"
    );
    eprintln!(
        "street RSS: {at_rest} KiB at rest, {peak} KiB at most; {answers} blob answers, {denied} streams denied"
    );
    assert_eq!(answers, 0, "a stranger's blob request was answered");
    assert!(denied > 0, "no stream of the stranger was denied");
    assert!(
        peak < STREET_RSS_KIB_MAX,
        "the street grew to {peak} KiB under a stranger"
    );
    assert!(!log.contains("panicked"), "{log}");

    // A quiet stranger, which sends nothing at all, is closed after the
    // grace period by the node itself.
    let mut quiet = build_swarm(Keypair::generate_ed25519(), false).unwrap();
    quiet
        .dial(street.addr().parse::<Multiaddr>().unwrap())
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut connected_at = None;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the quiet stranger was never disconnected"
        );
        match tokio::time::timeout(Duration::from_secs(1), quiet.select_next_some()).await {
            Ok(SwarmEvent::ConnectionEstablished { .. }) => {
                connected_at = Some(tokio::time::Instant::now())
            }
            Ok(SwarmEvent::ConnectionClosed {
                num_established: 0, ..
            }) => break,
            _ => {}
        }
    }
    let held = connected_at.unwrap().elapsed();
    assert!(held >= Duration::from_secs(9), "closed after only {held:?}");
    assert!(
        street
            .logged()
            .contains("closed the connection of a peer that presented no valid credential"),
        "{}",
        street.logged()
    );
    street.stop();
    // Nothing of the stranger was recorded in the store either.
    let listed = json(&s, &["peers"]);
    assert!(!listed.to_string().contains(&stranger_id.to_string()));
}
