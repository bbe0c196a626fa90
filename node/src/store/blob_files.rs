//! Photos and voice notes as files beside the redb store: `<data>/blobs/<hex>`
//! holds a blob's bytes and `<hex>.obao` its BLAKE3 tree (`bao-tree`
//! pre-order hash pairs, 16 KiB groups), so that serving a range reads only
//! that range and its hash pairs, and checks them, without hashing the blob.
//!
//! Why files and not a redb table: a photo is written once and never
//! changed, so it needs none of redb's transactions, and inside redb it
//! cost two `fdatasync`s, a copy and a second hash per photo (measured:
//! 0.47–0.58 of a plain file's throughput; `docs/benchmarks.md`). A blob
//! file and its tree are written to temporary names when the batch is
//! given them ([`BlobFiles::stage`]); when it commits
//! ([`Batch::commit`](super::Batch::commit)) every staged file of the batch
//! is synced, several at once, renamed into place, and the directory
//! synced once (a group commit), before the document that refers to them:
//! a crash may leave a photo nothing refers to, never a document referring
//! to a missing photo.
//!
//! The name is the hash, so a file is verified whenever it is read whole
//! ([`BlobFiles::read`]) and group by group when served (the tree's root is
//! the hash). The format is in `docs/storage.md`, "Blob files".

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bao_tree::BaoTree;
use bao_tree::io::outboard::PreOrderMemOutboard;

use super::blob::{BLOB_BYTES_MAX, BlobHash, TREE_BLOCK};

/// The directory of blob files, beside the store file.
pub const BLOB_DIR: &str = "blobs";
/// Suffix of a blob's tree file.
const TREE_SUFFIX: &str = ".obao";
/// Suffix of a file being written; one left behind is a crash's and goes
/// at the next open.
const TEMP_SUFFIX: &str = ".tmp";

/// Tells apart temporary files of writers in one process (the group writer
/// and the blob writer may store the same photo at once).
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A blob's tree: its hash pairs in pre-order, with the blob's size and hash.
pub type BlobTree = PreOrderMemOutboard;

/// Makes the tree of `bytes` (one BLAKE3 pass); its root is their hash.
pub fn make_tree(bytes: &[u8]) -> BlobTree {
    PreOrderMemOutboard::create(bytes, TREE_BLOCK)
}

/// The root a tree's hash pairs prove for a blob of `size` bytes, when it
/// has any (a blob of one 16 KiB group or less has none; its root is the
/// hash of its bytes).
pub(crate) fn tree_root(size: u64, pairs: &[u8]) -> Option<BlobHash> {
    let shape = BaoTree::new(size, TREE_BLOCK);
    if pairs.len() as u64 != shape.outboard_size() {
        return None;
    }
    let (left, rest) = pairs.split_first_chunk::<32>()?;
    let right = rest.first_chunk::<32>()?;
    let root = blake3::hazmat::merge_subtrees_root(left, right, blake3::hazmat::Mode::Hash);
    Some(BlobHash::from_bytes(*root.as_bytes()))
}

/// Why a blob file cannot be used.
#[derive(Debug)]
pub(crate) enum FileFault {
    /// The bytes or the tree do not match the name.
    Damaged(String),
    /// The operating system failed.
    Io(io::Error),
}

impl From<io::Error> for FileFault {
    fn from(e: io::Error) -> FileFault {
        FileFault::Io(e)
    }
}

/// What [`BlobFiles::survey`] found: every blob file and its tree, and
/// whatever else is in the directory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BlobSurvey {
    /// Blobs with both files, sorted.
    pub blobs: Vec<BlobHash>,
    /// Bytes of those files, trees included (0 when sizes were not read).
    pub bytes: u64,
    /// Names of files that are not a blob with its tree (a tree without
    /// its blob, a blob without its tree, anything else), sorted.
    pub strays: Vec<String>,
}

/// Files synced at once at most by [`BlobFiles::publish`].
pub(crate) const SYNC_THREADS_MAX: usize = 8;

