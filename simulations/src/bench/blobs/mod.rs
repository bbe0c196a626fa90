//! Items 6 and 7: photos fetched between two libp2p nodes on loopback,
//! against the disk's ceiling for storing them durably, TCP with Noise
//! alone and raw TCP, all measured in the same run on the same photos.
//!
//! Two swarms from [`node::net::build_swarm`] talk `/yizhan/blob/2` as the
//! daemon does: the serving side answers range requests through
//! [`serve_from_store`] (the daemon's own function: the range read from the
//! photo's file, its hash pairs from the tree the store keeps in memory,
//! every group checked before it is sent); the fetching side runs one
//! [`Assembly`] per photo, eight photos at once with one range request in
//! flight each, and stores every verified photo as the daemon's blob
//! writer does
//! (the daemon's own `store_blobs`: each range kept in a partial file as it
//! verifies, the finished file renamed into the store, every photo queued
//! since the last commit in one group) on a thread. The daemon's loop is private, so this module
//! drives the swarms itself with the same steps. Further runs take one cost
//! away at a time (the serving store, the fetching store) so that a missed
//! target says where the time goes.
//!
//! Throughput is in MB/s with MB = 10⁶ bytes. Every figure is the median of
//! [`RUNS`] runs ([`TCP_RUNS`] for the network baselines) after one warm-up
//! run; each node run starts from fresh swarms and a fresh fetching store,
//! and its clock runs from the first range request to the last photo
//! committed.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt as _;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use node::daemon::partial_blobs::PartialBlobs;
use node::daemon::{BlobWrite, store_blobs};
use node::net::blob::{
    Assembly, BLOB_CHUNK_BYTES_MAX, BLOB_FETCH_BYTES, BlobTree, ChunkRequest, ChunkResponse,
    Progress, blob_tree, serve,
};
use node::net::blob_serve::serve_from_store;
use node::net::codec::Frame;
use node::net::{Behaviour, BehaviourEvent, build_swarm};
use node::store::{BlobHash, Store};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::{Line, Scale, Target};

mod baselines;
mod fetch;
mod serve;

use baselines::{durable_writes, file_per_photo, hashed_file_each, noise_tcp, raw_tcp};
use fetch::{FetchedPhoto, Sink, commit_fetched, fetch_photos, write_photos};
use serve::serve_photos;

/// Share of the disk's ceiling the issue asks stored photo throughput to
/// reach.
pub const DISK_SHARE_MIN: f64 = 0.8;
/// Measured runs per node figure; the median is reported.
pub const RUNS: usize = 3;
/// Measured raw TCP runs; the median is reported.
pub const TCP_RUNS: usize = 5;
/// Measured rounds of the writes without a network; the medians are
/// reported.
pub const DISK_RUNS: usize = 15;

/// Photos fetched at once: the daemon's `BLOB_FETCHES_MAX`.
const PHOTOS_IN_FLIGHT: usize = 8;
/// A run still going after this long has hung.
const RUN_TIMEOUT_S: u64 = 120;
/// Bytes per read in the raw TCP baseline.
const TCP_READ_BYTES: usize = 1 << 20;
/// Tokio workers: two nodes, as on the two-core machines the issue targets.
const WORKERS: usize = 2;
const MB: f64 = 1e6;

/// How the two nodes reach each other.
#[derive(Debug, Clone, Copy)]
enum Transport {
    /// TCP with Noise and Yamux.
    Tcp,
    /// QUIC.
    Quic,
}

impl Transport {
    fn listen(self) -> anyhow::Result<Multiaddr> {
        let addr = match self {
            Transport::Tcp => "/ip4/127.0.0.1/tcp/0",
            Transport::Quic => "/ip4/127.0.0.1/udp/0/quic-v1",
        };
        addr.parse()
            .with_context(|| format!("listen address {addr}"))
    }
}

/// Where the serving side takes a range's photo from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serving {
    /// Its store, through the daemon's `serve_from_store`.
    Store,
    /// A map in memory, trees made beforehand.
    Memory,
}

