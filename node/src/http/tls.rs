//! TLS for the HTTP server: the certificate and key named in `[http]`,
//! self-signed ones for trials, and a listener that hands axum only
//! connections whose handshake finished.
//!
//! Why its own listener: a handshake done inside axum's accept would let
//! one slow client stall every other. Here each handshake runs in its own
//! task with a deadline, at most [`HANDSHAKES_MAX`] at once, and finished
//! connections queue for axum.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

/// TLS handshakes in progress at most; further clients wait in the
/// kernel's backlog.
pub const HANDSHAKES_MAX: usize = 64;
/// A client that has not finished its handshake by then is dropped.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Finished connections waiting for axum to take them.
const READY_QUEUE: usize = 64;
/// Wait after a failed accept (out of file descriptors, say).
const ACCEPT_BACKOFF_MS: u64 = 1_000;

/// The certificate or key could not be used.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("[http] {what} {path}: {why}")]
    Pem {
        /// cert or key.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The certificate file holds no certificate (a key given twice, say).
    #[error("[http] cert {path}: holds no certificate")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the pair (the key does not match, say).
    #[error("[http] cert and key: {0}")]
    Rustls(#[from] rustls::Error),
    /// A self-signed certificate could not be made.
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A server configuration ready to accept connections.
#[derive(Clone)]
pub struct TlsConfig(Arc<rustls::ServerConfig>);

impl TlsConfig {
    /// Loads the PEM certificate chain `cert` and private key `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<TlsConfig, TlsError> {
        let pem = |what, path: &Path, why: String| TlsError::Pem {
            what,
            path: path.to_owned(),
            why,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| pem("cert", cert, e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| pem("cert", cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: cert.to_owned(),
            });
        }
        let key_der =
            PrivateKeyDer::from_pem_file(key).map_err(|e| pem("key", key, e.to_string()))?;
        // The ring provider named outright: the dependency tree also holds
        // aws-lc-rs (libp2p's QUIC), and with two providers present rustls
        // cannot pick a process default.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig(Arc::new(config)))
    }
}

/// A certificate and key in PEM for `hosts` (DNS names or IP addresses),
/// signed by themselves: for trials, where phones are told to trust it.
pub fn self_signed(hosts: Vec<String>) -> Result<(String, String), TlsError> {
    let made = rcgen::generate_simple_self_signed(hosts)?;
    Ok((made.cert.pem(), made.key_pair.serialize_pem()))
}

/// Accepts TCP connections and hands over those whose TLS handshake
/// finished in time.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: std::io::Result<SocketAddr>,
    task: JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp` with `config`.
    pub fn new(tcp: TcpListener, config: TlsConfig) -> TlsListener {
        let local = tcp.local_addr();
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let acceptor = TlsAcceptor::from(config.0);
        let slots = Arc::new(Semaphore::new(HANDSHAKES_MAX));
        let task = tokio::spawn(async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (stream, addr) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        warn!(error = %e, "cannot accept an HTTP connection; waiting before trying again");
                        tokio::time::sleep(Duration::from_millis(ACCEPT_BACKOFF_MS)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let wait = Duration::from_millis(HANDSHAKE_TIMEOUT_MS);
                    match tokio::time::timeout(wait, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => debug!(client = %addr, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(client = %addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { ready, local, task }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task ended (the runtime is shutting down): wait
            // for the server to be dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        match &self.local {
            Ok(a) => Ok(*a),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_pair_loads_and_a_mismatched_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(vec!["localhost".into()]).unwrap();
        let (_, other_key) = self_signed(vec!["localhost".into()]).unwrap();
        let (c, k, k2) = (
            dir.path().join("c.pem"),
            dir.path().join("k.pem"),
            dir.path().join("k2.pem"),
        );
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        std::fs::write(&k2, other_key).unwrap();
        assert!(TlsConfig::load(&c, &k).is_ok());
        assert!(TlsConfig::load(&c, &k2).is_err());
        assert!(matches!(
            TlsConfig::load(&k, &k),
            Err(TlsError::NoCertificate { .. })
        ));
    }
}
