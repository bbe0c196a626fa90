//! Blobs: serving them to entitled peers, fetching the ones referenced by
//! received reports, and the writer thread that commits them.

use std::path::PathBuf;
use std::time::Duration;

use crdt_model::DocumentId;
use libp2p::{PeerId, request_response};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::engine::{PeerKey, Policy as _};
use crate::net::blob::{Assembly, BlobTree, BlobWireError, ChunkRequest, ChunkResponse, Progress};
use crate::net::blob_serve::serve_noting_damage;
use crate::net::codec::Frame;
use crate::net::rehash_budget::{REHASH_BYTES_PER_WINDOW, REHASH_WINDOW, RehashBudget, Spend};
use crate::store::{BlobHash, Store};
use crate::trust::{Member, may_write};

use super::*;

/// Blob fetches in flight at once.
pub(super) const BLOB_FETCHES_MAX: usize = 8;
/// Chunks read for peers at once, each on a blocking thread.
pub(super) const BLOB_SERVES_MAX: usize = 4;
/// First wait before asking again for a blob that a peer did not hold (it
/// may still be fetching it itself) or failed to send; doubles per attempt.
pub(super) const BLOB_RETRY_MS_MIN: u64 = 2_000;
/// Longest wait between attempts.
pub(super) const BLOB_RETRY_MS_MAX: u64 = 300_000;
/// Attempts before a blob is given up until its document changes again.
pub(super) const BLOB_ATTEMPTS_MAX: u32 = 12;
/// Blob fetches waiting to start.
pub(super) const BLOB_QUEUE_MAX: usize = 100_000;

/// A chunk read for a peer: where to answer, and the encoded response.
pub(super) type ChunkRead = (request_response::ResponseChannel<Vec<u8>>, Vec<u8>);

/// A verified blob on its way to the writer thread, with the tree it was
/// verified against and the partial file holding the same bytes, which the
/// writer renames into the store's blobs (when it could be written).
pub type BlobWrite = (BlobHash, Vec<u8>, BlobTree, Option<PathBuf>);
/// What the loop hears of a blob that may be damaged.
#[derive(Debug)]
pub(super) enum BlobDamage {
    /// A reader met bytes or a size that do not match the hash.
    Suspected(BlobHash),
    /// Checked off the loop: where the damaged file was set aside, or
    /// `None` (sound, gone, or the check failed).
    Checked(BlobHash, Option<PathBuf>),
}

/// The writer's answer: the blob, its size, and whether it was committed
/// (or why not).
pub(super) type BlobWritten = (BlobHash, usize, Result<(), String>);

pub(super) struct Fetch {
    pub(super) assembly: Assembly,
    /// Earlier attempts at this blob.
    pub(super) attempts: u32,
    /// Verified bytes already written to the partial blob on disk.
    pub(super) kept: u64,
}

/// A fetch ready to go: its assembly (fresh, or resumed from what an
/// earlier one kept), the peer to ask, earlier attempts.
pub(super) type Resumed = (Assembly, PeerId, u32);

/// A blob to ask for again once `at` has passed.
pub(super) struct BlobRetry {
    pub(super) hash: BlobHash,
    pub(super) attempts: u32,
    pub(super) at: Instant,
}

impl Daemon {
    /// May `peer` have the blob `hash`? Only if it may read a reports
    /// document this node holds that references it.
    pub(super) fn entitled_to_blob(&mut self, peer: &PeerId, hash: &BlobHash) -> bool {
        let Some(engine) = self.engine.as_ref() else {
            return false;
        };
        let key = PeerKey::new(peer.to_string());
        let policy = engine.policy();
        self.node
            .referenced_by_readable(hash, |doc| policy.may_share(&key, doc))
            .unwrap_or_else(|e| {
                warn!(%peer, %hash, error = %e, "cannot tell which documents reference a blob");
                false
            })
    }

