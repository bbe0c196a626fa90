//! The samod end of the comparison: a `samod::Repo` with in-memory storage
//! on a thread of its own, on a current-thread tokio runtime, connected over
//! a [`super::duplex`] link. The bench's own work on a repo (creating
//! documents, writing, waiting for acknowledgements) runs on that repo's
//! thread too, so each side has one thread, as the Yizhan ends do.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::Context;
use futures::channel::oneshot;
use samod::{BackoffConfig, DialError, Dialer, Repo, Transport, Url};
use tokio::runtime::Handle;

use super::duplex::Half;

/// A repo running on its own thread.
pub struct SamodEnd {
    /// The repo.
    pub repo: Repo,
    runtime: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SamodEnd {
    /// Starts a repo named `name` with in-memory storage.
    pub fn spawn(name: &str) -> anyhow::Result<SamodEnd> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let peer_id = samod::PeerId::from(name);
        let thread = std::thread::Builder::new()
            .name(format!("bench-samod-{name}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("bench samod: no runtime: {e}");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let repo = Repo::build_tokio().with_peer_id(peer_id).load().await;
                    let _ = ready_tx.send((repo.clone(), Handle::current()));
                    let _ = stopped.await;
                    repo.stop().await;
                });
            })?;
        let (repo, runtime) = ready_rx.recv().context("the samod thread did not start")?;
        Ok(SamodEnd {
            repo,
            runtime,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Runs `f(repo)` on the repo's own thread and waits for its result.
    pub fn run<F, Fut, T>(&self, f: F) -> anyhow::Result<T>
    where
        F: FnOnce(Repo) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let task = self.runtime.spawn(f(self.repo.clone()));
        futures::executor::block_on(task).context("a task on the samod thread failed")
    }

    /// Stops the repo and its thread.
    pub fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().ok().context("the samod thread panicked")?;
        }
        Ok(())
    }
}

/// Dials the acceptor of another repo over a fresh link made by `make`:
/// the other half goes to the acceptor.
pub struct LinkDialer {
    acceptor: samod::AcceptorHandle,
    make: Arc<Mutex<dyn FnMut() -> (Half, Half) + Send>>,
}

impl LinkDialer {
    /// A dialer to `acceptor` over links made by `make`.
    pub fn new(
        acceptor: samod::AcceptorHandle,
        make: impl FnMut() -> (Half, Half) + Send + 'static,
    ) -> LinkDialer {
        LinkDialer {
            acceptor,
            make: Arc::new(Mutex::new(make)),
        }
    }
}

/// The link could not be handed to the acceptor (its repo stopped).
#[derive(Debug, thiserror::Error)]
#[error("the accepting repo has stopped")]
pub struct AcceptorGone;

impl Dialer for LinkDialer {
    type Error = AcceptorGone;

    fn url(&self) -> Url {
        Url::parse("bench://duplex").unwrap_or_else(|_| unreachable!("a valid literal url"))
    }

    fn connect(
        &self,
    ) -> futures::future::BoxFuture<'static, Result<Transport, DialError<AcceptorGone>>> {
        let halves = match self.make.lock() {
            Ok(mut make) => Ok(make()),
            Err(_) => Err(AcceptorGone),
        };
        let acceptor = self.acceptor.clone();
        Box::pin(async move {
            let (ours, theirs) = halves.map_err(DialError::transient)?;
            acceptor
                .accept(theirs.into_transport())
                .map_err(|_| DialError::transient(AcceptorGone))?;
            Ok(ours.into_transport())
        })
    }
}

/// Backoff for the bench's dialer: the link never fails, so this only
/// matters if the accepting repo is gone.
pub fn backoff() -> BackoffConfig {
    BackoffConfig::default()
}
