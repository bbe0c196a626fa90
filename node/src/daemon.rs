//! `yizhan node start`: the node's driver loop. One task owns the node (store
//! and documents), the sync engine and the libp2p swarm, and `select!`s over
//! network events, admin requests, the engine's timer, redial timers and the
//! shutdown signal. Commands reach it through the admin socket.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use automerge::{AutoCommit, ChangeHash};
use chrono::{DateTime, Utc};
use crdt_model::{DocKind, DocumentId};
use futures::StreamExt as _;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify, request_response};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{Instrument as _, debug, info, info_span, warn};

use crate::admin::{self, Call, PeerRow, Request, Response, SyncRow};
use crate::api::{Node, PeerRecord};
use crate::blob_refs::BlobRefs;
use crate::engine::{
    CheckOutcome, Docs, Engine, EngineConfig, Input, Output, PeerKey, Policy as _,
};
use crate::error::NodeError;
use crate::net::address_book;
use crate::net::blob::{
    Assembly, BlobWireError, ChunkRequest, ChunkResponse, Progress, SERVE_CACHE_BYTES,
    SERVE_CACHE_ENTRIES, ServeCache, serve,
};
use crate::net::codec::Frame;
use crate::net::strikes::{self, Strikes};
use crate::net::{Behaviour, BehaviourEvent, build_swarm};
use crate::repo::Repo;
use crate::store::{BlobHash, Store, StoreError};
use crate::trust::signing::{
    ChangeSignature, Proof, TrustContext, build_proof, changes_after, check_changes,
};
use crate::trust::{Credential, FederationPolicy, NodeKey};

/// Strikes a malformed or forged message counts; an oversized one counts more.
const STRIKE_WEIGHT_REFUSED: u32 = 1;
/// Strikes an oversized message counts.
const STRIKE_WEIGHT_OVERSIZED: u32 = 5;
/// Strikes up to which a peer's refusals are logged as warnings; beyond,
/// only its ban is (at [`strikes::STRIKES_MAX`]).
const STRIKES_LOGGED: u32 = 20;
/// How long a connected peer may go without presenting a valid credential.
const STRANGER_GRACE_MS: u64 = 10_000;
/// Addresses dialled again at most (explicit peers and recorded ones).
const REDIALS_MAX: usize = 1_024;
/// Wait before presenting a credential a peer did not acknowledge again.
const ADMISSION_RETRY_MS: u64 = 2_000;
/// Ignored charter entries remembered so each is logged once.
const CHARTER_IGNORED_MAX: usize = 10_000;
/// Admin connections served at once.
const ADMIN_CONNECTIONS_MAX: usize = 16;
/// How long an admin client may take to send its request line.
const ADMIN_READ_TIMEOUT_MS: u64 = 10_000;
/// First wait after a failed accept on the admin socket; doubles.
const ADMIN_ACCEPT_BACKOFF_MS_MIN: u64 = 100;
/// Longest wait after failed accepts.
const ADMIN_ACCEPT_BACKOFF_MS_MAX: u64 = 5_000;
/// Admin requests waiting for the loop.
const ADMIN_QUEUE_MAX: usize = 32;
/// Blob fetches in flight at once.
const BLOB_FETCHES_MAX: usize = 8;
/// First wait before asking again for a blob that a peer did not hold (it
/// may still be fetching it itself) or failed to send; doubles per attempt.
const BLOB_RETRY_MS_MIN: u64 = 2_000;
/// Longest wait between attempts.
const BLOB_RETRY_MS_MAX: u64 = 300_000;
/// Attempts before a blob is given up until its document changes again.
const BLOB_ATTEMPTS_MAX: u32 = 12;
/// Blob fetches waiting to start.
const BLOB_QUEUE_MAX: usize = 100_000;
/// First redial delay for an explicit peer; doubles up to the max.
const REDIAL_MS_MIN: u64 = 1_000;
/// How often a street rewrites its communities' summaries at most.
const SUMMARY_INTERVAL_MS: u64 = 2_000;
/// Longest redial delay.
const REDIAL_MS_MAX: u64 = 60_000;

/// Where a node listens when neither flags nor config say: every interface,
/// TCP and QUIC, on ports the OS picks.
pub const DEFAULT_LISTEN: [&str; 2] = ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"];

/// How to run a node.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Addresses to listen on; port 0 picks a free port.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial and keep dialling.
    pub peers: Vec<Multiaddr>,
    /// Discover peers on the LAN.
    pub mdns: bool,
}

struct Redial {
    addr: Multiaddr,
    peer: Option<PeerId>,
    backoff_ms: u64,
    next_at: Instant,
}

/// A verified blob on its way to the writer thread.
type BlobWrite = (BlobHash, Vec<u8>);
/// The writer's answer: the blob, its size, and whether it was committed.
type BlobWritten = (BlobHash, usize, Result<(), StoreError>);

struct Fetch {
    assembly: Assembly,
    /// Earlier attempts at this blob.
    attempts: u32,
}

/// A blob to ask for again once `at` has passed.
struct BlobRetry {
    hash: BlobHash,
    attempts: u32,
    at: Instant,
}

#[derive(Default)]
struct SyncInfo {
    in_sync: bool,
    last_synced: Option<DateTime<Utc>>,
}

/// The engine's view of the repository.
struct RepoDocs<'a> {
    repo: &'a mut Repo,
    now: DateTime<Utc>,
    /// What this node checks changes against; `None` checks nothing (no engine runs then).
    trust: Option<&'a TrustContext>,
    /// This node's own credential, sent with its changes.
    credential: Option<&'a Credential>,
}

