//! Pipelined first sync: round trips and frames counted on a lock-step
//! pair, where every message sent in one hop arrives in the next and the
//! driver checks on the spot (`Engine::handle_and_check`), as the node does.

use super::*;

/// A pair in lock step: what one hop sends, the next delivers.
struct Lockstep {
    engines: [Engine; 2],
    docs: [MemDocs; 2],
    keys: [PeerKey; 2],
    now: u64,
    /// Hops that carried at least one message.
    hops: u64,
    /// Frames sent, both ways.
    frames: u64,
    /// The most sync messages in one frame.
    widest: usize,
    /// Each end's timer.
    wake: [Option<u64>; 2],
    /// Frames sent by each end, with their bytes.
    sent: [Vec<usize>; 2],
}

/// One way trip of the simulated link, in ms: shorter than every timer, so
/// no timer fires while messages are in flight.
const HOP_MS: u64 = 5;

impl Lockstep {
    fn new(a: MemDocs, b: MemDocs) -> Lockstep {
        Lockstep {
            engines: [
                Engine::new(EngineConfig::default(), AllowAll, 1),
                Engine::new(EngineConfig::default(), AllowAll, 2),
            ],
            docs: [a, b],
            keys: [PeerKey::new("a"), PeerKey::new("b")],
            now: 0,
            hops: 0,
            frames: 0,
            widest: 0,
            wake: [None, None],
            sent: [Vec::new(), Vec::new()],
        }
    }

    fn feed(&mut self, i: usize, input: Input, next: &mut Vec<(usize, Vec<u8>)>) {
        let accept =
            |_: &mut MemDocs, _: &PeerKey, _: &_, _: &_, _: &[u8]| Ok(CheckOutcome::default());
        for o in self.engines[i].handle_and_check(input, self.now, &mut self.docs[i], accept) {
            if let Output::Wake { at_ms } = o {
                self.wake[i] = Some(at_ms);
            }
            if let Output::Send { bytes, .. } = o {
                self.sent[i].push(bytes.len());
                self.frames += 1;
                let syncs = wire::decode(&bytes).unwrap().syncs().len();
                self.widest = self.widest.max(syncs);
                next.push((1 - i, bytes));
            }
        }
    }

    /// Connects the two and delivers hop by hop until nothing is in flight.
    /// Timers are not fired (the re-check that follows is not the sync),
    /// but a tick asked for at once is, as a driver does before it reads
    /// the network again.
    fn connect_until_idle(&mut self) {
        self.connect(false);
    }

    /// As [`Lockstep::connect_until_idle`], firing timers that fall due
    /// while messages are in flight too.
    fn connect(&mut self, ticks: bool) {
        let mut inflight = Vec::new();
        for i in 0..2 {
            let peer = self.keys[1 - i].clone();
            self.feed(i, up(peer), &mut inflight);
        }
        while !inflight.is_empty() {
            self.hops += 1;
            self.now += HOP_MS;
            let mut next = Vec::new();
            for (to, bytes) in std::mem::take(&mut inflight) {
                let peer = self.keys[1 - to].clone();
                self.feed(to, Input::Message { peer, bytes }, &mut next);
            }
            for i in 0..2 {
                while self.wake[i].is_some_and(|w| w == 0 || (ticks && w <= self.now)) {
                    self.wake[i] = None;
                    self.feed(i, Input::Tick, &mut next);
                }
            }
            inflight = next;
        }
    }
}

/// `n` monthly reports documents of one community, three levels down the
/// place tree (district, street, community), as a street's first sync
/// with a community finds them.
fn months(n: usize) -> Vec<DocumentId> {
    (0..n)
        .map(|k| {
            let m = 2000 * 12 + k;
            doc(&format!(
                "guandu/yiliu/xinyazhou/reports/{}-{:02}",
                m / 12,
                m % 12 + 1
            ))
        })
        .collect()
}

fn cold_pair(n: usize, changes: i64) -> (Lockstep, Vec<DocumentId>) {
    let ids = months(n);
    let mut a = MemDocs::default();
    for id in &ids {
        write(&mut a, id, "r", changes);
    }
    (Lockstep::new(a, MemDocs::default()), ids)
}

#[test]
fn a_first_sync_of_a_thousand_documents_takes_a_handful_of_round_trips() {
    let (mut pair, ids) = cold_pair(1_000, 10);
    pair.connect_until_idle();
    for id in &ids {
        let heads = |d: &mut MemDocs| d.heads(id);
        let (a, b) = pair.docs.split_at_mut(1);
        assert_eq!(heads(&mut a[0]), heads(&mut b[0]), "{id}");
    }
    // Summaries cross (1 hop); the side holding the documents learns the
    // other holds none and sends every document's changes at once (1 hop);
    // the answers confirm (1 hop). Before pipelining: 137 hops.
    let round_trips = pair.hops.div_ceil(2);
    assert!(
        round_trips <= 3,
        "{round_trips} round trips ({} hops)",
        pair.hops
    );
    assert!(pair.widest > 100, "sync messages did not share frames");
    assert!(pair.frames < 30, "{} frames", pair.frames);
}

