//! Rewriting the store into a fresh file that leaves out one document's
//! stored history (and what refers to it), then putting that file in the
//! store's place.
//!
//! Why a new file rather than deleting entries: redb frees the pages of a
//! deleted value without erasing them, and reuses them only when it needs
//! space, so deleted bytes stay readable in the file for as long as the
//! store is quiet. A purge of personal data (`docs/privacy.md`) must leave
//! none, so every table is copied from one read transaction into a new
//! file, entry by entry, skipping what goes; what goes is never written to
//! the new file at all. The format is unchanged; see `docs/storage.md`,
//! "Rewriting a document's history".

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use automerge::ChangeHash;
use redb::backends::FileBackend;
use redb::{Builder, Durability, ReadableDatabase};

use super::backup::{copy_table_where, count_all, create_private, sync_dir_of};
use super::document::DocRecord;
use super::error::{DbResultExt, StoreError, io_error};
use super::tables::{
    self, AUTHORS, DOC_CHANGES, DOC_INFO, DOC_SNAPSHOTS, META, PEERS, SIGNATURES, SYNC_STATES,
};
use super::{DocumentInfo, Store, open, read_record};

/// What a rewrite changes; everything else is copied as it is.
#[derive(Debug, Clone, Default)]
pub struct Rewrite {
    /// The document whose stored history is replaced.
    pub document: String,
    /// Its new form, `AutoCommit::save()` of a document with a new history.
    pub snapshot: Vec<u8>,
    /// The new document's heads.
    pub heads: Vec<ChangeHash>,
    /// Signature records left out: those of the old history's changes.
    pub drop_signatures: BTreeSet<[u8; 32]>,
    /// Signature records of the new history: change hash, author key,
    /// signature.
    pub signatures: Vec<([u8; 32], [u8; 32], Vec<u8>)>,
    /// Meta entries whose values are replaced, by key.
    pub meta: BTreeMap<String, Vec<u8>>,
}

/// The store file's size before and after a rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    /// Bytes before.
    pub bytes_before: u64,
    /// Bytes after.
    pub bytes_after: u64,
}

