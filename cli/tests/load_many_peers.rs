//! One street under many peers at once, over real TCP on 127.0.0.1: 100
//! admitted communities syncing (each brings a report of its own and takes
//! the charter), 30 strangers without a credential sending frames of the
//! largest size the protocol allows, one admitted member flooding garbage as
//! fast as it can, and one honest community running as a real `yizhan node`.
//! The flooder is banned, the strangers are disconnected, an honest report
//! still reaches the street within 5 s while the load runs, every admitted
//! community's report arrives, and the street's resident memory stays
//! under a stated bound.

mod common;

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::hostile::{Hostile, actor_of};
use common::*;
use crdt_model::report::{self, NewReport};
use crdt_model::{Category, DocKind, DocumentId, LatLon, Location, PlaceId, ReportId};
use futures::StreamExt as _;
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use node::engine::{Docs as _, MemDocs};
use node::net::codec::Frame;
use node::net::{SYNC_MESSAGE_BYTES_MAX, build_swarm};

/// Admitted communities syncing at once.
const ADMITTED: usize = 100;
/// Peers without a credential.
const STRANGERS: usize = 30;
/// Largest frames each stranger sends.
const FRAMES_PER_STRANGER: usize = 2;
/// Garbage messages the flooder sends at most.
const FLOOD_MESSAGES_MAX: usize = 100_000;
/// How long any peer task runs at most; each stops by itself then.
const TASK_S_MAX: u64 = 120;
/// Attempts to connect per peer: a node refuses dials beyond its limit of
/// pending connections, and the peer tries again.
const CONNECT_ATTEMPTS_MAX: usize = 20;
/// How long an honest community's report may take to reach the street.
const HONEST_REPORT_S_MAX: f64 = 5.0;
/// Resident memory the street may reach under this load. Measured on the
/// 2-core machine: 38–40 MiB at rest, under 52 MiB with the 100 communities
/// connected, and a peak of about 60 MiB under the full load, now that the
/// strangers' streams are denied before a byte of their frames is read.
/// (Before the gate, the strangers' 12 MiB frames in flight took the peak to
/// 405–653 MiB.) Set at about 4 times the measured peak: the machine is
/// shared with other builds, and the bound is there to catch frames being
/// buffered again, which would cost hundreds of MiB.
const STREET_RSS_KIB_MAX: u64 = 256 * 1024;

/// The documents of admitted community `i`: one report of its own.
fn own_report(key: &Keypair, i: usize) -> MemDocs {
    let mut docs = MemDocs::with_actor(actor_of(key));
    let now = Utc::now();
    let place = PlaceId::parse(&format!("guandu/yiliu/load{i:03}")).unwrap();
    let mut doc = automerge::AutoCommit::new().with_actor(actor_of(key));
    report::submit(
        &mut doc,
        &NewReport {
            id: ReportId::new(now, i as u32),
            category: Category::Sanitation,
            location: Location {
                point: LatLon::new(24.9, 102.7).unwrap(),
                address: None,
                grid: None,
            },
            text: format!("report of community load{i:03}"),
            attachments: vec![],
            reporter: None,
            submitted_at: now,
            submitted_by: format!("load{i:03}"),
            deadline: None,
        },
    )
    .unwrap();
    doc.commit();
    docs.insert(DocumentId::reports(place, now), doc);
    docs
}

