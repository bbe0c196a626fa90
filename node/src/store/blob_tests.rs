//! Unit tests of the blob files beside the store, on real files: writes,
//! reuse, damage on disk (truncated, bit-flipped), what a crash leaves, and
//! serving with a tree kept in memory or made again from the file.

use std::fs;
use std::path::PathBuf;

use super::blob_files::tree_root;
use super::*;

fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("store.redb")).unwrap();
    (dir, store)
}

/// `len` bytes that differ from any other test's photo.
fn photo(seed: u8, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    let mut h = blake3::Hasher::new();
    h.update(&[seed]);
    h.finalize_xof().fill(&mut bytes);
    bytes
}

fn stored(store: &Store, bytes: &[u8]) -> BlobHash {
    let mut batch = store.batch().unwrap();
    let hash = batch.put_blob(bytes).unwrap();
    batch.commit().unwrap();
    hash
}

fn data_file(store: &Store, hash: &BlobHash) -> PathBuf {
    store.blob_dir().join(hash.to_string())
}

/// Writes over the file of `hash` the photo `bytes` with bit `mask` of
/// byte `at` flipped, as a failing disk would; returns what it wrote.
fn flip(store: &Store, hash: &BlobHash, bytes: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut flipped = bytes.to_vec();
    flipped[at] ^= mask;
    fs::write(data_file(store, hash), &flipped).unwrap();
    flipped
}

/// A request for `len` bytes of `hash` from `offset`.
fn range(
    hash: BlobHash,
    offset: u64,
    len: u32,
    prove_size: bool,
) -> crate::net::blob::ChunkRequest {
    crate::net::blob::ChunkRequest {
        hash,
        offset,
        len,
        prove_size,
    }
}

/// The store at `dir` opened again: nothing of the first one's memory.
fn reopened(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("store.redb")).unwrap()
}

fn damaged_reason(result: Result<impl std::fmt::Debug, StoreError>, hash: &BlobHash) -> String {
    match result {
        Err(StoreError::CorruptBlob { hash: h, reason }) if h == *hash => reason,
        other => panic!("expected CorruptBlob for {hash}, got {other:?}"),
    }
}

#[test]
fn blobs_are_files_beside_the_store_and_round_trip() {
    let (dir, store) = new_store();
    let big = photo(1, 100_000);
    let mut batch = store.batch().unwrap();
    let hash = batch.put_blob(&big).unwrap();
    assert_eq!(batch.put_blob(&big).unwrap(), hash, "idempotent");
    let empty = batch.put_blob(b"").unwrap();
    batch.commit().unwrap();

    assert_eq!(hash, BlobHash::of(&big));
    assert_eq!(store.blob_dir(), dir.path().join("blobs"));
    assert_eq!(fs::read(data_file(&store, &hash)).unwrap(), big);
    assert_eq!(
        fs::read_dir(store.blob_dir()).unwrap().count(),
        2,
        "a plain file per blob and nothing beside it"
    );
    let (_, tree) = store.blob_for_serving(&hash).unwrap().unwrap();
    assert_eq!(tree.data, make_tree(&big).data, "served with its bao-tree");
    assert_eq!(store.blob(&hash).unwrap().unwrap(), big);
    assert_eq!(store.blob(&empty).unwrap().unwrap(), b"");
    assert!(store.has_blob(&hash).unwrap());
    let mut expected = vec![hash, empty];
    expected.sort();
    assert_eq!(store.blob_hashes().unwrap(), expected);
    let survey = store.blob_survey().unwrap();
    assert!(survey.strays.is_empty(), "{survey:?}");
    assert_eq!(survey.bytes, big.len() as u64);
    store.verify_blob(&hash).unwrap();

    let absent = BlobHash::of(b"absent");
    assert!(store.blob(&absent).unwrap().is_none());
    assert!(!store.has_blob(&absent).unwrap());
    assert!(store.blob_for_serving(&absent).unwrap().is_none());
}

