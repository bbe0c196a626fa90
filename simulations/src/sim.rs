//! The simulated world: nodes running the real engine over in-memory stores,
//! a seeded network with latency, loss, duplication, reordering and cut
//! links, node restarts, and a simulated clock driving one event queue.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{AutoCommit, ChangeHash, transaction::CommitOptions};
use chrono::{DateTime, Duration, Utc};
use crdt_model::{DocKind, DocumentId, ModelError};
use node::trust::FederationPolicy;
use node::trust::signing::TrustContext;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use yizhan_engine::wire::{self, Message};
use yizhan_engine::{Engine, EngineConfig, Input, Output, PeerKey, Refusal};

use crate::cpu::{CpuLog, thread_cpu};
use crate::federation::Identity;
pub use crate::mutation::{MessageKind, Mutation};
use crate::scenario::{Fault, LinkLevel, Network, StoreFate};
use crate::store::{SimDocs, Store};
use crate::trust::{NodeTrust, TrustEvent, charter_id};

/// A write a node acknowledged to its user.
#[derive(Debug, Clone)]
pub struct Acked {
    /// The document written.
    pub doc: DocumentId,
    /// The change that holds it.
    pub hash: ChangeHash,
    /// When (simulated ms).
    pub at_ms: u64,
    /// The node lost its store after this write, before any backup held it:
    /// losing the write is then expected.
    pub lost_with_store: bool,
}

/// One simulated node.
pub struct SimNode {
    /// Keys, credential, place.
    pub id: Identity,
    /// Its peer key: the place, as written.
    pub peer: PeerKey,
    /// What survives a restart.
    pub store: Store,
    /// The latest backup snapshot and when it was taken.
    pub backup: (Store, u64),
    /// `None` while the node is down.
    pub engine: Option<Engine<FederationPolicy>>,
    /// Restarts so far; stale timers of an earlier run are ignored.
    pub incarnation: u64,
    /// The pending timer.
    pub wake: Option<u64>,
    /// Restored from a backup and not yet settled with its parent: holds
    /// local writes so it never reuses a sequence number of its own actor
    /// that a peer already holds.
    pub recovering: bool,
    /// Writes acknowledged here.
    pub acked: Vec<Acked>,
    /// Redemption entry ids written here.
    pub redemptions: BTreeSet<String>,
    /// Roster members, once the roster is set up.
    pub members: Vec<crdt_model::roster::Member>,
    /// What its driver keeps about trust.
    pub trust_state: NodeTrust,
}

/// Traffic and refusals over a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Messages handed to the network.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Messages naming a `roster-private` document that went on the wire.
    pub private_on_wire: u64,
    /// Changes refused for failing the signature or write checks.
    pub forged: u64,
    /// Changes refused because they lie after their author's cut-off (its
    /// key or one above it revoked or expired), or depend on one that does.
    pub withheld: u64,
    /// Revocations written.
    pub revocations: u64,
    /// Reinstatements written.
    pub reinstatements: u64,
    /// Cut-off statements written by witnesses.
    pub cutoffs: u64,
    /// Connections dropped because a credential no longer verified.
    pub dropped: u64,
    /// Other refusals.
    pub refused: u64,
    /// Local writes committed.
    pub writes: u64,
    /// Node restarts.
    pub restarts: u64,
    /// Restarts that lost the store and restored a backup.
    pub stores_lost: u64,
}

/// What the event queue holds.
#[derive(Debug)]
pub enum Event {
    /// A message arrives.
    Deliver {
        /// Sender.
        from: usize,
        /// Receiver.
        to: usize,
        /// The connection it was sent on; dropped if that closed.
        epoch: u64,
        /// The message.
        bytes: Vec<u8>,
    },
    /// A node's timer fires.
    Wake {
        /// Which node.
        node: usize,
        /// When it asked for.
        at: u64,
        /// Which run of the node asked.
        incarnation: u64,
    },
    /// A link to the parent of `child` is cut (`cut: true`) or a cut ends.
    Cut {
        /// The node below the link.
        child: usize,
        /// Start or end of the cut.
        cut: bool,
    },
    /// A node stops.
    Stop {
        /// Which node.
        node: usize,
        /// What happens to its store.
        store: StoreFate,
    },
    /// A node starts again.
    Start {
        /// Which node.
        node: usize,
    },
    /// Every node snapshots its store.
    Backup,
    /// Workload: something a person does at a node.
    Act(crate::workload::Act),
    /// A revocation, a reinstatement, or a node looking again at trust
    /// when an admission lapses.
    Trust(TrustEvent),
}