    /// Queues the blobs `added` that a change to `doc_id` newly
    /// references, with those given up before that the document
    /// references: a change to the document is when to try them again.
    pub(super) fn want_blobs(&mut self, doc_id: &DocumentId, added: Vec<BlobHash>) {
        if !super::blob_demand::fetches_eagerly(self.node.config().role) {
            return;
        }
        let Some(from) = self.source.or_else(|| self.up.iter().next().copied()) else {
            return;
        };
        let again: Vec<BlobHash> = self
            .given_up
            .iter()
            .filter(|h| self.node.index_references(doc_id, h))
            .copied()
            .collect();
        for h in &again {
            self.given_up.remove(h);
        }
        for h in added.into_iter().chain(again) {
            if self.wanted.contains(&h) || self.node.store().has_blob(&h).unwrap_or(true) {
                continue;
            }
            if self.fetch_queue.len() >= BLOB_QUEUE_MAX {
                warn!("blob fetch queue is full; the rest waits for the next change");
                return;
            }
            self.wanted.insert(h);
            self.fetch_queue.push_back((h, from, 0));
        }
    }

    /// At start: the fetches a stopped node left unfinished are asked for
    /// again once a peer is connected, and resume from what they kept. A
    /// partial blob no held report references any more is deleted. A
    /// district, which fetches only when asked, keeps its partials for the
    /// next `blob get`.
    pub(super) fn resume_partial_fetches(&mut self) {
        let eager = super::blob_demand::fetches_eagerly(self.node.config().role);
        for hash in self.partials.list() {
            let referenced = self
                .node
                .referenced_by_readable(&hash, |_| true)
                .unwrap_or(true);
            if !referenced {
                self.partials.discard(&hash);
            } else if eager && self.wanted.insert(hash) {
                debug!(%hash, "resuming an unfinished blob fetch");
                self.blob_retries.push(BlobRetry {
                    hash,
                    attempts: 0,
                    at: Instant::now(),
                });
            }
        }
    }

    pub(super) fn start_fetches(&mut self) {
        while self.fetching.len() + self.storing + self.resuming < BLOB_FETCHES_MAX {
            let Some((hash, peer, attempts)) = self.fetch_queue.pop_front() else {
                return;
            };
            let max = crdt_model::report::ATTACHMENT_BYTES_MAX;
            if !self.partials.has(&hash) {
                self.launch((Assembly::new(hash, max), peer, attempts));
                continue;
            }
            // Reading and checking what was kept (up to 16 MiB, hashed)
            // happens off the loop; the fetch goes on when it comes back.
            self.resuming += 1;
            let partials = self.partials.clone();
            let done = self.resumed_tx.clone();
            tokio::task::spawn_blocking(move || {
                let assembly = match partials.load(&hash, max) {
                    Some(partial) => Assembly::resume(hash, max, partial),
                    None => Assembly::new(hash, max),
                };
                // The loop is gone when this fails: nothing to resume then.
                let _ = done.blocking_send((assembly, peer, attempts));
            });
        }
    }

    /// Sends the first request of a fetch, or hands the blob to the writer
    /// when what was kept already holds all of it.
    pub(super) fn launch(&mut self, (mut assembly, peer, attempts): Resumed) {
        let hash = assembly.hash;
        let kept = assembly.resumed();
        if kept > 0 {
            debug!(%hash, bytes = kept, "resuming a blob fetch");
        }
        if let Some(bytes) = assembly.complete() {
            self.hand_to_writer(hash, bytes, &mut assembly, kept);
            return;
        }
        let id = self
            .swarm
            .behaviour_mut()
            .blob
            .send_request(&peer, Frame::Bytes(assembly.first().encode()));
        self.fetching.insert(
            id,
            Fetch {
                assembly,
                attempts,
                kept,
            },
        );
    }

    /// A fetch's kept state was read off the loop: it goes on.
    pub(super) fn resumed(&mut self, resumed: Resumed) {
        self.resuming = self.resuming.saturating_sub(1);
        self.launch(resumed);
        self.start_fetches();
    }

    /// Keeps what a fetch verified since it was last kept, on disk.
    fn keep_partial(&mut self, fetch: &mut Fetch) {
        let Some((total, tree, bytes)) = fetch.assembly.kept() else {
            return;
        };
        let hash = fetch.assembly.hash;
        match self.partials.save(&hash, total, tree, bytes, fetch.kept) {
            Ok(()) => fetch.kept = bytes.len() as u64,
            Err(e) => {
                warn!(%hash, error = %e, "cannot keep a partial blob; a new attempt starts over")
            }
        }
    }

