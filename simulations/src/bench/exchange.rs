//! Two sync engines joined by a lossless in-memory link, run in lock step:
//! every message sent in one hop is delivered in the next. Counts bytes,
//! messages and hops until the link is quiet.

use std::collections::BTreeMap;

use automerge::ActorId;
use crdt_model::DocumentId;
use yizhan_engine::wire::{self, Message};
use yizhan_engine::{
    AllowAll, CheckOutcome, Docs, Engine, EngineConfig, Input, MemDocs, Output, PeerKey,
};

/// Simulated one-way latency of the link.
pub const HOP_MS: u64 = 10;
/// The link is quiet once no message is in flight and no timer falls due
/// within this long.
pub const QUIET_MS: u64 = 120_000;
/// A run stops after this much simulated time even if timers keep firing.
pub const RUN_MS_MAX: u64 = 3_600_000;

/// One end: an engine, its documents and the sync states it saved.
pub struct End {
    /// Its peer key.
    pub key: PeerKey,
    /// Its engine.
    pub engine: Engine,
    /// Its documents.
    pub docs: MemDocs,
    /// `SaveSyncState` outputs for the other end, latest per document.
    pub saved: BTreeMap<DocumentId, Vec<u8>>,
    wake: Option<u64>,
}

/// What crossed the link during one run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Traffic {
    /// Messages sent, both ways.
    pub messages: u64,
    /// Bytes of those messages, as framed by the engine.
    pub bytes: u64,
    /// Bytes of `Sync` and `Batch` messages as framed (deflated when the
    /// engine deflated them), like the other counts here.
    pub sync_data: u64,
    /// Bytes of summaries, inventory requests and inventories.
    pub reconcile: u64,
    /// Bytes of announcements.
    pub announce: u64,
    /// Hops (one-way trips) that carried at least one message.
    pub hops: u64,
    /// Hops before the link first went idle (waiting only on timers).
    pub hops_first_burst: u64,
    /// Hops until both ends first held every document at the same heads:
    /// when the data had arrived. `None` if they never did.
    pub hops_to_data: Option<u64>,
}

impl Traffic {
    /// Round trips: hops, two per round trip, rounded up.
    pub fn round_trips(&self) -> u64 {
        self.hops.div_ceil(2)
    }

    /// Round trips before the first idle moment (the work the change itself
    /// caused, without the later re-check).
    pub fn round_trips_first_burst(&self) -> u64 {
        self.hops_first_burst.div_ceil(2)
    }

    /// Round trips until the data arrived: hops ÷ 2, a lone one-way trip
    /// counting half. What a user waits for, whatever is sent after.
    pub fn round_trips_to_data(&self) -> f64 {
        self.hops_to_data.unwrap_or(self.hops) as f64 / 2.0
    }

    /// Round trips run by timers after the first idle moment (the re-check
    /// `RECHECK_MS_MIN` after a change, and any restart): reported apart,
    /// since they find nothing when nothing was lost.
    pub fn round_trips_on_timers(&self) -> u64 {
        (self.hops - self.hops_first_burst).div_ceil(2)
    }
}

/// The two ends and the simulated clock.
pub struct Link {
    /// `ends[0]` is "a", `ends[1]` is "b".
    pub ends: [End; 2],
    /// Simulated time, ms.
    pub now: u64,
    up: bool,
}

type InFlight = Vec<(usize, Vec<u8>)>;

impl Link {
    /// Two ends holding `a` and `b`, not connected.
    pub fn new(a: MemDocs, b: MemDocs) -> Link {
        let end = |name: &str, docs: MemDocs, seed: u64| End {
            key: PeerKey::new(name),
            engine: Engine::new(EngineConfig::default(), AllowAll, seed),
            docs,
            saved: BTreeMap::new(),
            wake: None,
        };
        Link {
            ends: [end("a", a, 1), end("b", b, 2)],
            now: 0,
            up: false,
        }
    }

    /// Documents with the actor of end `i` (0 or 1).
    pub fn docs_for(i: u8) -> MemDocs {
        MemDocs::with_actor(ActorId::from(vec![i + 1; 32]))
    }

