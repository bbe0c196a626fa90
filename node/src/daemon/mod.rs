//! `yizhan node start`: the node's driver loop. One task owns the node (store
//! and documents), the sync engine and the libp2p swarm, and `select!`s over
//! network events, admin requests, the engine's timer, redial timers and the
//! shutdown signal. Commands reach it through the admin socket.

mod admin_server;
mod admission;
mod blob_demand;
mod blobs;
mod escrow_return;
mod monitor;
mod outbox;
pub mod partial_blobs;
mod peers;
mod repo_docs;
mod serve_queue;
mod sync;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use crdt_model::DocumentId;
use futures::StreamExt as _;
use libp2p::{Multiaddr, PeerId, Swarm, request_response};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{Instrument as _, info, info_span};

use crate::admin::{self, Call, Response};
use crate::api::{Node, PeerRecord};
use crate::engine::{Engine, Input};
use crate::error::NodeError;
use crate::metrics::NodeMetrics;
use crate::net::address_book;
use crate::net::blob::ChunkRequest;
use crate::net::strikes::Strikes;
use crate::net::{Behaviour, build_swarm};
use crate::store::BlobHash;
use crate::trust::signing::TrustContext;
use crate::trust::{Credential, FederationPolicy, NodeKey};

use admin_server::serve_admin;
use blobs::{BLOB_SERVES_MAX, BlobRetry, BlobWritten, ChunkRead, Fetch, spawn_blob_writer};
use repo_docs::RepoDocs;

/// How the daemon stores fetched photos, public for the photo bench.
pub use blobs::{BlobWrite, store_blobs};

/// Addresses dialled again at most (explicit peers and recorded ones).
const REDIALS_MAX: usize = 1_024;
/// Wait before presenting a credential a peer did not acknowledge again.
const ADMISSION_RETRY_MS: u64 = 2_000;
/// Ignored charter entries remembered so each is logged once.
const CHARTER_IGNORED_MAX: usize = 10_000;
/// Admin requests waiting for the loop.
const ADMIN_QUEUE_MAX: usize = 32;
/// First redial delay for an explicit peer; doubles up to the max.
const REDIAL_MS_MIN: u64 = 1_000;
/// How often a street rewrites its communities' summaries at most.
const SUMMARY_INTERVAL_MS: u64 = 2_000;
/// Longest redial delay.
const REDIAL_MS_MAX: u64 = 60_000;
/// Rows of `sync status` (peer × document) kept at most; past it the rows
/// synced longest ago go first.
const SYNC_ROWS_MAX: usize = 20_000;
/// A row of a peer not connected is dropped this long after it last synced.
const SYNC_ROWS_AWAY_MS: i64 = 3_600_000;
/// How often rows of peers away are looked for.
const SYNC_ROWS_PRUNE_MS: u64 = 10_000;

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
    /// Serve `/metrics` and `/healthz` here (overrides `[metrics] listen`).
    pub metrics: Option<std::net::SocketAddr>,
    /// Serve HTTP (Open311) here (overrides `[http] listen`).
    pub http: Option<std::net::SocketAddr>,
    /// Print each address listened on to stdout, for `node start`; off for
    /// commands whose stdout is their own report (`rebuild --json`).
    pub announce: bool,
}

struct Redial {
    addr: Multiaddr,
    peer: Option<PeerId>,
    backoff_ms: u64,
    next_at: Instant,
}

#[derive(Default)]
struct SyncInfo {
    in_sync: bool,
    last_synced: Option<DateTime<Utc>>,
    /// Why this document cannot sync with this peer (a sequence clash),
    /// until a session ends with both at the same heads.
    problem: Option<String>,
}

