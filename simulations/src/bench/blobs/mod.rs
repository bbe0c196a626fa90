//! Item 6: photos fetched between two libp2p nodes on loopback, against raw
//! TCP on loopback carrying the same bytes in the same run.
//!
//! Two swarms from [`node::net::build_swarm`] talk `/yizhan/blob/1` as the
//! daemon does: the serving side reads the photo from its store for every
//! chunk request and answers with [`serve`]; the fetching side runs one
//! [`Assembly`] per photo, eight photos at once with one chunk request in
//! flight each, and commits every verified photo to its own store. The
//! daemon's loop is private, so this module drives the swarms itself with the
//! same steps. Further runs take one cost away at a time (the serving store,
//! the fetching store, the wait for each chunk) so that a missed target says
//! where the time goes.
//!
//! Throughput is in MB/s with MB = 10⁶ bytes. Every figure is the median of
//! [`RUNS`] runs ([`TCP_RUNS`] for raw TCP) after one warm-up run; each node
//! run starts from fresh swarms and a fresh fetching store, and its clock
//! runs from the first chunk request to the last photo committed.

use std::collections::{BTreeMap, HashMap, VecDeque};
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
use node::net::blob::{
    Assembly, BLOB_CHUNK_BYTES_MAX, ChunkRequest, ChunkResponse, Progress, serve,
};
use node::net::codec::Frame;
use node::net::{Behaviour, BehaviourEvent, build_swarm};
use node::store::{BlobHash, Store};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::{Line, Scale, Target};

mod fetch;
mod serve;

use fetch::{Sink, fetch_photos, write_photos};
use serve::serve_photos;

/// Share of raw TCP throughput the issue asks photo transfer to reach.
pub const TCP_SHARE_MIN: f64 = 0.3;
/// Measured runs per node figure; the median is reported.
pub const RUNS: usize = 3;
/// Measured raw TCP runs; the median is reported.
pub const TCP_RUNS: usize = 5;

/// Photos fetched at once: the daemon's `BLOB_FETCHES_MAX`.
const PHOTOS_IN_FLIGHT: usize = 8;
/// Chunk requests in flight per photo in the pipelined run.
const PIPELINED_CHUNKS: usize = 4;
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

/// Where the serving side takes a chunk's photo from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serving {
    /// Its store, read and verified whole for every chunk request, as the
    /// daemon once did.
    Store,
    /// Its store, only the requested chunk copied out and nothing hashed
    /// (`Store::blob_chunk`), as the daemon does on its reading threads.
    Chunks,
    /// A map in memory.
    Memory,
}

/// What the fetching side does with a verified photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keeping {
    /// Commits it in a batch of its own on the swarm's task, as the daemon
    /// did before it had a writer thread.
    Inline,
    /// Hands it to a writer thread, which commits it in a batch of its own;
    /// the swarm's task carries on meanwhile, as the daemon's does.
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
    /// Chunk requests in flight per photo; the daemon has one.
    chunks_in_flight: usize,
}

impl Variant {
    const DAEMON: Variant = Variant {
        transport: Transport::Tcp,
        serving: Serving::Chunks,
        keeping: Keeping::Writer,
        chunks_in_flight: 1,
    };
}

/// The photos and the serving side's copies of them.
struct Photos {
    hashes: Vec<BlobHash>,
    /// Every photo's bytes, in memory.
    memory: Arc<HashMap<BlobHash, Vec<u8>>>,
    /// Every photo, in a store file.
    store: Arc<Store>,
    bytes: u64,
}

/// What the serving side did in one run.
#[derive(Debug, Default, Clone, Copy)]
struct Served {
    /// Time its swarm task spent reading, serving and encoding chunks.
    answering: Duration,
    requests: u64,
}

/// What the fetching side did in one run.
#[derive(Debug, Default, Clone, Copy)]
struct Fetched {
    /// First request to last photo stored.
    elapsed: Duration,
    /// Time in `Assembly::accept` (copying chunks, the final BLAKE3 check).
    assembling: Duration,
    /// Time in `batch`, `put_blob` and `commit`, on whichever thread.
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
        memory.insert(hash, photo);
    }
    let store = Store::create(&dir.join("serving.redb")).context("create the serving store")?;
    let mut batch = store.batch().context("begin storing the photos")?;
    for hash in &hashes {
        if let Some(photo) = memory.get(hash) {
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

/// Sends every photo from one task to another over a fresh loopback TCP
/// connection; the time from the first write to the last byte read.
async fn raw_tcp(photos: &Photos) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("bind the raw TCP listener")?;
    let addr = listener.local_addr().context("raw TCP listener address")?;
    let total = photos.bytes;
    let receiver = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.context("accept raw TCP")?;
        stream.set_nodelay(true).context("raw TCP nodelay")?;
        let mut buf = vec![0u8; TCP_READ_BYTES];
        let mut got = 0u64;
        while got < total {
            let n = stream.read(&mut buf).await.context("raw TCP read")?;
            anyhow::ensure!(n > 0, "raw TCP sender closed after {got} of {total} bytes");
            got += n as u64;
        }
        anyhow::Ok(Instant::now())
    });
    let mut stream = TcpStream::connect(addr).await.context("connect raw TCP")?;
    stream.set_nodelay(true).context("raw TCP nodelay")?;
    let memory = Arc::clone(&photos.memory);
    let hashes = photos.hashes.clone();
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        for hash in &hashes {
            let photo = memory.get(hash).context("a photo went missing")?;
            stream.write_all(photo).await.context("raw TCP write")?;
        }
        stream.flush().await.context("raw TCP flush")?;
        // Kept open until the receiver has read everything.
        anyhow::Ok(stream)
    });
    let end = receiver.await.context("raw TCP receiver task")??;
    let _stream = sender.await.context("raw TCP sender task")??;
    Ok(end.duration_since(start))
}

