//! `Outbox`: sync messages waiting to leave, per peer, until the end of the
//! engine call that made them, then packed into as few frames as the size
//! target allows (`docs/protocol.md`, "Batches").
//!
//! Why: a first sync starts hundreds of sessions at once and a peer's batch
//! asks hundreds of answers in one call. One frame per document would cost
//! the transport a header, a stream and often a round of flow control each;
//! one frame for all of them costs one.

use std::collections::BTreeMap;

use super::event::Output;
use super::peer_key::PeerKey;
use super::wire::{self, BATCH_BYTES_TARGET, BATCH_ENTRIES_MAX, Message, SyncData};

/// Sync messages made during the current call, per peer, in order.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    per_peer: BTreeMap<PeerKey, Vec<SyncData>>,
    /// Bytes queued per peer, by [`weight`].
    bytes: BTreeMap<PeerKey, usize>,
}

/// Bytes a sync message adds to a frame, near enough for packing: its
/// payloads and id, and a few bytes of lengths and flags.
fn weight(s: &SyncData) -> usize {
    s.data.len() + s.proof.len() + s.doc.to_string().len() + 16
}

impl Outbox {
    /// Queues `sync` for `peer`.
    pub(crate) fn push(&mut self, peer: &PeerKey, sync: SyncData) {
        *self.bytes.entry(peer.clone()).or_default() += weight(&sync);
        self.per_peer.entry(peer.clone()).or_default().push(sync);
    }

    /// Bytes queued for `peer` in this call.
    pub(crate) fn bytes_for(&self, peer: &PeerKey) -> usize {
        self.bytes.get(peer).copied().unwrap_or(0)
    }

    /// Drops what was queued for `peer` (it went down).
    pub(crate) fn forget(&mut self, peer: &PeerKey) {
        self.per_peer.remove(peer);
        self.bytes.remove(peer);
    }

    /// Sends everything queued: per peer, in order, packed into frames of at
    /// most [`BATCH_ENTRIES_MAX`] messages and about [`BATCH_BYTES_TARGET`]
    /// bytes; a frame of one is a plain [`Message::Sync`].
    pub(crate) fn flush(&mut self, out: &mut Vec<Output>) {
        self.bytes.clear();
        for (peer, syncs) in std::mem::take(&mut self.per_peer) {
            let mut frame: Vec<SyncData> = Vec::new();
            let mut bytes = 0;
            for sync in syncs {
                let w = weight(&sync);
                let full = frame.len() >= BATCH_ENTRIES_MAX || bytes + w > BATCH_BYTES_TARGET;
                if !frame.is_empty() && full {
                    send(&peer, std::mem::take(&mut frame), out);
                    bytes = 0;
                }
                bytes += w;
                frame.push(sync);
            }
            if !frame.is_empty() {
                send(&peer, frame, out);
            }
        }
    }
}

fn send(peer: &PeerKey, mut frame: Vec<SyncData>, out: &mut Vec<Output>) {
    let message = match frame.pop() {
        Some(only) if frame.is_empty() => Message::Sync(only),
        Some(last) => {
            frame.push(last);
            Message::Batch(frame)
        }
        None => return,
    };
    match wire::encode(&message) {
        Ok(bytes) => out.push(Output::Send {
            peer: peer.clone(),
            bytes,
        }),
        Err(e) => tracing::error!(peer = %peer, error = %e, "sync messages not sent"),
    }
}

#[cfg(test)]
mod tests {
    use crdt_model::DocumentId;

    use super::*;

    fn sync(i: usize, bytes: usize) -> SyncData {
        SyncData {
            doc: DocumentId::parse(&format!("guandu/c{i}/tasks")).unwrap(),
            reply: false,
            reset: false,
            data: vec![0; bytes],
            proof: Vec::new(),
        }
    }

    fn frames(out: &[Output]) -> Vec<usize> {
        out.iter()
            .map(|o| match o {
                Output::Send { bytes, .. } => wire::decode(bytes).unwrap().syncs().len(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn one_message_goes_alone_and_many_share_frames_up_to_the_target() {
        let peer = PeerKey::new("p");
        let mut outbox = Outbox::default();
        let mut out = Vec::new();
        outbox.push(&peer, sync(0, 10));
        outbox.flush(&mut out);
        assert!(matches!(
            wire::decode(match &out[0] {
                Output::Send { bytes, .. } => bytes,
                _ => unreachable!(),
            }),
            Ok(Message::Sync(_))
        ));

        let mut out = Vec::new();
        let each = BATCH_BYTES_TARGET / 4;
        for i in 0..10 {
            outbox.push(&peer, sync(i, each));
        }
        outbox.flush(&mut out);
        assert_eq!(frames(&out), vec![3, 3, 3, 1]);

        let mut out = Vec::new();
        for i in 0..BATCH_ENTRIES_MAX + 5 {
            outbox.push(&peer, sync(i, 1));
        }
        outbox.flush(&mut out);
        assert_eq!(frames(&out), vec![BATCH_ENTRIES_MAX, 5]);
    }

    #[test]
    fn a_peer_gone_down_gets_nothing() {
        let peer = PeerKey::new("p");
        let mut outbox = Outbox::default();
        outbox.push(&peer, sync(0, 10));
        outbox.forget(&peer);
        let mut out = Vec::new();
        outbox.flush(&mut out);
        assert!(out.is_empty());
    }
}