struct Daemon {
    node: Node,
    swarm: Swarm<Behaviour>,
    /// `None` while this node has not joined a federation: it syncs nothing.
    engine: Option<Engine<FederationPolicy>>,
    /// Credentials of peers that presented a valid one, re-checked when the charter changes.
    peer_creds: HashMap<PeerId, Credential>,
    /// Peers that acknowledged this node's credential (they admitted it).
    acked: HashSet<PeerId>,
    /// Peers the engine syncs with: admitted here, and acknowledged us.
    up: HashSet<PeerId>,
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
    /// What `sync status` shows; bounded by [`SYNC_ROWS_MAX`] and pruned
    /// of peers away for [`SYNC_ROWS_AWAY_MS`].
    sync_rows: BTreeMap<(PeerId, DocumentId), SyncInfo>,
    /// When `sync_rows` was last pruned.
    sync_rows_pruned: Instant,
    fetching: HashMap<request_response::OutboundRequestId, Fetch>,
    /// Blobs to fetch: hash, peer to ask, earlier attempts.
    fetch_queue: VecDeque<(BlobHash, PeerId, u32)>,
    /// Blobs that failed, waiting to be asked for again.
    blob_retries: Vec<BlobRetry>,
    wanted: BTreeSet<BlobHash>,
    /// `blob get` callers waiting for blobs fetched on demand.
    blob_waiters: blob_demand::Waiters,
    /// Verified blobs for the writer thread, which commits each durably so
    /// the swarm's task does not wait for the disk.
    blob_writes: mpsc::Sender<BlobWrite>,
    /// What the writer committed (or could not).
    blob_written: mpsc::Receiver<BlobWritten>,
    /// Blobs handed to the writer and not yet answered; they count against
    /// [`BLOB_FETCHES_MAX`] so memory stays bounded.
    storing: usize,
    /// Chunk requests of peers waiting to be read off the loop, taken in
    /// turn by peer.
    serve_queue:
        serve_queue::ServeQueue<(ChunkRequest, request_response::ResponseChannel<Vec<u8>>)>,
    /// Chunks being read now.
    serving: usize,
    /// Bytes of photos each peer made the reading threads hash again.
    rehash_budget: std::sync::Arc<std::sync::Mutex<crate::net::rehash_budget::RehashBudget>>,
    /// Where the reading threads hand chunks back.
    served_tx: mpsc::Sender<ChunkRead>,
    /// Blobs whose fetch was given up, asked for again when a document
    /// referencing them changes; at most [`blobs::BLOB_QUEUE_MAX`].
    given_up: BTreeSet<BlobHash>,
    /// What interrupted fetches verified, kept on disk for the next attempt.
    partials: partial_blobs::PartialBlobs,
    /// Fetches whose kept state is being read off the loop; they count
    /// against [`BLOB_FETCHES_MAX`].
    resuming: usize,
    /// Where those reads hand their fetches back.
    resumed_tx: mpsc::Sender<blobs::Resumed>,
    resumed_rx: mpsc::Receiver<blobs::Resumed>,
    /// Blobs suspected damaged off the loop (serving, `blob get`), and the
    /// checks of them.
    damaged_tx: mpsc::Sender<blobs::BlobDamage>,
    damaged_rx: mpsc::Receiver<blobs::BlobDamage>,
    /// Blobs whose damage is being checked off the loop.
    damage_checks: HashSet<BlobHash>,
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
    /// What the node exports at `/metrics` (kept whether served or not).
    metrics: NodeMetrics,
    /// Admitted peers' places and roles, their metric labels.
    peer_labels: HashMap<PeerId, crate::metrics::PeerLabels>,
    /// When the store-derived metrics were last recomputed.
    metrics_refreshed: Instant,
    /// Something was written since.
    metrics_dirty: bool,
    /// Sync messages awaiting their acknowledgement, per peer, and the queue behind them.
    outbox: outbox::Outbox,
    /// A metrics endpoint is configured: the store-derived metrics are kept.
    metrics_served: bool,
    /// What the last count of cases learned, per document; locked while a count runs.
    case_tally: std::sync::Arc<tokio::sync::Mutex<crate::case_tally::CaseTally>>,
    /// Print listen addresses on stdout ([`RunOptions::announce`]).
    announce: bool,
    /// New, urgent and overdue cases: the alert command and `watch`.
    alerts: crate::alerts::Alerts,
    /// A station's return of unused escrow on reconnecting.
    escrow_return: escrow_return::ReconnectReturn,
}