    /// Sends a whole, verified blob to the writer thread (or stores it here
    /// when the writer is behind), with a log line saying what it cost. Its
    /// partial file first gets the bytes not kept yet (`kept` are there), so
    /// that the writer renames that file into the store instead of writing
    /// the blob again.
    fn hand_to_writer(
        &mut self,
        hash: BlobHash,
        bytes: Vec<u8>,
        assembly: &mut Assembly,
        kept: u64,
    ) {
        info!(
            %hash,
            bytes = bytes.len(),
            received = assembly.received(),
            resumed = assembly.resumed(),
            "fetched blob"
        );
        self.metrics.blob_bytes_resumed.inc_by(assembly.resumed());
        let Some(tree) = assembly.take_tree() else {
            // Done means the size was proven, so the tree is there.
            warn!(%hash, "a fetched blob came without its tree; fetching it again");
            self.storing += 1;
            self.blob_stored((hash, bytes.len(), Err("fetched without its tree".into())));
            return;
        };
        let partial = match self
            .partials
            .save(&hash, tree.tree.size(), &tree.data, &bytes, kept)
        {
            Ok(()) => Some(self.partials.data_file(&hash)),
            Err(e) => {
                debug!(%hash, error = %e, "cannot complete the partial file; the writer writes the blob");
                None
            }
        };
        match self.blob_writes.try_send((hash, bytes, tree, partial)) {
            Ok(()) => self.storing += 1,
            // The writer is gone or behind: store it here.
            Err(e) => {
                let write = e.into_inner();
                let len = write.1.len();
                let r = store_blobs(self.node.store(), std::slice::from_ref(&write));
                self.storing += 1;
                self.blob_stored((hash, len, r.into_iter().next().unwrap_or(Ok(()))));
            }
        }
    }

    /// The writer answered for a fetched blob.
    pub(super) fn blob_stored(&mut self, (hash, len, result): BlobWritten) {
        self.storing = self.storing.saturating_sub(1);
        match result {
            Ok(()) => {
                debug!(%hash, bytes = len, "stored a fetched blob");
                self.partials.discard(&hash);
                // The blob gauges count files: count them again soon.
                self.metrics_dirty = true;
            }
            Err(e) => warn!(%hash, error = %e, "cannot store a fetched blob"),
        }
        self.wanted.remove(&hash);
        self.blob_arrived(&hash);
        self.start_fetches();
    }

    /// A fetch failed: ask again later, with a longer wait each time, or
    /// give up after [`BLOB_ATTEMPTS_MAX`] attempts (the next change to the
    /// report's document asks anew).
    pub(super) fn fetch_failed(&mut self, hash: BlobHash, attempts: u32) {
        let attempts = attempts + 1;
        if attempts >= BLOB_ATTEMPTS_MAX || self.blob_retries.len() >= BLOB_QUEUE_MAX {
            warn!(%hash, attempts, "giving up on a blob for now");
            self.wanted.remove(&hash);
            if self.given_up.len() < BLOB_QUEUE_MAX {
                self.given_up.insert(hash);
            }
            self.blob_given_up(&hash);
            return;
        }
        let wait = BLOB_RETRY_MS_MIN
            .saturating_mul(1 << (attempts - 1).min(20))
            .min(BLOB_RETRY_MS_MAX);
        self.blob_retries.push(BlobRetry {
            hash,
            attempts,
            at: Instant::now() + Duration::from_millis(wait),
        });
    }

    /// Queues the retries that are due, each with an admitted, connected
    /// peer: a different one on each attempt when there are several.
    pub(super) fn retry_fetches(&mut self) {
        let now = Instant::now();
        if !self.blob_retries.iter().any(|r| r.at <= now) {
            return;
        }
        let mut peers: Vec<PeerId> = self
            .up
            .iter()
            .filter(|p| self.connected.contains_key(p))
            .copied()
            .collect();
        peers.sort();
        if peers.is_empty() {
            return;
        }
        let (due, later): (Vec<BlobRetry>, Vec<BlobRetry>) = std::mem::take(&mut self.blob_retries)
            .into_iter()
            .partition(|r| r.at <= now);
        self.blob_retries = later;
        for r in due {
            let order = self.likely_holders_first(&r.hash, &peers);
            let peer = order[r.attempts as usize % order.len()];
            self.fetch_queue.push_back((r.hash, peer, r.attempts));
        }
        self.start_fetches();
    }

