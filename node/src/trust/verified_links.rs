//! A memo of the admission signatures this process has already verified.
//!
//! Every sync message carries its authors' admission chains, and a first
//! sync brings a thousand messages signed by the same two or three nodes:
//! checking each chain again re-verifies the same few Ed25519 signatures a
//! thousand times (`docs/benchmarks.md`, "Side by side with samod"). A
//! signature check is a pure function of the key, the signed bytes and the
//! signature, so a success can be remembered by a digest of all three;
//! a failure is not remembered, so a forged link costs its sender a full
//! check every time, as before.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use super::admission::NodeKey;

/// Distinct links remembered. A federation has one admission per node, so
/// this holds every link of a district of a few thousand nodes; past it the
/// memo starts again empty rather than keeping an order of use.
const LINKS_MAX: usize = 4_096;

fn memo() -> &'static Mutex<HashSet<[u8; 32]>> {
    static MEMO: OnceLock<Mutex<HashSet<[u8; 32]>>> = OnceLock::new();
    MEMO.get_or_init(Default::default)
}

/// Whether `issuer` signed `bytes` with `signature`, verified once per
/// process for each distinct link.
pub(super) fn verifies(issuer: &NodeKey, bytes: &[u8], signature: &[u8]) -> bool {
    let mut h = blake3::Hasher::new();
    h.update(&issuer.0);
    // The length keeps the split between bytes and signature unambiguous.
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
    h.update(signature);
    let id = *h.finalize().as_bytes();
    if memo().lock().is_ok_and(|m| m.contains(&id)) {
        return true;
    }
    let ok = issuer.verifies(bytes, signature);
    if ok && let Ok(mut m) = memo().lock() {
        if m.len() >= LINKS_MAX {
            m.clear();
        }
        m.insert(id);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::identity::Keypair;

    fn key_of(k: &Keypair) -> NodeKey {
        NodeKey::of_peer(&k.public().to_peer_id()).unwrap()
    }

    #[test]
    fn a_remembered_link_never_vouches_for_other_bytes_keys_or_signatures() {
        let signer = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        let bytes = b"admission of a community".to_vec();
        let sig = signer.sign(&bytes).unwrap();
        // Twice: the second answer comes from the memo.
        assert!(verifies(&key_of(&signer), &bytes, &sig));
        assert!(verifies(&key_of(&signer), &bytes, &sig));
        let mut altered = bytes.clone();
        altered[0] ^= 1;
        assert!(!verifies(&key_of(&signer), &altered, &sig));
        assert!(!verifies(&key_of(&other), &bytes, &sig));
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert!(!verifies(&key_of(&signer), &bytes, &bad));
        // Moving a byte from the message into the signature is another link.
        let mut longer = sig.clone();
        longer.insert(0, bytes[bytes.len() - 1]);
        assert!(!verifies(
            &key_of(&signer),
            &bytes[..bytes.len() - 1],
            &longer
        ));
        // A failure is not remembered: still refused the second time.
        assert!(!verifies(&key_of(&signer), &altered, &sig));
    }
}
