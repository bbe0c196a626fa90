//! `CheckId`: names one trust check the engine asked its driver for.

use std::fmt;

/// The id of one [`super::Output::Check`], to hand back in
/// [`super::Input::Checked`].
///
/// Ids are minted only by [`CheckId::next`], from one counter per engine,
/// and never reused: an answer that comes after its peer went down (or after
/// a reconnect) names an id the engine no longer holds and is ignored, never
/// mistaken for the answer to a newer check.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckId(u64);

impl CheckId {
    /// The id after `counter`, advancing it.
    pub(crate) fn next(counter: &mut u64) -> CheckId {
        *counter = counter.wrapping_add(1);
        CheckId(*counter)
    }

    /// The number inside, for logs.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "check#{}", self.0)
    }
}

impl fmt::Debug for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckId({})", self.0)
    }
}