#[test]
fn a_second_write_of_a_photo_reuses_its_file() {
    let (_dir, store) = new_store();
    let bytes = photo(2, 40_000);
    let hash = stored(&store, &bytes);
    let before = fs::metadata(data_file(&store, &hash)).unwrap();
    assert_eq!(stored(&store, &bytes), hash);
    let after = fs::metadata(data_file(&store, &hash)).unwrap();
    assert_eq!(before.modified().unwrap(), after.modified().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(before.ino(), after.ino(), "the file was not replaced");
    }
}

#[test]
fn a_write_replaces_a_damaged_file_of_the_same_photo() {
    let (_dir, store) = new_store();
    let bytes = photo(3, 50_000);
    let hash = stored(&store, &bytes);
    flip(&store, &hash, &bytes, 777, 0x01);
    assert!(store.blob(&hash).is_err());
    assert_eq!(stored(&store, &bytes), hash);
    assert_eq!(store.blob(&hash).unwrap().unwrap(), bytes);
}

#[test]
fn a_flipped_bit_is_reported_and_never_served() {
    let (_dir, store) = new_store();
    let bytes = photo(4, 200_000);
    let hash = stored(&store, &bytes);
    let flipped = flip(&store, &hash, &bytes, 150_000, 0x80);

    let reason = damaged_reason(store.blob(&hash), &hash);
    assert!(
        reason.contains(&BlobHash::of(&flipped).to_string()),
        "{reason}"
    );
    damaged_reason(store.verify_blob(&hash), &hash);
    // Serving checks each group against the tree kept in memory: the damaged one
    // is refused, the sound ones before it still verify.
    let (file, tree) = store.blob_for_serving(&hash).unwrap().unwrap();
    let req = |offset: u64| range(hash, offset, 16 * 1024, false);
    assert!(crate::net::blob::serve_file(&req(147_456), &file, &tree).is_err());
    assert!(crate::net::blob::serve_file(&req(0), &file, &tree).is_ok());
}

#[test]
fn a_tree_not_in_memory_is_made_again_from_a_sound_file_only() {
    let (dir, store) = new_store();
    let bytes = photo(6, 100_000);
    let hash = stored(&store, &bytes);
    drop(store);
    let store = reopened(&dir);
    let (file, tree) = store.blob_for_serving(&hash).unwrap().unwrap();
    assert_eq!(tree.data, make_tree(&bytes).data);
    let req = range(hash, 0, 64 * 1024, true);
    assert!(crate::net::blob::serve_file(&req, &file, &tree).is_ok());

    // Damaged while no tree was in memory: the whole file is checked
    // before a tree is made from it, so nothing of it is served.
    let flipped = flip(&store, &hash, &bytes, 99_000, 0x04);
    drop(store);
    let store = reopened(&dir);
    let reason = damaged_reason(store.blob_for_serving(&hash).map(|o| o.is_some()), &hash);
    assert!(
        reason.contains(&BlobHash::of(&flipped).to_string()),
        "{reason}"
    );
    // A tree file of the version 2 layout is no blob: a stray, left alone.
    fs::write(
        store.blob_dir().join(format!("{hash}.obao")),
        &make_tree(&bytes).data,
    )
    .unwrap();
    assert_eq!(
        store.blob_survey().unwrap().strays,
        vec![format!("{hash}.obao")]
    );
}

#[test]
fn a_truncated_file_is_reported_and_never_served() {
    let (_dir, store) = new_store();
    let bytes = photo(5, 300_000);
    let hash = stored(&store, &bytes);
    for keep in [299_999, 200_000, 16_384, 0] {
        fs::write(data_file(&store, &hash), &bytes[..keep]).unwrap();
        damaged_reason(store.blob(&hash), &hash);
        damaged_reason(store.verify_blob(&hash), &hash);
        // A file whose size no longer fits its tree is refused before a
        // byte is read; one that still fits fails on the last group.
        if let Ok(Some((file, tree))) = store.blob_for_serving(&hash) {
            let last = range(hash, (keep as u64 / 16_384) * 16_384, 16 * 1024, true);
            assert!(
                crate::net::blob::serve_file(&last, &file, &tree).is_err(),
                "served a file cut to {keep} bytes"
            );
        }
    }
}

