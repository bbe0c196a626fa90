//! `Backoff`: capped exponential delays with jitter, and the tiny seeded
//! generator that supplies the jitter (the engine takes no randomness from
//! the environment, so a simulation replays exactly from its seed).

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
}
