//! `yizhan node start`: build the effective configuration, install signal
//! handlers, and run the node until SIGINT or SIGTERM.

use std::path::Path;

use anyhow::Context as _;
use libp2p::Multiaddr;
use node::Node;
use node::daemon::{RunOptions, run as run_node};

use crate::args::StartArgs;

pub(crate) fn addrs(list: &[String], what: &str) -> anyhow::Result<Vec<Multiaddr>> {
    list.iter()
        .map(|a| {
            a.parse().with_context(|| {
                format!("{what} {a:?} is not a multiaddr (such as /ip4/127.0.0.1/tcp/4001)")
            })
        })
        .collect()
}

/// What the node runs with: the flags' addresses and the config file's.
/// Validates every flag, so a bad one fails before anything starts.
pub(crate) fn options(dir: &Path, a: &StartArgs) -> anyhow::Result<RunOptions> {
    let mut listen = addrs(&a.listen, "--listen")?;
    let mut peers = addrs(&a.peer, "--peer")?;
    let config = Node::load_config(dir)?;
    listen.extend(addrs(&config.listen, "listen address in config.toml")?);
    peers.extend(addrs(&config.peers, "peer in config.toml")?);
    Ok(RunOptions {
        listen,
        peers,
        mdns: config.mdns && !a.no_mdns,
        metrics: a.metrics,
        http: a.http,
        announce: true,
    })
}

/// A runtime for the node.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; stop the node with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

pub fn run(dir: &Path, a: StartArgs) -> anyhow::Result<()> {
    let opts = options(dir, &a)?;
    runtime()?.block_on(run_node(dir, opts, stop_signal()))?;
    Ok(())
}
