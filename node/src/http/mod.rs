//! The node's HTTP server: Open311 GeoReport v2 for civic apps and riders'
//! phones, off unless `node start --http ADDR` or `[http] listen` asks for
//! it; TLS from `[http] cert` and `key`, plain HTTP only with `[http] plain`.
//!
//! Every handler reaches the node the way the CLI does: it sends an admin
//! [`Call`] down the daemon loop's channel ([`Calls`]) and awaits the
//! answer. Writes therefore get the same validation, the same signed
//! changes and the same durable commit before the answer; large reads are
//! answered off the loop on a read-only view, as the admin socket's are.
//!
//! [`router`] is the one place the routes are put together: the rider's
//! page (`/`) and the staff console (`/console`) nest beside
//! `/open311/v2` there.

pub mod codes;
pub mod conn;
mod edge;
pub mod open311;
pub mod rider_api;
pub mod sniff;
pub mod staff_api;
pub mod staff_office;
pub mod tls;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use crdt_model::PlaceId;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::admin::{Call, Response};
use crate::config::Role;

pub use edge::Limits;

/// How the HTTP server reaches the daemon's loop: the admin socket's own
/// channel.
pub type Calls = mpsc::Sender<(Call, oneshot::Sender<Response>)>;

/// What every handler shares.
#[derive(Clone)]
pub struct HttpState {
    calls: Calls,
    /// The node's place: the jurisdiction, and the only place codes work for.
    pub place: PlaceId,
    /// The node's role.
    pub role: Role,
    /// `[http] public_url`: the base of links this server gives out.
    pub public_url: Option<String>,
    /// `https`, or `http` when serving plain.
    pub scheme: &'static str,
    /// `duplicate_radius_m`: how near an open case of the same category
    /// must be to be offered to a rider as "me too".
    pub duplicate_radius_m: f64,
    limits: Arc<edge::KeyedLimits>,
}

impl HttpState {
    /// A state whose handlers send their calls down `calls`.
    pub fn new(
        calls: Calls,
        config: &crate::config::Config,
        tls: bool,
        limits: &Limits,
    ) -> HttpState {
        HttpState {
            calls,
            place: config.place.clone(),
            role: config.role,
            public_url: config.http.public_url.clone(),
            scheme: if tls { "https" } else { "http" },
            duplicate_radius_m: config.duplicate_radius_m,
            limits: Arc::new(edge::KeyedLimits::new(limits)),
        }
    }

    /// Asks the node, as the admin socket does; `None` when the node is
    /// shutting down or did not answer in time.
    pub async fn call(&self, call: Call) -> Option<Response> {
        let (reply, answer) = oneshot::channel();
        let wait = Duration::from_millis(crate::admin::CALL_TIMEOUT_MS);
        tokio::time::timeout(wait, async {
            self.calls.send((call, reply)).await.ok()?;
            answer.await.ok()
        })
        .await
        .ok()
        .flatten()
    }
}

/// Every route the server answers, with the edge's limits around them:
/// Open311, the rider's page and the staff console with their JSON
/// endpoints.
pub fn router(state: HttpState, limits: &Limits) -> Router {
    let app = Router::new()
        .nest("/open311/v2", open311::routes(state.clone(), limits))
        .nest("/api/rider", rider_api::routes(state.clone(), limits))
        .nest(
            "/api/staff",
            staff_api::routes(state.clone(), limits)
                .merge(staff_office::routes(state.clone(), limits)),
        )
        .merge(web::routes());
    edge::wrap(app, limits, state.limits.clone())
}

/// Serves `app` on `listener` until the task is dropped: over TLS when
/// `tls` is given, else plain HTTP.
pub async fn serve(listener: TcpListener, tls: Option<tls::TlsConfig>, app: Router) {
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    // `tap_io` sets TCP_NODELAY (small JSON answers go out at once) and,
    // through axum's impl for tapped listeners, gives handlers the
    // client's address for the per-IP limits on either kind of listener.
    let result = match tls {
        Some(tls) => {
            let listener = conn::Capped::new(tls::TlsListener::new(listener, tls)).tap_io(|io| {
                let _ = io.get_ref().get_ref().0.set_nodelay(true);
            });
            axum::serve(listener, app).await
        }
        None => {
            let listener = conn::Capped::new(listener).tap_io(|io| {
                let _ = io.get_ref().set_nodelay(true);
            });
            axum::serve(listener, app).await
        }
    };
    if let Err(e) = result {
        warn!(error = %e, "the HTTP server stopped");
    }
}

/// Starts the server if the flag (`--http`) or `[http] listen` asks for
/// one: binds the address, loads the certificate, and serves in a task.
/// Refuses to serve plain HTTP unless `[http] plain = true` says so.
/// `announce` prints the server's URL on stdout, as `node start` does
/// its listen addresses.
pub async fn start(
    flag: Option<SocketAddr>,
    dir: &std::path::Path,
    config: &crate::config::Config,
    calls: Calls,
    announce: bool,
) -> Result<Option<tokio::task::JoinHandle<()>>, crate::NodeError> {
    use crate::NodeError;
    let http = &config.http;
    let addr = match (flag, http.listen.as_deref()) {
        (Some(addr), _) => addr,
        (None, None) => return Ok(None),
        (None, Some(a)) => a.parse().map_err(|e: std::net::AddrParseError| {
            NodeError::from(crate::refusal::AdminRefusal::BadListenAddress {
                section: "http",
                value: a.to_owned(),
                example: "0.0.0.0:8443",
                why: e.to_string(),
            })
        })?,
    };
    let tls = match (&http.cert, &http.key) {
        (Some(cert), Some(key)) => Some(
            tls::TlsConfig::load(&dir.join(cert), &dir.join(key))
                .map_err(|e| NodeError::from(crate::refusal::AdminRefusal::Tls(e)))?,
        ),
        _ if http.plain => None,
        _ => {
            return Err(crate::refusal::AdminRefusal::NoTls.into());
        }
    };
    let listener =
        TcpListener::bind(addr)
            .await
            .map_err(|e| crate::refusal::AdminRefusal::CannotServe {
                what: "HTTP",
                addr,
                why: e.to_string(),
            })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    match listener.local_addr() {
        Ok(address) => {
            info!(%address, scheme, "serving HTTP");
            if announce {
                println!("serving {scheme}://{address}/open311/v2/");
            }
        }
        Err(e) => warn!(error = %e, "serving HTTP on an address it cannot name"),
    }
    let limits = Limits::default();
    let state = HttpState::new(calls, config, tls.is_some(), &limits);
    let app = router(state, &limits);
    Ok(Some(tokio::spawn(tracing::Instrument::in_current_span(
        serve(listener, tls, app),
    ))))
}
