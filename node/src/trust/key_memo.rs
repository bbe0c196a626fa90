//! A memo of the keys this process has already decoded.
//!
//! A key travels as its 32 compressed bytes. Turning them into a key that
//! verifies, or into the peer id a person reads, decompresses an Edwards
//! point, which costs about as much as a signature check; and the same few
//! keys come back in every message of a sync (a community's key on each of
//! its thousand reports). Before this memo, a first sync spent a quarter of
//! its checking time decompressing the same keys for their names
//! (`docs/benchmarks.md`, "Cold sync in memory"). Decoding is a pure
//! function of the bytes, so a success is remembered; bytes that are no key
//! are not, and cost their sender a decoding every time, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use libp2p::identity::{PublicKey, ed25519};

/// Distinct keys remembered: every node of a district of a few thousand;
/// past it the memo starts again empty rather than keeping an order of use.
const KEYS_MAX: usize = 4_096;

/// A decoded key and its peer id as text.
#[derive(Clone)]
struct Decoded {
    public: PublicKey,
    shown: Arc<str>,
}

fn memo() -> &'static Mutex<HashMap<[u8; 32], Decoded>> {
    static MEMO: OnceLock<Mutex<HashMap<[u8; 32], Decoded>>> = OnceLock::new();
    MEMO.get_or_init(Default::default)
}

fn decoded(bytes: &[u8; 32]) -> Option<Decoded> {
    if let Some(d) = memo().lock().ok().and_then(|m| m.get(bytes).cloned()) {
        return Some(d);
    }
    let public = PublicKey::from(ed25519::PublicKey::try_from_bytes(bytes).ok()?);
    let shown: Arc<str> = public.to_peer_id().to_string().into();
    let d = Decoded { public, shown };
    if let Ok(mut m) = memo().lock() {
        if m.len() >= KEYS_MAX {
            m.clear();
        }
        m.insert(*bytes, d.clone());
    }
    Some(d)
}

/// The public key of `bytes`, or `None` if they are no Ed25519 key.
pub(super) fn public(bytes: &[u8; 32]) -> Option<PublicKey> {
    decoded(bytes).map(|d| d.public)
}

/// The peer id of `bytes` as text, or `None` if they are no Ed25519 key.
pub(super) fn shown(bytes: &[u8; 32]) -> Option<Arc<str>> {
    decoded(bytes).map(|d| d.shown)
}

#[cfg(test)]
mod tests {
    use libp2p::identity::Keypair;

    use super::*;

    #[test]
    fn a_key_decodes_the_same_from_the_memo_and_bad_bytes_stay_out() {
        let k = Keypair::generate_ed25519();
        let bytes = k.public().try_into_ed25519().unwrap().to_bytes();
        let first = shown(&bytes).unwrap();
        assert_eq!(&*first, k.public().to_peer_id().to_string());
        // Again, now from the memo.
        assert_eq!(shown(&bytes).unwrap(), first);
        assert_eq!(public(&bytes).unwrap(), k.public());
        // Not a point on the curve (about half of all y values are not):
        // no key, and nothing remembered.
        let bad = (0u8..=255)
            .map(|y| {
                let mut b = [0u8; 32];
                b[0] = y;
                b
            })
            .find(|b| ed25519::PublicKey::try_from_bytes(b).is_err())
            .unwrap();
        assert!(public(&bad).is_none());
        assert!(shown(&bad).is_none());
        assert!(memo().lock().unwrap().get(&bad).is_none());
    }
}