/// One file of a staged blob: where it is, where it goes, and whether it
/// is ours to remove if the blob is never published (a temporary file; a
/// partial fetch's file is not).
#[derive(Debug)]
struct Move {
    from: PathBuf,
    to: PathBuf,
    owned: bool,
}

impl Move {
    fn owned(from: PathBuf, to: PathBuf) -> Move {
        Move {
            from,
            to,
            owned: true,
        }
    }
}

/// A blob written to temporary names (or a partial fetch's file) and not
/// yet in place; dropped unpublished, its temporary files are removed.
#[derive(Debug)]
pub(crate) struct Staged {
    /// The tree first, then the bytes.
    moves: Vec<Move>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        for m in self.moves.iter().filter(|m| m.owned) {
            if let Err(e) = fs::remove_file(&m.from)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::debug!(path = %m.from.display(), error = %e, "cannot remove a blob's temporary file");
            }
        }
    }
}

/// Syncs `files`, several at once: each thread opens and syncs its share.
fn sync_files(files: &[&Path]) -> io::Result<()> {
    let sync = |path: &Path| File::open(path).and_then(|f| f.sync_all());
    // One blob (its bytes and its tree) is synced in turn: threads would
    // cost more than they save.
    if files.len() <= 2 {
        return files.iter().try_for_each(|p| sync(p));
    }
    let share = files.len().div_ceil(SYNC_THREADS_MAX);
    std::thread::scope(|scope| {
        let threads: Vec<_> = files
            .chunks(share)
            .map(|part| scope.spawn(move || part.iter().try_for_each(|p| sync(p))))
            .collect();
        threads.into_iter().try_for_each(|t| {
            t.join()
                .unwrap_or_else(|_| Err(io::Error::other("a thread syncing blob files panicked")))
        })
    })
}

/// The blob files of one store.
#[derive(Debug, Clone)]
pub(crate) struct BlobFiles {
    dir: PathBuf,
}

