//! What a running node tells a monitoring system: Prometheus metrics at
//! `/metrics` and a health check at `/healthz`, served over HTTP on the
//! address `--metrics` or `[metrics] listen` names (off unless asked for).
//!
//! The daemon's loop updates the metrics as things happen (peers admitted
//! and dropped, syncs, refusals, blobs wanted); counts that need a look at
//! the store (documents, store size, open and overdue cases) are refreshed
//! on a blocking thread, [`STORE_REFRESH_AFTER_WRITE_MS`] after a write and
//! every [`STORE_REFRESH_MS`] otherwise. Labels are places, roles,
//! categories and refusal kinds, never peer or document ids, so a series
//! per label stays bounded by the federation's size.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::store::BlobTotals;

/// How often the store-derived gauges are recomputed when nothing was written.
pub const STORE_REFRESH_MS: u64 = 30_000;
/// How soon after a write they are recomputed (at most this often).
pub const STORE_REFRESH_AFTER_WRITE_MS: u64 = 2_000;
/// The loop is reported unhealthy when it has not turned for this long (it
/// turns at least every 250 ms on its redial timer).
pub const HEALTHY_LOOP_MS: u64 = 10_000;

/// A peer as a label: its place and role, from its credential.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    /// The peer's place, such as `guandu/yiliu/xinyazhou`.
    pub place: String,
    /// district, street or community.
    pub role: String,
}

/// A refusal's kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The engine's refusal kind, such as `forged` or `malformed`.
    pub reason: String,
}

/// A report category.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabels {
    /// The category, such as `electrical_fire`.
    pub category: String,
}

/// Every metric a node exports, cheap to clone into other threads.
#[derive(Clone)]
pub struct NodeMetrics {
    registry: Arc<Registry>,
    /// Admitted peers connected now, by place and role.
    pub peers_connected: Family<PeerLabels, Gauge>,
    /// When each peer was last in sync with this node on some document
    /// (unix seconds).
    pub last_sync: Family<PeerLabels, Gauge>,
    /// Changes received from peers and taken in (their checks passed).
    pub changes_received: Counter,
    /// Input refused, by kind.
    pub refused: Family<ReasonLabels, Counter>,
    /// Documents held.
    pub documents: Gauge,
    /// Bytes of the store file.
    pub store_bytes: Gauge,
    /// Blob files held (photos and voice notes, beside the store file).
    pub blobs: Gauge,
    /// Bytes of the blob files, their trees included.
    pub blob_bytes: Gauge,
    /// Blobs referenced by reports held here but not held yet.
    pub blobs_missing: Gauge,
    /// Bytes of blob range responses received by this node's fetches.
    pub blob_bytes_received: Counter,
    /// Bytes of blobs an interrupted fetch had verified and kept, so a later
    /// fetch did not ask for them again.
    pub blob_bytes_resumed: Counter,
    /// Blob files found damaged and set aside to be fetched again.
    pub blobs_set_aside: Counter,
    /// Range requests refused because the peer had spent its budget for
    /// making this node hash photos again (`net::rehash_budget`).
    pub blob_ranges_refused_rehash: Counter,
    /// Cases not closed, by category.
    pub cases_open: Family<CategoryLabels, Gauge>,
    /// Open cases past their deadline, by category.
    pub cases_overdue: Family<CategoryLabels, Gauge>,
    /// Points a station returned from escrow by itself on reconnecting
    /// (`[escrow] return_on_reconnect`).
    pub escrow_returned_on_reconnect: Counter,
    /// The swarm's own metrics (connections, identify, ping).
    pub swarm: Arc<libp2p::metrics::Metrics>,
    /// When the daemon's loop last turned (unix ms).
    heartbeat: Arc<AtomicU64>,
}