/// Connects `h` to `addr`, trying again while the node refuses.
async fn connect(h: &mut Hostile, addr: &str) -> bool {
    for _ in 0..CONNECT_ATTEMPTS_MAX {
        if h.try_connect(addr, 5).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// What an admitted community saw.
struct Community {
    connected: bool,
    got_charter: bool,
    /// Its connection closed before the test ended it.
    dropped: bool,
}

async fn community(
    mut h: Hostile,
    addr: String,
    up: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Community {
    let connected = connect(&mut h, &addr).await;
    if connected {
        up.fetch_add(1, Ordering::Relaxed);
        h.pump(TASK_S_MAX, |_| stop.load(Ordering::Relaxed)).await;
    }
    Community {
        connected,
        got_charter: h.docs.ids().iter().any(|d| d.kind() == DocKind::Charter),
        dropped: h.closed_at.is_some(),
    }
}

/// What the flooder saw: messages sent, and how long after its flood began
/// its connection was closed.
async fn flooder(mut h: Hostile, addr: String, go: Arc<AtomicBool>) -> (usize, Option<Duration>) {
    assert!(
        connect(&mut h, &addr).await,
        "the flooder could not connect"
    );
    h.pump(TASK_S_MAX, |_| go.load(Ordering::Relaxed)).await;
    let started = Instant::now();
    let mut sent = 0;
    while h.closed_at.is_none()
        && sent < FLOOD_MESSAGES_MAX
        && started.elapsed() < Duration::from_secs(TASK_S_MAX)
    {
        for i in 0..100u32 {
            h.send_raw(i.to_be_bytes().repeat(50));
        }
        sent += 100;
        // Just long enough for the swarm to write them out.
        let until = Instant::now() + Duration::from_millis(10);
        h.pump(1, |h| Instant::now() >= until || h.closed_at.is_some())
            .await;
    }
    (sent, h.closed_at.map(|t| t.duration_since(started)))
}

/// A stranger: waits for `go`, connects, sends its large frames and a
/// garbage blob request, and waits to be disconnected. Returns how long
/// after connecting it was, if it was.
async fn stranger(key: Keypair, addr: Multiaddr, go: Arc<AtomicBool>) -> Option<Duration> {
    while !go.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut swarm = build_swarm(key, false).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(TASK_S_MAX);
    let mut attempts = 0;
    let mut connected_at: Option<Instant> = None;
    swarm.dial(addr.clone()).unwrap();
    loop {
        let ev = tokio::select! {
            ev = swarm.select_next_some() => ev,
            _ = tokio::time::sleep_until(deadline) => return None,
        };
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                connected_at = Some(Instant::now());
                let sync = &mut swarm.behaviour_mut().sync;
                for _ in 0..FRAMES_PER_STRANGER {
                    sync.send_request(&peer_id, Frame::Bytes(vec![7u8; SYNC_MESSAGE_BYTES_MAX]));
                }
                swarm
                    .behaviour_mut()
                    .blob
                    .send_request(&peer_id, Frame::Bytes(vec![1u8; 44]));
            }
            SwarmEvent::ConnectionClosed {
                num_established: 0, ..
            } => return connected_at.map(|t| t.elapsed()),
            SwarmEvent::OutgoingConnectionError { .. } if connected_at.is_none() => {
                attempts += 1;
                if attempts >= CONNECT_ATTEMPTS_MAX {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                swarm.dial(addr.clone()).unwrap();
            }
            _ => {}
        }
    }
}

#[test]
fn a_street_holds_up_under_a_hundred_peers_a_flooder_and_strangers() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, _d) = chain(tmp.path());
    let keys: Vec<Keypair> = (0..ADMITTED + 1)
        .map(|_| Keypair::generate_ed25519())
        .collect();
    // The last key is the flooder's: an admitted community like the rest.
    let tokens: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let id = k.public().to_peer_id().to_string();
            admit_token(
                &s,
                &id,
                "community",
                &format!("guandu/yiliu/load{i:03}"),
                false,
            )
        })
        .collect();
    let admitted_s = started.elapsed().as_secs_f64();
    let flooder_id = keys[ADMITTED].public().to_peer_id().to_string();
    let community_id = peer_id(&c);
    let honest = NodeProc::start(&c, &[]);
    let street = NodeProc::start(&s, &[honest.addr()]);
    let addr = street.addr();
    wait_for("the street to reach its honest community", 30, || {
        street.status()["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == community_id.as_str())
    });
    let at_rest = street.rss_kib();
    let (peak, peers_peak) = (Cell::new(at_rest), Cell::new(0));
    let sample = || {
        peak.set(peak.get().max(street.rss_kib()));
        let peers = street.status()["peers"].as_array().unwrap().len();
        peers_peak.set(peers_peak.get().max(peers));
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Swarms are built here, inside the runtime they run on.
    let _entered = rt.enter();
    let (go, stop) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let up = Arc::new(AtomicUsize::new(0));
    let mut keys = keys.into_iter();
    let mut tokens = tokens.into_iter();
    let communities: Vec<_> = (0..ADMITTED)
        .map(|i| {
            let key = keys.next().unwrap();
            let docs = own_report(&key, i);
            let h = Hostile::new(key, &tokens.next().unwrap(), docs);
            rt.spawn(community(h, addr.clone(), up.clone(), stop.clone()))
        })
        .collect();
    let flood = rt.spawn(flooder(
        Hostile::new(
            keys.next().unwrap(),
            &tokens.next().unwrap(),
            MemDocs::new(),
        ),
        addr.clone(),
        go.clone(),
    ));
    let stranger_keys: Vec<Keypair> = (0..STRANGERS)
        .map(|_| Keypair::generate_ed25519())
        .collect();
    let stranger_ids: Vec<PeerId> = stranger_keys
        .iter()
        .map(|k| k.public().to_peer_id())
        .collect();
    let strangers: Vec<_> = stranger_keys
        .into_iter()
        .map(|k| rt.spawn(stranger(k, addr.parse().unwrap(), go.clone())))
        .collect();

    wait_for("every admitted community connected", 60, || {
        sample();
        up.load(Ordering::Relaxed) == ADMITTED
    });
    let connected_s = started.elapsed().as_secs_f64();
    sample();
    let before_load = peak.get();

    // The load: flood and strangers at once, and an honest report.
    go.store(true, Ordering::Relaxed);
    let load = Instant::now();
    let report = submit_report(&c, "during the load");
    let submitted_s = load.elapsed().as_secs_f64();
    wait_for("the honest report at the street", 30, || {
        sample();
        yizhan(&s, &["report", "show", &report]).status.success()
    });
    let honest_s = load.elapsed().as_secs_f64() - submitted_s;
    let banned = format!("peer={flooder_id}");
    wait_for("the flooder banned", 60, || {
        sample();
        street.logged().lines().any(|l| {
            l.contains("disconnecting a peer after too many strikes") && l.contains(&banned)
        })
    });
    let banned_s = load.elapsed().as_secs_f64();
    wait_for("every stranger done", 60, || {
        sample();
        strangers.iter().all(|t| t.is_finished())
    });
    wait_for(
        "every admitted community's report at the street",
        60,
        || {
            sample();
            json(&s, &["report", "list"]).as_array().unwrap().len() == ADMITTED + 1
        },
    );
    let load_s = load.elapsed().as_secs_f64();
    sample();
    let (peak, peers_peak) = (peak.get(), peers_peak.get());
    stop.store(true, Ordering::Relaxed);

    let (flooded, flooder_closed) = rt.block_on(flood).unwrap();
    let closed: Vec<Option<Duration>> = strangers
        .into_iter()
        .map(|t| rt.block_on(t).unwrap())
        .collect();
    let seen: Vec<Community> = communities
        .into_iter()
        .map(|t| rt.block_on(t).unwrap())
        .collect();
    let log = street.logged();
    eprintln!(
        "{} admissions made in {admitted_s:.1} s; {ADMITTED} admitted communities connected \
         {connected_s:.1} s after the start; \
         at most {peers_peak} peers connected at once; the honest report reached the street \
         {honest_s:.2} s after it was submitted; the flooder sent {flooded} messages and was \
         banned {banned_s:.1} s into the load (its connection closed after {:?}); strangers \
         disconnected after {:?}; load over in {load_s:.1} s; street RSS {at_rest} KiB at rest, \
         {before_load} KiB at most before the load, {peak} KiB at most; {:.1} s in all",
        ADMITTED + 1,
        flooder_closed,
        closed.iter().flatten().max(),
        started.elapsed().as_secs_f64()
    );

    assert!(
        honest_s < HONEST_REPORT_S_MAX,
        "the honest report took {honest_s:.2} s"
    );
    assert!(
        flooder_closed.is_some(),
        "the flooder's connection stayed open"
    );
    assert!(
        closed.iter().all(Option::is_some),
        "{} strangers were never disconnected",
        closed.iter().filter(|c| c.is_none()).count()
    );
    assert!(seen.iter().all(|c| c.connected && c.got_charter));
    let dropped = seen.iter().filter(|c| c.dropped).count();
    assert_eq!(
        dropped, 0,
        "{dropped} honest communities lost their connection:\n{log}"
    );
    assert!(
        peers_peak > ADMITTED,
        "only {peers_peak} peers were connected at once"
    );
    let bans = log
        .matches("disconnecting a peer after too many strikes")
        .count();
    assert_eq!(bans, 1, "more peers than the flooder were banned:\n{log}");
    assert!(
        peak < STREET_RSS_KIB_MAX,
        "the street grew to {peak} KiB under the load"
    );
    // Strangers are never recorded.
    let listed = json(&s, &["peers"]).to_string();
    for id in &stranger_ids {
        assert!(!listed.contains(&id.to_string()), "stranger {id} is listed");
    }
    assert!(!log.contains("panicked"), "{log}");
    street.stop();
    honest.stop();
}
