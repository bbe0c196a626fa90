//! Strikes against peers: refused input and traffic over budget count
//! against the peer that sent it; too many strikes disconnect the peer and
//! keep it out for a while, longer each time. Strikes decay, so an honest
//! peer that once sent something odd is not punished for ever, and entries
//! that decay to nothing are forgotten, so the map stays bounded.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Strikes at which a peer is disconnected.
pub const STRIKES_MAX: u32 = 30;
/// Strikes forgiven per second.
pub const STRIKES_DECAY_PER_S: u32 = 1;
/// First time a disconnected peer is kept out; doubles per ban.
pub const BAN_MS_MIN: u64 = 30_000;
/// Longest a peer is kept out.
pub const BAN_MS_MAX: u64 = 600_000;
/// Sync messages a peer may send per second before they count as strikes.
pub const MESSAGES_PER_S_MAX: u32 = 500;
/// Sync bytes a peer may send per second before they count as strikes.
pub const BYTES_PER_S_MAX: u64 = 64 * 1024 * 1024;
/// Peers remembered at most (strikes, bans, budgets together).
pub const PEERS_MAX: usize = 4_096;

#[derive(Debug)]
struct Entry {
    strikes: u32,
    updated: Instant,
    /// Bans so far, for the doubling.
    bans: u32,
    banned_until: Option<Instant>,
    window_start: Instant,
    window_messages: u32,
    window_bytes: u64,
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry {
            strikes: 0,
            updated: now,
            bans: 0,
            banned_until: None,
            window_start: now,
            window_messages: 0,
            window_bytes: 0,
        }
    }

    fn decay(&mut self, now: Instant) {
        let secs = now.duration_since(self.updated).as_secs() as u32;
        if secs > 0 {
            self.strikes = self
                .strikes
                .saturating_sub(secs.saturating_mul(STRIKES_DECAY_PER_S));
            self.updated = now;
        }
    }
}

/// What a strike did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Counted; the peer may stay.
    Counted(u32),
    /// That was one too many: disconnect the peer, which is kept out for this long.
    Banned(Duration),
}

/// Strikes, bans and traffic budgets per peer.
#[derive(Debug, Default)]
pub struct Strikes {
    peers: HashMap<PeerId, Entry>,
}

impl Strikes {
    /// No strikes yet.
    pub fn new() -> Strikes {
        Strikes::default()
    }

    fn entry(&mut self, peer: PeerId, now: Instant) -> &mut Entry {
        if !self.peers.contains_key(&peer) && self.peers.len() >= PEERS_MAX {
            self.prune(now);
            // Still full: forget the peer heard of longest ago that is not
            // kept out, so the map never grows past its bound.
            if self.peers.len() >= PEERS_MAX
                && let Some(oldest) = self
                    .peers
                    .iter()
                    .filter(|(_, e)| e.banned_until.is_none_or(|u| u <= now))
                    .min_by_key(|(_, e)| e.updated)
                    .map(|(p, _)| *p)
            {
                self.peers.remove(&oldest);
            }
        }
        let e = self.peers.entry(peer).or_insert_with(|| Entry::new(now));
        e.decay(now);
        e
    }

    /// Counts `weight` strikes against `peer`.
    pub fn strike(&mut self, peer: PeerId, weight: u32, now: Instant) -> Verdict {
        let e = self.entry(peer, now);
        e.strikes = e.strikes.saturating_add(weight);
        if e.strikes < STRIKES_MAX {
            return Verdict::Counted(e.strikes);
        }
        let ms = BAN_MS_MIN
            .saturating_mul(1 << e.bans.min(16))
            .min(BAN_MS_MAX);
        let d = Duration::from_millis(ms);
        e.bans = e.bans.saturating_add(1);
        e.banned_until = Some(now + d);
        e.strikes = 0;
        Verdict::Banned(d)
    }

    /// Counts one sync message of `bytes` against `peer`'s budget; traffic
    /// over budget counts as a strike.
    pub fn spend(&mut self, peer: PeerId, bytes: usize, now: Instant) -> Option<Verdict> {
        let e = self.entry(peer, now);
        if now.duration_since(e.window_start) >= Duration::from_secs(1) {
            e.window_start = now;
            e.window_messages = 0;
            e.window_bytes = 0;
        }
        e.window_messages = e.window_messages.saturating_add(1);
        e.window_bytes = e.window_bytes.saturating_add(bytes as u64);
        let over = e.window_messages > MESSAGES_PER_S_MAX || e.window_bytes > BYTES_PER_S_MAX;
        over.then(|| self.strike(peer, 1, now))
    }

    /// Strikes counting against `peer` now.
    pub fn count(&self, peer: &PeerId, now: Instant) -> u32 {
        self.peers.get(peer).map_or(0, |e| {
            let secs = now.duration_since(e.updated).as_secs() as u32;
            e.strikes
                .saturating_sub(secs.saturating_mul(STRIKES_DECAY_PER_S))
        })
    }

    /// Until when `peer` is kept out, if it is now.
    pub fn banned(&self, peer: &PeerId, now: Instant) -> Option<Instant> {
        self.peers
            .get(peer)
            .and_then(|e| e.banned_until)
            .filter(|until| *until > now)
    }

    /// Forgets peers with no strikes left and no ban in force.
    pub fn prune(&mut self, now: Instant) {
        self.peers.retain(|_, e| {
            e.decay(now);
            e.strikes > 0
                || e.banned_until.is_some_and(|u| u > now)
                || e.bans > 0 && {
                    // Keep a banned peer's history for a while after its ban,
                    // so a returning offender is kept out longer.
                    e.banned_until
                        .is_some_and(|u| now.duration_since(u) < Duration::from_millis(BAN_MS_MAX))
                }
        });
    }

    /// Peers remembered.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_strikes_ban_for_longer_each_time_and_strikes_decay() {
        let mut s = Strikes::new();
        let p = PeerId::random();
        let t0 = Instant::now();
        for _ in 0..STRIKES_MAX - 1 {
            assert!(matches!(s.strike(p, 1, t0), Verdict::Counted(_)));
        }
        assert_eq!(
            s.strike(p, 1, t0),
            Verdict::Banned(Duration::from_millis(BAN_MS_MIN))
        );
        assert!(s.banned(&p, t0).is_some());
        let later = t0 + Duration::from_millis(BAN_MS_MIN + 1);
        assert!(s.banned(&p, later).is_none());
        assert_eq!(
            s.strike(p, STRIKES_MAX, later),
            Verdict::Banned(Duration::from_millis(2 * BAN_MS_MIN))
        );
        // Decay: strikes spread out never add up to a ban.
        let q = PeerId::random();
        for i in 0..(3 * STRIKES_MAX as u64) {
            let at = t0 + Duration::from_secs(2 * i);
            assert!(matches!(s.strike(q, 1, at), Verdict::Counted(_)));
        }
    }

    #[test]
    fn traffic_over_budget_counts_and_the_map_stays_bounded() {
        let mut s = Strikes::new();
        let p = PeerId::random();
        let t0 = Instant::now();
        let mut struck = 0;
        for _ in 0..(MESSAGES_PER_S_MAX + 10) {
            if s.spend(p, 100, t0).is_some() {
                struck += 1;
            }
        }
        assert_eq!(struck, 10);
        for _ in 0..(PEERS_MAX + 100) {
            s.strike(PeerId::random(), 1, t0);
        }
        assert!(s.len() <= PEERS_MAX);
        let much_later = t0 + Duration::from_secs(3600);
        s.prune(much_later);
        assert!(s.len() <= 1, "{} peers remembered", s.len());
    }
}