#[test]
fn a_first_sync_leaves_in_frames_made_one_call_each() {
    // The sender makes the messages of at most 128 sessions per call and
    // asks for a tick at once for the rest, so the receiver can check the
    // first frame while the next one is being made.
    let (mut pair, ids) = cold_pair(1_000, 3);
    pair.connect_until_idle();
    for id in &ids {
        let (a, b) = pair.docs.split_at_mut(1);
        assert_eq!(a[0].heads(id), b[0].heads(id), "{id}");
    }
    let cap = crate::config::SESSIONS_OPENED_PER_CALL_MAX;
    assert!(
        pair.widest <= cap,
        "{} sync messages in one frame",
        pair.widest
    );
    let offers = pair.sent[0].len();
    assert!(
        offers >= ids.len().div_ceil(cap),
        "{offers} frames from the sender"
    );
    assert!(pair.hops.div_ceil(2) <= 3, "{} hops", pair.hops);
}

#[test]
fn sessions_in_flight_are_bounded_by_bytes() {
    let (mut pair, ids) = cold_pair(200, 10);
    let per_doc = {
        let mut one = MemDocs::default();
        write(&mut one, &ids[0], "r", 10);
        one.get(&ids[0]).unwrap().clone().save().len()
    };
    for e in &mut pair.engines {
        *e = Engine::new(
            EngineConfig {
                sync_bytes_in_flight_per_peer_max: 20 * per_doc,
                ..EngineConfig::default()
            },
            AllowAll,
            3,
        );
    }
    pair.connect_until_idle();
    for id in &ids {
        let (a, b) = pair.docs.split_at_mut(1);
        assert_eq!(a[0].heads(id), b[0].heads(id), "{id}");
    }
    // A sync message of a fresh document outweighs its compressed save, so
    // 20 saves' worth of bytes admits fewer than 21 sessions at once.
    assert!(
        pair.widest <= 21,
        "{} sync messages in one frame",
        pair.widest
    );
    assert!(pair.hops > 3, "the bound did not hold anything back");
}

#[test]
fn answers_past_the_per_call_budget_are_owed_to_the_next_tick() {
    let (mut pair, ids) = cold_pair(200, 10);
    let budget = 2_000;
    pair.engines[1] = Engine::new(
        EngineConfig {
            answer_bytes_per_call_max: budget,
            ..EngineConfig::default()
        },
        AllowAll,
        4,
    );
    pair.connect(true);
    for id in &ids {
        let (a, b) = pair.docs.split_at_mut(1);
        assert_eq!(a[0].heads(id), b[0].heads(id), "{id}");
    }
    // b answers the 200 documents a offered in one frame over several
    // calls, none of which made much more than the budget.
    let answers = &pair.sent[1];
    assert!(answers.len() > 3, "{answers:?}");
    let largest = answers.iter().max().copied().unwrap_or(0);
    assert!(largest < 2 * budget, "{largest} B in one frame");
}

#[test]
fn a_stale_empty_summary_costs_bytes_not_correctness() {
    // Both hold the same documents and have settled; then a summary saying
    // b holds nothing reaches a (stale, or b lying). a offers everything
    // again; b already has it, answers with its heads, and nothing breaks.
    let (mut pair, ids) = cold_pair(50, 3);
    pair.connect_until_idle();
    let mut next = Vec::new();
    let empty = wire::encode(&Message::Summary(wire::Summary {
        digest: crate::digest::Digest::of_nothing(),
        reply: false,
    }))
    .unwrap();
    let b = pair.keys[1].clone();
    pair.feed(
        0,
        Input::Message {
            peer: b,
            bytes: empty,
        },
        &mut next,
    );
    let offered: usize = next
        .iter()
        .map(|(_, bytes)| wire::decode(bytes).unwrap().syncs().len())
        .sum();
    assert_eq!(offered, ids.len(), "a did not offer every document");
    while !next.is_empty() {
        let mut after = Vec::new();
        for (to, bytes) in std::mem::take(&mut next) {
            let peer = pair.keys[1 - to].clone();
            let outputs = {
                let accept = |_: &mut MemDocs, _: &PeerKey, _: &_, _: &_, _: &[u8]| {
                    Ok(CheckOutcome::default())
                };
                pair.engines[to].handle_and_check(
                    Input::Message { peer, bytes },
                    pair.now,
                    &mut pair.docs[to],
                    accept,
                )
            };
            for o in outputs {
                match o {
                    Output::Send { bytes, .. } => after.push((1 - to, bytes)),
                    Output::Refused { reason, .. } => panic!("refused: {reason}"),
                    _ => {}
                }
            }
        }
        next = after;
    }
    for id in &ids {
        let (a, b) = pair.docs.split_at_mut(1);
        assert_eq!(a[0].heads(id), b[0].heads(id), "{id}");
        assert_eq!(b[0].changed_count(id), 1, "{id} changed again at b");
    }
}
