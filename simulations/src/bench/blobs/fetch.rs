//! The fetching side of the photo bench: photos assembled from verified
//! ranges and committed to the fetching store.

use super::*;

/// The fetching node's state: the daemon's `start_fetches` and the response
/// arm of its `on_blob`, one range in flight per photo.
struct Fetcher {
    server: PeerId,
    queue: VecDeque<BlobHash>,
    photos: HashMap<BlobHash, Assembly>,
    /// Where verified ranges are kept as they arrive, as the daemon keeps
    /// them (when photos are stored), and how much of each is there.
    partials: Option<PartialBlobs>,
    kept: HashMap<BlobHash, u64>,
    requests: HashMap<OutboundRequestId, BlobHash>,
    stats: Fetched,
    range_bytes: u32,
}

impl Fetcher {
    fn send(&mut self, swarm: &mut Swarm<Behaviour>, req: ChunkRequest) {
        let id = swarm
            .behaviour_mut()
            .blob
            .send_request(&self.server, Frame::Bytes(req.encode()));
        self.requests.insert(id, req.hash);
        self.stats.requests += 1;
    }

    fn start(&mut self, swarm: &mut Swarm<Behaviour>) {
        while self.photos.len() < PHOTOS_IN_FLIGHT {
            let Some(hash) = self.queue.pop_front() else {
                return;
            };
            let mut assembly = Assembly::new(hash, crdt_model::report::ATTACHMENT_BYTES_MAX)
                .with_range_bytes(self.range_bytes);
            let first = assembly.first();
            self.photos.insert(hash, assembly);
            self.send(swarm, first);
        }
    }

    /// Takes a range and asks for the next; returns the photo (hash, bytes
    /// and the tree they were verified against) once it is all here. The
    /// caller keeps it, then calls [`Fetcher::start`] for the freed slot.
    fn on_response(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        id: OutboundRequestId,
        response: &[u8],
    ) -> anyhow::Result<Option<FetchedPhoto>> {
        let hash = self
            .requests
            .remove(&id)
            .context("a response to a request never sent")?;
        let assembly = self
            .photos
            .get_mut(&hash)
            .with_context(|| format!("a range of photo {hash}, which is not being fetched"))?;
        let resp =
            ChunkResponse::decode(response).with_context(|| format!("a range of photo {hash}"))?;
        self.stats.received += response.len() as u64;
        let t = Instant::now();
        let progress = assembly.accept(resp);
        self.stats.assembling += t.elapsed();
        match progress {
            Progress::Next(next) => {
                // The daemon's `keep_partial`: the new verified bytes and
                // the tree, unsynced, on the swarm's task.
                if let (Some(partials), Some((total, tree, bytes))) =
                    (&self.partials, assembly.kept())
                {
                    let from = self.kept.get(&hash).copied().unwrap_or(0);
                    partials
                        .save(&hash, total, tree, bytes, from)
                        .context("keep a partial photo")?;
                    self.kept.insert(hash, bytes.len() as u64);
                }
                self.send(swarm, next);
                Ok(None)
            }
            Progress::Done(bytes) => {
                let tree = assembly
                    .take_tree()
                    .with_context(|| format!("photo {hash} done without its tree"))?;
                self.photos.remove(&hash);
                // The daemon's `hand_to_writer`: the rest into the partial
                // file, which the writer renames into the store.
                let kept = self.kept.remove(&hash).unwrap_or(0);
                let partial = match &self.partials {
                    Some(partials) => {
                        partials
                            .save(&hash, tree.tree.size(), &tree.data, &bytes, kept)
                            .context("complete a partial photo")?;
                        Some(partials.data_file(&hash))
                    }
                    None => None,
                };
                Ok(Some((hash, bytes, tree, partial)))
            }
            Progress::NotHeld => anyhow::bail!("the serving node does not hold photo {hash}"),
            Progress::Refused => anyhow::bail!("the serving node would not serve photo {hash}"),
            Progress::Failed(why) => anyhow::bail!("photo {hash} refused: {why}"),
        }
    }
}

/// A photo fetched and verified: its hash, bytes, tree, and the partial
/// file holding its bytes (the daemon's `BlobWrite`).
pub(super) type FetchedPhoto = BlobWrite;

/// Stores `photos` with the daemon's own `store_blobs` (each renamed from
/// its partial file when it has one, else written with
/// `put_verified_blob`; no second hash) in one batch: one directory sync.
pub(super) fn commit_fetched(store: &Store, photos: &[FetchedPhoto]) -> anyhow::Result<()> {
    for (r, (hash, ..)) in store_blobs(store, photos).into_iter().zip(photos) {
        r.map_err(|e| anyhow::anyhow!("store photo {hash}: {e}"))?;
    }
    Ok(())
}

