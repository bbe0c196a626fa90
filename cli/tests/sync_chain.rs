//! Separate `yizhan node start` processes on 127.0.0.1, chained community —
//! street — district, each knowing only its neighbour.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn reports(dir: &Path) -> Vec<Value> {
    let mut list = json(dir, &["report", "list"]).as_array().unwrap().clone();
    for r in &mut list {
        // Overdue depends on the moment of asking, not on the replica.
        r.as_object_mut().unwrap().remove("overdue");
    }
    list
}

fn count(dir: &Path) -> usize {
    json(dir, &["report", "list"]).as_array().unwrap().len()
}

fn submit(dir: &Path, photo_dir: &Path, n: usize) -> Vec<u8> {
    let photo = photo_dir.join(format!("photo-{n}.jpg"));
    let bytes = format!("JPEG of hazard {n} ")
        .repeat(50 + n % 7)
        .into_bytes();
    std::fs::write(&photo, &bytes).unwrap();
    let lat = format!("{:.5}", 24.9 + n as f64 * 1e-3);
    ok(
        dir,
        &[
            "report",
            "submit",
            "--category",
            "manhole_cover",
            "--lat",
            &lat,
            "--lon",
            "102.74",
            "--text",
            &format!("井盖 {n}"),
            "--photo",
            photo.to_str().unwrap(),
        ],
    );
    bytes
}

fn blobs(dir: &Path) -> u64 {
    json(dir, &["status"])["blobs"].as_u64().unwrap()
}

fn check_photos_at(dir: &Path, reports: &[Value], tmp: &Path) {
    for r in reports {
        let hash = r["attachments"][0]["hash"].as_str().unwrap();
        let out = tmp.join("fetched.jpg");
        ok(dir, &["blob", "get", hash, "--out", out.to_str().unwrap()]);
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(
            blake3::hash(&bytes).to_hex().as_str(),
            hash,
            "photo of {} does not verify",
            r["id"]
        );
        assert_eq!(
            bytes.len() as u64,
            r["attachments"][0]["size"].as_u64().unwrap()
        );
    }
}

#[test]
fn chain_converges_and_resumes_with_only_new_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d) = chain(tmp.path());

    // Community and district listen; the street dials both, so each end knows
    // only its neighbour and the street may restart on a new port.
    let community = NodeProc::start(&c, &[]);
    let district = NodeProc::start(&d, &[]);
    let street = NodeProc::start(&s, &[community.addr(), district.addr()]);

    for n in 0..200 {
        submit(&c, tmp.path(), n);
    }
    wait_for("200 reports at the district", 180, || count(&d) == 200);
    wait_for("200 photos at the street", 120, || blobs(&s) == 200);
    let at_community = reports(&c);
    assert_eq!(at_community.len(), 200);
    assert_eq!(
        reports(&d),
        at_community,
        "district content differs from the community's"
    );
    assert_eq!(
        reports(&s),
        at_community,
        "street content differs from the community's"
    );
    check_photos_at(&s, &at_community, tmp.path());

    // Resume: the street goes away, the community keeps working.
    street.stop();
    let docs = json(&c, &["doc", "list"]);
    let reports_doc = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"].as_str().unwrap().contains("/reports/"))
        .unwrap();
    let doc = reports_doc["id"].as_str().unwrap().to_owned();
    let heads_before: Vec<String> = reports_doc["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect();
    for n in 200..230 {
        submit(&c, tmp.path(), n);
    }
    let street = NodeProc::start(&s, &[community.addr(), district.addr()]);
    wait_for("230 reports at the district", 120, || count(&d) == 230);
    wait_for("230 photos at the street", 60, || blobs(&s) == 230);
    let at_community = reports(&c);
    assert_eq!(reports(&d), at_community);
    assert_eq!(reports(&s), at_community);
    check_photos_at(&s, &at_community[..30], tmp.path());
    let st = street.status();
    let (received, sent) = (
        st["sync_bytes_received"].as_u64().unwrap(),
        st["sync_bytes_sent"].as_u64().unwrap(),
    );

    street.stop();
    district.stop();
    community.stop();

    // The bytes of the 30 new changes, and of the whole history, from the community's store.
    let store = node::store::Store::open_read_only(&c.join("store.redb")).unwrap();
    let mut full = store.load_document(&doc).unwrap().unwrap();
    let heads: Vec<automerge::ChangeHash> =
        heads_before.iter().map(|h| h.parse().unwrap()).collect();
    let new_bytes = full.save_after(&heads).len() as u64;
    let history_changes_bytes = full.save_after(&[]).len() as u64;
    let history_compressed_bytes = full.save().len() as u64;
    println!(
        "resume: street received {received} B and sent {sent} B of sync messages; \
         the 30 new changes are {new_bytes} B; all 230 reports' changes are {history_changes_bytes} B \
         ({history_compressed_bytes} B as a compressed document); received / new = {:.2}",
        received as f64 / new_bytes as f64
    );
    // Only the new changes moved, plus the inventory and protocol overhead.
    assert!(
        received as f64 <= 1.5 * new_bytes as f64 + 4096.0,
        "more than the new changes moved: {received} B for {new_bytes} B of changes"
    );
}

#[test]
fn nodes_sync_over_quic() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, _district) = chain(tmp.path());
    let community = NodeProc::start_on(&c, "/ip4/127.0.0.1/udp/0/quic-v1", &[]);
    assert!(
        community.addr().contains("/quic-v1/"),
        "{}",
        community.addr()
    );
    let street = NodeProc::start_on(&s, "/ip4/127.0.0.1/udp/0/quic-v1", &[community.addr()]);
    submit(&c, tmp.path(), 1);
    wait_for("the report at the street over QUIC", 60, || count(&s) == 1);
    wait_for("the photo at the street over QUIC", 60, || blobs(&s) == 1);
    street.stop();
    community.stop();
}

/// Photos larger than one 1 MiB chunk travel as several chunk requests, and
/// reach the district through the street when the district is asked for them.
#[test]
fn photos_of_several_chunks_reach_the_street_and_the_district_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d) = chain(tmp.path());
    // Sizes around the chunk boundary and a large photo; bytes that do not
    // repeat with the chunk size, so a misplaced chunk cannot verify.
    let sizes = [(1 << 20) + 1, 3_000_017, 5 << 20];
    for (n, size) in sizes.iter().enumerate() {
        let photo = tmp.path().join(format!("big-{n}.jpg"));
        let bytes: Vec<u8> = (0..*size as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ n as u8)
            .collect();
        std::fs::write(&photo, &bytes).unwrap();
        ok(
            &c,
            &[
                "report",
                "submit",
                "--category",
                "fire_lane_blocked",
                "--lat",
                &format!("{:.4}", 24.9 + n as f64 * 0.01),
                "--lon",
                "102.74",
                "--text",
                "消防通道被占",
                "--photo",
                photo.to_str().unwrap(),
            ],
        );
    }
    let community = NodeProc::start(&c, &[]);
    let district = NodeProc::start(&d, &[]);
    let street = NodeProc::start(&s, &[community.addr(), district.addr()]);
    wait_for("3 photos at the street", 60, || blobs(&s) == 3);
    wait_for("3 reports at the district", 60, || count(&d) == 3);
    let at_community = reports(&c);
    check_photos_at(&s, &at_community, tmp.path());
    // A district fetches photos on demand: `blob get` waits for the fetch.
    assert_eq!(blobs(&d), 0, "the district fetched photos nobody asked for");
    check_photos_at(&d, &at_community, tmp.path());
    assert_eq!(blobs(&d), 3);
    street.stop();
    district.stop();
    community.stop();
}
