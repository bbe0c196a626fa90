//! The baselines the photo transfer is set against, each measured in the
//! same run on the same photos: raw loopback TCP, TCP with Noise alone (the
//! encryption every Yizhan link pays, without Yamux or request-response),
//! and the disk's own ceiling for writing the photos durably.

use futures::{AsyncReadExt as _, AsyncWriteExt as _};
use libp2p::core::upgrade::{InboundConnectionUpgrade as _, OutboundConnectionUpgrade as _};
use libp2p::noise;

use super::*;

/// Sends every photo from one task to another over a fresh loopback TCP
/// connection; the time from the first write to the last byte read.
pub(super) async fn raw_tcp(photos: &Photos) -> anyhow::Result<Duration> {
    loopback(photos, false).await
}

/// The same bytes over one loopback TCP connection encrypted with libp2p's
/// Noise handshake and framing, nothing else: the time from the first
/// write (after the handshake) to the last byte read.
pub(super) async fn noise_tcp(photos: &Photos) -> anyhow::Result<Duration> {
    loopback(photos, true).await
}

/// One loopback connection, with Noise or without, carrying every photo.
async fn loopback(photos: &Photos, noise: bool) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("bind the loopback listener")?;
    let addr = listener.local_addr().context("loopback listener address")?;
    let total = photos.bytes;
    let keys = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let responder = noise::Config::new(&keys.0).context("Noise responder")?;
    let initiator = noise::Config::new(&keys.1).context("Noise initiator")?;
    let receiver = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.context("accept loopback TCP")?;
        stream.set_nodelay(true).context("loopback nodelay")?;
        let stream = libp2p::tcp::tokio::TcpStream(stream);
        if noise {
            let (_, secure) = responder
                .upgrade_inbound(stream, "/noise")
                .await
                .context("Noise handshake, responder")?;
            read_all(secure, total).await
        } else {
            read_all(stream, total).await
        }
    });
    let stream = TcpStream::connect(addr)
        .await
        .context("connect loopback TCP")?;
    stream.set_nodelay(true).context("loopback nodelay")?;
    let stream = libp2p::tcp::tokio::TcpStream(stream);
    let start = if noise {
        let (_, secure) = initiator
            .upgrade_outbound(stream, "/noise")
            .await
            .context("Noise handshake, initiator")?;
        send_all(photos, secure)?
    } else {
        send_all(photos, stream)?
    };
    let end = receiver.await.context("loopback receiver task")??;
    let _sender = start.1.await.context("loopback sender task")??;
    Ok(end.duration_since(start.0))
}

/// Reads `total` bytes; the time the last arrived.
async fn read_all(
    mut from: impl futures::AsyncRead + Unpin,
    total: u64,
) -> anyhow::Result<Instant> {
    let mut buf = vec![0u8; TCP_READ_BYTES];
    let mut got = 0u64;
    while got < total {
        let n = from.read(&mut buf).await.context("loopback read")?;
        anyhow::ensure!(n > 0, "the sender closed after {got} of {total} bytes");
        got += n as u64;
    }
    Ok(Instant::now())
}

/// A finished sender's connection, held open until the receiver is done.
type Held = Box<dyn Send>;

/// Starts writing every photo to `to` on a task of its own; when it
/// started, and the task (which hands `to` back, still open).
fn send_all<W>(
    photos: &Photos,
    mut to: W,
) -> anyhow::Result<(Instant, tokio::task::JoinHandle<anyhow::Result<Held>>)>
where
    W: futures::AsyncWrite + Unpin + Send + 'static,
{
    let memory = Arc::clone(&photos.memory);
    let hashes = photos.hashes.clone();
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        for hash in &hashes {
            let (photo, _) = memory.get(hash).context("a photo went missing")?;
            to.write_all(photo).await.context("loopback write")?;
        }
        to.flush().await.context("loopback flush")?;
        // Kept open until the receiver has read everything.
        anyhow::Ok(Box::new(to) as Held)
    });
    Ok((start, sender))
}

/// Appends every photo to a plain file with one `sync_data` each: what the
/// disk allows a durable fetch before any store or network cost.
pub(super) fn durable_writes(photos: &Photos, dir: &Path) -> anyhow::Result<Duration> {
    let path = dir.join("durable.bin");
    let mut file = std::fs::File::create(&path).context("create the durable-write file")?;
    let start = Instant::now();
    for hash in &photos.hashes {
        let (photo, _) = photos.memory.get(hash).context("a photo went missing")?;
        file.write_all(photo)
            .context("write a photo to a plain file")?;
        file.sync_data().context("sync a photo to a plain file")?;
    }
    let elapsed = start.elapsed();
    drop(file);
    std::fs::remove_file(&path).context("remove the durable-write file")?;
    Ok(elapsed)
}

/// Writes every photo to a file of its own (temporary name, `sync_all`,
/// rename) and syncs the directory once at the end: what storing photos as
/// files beside the store would cost the disk.
pub(super) fn file_per_photo(photos: &Photos, dir: &Path) -> anyhow::Result<Duration> {
    let dir = dir.join("photo-files");
    std::fs::create_dir_all(&dir).context("create the photo-file directory")?;
    let start = Instant::now();
    for hash in &photos.hashes {
        let (photo, _) = photos.memory.get(hash).context("a photo went missing")?;
        let tmp = dir.join(format!("{hash}.tmp"));
        let mut file = std::fs::File::create(&tmp).context("create a photo file")?;
        file.write_all(photo).context("write a photo file")?;
        file.sync_all().context("sync a photo file")?;
        std::fs::rename(&tmp, dir.join(hash.to_string())).context("name a photo file")?;
    }
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .context("sync the photo-file directory")?;
    let elapsed = start.elapsed();
    std::fs::remove_dir_all(&dir).context("remove the photo files")?;
    Ok(elapsed)
}

/// What `put_blob` must do for a photo taken locally, stored alone, with no
/// store around it: the photo's tree made (one BLAKE3 pass, which names
/// it), then a file of its own (temporary name, `sync_all`, rename) and a
/// directory sync, photo after photo. The least a lone local photo can
/// cost on this machine, against which the store's own path is read.
pub(super) fn hashed_file_each(photos: &Photos, dir: &Path) -> anyhow::Result<Duration> {
    let dir = dir.join("hashed-photo-files");
    std::fs::create_dir_all(&dir).context("create the photo-file directory")?;
    let listing = std::fs::File::open(&dir).context("open the photo-file directory")?;
    let start = Instant::now();
    for hash in &photos.hashes {
        let (photo, _) = photos.memory.get(hash).context("a photo went missing")?;
        let name = BlobHash::from_bytes(*node::store::make_tree(photo).root.as_bytes());
        let tmp = dir.join(format!("{name}.tmp"));
        let mut file = std::fs::File::create(&tmp).context("create a photo file")?;
        file.write_all(photo).context("write a photo file")?;
        file.sync_all().context("sync a photo file")?;
        std::fs::rename(&tmp, dir.join(name.to_string())).context("name a photo file")?;
        listing
            .sync_all()
            .context("sync the photo-file directory")?;
    }
    let elapsed = start.elapsed();
    std::fs::remove_dir_all(&dir).context("remove the photo files")?;
    Ok(elapsed)
}
