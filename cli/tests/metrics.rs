//! The metrics endpoint, scraped while a street works: a community syncs a
//! report with a photo to it and an admitted member sends it garbage. The peers by place
//! and role, the documents and photos held, the open cases and the refusals it exports
//! match what the test did; `/healthz` answers; the configuration file and
//! the `--metrics` flag both turn the endpoint on. `peers` and `sync status`
//! name the community by its place and role.

mod common;

use common::hostile::Hostile;
use common::http::{get, sample};
use common::*;
use libp2p::identity::Keypair;
use node::engine::MemDocs;

/// The address a node logged it serves metrics on.
fn metrics_addr(node: &NodeProc) -> String {
    node.logged_address("serving metrics at /metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_street_saw() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, _d) = chain(tmp.path());
    // The street turns metrics on in its configuration file, the community
    // with the flag.
    let config = s.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[metrics]\nlisten = \"127.0.0.1:0\"\n");
    std::fs::write(&config, text).unwrap();
    let community = NodeProc::start_with(
        &c,
        "/ip4/127.0.0.1/tcp/0",
        &[],
        &["--metrics", "127.0.0.1:0"],
    );
    let street = NodeProc::start(&s, &[community.addr()]);
    let at = metrics_addr(&street);
    assert_eq!(get(&at, "/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(get(&metrics_addr(&community), "/healthz").0, 200);
    assert_eq!(get(&at, "/nothing").0, 404);

    // A report with a photo at the community reaches the street.
    let photo = tmp.path().join("lane.jpg");
    let photo_bytes: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&photo, &photo_bytes).unwrap();
    let report = submit_photo_report(&c, &photo);
    wait_for("the report at the street", 30, || {
        yizhan(&s, &["report", "show", &report]).status.success()
    });
    // Operators see peers by place and role, and how long ago each synced.
    let peers = json(&s, &["peers"]);
    let row = peers
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["place"] == "guandu/yiliu/xinyazhou")
        .unwrap_or_else(|| panic!("no community in {peers}"));
    assert_eq!(row["role"], "community");
    assert_eq!(row["connected"], true);
    wait_for("a synced row named by place", 30, || {
        let table = ok(&s, &["sync", "status"]);
        table.contains("guandu/yiliu/xinyazhou (community)") && table.contains(" ago)")
    });
    let shown = json(&s, &["report", "show", &report]);
    let category = shown["category"].as_str().unwrap().to_owned();

    // An admitted member sends three messages of a protocol version that
    // does not exist.
    let key = Keypair::generate_ed25519();
    let evil_id = key.public().to_peer_id().to_string();
    let token = admit_token(&s, &evil_id, "community", "guandu/yiliu/evil", false);
    let mut h = Hostile::new(key, &token, MemDocs::new());
    h.connect(&street.addr()).await;
    let admitted = format!("peer admitted peer={evil_id}");
    assert!(h.pump(20, |_| street.logged().contains(&admitted)).await);
    for i in 0..3u8 {
        h.send_raw(vec![0xff, i, 0, 1]);
    }
    let refused = "yizhan_refused_total{reason=\"unknown_version\"}";
    let mut scraped = String::new();
    let done = h
        .pump(30, |_| {
            scraped = get(&at, "/metrics").1;
            let held = json(&s, &["doc", "list"]).as_array().unwrap().len() as f64;
            sample(&scraped, refused) == Some(3.0)
                && sample(&scraped, "yizhan_documents") == Some(held)
                && sample(&scraped, "yizhan_blobs") == Some(1.0)
        })
        .await;
    assert!(done, "{scraped}");

    // Peers by place and role, while both are connected.
    assert_eq!(
        sample(
            &scraped,
            "yizhan_peers_connected{place=\"guandu/yiliu/xinyazhou\",role=\"community\"}"
        ),
        Some(1.0),
        "{scraped}"
    );
    assert_eq!(
        sample(
            &scraped,
            "yizhan_peers_connected{place=\"guandu/yiliu/evil\",role=\"community\"}"
        ),
        Some(1.0),
        "{scraped}"
    );
    let synced = sample(
        &scraped,
        "yizhan_peer_last_sync_timestamp_seconds{place=\"guandu/yiliu/xinyazhou\",role=\"community\"}",
    )
    .unwrap_or_default();
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(now - synced < 120.0, "last sync at {synced}, now {now}");
    assert!(sample(&scraped, "yizhan_changes_received_total").unwrap_or_default() >= 1.0);
    assert_eq!(
        sample(
            &scraped,
            &format!("yizhan_cases_open{{category=\"{category}\"}}")
        ),
        Some(1.0),
        "{scraped}"
    );
    // Nothing is past its deadline: no overdue series (an empty family is
    // not exported) or a zero.
    assert_eq!(
        sample(
            &scraped,
            &format!("yizhan_cases_overdue{{category=\"{category}\"}}")
        )
        .unwrap_or_default(),
        0.0
    );
    assert!(sample(&scraped, "yizhan_store_bytes").unwrap_or_default() > 0.0);
    // The photo's file, in `blobs/` beside the store, and nothing more.
    let blob_bytes = sample(&scraped, "yizhan_blob_bytes").unwrap_or_default();
    assert_eq!(blob_bytes, photo_bytes.len() as f64, "{scraped}");
    for name in ["yizhan_blobs_missing", "libp2p_swarm_connections_incoming"] {
        assert!(scraped.contains(name), "no {name} in:\n{scraped}");
    }
    street.stop();
    community.stop();
}
