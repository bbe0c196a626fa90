//! How many bytes of photos each peer may make this node hash again per
//! minute. A photo's hash tree lives only in memory (`store::tree_cache`),
//! so a range of a photo whose tree is not there (after a restart, or
//! pushed out by others) makes the node read and hash the whole file, up
//! to 32 MiB, before it sends 256 KiB. An admitted member that asks for
//! the first range of every photo it may read would turn each 45-byte
//! request into that much work; this budget bounds it per peer, while
//! ranges of photos whose trees are kept cost nothing against it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Bytes of photos one peer may make this node hash again per window:
/// about 4.5 MB/s, more than a 4G link carries, so an honest peer catching
/// up after this node restarted is not slowed.
pub const REHASH_BYTES_PER_WINDOW: u64 = 256 * 1024 * 1024;
/// The window the budget is counted over.
pub const REHASH_WINDOW: Duration = Duration::from_secs(60);
/// Peers remembered before those whose window has ended are forgotten. Not
/// a hard cap: peers in their window are kept, and a peer is remembered
/// only while connected and asking, which the connection limits bound.
pub const PEERS_MAX: usize = 4_096;

/// What [`RehashBudget::try_spend`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// Within the budget: go ahead and hash.
    Granted,
    /// Over it; `first` when this is the first refusal of the peer's
    /// window, so the caller can log once per window, not per request.
    Refused {
        /// The first refusal of this window.
        first: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    spent: u64,
    refused: bool,
}

/// Per-peer bytes hashed again, over fixed windows of [`REHASH_WINDOW`]: a
/// peer can spend up to twice the budget across the turn of a window,
/// which is still bounded, and a window needs no history of requests.
#[derive(Debug)]
pub struct RehashBudget {
    per_window: u64,
    peers: HashMap<PeerId, Window>,
}

impl Default for RehashBudget {
    fn default() -> RehashBudget {
        RehashBudget::new(REHASH_BYTES_PER_WINDOW)
    }
}

impl RehashBudget {
    /// A budget of `per_window` bytes per peer and window.
    pub fn new(per_window: u64) -> RehashBudget {
        RehashBudget {
            per_window,
            peers: HashMap::new(),
        }
    }

    /// Spends `bytes` of `peer`'s budget if they fit in what is left of its
    /// window; a refusal spends nothing.
    pub fn try_spend(&mut self, peer: PeerId, bytes: u64, now: Instant) -> Spend {
        if self.peers.len() >= PEERS_MAX && !self.peers.contains_key(&peer) {
            self.peers
                .retain(|_, w| now.duration_since(w.started) < REHASH_WINDOW);
        }
        let w = self.peers.entry(peer).or_insert(Window {
            started: now,
            spent: 0,
            refused: false,
        });
        if now.duration_since(w.started) >= REHASH_WINDOW {
            *w = Window {
                started: now,
                spent: 0,
                refused: false,
            };
        }
        if w.spent.saturating_add(bytes) <= self.per_window {
            w.spent += bytes;
            return Spend::Granted;
        }
        let first = !w.refused;
        w.refused = true;
        Spend::Refused { first }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn a_peer_is_refused_past_its_budget_until_its_window_ends() {
        let mut b = RehashBudget::new(100 * MIB);
        let (p, q) = (PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        assert_eq!(b.try_spend(p, 60 * MIB, t0), Spend::Granted);
        assert_eq!(b.try_spend(p, 40 * MIB, t0), Spend::Granted);
        assert_eq!(b.try_spend(p, 1, t0), Spend::Refused { first: true });
        assert_eq!(b.try_spend(p, 1, t0), Spend::Refused { first: false });
        // Another peer's budget is its own.
        assert_eq!(b.try_spend(q, 100 * MIB, t0), Spend::Granted);
        let later = t0 + REHASH_WINDOW;
        assert_eq!(b.try_spend(p, 100 * MIB, later), Spend::Granted);
        assert_eq!(b.try_spend(p, 1, later), Spend::Refused { first: true });
    }

    #[test]
    fn a_refusal_spends_nothing() {
        let mut b = RehashBudget::new(100 * MIB);
        let p = PeerId::random();
        let t0 = Instant::now();
        assert_eq!(b.try_spend(p, 70 * MIB, t0), Spend::Granted);
        assert_eq!(b.try_spend(p, 32 * MIB, t0), Spend::Refused { first: true });
        assert_eq!(b.try_spend(p, 30 * MIB, t0), Spend::Granted);
    }

    #[test]
    fn peers_whose_window_ended_are_forgotten_when_the_map_is_full() {
        let mut b = RehashBudget::new(MIB);
        let t0 = Instant::now();
        for _ in 0..PEERS_MAX {
            b.try_spend(PeerId::random(), 1, t0);
        }
        assert_eq!(b.peers.len(), PEERS_MAX);
        b.try_spend(PeerId::random(), 1, t0 + REHASH_WINDOW);
        assert_eq!(b.peers.len(), 1);
    }
}
