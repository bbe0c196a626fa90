//! Blob range requests waiting for a reading thread, taken in turn by peer.
//!
//! Why not one queue in arrival order: a member that sends a hundred
//! requests at once would then make every other peer's next range wait
//! behind all of them, and could fill the whole queue so that others are
//! refused. Each peer may queue at most [`BLOB_SERVE_QUEUE_PER_PEER_MAX`]
//! (an honest fetcher has 8 in flight), and the readers take one request
//! from each waiting peer in turn.

use std::collections::{HashMap, VecDeque};

use libp2p::PeerId;

/// Requests waiting, all peers together; more are refused for now.
pub(super) const BLOB_SERVE_QUEUE_MAX: usize = 256;
/// Requests one peer may have waiting.
pub(super) const BLOB_SERVE_QUEUE_PER_PEER_MAX: usize = 32;

/// The waiting requests, per peer, with the order in which peers are next.
#[derive(Debug)]
pub(super) struct ServeQueue<T> {
    per_peer: HashMap<PeerId, VecDeque<T>>,
    /// Every peer with a request waiting, once, in the order they are next.
    turn: VecDeque<PeerId>,
    len: usize,
}

impl<T> Default for ServeQueue<T> {
    fn default() -> Self {
        ServeQueue {
            per_peer: HashMap::new(),
            turn: VecDeque::new(),
            len: 0,
        }
    }
}

impl<T> ServeQueue<T> {
    /// Queues `item` for `peer`, or hands it back when the queue or the
    /// peer's share of it is full.
    pub(super) fn push(&mut self, peer: PeerId, item: T) -> Result<(), T> {
        if self.len >= BLOB_SERVE_QUEUE_MAX {
            return Err(item);
        }
        let waiting = self.per_peer.entry(peer).or_default();
        if waiting.len() >= BLOB_SERVE_QUEUE_PER_PEER_MAX {
            return Err(item);
        }
        if waiting.is_empty() {
            self.turn.push_back(peer);
        }
        waiting.push_back(item);
        self.len += 1;
        Ok(())
    }

    /// The oldest request of the peer whose turn it is.
    pub(super) fn pop(&mut self) -> Option<(PeerId, T)> {
        // A peer in turn always has a request waiting; were that ever not
        // so, it is skipped rather than left to stall the queue.
        while let Some(peer) = self.turn.pop_front() {
            let Some(waiting) = self.per_peer.get_mut(&peer) else {
                continue;
            };
            let Some(item) = waiting.pop_front() else {
                self.per_peer.remove(&peer);
                continue;
            };
            if waiting.is_empty() {
                self.per_peer.remove(&peer);
            } else {
                self.turn.push_back(peer);
            }
            self.len -= 1;
            return Some((peer, item));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_take_turns_whatever_order_they_asked_in() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut q = ServeQueue::default();
        for i in 0..3 {
            q.push(a, ("a", i)).unwrap();
        }
        q.push(b, ("b", 0)).unwrap();
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, item)| item)).collect();
        assert_eq!(order, [("a", 0), ("b", 0), ("a", 1), ("a", 2)]);
        assert!(q.pop().is_none());
    }

    #[test]
    fn one_peer_cannot_fill_the_queue() {
        let mut q = ServeQueue::default();
        let greedy = PeerId::random();
        for i in 0..BLOB_SERVE_QUEUE_PER_PEER_MAX {
            q.push(greedy, i).unwrap();
        }
        assert_eq!(q.push(greedy, 99), Err(99));
        // Others still get in, until the whole queue is full.
        let mut others = 0;
        while q.push(PeerId::random(), 0).is_ok() {
            others += 1;
        }
        assert_eq!(others, BLOB_SERVE_QUEUE_MAX - BLOB_SERVE_QUEUE_PER_PEER_MAX);
        // Served, the greedy peer may queue again.
        let mut taken = 0;
        while let Some((peer, _)) = q.pop() {
            if peer == greedy {
                taken += 1;
                break;
            }
        }
        assert_eq!(taken, 1);
        assert!(q.push(greedy, 100).is_ok());
    }
}