#[test]
fn a_read_only_view_serves_with_the_trees_its_store_keeps() {
    // The daemon serves each range through a view of its own: were the
    // trees not shared, every range would hash the whole photo again. A
    // byte damaged after the write tells them apart: with the kept tree
    // the view serves the sound groups; a tree made again would refuse
    // the file at once.
    let (_dir, store) = new_store();
    let bytes = photo(14, 200_000);
    let hash = stored(&store, &bytes);
    flip(&store, &hash, &bytes, 190_000, 0x01);
    let view = store.read_only_view();
    let (file, tree) = view.blob_for_serving(&hash).unwrap().unwrap();
    assert_eq!(tree.data, make_tree(&bytes).data);
    let first = range(hash, 0, 16 * 1024, false);
    assert!(crate::net::blob::serve_file(&first, &file, &tree).is_ok());
}

#[test]
fn blob_totals_follow_this_stores_writes_without_listing_again() {
    let (_dir, store) = new_store();
    let first = photo(15, 40_000);
    stored(&store, &first);
    let totals = store.blob_totals().unwrap();
    assert_eq!((totals.blobs, totals.bytes), (1, 40_000));
    // Put there by hand, it waits for the next listing.
    let by_hand = photo(16, 1_000);
    fs::write(
        store.blob_dir().join(BlobHash::of(&by_hand).to_string()),
        &by_hand,
    )
    .unwrap();
    assert_eq!(store.blob_totals().unwrap(), totals);
    // Written by the store, through a view or not, it counts at once.
    let second = photo(17, 50_000);
    let second_hash = stored(&store, &second);
    let seen = store.read_only_view().blob_totals().unwrap();
    assert_eq!((seen.blobs, seen.bytes), (2, 90_000));
    // A second write of a photo held is no second blob.
    assert_eq!(stored(&store, &second), second_hash);
    assert_eq!(store.blob_totals().unwrap(), seen);
    // Listed again, the file put by hand counts.
    let listed = store.blob_survey().unwrap();
    assert_eq!(listed.blobs.len(), 3);
}

#[test]
fn only_a_damaged_blob_is_set_aside_and_then_it_is_no_longer_held() {
    let (dir, store) = new_store();
    let bytes = photo(18, 60_000);
    let hash = stored(&store, &bytes);
    assert_eq!(store.blob_totals().unwrap().blobs, 1);
    // A sound file suspected (a read that failed for another reason) is
    // checked and left where it is.
    assert_eq!(store.set_aside_if_damaged(&hash).unwrap(), None);
    assert!(store.has_blob(&hash).unwrap());
    assert!(!dir.path().join("damaged-blobs").exists());
    let flipped = flip(&store, &hash, &bytes, 7, 0x20);
    // A read-only view changes nothing on disk.
    assert_eq!(
        store.read_only_view().set_aside_if_damaged(&hash).unwrap(),
        None
    );
    assert!(store.has_blob(&hash).unwrap());

    let aside = store.set_aside_if_damaged(&hash).unwrap().unwrap();
    assert_eq!(aside.parent().unwrap(), dir.path().join("damaged-blobs"));
    assert_eq!(fs::read(&aside).unwrap(), flipped);
    assert!(!store.has_blob(&hash).unwrap());
    assert!(store.blob_for_serving(&hash).unwrap().is_none());
    assert_eq!(store.blob_totals().unwrap().blobs, 0);
    assert_eq!(store.set_aside_if_damaged(&hash).unwrap(), None);
    // Written again, it is whole and served.
    assert_eq!(stored(&store, &bytes), hash);
    assert_eq!(store.blob(&hash).unwrap().unwrap(), bytes);
    assert!(store.blob_survey().unwrap().strays.is_empty());
}

