//! One Yizhan end of the samod comparison: the real engine with signed
//! changes and the node's own checks (`crate::store::SimDocs`), driven on a
//! thread of its own by a current-thread tokio runtime, as the node's driver
//! task drives it, over a [`super::duplex`] link.

use std::collections::BTreeSet;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use automerge::{ActorId, Change};
use chrono::{DateTime, Utc};
use crdt_model::DocumentId;
use futures::StreamExt;
use node::trust::Credential;
use node::trust::signing::TrustContext;
use tokio::sync::mpsc;
use yizhan_engine::{AllowAll, Engine, EngineConfig, Input, Output, PeerKey};

use super::duplex::{Arrivals, Half, Outbox};
use crate::store::{SimDocs, Store};

/// Who one end is.
pub struct Who {
    /// Its peer key, as the other end names it.
    pub key: PeerKey,
    /// Its actor id (its public key).
    pub actor: ActorId,
    /// Its admission chain, sent with its changes.
    pub credential: Credential,
    /// What it checks incoming changes against.
    pub trust: TrustContext,
    /// The wall-clock time its checks use.
    pub wall: DateTime<Utc>,
}

/// What the bench asks of an end.
pub enum Command {
    /// Connect to `peer` over `half`, with the sync states saved for it.
    Up {
        /// The other end.
        peer: PeerKey,
        /// This end of a fresh link.
        half: Half,
    },
    /// The connection to `peer` closed.
    Down {
        /// The other end.
        peer: PeerKey,
    },
    /// Take in these changes (their signatures already in the store) and
    /// tell the engine, as the node does after a local write.
    Write(Vec<(DocumentId, Vec<Change>)>),
    /// Hand the store back and stop.
    Stop(std_mpsc::Sender<Store>),
}

/// A running end: send it [`Command`]s; it reports every `Synced`
/// document on the channel given to [`spawn`].
pub struct Running {
    /// Where commands go.
    pub commands: mpsc::Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops the end and returns its store.
    pub fn stop(mut self) -> anyhow::Result<Store> {
        let (tx, rx) = std_mpsc::channel();
        self.commands
            .blocking_send(Command::Stop(tx))
            .ok()
            .context("the Yizhan end stopped early")?;
        let store = rx.recv().context("the Yizhan end stopped early")?;
        if let Some(t) = self.thread.take() {
            t.join().ok().context("the Yizhan end panicked")?;
        }
        Ok(store)
    }
}

struct End {
    who: Who,
    store: Store,
    engine: Engine,
    start: Instant,
    wake: Option<u64>,
    link: Option<(PeerKey, Outbox)>,
    arrivals: Option<Arrivals>,
    synced: std_mpsc::Sender<DocumentId>,
}

impl End {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Feeds one input, checking received changes on the spot as the node
    /// does, and returns the messages to send.
    fn feed(&mut self, input: Input) -> Vec<Vec<u8>> {
        let now = self.now_ms();
        let mut changed = BTreeSet::new();
        let (mut forged, mut withheld) = (0, 0);
        let mut docs = SimDocs {
            store: &mut self.store,
            actor: &self.who.actor,
            trust: &self.who.trust,
            credential: &self.who.credential,
            now: self.who.wall,
            changed: &mut changed,
            forged: &mut forged,
            withheld: &mut withheld,
        };
        let out =
            self.engine
                .handle_and_check(input, now, &mut docs, |docs, peer, doc, m, proof| {
                    docs.check(peer, doc, m, proof)
                });
        let mut sends = Vec::new();
        for o in out {
            match o {
                Output::Send { bytes, .. } => sends.push(bytes),
                Output::SaveSyncState { peer, doc, state } => {
                    self.store.sync_states.insert((peer, doc), state);
                }
                Output::Wake { at_ms } => self.wake = Some(at_ms),
                Output::Synced { doc, .. } => {
                    let _ = self.synced.send(doc);
                }
                Output::Refused { reason, .. } => eprintln!("bench samod: refused: {reason}"),
                Output::Check { .. } => {}
            }
        }
        if forged + withheld > 0 {
            eprintln!("bench samod: {forged} forged and {withheld} withheld changes");
        }
        sends
    }

    /// Applies changes whose signatures the store already holds (the
    /// bench's writers are the communities, not this end) and tells the
    /// engine, as the node does after taking in a write.
    fn write(&mut self, batch: Vec<(DocumentId, Vec<Change>)>) -> Vec<Vec<u8>> {
        let mut sends = Vec::new();
        for (doc, changes) in batch {
            let actor = self.who.actor.clone();
            let am = self
                .store
                .docs
                .entry(doc.clone())
                .or_insert_with(|| automerge::AutoCommit::new().with_actor(actor));
            if let Err(e) = am.apply_changes(changes) {
                eprintln!("bench samod: write to {doc} failed: {e}");
            }
            sends.extend(self.feed(Input::LocalChange { doc }));
        }
        sends
    }

    fn command(&mut self, command: Command) -> Result<Vec<Vec<u8>>, std_mpsc::Sender<Store>> {
        Ok(match command {
            Command::Up { peer, half } => {
                let sync_states = self
                    .store
                    .sync_states
                    .iter()
                    .filter(|((p, _), _)| p == &peer)
                    .map(|((_, d), s)| (d.clone(), s.clone()))
                    .collect();
                let (outbox, arrivals) = half.split();
                self.link = Some((peer.clone(), outbox));
                self.arrivals = Some(arrivals);
                self.feed(Input::PeerUp { peer, sync_states })
            }
            Command::Down { peer } => {
                self.link = None;
                self.arrivals = None;
                self.feed(Input::PeerDown { peer })
            }
            Command::Write(batch) => self.write(batch),
            Command::Stop(back) => return Err(back),
        })
    }
}

async fn drive(mut end: End, mut commands: mpsc::Receiver<Command>) {
    loop {
        let wake_at = end.wake.map(|ms| end.start + Duration::from_millis(ms));
        let sends = tokio::select! {
            biased;
            command = commands.recv() => {
                let Some(command) = command else { return };
                match end.command(command) {
                    Ok(sends) => sends,
                    Err(back) => {
                        let _ = back.send(std::mem::take(&mut end.store));
                        return;
                    }
                }
            }
            Some(bytes) = next(&mut end.arrivals) => {
                let Some((peer, _)) = &end.link else { continue };
                let peer = peer.clone();
                end.feed(Input::Message { peer, bytes })
            }
            () = sleep(wake_at) => {
                end.wake = None;
                end.feed(Input::Tick)
            }
        };
        if let Some((_, outbox)) = &mut end.link {
            for bytes in sends {
                if !outbox.send(bytes).await {
                    break;
                }
            }
        }
    }
}

async fn next(arrivals: &mut Option<Arrivals>) -> Option<Vec<u8>> {
    match arrivals {
        Some(a) => a.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Starts an end holding `store` on a thread of its own (`seed` drives its
/// engine's jitter); `synced` receives
/// every document the engine reports in sync with the other end.
pub fn spawn(
    who: Who,
    store: Store,
    seed: u64,
    synced: std_mpsc::Sender<DocumentId>,
) -> anyhow::Result<Running> {
    let (commands, rx) = mpsc::channel(64);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let end = End {
        who,
        store,
        engine: Engine::new(EngineConfig::default(), AllowAll, seed),
        start: Instant::now(),
        wake: None,
        link: None,
        arrivals: None,
        synced,
    };
    let thread = std::thread::Builder::new()
        .name("bench-yizhan".into())
        .spawn(move || runtime.block_on(drive(end, rx)))?;
    Ok(Running {
        commands,
        thread: Some(thread),
    })
}
