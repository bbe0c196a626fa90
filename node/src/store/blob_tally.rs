//! How many blob files a store holds and their bytes, kept up to date by
//! this process's own writes, so that the metrics do not list and `stat`
//! every photo each time they refresh (every 2 s while a node writes: a
//! district holding a million photos would spend about a core on it).
//!
//! The first call counts the directory; after that each blob put in place
//! adjusts the count. Files changed by hand or by another process are seen
//! at the next recount, at most [`RECOUNT_AFTER`] later, and so are the
//! few races that miscount: a blob put in place while a recount lists the
//! directory (missed or counted twice), one hash put in place by two
//! writers at once (counted twice), or one set aside as it is written.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a count may go without listing the directory again.
pub const RECOUNT_AFTER: Duration = Duration::from_secs(600);

/// Blob files held and their bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BlobTotals {
    /// Blob files.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The totals of one store's blob directory, shared by clones of it.
#[derive(Debug, Clone, Default)]
pub(crate) struct BlobTally {
    counted: Arc<Mutex<Option<(BlobTotals, Instant)>>>,
}

impl BlobTally {
    /// The totals, from `count` (a listing of the directory) when there
    /// are none yet or they are older than `max_age`.
    pub(crate) fn totals(
        &self,
        max_age: Duration,
        count: impl FnOnce() -> io::Result<BlobTotals>,
    ) -> io::Result<BlobTotals> {
        if let Some((totals, at)) = *self.lock()
            && at.elapsed() < max_age
        {
            return Ok(totals);
        }
        // Listed without the lock: a large directory takes a while, and
        // the blob writer must not wait for it.
        let totals = count()?;
        *self.lock() = Some((totals, Instant::now()));
        Ok(totals)
    }

    /// A blob file of `bytes` bytes was put in place, over a file of
    /// `replaced` bytes if one was there (damage repaired by a write).
    pub(crate) fn placed(&self, bytes: u64, replaced: Option<u64>) {
        if let Some((totals, _)) = self.lock().as_mut() {
            match replaced {
                Some(old) => totals.bytes = totals.bytes.saturating_sub(old),
                None => totals.blobs += 1,
            }
            totals.bytes += bytes;
        }
    }

    /// A blob file of `bytes` bytes was taken out of the directory.
    pub(crate) fn removed(&self, bytes: u64) {
        if let Some((totals, _)) = self.lock().as_mut() {
            totals.blobs = totals.blobs.saturating_sub(1);
            totals.bytes = totals.bytes.saturating_sub(bytes);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(BlobTotals, Instant)>> {
        // Each update leaves the totals whole, so a poisoned lock's are sound.
        self.counted.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_adjust_the_count_until_it_is_due_again() {
        let tally = BlobTally::default();
        let first = BlobTotals {
            blobs: 2,
            bytes: 30,
        };
        tally.placed(5, None);
        assert_eq!(tally.totals(RECOUNT_AFTER, || Ok(first)).unwrap(), first);
        tally.placed(10, None);
        tally.placed(7, Some(4));
        let unlisted = || -> io::Result<BlobTotals> { panic!("listed again before it was due") };
        assert_eq!(
            tally.totals(RECOUNT_AFTER, unlisted).unwrap(),
            BlobTotals {
                blobs: 3,
                bytes: 43
            }
        );
        let recount = BlobTotals {
            blobs: 9,
            bytes: 99,
        };
        assert_eq!(
            tally.totals(Duration::ZERO, || Ok(recount)).unwrap(),
            recount
        );
    }

    #[test]
    fn a_failed_count_keeps_nothing() {
        let tally = BlobTally::default();
        assert!(
            tally
                .totals(RECOUNT_AFTER, || Err(io::Error::other("unreadable")))
                .is_err()
        );
        let got = BlobTotals { blobs: 1, bytes: 1 };
        assert_eq!(tally.totals(RECOUNT_AFTER, || Ok(got)).unwrap(), got);
    }
}
