//! The node's copy of its own admission outside the store: the file
//! `admission` in the data directory, one line holding the credential as the
//! token `yizhan join` takes (`yz1.…`).
//!
//! Why a copy: the credential lives in the store's meta table, and a store
//! that is lost or damaged past reading would take the node's admission with
//! it. Peers recognise a node by its key *and* its credential, and the
//! credential is signed by its admitter, so the node cannot make it again by
//! itself. With the copy, `yizhan rebuild` gives a fresh store the same
//! admission, and the node is back in its federation without anyone at the
//! street admitting it again. The credential is not secret (the node shows it
//! to every peer it meets); the file is owner-only like the rest of the data
//! directory all the same. Format and reasons: `docs/storage.md`,
//! "Rebuilding".

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use super::Credential;
use crate::api::{Node, files};
use crate::error::NodeError;

/// Longest admission file read: a token is far shorter (16 KiB of base64 at
/// most, see [`Credential::from_token`]).
const ADMISSION_FILE_BYTES_MAX: u64 = 32 * 1024;

/// Writes `cred` to the admission file of `dir`, durably: a temporary file,
/// synced, renamed into place, and the directory synced.
pub fn save(dir: &Path, cred: &Credential) -> Result<(), NodeError> {
    let path = dir.join(files::ADMISSION);
    let tmp = dir.join(format!("{}.tmp", files::ADMISSION));
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| NodeError::Io { path, source }
    };
    let mut line = cred.to_token()?;
    line.push('\n');
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(line.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, &path).map_err(io(&path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// The credential in the admission file of `dir`; `None` when there is no
/// such file. A file that is there but does not decode is an error: it was
/// damaged, and saying so beats silently asking for a new admission.
pub fn load(dir: &Path) -> Result<Option<Credential>, NodeError> {
    let path = dir.join(files::ADMISSION);
    let io = |source| NodeError::Io {
        path: path.clone(),
        source,
    };
    match fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
        Ok(m) if m.len() > ADMISSION_FILE_BYTES_MAX => {
            return Err(crate::refusal::AdminRefusal::AdmissionFileTooLarge {
                path: path.clone(),
                bytes: m.len(),
            }
            .into());
        }
        Ok(_) => {}
    }
    let text = fs::read_to_string(&path).map_err(io)?;
    let cred = Credential::from_token(&text).map_err(|e| {
        crate::refusal::AdminRefusal::NotAnAdmissionFile {
            path: path.clone(),
            why: e.to_string(),
        }
    })?;
    Ok(Some(cred))
}

impl Node {
    /// Makes the admission file match the credential in the store, writing
    /// it when it is missing or differs. Called whenever the credential is
    /// stored, and when the node starts, so nodes admitted before the file
    /// existed get one. Does nothing on a store whose writes stay in memory
    /// (a rehearsal, a read-only view): the file must never run ahead of
    /// the store.
    pub fn keep_admission_copy(&self) -> Result<(), NodeError> {
        if !self.repo.store().writes_reach_file() {
            return Ok(());
        }
        let Some(cred) = self.credential()? else {
            return Ok(());
        };
        if load(&self.dir).ok().flatten().as_ref() == Some(&cred) {
            return Ok(());
        }
        save(&self.dir, &cred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::{Federation, NodeKey};

    fn cred() -> Credential {
        Credential::root(Federation {
            root: NodeKey([7; 32]),
            place: crdt_model::PlaceId::parse("guandu").unwrap(),
        })
    }

    #[test]
    fn admission_file_round_trips_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        save(dir.path(), &cred()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(cred()));
        let mode = fs::metadata(dir.path().join(files::ADMISSION))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        // Saving again replaces it.
        save(dir.path(), &cred()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(cred()));
    }

    #[test]
    fn damaged_admission_file_is_an_error_not_an_absence() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(files::ADMISSION), "not a token").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("does not hold an admission"), "{err}");
    }
}