impl NodeMetrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> NodeMetrics {
        let mut registry = Registry::with_prefix("yizhan");
        let peers_connected = Family::<PeerLabels, Gauge>::default();
        registry.register(
            "peers_connected",
            "Admitted peers connected now, by place and role",
            peers_connected.clone(),
        );
        let last_sync = Family::<PeerLabels, Gauge>::default();
        registry.register(
            "peer_last_sync_timestamp_seconds",
            "When the peer was last in sync with this node on a document (unix seconds)",
            last_sync.clone(),
        );
        let changes_received = Counter::default();
        registry.register(
            "changes_received",
            "Changes received from peers that passed their checks",
            changes_received.clone(),
        );
        let refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "refused",
            "Input from peers refused, by kind",
            refused.clone(),
        );
        let documents = Gauge::default();
        registry.register("documents", "Documents held", documents.clone());
        let store_bytes = Gauge::default();
        registry.register("store_bytes", "Size of the store file", store_bytes.clone());
        let blobs = Gauge::default();
        registry.register(
            "blobs",
            "Blob files held (photos, voice notes)",
            blobs.clone(),
        );
        let blob_bytes = Gauge::default();
        registry.register(
            "blob_bytes",
            "Bytes of the blob files (counted again every 10 minutes, kept up by writes in between)",
            blob_bytes.clone(),
        );
        let blobs_missing = Gauge::default();
        registry.register(
            "blobs_missing",
            "Blobs referenced by reports held here and not held yet",
            blobs_missing.clone(),
        );
        let blob_bytes_received = Counter::default();
        registry.register(
            "blob_received_bytes",
            "Bytes of blob range responses received by this node's fetches",
            blob_bytes_received.clone(),
        );
        let blob_bytes_resumed = Counter::default();
        registry.register(
            "blob_resumed_bytes",
            "Bytes of blobs kept from interrupted fetches and not asked for again",
            blob_bytes_resumed.clone(),
        );
        let blobs_set_aside = Counter::default();
        registry.register(
            "blobs_set_aside",
            "Blob files found damaged and moved to damaged-blobs/ to be fetched again",
            blobs_set_aside.clone(),
        );
        let blob_ranges_refused_rehash = Counter::default();
        registry.register(
            "blob_ranges_refused_rehash",
            "Blob range requests refused because the peer had spent its budget for making this node hash photos again",
            blob_ranges_refused_rehash.clone(),
        );
        let cases_open = Family::<CategoryLabels, Gauge>::default();
        registry.register(
            "cases_open",
            "Cases not closed, by category",
            cases_open.clone(),
        );
        let cases_overdue = Family::<CategoryLabels, Gauge>::default();
        registry.register(
            "cases_overdue",
            "Open cases past their deadline, by category",
            cases_overdue.clone(),
        );
        let escrow_returned_on_reconnect = Counter::default();
        registry.register(
            "escrow_returned_on_reconnect_points",
            "Points a station returned from escrow by itself on reconnecting to its community",
            escrow_returned_on_reconnect.clone(),
        );
        let swarm = Arc::new(libp2p::metrics::Metrics::new(&mut registry));
        NodeMetrics {
            registry: Arc::new(registry),
            peers_connected,
            last_sync,
            changes_received,
            refused,
            documents,
            store_bytes,
            blobs,
            blob_bytes,
            blobs_missing,
            blob_bytes_received,
            blob_bytes_resumed,
            blobs_set_aside,
            blob_ranges_refused_rehash,
            cases_open,
            cases_overdue,
            escrow_returned_on_reconnect,
            swarm,
            heartbeat: Arc::new(AtomicU64::new(now_ms())),
        }
    }

    /// The loop turned: `/healthz` says so.
    pub fn beat(&self) {
        self.heartbeat.store(now_ms(), Ordering::Relaxed);
    }

    /// Sets a gauge family to exactly `counts`: labels no longer counted
    /// drop to zero rather than keep a stale value.
    pub fn set_all<L>(family: &Family<L, Gauge>, counts: impl IntoIterator<Item = (L, i64)>)
    where
        L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    {
        family.clear();
        for (labels, n) in counts {
            family.get_or_create(&labels).set(n);
        }
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Default for NodeMetrics {
    fn default() -> Self {
        NodeMetrics::new()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Unix seconds now, for the last-sync gauge.
pub fn now_s() -> i64 {
    (now_ms() / 1000) as i64
}

async fn metrics(State(m): State<NodeMetrics>) -> impl IntoResponse {
    match m.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("cannot encode the metrics: {e}"),
        ),
    }
}

async fn healthz(State(m): State<NodeMetrics>) -> impl IntoResponse {
    let idle = now_ms().saturating_sub(m.heartbeat.load(Ordering::Relaxed));
    if idle <= HEALTHY_LOOP_MS {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the node's loop has not turned for {} s\n", idle / 1000),
        )
    }
}

/// Binds `addr` for the metrics endpoint (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `/metrics` and `/healthz` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, m: NodeMetrics) {
    match listener.local_addr() {
        Ok(address) => info!(%address, "serving metrics at /metrics and health at /healthz"),
        Err(e) => warn!(error = %e, "serving metrics on an address it cannot name"),
    }
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(m);
    if let Err(e) = axum::serve(listener, app).await {
        warn!(error = %e, "the metrics endpoint stopped");
    }
}

/// Sets the documents held, the store file's size, and the blob files'
/// count and size.
pub fn set_store(m: &NodeMetrics, documents: usize, bytes: u64, blobs: &BlobTotals) {
    let gauge = |n: u64| n.min(i64::MAX as u64) as i64;
    m.documents.set(documents as i64);
    m.store_bytes.set(gauge(bytes));
    m.blobs.set(gauge(blobs.blobs));
    m.blob_bytes.set(gauge(blobs.bytes));
}
