//! A member that asks for a range of every photo it may read, against a
//! community node that has just started and so keeps no photo's hash tree
//! in memory: each first range makes the node hash the whole photo again,
//! and past the peer's budget for that (256 MiB a minute) the node refuses
//! ranges of photos whose trees it does not keep, says so once in its log
//! and counts it, while ranges of photos whose trees it keeps are still
//! served.

mod common;

use common::hostile::Hostile;
use common::*;
use libp2p::identity::Keypair;
use node::engine::MemDocs;
use node::net::blob::ChunkResponse;

/// The largest photo a report may carry, 16 MiB: sixteen fit the budget,
/// the seventeenth does not.
const PHOTO_BYTES: usize = 16 * 1024 * 1024;
const PHOTOS: usize = 17;

fn kind(answer: &ChunkResponse) -> &'static str {
    match answer {
        ChunkResponse::Chunk { .. } => "chunk",
        ChunkResponse::Refused => "refused",
        _ => "other",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_make_a_node_hash_photos_again_without_end() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _s, d) = chain(tmp.path());
    // A street admitted by the district at the community's street place:
    // it may read the community's reports, so it may ask for their photos.
    let key = Keypair::generate_ed25519();
    let evil_id = key.public().to_peer_id().to_string();
    let token = admit_token(&d, &evil_id, "street", "guandu/yiliu", false);

    // Photos stored before the node starts, so it keeps none of their trees.
    let photo = tmp.path().join("photo.jpg");
    let mut hashes = Vec::new();
    for i in 0..PHOTOS {
        let mut bytes = vec![0u8; PHOTO_BYTES];
        bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
        std::fs::write(&photo, &bytes).unwrap();
        let report = submit_photo_report(&c, &photo);
        let shown = json(&c, &["report", "show", &report]);
        hashes.push(shown["attachments"][0]["hash"].as_str().unwrap().to_owned());
    }
    let community = NodeProc::start_with(
        &c,
        "/ip4/127.0.0.1/tcp/0",
        &[],
        &["--metrics", "127.0.0.1:0"],
    );
    let mut h = Hostile::new(key, &token, MemDocs::new());
    h.connect(&community.addr()).await;
    let admitted = format!("peer admitted peer={evil_id}");
    assert!(
        h.pump(20, |_| community.logged().contains(&admitted)).await,
        "{}",
        community.logged()
    );

    // One request at a time, so each is charged before the next is read.
    for (i, hash) in hashes.iter().enumerate() {
        h.request_blob(hash);
        assert!(
            h.pump(60, |h| h.blob_answers.len() > i).await,
            "no answer to the request for photo {i}:\n{}",
            community.logged()
        );
    }
    // Named, not printed: a chunk's bytes would fill the failure message.
    let kinds: Vec<&str> = h.blob_answers.iter().map(kind).collect();
    let mut expected = vec!["chunk"; PHOTOS - 1];
    expected.push("refused");
    assert_eq!(kinds, expected);
    let said = "a peer spent its budget for making this node hash photos again";
    assert_eq!(
        community.logged().matches(said).count(),
        1,
        "{}",
        community.logged()
    );

    // A photo whose tree the node made for this peer is served still, and
    // the refused one is refused again, not logged again.
    h.request_blob(&hashes[0]);
    h.request_blob(&hashes[PHOTOS - 1]);
    assert!(h.pump(60, |h| h.blob_answers.len() == PHOTOS + 2).await);
    let mut again: Vec<&str> = h.blob_answers[PHOTOS..].iter().map(kind).collect();
    again.sort_unstable();
    assert_eq!(again, ["chunk", "refused"]);
    assert_eq!(community.logged().matches(said).count(), 1);
    let at = community.logged_address("serving metrics at /metrics");
    let (_, text) = http::get(&at, "/metrics");
    assert_eq!(
        http::sample(&text, "yizhan_blob_ranges_refused_rehash_total"),
        Some(2.0),
        "{text}"
    );
}
