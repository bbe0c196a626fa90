//! [`ScratchBackend`]: a redb storage backend that reads a real file and keeps
//! every write in memory.
//!
//! Why it exists: to decide whether this binary may open a store, the store
//! must be verified and its schema version read, and neither may write to the
//! file, because a store written by a newer Yizhan must be left exactly as it
//! was. redb cannot do that on its own:
//!
//! - a read-write open writes the file's header at once (it sets the
//!   "recovery required" flag), and after a crash it repairs and commits;
//! - redb's integrity check, the only open that promises an error rather than
//!   a panic on a damaged file, commits when it finishes;
//! - a read-only open refuses a file that needs crash recovery, and trusts the
//!   file's contents, panicking on some damage.
//!
//! Opening through this backend runs redb's full, verified, read-write open
//! with all its writes landing in memory. The file itself is only read and
//! locked: locking goes to the real file, so a store in use by another process
//! is reported as such.

use std::collections::BTreeMap;
use std::io;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// Bytes per block of the in-memory overlay.
const BLOCK_BYTES: u64 = 4096;

/// The most the overlay may hold (64 MiB). A verifying open writes a header,
/// a repair commit and a close commit: a few pages. Far more means something
/// is wrong, and the bound keeps that from eating the machine's memory.
const OVERLAY_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// A copy-on-write view of a store file: reads fall through to the file,
/// writes and length changes stay in memory. See the module docs.
#[derive(Debug)]
pub(crate) struct ScratchBackend {
    file: FileBackend,
    overlay: Mutex<Overlay>,
}

#[derive(Debug)]
struct Overlay {
    /// The logical length of the storage.
    len: u64,
    /// Bytes below this offset not covered by a block come from the file;
    /// above it, they are zero. Only ever shrinks: truncating and then
    /// growing must not resurrect the file's old bytes.
    file_len: u64,
    /// Written blocks, by block index. Bytes of a block past `len` are zero.
    blocks: BTreeMap<u64, Box<[u8]>>,
}

impl ScratchBackend {
    /// Wraps `file`, whose current length becomes the initial length.
    pub(crate) fn new(file: FileBackend) -> io::Result<ScratchBackend> {
        let len = file.len()?;
        Ok(ScratchBackend {
            file,
            overlay: Mutex::new(Overlay {
                len,
                file_len: len,
                blocks: BTreeMap::new(),
            }),
        })
    }

    fn overlay(&self) -> io::Result<MutexGuard<'_, Overlay>> {
        self.overlay
            .lock()
            .map_err(|_| io::Error::other("scratch overlay lock poisoned"))
    }
}

fn out_of_range() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the storage",
    )
}

/// Converts an in-range `u64` length to `usize`; lengths here are bounded by
/// buffers that exist, so failure means a caller bug, reported as an error.
fn to_usize(value: u64) -> io::Result<usize> {
    usize::try_from(value).map_err(|_| io::Error::other("offset does not fit in memory"))
}

impl Overlay {
    /// Fills `out` with the bytes at `offset`, from blocks, the file or zeros.
    fn read(&self, file: &FileBackend, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let end = offset
            .checked_add(out.len() as u64)
            .ok_or_else(out_of_range)?;
        if end > self.len {
            return Err(out_of_range());
        }
        let mut pos = offset;
        while pos < end {
            let index = pos / BLOCK_BYTES;
            let block_start = index * BLOCK_BYTES;
            let dest = &mut out[to_usize(pos - offset)?..];
            if let Some(block) = self.blocks.get(&index) {
                let run_end = end.min(block_start + BLOCK_BYTES);
                let from = to_usize(pos - block_start)?;
                let n = to_usize(run_end - pos)?;
                dest[..n].copy_from_slice(&block[from..from + n]);
                pos = run_end;
                continue;
            }
            // Coalesce every following block that is not in the overlay into
            // one read of the file: large values span many blocks.
            let next_block = self
                .blocks
                .range(index + 1..)
                .next()
                .map_or(u64::MAX, |(next, _)| *next);
            let run_end = end.min(next_block.saturating_mul(BLOCK_BYTES));
            let from_file_end = run_end.min(self.file_len).max(pos);
            let from_file = to_usize(from_file_end - pos)?;
            let n = to_usize(run_end - pos)?;
            if from_file > 0 {
                file.read(pos, &mut dest[..from_file])?;
            }
            dest[from_file..n].fill(0);
            pos = run_end;
        }
        Ok(())
    }

    fn overlay_bytes(&self) -> u64 {
        self.blocks.len() as u64 * BLOCK_BYTES
    }

