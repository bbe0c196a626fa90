//! Photos and voice notes as files beside the redb store: `<data>/blobs/<hex>`
//! holds a blob's bytes, nothing else, so an operator can copy a photo out
//! of it as it is. Its BLAKE3 tree (`bao-tree` pre-order hash pairs, 16 KiB
//! groups), which serving a range needs to prove that range, is kept in
//! memory ([`TreeCache`]) and made again from the file when it is not
//! there: serving a range then reads only that range and checks it against
//! the tree, without hashing the blob.
//!
//! Why files and not a redb table: a photo is written once and never
//! changed, so it needs none of redb's transactions, and inside redb it
//! cost two `fdatasync`s, a copy and a second hash per photo (measured:
//! 0.47–0.58 of a plain file's throughput; `docs/benchmarks.md`). A blob
//! file is written to a temporary name when the batch is given it
//! ([`BlobFiles::stage`]); when it commits
//! ([`Batch::commit`](super::Batch::commit)) every staged file of the batch
//! is synced, several at once, renamed into place, and the directory
//! synced once (a group commit), before the document that refers to them:
//! a crash may leave a photo nothing refers to, never a document referring
//! to a missing photo.
//!
//! The name is the hash, so a file is verified whenever it is read whole
//! ([`BlobFiles::read`], and to make its tree again) and group by group
//! when served (the tree's root is the hash). The format is in
//! `docs/storage.md`, "Blob files".

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bao_tree::BaoTree;
use bao_tree::io::outboard::PreOrderMemOutboard;

use super::blob::{BLOB_BYTES_MAX, BlobHash, TREE_BLOCK};
use super::blob_tally::{BlobTally, BlobTotals, RECOUNT_AFTER};
use super::tree_cache::TreeCache;

/// The directory of blob files, beside the store file.
pub const BLOB_DIR: &str = "blobs";
/// Where damaged blob files are set aside, beside the store file.
pub const DAMAGED_BLOB_DIR: &str = "damaged-blobs";
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
    /// The bytes or their size do not match the name.
    Damaged(String),
    /// The operating system failed.
    Io(io::Error),
}

impl From<io::Error> for FileFault {
    fn from(e: io::Error) -> FileFault {
        FileFault::Io(e)
    }
}

/// What [`BlobFiles::survey`] found: every blob file, and whatever else is
/// in the directory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BlobSurvey {
    /// Blobs held, sorted.
    pub blobs: Vec<BlobHash>,
    /// Bytes of their files (0 when sizes were not read).
    pub bytes: u64,
    /// Names of entries that are not a blob file (a directory, a name that
    /// is no hash, anything else), sorted.
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

