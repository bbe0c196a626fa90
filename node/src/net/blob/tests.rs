use super::*;

/// Bytes that do not repeat with the group size, so a misplaced group
/// cannot verify.
fn photo(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// Runs `a` against an honest server until it finishes; returns the bytes
/// and the number of responses.
fn fetch_all(a: &mut Assembly, blob: &[u8]) -> (Vec<u8>, usize) {
    let tree = blob_tree(blob);
    let mut req = a.first();
    let mut rounds = 0;
    loop {
        let resp = serve(&req, Some((blob, &tree))).unwrap();
        let resp = ChunkResponse::decode(&resp.encode()).unwrap();
        rounds += 1;
        match a.accept(resp) {
            Progress::Next(r) => req = r,
            Progress::Done(bytes) => return (bytes, rounds),
            other => panic!("an honest server's range was not taken: {other:?}"),
        }
    }
}

#[test]
fn requests_round_trip_and_bad_ones_are_refused() {
    let req = ChunkRequest {
        hash: BlobHash::of(b"x"),
        offset: 3 * BLOB_GROUP_BYTES,
        len: 100,
        prove_size: true,
    };
    assert_eq!(ChunkRequest::decode(&req.encode()), Ok(req));
    assert!(ChunkRequest::decode(b"short").is_err());
    let mut long = req.encode();
    long.push(0);
    assert!(ChunkRequest::decode(&long).is_err());
    let mut huge = req;
    huge.len = BLOB_CHUNK_BYTES_MAX + 1;
    assert!(ChunkRequest::decode(&huge.encode()).is_err());
    let mut unaligned = req;
    unaligned.offset += 1;
    assert!(ChunkRequest::decode(&unaligned.encode()).is_err());
    let mut flags = req.encode();
    *flags.last_mut().unwrap() = 0x80;
    assert!(ChunkRequest::decode(&flags).is_err());
    assert!(ChunkResponse::decode(&[9]).is_err());
    assert!(ChunkResponse::decode(&[]).is_err());
}

#[test]
fn blobs_of_every_shape_assemble_and_verify() {
    for len in [
        1,
        1023,
        1025,
        BLOB_GROUP_BYTES as usize,
        BLOB_GROUP_BYTES as usize + 1,
        BLOB_FETCH_BYTES as usize,
        3 * BLOB_FETCH_BYTES as usize + 17,
    ] {
        let blob = photo(len);
        let mut a = Assembly::new(BlobHash::of(&blob), 64 << 20);
        let (bytes, rounds) = fetch_all(&mut a, &blob);
        assert_eq!(bytes, blob, "{len} bytes");
        assert_eq!(
            rounds,
            len.div_ceil(BLOB_FETCH_BYTES as usize),
            "{len} bytes"
        );
    }
}

#[test]
fn the_response_carries_the_range_and_little_more() {
    let blob = photo(5_000_000);
    let tree = blob_tree(&blob);
    let req = ChunkRequest {
        hash: BlobHash::of(&blob),
        offset: 0,
        len: BLOB_CHUNK_BYTES_MAX,
        prove_size: true,
    };
    let Ok(ChunkResponse::Chunk { bytes, .. }) = serve(&req, Some((&blob, &tree))) else {
        panic!("the blob is held");
    };
    let proof = bytes.len() - BLOB_CHUNK_BYTES_MAX as usize - 1024;
    assert!(proof < BLOB_PROOF_BYTES_MAX / 2, "{proof} bytes of proof");
}

#[test]
fn a_wrong_byte_in_a_range_is_refused_and_nothing_of_it_kept() {
    let blob = photo(3 * BLOB_FETCH_BYTES as usize);
    let hash = BlobHash::of(&blob);
    let tree = blob_tree(&blob);
    let mut a = Assembly::new(hash, 64 << 20);
    let req = a.first();
    let Progress::Next(req) = a.accept(serve(&req, Some((&blob, &tree))).unwrap()) else {
        panic!("the first range verifies");
    };
    let kept = a.verified();
    assert_eq!(kept, u64::from(BLOB_FETCH_BYTES));
    let Ok(ChunkResponse::Chunk { total, mut bytes }) = serve(&req, Some((&blob, &tree))) else {
        panic!("the blob is held");
    };
    // Late in the range, so earlier groups of it verify before the bad one.
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    let got = a.accept(ChunkResponse::Chunk { total, bytes });
    assert!(
        matches!(&got, Progress::Failed(w) if w.contains("verify")),
        "{got:?}"
    );
    assert_eq!(a.verified(), kept, "part of a refused range was kept");
    // The same range again, honest this time, is taken.
    let req = a.first();
    assert_eq!(req.offset, kept);
    assert!(matches!(
        a.accept(serve(&req, Some((&blob, &tree))).unwrap()),
        Progress::Next(_)
    ));
}

#[test]
fn a_lie_about_the_size_is_refused() {
    let blob = photo(2 * BLOB_FETCH_BYTES as usize + 5);
    let hash = BlobHash::of(&blob);
    let tree = blob_tree(&blob);
    let mut a = Assembly::new(hash, 64 << 20);
    let req = a.first();
    let Ok(ChunkResponse::Chunk { total, bytes }) = serve(&req, Some((&blob, &tree))) else {
        panic!("the blob is held");
    };
    for claimed in [total + 4096, total - 1, 3 * total] {
        let mut fresh = Assembly::new(hash, 64 << 20);
        fresh.first();
        let got = fresh.accept(ChunkResponse::Chunk {
            total: claimed,
            bytes: bytes.clone(),
        });
        assert!(matches!(got, Progress::Failed(_)), "{claimed}: {got:?}");
        assert_eq!(fresh.verified(), 0);
        assert!(fresh.kept().is_none());
    }
    // Once proven, a different size from a later peer is refused.
    assert!(matches!(
        a.accept(ChunkResponse::Chunk { total, bytes }),
        Progress::Next(_)
    ));
    let req = a.first();
    let Ok(ChunkResponse::Chunk { bytes, .. }) = serve(&req, Some((&blob, &tree))) else {
        panic!("the blob is held");
    };
    let got = a.accept(ChunkResponse::Chunk {
        total: total + 1,
        bytes,
    });
    assert!(
        matches!(&got, Progress::Failed(w) if w.contains("proven")),
        "{got:?}"
    );
}

#[test]
fn a_resumed_fetch_asks_only_for_the_rest_and_rechecks_what_it_kept() {
    let blob = photo(10 * BLOB_FETCH_BYTES as usize + 999);
    let hash = BlobHash::of(&blob);
    let tree = blob_tree(&blob);
    let mut a = Assembly::new(hash, 64 << 20);
    let mut req = a.first();
    let mut early_tree = Vec::new();
    for n in 0..9 {
        let Progress::Next(r) = a.accept(serve(&req, Some((&blob, &tree))).unwrap()) else {
            panic!("the range verifies");
        };
        req = r;
        if n == 3 {
            early_tree = a.kept().unwrap().1.to_vec();
        }
    }
    let (total, kept_tree, kept) = a.kept().unwrap();
    let partial = Partial {
        total,
        tree: kept_tree.to_vec(),
        bytes: kept.to_vec(),
    };
    let mut resumed = Assembly::resume(hash, 64 << 20, partial.clone());
    assert_eq!(resumed.resumed(), 9 * u64::from(BLOB_FETCH_BYTES));
    let (bytes, rounds) = fetch_all(&mut resumed, &blob);
    assert_eq!(bytes, blob);
    assert_eq!(rounds, 2);
    assert!(resumed.received() < blob.len() as u64 / 5);

    // A kept byte damaged on disk: only the groups before it are used.
    let mut damaged = partial.clone();
    let at = 5 * BLOB_GROUP_BYTES as usize + 7;
    damaged.bytes[at] ^= 1;
    let r = Assembly::resume(hash, 64 << 20, damaged);
    assert_eq!(r.resumed(), 5 * BLOB_GROUP_BYTES);
    // A tree torn while written over an older one in place: the new pairs
    // up to the tear, the old ones after it. Only what they still prove is
    // used, and the fetch still ends with the blob.
    let mut torn = partial.clone();
    let tear = torn.tree.len() / 2;
    torn.tree[tear..].copy_from_slice(&early_tree[tear..]);
    let mut r = Assembly::resume(hash, 64 << 20, torn);
    let kept = r.resumed();
    assert!(
        kept < 9 * u64::from(BLOB_FETCH_BYTES) && kept >= 4 * u64::from(BLOB_FETCH_BYTES),
        "kept {kept}: not what the old pairs still prove"
    );
    assert_eq!(fetch_all(&mut r, &blob).0, blob);
    assert_eq!(r.take_tree().unwrap().data, tree.data);
    // A partial with a tree of the wrong shape is ignored.
    let mut wrong = partial.clone();
    wrong.total *= 2;
    assert_eq!(Assembly::resume(hash, 64 << 20, wrong).resumed(), 0);
    // A kept size that differs from the one a peer proves: the peer's
    // range is refused and nothing kept is trusted any more.
    let mut off = partial;
    off.total += 1;
    let mut r = Assembly::resume(hash, 64 << 20, off);
    let req = r.first();
    let got = r.accept(serve(&req, Some((&blob, &tree))).unwrap());
    assert!(
        matches!(&got, Progress::Failed(w) if w.contains("proven")),
        "{got:?}"
    );
    assert!(r.kept().is_none());
    assert_eq!(r.verified(), 0);
}

#[test]
fn a_kept_whole_blob_is_complete_without_asking() {
    let blob = photo(2 * BLOB_FETCH_BYTES as usize + 3);
    let hash = BlobHash::of(&blob);
    let whole = Partial {
        total: blob.len() as u64,
        tree: blob_tree(&blob).data,
        bytes: blob.clone(),
    };
    let mut r = Assembly::resume(hash, 64 << 20, whole.clone());
    assert_eq!(r.resumed(), blob.len() as u64);
    assert_eq!(r.complete(), Some(blob));
    // A kept tree with a pair zeroed: the groups under it are fetched again.
    let mut holed = whole;
    let at = holed.tree.len() - 64;
    holed.tree[at..].fill(0);
    let mut r = Assembly::resume(hash, 64 << 20, holed);
    assert!(r.resumed() < 2 * u64::from(BLOB_FETCH_BYTES) + 3);
    assert!(r.complete().is_none());
}

#[test]
fn oversized_absent_and_damaged_blobs_are_not_served_or_taken() {
    let blob = b"the real photo".to_vec();
    let hash = BlobHash::of(&blob);
    let mut absent = Assembly::new(hash, 1000);
    let req = absent.first();
    assert_eq!(absent.accept(serve(&req, None).unwrap()), Progress::NotHeld);
    let mut small = Assembly::new(hash, 4);
    let req = small.first();
    let tree = blob_tree(&blob);
    assert!(matches!(
        small.accept(serve(&req, Some((&blob, &tree))).unwrap()),
        Progress::Failed(w) if w.contains("exceeds")
    ));
    // A server whose stored bytes were damaged reports it instead of sending.
    let mut damaged = blob.clone();
    damaged[0] ^= 1;
    assert!(serve(&req, Some((&damaged, &tree))).is_err());
    let other = blob_tree(&damaged);
    assert!(serve(&req, Some((&damaged, &other))).is_err());
}

#[test]
fn a_proven_size_makes_room_for_the_whole_blob_once() {
    // Moving the bytes to a larger buffer every few ranges was most of
    // the fetching side's time: once the size is proven the buffer holds
    // the whole blob, and later ranges are copied into it in place.
    let blob = photo(6 * BLOB_FETCH_BYTES as usize + 5);
    let hash = BlobHash::of(&blob);
    let tree = blob_tree(&blob);
    let mut a = Assembly::new(hash, 64 << 20);
    let mut req = a.first();
    let mut buffer = None;
    loop {
        match a.accept(serve(&req, Some((&blob, &tree))).unwrap()) {
            Progress::Next(next) => {
                assert!(a.bytes.capacity() >= blob.len());
                let at = a.bytes.as_ptr();
                assert_eq!(*buffer.get_or_insert(at), at, "the bytes moved");
                req = next;
            }
            Progress::Done(bytes) => {
                assert_eq!(bytes, blob);
                assert_eq!(Some(bytes.as_ptr()), buffer);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
}
