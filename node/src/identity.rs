//! The node's identity: an Ed25519 key, which is also its libp2p peer id and,
//! through its public key, its Automerge actor id (with the restore epoch
//! of a restored node appended).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use automerge::ActorId;
use libp2p_identity::{Keypair, PeerId};
use thiserror::Error;

/// Reading or writing the identity key failed.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The key file could not be read or written.
    #[error("identity key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file does not hold an Ed25519 key.
    #[error("identity key {path} is damaged or not an Ed25519 key: {why}")]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What was wrong.
        why: String,
    },
    /// Others can read the key file.
    #[error(
        "identity key {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// A node's key pair.
#[derive(Clone)]
pub struct Identity {
    keypair: Keypair,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.peer_id())
    }
}

impl Identity {
    /// A fresh random key.
    pub fn generate() -> Identity {
        Identity {
            keypair: Keypair::generate_ed25519(),
        }
    }

    /// Writes the key to a new file readable by the owner only (mode 0600).
    /// Refuses to overwrite an existing key.
    pub fn save(&self, path: &Path) -> Result<(), IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.to_owned(),
            source,
        };
        let bytes = self
            .keypair
            .to_protobuf_encoding()
            .map_err(|e| IdentityError::Malformed {
                path: path.to_owned(),
                why: e.to_string(),
            })?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)
    }

    /// Reads the key, refusing a file that group or others may read.
    pub fn load(path: &Path) -> Result<Identity, IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.to_owned(),
            source,
        };
        let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(IdentityError::TooOpen {
                path: path.to_owned(),
                mode,
            });
        }
        let bytes = fs::read(path).map_err(io)?;
        let keypair =
            Keypair::from_protobuf_encoding(&bytes).map_err(|e| IdentityError::Malformed {
                path: path.to_owned(),
                why: e.to_string(),
            })?;
        if keypair.clone().try_into_ed25519().is_err() {
            return Err(IdentityError::Malformed {
                path: path.to_owned(),
                why: "not an Ed25519 key".into(),
            });
        }
        Ok(Identity { keypair })
    }

    /// The libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.keypair.public().to_peer_id()
    }

    /// The key pair, for the transport.
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// The 32 bytes of the Ed25519 public key.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        match self.keypair.public().try_into_ed25519() {
            Ok(pk) => pk.to_bytes(),
            // `load` and `generate` only ever hold Ed25519 keys.
            Err(_) => [0; 32],
        }
    }

    /// The Automerge actor id of a node never restored from a backup: its
    /// public key, so that authorship can be checked against the key that
    /// signs the change.
    pub fn actor_id(&self) -> ActorId {
        self.actor_id_at(None)
    }

    /// The actor id this node writes with after restore `epoch` (the store's
    /// meta `actor_epoch`, `None` if never restored): the public key, then
    /// the epoch (`crdt_model::actor`).
    pub fn actor_id_at(&self, epoch: Option<&[u8; 8]>) -> ActorId {
        crdt_model::actor::actor_for(&self.public_key_bytes(), epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.key");
        let id = Identity::generate();
        id.save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = Identity::load(&path).unwrap();
        assert_eq!(back.peer_id(), id.peer_id());
        assert_eq!(back.actor_id(), id.actor_id());
        assert!(
            id.save(&path).is_err(),
            "an existing key is never overwritten"
        );
    }

    #[test]
    fn open_or_damaged_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.key");
        Identity::generate().save(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Identity::load(&path),
            Err(IdentityError::TooOpen { .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, b"garbage").unwrap();
        assert!(matches!(
            Identity::load(&path),
            Err(IdentityError::Malformed { .. })
        ));
    }
}
