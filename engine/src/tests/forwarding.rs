//! Forwarding that pushes (`crate::push`): a change travels one one-way trip
//! per hop, a lost push is sent again at the reply timeout rather than at
//! the re-check, and a reconnect sends what changed at once.

use super::*;

impl Net {
    /// Delivers what is in flight now, and nothing it causes: one one-way
    /// trip of the network. Returns the messages delivered.
    fn trip(&mut self) -> usize {
        let in_flight: Vec<_> = self.queue.drain(..).collect();
        for (from, to, bytes) in &in_flight {
            let peer = self.nodes[*from].key.clone();
            let bytes = bytes.clone();
            self.feed(*to, Input::Message { peer, bytes });
        }
        in_flight.len()
    }

    /// Node `i`'s latest saved state per document with node `j`.
    fn latest_states(&self, i: usize, j: usize) -> Vec<(DocumentId, Vec<u8>)> {
        let with = &self.nodes[j].key;
        let latest: std::collections::BTreeMap<_, _> = self.nodes[i]
            .log
            .iter()
            .filter_map(|o| match o {
                Output::SaveSyncState { peer, doc, state } if peer == with => {
                    Some((doc.clone(), state.clone()))
                }
                _ => None,
            })
            .collect();
        latest.into_iter().collect()
    }

    /// Takes the link between `i` and `j` down; returns the states each end
    /// saved for the other.
    fn part(&mut self, i: usize, j: usize) -> [Vec<(DocumentId, Vec<u8>)>; 2] {
        let saved = [self.latest_states(i, j), self.latest_states(j, i)];
        for (me, other) in [(i, j), (j, i)] {
            let peer = self.nodes[other].key.clone();
            self.feed(me, Input::PeerDown { peer });
        }
        saved
    }

    /// Brings the link between `i` and `j` up again with the states `part`
    /// returned.
    fn rejoin(&mut self, i: usize, j: usize, saved: [Vec<(DocumentId, Vec<u8>)>; 2]) {
        let [at_i, at_j] = saved;
        for (me, other, sync_states) in [(i, j, at_i), (j, i, at_j)] {
            let peer = self.nodes[other].key.clone();
            self.feed(me, Input::PeerUp { peer, sync_states });
        }
    }
}

/// Community (0), street (1), district (2), linked in a chain, with one
/// reports document written at the community and synced to all three.
fn chain() -> (Net, DocumentId) {
    let mut net = Net::new(vec![
        ("community", allow_all()),
        ("street", allow_all()),
        ("district", allow_all()),
    ]);
    let x = doc("guandu/yiliu/xinyazhou/reports/2026-11");
    write(&mut net.nodes[0].docs, &x, "r", 3);
    net.connect(0, 1);
    net.connect(1, 2);
    (net, x)
}

/// Does a sync message carry changes?
fn carries_changes(s: &SyncData) -> bool {
    automerge::sync::Message::decode(&s.data).is_ok_and(|m| !m.changes.is_empty())
}

/// Pull requests sent since `since`: sync messages asking for a reply
/// without carrying any change.
fn pulls(net: &Net, since: usize) -> usize {
    net.sent[since..]
        .iter()
        .flat_map(|(_, _, b)| wire::decode(b).unwrap().syncs().to_vec())
        .filter(|s| s.reply && !carries_changes(s))
        .count()
}

#[test]
fn a_relayed_change_takes_one_trip_per_hop_with_no_pull() {
    // Hot sessions (synced moments ago) and parked ones (at rest past the
    // idle time) both know the next hop's heads.
    for rest_ms in [10_000, 120_000] {
        let (mut net, x) = chain();
        net.run(rest_ms);
        assert_eq!(net.heads(0, &x), net.heads(2, &x), "not synced first");
        let since = net.sent.len();
        write(&mut net.nodes[0].docs, &x, "new", 1);
        net.feed(0, Input::LocalChange { doc: x.clone() });
        let want = net.heads(0, &x);
        net.trip();
        assert_eq!(
            net.heads(1, &x),
            want,
            "street after 1 trip (rest {rest_ms})"
        );
        assert_ne!(net.heads(2, &x), want);
        net.trip();
        assert_eq!(
            net.heads(2, &x),
            want,
            "district after 2 trips (rest {rest_ms})"
        );
        assert_eq!(pulls(&net, since), 0, "nobody had to ask (rest {rest_ms})");
        let announced = net.sent[since..]
            .iter()
            .filter(|(_, _, b)| matches!(wire::decode(b), Ok(Message::Announce(_))))
            .count();
        assert_eq!(announced, 0, "pushed, not announced (rest {rest_ms})");
        // Each hop costs the push and the next hop's acknowledgement.
        net.run(net.now + 1_000);
        assert_eq!(net.sent.len() - since, 4, "rest {rest_ms}");
    }
}

