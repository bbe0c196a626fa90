//! Where admitted peers listen, so a node can dial them again after either
//! side restarts, on whatever port they listen on now.
//!
//! Addresses come from identify (what a peer says it listens on) and from
//! our own successful dials. Only admitted peers are written to the store;
//! what a peer says before it is admitted waits in a small bounded map and
//! is forgotten if it never is.

use std::collections::{HashMap, VecDeque};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// Addresses kept per peer, newest first.
pub const ADDRESSES_PER_PEER_MAX: usize = 8;
/// Peers whose identify arrived before their admission, remembered at once.
pub const PENDING_PEERS_MAX: usize = 256;

/// Addresses worth dialling: no unspecified or relayed ones, each ending in
/// the peer's id, at most [`ADDRESSES_PER_PEER_MAX`], in the order given.
pub fn dialable(peer: &PeerId, addrs: &[Multiaddr]) -> Vec<Multiaddr> {
    let mut out: Vec<Multiaddr> = Vec::new();
    for a in addrs {
        let mut usable = true;
        let mut bare = Multiaddr::empty();
        for p in a.iter() {
            match p {
                Protocol::Ip4(ip) if ip.is_unspecified() => usable = false,
                Protocol::Ip6(ip) if ip.is_unspecified() => usable = false,
                Protocol::P2pCircuit => usable = false,
                Protocol::P2p(id) if id != *peer => usable = false,
                Protocol::P2p(_) => {}
                other => bare.push(other),
            }
        }
        if !usable || bare.is_empty() {
            continue;
        }
        let full = bare.with(Protocol::P2p(*peer));
        if !out.contains(&full) {
            out.push(full);
        }
        if out.len() == ADDRESSES_PER_PEER_MAX {
            break;
        }
    }
    out
}

/// Merges `newer` in front of `older`, without repeats, bounded.
pub fn merge(newer: &[Multiaddr], older: &[Multiaddr]) -> Vec<Multiaddr> {
    let mut out: Vec<Multiaddr> = Vec::new();
    for a in newer.iter().chain(older) {
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    out.truncate(ADDRESSES_PER_PEER_MAX);
    out
}

/// What peers said before they were admitted.
#[derive(Debug, Default)]
pub struct Pending {
    addrs: HashMap<PeerId, Vec<Multiaddr>>,
    order: VecDeque<PeerId>,
}

impl Pending {
    /// Remembers what `peer` listens on until it is admitted or forgotten.
    pub fn note(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if self.addrs.insert(peer, addrs).is_none() {
            self.order.push_back(peer);
        }
        while self.order.len() > PENDING_PEERS_MAX {
            if let Some(old) = self.order.pop_front() {
                self.addrs.remove(&old);
            }
        }
    }

    /// What `peer` said, taken out.
    pub fn take(&mut self, peer: &PeerId) -> Vec<Multiaddr> {
        self.order.retain(|p| p != peer);
        self.addrs.remove(peer).unwrap_or_default()
    }

    /// Forgets `peer` (it disconnected without being admitted).
    pub fn forget(&mut self, peer: &PeerId) {
        self.take(peer);
    }

    /// How many peers are remembered.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dialable_addresses_are_kept_with_the_peer_id() {
        let peer = PeerId::random();
        let other = PeerId::random();
        let addrs: Vec<Multiaddr> = [
            "/ip4/0.0.0.0/tcp/4001".to_owned(),
            "/ip4/127.0.0.1/tcp/4001".to_owned(),
            format!("/ip4/10.0.0.2/tcp/4001/p2p/{peer}"),
            format!("/ip4/10.0.0.3/tcp/4001/p2p/{other}"),
            "/ip4/127.0.0.1/tcp/4001".to_owned(),
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let got = dialable(&peer, &addrs);
        let want: Vec<Multiaddr> = [
            format!("/ip4/127.0.0.1/tcp/4001/p2p/{peer}"),
            format!("/ip4/10.0.0.2/tcp/4001/p2p/{peer}"),
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn pending_peers_are_bounded() {
        let mut p = Pending::default();
        for _ in 0..(PENDING_PEERS_MAX + 5) {
            p.note(PeerId::random(), Vec::new());
        }
        assert_eq!(p.len(), PENDING_PEERS_MAX);
    }

    #[test]
    fn merge_puts_new_addresses_first_and_bounds_them() {
        let a: Vec<Multiaddr> = (0..6)
            .map(|i| format!("/ip4/127.0.0.1/tcp/{}", 4000 + i).parse().unwrap())
            .collect();
        let b: Vec<Multiaddr> = (3..12)
            .map(|i| format!("/ip4/127.0.0.1/tcp/{}", 4000 + i).parse().unwrap())
            .collect();
        let m = merge(&a, &b);
        assert_eq!(m.len(), ADDRESSES_PER_PEER_MAX);
        assert_eq!(m[..6], a[..]);
    }
}
