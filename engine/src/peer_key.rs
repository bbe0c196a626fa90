//! `PeerKey`: how the engine names a peer without knowing the transport.

use std::fmt;

/// An opaque name for a remote peer, chosen by the driver.
///
/// The node's driver uses the string form of the libp2p `PeerId`; the
/// simulator uses short names. The engine only compares and orders keys, so it
/// never depends on libp2p.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerKey(String);

impl PeerKey {
    /// Wraps a driver-chosen name.
    pub fn new(name: impl Into<String>) -> PeerKey {
        PeerKey(name.into())
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerKey({})", self.0)
    }
}

impl From<&str> for PeerKey {
    fn from(name: &str) -> PeerKey {
        PeerKey::new(name)
    }
}

impl From<String> for PeerKey {
    fn from(name: String) -> PeerKey {
        PeerKey(name)
    }
}