impl Store {
    /// Rewrites this store without the old history of `rw.document` and
    /// puts the new file in its place. Consumes the store: it must be the
    /// last handle on its file, opened with [`Store::open_read_only`] so
    /// that the old file is never written and stays locked until the new
    /// one has replaced it.
    ///
    /// Steps: the new file is written beside the store (`store.redb.rewrite`,
    /// owner-only) in one durable transaction, opened again and checked
    /// (every page, and the rewritten document reproduces its heads), then
    /// renamed over the store and the directory synced. The old file's
    /// bytes are then overwritten with zeros unless another name still
    /// links to them. A crash before the rename leaves the old store whole
    /// (and a stale `.rewrite` file the next rewrite removes); after it, the
    /// new one.
    pub fn rewrite_without_history(self, rw: &Rewrite) -> Result<Rewritten, StoreError> {
        let path = self.path.clone();
        let bytes_before = fs::metadata(&path)
            .map_err(io_error(&path, "inspect"))?
            .len();
        let mut temp = path.as_os_str().to_owned();
        temp.push(".rewrite");
        let temp = PathBuf::from(temp);
        match fs::remove_file(&temp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_error(&temp, "remove")(e));
            }
            _ => {}
        }
        let written = self
            .write_rewritten(&temp, rw)
            .and_then(|()| verify_rewritten(&temp, rw));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        // Held across the rename so the old bytes can be erased after it.
        let old = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_error(&path, "open"))?;
        fs::rename(&temp, &path).map_err(io_error(&path, "rename the rewritten store into"))?;
        sync_dir_of(&path)?;
        // The lock goes with the old file; the new one is in place already.
        drop(self);
        erase_unlinked(&old, &path);
        let bytes_after = fs::metadata(&path)
            .map_err(io_error(&path, "inspect"))?
            .len();
        tracing::info!(path = %path.display(), document = %rw.document, bytes_before, bytes_after, "store rewritten");
        Ok(Rewritten {
            bytes_before,
            bytes_after,
        })
    }

    fn write_rewritten(&self, dest: &Path, rw: &Rewrite) -> Result<(), StoreError> {
        const OP: &str = "rewrite the store";
        let file = create_private(dest)?;
        let backend = FileBackend::new(file).map_err(|err| open::map_open_error(dest, err))?;
        let db = Builder::new()
            .set_cache_size(open::CACHE_BYTES)
            .create_with_backend(backend)
            .map_err(|err| open::map_open_error(dest, err))?;
        let read = self.db.begin_read().db(&self.path, OP)?;
        let old = read_record(&read, &self.path, &rw.document)?.ok_or_else(|| {
            StoreError::CorruptDocument {
                id: rw.document.clone(),
                reason: "it vanished while the store was being rewritten".into(),
            }
        })?;
        let mut txn = db.begin_write().db(dest, OP)?;
        txn.set_durability(Durability::Immediate).db(dest, OP)?;
        tables::create_all(&txn).db(dest, OP)?;
        let doc = rw.document.as_str();
        let total = count_all(&read).db(&self.path, OP)?;
        let d = &mut 0;
        let p: super::backup::Progress<'_> = &mut |_, _| {};
        let to = Some(&txn);
        (|| -> Result<(), redb::Error> {
            copy_table_where(&read, to, META, d, total, p, &|k, _| {
                !rw.meta.contains_key(*k)
            })?;
            copy_table_where(&read, to, DOC_SNAPSHOTS, d, total, p, &|k, _| *k != doc)?;
            copy_table_where(&read, to, DOC_CHANGES, d, total, p, &|k, _| k.0 != doc)?;
            copy_table_where(&read, to, DOC_INFO, d, total, p, &|k, _| *k != doc)?;
            copy_table_where(&read, to, SYNC_STATES, d, total, p, &|k, _| k.1 != doc)?;
            copy_table_where(&read, to, PEERS, d, total, p, &|_, _| true)?;
            copy_table_where(&read, to, SIGNATURES, d, total, p, &|k, _| {
                !rw.drop_signatures.contains(*k)
            })?;
            copy_table_where(&read, to, AUTHORS, d, total, p, &|_, _| true)?;
            Ok(())
        })()
        .db(dest, OP)?;
        let mut heads = rw.heads.clone();
        heads.sort_unstable();
        let record = DocRecord {
            info: DocumentInfo {
                snapshot_bytes: rw.snapshot.len() as u64,
                changes_bytes: 0,
                change_chunks: 0,
                heads,
            },
            // Chunk keys name one write for the life of the store.
            next_chunk_seq: old.next_chunk_seq,
        };
        (|| -> Result<(), redb::Error> {
            txn.open_table(DOC_SNAPSHOTS)?
                .insert(doc, rw.snapshot.as_slice())?;
            txn.open_table(DOC_INFO)?
                .insert(doc, record.encode().as_slice())?;
            let mut sigs = txn.open_table(SIGNATURES)?;
            for (hash, author, signature) in &rw.signatures {
                let mut value = author.to_vec();
                value.extend_from_slice(signature);
                sigs.insert(hash, value.as_slice())?;
            }
            let mut meta = txn.open_table(META)?;
            for (key, value) in &rw.meta {
                meta.insert(key.as_str(), value.as_slice())?;
            }
            Ok(())
        })()
        .db(dest, OP)?;
        txn.commit().db(dest, OP)?;
        Ok(())
    }
}

/// Opens the rewritten file as a store (every page verified) and loads the
/// rewritten document, which must reproduce its new heads.
fn verify_rewritten(path: &Path, rw: &Rewrite) -> Result<(), StoreError> {
    let store = Store::open_read_only(path)?;
    let mut doc =
        store
            .load_document(&rw.document)?
            .ok_or_else(|| StoreError::CorruptDocument {
                id: rw.document.clone(),
                reason: "missing from the rewritten store".into(),
            })?;
    let (mut found, mut want) = (doc.get_heads(), rw.heads.clone());
    found.sort_unstable();
    want.sort_unstable();
    if found != want {
        return Err(StoreError::CorruptDocument {
            id: rw.document.clone(),
            reason: "the rewritten document does not reproduce its heads".into(),
        });
    }
    Ok(())
}