impl Docs for RepoDocs<'_> {
    fn ids(&self) -> Vec<DocumentId> {
        self.repo.document_ids().unwrap_or_else(|e| {
            warn!(error = %e, "cannot list documents");
            Vec::new()
        })
    }

    fn get_mut(&mut self, id: &DocumentId) -> Option<&mut AutoCommit> {
        match self.repo.existing(id) {
            Ok(doc) => doc,
            Err(e) => {
                warn!(doc = %id, error = %e, "cannot load document");
                None
            }
        }
    }

    fn create(&mut self, id: &DocumentId) -> &mut AutoCommit {
        self.repo.create(id)
    }

    fn heads(&mut self, id: &DocumentId) -> Option<Vec<ChangeHash>> {
        self.repo.heads(id).unwrap_or_else(|e| {
            warn!(doc = %id, error = %e, "cannot read a document's heads");
            None
        })
    }

    fn changed(&mut self, id: &DocumentId, heads_before: &[ChangeHash]) {
        if let Err(e) = self.repo.persist_received(self.now, id, heads_before) {
            warn!(doc = %id, error = %e, "cannot persist changes from a peer");
        }
    }

    fn proof(&mut self, id: &DocumentId, base: &[ChangeHash]) -> Vec<u8> {
        let hashes = match self.repo.existing(id) {
            Ok(Some(doc)) => changes_after(doc, base),
            _ => return Vec::new(),
        };
        let store = self.repo.store();
        let me = self.trust.map(|t| t.me.key);
        let own = self.credential;
        let signature_of = |hash: &ChangeHash| match store.signature(&hash.0) {
            Ok(Some(rec)) => Some(ChangeSignature {
                hash: hash.0,
                author: NodeKey(rec.author),
                signature: rec.signature,
            }),
            Ok(None) => {
                debug!(doc = %id, %hash, "no signature held for a change; the peer will refuse it");
                None
            }
            Err(e) => {
                warn!(doc = %id, error = %e, "cannot read a signature");
                None
            }
        };
        let credential_of = |author: &NodeKey| {
            if Some(*author) == me {
                return own.cloned();
            }
            let bytes = store.author(&author.0).ok().flatten()?;
            serde_json::from_slice::<Credential>(&bytes).ok()
        };
        build_proof(&hashes, signature_of, credential_of).encode()
    }

    fn check(
        &mut self,
        _peer: &PeerKey,
        id: &DocumentId,
        message: &automerge::sync::Message,
        proof: &[u8],
    ) -> Result<CheckOutcome, String> {
        let Some(trust) = self.trust else {
            return Err("this node is not a member of a federation".into());
        };
        if message.changes.is_empty() {
            return Ok(CheckOutcome {
                refused: Vec::new(),
                filtered: trust.strip_refused(id, message, &self.heads(id).unwrap_or_default()),
            });
        }
        let proof = Proof::decode(proof)?;
        let mut empty = AutoCommit::new();
        let now = self.now;
        let current = match self.repo.existing(id) {
            Ok(Some(doc)) => doc,
            Ok(None) => &mut empty,
            Err(e) => return Err(format!("cannot load {id}: {e}")),
        };
        let verdict = check_changes(trust, id, current, message, &proof, now)?;
        // Keep signatures and credentials so this node can forward the changes.
        let r = self.repo.store().batch().and_then(|mut b| {
            for c in &verdict.accepted {
                b.put_signature(
                    &c.signature.hash,
                    &c.signature.author.0,
                    &c.signature.signature,
                )?;
                if let Some(cred) = &c.credential
                    && let Ok(bytes) = serde_json::to_vec(cred)
                {
                    b.put_author(&c.signature.author.0, &bytes)?;
                }
            }
            b.commit()
        });
        r.map_err(|e| format!("cannot store signatures: {e}"))?;
        Ok(verdict.into_outcome())
    }
}

struct Daemon {
    node: Node,
    swarm: Swarm<Behaviour>,
    /// `None` while this node has not joined a federation: it syncs nothing.
    engine: Option<Engine<FederationPolicy>>,
    /// Credentials of peers that presented a valid one, re-checked when the charter changes.
    peer_creds: HashMap<PeerId, Credential>,
    /// What incoming changes are checked against, once a member.
    trust: Option<TrustContext>,
    /// This node's credential, once a member.
    credential: Option<Credential>,
    seed: u64,
    started: Instant,
    wake: Option<Instant>,
    connected: HashMap<PeerId, (usize, Multiaddr)>,
    redials: Vec<Redial>,
    listen: Vec<Multiaddr>,
    sync_rows: BTreeMap<(PeerId, DocumentId), SyncInfo>,
    fetching: HashMap<request_response::OutboundRequestId, Fetch>,
    /// Blobs to fetch: hash, peer to ask, earlier attempts.
    fetch_queue: VecDeque<(BlobHash, PeerId, u32)>,
    /// Blobs that failed, waiting to be asked for again.
    blob_retries: Vec<BlobRetry>,
    wanted: BTreeSet<BlobHash>,
    /// Verified blobs for the writer thread, which commits each durably so
    /// the swarm's task does not wait for the disk.
    blob_writes: mpsc::Sender<BlobWrite>,
    /// What the writer committed (or could not).
    blob_written: mpsc::Receiver<BlobWritten>,
    /// Blobs handed to the writer and not yet answered; they count against
    /// [`BLOB_FETCHES_MAX`] so memory stays bounded.
    storing: usize,
    /// Blobs served lately, read and verified once per transfer.
    serve_cache: ServeCache,
    /// Which blobs each reports document references, for serving only to
    /// entitled peers.
    blob_refs: BlobRefs,
    /// Who sent the message being handled, to fetch the blobs it referenced.
    source: Option<PeerId>,
    sync_bytes_sent: u64,
    sync_bytes_received: u64,
    /// Communities whose summary this street must rewrite.
    summaries_due: BTreeSet<crdt_model::PlaceId>,
    /// When summaries were last written.
    summaries_written: Instant,
    /// Charter keys whose statements were ignored and logged once.
    charter_ignored: BTreeSet<String>,
    /// When the earliest admission known here lapses (unix seconds).
    next_expiry: Option<i64>,
    /// Peers to present our credential to again, and when (one entry per
    /// connected peer at most).
    admission_retries: Vec<(PeerId, Instant)>,
    /// Where connected peers that are not admitted yet say they listen.
    pending_addrs: address_book::Pending,
    /// Connected peers that have not presented a valid credential, since when.
    unadmitted: HashMap<PeerId, Instant>,
    /// Connections of strangers closed so far (for a log that does not flood).
    strangers_closed: u64,
    /// Strikes, bans and traffic budgets per peer.
    strikes: Strikes,
    /// Revoked keys and the number of cut-off records last read, to tell
    /// the engine when what this node accepts has changed.
    trust_fingerprint: (BTreeSet<NodeKey>, usize),
}

/// How many strikes a refusal counts: input that is broken or forged does;
/// what honest peers meet in ordinary operation (a document they may not
/// have, a peer not connected yet) does not.
fn strike_weight(reason: &crate::engine::Refusal) -> u32 {
    use crate::engine::Refusal::*;
    match reason {
        TooLarge { .. }
        | UnknownVersion { .. }
        | Malformed { .. }
        | Forged { .. }
        | Violation { .. }
        | BadSyncMessage { .. } => STRIKE_WEIGHT_REFUSED,
        _ => 0,
    }
}