    fn write(&mut self, file: &FileBackend, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| io::Error::other("write past the addressable range"))?;
        if end > self.len {
            // As a file does: writing past the end extends it.
            self.len = end;
        }
        let mut pos = offset;
        while pos < end {
            let index = pos / BLOCK_BYTES;
            let block_start = index * BLOCK_BYTES;
            if !self.blocks.contains_key(&index) {
                if self.overlay_bytes() + BLOCK_BYTES > OVERLAY_BYTES_MAX {
                    return Err(io::Error::other(
                        "verifying the store needed more scratch memory than allowed",
                    ));
                }
                let mut block = vec![0u8; to_usize(BLOCK_BYTES)?].into_boxed_slice();
                let filled = to_usize(self.len.min(block_start + BLOCK_BYTES) - block_start)?;
                self.read(file, block_start, &mut block[..filled])?;
                self.blocks.insert(index, block);
            }
            let run_end = end.min(block_start + BLOCK_BYTES);
            let from = to_usize(pos - offset)?;
            let at = to_usize(pos - block_start)?;
            let n = to_usize(run_end - pos)?;
            if let Some(block) = self.blocks.get_mut(&index) {
                block[at..at + n].copy_from_slice(&data[from..from + n]);
            }
            pos = run_end;
        }
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        if len < self.len {
            self.file_len = self.file_len.min(len);
            let first_dropped = len.div_ceil(BLOCK_BYTES);
            self.blocks.retain(|&index, _| index < first_dropped);
            // Keep the invariant that a block's bytes past `len` are zero, so
            // growing again reads zeros there.
            if !len.is_multiple_of(BLOCK_BYTES)
                && let Some(block) = self.blocks.get_mut(&(len / BLOCK_BYTES))
            {
                block[to_usize(len % BLOCK_BYTES)?..].fill(0);
            }
        }
        self.len = len;
        Ok(())
    }
}

impl StorageBackend for ScratchBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.overlay()?.len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.overlay()?.read(&self.file, offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.overlay()?.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        // Nothing reaches the disk, so there is nothing to sync.
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.overlay()?.write(&self.file, offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fs::OpenOptions;

    fn scratch_over(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf, ScratchBackend) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, bytes).unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let backend = ScratchBackend::new(FileBackend::new(file).unwrap()).unwrap();
        (dir, path, backend)
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(u64, Vec<u8>),
        SetLen(u64),
        Read(u64, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (
                0u64..20_000,
                proptest::collection::vec(any::<u8>(), 0..9000)
            )
                .prop_map(|(at, data)| Op::Write(at, data)),
            (0u64..24_000).prop_map(Op::SetLen),
            (0u64..24_000, 0usize..10_000).prop_map(|(at, n)| Op::Read(at, n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The backend behaves like a growable byte vector, and the file
        /// underneath never changes.
        #[test]
        fn behaves_like_a_vec_and_never_touches_the_file(
            initial in proptest::collection::vec(any::<u8>(), 0..12_000),
            ops in proptest::collection::vec(op(), 1..40),
        ) {
            let (_dir, path, backend) = scratch_over(&initial);
            let mut model = initial.clone();
            for op in ops {
                match op {
                    Op::Write(at, data) => {
                        let end = at as usize + data.len();
                        if end > model.len() {
                            model.resize(end, 0);
                        }
                        model[at as usize..end].copy_from_slice(&data);
                        backend.write(at, &data).unwrap();
                    }
                    Op::SetLen(len) => {
                        model.resize(len as usize, 0);
                        backend.set_len(len).unwrap();
                    }
                    Op::Read(at, n) => {
                        let mut out = vec![0xAA; n];
                        let result = backend.read(at, &mut out);
                        if at as usize + n <= model.len() {
                            result.unwrap();
                            prop_assert_eq!(&out[..], &model[at as usize..at as usize + n]);
                        } else {
                            prop_assert!(result.is_err());
                        }
                    }
                }
                prop_assert_eq!(backend.len().unwrap(), model.len() as u64);
            }
            let mut whole = vec![0; model.len()];
            backend.read(0, &mut whole).unwrap();
            prop_assert_eq!(whole, model);
            prop_assert_eq!(std::fs::read(&path).unwrap(), initial);
        }
    }

    #[test]
    fn overlay_is_bounded() {
        let (_dir, _path, backend) = scratch_over(&[]);
        let chunk = vec![1u8; 1024 * 1024];
        let mut at = 0;
        let err = loop {
            match backend.write(at, &chunk) {
                Ok(()) => at += chunk.len() as u64,
                Err(err) => break err,
            }
        };
        assert!(err.to_string().contains("scratch memory"));
        assert!(at <= OVERLAY_BYTES_MAX);
    }
}
