//! The serving side of the photo bench: a node answering range requests.

use super::*;

/// The serving node: answers range requests as the daemon's `on_blob` does
/// (without the admission check, a map lookup) until told to stop.
pub(super) async fn serve_photos(
    mut swarm: Swarm<Behaviour>,
    fetcher: PeerId,
    serving: Serving,
    photos: (Arc<Store>, Arc<InMemory>),
    listening: oneshot::Sender<Multiaddr>,
    mut stop: oneshot::Receiver<()>,
) -> anyhow::Result<Served> {
    // The daemon opens its blob gate to a peer it admitted; the fetcher is
    // admitted from the start here.
    swarm.behaviour_mut().blob.open(fetcher);
    let mut listening = Some(listening);
    let mut served = Served::default();
    let (store, memory) = photos;
    loop {
        let event = tokio::select! {
            _ = &mut stop => return Ok(served),
            event = swarm.select_next_some() => event,
        };
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                if let Some(tx) = listening.take() {
                    // The receiver only goes away when the run is abandoned.
                    let _ = tx.send(address);
                }
            }
            SwarmEvent::ListenerError { error, .. } => {
                anyhow::bail!("the serving node's listener failed: {error}");
            }
            SwarmEvent::ListenerClosed { reason, .. } => {
                anyhow::bail!("the serving node stopped listening: {reason:?}");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Blob(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            })) => {
                let t = Instant::now();
                let decoded = match &request {
                    Frame::Bytes(b) => ChunkRequest::decode(b).ok(),
                    Frame::Oversized { .. } => None,
                };
                let resp = match (decoded, serving) {
                    (None, _) => ChunkResponse::Refused,
                    // Through a view of its own per request, as the daemon
                    // serves (`daemon::blobs`).
                    (Some(req), Serving::Store) => serve_from_store(&store.read_only_view(), &req),
                    (Some(req), Serving::Memory) => {
                        let held = memory.get(&req.hash).map(|(b, t)| (&b[..], t));
                        serve(&req, held).context("serve a photo from memory")?
                    }
                };
                let bytes = resp.encode();
                served.answering += t.elapsed();
                served.requests += 1;
                // Fails only when the requester is gone; the fetching side
                // reports that.
                let _ = swarm.behaviour_mut().blob.send_response(channel, bytes);
            }
            _ => {}
        }
    }
}
