//! The group writer: store writes gathered into groups (everything one
//! daemon step produced), several groups committed in one durable redb
//! transaction by a thread of its own, so the node's loop does not wait for
//! fsync while peers' changes stream in.
//!
//! Groups commit in the order they were handed over, each whole or not at
//! all: a sync state can never become durable before the changes it
//! describes, which were handed over in the same group or an earlier one.
//! After a failed commit the writer refuses every group until the repo has
//! seen the failure and dropped from memory what the disk lacks
//! ([`Msg::Resume`]), so no later group builds on a lost one.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use automerge::ChangeHash;

use crate::store::{Store, StoreError};

/// Groups handed to the writer and not yet taken up; the loop waits (back
/// pressure) when this many are queued.
pub const WRITE_GROUPS_QUEUED_MAX: usize = 64;
/// Writes committed in one transaction at most (a group is never split, so
/// one large group may exceed it).
pub const WRITE_ROUND_OPS_MAX: usize = 8_192;

/// One store write.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// `save_after` of a document's previous heads, and its heads after.
    Chunk {
        doc: String,
        chunk: Vec<u8>,
        heads: Vec<ChangeHash>,
    },
    /// A compacted document, replacing its chunks.
    Snapshot {
        doc: String,
        bytes: Vec<u8>,
        heads: Vec<ChangeHash>,
    },
    Blob(Vec<u8>),
    Signature {
        hash: [u8; 32],
        author: [u8; 32],
        signature: Vec<u8>,
    },
    Author {
        key: [u8; 32],
        credential: Vec<u8>,
    },
    SyncState {
        peer: String,
        doc: String,
        state: Vec<u8>,
    },
    Meta {
        key: String,
        value: Vec<u8>,
    },
}

/// Writes `ops` in one durable transaction: all of them or none.
pub(crate) fn commit_ops<'a>(
    store: &Store,
    ops: impl IntoIterator<Item = &'a Op>,
) -> Result<(), StoreError> {
    let mut batch = store.batch()?;
    for op in ops {
        match op {
            Op::Chunk { doc, chunk, heads } => batch.append_changes(doc, chunk, heads)?,
            Op::Snapshot { doc, bytes, heads } => batch.put_snapshot(doc, bytes, heads)?,
            Op::Blob(bytes) => {
                batch.put_blob(bytes)?;
            }
            Op::Signature {
                hash,
                author,
                signature,
            } => batch.put_signature(hash, author, signature)?,
            Op::Author { key, credential } => batch.put_author(key, credential)?,
            Op::SyncState { peer, doc, state } => batch.put_sync_state(peer, doc, state)?,
            Op::Meta { key, value } => batch.put_meta(key, value)?,
        }
    }
    batch.commit()
}

/// A group of writes and its sequence number (rising by one per group).
pub(crate) struct Group {
    pub(crate) seq: u64,
    pub(crate) ops: Vec<Op>,
}

pub(crate) enum Msg {
    Group(Group),
    /// The repo has dropped everything not durable after a failure: commit
    /// groups again.
    Resume,
}

/// What the writer has done, shared with the repo.
#[derive(Debug, Default, Clone)]
pub(crate) struct Progress {
    /// The newest durable group. It does not move past a failed group
    /// until the repo has seen the failure: a group whose sequence number
    /// is above it when a failure is reported is lost.
    pub(crate) durable_through: u64,
    /// Failed commits so far; the repo compares it with the count it has
    /// handled.
    pub(crate) failures: u64,
    /// Why the last commit failed.
    pub(crate) failure: Option<String>,
}

struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
}

/// The handle the repo keeps: a bounded queue to the writer thread and what
/// it reports back. Dropping it commits what is queued and joins the thread.
pub(crate) struct GroupWriter {
    tx: Option<SyncSender<Msg>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupWriter {
    /// Starts the writer thread over `store`.
    pub(crate) fn spawn(store: Store) -> std::io::Result<GroupWriter> {
        let (tx, rx) = sync_channel(WRITE_GROUPS_QUEUED_MAX);
        let shared = Arc::new(Shared {
            progress: Mutex::new(Progress::default()),
            changed: Condvar::new(),
        });
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("group-writer".into())
            .spawn(move || run(&store, &rx, &theirs))?;
        Ok(GroupWriter {
            tx: Some(tx),
            shared,
            thread: Some(thread),
        })
    }

    /// Hands `msg` to the writer; blocks while the queue is full. `false`
    /// if the writer thread is gone.
    pub(crate) fn send(&self, msg: Msg) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        match tx.try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(msg)) => {
                tracing::debug!(
                    queued = WRITE_GROUPS_QUEUED_MAX,
                    "store writer queue full; waiting"
                );
                tx.send(msg).is_ok()
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// What the writer has done so far.
    pub(crate) fn progress(&self) -> Progress {
        lock(&self.shared.progress).clone()
    }

    /// Waits until group `seq` is durable or a failure newer than
    /// `failures_seen` is reported; returns the progress then.
    pub(crate) fn wait(&self, seq: u64, failures_seen: u64) -> Progress {
        let mut p = lock(&self.shared.progress);
        while p.durable_through < seq && p.failures == failures_seen {
            p = self
                .shared
                .changed
                .wait(p)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        p.clone()
    }
}

impl Drop for GroupWriter {
    fn drop(&mut self) {
        // Closing the queue lets the thread commit what is left and stop.
        self.tx.take();
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the store writer thread panicked");
        }
    }
}

fn lock(m: &Mutex<Progress>) -> MutexGuard<'_, Progress> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The writer thread: takes every group queued (up to
/// [`WRITE_ROUND_OPS_MAX`] writes) and commits them in one transaction.
fn run(store: &Store, rx: &Receiver<Msg>, shared: &Shared) {
    let mut refusing = false;
    while let Ok(first) = rx.recv() {
        let mut round: Vec<Group> = Vec::new();
        let mut ops = 0;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Resume => refusing = false,
                // Refused: the repo drops the documents of every group
                // not durable when it sees the failure.
                Msg::Group(_) if refusing => {}
                Msg::Group(g) => {
                    ops += g.ops.len();
                    round.push(g);
                }
            }
            if ops < WRITE_ROUND_OPS_MAX {
                next = rx.try_recv().ok();
            }
        }
        let Some(last) = round.last().map(|g| g.seq) else {
            continue;
        };
        let result = commit_ops(store, round.iter().flat_map(|g| &g.ops));
        let mut p = lock(&shared.progress);
        match result {
            Ok(()) => p.durable_through = last,
            Err(e) => {
                tracing::warn!(error = %e, groups = round.len(), "cannot commit writes from sync; they are dropped from memory and fetched again");
                refusing = true;
                p.failures += 1;
                p.failure = Some(e.to_string());
            }
        }
        drop(p);
        shared.changed.notify_all();
    }
}