impl BlobFiles {
    /// The blob files of the store file at `store_path`.
    pub(crate) fn beside(store_path: &Path) -> BlobFiles {
        let parent = match store_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        BlobFiles {
            dir: parent.join(BLOB_DIR),
        }
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn data_path(&self, hash: &BlobHash) -> PathBuf {
        self.dir.join(hash.to_string())
    }

    fn tree_path(&self, hash: &BlobHash) -> PathBuf {
        self.dir.join(format!("{hash}{TREE_SUFFIX}"))
    }

    /// Whether blob `hash` is held (one `stat`; not verified).
    pub(crate) fn has(&self, hash: &BlobHash) -> io::Result<bool> {
        match fs::metadata(self.data_path(hash)) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes blob `hash` and its `tree` (pre-order pairs) to temporary
    /// names, unsynced; [`BlobFiles::publish`] makes them durable and puts
    /// them in place. `None` when a blob already held has exactly these
    /// bytes and tree (it is reused); files that differ (damage) are
    /// replaced when the new ones are published.
    pub(crate) fn stage(
        &self,
        hash: &BlobHash,
        bytes: &[u8],
        tree: &[u8],
    ) -> io::Result<Option<Staged>> {
        if self.holds_exactly(hash, bytes, tree) {
            return Ok(None);
        }
        fs::create_dir_all(&self.dir)?;
        let tree_temp = self.write_temp(hash, tree)?;
        let mut staged = Staged {
            moves: vec![Move::owned(tree_temp, self.tree_path(hash))],
        };
        // On an error `staged` is dropped unpublished: its temporaries go.
        let data_temp = self.write_temp(hash, bytes)?;
        staged
            .moves
            .push(Move::owned(data_temp, self.data_path(hash)));
        Ok(Some(staged))
    }

    /// Stages the file at `from` (on the same file system: a partial fetch
    /// under `partial-blobs/`) as blob `hash`, with its `tree` written to a
    /// temporary name: published, `from` is synced and renamed into place
    /// instead of its bytes being written again. It must hold exactly
    /// `size` bytes; what it holds was verified group by group as it was
    /// written. `None` when the blob is held already (`from` is left).
    pub(crate) fn stage_adopted(
        &self,
        hash: &BlobHash,
        from: &Path,
        size: u64,
        tree: &[u8],
    ) -> io::Result<Option<Staged>> {
        if self.has(hash)? && fs::metadata(self.tree_path(hash)).is_ok_and(|m| m.is_file()) {
            return Ok(None);
        }
        let len = fs::metadata(from)?.len();
        if len != size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} holds {len} bytes, not the {size} verified",
                    from.display()
                ),
            ));
        }
        fs::create_dir_all(&self.dir)?;
        let tree_temp = self.write_temp(hash, tree)?;
        Ok(Some(Staged {
            moves: vec![
                Move::owned(tree_temp, self.tree_path(hash)),
                Move {
                    from: from.to_path_buf(),
                    to: self.data_path(hash),
                    owned: false,
                },
            ],
        }))
    }

    /// Puts staged blobs in place, durably: every file is synced, on up to
    /// [`SYNC_THREADS_MAX`] threads at once (the file system commits
    /// concurrent syncs together, so a group costs about one), then each
    /// blob's tree and bytes are renamed into place, in that order, so a
    /// blob file is never there without its tree, and the directory is
    /// synced once. On an error, the caller drops what is left.
    pub(crate) fn publish(&self, staged: &mut [Staged]) -> io::Result<()> {
        let files: Vec<&Path> = staged
            .iter()
            .flat_map(|s| s.moves.iter().map(|m| m.from.as_path()))
            .collect();
        sync_files(&files)?;
        for blob in staged.iter_mut() {
            for m in &mut blob.moves {
                fs::rename(&m.from, &m.to)?;
                // In place: nothing left to remove if a later one fails.
                m.owned = false;
            }
        }
        self.sync_dir()
    }

    /// Whether the files of `hash` already hold `bytes` and `tree`: a
    /// second write of one photo reuses the first, and only reads it.
    fn holds_exactly(&self, hash: &BlobHash, bytes: &[u8], tree: &[u8]) -> bool {
        let same = |path: PathBuf, want: &[u8]| match fs::metadata(&path) {
            Ok(m) if m.len() == want.len() as u64 => fs::read(&path).is_ok_and(|got| got == want),
            _ => false,
        };
        same(self.tree_path(hash), tree) && same(self.data_path(hash), bytes)
    }

    /// Writes `bytes` to a new temporary file of `hash`, unsynced.
    fn write_temp(&self, hash: &BlobHash, bytes: &[u8]) -> io::Result<PathBuf> {
        let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let path = self
            .dir
            .join(format!("{hash}.{}-{seq}{TEMP_SUFFIX}", std::process::id()));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        if let Err(e) = file.write_all(bytes) {
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(path)
    }

    /// Makes the directory's entries durable: syncing a file does not
    /// cover the name it was renamed to.
    fn sync_dir(&self) -> io::Result<()> {
        #[cfg(unix)]
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// The bytes of blob `hash`, checked against the hash; `None` if not
    /// held.
    pub(crate) fn read(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, FileFault> {
        let Some(bytes) = self.read_data(hash)? else {
            return Ok(None);
        };
        let actual = BlobHash::of(&bytes);
        if actual != *hash {
            return Err(FileFault::Damaged(format!(
                "its {} bytes hash to {actual}",
                bytes.len()
            )));
        }
        Ok(Some(bytes))
    }

    /// Opens the file of `hash` and takes its size; `None` if not held. A
    /// file grown past [`BLOB_BYTES_MAX`], which no write makes, is damage,
    /// not a blob, and is not read.
    fn open_data(&self, hash: &BlobHash) -> Result<Option<(File, u64)>, FileFault> {
        let file = match File::open(self.data_path(hash)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata()?.len();
        if size > BLOB_BYTES_MAX as u64 {
            return Err(FileFault::Damaged(format!(
                "its file holds {size} bytes, more than any blob may"
            )));
        }
        Ok(Some((file, size)))
    }

    /// The file's bytes.
    fn read_data(&self, hash: &BlobHash) -> Result<Option<Vec<u8>>, FileFault> {
        let Some((mut file, len)) = self.open_data(hash)? else {
            return Ok(None);
        };
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    /// Blob `hash` for serving ranges: its open file and its tree, whose
    /// size must fit the file's; the bytes are checked group by group as
    /// they are sent. `None` if not held.
    pub(crate) fn open_for_serving(
        &self,
        hash: &BlobHash,
    ) -> Result<Option<(File, BlobTree)>, FileFault> {
        let Some((file, size)) = self.open_data(hash)? else {
            return Ok(None);
        };
        let shape = BaoTree::new(size, TREE_BLOCK);
        let pairs = match fs::read(self.tree_path(hash)) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(FileFault::Damaged("its tree file is missing".into()));
            }
            Err(e) => return Err(e.into()),
        };
        if pairs.len() as u64 != shape.outboard_size() {
            return Err(FileFault::Damaged(format!(
                "its tree has {} bytes, a blob of {size} bytes needs {} (truncated or grown)",
                pairs.len(),
                shape.outboard_size()
            )));
        }
        let tree = BlobTree {
            root: blake3::Hash::from_bytes(*hash.as_bytes()),
            tree: shape,
            data: pairs,
        };
        Ok(Some((file, tree)))
    }

    /// Checks blob `hash` whole: its bytes hash to its name and its tree is
    /// the one they make. One hash pass.
    pub(crate) fn verify(&self, hash: &BlobHash) -> Result<(), FileFault> {
        let Some(bytes) = self.read_data(hash)? else {
            return Err(FileFault::Damaged("its file is missing".into()));
        };
        let made = make_tree(&bytes);
        if made.root.as_bytes() != hash.as_bytes() {
            return Err(FileFault::Damaged(format!(
                "its {} bytes hash to {}",
                bytes.len(),
                BlobHash::from_bytes(*made.root.as_bytes())
            )));
        }
        match fs::read(self.tree_path(hash)) {
            Ok(pairs) if pairs == made.data => Ok(()),
            Ok(_) => Err(FileFault::Damaged(
                "its bytes are sound but its tree file is not the tree they make".into(),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(FileFault::Damaged("its tree file is missing".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Lists the directory: blobs, their bytes, and strays. A missing
    /// directory holds nothing.
    /// Sizes are read (one `stat` per file) only if `sizes`; without them
    /// a listing costs one directory read, which `status` pays each time.
    pub(crate) fn survey(&self, sizes: bool) -> io::Result<BlobSurvey> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BlobSurvey::default()),
            Err(e) => return Err(e),
        };
        let mut data = std::collections::BTreeMap::new();
        let mut trees = std::collections::BTreeMap::new();
        let mut strays = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_file = entry.file_type()?.is_file();
            let len = if sizes && is_file {
                entry.metadata()?.len()
            } else {
                0
            };
            let parsed = match name.strip_suffix(TREE_SUFFIX) {
                Some(stem) => stem.parse::<BlobHash>().ok().map(|h| (h, true)),
                None => name.parse::<BlobHash>().ok().map(|h| (h, false)),
            };
            match parsed {
                Some((hash, true)) if is_file => {
                    trees.insert(hash, (name, len));
                }
                Some((hash, false)) if is_file => {
                    data.insert(hash, (name, len));
                }
                _ => strays.push(name),
            }
        }
        let mut survey = BlobSurvey::default();
        for (hash, (name, len)) in &data {
            match trees.remove(hash) {
                Some((_, tree_len)) => {
                    survey.blobs.push(*hash);
                    survey.bytes += len + tree_len;
                }
                None => strays.push(name.clone()),
            }
        }
        strays.extend(trees.into_values().map(|(name, _)| name));
        strays.sort();
        survey.strays = strays;
        Ok(survey)
    }

    /// Removes what a crash left: temporary files, and trees whose blob
    /// file never got its name. Run when a store is opened for writing.
    pub(crate) fn clean_after_crash(&self) -> io::Result<usize> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let orphan_tree = name
                .strip_suffix(TREE_SUFFIX)
                .and_then(|stem| stem.parse::<BlobHash>().ok())
                .is_some_and(|h| !self.data_path(&h).exists());
            if (name.ends_with(TEMP_SUFFIX) || orphan_tree) && entry.metadata()?.is_file() {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