    /// Do both ends hold the same documents at the same heads?
    pub fn in_step(&mut self) -> bool {
        let [a, b] = &mut self.ends;
        a.docs.len() == b.docs.len()
            && a.docs
                .ids()
                .iter()
                .all(|id| a.docs.heads(id) == b.docs.heads(id))
    }

    fn feed(&mut self, i: usize, input: Input, out: &mut InFlight, t: &mut Traffic) {
        let now = self.now;
        let end = &mut self.ends[i];
        let accept =
            |_: &mut MemDocs, _: &PeerKey, _: &_, _: &_, _: &[u8]| Ok(CheckOutcome::default());
        let outputs = end
            .engine
            .handle_and_check(input, now, &mut end.docs, accept);
        for o in outputs {
            match o {
                Output::Send { bytes, .. } => {
                    t.messages += 1;
                    t.bytes += bytes.len() as u64;
                    match wire::decode(&bytes) {
                        Ok(Message::Sync(_) | Message::Batch(_)) => {
                            t.sync_data += bytes.len() as u64
                        }
                        Ok(Message::Announce(_)) => t.announce += bytes.len() as u64,
                        Ok(Message::Summary(_) | Message::InventoryRequest(_))
                        | Ok(Message::Inventory(_)) => t.reconcile += bytes.len() as u64,
                        Ok(Message::Deny(_)) | Err(_) => {}
                    }
                    if self.up {
                        out.push((1 - i, bytes));
                    }
                }
                Output::SaveSyncState { doc, state, .. } => {
                    end.saved.insert(doc, state);
                }
                Output::Wake { at_ms } => end.wake = Some(at_ms),
                Output::Refused { reason, .. } => {
                    eprintln!("bench: end {i} refused: {reason}");
                }
                Output::Synced { .. } | Output::Check { .. } => {}
            }
        }
    }

    /// Delivers messages hop by hop, ticking timers as they fall due, until
    /// nothing is in flight and no timer is due within [`QUIET_MS`].
    fn settle(&mut self, mut inflight: InFlight, t: &mut Traffic) {
        let mut idle_seen = false;
        if self.in_step() {
            t.hops_to_data = Some(0);
        }
        let give_up = self.now + RUN_MS_MAX;
        loop {
            if self.now > give_up {
                eprintln!("bench: the link did not go quiet within {RUN_MS_MAX} ms");
                return;
            }
            if inflight.is_empty() {
                let next = self.ends.iter().filter_map(|e| e.wake).min();
                match next {
                    Some(at) if at <= self.now + QUIET_MS => {
                        idle_seen = true;
                        self.now = self.now.max(at);
                    }
                    _ => return,
                }
            } else {
                self.now += HOP_MS;
                t.hops += 1;
                if !idle_seen {
                    t.hops_first_burst += 1;
                }
                let mut next = Vec::new();
                for (to, bytes) in inflight {
                    let peer = self.ends[1 - to].key.clone();
                    self.feed(to, Input::Message { peer, bytes }, &mut next, t);
                }
                inflight = next;
                if t.hops_to_data.is_none() && self.in_step() {
                    t.hops_to_data = Some(t.hops);
                }
            }
            for i in 0..2 {
                if self.ends[i].wake.is_some_and(|at| at <= self.now) {
                    self.ends[i].wake = None;
                    self.feed(i, Input::Tick, &mut inflight, t);
                }
            }
        }
    }

    /// Connects the ends, each with the sync states it saved, and runs until
    /// quiet.
    pub fn connect(&mut self) -> Traffic {
        let mut t = Traffic::default();
        let mut inflight = Vec::new();
        self.up = true;
        for i in 0..2 {
            let peer = self.ends[1 - i].key.clone();
            let sync_states = self.ends[i]
                .saved
                .iter()
                .map(|(d, s)| (d.clone(), s.clone()))
                .collect();
            self.feed(
                i,
                Input::PeerUp { peer, sync_states },
                &mut inflight,
                &mut t,
            );
        }
        self.settle(inflight, &mut t);
        t
    }