/// The world of one seed.
pub struct Sim {
    /// Nodes: district, streets, communities.
    pub nodes: Vec<SimNode>,
    /// The network's randomness.
    pub rng: StdRng,
    /// Simulated ms since the start.
    pub now: u64,
    /// Wall-clock time at ms zero.
    pub start: DateTime<Utc>,
    events: BTreeMap<(u64, u64), Event>,
    seq: u64,
    /// Messages in the queue.
    pub in_flight: u64,
    by_peer: BTreeMap<PeerKey, usize>,
    /// Per child node: active cuts of its uplink.
    cuts: Vec<u32>,
    /// Per child node: the current connection's epoch, if connected.
    links: Vec<Option<u64>>,
    /// Per child node: an end of its uplink refuses the other's credential.
    trust_refused: Vec<bool>,
    epochs: u64,
    network: Network,
    /// The scenario's faults.
    pub(crate) faults: Vec<Fault>,
    /// A deliberate bug, if any.
    pub mutation: Option<Mutation>,
    seed: u64,
    /// Traffic and refusals.
    pub counters: Counters,
    /// Last time any document changed anywhere.
    pub last_change_ms: u64,
    /// Last local write anywhere.
    pub last_write_ms: u64,
    /// Last time a link was cut or healed or a node stopped or started.
    pub last_fault_ms: u64,
    /// The workload, once started.
    pub plan: Option<crate::workload::Plan>,
    /// When set, the CPU time of every node's engine calls (benchmarks).
    pub cpu: Option<CpuLog>,
}

/// Simulated ms of `h` hours.
pub fn hours_ms(h: f64) -> u64 {
    (h * 3_600_000.0).max(0.0) as u64
}

