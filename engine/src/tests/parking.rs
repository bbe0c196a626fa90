//! Parking: sessions at rest leave memory and come back without costing a
//! message more.

use super::*;

/// Syncs two months of reports between a pair, lets them rest for `rest_ms`,
/// then writes at `a` and syncs again. Returns the pair's status at `a` after
/// the rest, and the messages sent after the new change.
fn rest_then_change(idle_ms: u64, rest_ms: u64) -> (PeerStatus, usize, Net) {
    let mut net = Net::pair();
    for n in &mut net.nodes {
        n.engine = Engine::new(
            EngineConfig {
                session_idle_ms: idle_ms,
                ..EngineConfig::default()
            },
            allow_all(),
            0,
        );
    }
    let (x, y) = (
        doc("guandu/yiliu/reports/2026-10"),
        doc("guandu/yiliu/reports/2026-11"),
    );
    write(&mut net.nodes[0].docs, &x, "a", 3);
    write(&mut net.nodes[1].docs, &y, "b", 2);
    net.connect(0, 1);
    net.run(rest_ms);
    let status = net.nodes[0].engine.peer_status(&PeerKey::new("b")).unwrap();
    let before = net.sent.len();
    write(&mut net.nodes[0].docs, &x, "late", 1);
    net.feed(0, Input::LocalChange { doc: x.clone() });
    // Less than the idle time: what the change touched is not parked again yet.
    let until = net.now + idle_ms / 3;
    net.run(until);
    assert_eq!(net.heads(0, &x), net.heads(1, &x));
    assert_eq!(net.heads(0, &y), net.heads(1, &y));
    (status, net.sent.len() - before, net)
}

#[test]
fn sessions_at_rest_park_and_a_later_change_costs_no_message_more() {
    let idle = 30_000;
    let (hot, hot_messages, _) = rest_then_change(idle, idle / 2);
    assert_eq!((hot.sessions, hot.parked), (2, 0), "parked too early");
    let (parked, parked_messages, mut net) = rest_then_change(idle, idle * 4);
    assert_eq!((parked.sessions, parked.parked), (0, 2), "{parked:?}");
    assert_eq!(
        parked_messages, hot_messages,
        "a parked session took more messages to pass a change on"
    );
    // The document that changed is in memory again; the other stays parked.
    let now = net.nodes[0].engine.peer_status(&PeerKey::new("b")).unwrap();
    assert_eq!((now.sessions, now.parked), (1, 1), "{now:?}");
    // And parks again once it has rested.
    let until = net.now + idle * 4;
    net.run(until);
    let later = net.nodes[0].engine.peer_status(&PeerKey::new("b")).unwrap();
    assert_eq!((later.sessions, later.parked), (0, 2), "{later:?}");
}

#[test]
fn states_handed_over_at_peer_up_start_parked() {
    let mut net = Net::pair();
    let x = doc("guandu/yiliu/tasks");
    write(&mut net.nodes[0].docs, &x, "a", 2);
    net.connect(0, 1);
    net.run(10_000);
    let saved = net.saved_states(0);
    assert!(!saved.is_empty());
    net.feed(
        0,
        Input::PeerUp {
            peer: PeerKey::new("b"),
            sync_states: saved,
        },
    );
    let status = net.nodes[0].engine.peer_status(&PeerKey::new("b")).unwrap();
    assert_eq!((status.sessions, status.parked), (0, 1), "{status:?}");
    net.run(net.now + 60_000);
    assert_eq!(net.heads(0, &x), net.heads(1, &x));
}
