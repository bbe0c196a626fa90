//! The in-memory transport both sides of the samod comparison run over: a
//! pair of bounded channels of whole messages, each message stamped when it
//! is sent and delivered no sooner than `delay` later (a delay line; order
//! is kept, and messages sent together arrive together, as on a link with
//! latency but ample bandwidth). Bytes and messages are counted as they are
//! sent, both ways.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::channel::mpsc::{self, Receiver, SendError, Sender};
use futures::{SinkExt, Stream, StreamExt};

/// Messages queued per direction before the sender waits. Far above what
/// either side sends in one burst (a cold sync of 1,000 documents sends
/// about 2,000 messages with samod, fewer with Yizhan).
const QUEUE_MESSAGES_MAX: usize = 65_536;

/// What crossed the link, both ways, since it was made.
#[derive(Debug, Default)]
pub struct Counter {
    bytes: AtomicU64,
    messages: AtomicU64,
}

impl Counter {
    fn add(&self, bytes: usize) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.messages.fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes sent so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Messages sent so far.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }
}

type Stamped = (Instant, Vec<u8>);

/// Messages as they arrive at one end, each no sooner than its delay.
pub type Arrivals = Pin<Box<dyn Stream<Item = Vec<u8>> + Send>>;

/// One end of a link.
pub struct Half {
    tx: Sender<Stamped>,
    rx: Receiver<Stamped>,
    delay: Duration,
    counter: Arc<Counter>,
}

/// A link with `delay` one way; both halves count into `counter`.
pub fn duplex(delay: Duration, counter: &Arc<Counter>) -> (Half, Half) {
    let (a_tx, b_rx) = mpsc::channel(QUEUE_MESSAGES_MAX);
    let (b_tx, a_rx) = mpsc::channel(QUEUE_MESSAGES_MAX);
    let half = |tx, rx| Half {
        tx,
        rx,
        delay,
        counter: Arc::clone(counter),
    };
    (half(a_tx, a_rx), half(b_tx, b_rx))
}

/// Delivers each message at its stamp plus `delay`. The wait is inside the
/// stream, so a `select!` that drops a pending `next()` loses nothing.
fn delayed(rx: Receiver<Stamped>, delay: Duration) -> Arrivals {
    Box::pin(rx.then(move |(sent, bytes)| async move {
        tokio::time::sleep_until((sent + delay).into()).await;
        bytes
    }))
}

impl Half {
    /// Splits the half into what the Yizhan driver needs: a sender and the
    /// stream of arrivals.
    pub fn split(self) -> (Outbox, Arrivals) {
        let arrivals = delayed(self.rx, self.delay);
        let outbox = Outbox {
            tx: self.tx,
            counter: self.counter,
        };
        (outbox, arrivals)
    }

    /// The half as a samod transport.
    pub fn into_transport(self) -> samod::Transport {
        let counter = self.counter;
        let stream = delayed(self.rx, self.delay).map(Ok::<_, Infallible>);
        let sink = self.tx.with(move |bytes: Vec<u8>| {
            counter.add(bytes.len());
            futures::future::ready(Ok::<_, SendError>((Instant::now(), bytes)))
        });
        samod::Transport::new(stream, sink)
    }
}

/// The sending side of a half.
pub struct Outbox {
    tx: Sender<Stamped>,
    counter: Arc<Counter>,
}

impl Outbox {
    /// Sends one message, waiting if the queue is full; false once the
    /// other end is gone.
    pub async fn send(&mut self, bytes: Vec<u8>) -> bool {
        self.counter.add(bytes.len());
        self.tx.send((Instant::now(), bytes)).await.is_ok()
    }
}