#[test]
fn a_verified_blob_is_stored_without_hashing_it_again_if_its_tree_proves_it() {
    let (_dir, store) = new_store();
    let bytes = photo(7, 70_000);
    let hash = BlobHash::of(&bytes);
    let tree = make_tree(&bytes);
    assert_eq!(tree_root(bytes.len() as u64, &tree.data), Some(hash));
    let mut batch = store.batch().unwrap();
    batch.put_verified_blob(&hash, &bytes, &tree).unwrap();
    // A tree of other bytes, or another hash, is refused and writes nothing.
    let other = photo(8, 70_000);
    let other_tree = make_tree(&other);
    damaged_reason(batch.put_verified_blob(&hash, &other, &other_tree), &hash);
    let claimed = BlobHash::of(b"something else");
    damaged_reason(batch.put_verified_blob(&claimed, &bytes, &tree), &claimed);
    let small = photo(9, 1000);
    let small_hash = BlobHash::of(&small);
    batch
        .put_verified_blob(&small_hash, &small, &make_tree(&small))
        .unwrap();
    damaged_reason(
        batch.put_verified_blob(&small_hash, b"other", &make_tree(&small)),
        &small_hash,
    );
    batch.commit().unwrap();
    assert_eq!(store.blob_hashes().unwrap().len(), 2);
    assert_eq!(store.blob(&hash).unwrap().unwrap(), bytes);
    assert!(!store.has_blob(&claimed).unwrap());
    assert!(!store.has_blob(&BlobHash::of(&other)).unwrap());
}

#[test]
fn oversized_blob_is_refused_and_not_stored() {
    let (_dir, store) = new_store();
    let big = vec![0u8; BLOB_BYTES_MAX + 1];
    let mut batch = store.batch().unwrap();
    let err = batch.put_blob(&big).unwrap_err();
    assert!(matches!(
        err,
        StoreError::BlobTooLarge { bytes, max } if bytes == BLOB_BYTES_MAX + 1 && max == BLOB_BYTES_MAX
    ));
    batch.commit().unwrap();
    assert!(!store.has_blob(&BlobHash::of(&big)).unwrap());
}

#[test]
fn a_dropped_batch_leaves_no_photo_file() {
    // Photos are staged under temporary names until the batch commits;
    // dropped, the batch takes them with it.
    let (_dir, store) = new_store();
    let bytes = photo(10, 20_000);
    let mut batch = store.batch().unwrap();
    let hash = batch.put_blob(&bytes).unwrap();
    batch.put_meta("refers-to", hash.as_bytes()).unwrap();
    assert!(
        !store.has_blob(&hash).unwrap(),
        "not in place before commit"
    );
    drop(batch);
    assert!(store.get_meta("refers-to").unwrap().is_none());
    assert!(!store.has_blob(&hash).unwrap());
    assert_eq!(fs::read_dir(store.blob_dir()).unwrap().count(), 0);
}

#[test]
fn one_commit_puts_every_photo_of_the_batch_in_place() {
    let (_dir, store) = new_store();
    let photos: Vec<Vec<u8>> = (20..30)
        .map(|n| photo(n, 40_000 + usize::from(n)))
        .collect();
    let mut batch = store.batch().unwrap();
    let hashes: Vec<BlobHash> = photos.iter().map(|p| batch.put_blob(p).unwrap()).collect();
    batch.commit().unwrap();
    for (hash, bytes) in hashes.iter().zip(&photos) {
        assert_eq!(store.blob(hash).unwrap().as_ref(), Some(bytes));
        store.verify_blob(hash).unwrap();
    }
    let survey = store.blob_survey().unwrap();
    assert_eq!(survey.blobs.len(), 10);
    assert!(survey.strays.is_empty(), "{survey:?}");
}