    /// `peers` with those that write a reports document referencing `hash`
    /// first (the community that took the photo, a street that added it):
    /// they hold it and will serve it. A fetch resumed after a restart no
    /// longer knows which peer it came from, and asking a community for
    /// another community's photo only earns a refusal there.
    fn likely_holders_first(&mut self, hash: &BlobHash, peers: &[PeerId]) -> Vec<PeerId> {
        let Some(engine) = self.engine.as_ref() else {
            return peers.to_vec();
        };
        let members: Vec<(PeerId, Option<Member>)> = peers
            .iter()
            .map(|p| {
                let member = engine.policy().peer(&PeerKey::new(p.to_string())).cloned();
                (*p, member)
            })
            .collect();
        let (mut first, mut rest) = (Vec::new(), Vec::new());
        for (peer, member) in members {
            let holds = member.is_some_and(|m| {
                self.node
                    .referenced_by_readable(hash, |doc| may_write(&m, doc))
                    .unwrap_or(false)
            });
            if holds {
                first.push(peer);
            } else {
                rest.push(peer);
            }
        }
        first.extend(rest);
        first
    }

    pub(super) fn on_blob(&mut self, event: request_response::Event<Frame, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                if !self.peer_creds.contains_key(&peer) {
                    // Only a request let in just before the gate closed gets here.
                    debug!(%peer, "refused a blob request from a peer no longer admitted");
                    self.refuse_chunk(channel);
                    return;
                }
                let decoded = match &request {
                    Frame::Bytes(b) => ChunkRequest::decode(b),
                    Frame::Oversized { .. } => {
                        Err(BlobWireError::Malformed("request larger than 45 bytes"))
                    }
                };
                let decoded = decoded.and_then(|req| {
                    if self.entitled_to_blob(&peer, &req.hash) {
                        Ok(req)
                    } else {
                        Err(BlobWireError::NotEntitled)
                    }
                });
                match decoded {
                    Ok(req) => self.serve_later(peer, req, channel),
                    Err(e) => {
                        warn!(%peer, error = %e, "refused a blob request");
                        self.refuse_chunk(channel);
                    }
                }
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                let Some(mut fetch) = self.fetching.remove(&request_id) else {
                    return;
                };
                let received = fetch.assembly.received();
                let progress = match ChunkResponse::decode(&response) {
                    Ok(resp) => fetch.assembly.accept(resp),
                    Err(e) => Progress::Failed(e.to_string()),
                };
                self.metrics
                    .blob_bytes_received
                    .inc_by(fetch.assembly.received() - received);
                match progress {
                    Progress::Next(req) => {
                        self.keep_partial(&mut fetch);
                        let id = self
                            .swarm
                            .behaviour_mut()
                            .blob
                            .send_request(&peer, Frame::Bytes(req.encode()));
                        self.fetching.insert(id, fetch);
                    }
                    Progress::Done(bytes) => {
                        let hash = fetch.assembly.hash;
                        self.hand_to_writer(hash, bytes, &mut fetch.assembly, fetch.kept);
                    }
                    Progress::NotHeld => {
                        debug!(%peer, hash = %fetch.assembly.hash, "peer does not hold the blob yet; asking again later");
                        self.fetch_failed(fetch.assembly.hash, fetch.attempts);
                    }
                    Progress::Refused => {
                        debug!(%peer, hash = %fetch.assembly.hash, "peer would not serve the blob (yet); asking again later");
                        self.fetch_failed(fetch.assembly.hash, fetch.attempts);
                    }
                    Progress::Failed(why) => {
                        warn!(%peer, hash = %fetch.assembly.hash, reason = %why, "refused a blob from peer; nothing stored");
                        if fetch.assembly.kept().is_none() {
                            // What was kept is no longer trusted (see `accept`).
                            self.partials.discard(&fetch.assembly.hash);
                        }
                        self.fetch_failed(fetch.assembly.hash, fetch.attempts);
                    }
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(f) = self.fetching.remove(&request_id) {
                    debug!(%peer, hash = %f.assembly.hash, %error, "blob fetch failed");
                    self.fetch_failed(f.assembly.hash, f.attempts);
                }
            }
            request_response::Event::InboundFailure {
                peer,
                error: request_response::InboundFailure::ConnectionClosed,
                ..
            } => {
                debug!(%peer, "a peer's connection closed before its blob request was answered");
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                warn!(%peer, %error, "refused a blob request");
            }
            _ => {}
        }
    }
}