/// Runs the node in `dir` until `shutdown` resolves.
pub async fn run(
    dir: &Path,
    opts: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let node = Node::open(dir)?;
    node.check_config_matches_admission()?;
    // Nodes admitted before the admission file existed get one now; a
    // failure costs only the copy, so it is logged, not fatal.
    if let Err(e) = node.keep_admission_copy() {
        tracing::warn!(error = %e, "cannot keep a copy of this node's admission beside the store");
    }
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
    let http_calls = admin_tx.clone();
    let server = tokio::spawn(serve_admin(listener, admin_tx).in_current_span());

    let swarm = build_swarm(node.identity().keypair().clone(), opts.mdns)
        .map_err(|e| NodeError::Internal(e.to_string()))?;
    let seed = u64::from_le_bytes(
        node.identity().public_key_bytes()[..8]
            .try_into()
            .unwrap_or_default(),
    );
    let (blob_writes, blob_written) = spawn_blob_writer(node.store().clone());
    let (served_tx, served_rx) = mpsc::channel(BLOB_SERVES_MAX);
    let mut node = node;
    node.repo().start_group_writer()?;
    // The loop takes what each write touched, for alerts and blob fetches.
    node.indexes.keep_touched();
    let alerts = crate::alerts::Alerts::start(&node);
    let partials = partial_blobs::PartialBlobs::new(node.data_dir());
    let (resumed_tx, resumed_rx) = mpsc::channel(blobs::BLOB_FETCHES_MAX);
    let (damaged_tx, damaged_rx) = mpsc::channel(blobs::BLOB_FETCHES_MAX);
    let mut d = Daemon {
        node,
        swarm,
        engine: None,
        peer_creds: HashMap::new(),
        acked: HashSet::new(),
        up: HashSet::new(),
        trust: None,
        credential: None,
        seed,
        started: Instant::now(),
        wake: None,
        connected: HashMap::new(),
        redials: Vec::new(),
        listen: Vec::new(),
        sync_rows: BTreeMap::new(),
        sync_rows_pruned: Instant::now(),
        fetching: HashMap::new(),
        fetch_queue: VecDeque::new(),
        blob_retries: Vec::new(),
        wanted: BTreeSet::new(),
        blob_waiters: HashMap::new(),
        blob_writes,
        blob_written,
        storing: 0,
        serve_queue: serve_queue::ServeQueue::default(),
        serving: 0,
        rehash_budget: std::sync::Arc::default(),
        served_tx,
        given_up: BTreeSet::new(),
        partials,
        resuming: 0,
        resumed_tx,
        resumed_rx,
        damaged_tx,
        damaged_rx,
        damage_checks: HashSet::new(),
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
        metrics: NodeMetrics::new(),
        peer_labels: HashMap::new(),
        metrics_refreshed: Instant::now(),
        metrics_dirty: true,
        outbox: outbox::Outbox::default(),
        metrics_served: false,
        case_tally: Default::default(),
        announce: opts.announce,
        alerts,
        escrow_return: Default::default(),
    };
    let metrics_server = match metrics_address(&opts, d.node.config())? {
        Some(addr) => {
            let listener = crate::metrics::bind(addr).await.map_err(|e| {
                crate::refusal::AdminRefusal::CannotServe {
                    what: "metrics",
                    addr,
                    why: e.to_string(),
                }
            })?;
            d.metrics_served = true;
            Some(tokio::spawn(
                crate::metrics::serve(listener, d.metrics.clone()).in_current_span(),
            ))
        }
        None => None,
    };
    let http_server =
        crate::http::start(opts.http, &dir, d.node.config(), http_calls, opts.announce).await?;
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
        d.swarm.listen_on(addr.clone()).map_err(|e| {
            crate::refusal::AdminRefusal::CannotListen {
                addr: addr.to_string(),
                why: e.to_string(),
            }
        })?;
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
    d.resume_partial_fetches();
    let result = d.run_loop(admin_rx, served_rx, shutdown).await;
    d.shut_down();
    server.abort();
    if let Some(m) = metrics_server {
        m.abort();
    }
    if let Some(h) = http_server {
        h.abort();
    }
    let _ = std::fs::remove_file(&sock);
    result
}

