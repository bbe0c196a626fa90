//! Backing a node up and restoring it: the store as one read transaction
//! saw it, with the identity key and configuration, in one file; and a new
//! data directory made from such a file, writing under a fresh actor so it
//! never reuses an Automerge sequence number (`docs/storage.md`, "Backups"
//! and "Restoring").

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::{Node, files};
use crate::error::NodeError;
use crate::identity::Identity;
use crate::store::{BackupError, BackupSummary, Progress, restore_backup};

/// What [`restore`] installed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Restored {
    /// The new data directory.
    pub data_dir: PathBuf,
    /// The node's peer id, from the restored key.
    pub peer_id: String,
    /// The restore epoch (16 hex digits) the node now writes under.
    pub actor_epoch: String,
    /// The backup as verified before restoring.
    pub backup: BackupSummary,
}

impl Node {
    /// Writes a backup of this node to `dest`: the store from one read
    /// transaction (consistent while the node runs), its identity key and
    /// its configuration; verified after writing. Refuses an existing
    /// `dest` unless `force`.
    pub fn backup(
        &self,
        dest: &Path,
        force: bool,
        progress: Progress<'_>,
    ) -> Result<BackupSummary, NodeError> {
        let mut carried = Vec::new();
        for name in [files::IDENTITY, files::CONFIG] {
            let path = self.data_dir().join(name);
            let bytes = fs::read(&path).map_err(|source| NodeError::Io {
                path: path.clone(),
                source,
            })?;
            carried.push((name, bytes));
        }
        Ok(self.store().write_backup(dest, &carried, force, progress)?)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let io = |source| NodeError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Installs the backup at `backup` as a new node in `dir`, which must not
/// hold a node. The store is rebuilt from the backup in one transaction
/// with a fresh random restore epoch, so the node writes under a new actor
/// of the same key; identity key and configuration are written owner-only.
/// On failure nothing of the new node is left in `dir`.
pub fn restore(backup: &Path, dir: &Path, progress: Progress<'_>) -> Result<Restored, NodeError> {
    for f in [files::CONFIG, files::IDENTITY, files::STORE] {
        if dir.join(f).exists() {
            return Err(NodeError::AlreadyInitialised {
                dir: dir.to_owned(),
            });
        }
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| NodeError::Io {
            path: dir.to_owned(),
            source,
        })?;
    let epoch: [u8; 8] = rand::random();
    let (summary, carried, store) =
        restore_backup(backup, &dir.join(files::STORE), epoch, progress)?;
    drop(store);
    let installed = (|| {
        for name in [files::IDENTITY, files::CONFIG] {
            let bytes = carried
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, b)| b)
                .ok_or_else(|| BackupError::NotABackup {
                    path: backup.to_owned(),
                    why: format!("it carries no {name}"),
                })?;
            write_private(&dir.join(name), bytes)?;
        }
        let p = dir.join(files::STORE);
        fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).map_err(
            |source| NodeError::Io {
                path: p.clone(),
                source,
            },
        )?;
        Ok::<_, NodeError>(Identity::load(&dir.join(files::IDENTITY))?)
    })();
    match installed {
        Ok(identity) => Ok(Restored {
            data_dir: dir.to_owned(),
            peer_id: identity.peer_id().to_string(),
            actor_epoch: hex::encode(epoch),
            backup: summary,
        }),
        Err(e) => {
            for f in [files::CONFIG, files::IDENTITY, files::STORE] {
                let _ = fs::remove_file(dir.join(f));
            }
            Err(e)
        }
    }
}
