//! When to send again: capped exponential [`Backoff`] with seeded
//! [`Jitter`], a per-peer round-trip estimate ([`Rtt`]), and the timer of one
//! message awaiting its reply ([`Waiting`]).
//!
//! The engine takes no randomness from the environment, so a simulation
//! replays exactly from its seed. Reply timeouts follow RFC 6298 (TCP's
//! retransmission timer) in milliseconds; only answers to messages sent once
//! are measured (Karn's rule), since the answer to a resent message cannot be
//! matched to one of its copies.

use std::collections::BTreeMap;

use super::config::EngineConfig;

/// A seeded SplitMix64 generator: small, fast, and good enough for jitter.
#[derive(Debug, Clone)]
pub(crate) struct Jitter {
    state: u64,
}

impl Jitter {
    pub(crate) fn new(seed: u64) -> Jitter {
        Jitter { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..=max`.
    pub(crate) fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(n) => self.next_u64() % n,
            None => self.next_u64(),
        }
    }
}

/// Delays that double from `min_ms` to `max_ms`, each with up to a quarter
/// added at random so that peers that lost the same message do not retry in
/// lockstep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backoff {
    min_ms: u64,
    max_ms: u64,
    current_ms: u64,
}

impl Backoff {
    pub(crate) fn new(min_ms: u64, max_ms: u64) -> Backoff {
        let min_ms = min_ms.max(1);
        Backoff {
            min_ms,
            max_ms: max_ms.max(min_ms),
            current_ms: min_ms,
        }
    }

    /// The next delay; the one after it is twice as long, up to the cap.
    pub(crate) fn next(&mut self, jitter: &mut Jitter) -> u64 {
        let base = self.current_ms;
        self.current_ms = self.current_ms.saturating_mul(2).min(self.max_ms);
        base.saturating_add(jitter.up_to(base / 4))
    }

    /// The delay the next call to [`Backoff::next`] starts from, without jitter.
    pub(crate) fn current(&self) -> u64 {
        self.current_ms
    }

    /// Back to the first delay, after progress.
    pub(crate) fn reset(&mut self) {
        self.current_ms = self.min_ms;
    }
}

/// Smoothed round-trip time and its variation for one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rtt {
    srtt_ms: Option<u64>,
    rttvar_ms: u64,
}

/// Floor of the variation term, so a steady link still gets some slack.
const RTTVAR_FLOOR_MS: u64 = 50;

impl Rtt {
    pub(crate) fn new() -> Rtt {
        Rtt {
            srtt_ms: None,
            rttvar_ms: 0,
        }
    }

    /// Adds one measured round trip.
    pub(crate) fn sample(&mut self, rtt_ms: u64) {
        match self.srtt_ms {
            None => {
                self.srtt_ms = Some(rtt_ms);
                self.rttvar_ms = rtt_ms / 2;
            }
            Some(srtt) => {
                self.rttvar_ms = (3 * self.rttvar_ms + srtt.abs_diff(rtt_ms)) / 4;
                self.srtt_ms = Some((7 * srtt + rtt_ms) / 8);
            }
        }
    }

    /// Has a round trip been measured yet?
    pub(crate) fn measured(&self) -> bool {
        self.srtt_ms.is_some()
    }

    /// How long to wait for a reply: `initial_ms` before any measurement,
    /// then the smoothed round trip plus four variations, within
    /// `[min_ms, initial_ms]`.
    pub(crate) fn timeout_ms(&self, min_ms: u64, initial_ms: u64) -> u64 {
        match self.srtt_ms {
            None => initial_ms,
            Some(srtt) => {
                let rto = srtt.saturating_add(4 * self.rttvar_ms.max(RTTVAR_FLOOR_MS));
                rto.clamp(min_ms.min(initial_ms), initial_ms)
            }
        }
    }
}

/// A message waiting for the peer's reply.
#[derive(Debug)]
pub(crate) struct Waiting {
    /// When to give up and send again.
    pub(crate) until_ms: u64,
    /// When it was last sent.
    pub(crate) sent_ms: u64,
    /// How many times it was sent.
    pub(crate) sends: u32,
    /// Bytes of the message last sent.
    pub(crate) bytes: usize,
    /// Retries in a row during which the peer said nothing at all.
    silent_retries: u32,
}

/// Most doublings of the reply timeout; the cap in ms applies first anyway.
const SILENT_DOUBLINGS_MAX: u32 = 16;

/// Sends (or resends) the message `w` waits for: the wait is the measured
/// reply timeout, doubled for every retry in a row with the peer silent.
pub(crate) fn arm(
    w: &mut Waiting,
    base_ms: u64,
    heard_ms: Option<u64>,
    bytes: usize,
    now: u64,
    config: &EngineConfig,
    jitter: &mut Jitter,
) {
    if w.sends > 0 {
        let heard_since = heard_ms.is_some_and(|h| h > w.sent_ms);
        w.silent_retries = if heard_since {
            0
        } else {
            (w.silent_retries + 1).min(SILENT_DOUBLINGS_MAX)
        };
    }
    w.sends = w.sends.saturating_add(1);
    w.sent_ms = now;
    w.bytes = bytes;
    let delay = base_ms
        .saturating_mul(1 << w.silent_retries)
        .min(config.retry_backoff_ms_max.max(base_ms));
    let delay = delay.saturating_add(jitter.up_to(delay / 4));
    w.until_ms = now.saturating_add(config.reply_wait_ms(delay, bytes));
}

/// Brings a wait armed before any round trip was measured (at the initial
/// timeout, 5 s) down to the measured timeout `base_ms`, counted from when
/// the message was sent. Only waits for messages sent once: a resent one
/// already waits by its own measure of the peer's silence.
pub(crate) fn shorten(w: &mut Waiting, base_ms: u64, config: &EngineConfig, jitter: &mut Jitter) {
    if w.sends != 1 {
        return;
    }
    let delay = base_ms.saturating_add(jitter.up_to(base_ms / 4));
    let until = w
        .sent_ms
        .saturating_add(config.reply_wait_ms(delay, w.bytes));
    w.until_ms = w.until_ms.min(until);
}

pub(crate) fn new_waiting() -> Waiting {
    Waiting {
        until_ms: 0,
        sent_ms: 0,
        sends: 0,
        bytes: 0,
        silent_retries: 0,
    }
}

pub(crate) fn overdue<K: Clone>(waiting: &BTreeMap<K, Waiting>, now: u64) -> Vec<K> {
    waiting
        .iter()
        .filter(|(_, w)| w.until_ms <= now)
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_then_reset() {
        let mut j = Jitter::new(1);
        let mut b = Backoff::new(1_000, 5_000);
        let delays: Vec<u64> = (0..5).map(|_| b.next(&mut j)).collect();
        let bases = [1_000, 2_000, 4_000, 5_000, 5_000];
        for (d, base) in delays.iter().zip(bases) {
            assert!((base..=base + base / 4).contains(d), "{d} vs {base}");
        }
        b.reset();
        assert_eq!(b.current(), 1_000);
    }

    #[test]
    fn same_seed_same_jitter() {
        let mut a = Jitter::new(42);
        let mut b = Jitter::new(42);
        for _ in 0..10 {
            assert_eq!(a.up_to(1_000), b.up_to(1_000));
        }
        assert!(a.up_to(0) == 0);
        let _ = a.up_to(u64::MAX);
    }

    #[test]
    fn the_timeout_follows_measurements_within_bounds() {
        let mut r = Rtt::new();
        assert_eq!(r.timeout_ms(500, 5_000), 5_000);
        r.sample(100);
        // 100 + 4 * 50
        assert_eq!(r.timeout_ms(200, 5_000), 300);
        assert_eq!(r.timeout_ms(1_000, 5_000), 1_000);
        for _ in 0..50 {
            r.sample(10_000);
        }
        assert_eq!(r.timeout_ms(1_000, 5_000), 5_000);
    }

    #[test]
    fn retries_double_only_while_the_peer_is_silent() {
        let config = EngineConfig::default();
        let mut j = Jitter::new(3);
        let mut w = new_waiting();
        let within = |w: &Waiting, from: u64, base: u64| {
            (from + base..=from + base + base / 4).contains(&w.until_ms)
        };
        arm(&mut w, 1_000, None, 0, 0, &config, &mut j);
        assert!(within(&w, 0, 1_000));
        arm(&mut w, 1_000, None, 0, 2_000, &config, &mut j);
        assert!(within(&w, 2_000, 2_000), "silent: doubled");
        arm(&mut w, 1_000, None, 0, 5_000, &config, &mut j);
        assert!(within(&w, 5_000, 4_000), "still silent: doubled again");
        arm(&mut w, 1_000, Some(6_000), 0, 9_000, &config, &mut j);
        assert!(
            within(&w, 9_000, 1_000),
            "the peer spoke: back to the timeout"
        );
        assert_eq!(w.sends, 4);
    }
}