/// Where to serve metrics: the flag, else `[metrics] listen`, else nowhere.
fn metrics_address(
    opts: &RunOptions,
    config: &crate::config::Config,
) -> Result<Option<std::net::SocketAddr>, NodeError> {
    if let Some(addr) = opts.metrics {
        return Ok(Some(addr));
    }
    config
        .metrics
        .listen
        .as_deref()
        .map(|a| {
            a.parse().map_err(|e: std::net::AddrParseError| {
                NodeError::from(crate::refusal::AdminRefusal::BadListenAddress {
                    section: "metrics",
                    value: a.to_owned(),
                    example: "127.0.0.1:9464",
                    why: e.to_string(),
                })
            })
        })
        .transpose()
}

impl Daemon {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn run_loop(
        &mut self,
        mut admin_rx: mpsc::Receiver<(Call, oneshot::Sender<Response>)>,
        mut served_rx: mpsc::Receiver<ChunkRead>,
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
                Some(resumed) = self.resumed_rx.recv() => self.resumed(resumed),
                Some(note) = self.damaged_rx.recv() => self.blob_damage(note),
                Some(chunk) = served_rx.recv() => self.chunk_read(chunk),
                Some((req, reply)) = admin_rx.recv() => self.on_admin(req, reply),
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
                    self.expire_blob_waiters();
                    self.refresh_store_metrics();
                }
            }
            self.metrics.beat();
            self.escrow_return_due();
            self.after_step();
            self.prune_sync_rows();
            self.node.repo().end_step();
        }
    }

    /// Drops `sync status` rows of peers away for long, and the rows synced
    /// longest ago while there are more than [`SYNC_ROWS_MAX`].
    fn prune_sync_rows(&mut self) {
        let over = self.sync_rows.len() > SYNC_ROWS_MAX;
        if !over && self.sync_rows_pruned.elapsed() < Duration::from_millis(SYNC_ROWS_PRUNE_MS) {
            return;
        }
        self.sync_rows_pruned = Instant::now();
        let oldest = Utc::now() - chrono::Duration::milliseconds(SYNC_ROWS_AWAY_MS);
        let connected = &self.connected;
        self.sync_rows.retain(|(p, _), row| {
            connected.contains_key(p)
                || row.problem.is_some()
                || row.last_synced.is_some_and(|t| t > oldest)
        });
        if self.sync_rows.len() > SYNC_ROWS_MAX {
            // Down to nine tenths, so the sort is paid once per many rows.
            let mut by_age: Vec<_> = self
                .sync_rows
                .iter()
                .map(|(k, row)| (row.last_synced, k.clone()))
                .collect();
            by_age.sort_unstable();
            let excess = self.sync_rows.len() - SYNC_ROWS_MAX * 9 / 10;
            for (_, k) in by_age.into_iter().take(excess) {
                self.sync_rows.remove(&k);
            }
        }
    }

    /// Ends every peer's sessions so their sync states are saved.
    fn shut_down(&mut self) {
        let peers: Vec<PeerId> = self.peer_creds.keys().copied().collect();
        for p in peers {
            self.drop_peer(&p);
        }
        if let Err(e) = self.node.repo().flush() {
            tracing::warn!(error = %e, "sync states and changes staged at shutdown were not stored");
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
