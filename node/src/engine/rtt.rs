//! `Rtt`: a per-peer round-trip estimate that sets how long to wait for a
//! reply, after RFC 6298 (TCP's retransmission timer) in milliseconds.
//!
//! Only answers to messages sent once are measured (Karn's rule): the answer
//! to a resent message cannot be matched to one of its copies.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
