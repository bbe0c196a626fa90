//! Trust checks as requests: answered late, answered with ids not held,
//! outlived by their peer, and bounded per peer.

use super::*;

/// Two nodes where `b` (node 1) holds its checks; `a` has `x`.
fn held_pair(x: &DocumentId) -> Net {
    let mut net = Net::pair();
    write(&mut net.nodes[0].docs, x, "a", 3);
    net.nodes[1].hold_checks = true;
    net
}

fn stats(net: &Net, i: usize) -> CheckStats {
    net.nodes[i].engine.check_stats()
}

#[test]
fn a_message_is_applied_only_when_its_check_is_answered() {
    let x = doc("guandu/yiliu/tasks");
    let mut net = held_pair(&x);
    net.connect(0, 1);
    net.run(2_000);
    assert_eq!(
        net.heads(1, &x),
        None,
        "applied before its check was answered"
    );
    assert_eq!(net.nodes[1].docs.changed_count(&x), 0);
    assert!(stats(&net, 1).in_flight >= 1);
    let held = std::mem::take(&mut net.nodes[1].held);
    assert!(held.iter().all(|(_, d)| *d == x));
    net.nodes[1].hold_checks = false;
    for (id, _) in held {
        net.answer(1, id);
    }
    net.run(120_000);
    assert_eq!(net.heads(0, &x), net.heads(1, &x));
    assert_eq!(stats(&net, 1).in_flight, 0);
}

#[test]
fn an_answer_to_a_check_not_held_is_ignored() {
    let x = doc("guandu/yiliu/tasks");
    let mut net = held_pair(&x);
    net.connect(0, 1);
    net.run(200);
    let (id, _) = net.nodes[1].held.remove(0);
    net.answer(1, id);
    let heads = net.heads(1, &x);
    let sent = net.sent.len();
    // The same id again: the engine holds it no more.
    let now = net.now;
    let n = &mut net.nodes[1];
    let out = n.engine.handle(checked_ok(id), now, &mut n.docs);
    assert!(
        out.iter().all(|o| matches!(o, Output::Wake { .. })),
        "{out:?}"
    );
    assert_eq!(stats(&net, 1).stale_answers, 1);
    assert_eq!(net.heads(1, &x), heads);
    assert_eq!(net.sent.len(), sent);
}

#[test]
fn a_peer_going_down_with_a_check_pending_drops_the_message() {
    let x = doc("guandu/yiliu/tasks");
    let mut net = held_pair(&x);
    net.connect(0, 1);
    net.run(200);
    assert!(stats(&net, 1).in_flight >= 1);
    let a = net.nodes[0].key.clone();
    net.feed(1, Input::PeerDown { peer: a });
    assert_eq!(stats(&net, 1).in_flight, 0);
    let held = std::mem::take(&mut net.nodes[1].held);
    let late = held.len() as u64;
    for (id, _) in held {
        net.answer(1, id);
    }
    assert_eq!(stats(&net, 1).stale_answers, late);
    assert_eq!(net.heads(1, &x), None, "a late answer applied a message");
    assert_eq!(net.nodes[1].docs.changed_count(&x), 0);
}

#[test]
fn checks_in_flight_and_queued_are_bounded_per_peer() {
    let docs: Vec<DocumentId> = ["a/roster", "a/tasks", "a/directory", "a/charter"]
        .into_iter()
        .map(doc)
        .collect();
    let mut net = Net::pair();
    for d in &docs {
        write(&mut net.nodes[0].docs, d, "a", 2);
    }
    let config = EngineConfig {
        checks_in_flight_per_peer_max: 2,
        check_queue_per_peer_max: 1,
        ..EngineConfig::default()
    };
    net.nodes[1].engine = Engine::new(config, allow_all(), 1);
    net.nodes[1].hold_checks = true;
    net.connect(0, 1);
    // Long enough for the sender's sessions to restart and send again.
    net.run(30_000);
    let s = stats(&net, 1);
    assert_eq!(s.in_flight, 2, "{s:?}");
    assert_eq!(net.nodes[1].held.len(), 2);
    assert!(s.dropped_messages > 0, "{s:?}");
    // Once checks are answered, what was dropped comes again as after a loss.
    net.nodes[1].hold_checks = false;
    for (id, _) in std::mem::take(&mut net.nodes[1].held) {
        net.answer(1, id);
    }
    net.run(600_000);
    for d in &docs {
        assert_eq!(net.heads(0, d), net.heads(1, d), "{d}");
    }
}

#[test]
fn a_refused_check_applies_nothing_and_is_reported() {
    let x = doc("guandu/yiliu/tasks");
    let mut net = held_pair(&x);
    net.connect(0, 1);
    net.run(200);
    let (id, _) = net.nodes[1].held.remove(0);
    let answer = Input::Checked {
        id,
        result: Err("unsigned".into()),
    };
    net.feed(1, answer);
    assert_eq!(net.heads(1, &x), None);
    assert!(net.nodes[1].log.iter().any(|o| matches!(
        o,
        Output::Refused { reason: Refusal::Forged { why, .. }, .. } if why == "unsigned"
    )));
}

#[test]
fn a_sequence_clash_is_refused_and_the_document_left_alone_with_that_peer() {
    let x = doc("guandu/yiliu/tasks");
    let mut net = held_pair(&x);
    write(&mut net.nodes[1].docs, &x, "b", 2);
    net.connect(0, 1);
    net.run(200);
    let held = std::mem::take(&mut net.nodes[1].held);
    assert!(held.iter().any(|(_, d)| *d == x));
    for (id, _) in held {
        let clash = CheckOutcome {
            clash: Some("actor 01 used sequence number 1 for another change".into()),
            ..CheckOutcome::default()
        };
        net.feed(
            1,
            Input::Checked {
                id,
                result: Ok(clash),
            },
        );
    }
    assert!(net.nodes[1].log.iter().any(|o| matches!(
        o,
        Output::Refused { reason: Refusal::SequenceClash { doc, .. }, .. } if *doc == x
    )));
    assert_eq!(net.nodes[1].docs.changed_count(&x), 0);
    // Retrying cannot help: b neither restarts its session for x with a
    // nor opens a new one, however long a keeps offering it.
    let mark = net.sent.len();
    net.run(60_000);
    let syncs = net.sent[mark..]
        .iter()
        .filter(|(from, _, bytes)| {
            *from == 1
                && wire::decode(bytes)
                    .unwrap()
                    .syncs()
                    .iter()
                    .any(|s| s.doc == x)
        })
        .count();
    assert_eq!(syncs, 0, "b went on syncing x with a after the clash");
}
