//! CPU time a simulated node spends in its own handling, measured on the
//! thread that runs it. The simulator runs every node on one thread, one
//! call at a time, so the thread's CPU clock read around a node's call is
//! that node's cost alone; unlike wall time, it does not count the moments
//! the machine gave to other processes.

use std::time::Duration;

use nix::time::{ClockId, clock_gettime};

/// CPU time of the calling thread so far, or `None` where the clock cannot
/// be read (the log then counts nothing rather than guess).
pub fn thread_cpu() -> Option<Duration> {
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?;
    Some(Duration::new(
        u64::try_from(t.tv_sec()).ok()?,
        u32::try_from(t.tv_nsec()).ok()?,
    ))
}

/// Handling time per node, in total and per simulated second.
#[derive(Debug, Clone, Default)]
pub struct CpuLog {
    /// Per node: CPU time of every engine call, with its signature checks.
    pub total: Vec<Duration>,
    /// Per node: the same, by the simulated second the call ran in.
    pub per_second: Vec<Vec<Duration>>,
    /// Calls whose time could not be read.
    pub unread: u64,
}

impl CpuLog {
    /// An empty log for `nodes` nodes.
    pub fn new(nodes: usize) -> CpuLog {
        CpuLog {
            total: vec![Duration::ZERO; nodes],
            per_second: vec![Vec::new(); nodes],
            unread: 0,
        }
    }

    /// Counts `spent` for node `i` at simulated ms `now`.
    pub fn add(&mut self, i: usize, now_ms: u64, spent: Option<Duration>) {
        let Some(spent) = spent else {
            self.unread += 1;
            return;
        };
        if let Some(t) = self.total.get_mut(i) {
            *t += spent;
        }
        if let Some(seconds) = self.per_second.get_mut(i) {
            let s = usize::try_from(now_ms / 1_000).unwrap_or(usize::MAX);
            if s < seconds.len() {
                seconds[s] += spent;
            } else if s - seconds.len() < 1 << 20 {
                seconds.resize(s + 1, Duration::ZERO);
                seconds[s] += spent;
            }
        }
    }

    /// The most node `i` spent in any `window` consecutive simulated
    /// seconds.
    pub fn busiest(&self, i: usize, window: usize) -> Duration {
        let Some(seconds) = self.per_second.get(i) else {
            return Duration::ZERO;
        };
        let window = window.max(1);
        if seconds.len() <= window {
            return seconds.iter().sum();
        }
        seconds
            .windows(window)
            .map(|w| w.iter().sum::<Duration>())
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_clock_moves_with_work() {
        let a = thread_cpu().expect("a thread CPU clock on Linux");
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let b = thread_cpu().expect("a thread CPU clock on Linux");
        assert!(b > a);
    }

    #[test]
    fn the_busiest_window_sums_consecutive_seconds() {
        let mut log = CpuLog::new(1);
        let ms = Duration::from_millis;
        log.add(0, 500, Some(ms(10)));
        log.add(0, 2_100, Some(ms(30)));
        log.add(0, 3_900, Some(ms(40)));
        log.add(0, 3_950, None);
        assert_eq!(log.total[0], ms(80));
        assert_eq!(log.busiest(0, 1), ms(40));
        assert_eq!(log.busiest(0, 2), ms(70));
        assert_eq!(log.busiest(0, 60), ms(80));
        assert_eq!(log.unread, 1);
    }
}