impl Daemon {
    /// Queues a chunk for a peer; it is read on a blocking thread, at most
    /// [`BLOB_SERVES_MAX`] at once, so the loop never reads blobs itself.
    /// A full queue, or a peer past its share of it, answers "refused": the
    /// fetcher tries again later. Peers are read in turn (`serve_queue`).
    fn serve_later(
        &mut self,
        peer: PeerId,
        req: ChunkRequest,
        channel: request_response::ResponseChannel<Vec<u8>>,
    ) {
        if let Err((_, channel)) = self.serve_queue.push(peer, (req, channel)) {
            debug!(%peer, "blob serving queue full, or this peer's share of it; refusing a chunk request");
            self.refuse_chunk(channel);
            return;
        }
        self.start_serving();
    }

    /// Starts reading queued chunks while fewer than [`BLOB_SERVES_MAX`] are read.
    pub(super) fn start_serving(&mut self) {
        while self.serving < BLOB_SERVES_MAX {
            let Some((peer, (req, channel))) = self.serve_queue.pop() else {
                return;
            };
            self.serving += 1;
            let store = self.node.store().read_only_view();
            let done = self.served_tx.clone();
            let damaged = self.damaged_tx.clone();
            let budget = std::sync::Arc::clone(&self.rehash_budget);
            let refused_rehash = self.metrics.blob_ranges_refused_rehash.clone();
            tokio::task::spawn_blocking(move || {
                if !may_rehash(&store, &budget, peer, &req.hash) {
                    refused_rehash.inc();
                    let _ = done.blocking_send((channel, ChunkResponse::Refused.encode()));
                    return;
                }
                let (resp, found_damaged) = serve_noting_damage(&store, &req);
                debug!(%peer, hash = %req.hash, offset = req.offset, "served a blob range");
                if found_damaged {
                    // Full: the loop has damage to see to already, and the
                    // next request for this blob finds it again.
                    let _ = damaged.try_send(BlobDamage::Suspected(req.hash));
                }
                // The loop is gone when this fails: nothing to answer then.
                let _ = done.blocking_send((channel, resp.encode()));
            });
        }
    }

    /// A reader met a held blob whose bytes do not match its hash (serving
    /// it, or reading it for `blob get`), or the loop's check of one ended.
    /// A suspicion is checked off the loop, the whole file hashed again, so
    /// that a read that failed for another reason, or a good file written
    /// since, is never moved. Found damaged, the file goes aside into
    /// `damaged-blobs/`, so the blob is no longer held, and a street or
    /// community fetches it again from a peer that holds it; a district,
    /// which fetches on demand, does at the next `blob get`.
    pub(super) fn blob_damage(&mut self, note: BlobDamage) {
        let hash = match note {
            BlobDamage::Suspected(hash) => {
                if !self.damage_checks.insert(hash) {
                    return;
                }
                let store = self.node.store().clone();
                let done = self.damaged_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let aside = store.set_aside_if_damaged(&hash).unwrap_or_else(|e| {
                        warn!(%hash, error = %e, "cannot check a blob suspected damaged");
                        None
                    });
                    // The loop is gone when this fails: nothing to do then.
                    let _ = done.blocking_send(BlobDamage::Checked(hash, aside));
                });
                return;
            }
            BlobDamage::Checked(hash, None) => {
                self.damage_checks.remove(&hash);
                return;
            }
            BlobDamage::Checked(hash, Some(aside)) => {
                self.damage_checks.remove(&hash);
                warn!(%hash, aside = %aside.display(), "set a damaged blob aside; fetching it again from a peer");
                self.metrics.blobs_set_aside.inc();
                hash
            }
        };
        let eager = super::blob_demand::fetches_eagerly(self.node.config().role);
        if eager && self.wanted.insert(hash) {
            self.blob_retries.push(BlobRetry {
                hash,
                attempts: 0,
                at: Instant::now(),
            });
        }
    }

    /// Answers a chunk request with "refused".
    fn refuse_chunk(&mut self, channel: request_response::ResponseChannel<Vec<u8>>) {
        let refused = ChunkResponse::Refused.encode();
        let _ = self
            .swarm
            .behaviour_mut()
            .blob
            .send_response(channel, refused);
    }

    /// Sends a chunk read off the loop.
    pub(super) fn chunk_read(&mut self, (channel, bytes): ChunkRead) {
        self.serving = self.serving.saturating_sub(1);
        let _ = self
            .swarm
            .behaviour_mut()
            .blob
            .send_response(channel, bytes);
        self.start_serving();
    }
}

