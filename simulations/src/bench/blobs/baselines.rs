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
            let n = tokio::io::AsyncReadExt::read(&mut stream, &mut buf)
                .await
                .context("raw TCP read")?;
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
            let (photo, _) = memory.get(hash).context("a photo went missing")?;
            tokio::io::AsyncWriteExt::write_all(&mut stream, photo)
                .await
                .context("raw TCP write")?;
        }
        tokio::io::AsyncWriteExt::flush(&mut stream)
            .await
            .context("raw TCP flush")?;
        // Kept open until the receiver has read everything.
        anyhow::Ok(stream)
    });
    let end = receiver.await.context("raw TCP receiver task")??;
    let _stream = sender.await.context("raw TCP sender task")??;
    Ok(end.duration_since(start))
}

/// The same bytes over one loopback TCP connection encrypted with libp2p's
/// Noise handshake and framing, nothing else: the time from the first
/// write (after the handshake) to the last byte read.
pub(super) async fn noise_tcp(photos: &Photos) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("bind the Noise listener")?;
    let addr = listener.local_addr().context("Noise listener address")?;
    let total = photos.bytes;
    let server_key = Keypair::generate_ed25519();
    let client_key = Keypair::generate_ed25519();
    let responder = noise::Config::new(&server_key).context("Noise responder")?;
    let initiator = noise::Config::new(&client_key).context("Noise initiator")?;
    let receiver = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.context("accept Noise TCP")?;
        stream.set_nodelay(true).context("Noise TCP nodelay")?;
        let (_, mut secure) = responder
            .upgrade_inbound(libp2p::tcp::tokio::TcpStream(stream), "/noise")
            .await
            .context("Noise handshake, responder")?;
        let mut buf = vec![0u8; TCP_READ_BYTES];
        let mut got = 0u64;
        while got < total {
            let n = secure.read(&mut buf).await.context("Noise read")?;
            anyhow::ensure!(n > 0, "Noise sender closed after {got} of {total} bytes");
            got += n as u64;
        }
        anyhow::Ok(Instant::now())
    });
    let stream = TcpStream::connect(addr)
        .await
        .context("connect Noise TCP")?;
    stream.set_nodelay(true).context("Noise TCP nodelay")?;
    let (_, mut secure) = initiator
        .upgrade_outbound(libp2p::tcp::tokio::TcpStream(stream), "/noise")
        .await
        .context("Noise handshake, initiator")?;
    let memory = Arc::clone(&photos.memory);
    let hashes = photos.hashes.clone();
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        for hash in &hashes {
            let (photo, _) = memory.get(hash).context("a photo went missing")?;
            secure.write_all(photo).await.context("Noise write")?;
        }
        secure.flush().await.context("Noise flush")?;
        anyhow::Ok(secure)
    });
    let end = receiver.await.context("Noise receiver task")??;
    let _secure = sender.await.context("Noise sender task")??;
    Ok(end.duration_since(start))
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