/// The writer thread of [`Keeping::Writer`], as the daemon's: every photo
/// queued since its last commit (at most [`PHOTOS_IN_FLIGHT`]) goes in one
/// batch, then their partial files go (the daemon's `blob_stored`); it
/// reports how many each commit stored and the time it took, and hands
/// the store back at the end.
pub(super) fn write_photos(
    store: Store,
    partials: PartialBlobs,
    mut photos: mpsc::Receiver<FetchedPhoto>,
    committed: mpsc::Sender<(usize, Duration)>,
) -> anyhow::Result<Store> {
    while let Some(first) = photos.blocking_recv() {
        let mut group = vec![first];
        while group.len() < PHOTOS_IN_FLIGHT {
            match photos.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let t = Instant::now();
        commit_fetched(&store, &group)?;
        for (hash, ..) in &group {
            partials.discard(hash);
        }
        if committed.blocking_send((group.len(), t.elapsed())).is_err() {
            break;
        }
    }
    Ok(store)
}

/// Where the fetching side's photos go.
pub(super) enum Sink {
    Nothing,
    Writer {
        photos: mpsc::Sender<FetchedPhoto>,
        committed: mpsc::Receiver<(usize, Duration)>,
        thread: tokio::task::JoinHandle<anyhow::Result<Store>>,
    },
}

/// Waits for the writer thread's next commit, if there is a writer: how
/// many photos it stored, in how long.
async fn next_commit(sink: &mut Sink) -> Option<(usize, Duration)> {
    match sink {
        Sink::Writer { committed, .. } => committed.recv().await,
        Sink::Nothing => std::future::pending().await,
    }
}

/// The fetching node: dials `server` at `addr`, then fetches every photo of
/// `hashes` and returns once the last is stored.
pub(super) async fn fetch_photos(
    mut swarm: Swarm<Behaviour>,
    server: PeerId,
    addr: Multiaddr,
    hashes: Vec<BlobHash>,
    mut sink: Sink,
    range_bytes: u32,
    partials: Option<PartialBlobs>,
) -> anyhow::Result<Fetched> {
    swarm
        .dial(addr.with(Protocol::P2p(server)))
        .context("dial the serving node")?;
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == server => break,
            SwarmEvent::OutgoingConnectionError { error, .. } => {
                anyhow::bail!("cannot reach the serving node: {error}");
            }
            _ => {}
        }
    }
    let want = hashes.len();
    let mut stored = 0;
    let mut f = Fetcher {
        server,
        queue: hashes.iter().copied().collect(),
        photos: HashMap::new(),
        partials,
        kept: HashMap::new(),
        requests: HashMap::new(),
        stats: Fetched::default(),
        range_bytes,
    };
    let start = Instant::now();
    f.start(&mut swarm);
    while stored < want {
        let event = tokio::select! {
            event = swarm.select_next_some() => event,
            commit = next_commit(&mut sink) => {
                let Some((photos, spent)) = commit else {
                    break;
                };
                stored += photos;
                f.stats.storing += spent;
                continue;
            }
        };
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Blob(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            })) => {
                let Some(photo) = f.on_response(&mut swarm, request_id, &response)? else {
                    continue;
                };
                match &sink {
                    Sink::Nothing => stored += 1,
                    Sink::Writer { photos, .. } => {
                        // Waits only when the writer is a whole window behind.
                        if photos.send(photo).await.is_err() {
                            break;
                        }
                    }
                }
                f.start(&mut swarm);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Blob(
                request_response::Event::OutboundFailure { error, .. },
            )) => anyhow::bail!("a range request failed: {error}"),
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } if peer_id == server => {
                anyhow::bail!("the serving node hung up: {cause:?}");
            }
            _ => {}
        }
    }
    f.stats.elapsed = start.elapsed();
    let store = match sink {
        Sink::Nothing => None,
        Sink::Writer { photos, thread, .. } => {
            drop(photos);
            Some(thread.await.context("writer thread")??)
        }
    };
    anyhow::ensure!(
        stored == want,
        "the writer stopped after {stored} of {want} photos"
    );
    if let Some(store) = store {
        for hash in &hashes {
            anyhow::ensure!(
                store.has_blob(hash).context("look up a fetched photo")?,
                "photo {hash} was fetched but is not in the store"
            );
        }
    }
    Ok(f.stats)
}