/// What the fetching side does with a verified photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keeping {
    /// Hands it to a writer thread, which stores every photo queued since
    /// its last commit in one batch; the swarm's task carries on meanwhile,
    /// as the daemon's does.
    Writer,
    /// Drops it.
    Nothing,
}

/// One way of running the transfer.
#[derive(Debug, Clone, Copy)]
struct Variant {
    transport: Transport,
    serving: Serving,
    keeping: Keeping,
    /// Bytes per range request; the daemon asks for `BLOB_FETCH_BYTES`.
    range_bytes: u32,
}

impl Variant {
    const DAEMON: Variant = Variant {
        transport: Transport::Tcp,
        serving: Serving::Store,
        keeping: Keeping::Writer,
        range_bytes: BLOB_FETCH_BYTES,
    };
}

/// Photos' bytes and trees by hash.
type InMemory = HashMap<BlobHash, (Vec<u8>, BlobTree)>;

/// The photos and the serving side's copies of them.
struct Photos {
    hashes: Vec<BlobHash>,
    /// Every photo's bytes and tree, in memory.
    memory: Arc<InMemory>,
    /// Every photo, in a store file.
    store: Arc<Store>,
    bytes: u64,
}

/// What the serving side did in one run.
#[derive(Debug, Default, Clone, Copy)]
struct Served {
    /// Time its swarm task spent reading, checking and encoding ranges.
    answering: Duration,
    requests: u64,
}

/// What the fetching side did in one run.
#[derive(Debug, Default, Clone, Copy)]
struct Fetched {
    /// First request to last photo stored.
    elapsed: Duration,
    /// Time in `Assembly::accept` (verifying each range as it decodes it,
    /// the final BLAKE3 check).
    assembling: Duration,
    /// Bytes of range responses received.
    received: u64,
    /// Time in `batch`, `put_verified_blob` and `commit`, on the writer.
    storing: Duration,
    requests: u64,
}

/// One measured run.
#[derive(Debug, Clone, Copy)]
struct Run {
    served: Served,
    fetched: Fetched,
}

/// `count` photos of `bytes` pseudo-random bytes each (BLAKE3 output, which
/// no layer can compress).
fn make_photos(count: u32, bytes: u32, dir: &Path) -> anyhow::Result<Photos> {
    let mut memory = HashMap::new();
    let mut hashes = Vec::new();
    for i in 0..count {
        let mut photo = vec![0u8; bytes as usize];
        let mut h = blake3::Hasher::new();
        h.update(b"yizhan bench photo");
        h.update(&i.to_le_bytes());
        h.finalize_xof().fill(&mut photo);
        let hash = BlobHash::of(&photo);
        hashes.push(hash);
        let tree = blob_tree(&photo);
        memory.insert(hash, (photo, tree));
    }
    let store = Store::create(&dir.join("serving.redb")).context("create the serving store")?;
    let mut batch = store.batch().context("begin storing the photos")?;
    for hash in &hashes {
        if let Some((photo, _)) = memory.get(hash) {
            batch.put_blob(photo).context("store a photo")?;
        }
    }
    batch.commit().context("commit the photos")?;
    Ok(Photos {
        hashes,
        memory: Arc::new(memory),
        store: Arc::new(store),
        bytes: u64::from(count) * u64::from(bytes),
    })
}

/// Commits every photo to a fresh store (in a directory of its own, so no
/// photo is already there), `per_commit` photos per batch: through
/// `put_blob`, which hashes each photo to make its tree, or (`fetched`) as
/// the daemon's blob writer stores fetched photos, with the trees they were
/// verified against. No network.
fn store_writes(
    photos: &Photos,
    dir: &Path,
    per_commit: usize,
    fetched: bool,
) -> anyhow::Result<Duration> {
    let fresh = tempfile::tempdir_in(dir).context("a directory for the store writes")?;
    let store = Store::create(&fresh.path().join("store-writes.redb"))
        .context("create the store-write store")?;
    let all: Vec<FetchedPhoto> = photos
        .hashes
        .iter()
        .map(|h| {
            let (bytes, tree) = photos.memory.get(h).context("a photo went missing")?;
            Ok((*h, bytes.clone(), tree.clone(), None))
        })
        .collect::<anyhow::Result<_>>()?;
    let start = Instant::now();
    for group in all.chunks(per_commit.max(1)) {
        if fetched {
            commit_fetched(&store, group)?;
        } else {
            let mut batch = store.batch().context("begin storing photos")?;
            for (_, photo, ..) in group {
                batch.put_blob(photo).context("store a photo")?;
            }
            batch.commit().context("commit photos")?;
        }
    }
    let elapsed = start.elapsed();
    drop(store);
    fresh.close().context("remove the store writes")?;
    Ok(elapsed)
}

