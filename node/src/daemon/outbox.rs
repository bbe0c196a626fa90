//! The sync protocol's send window: how many messages to one peer may await
//! their acknowledgement at once, and the queue behind them.
//!
//! Every sync message travels on its own stream, and the receiving side
//! keeps that stream open until its loop has taken the message and sent the
//! (empty) acknowledgement. A receiver whose loop is busy, such as a district
//! checking thousands of changes on a slow machine, therefore holds many
//! streams at once, and past [`crate::net::STREAMS_PER_CONNECTION_MAX`]
//! libp2p drops the newest with "at capacity": a wasted round, and a warning
//! the operator cannot act on. The engine does not know about streams, so
//! the sender bounds them here: at most [`SYNC_WINDOW`] unacknowledged
//! messages per peer, the rest queued in order and sent as acknowledgements
//! come back. The queue itself is bounded; a message that does not fit is
//! dropped, which the engine already survives (its reply timeout resends).

use std::collections::{HashMap, HashSet, VecDeque};

use libp2p::PeerId;
use libp2p::request_response::OutboundRequestId;

/// Unacknowledged sync messages per peer: half the receiver's stream limit,
/// leaving room for the messages the receiver sends us on the same
/// connection's other direction and for a second connection.
pub(super) const SYNC_WINDOW: usize = crate::net::STREAMS_PER_CONNECTION_MAX / 2;
/// Messages queued per peer behind the window.
pub(super) const SYNC_QUEUE_MAX: usize = 1_024;
/// Bytes queued per peer behind the window.
pub(super) const SYNC_QUEUE_BYTES_MAX: usize = 32 * 1024 * 1024;

#[derive(Default)]
struct PeerOut {
    in_flight: HashSet<OutboundRequestId>,
    queue: VecDeque<Vec<u8>>,
    queued_bytes: usize,
}

/// What [`Outbox::push`] decided about one message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Push {
    /// Send it now, and report its request id with [`Outbox::sent`].
    Send(Vec<u8>),
    /// Queued behind the window.
    Queued,
    /// The queue is full: dropped.
    Dropped,
}

/// Per-peer send windows.
#[derive(Default)]
pub(super) struct Outbox {
    peers: HashMap<PeerId, PeerOut>,
    dropped: u64,
}

impl Outbox {
    /// A message for `peer`: send it now if the window has room, else queue it.
    pub(super) fn push(&mut self, peer: PeerId, bytes: Vec<u8>) -> Push {
        let out = self.peers.entry(peer).or_default();
        if out.in_flight.len() < SYNC_WINDOW && out.queue.is_empty() {
            return Push::Send(bytes);
        }
        if out.queue.len() >= SYNC_QUEUE_MAX
            || out.queued_bytes.saturating_add(bytes.len()) > SYNC_QUEUE_BYTES_MAX
        {
            self.dropped += 1;
            return Push::Dropped;
        }
        out.queued_bytes += bytes.len();
        out.queue.push_back(bytes);
        Push::Queued
    }

    /// A message pushed with [`Push::Send`] went out as request `id`.
    pub(super) fn sent(&mut self, peer: PeerId, id: OutboundRequestId) {
        self.peers.entry(peer).or_default().in_flight.insert(id);
    }

    /// Request `id` to `peer` was acknowledged or failed: its slot is free.
    /// Returns the queued messages that may go out now, in order.
    pub(super) fn done(&mut self, peer: &PeerId, id: OutboundRequestId) -> Vec<Vec<u8>> {
        let Some(out) = self.peers.get_mut(peer) else {
            return Vec::new();
        };
        out.in_flight.remove(&id);
        let mut next = Vec::new();
        while out.in_flight.len() + next.len() < SYNC_WINDOW {
            let Some(bytes) = out.queue.pop_front() else {
                break;
            };
            out.queued_bytes -= bytes.len();
            next.push(bytes);
        }
        if out.in_flight.is_empty() && out.queue.is_empty() && next.is_empty() {
            self.peers.remove(peer);
        }
        next
    }

    /// The peer is gone: forget its window and queue (the engine resyncs
    /// from the shared heads when it returns).
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    /// Messages dropped because a queue was full, since the start.
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Messages queued behind the windows of all peers.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.peers.values().map(|p| p.queue.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request ids cannot be made outside libp2p, so the test takes them
    /// from a real behaviour sending to a peer that is not connected.
    fn ids(n: usize) -> Vec<OutboundRequestId> {
        use crate::net::codec::{BytesCodec, Frame};
        let mut b = libp2p::request_response::Behaviour::with_codec(
            BytesCodec::new(1024, 64),
            [(
                crate::net::SYNC_PROTOCOL,
                libp2p::request_response::ProtocolSupport::Full,
            )],
            libp2p::request_response::Config::default(),
        );
        let peer = PeerId::random();
        (0..n)
            .map(|_| b.send_request(&peer, Frame::Bytes(vec![])))
            .collect()
    }

    #[test]
    fn the_window_holds_messages_back_until_acknowledgements_free_it() {
        let peer = PeerId::random();
        let mut o = Outbox::default();
        let ids = ids(SYNC_WINDOW + 1);
        for (i, id) in ids.iter().take(SYNC_WINDOW).enumerate() {
            assert_eq!(o.push(peer, vec![i as u8]), Push::Send(vec![i as u8]));
            o.sent(peer, *id);
        }
        assert_eq!(o.push(peer, vec![200]), Push::Queued);
        assert_eq!(o.push(peer, vec![201]), Push::Queued);
        assert_eq!(o.queued(), 2);
        // One slot frees one queued message, oldest first.
        assert_eq!(o.done(&peer, ids[0]), vec![vec![200]]);
        o.sent(peer, ids[SYNC_WINDOW]);
        // While something is queued, new messages queue behind it.
        assert_eq!(o.push(peer, vec![202]), Push::Queued);
        assert_eq!(o.done(&peer, ids[1]), vec![vec![201]]);
        o.forget(&peer);
        assert_eq!(o.queued(), 0);
        assert_eq!(o.push(peer, vec![9]), Push::Send(vec![9]));
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let peer = PeerId::random();
        let mut o = Outbox::default();
        for id in ids(SYNC_WINDOW) {
            assert!(matches!(o.push(peer, vec![0]), Push::Send(_)));
            o.sent(peer, id);
        }
        for _ in 0..SYNC_QUEUE_MAX {
            assert_eq!(o.push(peer, vec![1]), Push::Queued);
        }
        assert_eq!(o.push(peer, vec![2]), Push::Dropped);
        assert_eq!(o.dropped(), 1);
        // Another peer is not affected.
        assert!(matches!(o.push(PeerId::random(), vec![3]), Push::Send(_)));
    }
}