/// Whether `peer` may have a range of blob `hash` served now: always when
/// its tree is in memory, else only within the peer's budget for making
/// this node hash photos again (`net::rehash_budget`), which the whole
/// file is charged against. Runs on a reading thread: one `stat`.
fn may_rehash(
    store: &Store,
    budget: &std::sync::Mutex<RehashBudget>,
    peer: PeerId,
    hash: &BlobHash,
) -> bool {
    // A stat that fails leaves the error to the read that follows. A tree
    // pushed out between this look and the read is made again uncharged:
    // at most one per reading thread, so the budget is off by that much.
    let bytes = store.blob_rehash_bytes(hash).unwrap_or(0);
    if bytes == 0 {
        return true;
    }
    // A poisoned lock means a reading thread panicked mid-spend; the
    // counts are plain numbers, still usable.
    let spent = budget
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .try_spend(peer, bytes, std::time::Instant::now());
    match spent {
        Spend::Granted => true,
        Spend::Refused { first } => {
            if first {
                warn!(
                    %peer,
                    %hash,
                    budget_mib = REHASH_BYTES_PER_WINDOW / (1024 * 1024),
                    window_s = REHASH_WINDOW.as_secs(),
                    "a peer spent its budget for making this node hash photos again; refusing its ranges of photos whose trees are not in memory until its window ends"
                );
            }
            false
        }
    }
}

/// Stores fetched blobs, each checked against the tree it was verified
/// with (its partial file renamed into the store when there is one, else
/// its bytes written), and commits them in one batch: one directory sync
/// for all of them (a group commit). Returns one result per blob, in
/// order; a commit that fails fails them all.
pub fn store_blobs(store: &Store, writes: &[BlobWrite]) -> Vec<Result<(), String>> {
    let mut batch = match store.batch() {
        Ok(b) => b,
        Err(e) => return writes.iter().map(|_| Err(e.to_string())).collect(),
    };
    let mut results: Vec<Result<(), String>> = writes
        .iter()
        .map(|(hash, bytes, tree, partial)| {
            let adopted = partial.as_deref().map(|from| {
                batch
                    .adopt_verified_blob(hash, bytes, tree, from)
                    .inspect_err(|e| {
                        warn!(%hash, error = %e, "cannot take the partial file of a fetched blob; writing the blob instead")
                    })
            });
            match adopted {
                Some(Ok(())) => Ok(()),
                _ => batch
                    .put_verified_blob(hash, bytes, tree)
                    .map_err(|e| e.to_string()),
            }
        })
        .collect();
    if let Err(e) = batch.commit() {
        for r in results.iter_mut().filter(|r| r.is_ok()) {
            *r = Err(e.to_string());
        }
    }
    results
}

/// A thread that stores fetched blobs, every blob queued since its last
/// commit in one durable batch, and answers for every one; it ends when the
/// daemon drops its sender.
pub(super) fn spawn_blob_writer(
    store: Store,
) -> (mpsc::Sender<BlobWrite>, mpsc::Receiver<BlobWritten>) {
    let (tx, mut rx) = mpsc::channel::<BlobWrite>(BLOB_FETCHES_MAX);
    let (done_tx, done_rx) = mpsc::channel(BLOB_FETCHES_MAX);
    tokio::task::spawn_blocking(move || {
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            while group.len() < BLOB_FETCHES_MAX {
                match rx.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            let results = store_blobs(&store, &group);
            for ((hash, bytes, _, _), r) in group.iter().zip(results) {
                if done_tx.blocking_send((*hash, bytes.len(), r)).is_err() {
                    return;
                }
            }
        }
    });
    (tx, done_rx)
}