/// A blob written to a temporary name (or a partial fetch's file) and not
/// yet in place; dropped unpublished, its temporary file is removed.
#[derive(Debug)]
pub(crate) struct Staged {
    moves: Vec<Move>,
    /// The file's sync, already under way on a thread of its own
    /// ([`BlobFiles::stage_hashing`]); [`BlobFiles::publish`] waits for it
    /// instead of syncing the file itself.
    syncing: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Staged {
    /// Whether a thread of its own is syncing the file.
    pub(crate) fn syncing(&self) -> bool {
        self.syncing.is_some()
    }
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
    // Two files or fewer are synced in turn: threads would
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

/// The blob files of one store, and the trees of those served or written
/// lately.
#[derive(Debug, Clone)]
pub(crate) struct BlobFiles {
    dir: PathBuf,
    trees: TreeCache,
    tally: BlobTally,
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
            trees: TreeCache::default(),
            tally: BlobTally::default(),
        }
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn data_path(&self, hash: &BlobHash) -> PathBuf {
        self.dir.join(hash.to_string())
    }

    /// Bytes serving blob `hash` would hash before it sends anything: its
    /// size when its tree is not in memory (the tree is made again from the
    /// whole file), else 0, as for a blob not held. One `stat` at most.
    pub(crate) fn rehash_bytes(&self, hash: &BlobHash) -> io::Result<u64> {
        if self.trees.contains(hash) {
            return Ok(0);
        }
        match fs::metadata(self.data_path(hash)) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Whether blob `hash` is held (one `stat`; not verified).
    pub(crate) fn has(&self, hash: &BlobHash) -> io::Result<bool> {
        match fs::metadata(self.data_path(hash)) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes blob `hash` to a temporary name, unsynced, and keeps its
    /// `tree` (pre-order pairs, proven or made by the caller) in memory;
    /// [`BlobFiles::publish`] makes the file durable and puts it in place.
    /// `None` when the file held has exactly these bytes (it is reused); a
    /// file that differs (damage) is replaced when the new one is published.
    pub(crate) fn stage(
        &self,
        hash: &BlobHash,
        bytes: &[u8],
        tree: &[u8],
    ) -> io::Result<Option<Staged>> {
        // The tree is the hash's whatever becomes of the file.
        self.trees
            .put(*hash, bytes.len() as u64, Arc::new(tree.to_vec()));
        if self.holds_exactly(hash, bytes) {
            return Ok(None);
        }
        fs::create_dir_all(&self.dir)?;
        let (data_temp, _) = self.write_temp(hash, bytes)?;
        Ok(Some(Staged {
            moves: vec![Move::owned(data_temp, self.data_path(hash))],
            syncing: None,
        }))
    }

    /// [`BlobFiles::stage`] for bytes not hashed yet (a photo taken here):
    /// they are written to a temporary file first, its sync is started on
    /// a thread of its own, and they are hashed while the disk takes them;
    /// the hash then names the file. A photo costs about its write and
    /// sync, not its hash on top (measured: `docs/benchmarks.md`, "Trees in
    /// memory").
    /// With `sync_now` false the sync is left to the commit instead: a
    /// batch of many blobs (a restore) would otherwise keep a thread per
    /// blob until it commits.
    pub(crate) fn stage_hashing(
        &self,
        bytes: &[u8],
        sync_now: bool,
    ) -> io::Result<(BlobHash, Option<Staged>)> {
        fs::create_dir_all(&self.dir)?;
        let (temp, file) = self.write_temp("new", bytes)?;
        // Dropped unpublished (held already, or an error), the file goes.
        let mut staged = Staged {
            moves: vec![Move::owned(temp, PathBuf::new())],
            syncing: None,
        };
        // Without a thread the sync is left to the commit, as for any blob.
        if sync_now {
            staged.syncing = std::thread::Builder::new()
                .name("blob-sync".into())
                .spawn(move || file.sync_all())
                .ok();
        }
        let tree = make_tree(bytes);
        let hash = BlobHash::from_bytes(*tree.root.as_bytes());
        self.trees
            .put(hash, bytes.len() as u64, Arc::new(tree.data));
        if self.holds_exactly(&hash, bytes) {
            return Ok((hash, None));
        }
        if let Some(m) = staged.moves.first_mut() {
            m.to = self.data_path(&hash);
        }
        Ok((hash, Some(staged)))
    }

    /// Stages the file at `from` (on the same file system: a partial fetch
    /// under `partial-blobs/`) as blob `hash`, keeping its `tree` in memory:
    /// published, `from` is synced and renamed into place instead of its
    /// bytes being written again. It must hold exactly `size` bytes; what
    /// it holds was verified group by group as it was written. `None` when
    /// the blob is held already (`from` is left).
    pub(crate) fn stage_adopted(
        &self,
        hash: &BlobHash,
        from: &Path,
        size: u64,
        tree: &[u8],
    ) -> io::Result<Option<Staged>> {
        self.trees.put(*hash, size, Arc::new(tree.to_vec()));
        if self.has(hash)? {
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
        Ok(Some(Staged {
            moves: vec![Move {
                from: from.to_path_buf(),
                to: self.data_path(hash),
                owned: false,
            }],
            syncing: None,
        }))
    }

    /// Puts staged blobs in place, durably: every file is synced, on up to
    /// [`SYNC_THREADS_MAX`] threads at once (the file system commits
    /// concurrent syncs together, so a group costs about one), then each is
    /// renamed into place and the directory is synced once. On an error,
    /// the caller drops what is left.
    pub(crate) fn publish(&self, staged: &mut [Staged]) -> io::Result<()> {
        let mut files = Vec::new();
        for blob in staged.iter_mut() {
            match blob.syncing.take() {
                Some(thread) => thread.join().unwrap_or_else(|_| {
                    Err(io::Error::other("a thread syncing a blob file panicked"))
                })?,
                None => files.extend(blob.moves.iter().map(|m| m.from.clone())),
            }
        }
        let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        sync_files(&files)?;
        for blob in staged.iter_mut() {
            for m in &mut blob.moves {
                let bytes = fs::metadata(&m.from)?.len();
                let replaced = fs::metadata(&m.to).ok().map(|old| old.len());
                fs::rename(&m.from, &m.to)?;
                // In place: nothing left to remove if a later one fails.
                m.owned = false;
                self.tally.placed(bytes, replaced);
            }
        }
        self.sync_dir()
    }

    /// Drops the tree of `hash` kept in memory; the next serve makes it
    /// again from the file.
    pub(crate) fn forget_tree(&self, hash: &BlobHash) {
        self.trees.forget(hash);
    }

    /// Moves the file of blob `hash` out of the directory into
    /// [`DAMAGED_BLOB_DIR`] beside it, named by the hash and the time, so
    /// the blob is no longer held and can be fetched again while the
    /// damaged bytes stay for the operator to look at. `None` if there was
    /// no file.
    pub(crate) fn set_aside(&self, hash: &BlobHash) -> io::Result<Option<PathBuf>> {
        let from = self.data_path(hash);
        let bytes = match fs::metadata(&from) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let aside = self.dir.with_file_name(DAMAGED_BLOB_DIR);
        fs::create_dir_all(&aside)?;
        // Seconds for the operator, then a number so that two set asides
        // of one blob in the same second keep both.
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let to = aside.join(format!("{hash}.{secs}-{seq}"));
        fs::rename(&from, &to)?;
        self.trees.forget(hash);
        self.tally.removed(bytes);
        Ok(Some(to))
    }

    /// How many blob files there are and their bytes, listed again at most
    /// every [`RECOUNT_AFTER`] and kept up to date by this store's writes
    /// in between; for the metrics.
    pub(crate) fn totals(&self) -> io::Result<BlobTotals> {
        self.tally.totals(RECOUNT_AFTER, || {
            let survey = self.survey(true)?;
            Ok(BlobTotals {
                blobs: survey.blobs.len() as u64,
                bytes: survey.bytes,
            })
        })
    }

    /// Whether the file of `hash` already holds `bytes`: a second write of
    /// one photo reuses the first, and only reads it.
    fn holds_exactly(&self, hash: &BlobHash, bytes: &[u8]) -> bool {
        let path = self.data_path(hash);
        match fs::metadata(&path) {
            Ok(m) if m.len() == bytes.len() as u64 => fs::read(&path).is_ok_and(|got| got == bytes),
            _ => false,
        }
    }

    /// Writes `bytes` to a new temporary file named after `hash`, unsynced;
    /// returns its path and the open file.
    fn write_temp(
        &self,
        hash: &(impl std::fmt::Display + ?Sized),
        bytes: &[u8],
    ) -> io::Result<(PathBuf, File)> {
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
        Ok((path, file))
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
    /// size must be the file's; the bytes are checked group by group as
    /// they are sent. A tree not in memory is made again from the file,
    /// which checks the whole file against its name on the way. `None` if
    /// not held.
    pub(crate) fn open_for_serving(
        &self,
        hash: &BlobHash,
    ) -> Result<Option<(File, BlobTree)>, FileFault> {
        let Some((mut file, size)) = self.open_data(hash)? else {
            self.trees.forget(hash);
            return Ok(None);
        };
        let shape = BaoTree::new(size, TREE_BLOCK);
        let pairs = match self.trees.get(hash) {
            // A kept tree is the hash's, so a file of another size is the
            // file's fault, even one cut or grown within its last group.
            Some((kept, _)) if kept != size => {
                return Err(FileFault::Damaged(format!(
                    "its file holds {size} bytes, not the {kept} of the blob its tree was made from (truncated or grown)"
                )));
            }
            Some((_, pairs)) => pairs,
            None => {
                let mut bytes = Vec::with_capacity(size as usize);
                file.read_to_end(&mut bytes)?;
                let made = make_tree(&bytes);
                if made.root.as_bytes() != hash.as_bytes() {
                    return Err(FileFault::Damaged(format!(
                        "its {} bytes hash to {}",
                        bytes.len(),
                        BlobHash::from_bytes(*made.root.as_bytes())
                    )));
                }
                let pairs = Arc::new(made.data);
                self.trees.put(*hash, size, Arc::clone(&pairs));
                pairs
            }
        };
        if pairs.len() as u64 != shape.outboard_size() {
            return Err(FileFault::Damaged(format!(
                "its file holds {size} bytes, which does not fit the tree of its blob (truncated or grown)"
            )));
        }
        let tree = BlobTree {
            root: blake3::Hash::from_bytes(*hash.as_bytes()),
            tree: shape,
            data: pairs.to_vec(),
        };
        Ok(Some((file, tree)))
    }

    /// Checks blob `hash` whole against its name (one hash pass); for
    /// `yizhan check`.
    pub(crate) fn verify(&self, hash: &BlobHash) -> Result<(), FileFault> {
        match self.read(hash)? {
            Some(_) => Ok(()),
            None => Err(FileFault::Damaged("its file is missing".into())),
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
        let mut survey = BlobSurvey::default();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match name.parse::<BlobHash>() {
                Ok(hash) if entry.file_type()?.is_file() => {
                    survey.blobs.push(hash);
                    if sizes {
                        survey.bytes += entry.metadata()?.len();
                    }
                }
                _ => survey.strays.push(name),
            }
        }
        survey.blobs.sort();
        survey.strays.sort();
        Ok(survey)
    }

    /// Removes what a crash left: temporary files. Run when a store is
    /// opened for writing.
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
            if name.ends_with(TEMP_SUFFIX) && entry.metadata()?.is_file() {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
