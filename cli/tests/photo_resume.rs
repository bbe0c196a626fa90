//! A 5 MB photo whose transfer is cut at 90 %, as a 4G link drops a
//! connection: the street fetching it keeps what it verified, and once it
//! reconnects asks only for the rest. The cut is made by a TCP relay
//! between the nodes that closes the first connection after a set number
//! of bytes, so it falls at the same place on every run.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;

const PHOTO_BYTES: usize = 5_000_000;

/// Relays loopback TCP to `target`. The first connection is closed once
/// `cut_after` bytes went from the target to the client; later ones pass
/// whole. (It cannot count what crosses after the cut: the nodes may
/// reconnect directly, around it.)
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn start(target: u16, cut_after: u64) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (cut.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut first = true;
            // Accept blocks; dropping the relay sets `stop` and connects
            // once to wake it.
            for client in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let client = client.expect("relay accept");
                let upstream = TcpStream::connect(("127.0.0.1", target)).unwrap();
                let limit = if first { Some(cut_after) } else { None };
                first = false;
                pump(
                    client.try_clone().unwrap(),
                    upstream.try_clone().unwrap(),
                    None,
                    &c,
                );
                pump(upstream, client, limit, &c);
            }
        });
        Relay { port, cut, stop }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `from` to `to` on a thread of its own. With `limit`, closes both