/// Overwrites the replaced store file with zeros, so that the old bytes do
/// not linger on disk in the file system's free space; skipped when the
/// file is still linked elsewhere (a hard link is someone's copy). Best
/// effort: a copy-on-write file system or an SSD may keep old blocks anyway
/// (hence the encrypted volume of the operator guide), and a failure here
/// changes nothing about the new store, so it is logged, not returned.
fn erase_unlinked(old: &fs::File, path: &Path) {
    let erase = || -> io::Result<bool> {
        let meta = old.metadata()?;
        if meta.nlink() > 0 {
            return Ok(false);
        }
        let zeros = vec![0u8; 1 << 20];
        let mut left = meta.len();
        let mut w = old;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            w.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        old.sync_all()?;
        Ok(true)
    };
    match erase() {
        Ok(true) => tracing::debug!(path = %path.display(), "old store file erased"),
        Ok(false) => {
            tracing::warn!(path = %path.display(), "the old store file is linked elsewhere; its bytes were left as they are")
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot erase the old store file")
        }
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable as _;
    use automerge::{AutoCommit, ROOT, ReadDoc as _};

    use super::*;

    const DOC: &str = "p/roster-private";
    const SECRET: &str = "SECRET-PHONE-13800007771";

    fn holds(path: &Path, needle: &str) -> bool {
        let bytes = fs::read(path).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    fn doc_with(key: &str, value: &str) -> AutoCommit {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, key, value).unwrap();
        doc.commit();
        doc
    }

    #[test]
    fn rewrite_leaves_no_byte_of_the_old_history_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let store = Store::create(&path).unwrap();
        let mut private = doc_with("phone", SECRET);
        let mut other = doc_with("k", "kept value");
        let old = private.get_heads()[0].0;
        let mut b = store.batch().unwrap();
        b.append_changes(DOC, &private.save_after(&[]), &private.get_heads())
            .unwrap();
        b.append_changes("p/reports", &other.save_after(&[]), &other.get_heads())
            .unwrap();
        b.put_signature(&old, &[1; 32], b"old signature").unwrap();
        b.put_sync_state("peer", "p/reports", b"state").unwrap();
        b.commit().unwrap();
        drop(store);
        assert!(
            holds(&path, SECRET),
            "the test needs the secret in plain bytes"
        );

        let mut fresh = doc_with("phone", "gone");
        let new = fresh.get_heads()[0].0;
        let rw = Rewrite {
            document: DOC.into(),
            snapshot: fresh.save(),
            heads: fresh.get_heads(),
            drop_signatures: [old].into(),
            signatures: vec![(new, [2; 32], b"new signature".to_vec())],
            meta: BTreeMap::new(),
        };
        let sizes = Store::open_read_only(&path)
            .unwrap()
            .rewrite_without_history(&rw)
            .unwrap();
        assert!(sizes.bytes_after > 0);
        assert!(!holds(&path, SECRET));
        assert!(!dir.path().join("store.redb.rewrite").exists());

        let store = Store::open(&path).unwrap();
        let doc = store.load_document(DOC).unwrap().unwrap();
        let (value, _) = doc.get(ROOT, "phone").unwrap().unwrap();
        assert_eq!(value.as_str(), Some("gone"));
        let mut kept = store.load_document("p/reports").unwrap().unwrap();
        assert_eq!(kept.get_heads(), other.get_heads());
        assert_eq!(
            store.sync_state("peer", "p/reports").unwrap(),
            Some(b"state".to_vec())
        );
        assert!(store.signature(&old).unwrap().is_none());
        assert_eq!(store.signature(&new).unwrap().unwrap().author, [2; 32]);
    }
}