impl Sim {
    /// A world of `ids` with nothing connected yet.
    pub fn new(
        ids: Vec<Identity>,
        seed: u64,
        start: DateTime<Utc>,
        network: Network,
        faults: Vec<Fault>,
        mutation: Option<Mutation>,
    ) -> Sim {
        let n = ids.len();
        let nodes: Vec<SimNode> = ids
            .into_iter()
            .map(|id| SimNode {
                // A station shares its community's place: its key tells them apart.
                peer: if id.role == node::Role::Station {
                    PeerKey::new(format!("{}#{}", id.place, id.key))
                } else {
                    PeerKey::new(id.place.as_str())
                },
                id,
                store: Store::default(),
                backup: (Store::default(), 0),
                engine: None,
                incarnation: 0,
                wake: None,
                recovering: false,
                acked: Vec::new(),
                redemptions: BTreeSet::new(),
                members: Vec::new(),
                trust_state: NodeTrust::default(),
            })
            .collect();
        let by_peer = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.peer.clone(), i))
            .collect();
        Sim {
            nodes,
            rng: StdRng::seed_from_u64(seed),
            now: 0,
            start,
            events: BTreeMap::new(),
            seq: 0,
            in_flight: 0,
            by_peer,
            cuts: vec![0; n],
            links: vec![None; n],
            trust_refused: vec![false; n],
            epochs: 0,
            network,
            faults,
            mutation,
            seed,
            counters: Counters::default(),
            last_change_ms: 0,
            last_write_ms: 0,
            last_fault_ms: 0,
            plan: None,
            cpu: None,
        }
    }

    /// Simulated wall-clock time.
    pub fn wall(&self) -> DateTime<Utc> {
        self.start + Duration::milliseconds(self.now as i64)
    }

    /// Queues `event` at `at` (never in the past).
    pub fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        if matches!(event, Event::Deliver { .. }) {
            self.in_flight += 1;
        }
        self.events.insert((at.max(self.now), self.seq), event);
    }

    /// Time of the next event.
    pub fn next_at(&self) -> Option<u64> {
        self.events.first_key_value().map(|((at, _), _)| *at)
    }

    /// Starts every node and schedules the faults and backups of a run of
    /// `hours_total` simulated ms.
    pub fn boot(&mut self, until_ms: u64, backup_every_ms: u64) {
        for i in 0..self.nodes.len() {
            self.start_node(i);
        }
        self.publish_admissions();
        self.schedule_faults(until_ms);
        if backup_every_ms > 0 {
            let mut t = backup_every_ms;
            while t < until_ms {
                self.schedule(t, Event::Backup);
                t += backup_every_ms;
            }
        }
    }

    /// Handles the next event; false when none is left.
    pub fn step(&mut self) -> bool {
        let Some(((at, _), event)) = self.events.pop_first() else {
            return false;
        };
        self.now = at;
        if matches!(
            event,
            Event::Cut { .. } | Event::Stop { .. } | Event::Start { .. }
        ) {
            self.last_fault_ms = at;
        }
        match event {
            Event::Deliver {
                from,
                to,
                epoch,
                bytes,
            } => {
                self.in_flight -= 1;
                let child = if self.nodes[from].id.parent == Some(to) {
                    from
                } else {
                    to
                };
                if self.links[child] == Some(epoch) {
                    let peer = self.nodes[from].peer.clone();
                    self.feed(to, Input::Message { peer, bytes });
                }
            }
            Event::Wake {
                node,
                at,
                incarnation,
            } => {
                let n = &mut self.nodes[node];
                if n.incarnation == incarnation && n.wake == Some(at) && n.engine.is_some() {
                    n.wake = None;
                    self.feed(node, Input::Tick);
                }
            }
            Event::Cut { child, cut } => {
                if cut {
                    self.cuts[child] += 1;
                } else {
                    self.cuts[child] = self.cuts[child].saturating_sub(1);
                }
                self.refresh_link(child);
            }
            Event::Stop { node, store } => self.stop_node(node, store),
            Event::Start { node } => {
                if self.nodes[node].engine.is_none() {
                    self.start_node(node);
                }
            }
            Event::Backup => {
                let now = self.now;
                for n in &mut self.nodes {
                    if n.engine.is_some() {
                        n.backup = (n.store.clone(), now);
                    }
                }
            }
            Event::Act(act) => crate::workload::act(self, act),
            Event::Trust(event) => self.trust_event(event),
        }
        true
    }

    fn start_node(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.incarnation += 1;
        n.wake = None;
        // The driver's trust state, the charter as read and the memory of
        // refused changes live in memory: a restart starts them afresh.
        n.trust_state = NodeTrust::default();
        n.id.trust = TrustContext::new(
            n.id.trust.federation.clone(),
            n.id.member.clone(),
            Default::default(),
        );
        let policy = FederationPolicy::new(n.id.member.clone(), Vec::new(), Vec::new());
        let seed = self.seed ^ ((i as u64) << 32) ^ n.incarnation;
        n.engine = Some(Engine::new(EngineConfig::default(), policy, seed));
        // As the daemon on start: read the charter (the store may be a
        // restored backup), witness, then connect to the peers it admits.
        self.recheck(i);
    }

    fn stop_node(&mut self, i: usize, fate: StoreFate) {
        if self.nodes[i].engine.is_none() {
            return;
        }
        self.counters.restarts += 1;
        // A crash: the engine's in-memory state is gone and nothing is saved.
        self.nodes[i].engine = None;
        for child in self.links_of(i) {
            self.refresh_link(child);
        }
        if fate == StoreFate::Lost {
            self.counters.stores_lost += 1;
            let n = &mut self.nodes[i];
            let (backup, taken) = n.backup.clone();
            n.store = backup;
            n.recovering = n.id.parent.is_some();
            for a in &mut n.acked {
                if a.at_ms >= taken {
                    a.lost_with_store = true;
                }
            }
        }
    }

    /// Child indices of the links touching node `i`.
    pub fn links_of(&self, i: usize) -> Vec<usize> {
        let mut out: Vec<usize> = (0..self.nodes.len())
            .filter(|&c| self.nodes[c].id.parent == Some(i))
            .collect();
        if self.nodes[i].id.parent.is_some() {
            out.push(i);
        }
        out
    }

    /// Is the uplink of `child` connected?
    pub fn connected(&self, child: usize) -> bool {
        self.links[child].is_some()
    }

    /// Brings the uplink of `child` up or down to match cuts, node states
    /// and credentials: each end admits the other only while the other's
    /// chain verifies by its own charter, so a peer that lost access is
    /// dropped and refused on every reconnect.
    pub fn refresh_link(&mut self, child: usize) {
        let Some(parent) = self.nodes[child].id.parent else {
            return;
        };
        let trusted = self.trusted_link(child);
        self.trust_refused[child] = !trusted;
        let reachable = self.cuts[child] == 0
            && self.nodes[child].engine.is_some()
            && self.nodes[parent].engine.is_some();
        let want = reachable && trusted;
        if self.links[child].is_some() && reachable && !trusted {
            self.counters.dropped += 1;
        }
        match (self.links[child].is_some(), want) {
            (false, true) => {
                self.epochs += 1;
                self.links[child] = Some(self.epochs);
                for (me, other) in [(child, parent), (parent, child)] {
                    let peer = self.nodes[other].peer.clone();
                    let member = self.verified_member(me, other);
                    let expires = member.as_ref().and_then(|m| m.expires);
                    let n = &mut self.nodes[me];
                    if let (Some(engine), Some(m)) = (n.engine.as_mut(), member) {
                        engine.policy_mut().admit_peer(peer.clone(), m);
                    }
                    self.note_expiry(me, expires);
                    let n = &mut self.nodes[me];
                    let sync_states = n
                        .store
                        .sync_states
                        .iter()
                        .filter(|((p, _), _)| *p == peer)
                        .map(|((_, d), s)| (d.clone(), s.clone()))
                        .collect();
                    self.feed(me, Input::PeerUp { peer, sync_states });
                }
            }
            (true, false) => {
                self.links[child] = None;
                for (me, other) in [(child, parent), (parent, child)] {
                    let peer = self.nodes[other].peer.clone();
                    self.feed(me, Input::PeerDown { peer: peer.clone() });
                    if let Some(engine) = self.nodes[me].engine.as_mut() {
                        engine.policy_mut().forget_peer(&peer);
                    }
                }
            }
            _ => {}
        }
    }

    /// Hands `input` to node `i`'s engine and does what it asks.
    pub fn feed(&mut self, i: usize, input: Input) {
        let now = self.now;
        let wall = self.wall();
        let parent = self.nodes[i].id.parent.map(|p| self.nodes[p].peer.clone());
        let charter = charter_id(&self.nodes[i]);
        let n = &mut self.nodes[i];
        let Some(engine) = n.engine.as_mut() else {
            return;
        };
        let mut changed = BTreeSet::new();
        let mut docs = SimDocs {
            store: &mut n.store,
            actor: &n.id.actor,
            trust: &n.id.trust,
            credential: &n.id.credential,
            now: wall,
            changed: &mut changed,
            forged: &mut self.counters.forged,
            withheld: &mut self.counters.withheld,
        };
        let started = self.cpu.as_ref().and_then(|_| thread_cpu());
        // The node's driver checks on the spot; so does the simulator.
        let out = engine.handle_and_check(input, now, &mut docs, |docs, peer, doc, m, proof| {
            docs.check(peer, doc, m, proof)
        });
        if let Some(log) = self.cpu.as_mut() {
            let spent = started.zip(thread_cpu()).map(|(a, b)| b.saturating_sub(a));
            log.add(i, now, spent);
        }
        if !changed.is_empty() {
            self.last_change_ms = now;
        }
        // A restored node writes nothing, witness statements included, until
        // it has settled with its parent: look at trust again then.
        let mut recheck = changed.contains(&charter);
        if n.recovering
            && let Some(parent) = parent
            && engine.peer_status(&parent).is_some_and(|s| s.settled)
        {
            n.recovering = false;
            recheck = true;
        }
        for o in out {
            self.output(i, o);
        }
        if recheck {
            self.recheck(i);
        }
    }

    fn output(&mut self, i: usize, output: Output) {
        match output {
            Output::Send { peer, bytes } => self.send(i, &peer, bytes),
            Output::SaveSyncState { peer, doc, state } => {
                self.nodes[i].store.sync_states.insert((peer, doc), state);
            }
            Output::Wake { at_ms } => {
                let n = &mut self.nodes[i];
                n.wake = Some(at_ms);
                let incarnation = n.incarnation;
                self.schedule(
                    at_ms,
                    Event::Wake {
                        node: i,
                        at: at_ms,
                        incarnation,
                    },
                );
            }
            Output::Refused { reason, .. } => {
                if matches!(reason, Refusal::Forged { .. }) {
                    if std::env::var_os("SIM_TRACE_REFUSED").is_some() {
                        eprintln!("node {i} refused: {reason}");
                    }
                } else {
                    self.counters.refused += 1;
                }
            }
            // Answered inside `handle_and_check`.
            Output::Synced { .. } | Output::Check { .. } => {}
        }
    }

    fn send(&mut self, i: usize, peer: &PeerKey, bytes: Vec<u8>) {
        let Some(&j) = self.by_peer.get(peer) else {
            return;
        };
        self.counters.messages += 1;
        self.counters.bytes += bytes.len() as u64;
        if let Ok(m) = wire::decode(&bytes) {
            let mut docs: Vec<&DocumentId> = m.syncs().iter().map(|s| &s.doc).collect();
            match &m {
                Message::Announce(a) => docs.push(&a.doc),
                Message::Deny(d) => docs.push(&d.doc),
                _ => {}
            }
            if docs.iter().any(|d| d.kind() == DocKind::RosterPrivate) {
                self.counters.private_on_wire += 1;
            }
            if let Some(Mutation::Silent { from, kind }) = &self.mutation
                && *kind == MessageKind::of(&m)
                && from == self.nodes[i].peer.as_str()
            {
                return;
            }
        }
        let child = if self.nodes[i].id.parent == Some(j) {
            i
        } else {
            j
        };
        let Some(epoch) = self.links[child] else {
            return;
        };
        let loss = self.loss(child);
        let copies = if self.rng.random_bool(self.network.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            if self.rng.random_bool(loss) {
                continue;
            }
            let latency = self
                .rng
                .random_range(self.network.latency_ms_min..=self.network.latency_ms_max);
            self.schedule(
                self.now + latency,
                Event::Deliver {
                    from: i,
                    to: j,
                    epoch,
                    bytes: bytes.clone(),
                },
            );
        }
    }

    /// Loss on the uplink of `child` now.
    fn loss(&self, child: usize) -> f64 {
        let level = match self.nodes[child].id.role {
            node::Role::Community | node::Role::Station => LinkLevel::Community,
            _ => LinkLevel::Street,
        };
        let mut loss = self.network.loss;
        for f in &self.faults {
            if let Fault::Loss {
                links,
                loss: l,
                at_hour,
                hours,
            } = f
            {
                let from = hours_ms(*at_hour);
                let active =
                    self.now >= from && hours.is_none_or(|h| self.now < hours_ms(at_hour + h));
                if *links == level && active {
                    loss = *l;
                }
            }
        }
        loss
    }

    /// Writes to `doc` at node `i` as the node's repository would: run `f`,
    /// commit with the simulated time, sign the new changes, acknowledge
    /// them and tell the engine; a charter write makes the node look at
    /// trust again, as the daemon does. `None` when the node is down or
    /// recovering, or when `f` refuses (nothing is then written).
    pub fn write<R>(
        &mut self,
        i: usize,
        doc: &DocumentId,
        f: impl FnOnce(&mut AutoCommit) -> Result<R, ModelError>,
    ) -> Option<R> {
        let now = self.now;
        let wall = self.wall();
        let n = &mut self.nodes[i];
        if n.engine.is_none() || n.recovering {
            return None;
        }
        let actor = n.id.actor.clone();
        let d = n
            .store
            .docs
            .entry(doc.clone())
            .or_insert_with(|| AutoCommit::new().with_actor(actor));
        let before = d.get_heads();
        let r = match f(d) {
            Ok(r) => r,
            Err(_) => {
                d.rollback();
                return None;
            }
        };
        d.commit_with(CommitOptions::default().with_time(wall.timestamp()));
        let mut new = Vec::new();
        for change in d.get_changes(&before) {
            if change.actor_id() == &n.id.actor {
                new.push(change.hash());
            }
        }
        for hash in new {
            if let Some(sig) = node::trust::signing::sign(&n.id.keypair, doc, &hash) {
                n.store.signatures.insert(hash.0, (n.id.key, sig));
            }
            n.acked.push(Acked {
                doc: doc.clone(),
                hash,
                at_ms: now,
                lost_with_store: false,
            });
            self.counters.writes += 1;
            // A node its parent no longer admits writes where nobody takes
            // the work: nothing has to converge after it.
            if !(n.id.parent.is_some() && self.trust_refused[i]) {
                self.last_change_ms = now;
                self.last_write_ms = now;
            }
        }
        self.feed(i, Input::LocalChange { doc: doc.clone() });
        if doc == &charter_id(&self.nodes[i]) {
            self.recheck(i);
        }
        Some(r)
    }

    /// True when no message is in flight, every node is up, every link
    /// whose ends admit each other is connected, and both ends of every
    /// such link report it settled.
    pub fn quiet(&self) -> bool {
        if self.in_flight > 0 {
            return false;
        }
        (0..self.nodes.len()).all(|c| {
            let Some(p) = self.nodes[c].id.parent else {
                return self.nodes[c].engine.is_some();
            };
            if self.trust_refused[c] {
                return self.nodes[c].engine.is_some();
            }
            self.links[c].is_some()
                && [(c, p), (p, c)].iter().all(|&(me, other)| {
                    self.nodes[me].engine.as_ref().is_some_and(|e| {
                        e.peer_status(&self.nodes[other].peer)
                            .is_some_and(|s| s.settled)
                    })
                })
        })
    }
}

/// An exponential waiting time for `per_hour` events an hour, in ms (at
/// least 1).
pub fn exp_ms(rng: &mut StdRng, per_hour: f64) -> u64 {
    if per_hour <= 0.0 {
        return u64::MAX / 4;
    }
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    ((-u.ln() / per_hour) * 3_600_000.0).max(1.0) as u64
}
