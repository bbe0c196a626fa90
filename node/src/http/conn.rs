//! Bounds on connections, below axum: at most [`CONNECTIONS_MAX`] open at
//! once, and each closed after [`IDLE_TIMEOUT_MS`] without a byte either
//! way.
//!
//! Why here: axum 0.8 neither caps connections nor times out a client that
//! sends its headers slowly or keeps a connection open saying nothing (the
//! request timeout starts only once the headers are in). A permit taken
//! before each accept and released when the connection drops caps them; an
//! idle timer on the stream ends the ones that hold a slot doing nothing.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections open at once at most; further clients wait in the kernel's
/// backlog until one closes.
pub const CONNECTIONS_MAX: usize = 512;
/// A connection with no byte read or written for this long is closed.
pub const IDLE_TIMEOUT_MS: u64 = 60_000;

/// A listener that holds a slot per open connection.
pub struct Capped<L> {
    inner: L,
    slots: Arc<Semaphore>,
}

impl<L> Capped<L> {
    /// Caps `inner` at [`CONNECTIONS_MAX`] connections.
    pub fn new(inner: L) -> Capped<L> {
        Capped {
            inner,
            slots: Arc::new(Semaphore::new(CONNECTIONS_MAX)),
        }
    }
}

impl<L: axum::serve::Listener> axum::serve::Listener for Capped<L> {
    type Io = Held<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so acquiring only waits.
        let permit = match self.slots.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => std::future::pending().await,
        };
        let (io, addr) = self.inner.accept().await;
        (Held::new(io, permit), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection holding its slot, closed when idle too long.
pub struct Held<T> {
    io: T,
    idle_after: Duration,
    idle: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl<T> Held<T> {
    fn new(io: T, slot: OwnedSemaphorePermit) -> Held<T> {
        Held::idle_after(io, slot, Duration::from_millis(IDLE_TIMEOUT_MS))
    }

    fn idle_after(io: T, slot: OwnedSemaphorePermit, idle_after: Duration) -> Held<T> {
        Held {
            io,
            idle_after,
            idle: Box::pin(tokio::time::sleep(idle_after)),
            _slot: slot,
        }
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    fn active(&mut self) {
        let at = Instant::now() + self.idle_after;
        self.idle.as_mut().reset(at);
    }

    /// After the stream said Pending: an error once the idle time is up.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "HTTP connection idle too long",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Held<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.active();
                Poll::Ready(r)
            }
            Poll::Pending => this.check_idle(cx).map(Err),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Held<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.active();
                Poll::Ready(r)
            }
            Poll::Pending => this.check_idle(cx).map(Err),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn an_idle_connection_is_closed_and_an_active_one_is_not() {
        let slots = Arc::new(Semaphore::new(1));
        let (client, server) = tokio::io::duplex(64);
        let idle = Duration::from_millis(300);
        let permit = slots.clone().try_acquire_owned().unwrap();
        let mut held = Held::idle_after(server, permit, idle);
        let mut client = client;
        // Bytes every third of the idle time keep it open past it.
        for _ in 0..4 {
            tokio::time::sleep(idle / 3).await;
            client.write_all(b"x").await.unwrap();
            let mut b = [0u8; 1];
            held.read_exact(&mut b).await.unwrap();
        }
        assert_eq!(slots.available_permits(), 0);
        let mut b = [0u8; 1];
        let err = held.read_exact(&mut b).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(held);
        assert_eq!(
            slots.available_permits(),
            1,
            "a closed connection frees its slot"
        );
    }
}