#[test]
fn what_a_crash_left_is_cleaned_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let store = Store::create(&path).unwrap();
    let bytes = photo(11, 30_000);
    let hash = stored(&store, &bytes);
    let blobs = store.blob_dir().to_path_buf();
    let unsynced = BlobHash::of(b"written, crash before the commit");
    let leftovers = [
        blobs.join(format!("{hash}.123-4.tmp")),
        blobs.join(format!("{unsynced}.123-5.tmp")),
    ];
    for f in &leftovers {
        fs::write(f, b"half").unwrap();
    }
    let hand = blobs.join("notes.txt");
    fs::write(&hand, b"put here by hand").unwrap();
    drop(store);
    // Looking does not clean: a read-only open changes nothing on disk.
    let look = Store::open_read_only(&path).unwrap();
    assert_eq!(
        look.blob_survey().unwrap().strays.len(),
        3,
        "two leftovers and a note"
    );
    drop(look);

    let store = Store::open(&path).unwrap();
    for f in &leftovers {
        assert!(!f.exists(), "{} was left", f.display());
    }
    assert!(hand.exists(), "only what a crash leaves is removed");
    assert_eq!(store.blob_survey().unwrap().strays, vec!["notes.txt"]);
    assert_eq!(store.blob(&hash).unwrap().unwrap(), bytes);
}

#[test]
fn a_rehearsal_writes_no_blob_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    drop(Store::create(&path).unwrap());
    let rehearsal = Store::open_rehearsal(&path).unwrap();
    let mut batch = rehearsal.batch().unwrap();
    let hash = batch.put_blob(b"rehearsed photo").unwrap();
    batch.commit().unwrap();
    assert!(!rehearsal.has_blob(&hash).unwrap());
    assert!(!dir.path().join("blobs").exists());
}

#[test]
fn blobs_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let store = Store::create(&path).unwrap();
    let hash = stored(&store, b"blob");
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.blob(&hash).unwrap().unwrap(), b"blob");
}

#[test]
fn a_finished_partial_file_is_renamed_into_the_store_not_copied() {
    let (dir, store) = new_store();
    let bytes = photo(12, 90_000);
    let hash = BlobHash::of(&bytes);
    let tree = make_tree(&bytes);
    let partials = dir.path().join("partial-blobs");
    fs::create_dir_all(&partials).unwrap();
    let from = partials.join(format!("{hash}.data"));

    // A file of another size is refused and left where it was.
    fs::write(&from, &bytes[..80_000]).unwrap();
    let mut batch = store.batch().unwrap();
    assert!(
        batch
            .adopt_verified_blob(&hash, &bytes, &tree, &from)
            .is_err()
    );
    drop(batch);
    assert!(from.exists() && !store.has_blob(&hash).unwrap());

    fs::write(&from, &bytes).unwrap();
    #[cfg(unix)]
    let inode = {
        use std::os::unix::fs::MetadataExt as _;
        fs::metadata(&from).unwrap().ino()
    };
    let mut batch = store.batch().unwrap();
    batch
        .adopt_verified_blob(&hash, &bytes, &tree, &from)
        .unwrap();
    batch.commit().unwrap();
    assert!(!from.exists(), "the partial file became the blob's");
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(fs::metadata(data_file(&store, &hash)).unwrap().ino(), inode);
    }
    store.verify_blob(&hash).unwrap();

    // Held already: the new file is left alone, the blob kept.
    fs::write(&from, &bytes).unwrap();
    let mut batch = store.batch().unwrap();
    batch
        .adopt_verified_blob(&hash, &bytes, &tree, &from)
        .unwrap();
    batch.commit().unwrap();
    assert!(from.exists());
    // A tree that does not prove the hash is refused before any file moves.
    let other = make_tree(&photo(13, 90_000));
    let mut batch = store.batch().unwrap();
    damaged_reason(
        batch.adopt_verified_blob(&hash, &bytes, &other, &from),
        &hash,
    );
}