/// Appends every photo to a plain file with one `sync_data` each: what the
/// disk allows a durable fetch before any store or network cost.
fn durable_writes(photos: &Photos, dir: &Path) -> anyhow::Result<Duration> {
    let path = dir.join("durable.bin");
    let mut file = std::fs::File::create(&path).context("create the durable-write file")?;
    let start = Instant::now();
    for hash in &photos.hashes {
        let photo = photos.memory.get(hash).context("a photo went missing")?;
        file.write_all(photo)
            .context("write a photo to a plain file")?;
        file.sync_data().context("sync a photo to a plain file")?;
    }
    let elapsed = start.elapsed();
    drop(file);
    std::fs::remove_file(&path).context("remove the durable-write file")?;
    Ok(elapsed)
}

/// Commits every photo to a fresh store, `per_commit` photos per batch: the
/// fetching side's store writes without the network.
fn store_writes(photos: &Photos, dir: &Path, per_commit: usize) -> anyhow::Result<Duration> {
    let path = dir.join("store-writes.redb");
    let store = Store::create(&path).context("create the store-write store")?;
    let all: Vec<&Vec<u8>> = photos
        .hashes
        .iter()
        .map(|h| photos.memory.get(h).context("a photo went missing"))
        .collect::<anyhow::Result<_>>()?;
    let start = Instant::now();
    for group in all.chunks(per_commit.max(1)) {
        let mut batch = store.batch().context("begin storing photos")?;
        for photo in group {
            batch.put_blob(photo).context("store a photo")?;
        }
        batch.commit().context("commit photos")?;
    }
    let elapsed = start.elapsed();
    drop(store);
    std::fs::remove_file(&path).context("remove the store-write store")?;
    Ok(elapsed)
}