/// Runs the node in `dir` until `shutdown` resolves.
pub async fn run(
    dir: &Path,
    opts: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let node = Node::open(dir)?;
    node.check_config_matches_admission()?;
    let span =
        info_span!("node", place = %node.config().place, peer = %short(&node.identity().peer_id()));
    run_node(node, dir.to_owned(), opts, shutdown)
        .instrument(span)
        .await
}

fn short(p: &PeerId) -> String {
    let s = p.to_string();
    s[s.len().saturating_sub(6)..].to_owned()
}

async fn run_node(
    node: Node,
    dir: PathBuf,
    opts: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let sock = admin::socket_path(&dir);
    // The store is open, so no other node runs here: a socket file is stale.
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).map_err(|source| NodeError::Io {
        path: sock.clone(),
        source,
    })?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        NodeError::Io {
            path: sock.clone(),
            source,
        }
    })?;
    let (admin_tx, admin_rx) = mpsc::channel(ADMIN_QUEUE_MAX);
    let server = tokio::spawn(serve_admin(listener, admin_tx).in_current_span());

    let swarm = build_swarm(node.identity().keypair().clone(), opts.mdns)
        .map_err(|e| NodeError::Internal(e.to_string()))?;
    let seed = u64::from_le_bytes(
        node.identity().public_key_bytes()[..8]
            .try_into()
            .unwrap_or_default(),
    );
    let (blob_writes, blob_written) = spawn_blob_writer(node.store().clone());
    let mut d = Daemon {
        node,
        swarm,
        engine: None,
        peer_creds: HashMap::new(),
        trust: None,
        credential: None,
        seed,
        started: Instant::now(),
        wake: None,
        connected: HashMap::new(),
        redials: Vec::new(),
        listen: Vec::new(),
        sync_rows: BTreeMap::new(),
        fetching: HashMap::new(),
        fetch_queue: VecDeque::new(),
        blob_retries: Vec::new(),
        wanted: BTreeSet::new(),
        blob_writes,
        blob_written,
        storing: 0,
        serve_cache: ServeCache::new(SERVE_CACHE_ENTRIES, SERVE_CACHE_BYTES),
        blob_refs: BlobRefs::new(),
        source: None,
        sync_bytes_sent: 0,
        sync_bytes_received: 0,
        summaries_due: BTreeSet::new(),
        summaries_written: Instant::now(),
        charter_ignored: BTreeSet::new(),
        next_expiry: None,
        admission_retries: Vec::new(),
        pending_addrs: address_book::Pending::default(),
        unadmitted: HashMap::new(),
        strangers_closed: 0,
        strikes: Strikes::new(),
        trust_fingerprint: Default::default(),
    };
    let listen = if opts.listen.is_empty() {
        DEFAULT_LISTEN
            .iter()
            .map(|a| {
                a.parse()
                    .map_err(|e: libp2p::multiaddr::Error| NodeError::Internal(e.to_string()))
            })
            .collect::<Result<Vec<Multiaddr>, _>>()?
    } else {
        opts.listen
    };
    for addr in listen {
        d.swarm
            .listen_on(addr.clone())
            .map_err(|e| NodeError::Admin(format!("cannot listen on {addr}: {e}")))?;
    }
    for addr in opts.peers {
        d.redials.push(Redial {
            addr,
            peer: None,
            backoff_ms: REDIAL_MS_MIN,
            next_at: Instant::now(),
        });
    }
    // Admitted peers recorded before: dial them again where they listened.
    let recorded = if d.node.config().learn_addresses {
        d.node.store().peers().unwrap_or_default()
    } else {
        Vec::new()
    };
    for (peer, record) in recorded {
        let (Ok(peer), Ok(rec)) = (
            peer.parse::<PeerId>(),
            serde_json::from_slice::<PeerRecord>(&record),
        ) else {
            continue;
        };
        for a in rec
            .addresses
            .iter()
            .filter_map(|a| a.parse::<Multiaddr>().ok())
        {
            d.keep_dialling(a, Some(peer));
        }
    }
    d.become_member();
    let result = d.run_loop(admin_rx, shutdown).await;
    d.shut_down();
    server.abort();
    let _ = std::fs::remove_file(&sock);
    result
}