/// The writes without a network, each the median of [`DISK_RUNS`]: the
/// disk ceiling, a file per photo, `put_blob` 1 and all per commit, the
/// daemon's blob writer 1 and [`PHOTOS_IN_FLIGHT`] per commit, and the
/// bound of a lone local photo (tree, then a file and a directory sync). One run of
/// each takes tens of milliseconds, so a moment of load would move a
/// median of a few runs taken one figure after another; the figures are
/// taken in turn, round after round, so each ratio compares runs made at
/// the same moments. One warm-up round first.
fn disk_writes(photos: &Photos, dir: &Path) -> anyhow::Result<[Duration; 7]> {
    let all = photos.hashes.len();
    let round = || -> anyhow::Result<[Duration; 7]> {
        Ok([
            durable_writes(photos, dir).context("durable writes")?,
            file_per_photo(photos, dir).context("a file per photo")?,
            store_writes(photos, dir, 1, false).context("put_blob, 1 per commit")?,
            store_writes(photos, dir, all, false).context("put_blob, all in 1 commit")?,
            store_writes(photos, dir, 1, true).context("fetched photos, 1 per commit")?,
            store_writes(photos, dir, PHOTOS_IN_FLIGHT, true)
                .context("fetched photos, a group per commit")?,
            hashed_file_each(photos, dir).context("a hashed file per photo")?,
        ])
    };
    round().context("warm-up")?;
    let mut rounds = Vec::with_capacity(DISK_RUNS);
    for _ in 0..DISK_RUNS {
        rounds.push(round()?);
    }
    let mut out = [Duration::ZERO; 7];
    for (i, figure) in out.iter_mut().enumerate() {
        *figure = median(rounds.iter().map(|r| r[i]).collect())?;
    }
    Ok(out)
}

/// Two fresh nodes, one fetching every photo from the other as `v` says.
async fn node_run(v: Variant, photos: &Photos) -> anyhow::Result<Run> {
    let server_key = Keypair::generate_ed25519();
    let server = server_key.public().to_peer_id();
    let mut serving_swarm = build_swarm(server_key, false).context("serving swarm")?;
    serving_swarm
        .listen_on(v.transport.listen()?)
        .context("listen on loopback")?;
    let fetching_key = Keypair::generate_ed25519();
    let fetcher = fetching_key.public().to_peer_id();
    let fetching_swarm = build_swarm(fetching_key, false).context("fetching swarm")?;
    let held = (Arc::clone(&photos.store), Arc::clone(&photos.memory));
    let (listening_tx, listening) = oneshot::channel();
    let (stop, stopped) = oneshot::channel();
    let serving = tokio::spawn(serve_photos(
        serving_swarm,
        fetcher,
        v.serving,
        held,
        listening_tx,
        stopped,
    ));
    let addr = match tokio::time::timeout(Duration::from_secs(RUN_TIMEOUT_S), listening).await {
        Ok(Ok(addr)) => addr,
        Ok(Err(_)) => {
            serving.await.context("serving task")??;
            anyhow::bail!("the serving node stopped before it listened");
        }
        Err(_) => {
            serving.abort();
            anyhow::bail!("the serving node did not listen within {RUN_TIMEOUT_S} s");
        }
    };
    let dir = tempfile::tempdir().context("fetching store directory")?;
    let create =
        || Store::create(&dir.path().join("fetching.redb")).context("create the fetching store");
    let partials = PartialBlobs::new(dir.path());
    let sink = match v.keeping {
        Keeping::Nothing => Sink::Nothing,
        Keeping::Writer => {
            let store = create()?;
            let partials = partials.clone();
            let (photos_tx, photos_rx) = mpsc::channel(PHOTOS_IN_FLIGHT);
            // Room for a report per photo, so the writer never waits on it.
            let (committed_tx, committed) = mpsc::channel(photos.hashes.len().max(1));
            let thread = tokio::task::spawn_blocking(move || {
                write_photos(store, partials, photos_rx, committed_tx)
            });
            Sink::Writer {
                photos: photos_tx,
                committed,
                thread,
            }
        }
    };
    let mut fetching = tokio::spawn(fetch_photos(
        fetching_swarm,
        server,
        addr,
        photos.hashes.clone(),
        sink,
        v.range_bytes,
        (v.keeping == Keeping::Writer).then_some(partials),
    ));
    let fetched = tokio::time::timeout(Duration::from_secs(RUN_TIMEOUT_S), &mut fetching).await;
    if fetched.is_err() {
        fetching.abort();
    }
    // The serving task ends on this, or has ended with an error.
    let _ = stop.send(());
    let served = serving.await.context("serving task")??;
    let fetched = fetched
        .map_err(|_| anyhow::anyhow!("no photos after {RUN_TIMEOUT_S} s ({v:?})"))?
        .context("fetching task")??;
    Ok(Run { served, fetched })
}