/// The median of [`RUNS`] runs of `f`, after one warm-up.
fn median_of(mut f: impl FnMut() -> anyhow::Result<Duration>) -> anyhow::Result<Duration> {
    f().context("warm-up")?;
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        times.push(f()?);
    }
    median(times)
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
    let sink = match v.keeping {
        Keeping::Nothing => Sink::Nothing,
        Keeping::Inline => Sink::Inline(create()?),
        Keeping::Writer => {
            let store = create()?;
            let (photos_tx, photos_rx) = mpsc::channel(PHOTOS_IN_FLIGHT);
            // Room for a report per photo, so the writer never waits on it.
            let (committed_tx, committed) = mpsc::channel(photos.hashes.len().max(1));
            let thread =
                tokio::task::spawn_blocking(move || write_photos(store, photos_rx, committed_tx));
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
        v.chunks_in_flight,
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
    daemon: Run,
    uncached: Run,
    memory: Run,
    bare: Run,
    pipelined: Run,
    fixed: Run,
    quic: Run,
}

async fn measure(photos: &Photos) -> anyhow::Result<Figures> {
    raw_tcp(photos).await.context("raw TCP warm-up")?;
    let mut tcp = Vec::with_capacity(TCP_RUNS);
    for _ in 0..TCP_RUNS {
        tcp.push(raw_tcp(photos).await?);
    }
    let tcp = median(tcp)?;

    node_run(Variant::DAEMON, photos)
        .await
        .context("node warm-up")?;
    let daemon = node_median(Variant::DAEMON, photos).await?;
    let uncached = node_median(
        Variant {
            serving: Serving::Store,
            ..Variant::DAEMON
        },
        photos,
    )
    .await?;
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
    let pipelined = node_median(
        Variant {
            chunks_in_flight: PIPELINED_CHUNKS,
            ..Variant::DAEMON
        },
        photos,
    )
    .await?;
    let fixed = node_median(
        Variant {
            keeping: Keeping::Inline,
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
        daemon,
        uncached,
        memory,
        bare,
        pipelined,
        fixed,
        quic,
    })
}

/// Runs item 6.
pub fn run(scale: &Scale) -> anyhow::Result<Vec<Line>> {
    anyhow::ensure!(
        scale.blob_count > 0 && scale.blob_bytes > 0,
        "the blob benchmark needs at least one photo of at least one byte"
    );
    let dir = tempfile::tempdir().context("serving store directory")?;
    let photos = make_photos(scale.blob_count, scale.blob_bytes, dir.path())?;
    let disk = median_of(|| durable_writes(&photos, dir.path())).context("durable writes")?;
    let redb_each =
        median_of(|| store_writes(&photos, dir.path(), 1)).context("store writes, 1 per commit")?;
    let redb_all = median_of(|| store_writes(&photos, dir.path(), photos.hashes.len()))
        .context("store writes, all in 1 commit")?;
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
    let tcp = mbps(f.tcp);
    let n = scale.blob_count;
    let kib = scale.blob_bytes / 1024;
    let raw = format!("raw TCP on loopback, same {} bytes", photos.bytes);
    let how = format!(
        "{n} photos of {} MB of random bytes; {PHOTOS_IN_FLIGHT} photos in flight; first request to last photo committed; median of {RUNS} runs (raw TCP: of {TCP_RUNS}); MB = 10⁶ B",
        f64::from(scale.blob_bytes) / MB
    );
    let line = |what: String, elapsed: Duration, note: String| Line {
        bench: "blobs",
        what,
        value: mbps(elapsed),
        baseline: raw.clone(),
        base: tcp,
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
    let ratio = mbps(f.daemon.fetched.elapsed) / tcp;
    // redb gives a value and its key a page of a power-of-two size, so a
    // photo of exactly 2^k bytes takes (zeroes, copies, writes) 2^(k+1).
    let pages = if scale.blob_bytes.is_power_of_two() {
        format!(
            "; photos of exactly {kib} KiB are redb's worst case: each takes a page of {} KiB",
            2 * kib
        )
    } else {
        String::new()
    };
    Ok(vec![
        Line {
            target: Some(Target {
                rule: format!("≥ {TCP_SHARE_MIN} of raw TCP"),
                met: ratio >= TCP_SHARE_MIN,
            }),
            ..line(
                "photos over TCP+Noise+Yamux, fetched as the daemon does".into(),
                f.daemon.fetched.elapsed,
                format!(
                    "{how}; served as the daemon does, each chunk copied out of the store without hashing, 1 chunk in flight per photo, each photo verified and committed on its own by a writer thread (the daemon also counts photos waiting for its writer against the 8 in flight; this fetcher does not)"
                ),
            )
        },
        line(
            "the same, every chunk read from the store".into(),
            f.uncached.fetched.elapsed,
            "the daemon before it kept what it serves: `Store::blob` reads and re-hashes the whole photo for every 1 MiB chunk".into(),
        ),
        line(
            "the same, served from memory".into(),
            f.memory.fetched.elapsed,
            "the serving side answers from a map: what is left of the store's cost on the serving side".into(),
        ),
        line(
            "the same, served from memory, nothing stored".into(),
            f.bare.fetched.elapsed,
            "neither store: the network path alone (Noise, Yamux, one request-response stream per 1 MiB chunk)".into(),
        ),
        line(
            format!("the daemon's path with {PIPELINED_CHUNKS} chunks in flight per photo"),
            f.pipelined.fetched.elapsed,
            "both stores as the daemon uses them; the gain over the first line is what waiting for each chunk before asking the next costs".into(),
        ),
        line(
            "the same, committing each photo on the swarm's task".into(),
            f.fixed.fetched.elapsed,
            "the daemon before its writer thread: the fetching swarm's task waits for each durable commit".into(),
        ),
        line(
            "ceiling: the same photos appended to a plain file, one `sync_data` each".into(),
            disk,
            format!("no network, no store: what this disk allows a fetch that stores each photo durably; median of {RUNS}"),
        ),
        line(
            "ceiling: the same photos through `put_blob` + commit, 1 per commit".into(),
            redb_each,
            format!("no network: the fetching store's writes as the daemon makes them; median of {RUNS}{pages}"),
        ),
        line(
            format!("ceiling: the same photos through `put_blob`, all {n} in 1 commit"),
            redb_all,
            format!("no network: one commit for every photo, as group commit would make it; median of {RUNS}"),
        ),
        line(
            "photos over QUIC, fetched as the daemon does".into(),
            f.quic.fetched.elapsed,
            "as the first line, over `/quic-v1`".into(),
        ),
        share(
            "serving side: `Store::blob_chunk` + encode",
            f.daemon.served.answering,
            format!(
                "time spent answering {} chunk requests, copying each chunk out of the store (the daemon does this on reading threads, not its loop)",
                f.daemon.served.requests
            ),
        ),
        share(
            "fetching side: `put_blob` + commit, on the writer thread",
            f.daemon.fetched.storing,
            format!(
                "time the writer spends storing {n} photos, one durable commit each, while the swarm's task carries on"
            ),
        ),
        share(
            "fetching side: `Assembly::accept`",
            f.daemon.fetched.assembling,
            format!(
                "copying {} chunks into place and the final BLAKE3 check of each photo",
                f.daemon.fetched.requests
            ),
        ),
    ])
}
