//! Automerge actor ids and the node keys behind them.
//!
//! A node writes with an actor bound to its Ed25519 public key: the key's 32
//! bytes, followed, on a node restored from a backup, by the 8 bytes of its
//! restore epoch. A restored store may lack changes its node wrote after the
//! backup, so writing again under the old actor could give a new change a
//! sequence number that an earlier change already has, which every replica
//! holding both refuses for good. A fresh epoch per restore makes that
//! impossible. Who wrote a change is always the key, the first 32 bytes:
//! signatures are checked by it, and write rules compare writers by it, so a
//! node's restored self is the same writer as its old self
//! (`docs/storage.md`, "Restoring"; `docs/trust.md`).

use automerge::ActorId;

/// Bytes of the node key at the start of every actor id.
pub const ACTOR_KEY_BYTES: usize = 32;
/// Bytes of the restore epoch after the key, on a restored node.
pub const ACTOR_EPOCH_BYTES: usize = 8;

/// The actor a node with public key `key` writes with, after restore
/// `epoch` if it was ever restored.
pub fn actor_for(key: &[u8; ACTOR_KEY_BYTES], epoch: Option<&[u8; ACTOR_EPOCH_BYTES]>) -> ActorId {
    let mut bytes = key.to_vec();
    if let Some(epoch) = epoch {
        bytes.extend_from_slice(epoch);
    }
    ActorId::from(bytes)
}

/// The node key of `actor`; `None` unless it is a key alone or a key and an
/// epoch.
pub fn writer_key(actor: &ActorId) -> Option<[u8; ACTOR_KEY_BYTES]> {
    let bytes = actor.to_bytes();
    match bytes.len() {
        ACTOR_KEY_BYTES => bytes.try_into().ok(),
        n if n == ACTOR_KEY_BYTES + ACTOR_EPOCH_BYTES => bytes[..ACTOR_KEY_BYTES].try_into().ok(),
        _ => None,
    }
}

/// True when `a` and `b` are the same writer: the same node key, whatever
/// the epochs. Actors that are not node keys are the same writer only if
/// they are equal.
pub fn same_writer(a: &ActorId, b: &ActorId) -> bool {
    match (writer_key(a), writer_key(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restored_actor_is_the_same_writer_as_the_old_one() {
        let old = actor_for(&[1; 32], None);
        let restored = actor_for(&[1; 32], Some(&[7; 8]));
        let other = actor_for(&[2; 32], Some(&[7; 8]));
        assert_ne!(old, restored);
        assert_eq!(writer_key(&restored), Some([1; 32]));
        assert!(same_writer(&old, &restored));
        assert!(!same_writer(&restored, &other));
    }

    #[test]
    fn other_lengths_are_not_node_keys() {
        assert_eq!(writer_key(&ActorId::from(vec![1u8; 16])), None);
        assert_eq!(writer_key(&ActorId::from(vec![1u8; 41])), None);
        assert!(same_writer(
            &ActorId::from(vec![3u8; 16]),
            &ActorId::from(vec![3u8; 16])
        ));
    }
}