/// The median of `RUNS` runs of `v`, by elapsed time.
async fn node_median(v: Variant, photos: &Photos) -> anyhow::Result<Run> {
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        runs.push(
            node_run(v, photos)
                .await
                .with_context(|| format!("{v:?}"))?,
        );
    }
    runs.sort_by_key(|r| r.fetched.elapsed);
    runs.get(runs.len() / 2).copied().context("no runs")
}

/// The median of `times` (the upper one of an even count).
fn median(mut times: Vec<Duration>) -> anyhow::Result<Duration> {
    times.sort();
    times.get(times.len() / 2).copied().context("no runs")
}

/// Everything measured, before it becomes lines.
struct Figures {
    tcp: Duration,
    noise: Duration,
    daemon: Run,
    memory: Run,
    bare: Run,
    long: Run,
    quic: Run,
}

/// The median of [`TCP_RUNS`] runs of a network baseline, after a warm-up.
async fn network_median(
    photos: &Photos,
    f: impl AsyncFn(&Photos) -> anyhow::Result<Duration>,
) -> anyhow::Result<Duration> {
    f(photos).await.context("warm-up")?;
    let mut times = Vec::with_capacity(TCP_RUNS);
    for _ in 0..TCP_RUNS {
        times.push(f(photos).await?);
    }
    median(times)
}

async fn measure(photos: &Photos) -> anyhow::Result<Figures> {
    let tcp = network_median(photos, raw_tcp).await.context("raw TCP")?;
    let noise = network_median(photos, noise_tcp)
        .await
        .context("TCP with Noise")?;
    node_run(Variant::DAEMON, photos)
        .await
        .context("node warm-up")?;
    let daemon = node_median(Variant::DAEMON, photos).await?;
    let memory = node_median(
        Variant {
            serving: Serving::Memory,
            ..Variant::DAEMON
        },
        photos,
    )
    .await?;
    let bare = node_median(
        Variant {
            serving: Serving::Memory,
            keeping: Keeping::Nothing,
            ..Variant::DAEMON
        },
        photos,
    )
    .await?;
    let long = node_median(
        Variant {
            range_bytes: BLOB_CHUNK_BYTES_MAX,
            ..Variant::DAEMON
        },
        photos,
    )
    .await?;
    let quic = node_median(
        Variant {
            transport: Transport::Quic,
            ..Variant::DAEMON
        },
        photos,
    )
    .await?;
    Ok(Figures {
        tcp,
        noise,
        daemon,
        memory,
        bare,
        long,
        quic,
    })
}