#[test]
fn a_lost_push_is_sent_again_before_the_re_check() {
    let mut net = Net::pair();
    let x = doc("guandu/yiliu/xinyazhou/reports/2026-11");
    write(&mut net.nodes[0].docs, &x, "r", 3);
    net.connect(0, 1);
    net.run(10_000);
    assert_eq!(net.heads(0, &x), net.heads(1, &x));
    // Whatever carries the news of the change is lost: the push now, the
    // announcement before pushing (which only the re-check recovered).
    let mut lost = false;
    net.drop_if = Box::new(move |_| !std::mem::replace(&mut lost, true));
    let changed_at = net.now;
    write(&mut net.nodes[0].docs, &x, "new", 1);
    net.feed(0, Input::LocalChange { doc: x.clone() });
    net.trip();
    assert_ne!(net.heads(1, &x), net.heads(0, &x), "the push was not lost");
    let since = net.sent.len();
    // Up to, not including, the earliest re-check.
    net.run(changed_at + RECHECK_MS_MIN - 1);
    assert_eq!(
        net.heads(1, &x),
        net.heads(0, &x),
        "not recovered before the re-check"
    );
    let summaries = net.sent[since..]
        .iter()
        .filter(|(_, _, b)| matches!(wire::decode(b), Ok(Message::Summary(_))))
        .count();
    assert_eq!(
        summaries, 0,
        "recovered by the re-check, not by the session"
    );
    // The reply timeout, at least 1 s and a quarter of jitter at most.
    assert!(
        net.now - changed_at <= REPLY_TIMEOUT_MS_MIN * 5 / 4,
        "{} ms",
        net.now - changed_at
    );
}

#[test]
fn a_reconnect_pushes_what_changed_while_apart_in_one_trip() {
    let mut net = Net::pair();
    let (x, y) = (
        doc("guandu/yiliu/xinyazhou/reports/2026-10"),
        doc("guandu/yiliu/xinyazhou/reports/2026-11"),
    );
    write(&mut net.nodes[0].docs, &x, "r", 3);
    write(&mut net.nodes[0].docs, &y, "s", 3);
    net.connect(0, 1);
    net.run(60_000);
    let saved = net.part(0, 1);
    // Apart: a writes to one document only.
    write(&mut net.nodes[0].docs, &y, "apart", 1);
    net.feed(0, Input::LocalChange { doc: y.clone() });
    let since = net.sent.len();
    net.rejoin(0, 1, saved);
    net.trip();
    assert_eq!(net.heads(1, &y), net.heads(0, &y), "not there after 1 trip");
    // Only the document that changed went out.
    let pushed: BTreeSet<DocumentId> = net.sent[since..]
        .iter()
        .flat_map(|(_, _, b)| wire::decode(b).unwrap().syncs().to_vec())
        .map(|s| s.doc)
        .collect();
    assert_eq!(pushed, BTreeSet::from([y.clone()]));
    net.run(net.now + 60_000);
    assert_eq!(net.heads(1, &x), net.heads(0, &x));
    assert_eq!(net.heads(1, &y), net.heads(0, &y));
}

#[test]
fn a_push_lost_on_reconnecting_is_sent_again_before_the_re_check() {
    let mut net = Net::pair();
    let x = doc("guandu/yiliu/xinyazhou/reports/2026-11");
    write(&mut net.nodes[0].docs, &x, "r", 3);
    net.connect(0, 1);
    net.run(60_000);
    let saved = net.part(0, 1);
    write(&mut net.nodes[0].docs, &x, "apart", 1);
    net.feed(0, Input::LocalChange { doc: x.clone() });
    // The push made on reconnecting is lost; nothing else is.
    let mut lost = false;
    net.drop_if = Box::new(move |m| {
        let push = m.syncs().iter().any(carries_changes);
        push && !std::mem::replace(&mut lost, true)
    });
    let up_at = net.now;
    net.rejoin(0, 1, saved);
    net.trip();
    assert_ne!(net.heads(1, &x), net.heads(0, &x), "the push was not lost");
    // Before any round trip was measured the reply timeout is 5 s; the
    // summaries' round trip measures one, and the push's wait is cut to it.
    net.run(up_at + RECHECK_MS_MIN - 1);
    assert_eq!(
        net.heads(1, &x),
        net.heads(0, &x),
        "not recovered before the re-check"
    );
}

#[test]
fn a_document_new_to_the_relay_is_pushed_on_as_new() {
    let (mut net, x) = chain();
    net.run(10_000);
    // The community writes a new month's document while cut off from its
    // street; the street and the district have never seen it.
    let saved = net.part(0, 1);
    let y = doc("guandu/yiliu/xinyazhou/reports/2026-12");
    write(&mut net.nodes[0].docs, &y, "r", 2);
    net.feed(0, Input::LocalChange { doc: y.clone() });
    let since = net.sent.len();
    net.rejoin(0, 1, saved);
    net.trip();
    assert_eq!(net.heads(1, &y), net.heads(0, &y), "street after 1 trip");
    net.trip();
    assert_eq!(net.heads(2, &y), net.heads(0, &y), "district after 2 trips");
    assert_eq!(pulls(&net, since), 0, "nobody had to ask");
    net.run(net.now + 60_000);
    assert_eq!(net.heads(2, &x), net.heads(0, &x));
}