impl Daemon {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn run_loop(
        &mut self,
        mut admin_rx: mpsc::Receiver<(Call, oneshot::Sender<Response>)>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), NodeError> {
        tokio::pin!(shutdown);
        let mut redial_tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            let wake = self.wake;
            tokio::select! {
                () = &mut shutdown => {
                    info!("shutting down");
                    return Ok(());
                }
                event = self.swarm.select_next_some() => self.on_swarm(event),
                Some(written) = self.blob_written.recv() => self.blob_stored(written),
                Some((req, reply)) = admin_rx.recv() => {
                    let resp = self.on_admin(req);
                    let _ = reply.send(resp);
                }
                () = sleep_until(wake) => {
                    self.wake = None;
                    self.engine_input(Input::Tick);
                }
                _ = redial_tick.tick() => {
                    self.redial();
                    self.recheck_if_lapsed();
                    self.retry_admissions();
                    self.close_strangers();
                    self.write_summaries();
                    self.retry_fetches();
                }
            }
            self.after_step();
        }
    }

    /// Feeds the engine and carries out what it asks.
    fn engine_input(&mut self, input: Input) {
        let now_ms = self.now_ms();
        let mut docs = RepoDocs {
            repo: &mut self.node.repo,
            now: Utc::now(),
            trust: self.trust.as_ref(),
            credential: self.credential.as_ref(),
        };
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        let outputs = engine.handle(input, now_ms, &mut docs);
        let mut struck: HashMap<PeerId, u32> = HashMap::new();
        for out in outputs {
            match out {
                Output::Send { peer, bytes } => match peer.as_str().parse::<PeerId>() {
                    Ok(p) => {
                        self.sync_bytes_sent += bytes.len() as u64;
                        self.swarm
                            .behaviour_mut()
                            .sync
                            .send_request(&p, Frame::Bytes(bytes));
                    }
                    Err(_) => warn!(peer = %peer.as_str(), "engine addressed an unknown peer"),
                },
                Output::SaveSyncState { peer, doc, state } => {
                    let r = self.node.store().batch().and_then(|mut b| {
                        b.put_sync_state(peer.as_str(), &doc.to_string(), &state)?;
                        b.commit()
                    });
                    if let Err(e) = r {
                        warn!(peer = %peer.as_str(), doc = %doc, error = %e, "cannot save sync state");
                    }
                }
                Output::Wake { at_ms } => {
                    self.wake = Some(self.started + Duration::from_millis(at_ms));
                }
                Output::Refused { peer, reason } => {
                    let parsed = peer.as_str().parse::<PeerId>().ok();
                    // A flooding peer must not flood the log too: its first
                    // refusals are logged, then only its ban.
                    let strikes =
                        parsed.map_or(0, |p| self.strikes.count(&p, Instant::now().into_std()));
                    if strikes < STRIKES_LOGGED {
                        warn!(peer = %peer.as_str(), reason = %reason, "refused input from peer");
                    } else {
                        debug!(peer = %peer.as_str(), reason = %reason, "refused input from peer");
                    }
                    // One strike per input however many changes it carried:
                    // a relay's honest message may hold many changes refused
                    // for one reason.
                    if let Some(p) = parsed {
                        let w = struck.entry(p).or_insert(0);
                        *w = (*w).max(strike_weight(&reason));
                    }
                }
                Output::Synced { peer, doc } => {
                    if let Ok(p) = peer.as_str().parse::<PeerId>() {
                        let row = self.sync_rows.entry((p, doc)).or_default();
                        row.in_sync = true;
                        row.last_synced = Some(Utc::now());
                    }
                }
            }
        }
        for (p, weight) in struck.into_iter().filter(|(_, w)| *w > 0) {
            self.strike(p, weight, "refused input");
        }
    }

    /// Announces what was written and fetches the blobs it references.
    fn after_step(&mut self) {
        let written = self.node.repo().take_written();
        for doc in written {
            // The peer it came from holds it; everyone else is behind now.
            for ((p, d), row) in self.sync_rows.iter_mut() {
                if *d == doc && Some(*p) != self.source {
                    row.in_sync = false;
                }
            }
            if doc.kind() == DocKind::Reports {
                self.blob_refs.invalidate(&doc);
                self.want_blobs(&doc);
                // A street keeps a summary of each of its communities.
                if self.node.config().role == crate::config::Role::Street
                    && doc.place().parent().as_ref() == Some(&self.node.config().place)
                {
                    self.summaries_due.insert(doc.place().clone());
                }
            }
            if doc.kind() == DocKind::Charter {
                self.recheck_peers();
            }
            if self.source.is_none() {
                self.engine_input(Input::LocalChange { doc });
            }
        }
        self.source = None;
        self.start_fetches();
    }

    /// May `peer` have the blob `hash`? Only if it may read a reports
    /// document this node holds that references it.
    fn entitled_to_blob(&mut self, peer: &PeerId, hash: &BlobHash) -> bool {
        let Some(engine) = self.engine.as_ref() else {
            return false;
        };
        let key = PeerKey::new(peer.to_string());
        let policy = engine.policy();
        self.blob_refs
            .referenced_by_readable(self.node.repo(), hash, |doc| policy.may_share(&key, doc))
            .unwrap_or_else(|e| {
                warn!(%peer, %hash, error = %e, "cannot tell which documents reference a blob");
                false
            })
    }

    fn want_blobs(&mut self, doc_id: &DocumentId) {
        let Some(from) = self
            .source
            .or_else(|| self.peer_creds.keys().next().copied())
        else {
            return;
        };
        let hashes: Vec<BlobHash> = match self.blob_refs.of(self.node.repo(), doc_id) {
            Ok(h) => h.to_vec(),
            Err(e) => {
                warn!(doc = %doc_id, error = %e, "cannot read reports for their blobs");
                return;
            }
        };
        for h in hashes {
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

    fn start_fetches(&mut self) {
        while self.fetching.len() + self.storing < BLOB_FETCHES_MAX {
            let Some((hash, peer, attempts)) = self.fetch_queue.pop_front() else {
                return;
            };
            let assembly = Assembly::new(hash, crdt_model::report::ATTACHMENT_BYTES_MAX);
            let id = self
                .swarm
                .behaviour_mut()
                .blob
                .send_request(&peer, Frame::Bytes(assembly.first().encode()));
            self.fetching.insert(id, Fetch { assembly, attempts });
        }
    }

    /// The writer answered for a fetched blob.
    fn blob_stored(&mut self, (hash, len, result): BlobWritten) {
        self.storing = self.storing.saturating_sub(1);
        match result {
            Ok(()) => debug!(%hash, bytes = len, "fetched blob"),
            Err(e) => warn!(%hash, error = %e, "cannot store a fetched blob"),
        }
        self.wanted.remove(&hash);
        self.start_fetches();
    }

    /// A fetch failed: ask again later, with a longer wait each time, or
    /// give up after [`BLOB_ATTEMPTS_MAX`] attempts (the next change to the
    /// report's document asks anew).
    fn fetch_failed(&mut self, hash: BlobHash, attempts: u32) {
        let attempts = attempts + 1;
        if attempts >= BLOB_ATTEMPTS_MAX || self.blob_retries.len() >= BLOB_QUEUE_MAX {
            warn!(%hash, attempts, "giving up on a blob for now");
            self.wanted.remove(&hash);
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
    fn retry_fetches(&mut self) {
        let now = Instant::now();
        if !self.blob_retries.iter().any(|r| r.at <= now) {
            return;
        }
        let mut peers: Vec<PeerId> = self
            .peer_creds
            .keys()
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
            let peer = peers[r.attempts as usize % peers.len()];
            self.fetch_queue.push_back((r.hash, peer, r.attempts));
        }
        self.start_fetches();
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                println!("listening on {address}/p2p/{}", self.swarm.local_peer_id());
                self.listen.push(address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                let addr = endpoint.get_remote_address().clone();
                for r in self
                    .redials
                    .iter_mut()
                    .filter(|r| r.peer == Some(peer_id) || (endpoint.is_dialer() && r.addr == addr))
                {
                    r.peer = Some(peer_id);
                    r.backoff_ms = REDIAL_MS_MIN;
                }
                self.connected
                    .insert(peer_id, (num_established.get() as usize, addr.clone()));
                if endpoint.is_dialer() {
                    // An address we reached it at: kept once it is admitted.
                    let mut known = self.pending_addrs.take(&peer_id);
                    known.extend(address_book::dialable(
                        &peer_id,
                        std::slice::from_ref(&addr),
                    ));
                    self.pending_addrs.note(peer_id, known);
                }
                if self
                    .strikes
                    .banned(&peer_id, Instant::now().into_std())
                    .is_some()
                {
                    debug!(peer = %peer_id, "closing the connection of a peer kept out for its strikes");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if num_established.get() == 1 {
                    info!(peer = %peer_id, %addr, "peer connected");
                    if !self.peer_creds.contains_key(&peer_id) {
                        self.unadmitted.insert(peer_id, Instant::now());
                    }
                    self.present_credential(&peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                info!(peer = %peer_id, "peer disconnected");
                self.connected.remove(&peer_id);
                self.unadmitted.remove(&peer_id);
                if !self.peer_creds.contains_key(&peer_id) {
                    self.pending_addrs.forget(&peer_id);
                }
                self.drop_peer(&peer_id);
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(peer = ?peer_id, %error, "dial failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(e)) => self.on_sync(e),
            SwarmEvent::Behaviour(BehaviourEvent::Blob(e)) => self.on_blob(e),
            SwarmEvent::Behaviour(BehaviourEvent::Admission(e)) => self.on_admission(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                let addrs = address_book::dialable(&peer_id, &info.listen_addrs);
                if self.peer_creds.contains_key(&peer_id) {
                    self.remember_peer(&peer_id, &addrs);
                } else {
                    let mut known = addrs;
                    known.extend(self.pending_addrs.take(&peer_id));
                    self.pending_addrs.note(peer_id, known);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    if !self.connected.contains_key(&peer) {
                        debug!(%peer, %addr, "discovered on the LAN");
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_sync(&mut self, event: request_response::Event<Frame, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, Vec::new());
                let request = match request {
                    Frame::Bytes(b) => b,
                    Frame::Oversized { max } => {
                        warn!(%peer, max, "refused a sync message larger than the limit; nothing of it was read further");
                        self.strike(peer, STRIKE_WEIGHT_OVERSIZED, "oversized messages");
                        return;
                    }
                };
                if let Some(verdict) =
                    self.strikes
                        .spend(peer, request.len(), Instant::now().into_std())
                {
                    self.punish(peer, verdict, "traffic over its budget");
                }
                if !self.connected.contains_key(&peer) {
                    return;
                }
                self.sync_bytes_received += request.len() as u64;
                self.source = Some(peer);
                self.engine_input(Input::Message {
                    peer: PeerKey::new(peer.to_string()),
                    bytes: request,
                });
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                warn!(%peer, %error, "refused a sync message");
            }
            request_response::Event::OutboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "a sync message was not delivered; the engine retries");
            }
            _ => {}
        }
    }

    fn on_blob(&mut self, event: request_response::Event<Frame, Vec<u8>>) {
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
                    warn!(%peer, "refused a blob request from a peer that is not admitted");
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .blob
                        .send_response(channel, ChunkResponse::Refused.encode());
                    return;
                }
                let decoded = match &request {
                    Frame::Bytes(b) => ChunkRequest::decode(b),
                    Frame::Oversized { .. } => {
                        Err(BlobWireError::Malformed("request larger than 44 bytes"))
                    }
                };
                let decoded = decoded.and_then(|req| {
                    if self.entitled_to_blob(&peer, &req.hash) {
                        Ok(req)
                    } else {
                        Err(BlobWireError::NotEntitled)
                    }
                });
                let resp = match decoded {
                    Ok(req) => match self
                        .serve_cache
                        .get_or_load(&req.hash, || self.node.store().blob(&req.hash))
                    {
                        Ok(blob) => serve(&req, blob.as_deref().map(Vec::as_slice)),
                        Err(e) => {
                            warn!(%peer, hash = %req.hash, error = %e, "cannot read a blob to serve");
                            ChunkResponse::NotFound
                        }
                    },
                    Err(e) => {
                        warn!(%peer, error = %e, "refused a blob request");
                        ChunkResponse::Refused
                    }
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .blob
                    .send_response(channel, resp.encode());
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
                let progress = match ChunkResponse::decode(&response) {
                    Ok(resp) => fetch.assembly.accept(resp),
                    Err(e) => Progress::Failed(e.to_string()),
                };
                match progress {
                    Progress::Next(req) => {
                        let id = self
                            .swarm
                            .behaviour_mut()
                            .blob
                            .send_request(&peer, Frame::Bytes(req.encode()));
                        self.fetching.insert(id, fetch);
                    }
                    Progress::Done(bytes) => {
                        let hash = fetch.assembly.hash;
                        match self.blob_writes.try_send((hash, bytes)) {
                            Ok(()) => self.storing += 1,
                            // The writer is gone or behind: store it here.
                            Err(e) => {
                                let (hash, bytes) = e.into_inner();
                                let r = store_blob(self.node.store(), &bytes);
                                self.storing += 1;
                                self.blob_stored((hash, bytes.len(), r));
                            }
                        }
                    }
                    Progress::NotHeld => {
                        debug!(%peer, hash = %fetch.assembly.hash, "peer does not hold the blob yet; asking again later");
                        self.fetch_failed(fetch.assembly.hash, fetch.attempts);
                    }
                    Progress::Failed(why) => {
                        warn!(%peer, hash = %fetch.assembly.hash, reason = %why, "refused a blob from peer; nothing stored");
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
            request_response::Event::InboundFailure { peer, error, .. } => {
                warn!(%peer, %error, "refused a blob request");
            }
            _ => {}
        }
    }

    /// Rewrites the summaries of communities whose reports changed, at most
    /// once every [`SUMMARY_INTERVAL_MS`].
    fn write_summaries(&mut self) {
        if self.summaries_due.is_empty()
            || self.summaries_written.elapsed() < Duration::from_millis(SUMMARY_INTERVAL_MS)
        {
            return;
        }
        self.summaries_written = Instant::now();
        let due = std::mem::take(&mut self.summaries_due);
        let now = Utc::now();
        let mut counted = Vec::new();
        for place in due {
            let filter = crdt_model::StatsFilter {
                place: Some(place.clone()),
                ..Default::default()
            };
            match self.node.stats(&filter, now) {
                Ok(view) => counted.push((place, view.stats)),
                Err(e) => warn!(%place, error = %e, "cannot count a community's reports"),
            }
        }
        let id = DocumentId::singleton(self.node.config().place.clone(), DocKind::Summary);
        let r = self.node.repo.write(now, |w| {
            let doc = w.doc(&id)?;
            for (place, stats) in &counted {
                crdt_model::summary::put(doc, place, stats, now)?;
            }
            Ok(())
        });
        if let Err(e) = r {
            warn!(error = %e, "cannot write the statistics summary");
        }
    }

    /// Starts syncing once this node is a verified member of a federation.
    fn become_member(&mut self) {
        if self.engine.is_some() {
            return;
        }
        match self.node.federation_member(Utc::now()) {
            Ok(Some(me)) => {
                info!(role = %me.role, place = %me.place, "member of the federation; syncing");
                self.credential = self.node.credential().ok().flatten();
                let charter = self.node.charter_view().unwrap_or_default();
                self.trust = self
                    .credential
                    .as_ref()
                    .map(|c| TrustContext::new(c.federation.clone(), me.clone(), charter));
                let config = self.node.config();
                let policy =
                    FederationPolicy::new(me, config.replicate.clone(), config.summaries.clone());
                self.engine = Some(Engine::new(EngineConfig::default(), policy, self.seed));
                let peers: Vec<PeerId> = self.connected.keys().copied().collect();
                for p in peers {
                    self.present_credential(&p);
                }
                self.recheck_peers();
            }
            Ok(None) => warn!(
                "not a member of a federation yet: run `yizhan join TOKEN`; syncing nothing until then"
            ),
            Err(e) => {
                warn!(error = %e, "this node's own admission does not verify; syncing nothing")
            }
        }
    }

    /// A running member installed a new token (a renewal): checks of
    /// incoming changes use it, and every connected peer is shown it.
    fn renewed(&mut self) {
        self.credential = self.node.credential().ok().flatten();
        match self.node.federation_member(Utc::now()) {
            Ok(Some(me)) => {
                if let Some(t) = self.trust.as_mut() {
                    t.me = me;
                }
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "the installed admission does not verify"),
        }
        let peers: Vec<PeerId> = self.connected.keys().copied().collect();
        for p in peers {
            self.present_credential(&p);
        }
    }

    /// Sends this node's credential to a newly connected peer.
    fn present_credential(&mut self, peer: &PeerId) {
        if self.engine.is_none() {
            return;
        }
        match self.node.credential() {
            Ok(Some(cred)) => match serde_json::to_vec(&cred) {
                Ok(bytes) => {
                    self.swarm
                        .behaviour_mut()
                        .admission
                        .send_request(peer, Frame::Bytes(bytes));
                }
                Err(e) => warn!(error = %e, "cannot encode own credential"),
            },
            Ok(None) => {}
            Err(e) => warn!(error = %e, "cannot read own credential"),
        }
    }

    fn on_admission(&mut self, event: request_response::Event<Frame, Vec<u8>>) {
        if let request_response::Event::OutboundFailure { peer, error, .. } = &event {
            // The peer never acknowledged our credential: show it again
            // while the connection lasts, or it stays half-admitted.
            if self.connected.contains_key(peer)
                && !self.admission_retries.iter().any(|(p, _)| p == peer)
            {
                debug!(%peer, %error, "credential not acknowledged; presenting it again");
                self.admission_retries.push((
                    *peer,
                    Instant::now() + Duration::from_millis(ADMISSION_RETRY_MS),
                ));
            }
            return;
        }
        let request_response::Event::Message {
            peer,
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        } = event
        else {
            return;
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .admission
            .send_response(channel, Vec::new());
        if self.engine.is_none() {
            debug!(%peer, "ignoring a credential: this node has not joined a federation");
            return;
        }
        if self
            .strikes
            .banned(&peer, Instant::now().into_std())
            .is_some()
        {
            // Its connection is closing; a credential still in flight on it
            // must not let it back in.
            debug!(%peer, "ignoring the credential of a peer kept out for its strikes");
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        match self.verify_peer(&peer, &request) {
            Ok((cred, member)) => {
                if let Some(e) = member.expires {
                    self.next_expiry = Some(self.next_expiry.map_or(e, |n| n.min(e)));
                }
                if let Some(held) = self.peer_creds.get_mut(&peer) {
                    // A renewed credential replaces the one the peer showed before.
                    if *held != cred {
                        info!(%peer, expires = ?member.expires, "peer renewed its credential");
                        *held = cred;
                        if let Some(engine) = self.engine.as_mut() {
                            engine
                                .policy_mut()
                                .admit_peer(PeerKey::new(peer.to_string()), member);
                        }
                    }
                    return;
                }
                info!(%peer, role = %member.role, place = %member.place, "peer admitted");
                self.peer_creds.insert(peer, cred);
                self.unadmitted.remove(&peer);
                let addrs = self.pending_addrs.take(&peer);
                self.remember_peer(&peer, &addrs);
                let key = PeerKey::new(peer.to_string());
                if let Some(engine) = self.engine.as_mut() {
                    engine.policy_mut().admit_peer(key.clone(), member);
                }
                let states = self
                    .node
                    .store()
                    .sync_states_for(&peer.to_string())
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(doc, state)| DocumentId::parse(&doc).ok().map(|d| (d, state)))
                    .collect();
                self.engine_input(Input::PeerUp {
                    peer: key,
                    sync_states: states,
                });
            }
            Err(reason) => {
                warn!(%peer, %reason, "refused peer: its credential does not admit it to this federation");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    fn verify_peer(
        &mut self,
        peer: &PeerId,
        request: &Frame,
    ) -> Result<(Credential, crate::trust::Member), String> {
        let Frame::Bytes(bytes) = request else {
            return Err("credential larger than any admission chain".into());
        };
        let cred: Credential =
            serde_json::from_slice(bytes).map_err(|e| format!("malformed credential: {e}"))?;
        let mine = self
            .node
            .credential()
            .map_err(|e| e.to_string())?
            .ok_or("no own credential")?;
        if cred.federation != mine.federation {
            return Err(format!(
                "it belongs to the federation of {} (root {})",
                cred.federation.place, cred.federation.root
            ));
        }
        let key = NodeKey::of_peer(peer).map_err(|e| e.to_string())?;
        let revoked = self.node.revoked().map_err(|e| e.to_string())?;
        let member = cred
            .verify_for(&key, Utc::now(), &|k| revoked.contains(k))
            .map_err(|e| e.to_string())?;
        Ok((cred, member))
    }

    /// The charter changed, or an admission lapsed: reads the charter
    /// again, logs each statement it ignores once, records as a witness the
    /// cut-off of nodes this node could revoke, and drops peers whose
    /// chains no longer verify.
    fn recheck_peers(&mut self) {
        let now = Utc::now();
        let known: Vec<Credential> = self.peer_creds.values().cloned().collect();
        match self.node.witness_cut_offs(now, &known) {
            Ok(recorded) => {
                for target in recorded {
                    info!(node = %target, "recorded where a cut-off node's valid work ends");
                }
            }
            Err(e) => warn!(error = %e, "cannot record a cut-off"),
        }
        let view = match self.node.charter_view() {
            Ok(v) => v,
            Err(e) => {
                warn!(error = %e, "cannot read the charter");
                return;
            }
        };
        for (key, why) in &view.ignored {
            if self.charter_ignored.len() < CHARTER_IGNORED_MAX
                && self.charter_ignored.insert(key.clone())
            {
                warn!(entry = %key, reason = %why, "ignoring a charter statement");
            }
        }
        let revoked = view.revoked_keys();
        // The next moment a known admission lapses, to look again then.
        self.next_expiry = view
            .credentials
            .values()
            .chain(self.peer_creds.values())
            .filter_map(|c| c.structure().ok()?.expires)
            .filter(|e| *e > now.timestamp())
            .min();
        let fingerprint = (
            revoked.clone(),
            view.cutoffs.values().map(Vec::len).sum::<usize>(),
        );
        if let Some(t) = self.trust.as_mut() {
            t.charter = view;
        }
        if fingerprint != self.trust_fingerprint {
            // Changes refused under the old charter may be acceptable now.
            info!(
                revoked = fingerprint.0.len(),
                cut_off_records = fingerprint.1,
                "the charter changed what this node accepts; comparing with every peer again"
            );
            self.trust_fingerprint = fingerprint;
            self.engine_input(Input::TrustChanged);
        }
        let lost: Vec<(PeerId, String)> = self
            .peer_creds
            .iter()
            .filter_map(|(p, cred)| {
                let key = NodeKey::of_peer(p).ok()?;
                cred.verify_for(&key, now, &|k| revoked.contains(k))
                    .err()
                    .map(|e| (*p, e.to_string()))
            })
            .collect();
        for (p, why) in lost {
            warn!(peer = %p, reason = %why, "peer lost access");
            self.drop_peer(&p);
            let _ = self.swarm.disconnect_peer_id(p);
        }
    }

    /// Counts `weight` strikes against `peer` for `what`.
    fn strike(&mut self, peer: PeerId, weight: u32, what: &str) {
        let verdict = self.strikes.strike(peer, weight, Instant::now().into_std());
        self.punish(peer, verdict, what);
    }

    /// Disconnects a peer that struck out; it is kept out until its ban ends.
    fn punish(&mut self, peer: PeerId, verdict: strikes::Verdict, what: &str) {
        if let strikes::Verdict::Banned(d) = verdict {
            warn!(%peer, banned_s = d.as_secs(), cause = what, "disconnecting a peer after too many strikes; it is kept out for a while");
            self.drop_peer(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Presents this node's credential again to peers that did not
    /// acknowledge it and are still connected.
    fn retry_admissions(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .admission_retries
            .iter()
            .filter(|(_, at)| *at <= now)
            .map(|(p, _)| *p)
            .collect();
        self.admission_retries.retain(|(_, at)| *at > now);
        for p in due {
            if self.connected.contains_key(&p) {
                self.present_credential(&p);
            }
        }
    }

    /// Looks again once the earliest known admission has lapsed.
    fn recheck_if_lapsed(&mut self) {
        if self
            .next_expiry
            .is_some_and(|e| e <= Utc::now().timestamp())
        {
            self.next_expiry = None;
            self.recheck_peers();
        }
    }

    /// Ends a peer's sessions and forgets its admission.
    fn drop_peer(&mut self, peer: &PeerId) {
        if self.peer_creds.remove(peer).is_none() {
            return;
        }
        let key = PeerKey::new(peer.to_string());
        self.engine_input(Input::PeerDown { peer: key.clone() });
        if let Some(engine) = self.engine.as_mut() {
            engine.policy_mut().forget_peer(&key);
        }
    }

    /// Records an admitted peer and where it listens (merged with what was
    /// recorded before), and keeps dialling those addresses while it is
    /// away.
    fn remember_peer(&mut self, peer: &PeerId, addrs: &[Multiaddr]) {
        let store = self.node.store();
        let old: Vec<Multiaddr> = store
            .peer(&peer.to_string())
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice::<PeerRecord>(&bytes).ok())
            .map(|r| r.addresses.iter().filter_map(|a| a.parse().ok()).collect())
            .unwrap_or_default();
        let learn = self.node.config().learn_addresses;
        let merged = if learn {
            address_book::merge(addrs, &old)
        } else {
            old
        };
        let rec = PeerRecord {
            addresses: merged.iter().map(ToString::to_string).collect(),
            last_seen: Some(Utc::now()),
        };
        let r = serde_json::to_vec(&rec)
            .map_err(|e| NodeError::Internal(e.to_string()))
            .and_then(|bytes| {
                let mut b = self.node.store().batch()?;
                b.put_peer(&peer.to_string(), &bytes)?;
                b.commit()?;
                Ok(())
            });
        if let Err(e) = r {
            warn!(%peer, error = %e, "cannot record peer");
        }
        if learn {
            for a in merged {
                self.keep_dialling(a, Some(*peer));
            }
        }
    }

    /// Adds `addr` to the addresses dialled while its peer is away.
    fn keep_dialling(&mut self, addr: Multiaddr, peer: Option<PeerId>) {
        if self.redials.iter().any(|r| r.addr == addr) {
            return;
        }
        if self.redials.len() >= REDIALS_MAX {
            debug!(%addr, "too many addresses to redial; not adding one");
            return;
        }
        self.redials.push(Redial {
            addr,
            peer,
            backoff_ms: REDIAL_MS_MIN,
            next_at: Instant::now(),
        });
    }

    /// Closes connections of peers that did not present a valid credential
    /// within the grace period: a stranger costs a connection slot only
    /// that long.
    fn close_strangers(&mut self) {
        let now = Instant::now();
        let grace = Duration::from_millis(STRANGER_GRACE_MS);
        let due: Vec<PeerId> = self
            .unadmitted
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= grace)
            .map(|(p, _)| *p)
            .collect();
        for p in due {
            self.unadmitted.remove(&p);
            self.strangers_closed += 1;
            // One line per stranger would let strangers fill the log.
            if self.strangers_closed.is_power_of_two() {
                info!(peer = %p, closed = self.strangers_closed, "closed the connection of a peer that presented no valid credential");
            }
            let _ = self.swarm.disconnect_peer_id(p);
        }
    }

    fn redial(&mut self) {
        let now = Instant::now();
        for r in &mut self.redials {
            if r.peer.is_some_and(|p| self.connected.contains_key(&p)) || now < r.next_at {
                continue;
            }
            debug!(addr = %r.addr, "dialling");
            if let Err(e) = self.swarm.dial(r.addr.clone()) {
                debug!(addr = %r.addr, error = %e, "cannot dial");
            }
            r.next_at = now + Duration::from_millis(r.backoff_ms);
            r.backoff_ms = (r.backoff_ms * 2).min(REDIAL_MS_MAX);
        }
    }

    fn on_admin(&mut self, call: Call) -> Response {
        let Call { id, request } = call;
        let result = match request {
            Request::Status => self.node.status().map(|mut s| {
                s.membership = self.node.membership(Utc::now()).ok().flatten();
                s.running = true;
                let me = *self.swarm.local_peer_id();
                s.listen = self
                    .listen
                    .iter()
                    .map(|a| format!("{a}/p2p/{me}"))
                    .collect();
                s.peers = self.connected.keys().map(|p| p.to_string()).collect();
                s.peers.sort();
                s.sync_bytes_sent = self.sync_bytes_sent;
                s.sync_bytes_received = self.sync_bytes_received;
                Response::Status(s)
            }),
            Request::Peers => self.node.known_peers().map(|mut rows| {
                for (p, (_, addr)) in self
                    .connected
                    .iter()
                    .filter(|(p, _)| self.peer_creds.contains_key(p))
                {
                    match rows.iter_mut().find(|r| r.peer_id == p.to_string()) {
                        Some(r) => r.connected = true,
                        None => rows.push(PeerRow {
                            peer_id: p.to_string(),
                            addresses: vec![addr.to_string()],
                            connected: true,
                        }),
                    }
                }
                Response::Peers(rows)
            }),
            Request::SyncStatus => Ok(Response::SyncStatus(
                self.sync_rows
                    .iter()
                    .map(|((p, d), info)| SyncRow {
                        peer_id: p.to_string(),
                        doc: d.to_string(),
                        in_sync: info.in_sync,
                        last_synced: info.last_synced,
                    })
                    .collect(),
            )),
            other => {
                let joined = matches!(other, Request::Join { .. });
                let call = Call { id, request: other };
                let r = admin::execute_call(&mut self.node, call, Utc::now());
                if joined && r.is_ok() {
                    if self.engine.is_some() {
                        self.renewed();
                    }
                    self.become_member();
                }
                r
            }
        };
        result.unwrap_or_else(|e| Response::Error(e.to_string()))
    }

    /// Ends every peer's sessions so their sync states are saved.
    fn shut_down(&mut self) {
        let peers: Vec<PeerId> = self.peer_creds.keys().copied().collect();
        for p in peers {
            self.drop_peer(&p);
        }
    }
}

/// Commits one blob durably in a batch of its own.
fn store_blob(store: &Store, bytes: &[u8]) -> Result<(), StoreError> {
    let mut b = store.batch()?;
    b.put_blob(bytes)?;
    b.commit()
}

/// A thread that commits fetched blobs, one durable batch each, and answers
/// for every one; it ends when the daemon drops its sender.
fn spawn_blob_writer(store: Store) -> (mpsc::Sender<BlobWrite>, mpsc::Receiver<BlobWritten>) {
    let (tx, mut rx) = mpsc::channel::<BlobWrite>(BLOB_FETCHES_MAX);
    let (done_tx, done_rx) = mpsc::channel(BLOB_FETCHES_MAX);
    tokio::task::spawn_blocking(move || {
        while let Some((hash, bytes)) = rx.blocking_recv() {
            let r = store_blob(&store, &bytes);
            if done_tx.blocking_send((hash, bytes.len(), r)).is_err() {
                return;
            }
        }
    });
    (tx, done_rx)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Accepts admin connections: one request line, one response line each.
/// Serves the admin socket: only this node's own user may talk to it (the
/// socket is owner-only, and the caller's uid is checked), a bounded number
/// of connections at once, each with a read deadline; a failing accept
/// backs off instead of spinning.
async fn serve_admin(listener: UnixListener, tx: mpsc::Sender<(Call, oneshot::Sender<Response>)>) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(ADMIN_CONNECTIONS_MAX));
    // This node's user: the owner of the socket file it just created.
    let own_uid = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(|p| p.to_owned()))
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    let mut backoff = Duration::from_millis(ADMIN_ACCEPT_BACKOFF_MS_MIN);
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff = Duration::from_millis(ADMIN_ACCEPT_BACKOFF_MS_MIN);
                stream
            }
            Err(e) => {
                warn!(error = %e, "cannot accept on the admin socket; waiting before trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(ADMIN_ACCEPT_BACKOFF_MS_MAX));
                continue;
            }
        };
        let caller = stream.peer_cred().ok().map(|c| c.uid());
        if own_uid.is_some() && caller != own_uid {
            warn!(caller = ?caller, "refused an admin connection from another user");
            continue;
        }
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = admin_connection(stream, tx).await {
                debug!(error = %e, "admin connection ended");
            }
        });
    }
}

async fn admin_connection(
    stream: UnixStream,
    tx: mpsc::Sender<(Call, oneshot::Sender<Response>)>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read.take(admin::LINE_BYTES_MAX as u64));
    let mut line = String::new();
    // A client that connects and says nothing gives its slot back.
    tokio::time::timeout(
        Duration::from_millis(ADMIN_READ_TIMEOUT_MS),
        reader.read_line(&mut line),
    )
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request in time"))??;
    let resp = match serde_json::from_str::<Call>(&line) {
        Ok(req) => {
            let (reply, answer) = oneshot::channel();
            if tx.send((req, reply)).await.is_err() {
                Response::Error("the node is shutting down".into())
            } else {
                answer
                    .await
                    .unwrap_or_else(|_| Response::Error("the node is shutting down".into()))
            }
        }
        Err(e) => Response::Error(format!("malformed admin request: {e}")),
    };
    let mut out = serde_json::to_string(&resp)
        .unwrap_or_else(|e| format!("{{\"kind\":\"error\",\"value\":\"{e}\"}}"));
    out.push('\n');
    write.write_all(out.as_bytes()).await
}
