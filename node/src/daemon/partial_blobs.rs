//! What interrupted blob fetches verified, kept under
//! `<data>/partial-blobs/` so the next attempt — after a dropped
//! connection or a restart — asks only for the rest.
//!
//! Per blob, two files named by its hash: `<hash>.data`, the verified bytes
//! from the start, and `<hash>.tree`, the proven size (8 bytes, little
//! endian) and the tree's hash pairs verified so far. Neither is a blob:
//! nothing serves, lists or counts them. Once the blob is whole, the
//! `.data` file is renamed into the store's blob files (it already holds
//! the verified bytes) and the `.tree` file deleted.
//!
//! Writes are not synced: a process that is killed keeps what the kernel
//! has, and what a power cut tears is found on loading, because
//! [`Assembly::resume`](crate::net::blob::Assembly::resume) checks the
//! kept bytes against the kept tree and the tree against the hash. A torn
//! file costs bytes fetched again, never a wrong photo.

use std::fs::{self, OpenOptions};
use std::io::{self, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use tracing::debug;

use crate::net::blob::Partial;
use crate::store::BlobHash;

/// Partial blobs kept at once; starting one more deletes the oldest.
pub const PARTIAL_BLOBS_MAX: usize = 32;

/// The directory of partial blobs.
#[derive(Clone)]
pub struct PartialBlobs {
    dir: PathBuf,
}

impl PartialBlobs {
    /// The partial blobs of the node whose data directory is `data_dir`.
    pub fn new(data_dir: &Path) -> PartialBlobs {
        PartialBlobs {
            dir: data_dir.join("partial-blobs"),
        }
    }

    fn paths(&self, hash: &BlobHash) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{hash}.data")),
            self.dir.join(format!("{hash}.tree")),
        )
    }

    /// The file of `hash`'s verified bytes: once they are all there, the
    /// store takes it as the blob's file by renaming it.
    pub fn data_file(&self, hash: &BlobHash) -> PathBuf {
        self.paths(hash).0
    }

    /// Whether anything is kept of `hash` (one `stat`).
    pub fn has(&self, hash: &BlobHash) -> bool {
        self.paths(hash).1.exists()
    }

    /// What an earlier fetch of `hash` kept, unchecked; `None` if nothing
    /// or if the files cannot be read.
    pub fn load(&self, hash: &BlobHash, max: u64) -> Option<Partial> {
        let (data, tree) = self.paths(hash);
        let tree = fs::read(tree).ok()?;
        let (total, tree) = tree.split_first_chunk::<8>()?;
        let total = u64::from_le_bytes(*total);
        if total > max {
            return None;
        }
        let mut bytes = fs::read(data).ok()?;
        bytes.truncate(total as usize);
        Some(Partial {
            total,
            tree: tree.to_vec(),
            bytes,
        })
    }

    /// Keeps the verified state of a fetch: the bytes from `from` on are
    /// new since the last call, the tree is written whole (0.4 % of the
    /// blob), over the old one in the same file. Starting a new partial
    /// past [`PARTIAL_BLOBS_MAX`] deletes the oldest first.
    pub fn save(
        &self,
        hash: &BlobHash,
        total: u64,
        tree: &[u8],
        bytes: &[u8],
        from: u64,
    ) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let (data_path, tree_path) = self.paths(hash);
        if from == 0 {
            self.make_room(hash);
        }
        let mut data = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(from == 0)
            .open(&data_path)?;
        let from = from.min(bytes.len() as u64);
        data.seek(SeekFrom::Start(from))?;
        data.write_all(&bytes[from as usize..])?;
        data.set_len(bytes.len() as u64)?;
        // Written over the old tree in place, not to a new file renamed
        // over it: a new file per range cost an inode and a rename each,
        // about a tenth of a fetch (`docs/benchmarks.md`, "Trees in
        // memory"). A torn write may leave old and new pairs mixed; the
        // check on loading finds the first group they no longer prove and
        // fetches from there, as for torn bytes.
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&tree_path)?;
        let mut kept = Vec::with_capacity(8 + tree.len());
        kept.extend_from_slice(&total.to_le_bytes());
        kept.extend_from_slice(tree);
        file.write_all(&kept)?;
        file.set_len(kept.len() as u64)
    }

    /// Deletes what was kept of `hash`.
    pub fn discard(&self, hash: &BlobHash) {
        let (data, tree) = self.paths(hash);
        for path in [tree, data] {
            if let Err(e) = fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                debug!(path = %path.display(), error = %e, "cannot delete a partial blob");
            }
        }
    }

    /// The blobs something is kept of, at most [`PARTIAL_BLOBS_MAX`] plus
    /// whatever was put there by hand (files not named by a hash are
    /// skipped).
    pub fn list(&self) -> Vec<BlobHash> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut hashes: Vec<BlobHash> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|name| name.strip_suffix(".tree")?.parse().ok())
            .collect();
        hashes.sort();
        hashes
    }

    /// Deletes the oldest partials until a new one fits the cap.
    fn make_room(&self, new: &BlobHash) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut kept: Vec<(std::time::SystemTime, BlobHash)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let hash: BlobHash = name.strip_suffix(".tree")?.parse().ok()?;
                let at = e.metadata().ok()?.modified().ok()?;
                Some((at, hash))
            })
            .filter(|(_, h)| h != new)
            .collect();
        kept.sort();
        let excess = (kept.len() + 1).saturating_sub(PARTIAL_BLOBS_MAX);
        for (_, hash) in kept.into_iter().take(excess) {
            debug!(%hash, "dropping the oldest partial blob");
            self.discard(&hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_state_loads_back_and_discard_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = PartialBlobs::new(dir.path());
        let hash = BlobHash::of(b"photo");
        assert!(p.load(&hash, 1 << 20).is_none());
        assert!(!p.has(&hash));
        p.save(&hash, 100, &[7; 64], b"first", 0).unwrap();
        assert!(p.has(&hash));
        p.save(&hash, 100, &[8; 64], b"first second", 5).unwrap();
        let got = p.load(&hash, 1 << 20).unwrap();
        assert_eq!(got.total, 100);
        assert_eq!(got.tree, vec![8; 64]);
        assert_eq!(got.bytes, b"first second");
        assert!(
            p.load(&hash, 99).is_none(),
            "a size over the cap is ignored"
        );
        assert_eq!(p.list(), vec![hash]);
        // Started over with a shorter tree: nothing of the longer one stays.
        p.save(&hash, 50, &[9; 32], b"x", 0).unwrap();
        let got = p.load(&hash, 1 << 20).unwrap();
        assert_eq!(
            (got.total, got.tree, got.bytes),
            (50, vec![9; 32], b"x".to_vec())
        );
        p.discard(&hash);
        assert!(p.load(&hash, 1 << 20).is_none());
        assert!(p.list().is_empty());
        assert_eq!(
            fs::read_dir(dir.path().join("partial-blobs"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn at_most_the_cap_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = PartialBlobs::new(dir.path());
        for n in 0..PARTIAL_BLOBS_MAX + 3 {
            let hash = BlobHash::of(&n.to_le_bytes());
            p.save(&hash, 10, &[], b"x", 0).unwrap();
        }
        let files = fs::read_dir(dir.path().join("partial-blobs"))
            .unwrap()
            .count();
        assert_eq!(files, 2 * PARTIAL_BLOBS_MAX);
    }
}