    /// Disconnects the ends (they save their sync states).
    pub fn disconnect(&mut self) {
        let mut t = Traffic::default();
        let mut dropped = Vec::new();
        self.up = false;
        for i in 0..2 {
            let peer = self.ends[1 - i].key.clone();
            self.feed(i, Input::PeerDown { peer }, &mut dropped, &mut t);
            self.ends[i].wake = None;
        }
    }

    /// Tells end `i` that `docs` changed locally and runs until quiet.
    pub fn local_change(&mut self, i: usize, docs: &[DocumentId]) -> Traffic {
        let mut t = Traffic::default();
        let mut inflight = Vec::new();
        for d in docs {
            self.feed(
                i,
                Input::LocalChange { doc: d.clone() },
                &mut inflight,
                &mut t,
            );
        }
        self.settle(inflight, &mut t);
        t
    }
}

/// Bytes, messages and hops of Automerge's own sync protocol run on one
/// document between `a` and `b` with states `sa` and `sb`: each hop, both
/// sides generate a message if they have one, and both are delivered.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainSync {
    /// Bytes of the encoded sync messages, both ways.
    pub bytes: u64,
    /// Messages, both ways.
    pub messages: u64,
    /// Hops that carried at least one message.
    pub hops: u64,
    /// Hops until both documents had the same heads.
    pub hops_to_data: u64,
}

/// Runs Automerge's sync protocol between `a` and `b` until neither has a
/// message left; the documents end equal.
pub fn plain_sync(
    a: &mut automerge::AutoCommit,
    b: &mut automerge::AutoCommit,
    sa: &mut automerge::sync::State,
    sb: &mut automerge::sync::State,
) -> anyhow::Result<PlainSync> {
    use automerge::sync::SyncDoc;
    let mut p = PlainSync::default();
    loop {
        let ma = a.sync().generate_sync_message(sa);
        let mb = b.sync().generate_sync_message(sb);
        if ma.is_none() && mb.is_none() {
            return Ok(p);
        }
        p.hops += 1;
        if let Some(m) = ma {
            let bytes = m.encode();
            p.bytes += bytes.len() as u64;
            p.messages += 1;
            let m = automerge::sync::Message::decode(&bytes)?;
            b.sync().receive_sync_message(sb, m)?;
        }
        if let Some(m) = mb {
            let bytes = m.encode();
            p.bytes += bytes.len() as u64;
            p.messages += 1;
            let m = automerge::sync::Message::decode(&bytes)?;
            a.sync().receive_sync_message(sa, m)?;
        }
        if p.hops_to_data == 0 && a.get_heads() == b.get_heads() {
            p.hops_to_data = p.hops;
        }
        if p.hops > 1_000 {
            anyhow::bail!("Automerge sync did not finish in 1000 hops");
        }
    }
}

impl PlainSync {
    /// Round trips: hops, two per round trip, rounded up.
    pub fn round_trips(&self) -> u64 {
        self.hops.div_ceil(2)
    }

    /// Round trips until the documents had the same heads, a lone one-way
    /// trip counting half.
    pub fn round_trips_to_data(&self) -> f64 {
        self.hops_to_data as f64 / 2.0
    }
}

/// The note of a round-trip line: one-way trips until the data arrived on
/// both sides, then what the link did after, with timer re-checks apart.
pub fn trips_note(t: &Traffic, plain: &PlainSync) -> String {
    let to_data = t.hops_to_data.unwrap_or(t.hops);
    format!(
        "{to_data} one-way trip(s) until both held the data (Automerge: {}); {} RT until the \
         link was idle, acknowledgements included (Automerge: {} RT until both were silent); \
         timer re-checks apart: {} RT (the summary exchange {} ms after the change, which \
         finds nothing when nothing was lost)",
        plain.hops_to_data,
        t.round_trips_first_burst(),
        plain.round_trips(),
        t.round_trips_on_timers(),
        yizhan_engine::RECHECK_MS_MIN,
    )
}