/// after that many bytes and raises the `cut` flag.
fn pump(mut from: TcpStream, mut to: TcpStream, limit: Option<u64>, cut: &Arc<AtomicBool>) {
    let cut = cut.clone();
    std::thread::spawn(move || {
        let mut sent = 0u64;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let room = limit.map_or(buf.len() as u64, |l| (l - sent).min(buf.len() as u64));
            let n = match from.read(&mut buf[..room as usize]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
            sent += n as u64;
            if limit.is_some_and(|l| sent >= l) {
                cut.store(true, Ordering::Relaxed);
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// The value of `field=` in the node's last "fetched blob" log line.
fn fetched_field(node: &NodeProc, field: &str) -> Option<u64> {
    let log = node.logged();
    let line = log.lines().rev().find(|l| l.contains("fetched blob"))?;
    let value = line.split(&format!("{field}=")).nth(1)?;
    value.split_whitespace().next()?.parse().ok()
}

/// A federation whose community holds a report with a 5 MB photo, the
/// community running, and a relay to it that cuts at 90 %. Returns the
/// street's directory, the photo, its hash, the community's address
/// through the relay, the community, and the relay.
fn photo_behind_a_relay(
    root: &std::path::Path,
) -> (std::path::PathBuf, Vec<u8>, String, String, NodeProc, Relay) {
    let (c, s, _d) = chain(root);
    // Bytes that do not repeat with the group size, so a misplaced range
    // cannot verify.
    let bytes: Vec<u8> = (0..PHOTO_BYTES as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let photo = root.join("pothole.jpg");
    std::fs::write(&photo, &bytes).unwrap();
    submit_photo_report(&c, &photo);
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let community = NodeProc::start(&c, &[]);
    let relay = Relay::start(community.port(), PHOTO_BYTES as u64 * 9 / 10);
    let via_relay = community.addr().replace(
        &format!("/tcp/{}/", community.port()),
        &format!("/tcp/{}/", relay.port),
    );
    (s, bytes, hash, via_relay, community, relay)
}

/// Checks the photo `hash` at the node in `dir` is `bytes`, and that no
/// partial file is left.
fn whole_and_nothing_partial(dir: &std::path::Path, hash: &str, bytes: &[u8]) {
    let out = dir.with_extension("out.jpg");
    ok(dir, &["blob", "get", hash, "--out", out.to_str().unwrap()]);
    assert!(std::fs::read(&out).unwrap() == bytes, "the photo differs");
    let partials = dir.join("partial-blobs");
    let left = std::fs::read_dir(&partials).map_or(0, |d| d.count());
    assert_eq!(left, 0, "partial files left in {}", partials.display());
}

#[test]
fn a_photo_cut_at_90_percent_resumes_and_moves_little_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, bytes, hash, via_relay, community, relay) = photo_behind_a_relay(tmp.path());
    let street = NodeProc::start_with(
        &s,
        "/ip4/127.0.0.1/tcp/0",
        &[via_relay],
        &["--metrics", "127.0.0.1:0"],
    );
    wait_for("the relay to cut the first connection", 60, || {
        relay.cut.load(Ordering::Relaxed)
    });
    wait_for("the photo at the street", 60, || {
        json(&s, &["status"])["blobs"] == 1
    });

    // The street's own account of the fetch that finished it.
    let resumed = fetched_field(&street, "resumed").unwrap();
    let received = fetched_field(&street, "received").unwrap();
    let size = PHOTO_BYTES as u64;
    assert!(
        resumed >= size * 85 / 100,
        "only {resumed} of {size} bytes were kept across the cut:\n{}",
        street.logged()
    );
    assert!(
        received <= size * 15 / 100,
        "the resumed fetch received {received} bytes, over 15 % of {size}"
    );
    // Every range response the street received, before and after the cut.
    let at = street.logged_address("serving metrics at /metrics");
    let (_, text) = http::get(&at, "/metrics");
    let total = http::sample(&text, "yizhan_blob_received_bytes_total").unwrap() as u64;
    let kept = http::sample(&text, "yizhan_blob_resumed_bytes_total").unwrap() as u64;
    assert_eq!(kept, resumed);
    assert!(
        total <= size * 115 / 100,
        "{total} bytes of ranges received for a {size}-byte photo"
    );
    eprintln!(
        "photo {size} B: kept {resumed} B across the cut; the resumed fetch received {received} B \
         ({:.1} %); ranges received in all {total} B ({:.1} % more than the photo)",
        received as f64 * 100.0 / size as f64,
        (total as f64 / size as f64 - 1.0) * 100.0,
    );

    whole_and_nothing_partial(&s, &hash, &bytes);
    street.stop();
    community.stop();
}

/// The fetching node killed right after the cut, before it could try
/// again, and started anew: it finds what it kept on disk and fetches
/// only the rest.
#[test]
fn a_fetch_cut_and_killed_resumes_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, bytes, hash, via_relay, community, relay) = photo_behind_a_relay(tmp.path());
    let street = NodeProc::start(&s, &[via_relay]);
    wait_for("the relay to cut the first connection", 60, || {
        relay.cut.load(Ordering::Relaxed)
    });
    // A fetch that failed is asked again after 2 s: killed well before.
    street.kill();
    assert_eq!(
        json(&s, &["status"])["blobs"],
        0,
        "the photo arrived before the kill"
    );
    let kept = std::fs::metadata(s.join("partial-blobs").join(format!("{hash}.data")))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(
        kept >= PHOTO_BYTES as u64 * 85 / 100,
        "{kept} bytes kept on disk"
    );
    // Kept, but not a photo: nothing serves or lists it.
    let out = yizhan(&s, &["blob", "get", &hash]);
    assert!(!out.status.success(), "a partial photo was served");
    let quick = json(&s, &["check"]);
    assert_eq!(quick["blobs"], 0, "{quick}");
    assert_eq!(quick["problems"], serde_json::json!([]), "{quick}");

    let street = NodeProc::start(&s, &[community.addr()]);
    wait_for("the photo at the street after the restart", 60, || {
        json(&s, &["status"])["blobs"] == 1
    });
    let resumed = fetched_field(&street, "resumed").unwrap();
    let received = fetched_field(&street, "received").unwrap();
    assert_eq!(resumed, kept, "the restarted node did not use what it kept");
    assert!(
        received <= PHOTO_BYTES as u64 * 15 / 100,
        "the fetch after the restart received {received} bytes"
    );
    whole_and_nothing_partial(&s, &hash, &bytes);
    street.stop();
    community.stop();
}
