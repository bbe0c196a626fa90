//! `Engine`: the sans-IO sync state machine the driver feeds.

use std::collections::{BTreeMap, VecDeque};

use automerge::sync;
use crdt_model::DocumentId;

use super::check::{CheckStats, Checks};
use super::config::EngineConfig;
use super::digest::DigestCache;
use super::docs::{CheckOutcome, Docs};
use super::event::{Input, Output};
use super::outbox::Outbox;
use super::peer::Peer;
use super::peer_key::PeerKey;
use super::policy::{Access, AllowAll, Policy};
use super::retry::Jitter;
use super::step::Step;

/// The sync engine of one node: feed it [`Input`]s with the current time and
/// the node's documents, do the [`Output`]s it returns.
///
/// It performs no IO, reads no clock and draws no randomness of its own, so
/// the node's driver task and the simulator run the same code, and a
/// simulation replays exactly from its seed.
#[derive(Debug)]
pub struct Engine<P: Policy = AllowAll> {
    config: EngineConfig,
    policy: P,
    peers: BTreeMap<PeerKey, Peer>,
    jitter: Jitter,
    /// The last `Wake` handed out, so the same one is not repeated.
    wake_at: Option<u64>,
    /// Trust checks asked of the driver and not yet answered.
    checks: Checks,
    /// Heads digests of every document, so answering a peer costs the
    /// answer, not a scan of the store.
    digests: DigestCache,
    /// Sync messages made and not yet sent; empty between calls.
    outbox: Outbox,
}

/// A snapshot of the engine's view of one peer, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// Documents with a sync state in memory for this peer.
    pub sessions: usize,
    /// Documents whose sync state is parked (at rest, only its saved bytes kept).
    pub parked: usize,
    /// Sessions waiting for the peer's reply.
    pub waiting: usize,
    /// Documents queued for a session slot.
    pub pending: usize,
    /// Documents not synced with this peer on this connection (denied by
    /// the peer, or too large to send).
    pub blocked: usize,
    /// The last summary comparison matched and nothing changed since.
    pub settled: bool,
}

impl<P: Policy> Engine<P> {
    /// A new engine with no peers. `seed` drives the jitter of its retries.
    pub fn new(config: EngineConfig, policy: P, seed: u64) -> Engine<P> {
        Engine {
            config,
            policy,
            peers: BTreeMap::new(),
            jitter: Jitter::new(seed),
            wake_at: None,
            checks: Checks::default(),
            digests: DigestCache::default(),
            outbox: Outbox::default(),
        }
    }

    /// Handles one input at `now_ms` (any monotonic millisecond clock, the
    /// same across calls) and returns the work for the driver, in order.
    /// Never panics on network input: bad input yields [`Output::Refused`].
    pub fn handle<D: Docs + ?Sized>(
        &mut self,
        input: Input,
        now_ms: u64,
        docs: &mut D,
    ) -> Vec<Output> {
        let mut out = self.step(input, now_ms, docs);
        self.outbox.flush(&mut out);
        out
    }

    /// One input, with the sync messages it made left in the outbox (so a
    /// caller feeding several inputs in a row sends them in shared frames).
    fn step<D: Docs + ?Sized>(&mut self, input: Input, now_ms: u64, docs: &mut D) -> Vec<Output> {
        if matches!(input, Input::Tick) && self.wake_at.is_some_and(|at| at <= now_ms) {
            self.wake_at = None;
        }
        let mut step = Step {
            now: now_ms,
            config: &self.config,
            access: Access {
                policy: &self.policy,
            },
            peers: &mut self.peers,
            jitter: &mut self.jitter,
            checks: &mut self.checks,
            digests: &mut self.digests,
            docs,
            out: Vec::new(),
            outbox: &mut self.outbox,
            opened: 0,
        };
        step.input(input);
        let mut out = step.out;
        let next = self
            .peers
            .values()
            .filter_map(|p| p.next_deadline(&self.config))
            .min();
        if let Some(at_ms) = next
            && self.wake_at != Some(at_ms)
        {
            self.wake_at = Some(at_ms);
            out.push(Output::Wake { at_ms });
        }
        out
    }

    /// [`Engine::handle`] for a driver that checks received changes on the
    /// spot: every [`Output::Check`] is answered at once with what `check`
    /// returns, fed back as [`Input::Checked`], until no check is left. The
    /// other outputs come back in order, and the sync messages all of it
    /// made are sent at the end, packed into shared frames (so the answers
    /// to a batch leave as a batch). Each answer asks at most one more
    /// check (the next message queued for that document), so this ends.
    pub fn handle_and_check<D, F>(
        &mut self,
        input: Input,
        now_ms: u64,
        docs: &mut D,
        mut check: F,
    ) -> Vec<Output>
    where
        D: Docs + ?Sized,
        F: FnMut(
            &mut D,
            &PeerKey,
            &DocumentId,
            &sync::Message,
            &[u8],
        ) -> Result<CheckOutcome, String>,
    {
        let mut inputs = VecDeque::from([input]);
        let mut out = Vec::new();
        while let Some(input) = inputs.pop_front() {
            for o in self.step(input, now_ms, docs) {
                match o {
                    Output::Check {
                        id,
                        peer,
                        doc,
                        message,
                        proof,
                    } => {
                        let result = check(docs, &peer, &doc, &message, &proof);
                        inputs.push_back(Input::Checked { id, result });
                    }
                    other => out.push(other),
                }
            }
        }
        self.outbox.flush(&mut out);
        out
    }

    /// Checks out and answers ignored, over the engine's life.
    pub fn check_stats(&self) -> CheckStats {
        self.checks.stats()
    }

    /// The driver changed documents without reporting each change as
    /// [`Input::LocalChange`] (a bulk import, a restore in place): forget the
    /// cached digests, so the next summary reads every document again.
    pub fn forget_digests(&mut self) {
        self.digests.invalidate();
    }

    /// How many times the engine has read every document's heads (once at
    /// first need, then after trust changes or [`Engine::forget_digests`]).
    pub fn digest_scans(&self) -> u64 {
        self.digests.scans()
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The access policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The access policy, to update when admissions change. Documents already
    /// synced stay where they are; new sessions follow the new rules.
    pub fn policy_mut(&mut self) -> &mut P {
        &mut self.policy
    }

    /// The peers currently up, in key order.
    pub fn peers(&self) -> impl Iterator<Item = &PeerKey> {
        self.peers.keys()
    }

    /// What the engine knows of `peer`, if it is up.
    pub fn peer_status(&self, peer: &PeerKey) -> Option<PeerStatus> {
        let p = self.peers.get(peer)?;
        Some(PeerStatus {
            sessions: p.sessions.len(),
            parked: p.parking.len(),
            waiting: p.waiting.len(),
            pending: p.pending_len(),
            blocked: p.blocked.len(),
            settled: p.settled_at.is_some(),
        })
    }
}