/// Runs items 6 and 7 (blobs).
pub fn run(scale: &Scale) -> anyhow::Result<Vec<Line>> {
    anyhow::ensure!(
        scale.blob_count > 0 && scale.blob_bytes > 0,
        "the blob benchmark needs at least one photo of at least one byte"
    );
    let dir = tempfile::tempdir().context("serving store directory")?;
    let photos = make_photos(scale.blob_count, scale.blob_bytes, dir.path())?;
    let disk_writes = disk_writes(&photos, dir.path())?;
    let [
        disk,
        files,
        put_each,
        put_all,
        fetched_each,
        fetched_group,
        lone_bound,
    ] = disk_writes;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let figures = rt.block_on(measure(&photos));
    rt.shutdown_timeout(Duration::from_secs(5));
    let f = figures?;

    let mbps = |d: Duration| photos.bytes as f64 / MB / d.as_secs_f64().max(1e-9);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let n = scale.blob_count;
    let same = format!("same {} bytes", photos.bytes);
    let how = format!(
        "{n} photos of {} MB of random bytes; {PHOTOS_IN_FLIGHT} photos in flight, 1 range of {} KiB in flight each; first request to last photo committed; median of {RUNS} runs (network baselines: of {TCP_RUNS}); MB = 10⁶ B",
        f64::from(scale.blob_bytes) / MB,
        BLOB_FETCH_BYTES / 1024,
    );
    let disk_base = (
        format!(
            "disk ceiling: a plain file, one `sync_data` per photo, {same} (median of {DISK_RUNS} rounds taken in turn with the store's writes)"
        ),
        mbps(disk),
    );
    let noise_base = (
        format!("TCP with Noise alone on loopback, {same}"),
        mbps(f.noise),
    );
    let tcp_base = (format!("raw TCP on loopback, {same}"), mbps(f.tcp));
    let line = |what: String, elapsed: Duration, base: &(String, f64), note: String| Line {
        bench: "blobs",
        what,
        value: mbps(elapsed),
        baseline: base.0.clone(),
        base: base.1,
        unit: "MB/s",
        target: None,
        note,
    };
    let whole = ms(f.daemon.fetched.elapsed);
    let share = |what: &str, spent: Duration, note: String| Line {
        bench: "blobs",
        what: what.into(),
        value: ms(spent),
        baseline: "the whole daemon-like TCP transfer".into(),
        base: whole,
        unit: "ms",
        target: None,
        note,
    };
    let stored = mbps(f.daemon.fetched.elapsed);
    let disk_target = |elapsed: Duration| {
        Some(Target {
            rule: format!("≥ {DISK_SHARE_MIN} of the disk ceiling"),
            met: mbps(elapsed) / disk_base.1 >= DISK_SHARE_MIN,
        })
    };
    let daemon_what = "photos over TCP+Noise+Yamux, fetched and stored as the daemon does";
    let overhead = f.daemon.fetched.received as f64 / photos.bytes as f64 - 1.0;
    Ok(vec![
        Line {
            target: Some(Target {
                rule: format!("≥ {DISK_SHARE_MIN} of the disk ceiling"),
                met: stored / disk_base.1 >= DISK_SHARE_MIN,
            }),
            ..line(
                daemon_what.into(),
                f.daemon.fetched.elapsed,
                &disk_base,
                format!(
                    "{how}; served by the daemon's `serve_from_store` (range read from the photo's file, hash pairs from the tree the serving store keeps in memory since it wrote the photo, every group checked before it is sent), every range verified as it arrives and kept under `partial-blobs/` (unsynced), every photo queued since the last commit taken into `blobs/` in one batch by a writer thread (`store_blobs`: the partial file synced and renamed, one directory sync); range responses carry {:.2} % more bytes than the photos (hash pairs, headers)",
                    overhead * 100.0
                ),
            )
        },
        line(
            daemon_what.into(),
            f.daemon.fetched.elapsed,
            &noise_base,
            "the same run against the encryption alone: what Yamux, request-response, verification and the store cost together".into(),
        ),
        line(
            daemon_what.into(),
            f.daemon.fetched.elapsed,
            &tcp_base,
            "the same run against unencrypted loopback TCP (the issue's old baseline)".into(),
        ),
        line(
            "TCP with Noise alone".into(),
            f.noise,
            &tcp_base,
            "libp2p's Noise handshake and framing on one loopback connection, no Yamux, no request-response: the encryption's own cost".into(),
        ),
        line(
            "the same, served from memory".into(),
            f.memory.fetched.elapsed,
            &disk_base,
            "the serving side answers from a map with trees made beforehand: what is left of the store's cost on the serving side".into(),
        ),
        line(
            "the same, served from memory, nothing stored".into(),
            f.bare.fetched.elapsed,
            &noise_base,
            "neither store: the network path alone (Noise, Yamux, one request-response stream per range, verification)".into(),
        ),
        line(
            "the daemon's path asking 1 MiB per range".into(),
            f.long.fetched.elapsed,
            &disk_base,
            format!(
                "as the first line with 4× longer ranges ({} requests instead of {}): what the shorter ranges a cut connection costs again cost in round trips",
                f.long.fetched.requests, f.daemon.fetched.requests
            ),
        ),
        line(
            "photos over QUIC, fetched and stored as the daemon does".into(),
            f.quic.fetched.elapsed,
            &disk_base,
            "as the first line, over `/quic-v1`".into(),
        ),
        line(
            "ceiling: a file per photo (temporary name, `sync_all`, rename), 1 directory sync".into(),
            files,
            &disk_base,
            format!("no network, no store: the bare cost of a file per photo on this disk; median of {DISK_RUNS}"),
        ),
        Line {
            target: disk_target(fetched_each),
            ..line(
                "stored photos: the daemon's blob writer, 1 photo per commit".into(),
                fetched_each,
                &disk_base,
                format!("no network: fetched photos stored with the trees they were verified against (`store_blobs` → `put_verified_blob`: the photo's file to a temporary name, its tree kept in memory; at commit every file of the batch synced at once, renamed, one directory sync), each photo alone, the writer's worst case; median of {DISK_RUNS}"),
            )
        },
        Line {
            target: disk_target(fetched_group),
            ..line(
                format!("stored photos: the daemon's blob writer, {PHOTOS_IN_FLIGHT} photos per commit"),
                fetched_group,
                &disk_base,
                format!("no network: as above, with as many photos per commit as the daemon fetches at once; median of {DISK_RUNS}"),
            )
        },
        Line {
            target: disk_target(put_each),
            ..line(
                "stored photos: `put_blob` + commit, 1 per commit".into(),
                put_each,
                &disk_base,
                format!("no network: the store's own path for a photo taken locally (one BLAKE3 pass makes the tree and the name), each photo alone; median of {DISK_RUNS}"),
            )
        },
        line(
            "bound for a lone local photo: its tree, then a file of its own and a directory sync".into(),
            lone_bound,
            &disk_base,
            format!("no store: one BLAKE3 pass (`make_tree`, which names the photo), then temporary name, `sync_all`, rename and directory sync, photo after photo; what `put_blob` with one photo per commit cannot do without; median of {DISK_RUNS}"),
        ),
        line(
            "stored photos: `put_blob` + commit, 1 per commit".into(),
            put_each,
            &(
                "bound for a lone local photo (the line above)".into(),
                mbps(lone_bound),
            ),
            "what the store adds to the least a lone local photo costs: its redb batch, the check for a file held already, the tree kept in memory".into(),
        ),
        line(
            format!("stored photos: `put_blob`, all {n} in 1 commit"),
            put_all,
            &disk_base,
            format!("no network: one directory sync for every photo; median of {DISK_RUNS}"),
        ),
        share(
            "serving side: `serve_from_store` + encode",
            f.daemon.served.answering,
            format!(
                "time spent answering {} range requests: reading the range from the photo's file, taking its hash pairs from the tree in memory, checking and encoding it (the daemon does this on reading threads, not its loop)",
                f.daemon.served.requests
            ),
        ),
        share(
            "fetching side: `put_verified_blob` + commit, on the writer thread",
            f.daemon.fetched.storing,
            format!(
                "time the writer spends storing {n} photos, every photo queued since its last commit in one, while the swarm's task carries on"
            ),
        ),
        share(
            "fetching side: `Assembly::accept`",
            f.daemon.fetched.assembling,
            format!(
                "verifying {} ranges as they decode and the final BLAKE3 check of each photo",
                f.daemon.fetched.requests
            ),
        ),
    ])
}
