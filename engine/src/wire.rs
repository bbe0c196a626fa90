//! The wire format: a versioned envelope around seven messages, encoded with
//! postcard, with the protocol's size limits. See `docs/protocol.md`.
//!
//! Every message is `varint(version) ++ coding ++ body`, where the body is
//! `postcard(Message)`, as is or deflated (`frame_coding`). The version is
//! read first, so a peer speaking another version is told apart from garbage.
//! Decoding never panics and never allocates more than the input's size, or
//! for a deflated body one byte more than the length it declares, itself
//! within [`MESSAGE_BYTES_MAX`].

use crdt_model::{DocumentId, PlaceId};
use serde::{Deserialize, Serialize};

use super::digest::Digest;
use super::event::Refusal;
use super::frame_coding::{self, DEFLATED, PLAIN};

/// The protocol version this engine speaks, first field of every message.
/// Version 2 added [`Message::Batch`]; version 3 the coding byte and
/// deflated bodies. Peers on earlier versions are refused as such.
pub const PROTOCOL_VERSION: u32 = 3;
/// Largest Automerge sync message carried in one [`SyncData`].
pub const SYNC_MESSAGE_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Room for everything around the sync payload (version, tags, document id).
pub const ENVELOPE_OVERHEAD_BYTES_MAX: usize = 16 * 1024;
/// Largest proof of authorship carried with one sync message.
pub const PROOF_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Largest message accepted or sent, whatever its kind, on the wire and,
/// for a deflated body, inflated.
pub const MESSAGE_BYTES_MAX: usize =
    SYNC_MESSAGE_BYTES_MAX + PROOF_BYTES_MAX + ENVELOPE_OVERHEAD_BYTES_MAX;
/// Most entries in one [`Inventory`]; larger nodes are sent in key ranges.
pub const INVENTORY_ENTRIES_MAX: usize = 1024;
/// Most sync messages in one [`Message::Batch`]: as many as one inventory
/// can name, so the documents one answer finds different can all start in
/// one frame.
pub const BATCH_ENTRIES_MAX: usize = 1024;
/// A sender packs sync messages into one [`Message::Batch`] until it holds
/// this many bytes of payload (a sender's choice, not checked on receipt:
/// the receiver's bound is [`MESSAGE_BYTES_MAX`] for the whole frame). Kept
/// well under the limit so one frame does not hold a slow link for long.
pub const BATCH_BYTES_TARGET: usize = 1024 * 1024;

/// One protocol message (version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// One hash over everything the sender shares with the receiver.
    Summary(Summary),
    /// "Send me your digests of the children of this place."
    InventoryRequest(InventoryRequest),
    /// The answer: the sender's digests of the children of one place, within
    /// a key range.
    Inventory(Inventory),
    /// A document changed at the sender.
    Announce(Announce),
    /// One Automerge sync message for one document.
    Sync(SyncData),
    /// The sender will not exchange this document with the receiver.
    Deny(Deny),
    /// Several documents' sync messages in one frame, each handled as if it
    /// came alone, in order (at least two, at most [`BATCH_ENTRIES_MAX`]).
    Batch(Vec<SyncData>),
}

impl Message {
    /// The sync messages this message carries: one for [`Message::Sync`],
    /// every entry of a [`Message::Batch`], none otherwise.
    pub fn syncs(&self) -> &[SyncData] {
        match self {
            Message::Sync(s) => std::slice::from_ref(s),
            Message::Batch(b) => b,
            _ => &[],
        }
    }
}

/// The digest of every document the sender shares with the receiver. Equal
/// summaries mean nothing to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Subtree digest of the root: every shared, non-empty document.
    pub digest: Digest,
    /// Answer with your own summary (sent on connect and on re-checks; the
    /// answer has `reply: false`, so there is no loop).
    pub reply: bool,
}

/// A child of a node in the place tree: a place one level down, or a
/// document that lives at the node itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ChildKey {
    /// A place whose parent is the node (a district, under the root).
    Place(PlaceId),
    /// A document whose place is the node.
    Doc(DocumentId),
}

/// Asks for the receiver's children of `node` from key `from` on. Answered
/// by exactly one [`Inventory`]; the asker retries if it does not come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRequest {
    /// The place whose children are wanted; `None` for the root (districts).
    pub node: Option<PlaceId>,
    /// First key wanted; `None` for the start.
    pub from: Option<ChildKey>,
}

/// The answer to an [`InventoryRequest`]: the sender's children of `node`
/// whose keys lie in `[from, to)`. The asker compares only its own children
/// in that range; if `to` is set, it asks again from `to` for the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The place whose children these are; `None` for the root (districts).
    pub node: Option<PlaceId>,
    /// First key covered; `None` for the start.
    pub from: Option<ChildKey>,
    /// First key not covered; `None` when the answer reaches the end.
    pub to: Option<ChildKey>,
    /// Children in strictly ascending key order, each with its digest:
    /// a document's heads digest, or a place's subtree digest.
    pub entries: Vec<(ChildKey, Digest)>,
}

/// "`doc` now has heads with this digest": the receiver pulls if it differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announce {
    /// The document that changed.
    pub doc: DocumentId,
    /// Its heads digest at the sender.
    pub digest: Digest,
}

/// An Automerge sync message for `doc`, with two engine flags.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncData {
    /// The document.
    pub doc: DocumentId,
    /// Answer even if you have nothing new: the sender does not know your
    /// heads yet (session start or restart).
    pub reply: bool,
    /// The sender's sync state is fresh; forget which changes you think you
    /// sent it, since any of them may have been lost.
    pub reset: bool,
    /// `automerge::sync::Message::encode` output.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    /// Proof of authorship for the changes `data` carries (signatures and
    /// author credentials), produced and checked by the driver's [`super::Docs`].
    #[serde(with = "serde_bytes")]
    pub proof: Vec<u8>,
}

impl std::fmt::Debug for SyncData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncData")
            .field("doc", &self.doc)
            .field("reply", &self.reply)
            .field("reset", &self.reset)
            .field("data_bytes", &self.data.len())
            .field("proof_bytes", &self.proof.len())
            .finish()
    }
}

/// "I will not exchange `doc` with you": sent instead of an answer to a
/// [`SyncData`] the policy refuses, so the peer stops retrying it for the
/// rest of the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deny {
    /// The document refused.
    pub doc: DocumentId,
}

/// Why a message could not be encoded (only if a serializer fails, which the
/// types above never make it do).
#[derive(Debug, thiserror::Error)]
#[error("encoding a message failed: {0}")]
pub struct EncodeError(#[from] postcard::Error);

/// Encodes `message` in the current envelope, its body deflated when that
/// saves enough to be worth the receiver's inflating (`frame_coding`).
pub fn encode(message: &Message) -> Result<Vec<u8>, EncodeError> {
    let body = postcard::to_allocvec(message)?;
    let mut out = postcard::to_allocvec(&PROTOCOL_VERSION)?;
    match frame_coding::deflate(&body) {
        Some(deflated) => {
            out.push(DEFLATED);
            out.extend(postcard::to_allocvec(&(body.len() as u64))?);
            out.extend(deflated);
        }
        None => {
            out.push(PLAIN);
            out.extend(body);
        }
    }
    Ok(out)
}

/// What decoding `bytes` would cost the receiver, in bytes: the length a
/// deflated body declares, or the frame's own length. A driver charges a
/// peer's traffic budget with this before handing the frame on, so a small
/// frame that inflates to megabytes is paid for as megabytes.
pub fn charged_len(bytes: &[u8]) -> usize {
    deflated_header(bytes)
        .map(|(declared, _)| usize::try_from(declared).unwrap_or(usize::MAX))
        .unwrap_or(0)
        .max(bytes.len())
}

/// The declared length and the deflated stream of a well-formed deflated
/// frame of this version; `None` for anything else.
fn deflated_header(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (version, rest) = postcard::take_from_bytes::<u32>(bytes).ok()?;
    let (&coding, rest) = rest.split_first()?;
    if version != PROTOCOL_VERSION || coding != DEFLATED {
        return None;
    }
    postcard::take_from_bytes::<u64>(rest).ok()
}

/// Decodes and validates one message. Refuses oversized input (on the wire
/// or declared), other versions, unknown codings, bodies that do not inflate
/// to their declared length, malformed bytes, trailing bytes and rule
/// violations.
pub fn decode(bytes: &[u8]) -> Result<Message, Refusal> {
    if bytes.len() > MESSAGE_BYTES_MAX {
        return Err(Refusal::TooLarge {
            bytes: bytes.len(),
            max: MESSAGE_BYTES_MAX,
        });
    }
    let (version, rest) = postcard::take_from_bytes::<u32>(bytes).map_err(malformed)?;
    if version != PROTOCOL_VERSION {
        return Err(Refusal::UnknownVersion {
            version,
            supported: PROTOCOL_VERSION,
        });
    }
    let inflated;
    let body = match rest.split_first() {
        Some((&PLAIN, body)) => body,
        Some((&DEFLATED, _)) => {
            let (declared, deflated) =
                deflated_header(bytes).ok_or_else(|| Refusal::Malformed {
                    why: "deflated body without its length".into(),
                })?;
            let declared = usize::try_from(declared)
                .ok()
                .filter(|&d| d <= MESSAGE_BYTES_MAX)
                .ok_or(Refusal::TooLarge {
                    bytes: usize::try_from(declared).unwrap_or(usize::MAX),
                    max: MESSAGE_BYTES_MAX,
                })?;
            inflated = frame_coding::inflate(deflated, declared)?;
            &inflated[..]
        }
        Some((coding, _)) => {
            return Err(Refusal::Malformed {
                why: format!("unknown body coding {coding}"),
            });
        }
        None => {
            return Err(Refusal::Malformed {
                why: "no body coding".into(),
            });
        }
    };
    let (message, trailing) = postcard::take_from_bytes::<Message>(body).map_err(malformed)?;
    if !trailing.is_empty() {
        return Err(Refusal::Malformed {
            why: format!("{} bytes after the message", trailing.len()),
        });
    }
    validate(&message)?;
    Ok(message)
}

fn malformed(e: postcard::Error) -> Refusal {
    Refusal::Malformed { why: e.to_string() }
}

fn violation(why: &'static str) -> Refusal {
    Refusal::Violation { why }
}

fn validate(message: &Message) -> Result<(), Refusal> {
    match message {
        Message::Summary(_)
        | Message::InventoryRequest(_)
        | Message::Announce(_)
        | Message::Deny(_) => Ok(()),
        Message::Sync(sync) => validate_sync(sync),
        Message::Batch(batch) => {
            if batch.len() < 2 {
                return Err(violation("a batch carries fewer than two sync messages"));
            }
            if batch.len() > BATCH_ENTRIES_MAX {
                return Err(violation("a batch carries more sync messages than allowed"));
            }
            batch.iter().try_for_each(validate_sync)
        }
        Message::Inventory(inv) => validate_inventory(inv),
    }
}

fn validate_sync(sync: &SyncData) -> Result<(), Refusal> {
    if sync.data.len() > SYNC_MESSAGE_BYTES_MAX {
        return Err(Refusal::TooLarge {
            bytes: sync.data.len(),
            max: SYNC_MESSAGE_BYTES_MAX,
        });
    }
    if sync.proof.len() > PROOF_BYTES_MAX {
        return Err(Refusal::TooLarge {
            bytes: sync.proof.len(),
            max: PROOF_BYTES_MAX,
        });
    }
    Ok(())
}

fn validate_inventory(inv: &Inventory) -> Result<(), Refusal> {
    if inv.entries.len() > INVENTORY_ENTRIES_MAX {
        return Err(violation("inventory has more entries than allowed"));
    }
    if let (Some(from), Some(to)) = (&inv.from, &inv.to)
        && from >= to
    {
        return Err(violation("inventory range is empty or reversed"));
    }
    let mut previous: Option<&ChildKey> = None;
    for (key, _) in &inv.entries {
        if previous.is_some_and(|p| p >= key) {
            return Err(violation("inventory keys are not strictly ascending"));
        }
        previous = Some(key);
        if !in_range(key, inv.from.as_ref(), inv.to.as_ref()) {
            return Err(violation("inventory key outside its range"));
        }
        if !is_child(inv.node.as_ref(), key) {
            return Err(violation("inventory key is not a child of its node"));
        }
    }
    Ok(())
}

/// True when `key` lies in `[from, to)`.
pub(crate) fn in_range(key: &ChildKey, from: Option<&ChildKey>, to: Option<&ChildKey>) -> bool {
    from.is_none_or(|f| key >= f) && to.is_none_or(|t| key < t)
}

/// True when `key` is a direct child of `node` (`None` = root).
pub(crate) fn is_child(node: Option<&PlaceId>, key: &ChildKey) -> bool {
    match key {
        ChildKey::Place(place) => place.parent().as_ref() == node,
        ChildKey::Doc(doc) => node == Some(doc.place()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> DocumentId {
        DocumentId::parse(s).unwrap()
    }

    fn place(s: &str) -> PlaceId {
        PlaceId::parse(s).unwrap()
    }

    fn sample_messages() -> Vec<Message> {
        vec![
            Message::Summary(Summary {
                digest: Digest([3; 32]),
                reply: true,
            }),
            Message::InventoryRequest(InventoryRequest {
                node: Some(place("guandu/yiliu")),
                from: Some(ChildKey::Doc(doc("guandu/yiliu/tasks"))),
            }),
            Message::Inventory(Inventory {
                node: Some(place("guandu")),
                from: None,
                to: None,
                entries: vec![
                    (ChildKey::Place(place("guandu/yiliu")), Digest([1; 32])),
                    (ChildKey::Doc(doc("guandu/charter")), Digest([2; 32])),
                ],
            }),
            Message::Announce(Announce {
                doc: doc("guandu/yiliu/tasks"),
                digest: Digest([9; 32]),
            }),
            Message::Sync(SyncData {
                doc: doc("guandu/yiliu/xinyazhou/reports/2026-11"),
                reply: false,
                reset: true,
                data: vec![0x42, 1, 2, 3],
                proof: Vec::new(),
            }),
            Message::Deny(Deny {
                doc: doc("guandu/yiliu/xinyazhou/roster"),
            }),
            Message::Batch(vec![sync_data("a", vec![1, 2]), sync_data("b", vec![3])]),
            // Long and repetitive, as a run of change chunks is: deflated.
            Message::Batch(vec![
                sync_data("a", b"change ".repeat(300)),
                sync_data("b", b"change ".repeat(300)),
            ]),
        ]
    }

    fn is_deflated(bytes: &[u8]) -> bool {
        bytes.get(1) == Some(&DEFLATED)
    }

    fn sync_data(community: &str, data: Vec<u8>) -> SyncData {
        SyncData {
            doc: doc(&format!("guandu/yiliu/{community}/reports/2026-11")),
            reply: true,
            reset: false,
            data,
            proof: vec![7],
        }
    }

    #[test]
    fn batches_are_bounded_and_their_entries_checked() {
        let one = Message::Batch(vec![sync_data("a", vec![1])]);
        let many = Message::Batch(
            (0..=BATCH_ENTRIES_MAX)
                .map(|i| sync_data(&format!("c{i}"), vec![]))
                .collect(),
        );
        for m in [one, many] {
            let bytes = encode(&m).unwrap();
            assert!(matches!(decode(&bytes), Err(Refusal::Violation { .. })));
        }
        let mut big = sync_data("b", vec![0; SYNC_MESSAGE_BYTES_MAX + 1]);
        big.proof.clear();
        let bytes = encode(&Message::Batch(vec![sync_data("a", vec![1]), big])).unwrap();
        assert!(matches!(decode(&bytes), Err(Refusal::TooLarge { .. })));
    }

    #[test]
    fn syncs_lists_what_a_message_carries() {
        for m in sample_messages() {
            let n = match &m {
                Message::Sync(_) => 1,
                Message::Batch(b) => b.len(),
                _ => 0,
            };
            assert_eq!(m.syncs().len(), n);
        }
    }

    #[test]
    fn every_message_round_trips() {
        for m in sample_messages() {
            let bytes = encode(&m).unwrap();
            assert_eq!(bytes.first(), Some(&(PROTOCOL_VERSION as u8)));
            assert_eq!(decode(&bytes).unwrap(), m);
        }
    }

    #[test]
    fn every_truncation_is_refused_without_panic() {
        for m in sample_messages() {
            let bytes = encode(&m).unwrap();
            for len in 0..bytes.len() {
                assert!(decode(&bytes[..len]).is_err(), "{m:?} cut at {len}");
            }
        }
    }

    #[test]
    fn long_repetitive_bodies_travel_deflated_and_are_charged_inflated() {
        let messages = sample_messages();
        let (short, long) = (&messages[0], messages.last().unwrap());
        let bytes = encode(short).unwrap();
        assert!(!is_deflated(&bytes));
        assert_eq!(charged_len(&bytes), bytes.len());
        let bytes = encode(long).unwrap();
        assert!(is_deflated(&bytes));
        let body = postcard::to_allocvec(long).unwrap();
        assert!(
            bytes.len() * 4 < body.len(),
            "{} of {}",
            bytes.len(),
            body.len()
        );
        assert_eq!(charged_len(&bytes), body.len());
        assert_eq!(&decode(&bytes).unwrap(), long);
    }

    /// A deflated frame of `body` declaring `declared` bytes.
    fn deflated_frame(body: &[u8], declared: u64) -> Vec<u8> {
        let mut bytes = postcard::to_allocvec(&(PROTOCOL_VERSION, DEFLATED, declared)).unwrap();
        bytes.extend(frame_coding::deflate(body).unwrap());
        bytes
    }

    #[test]
    fn a_bomb_is_charged_as_declared_and_refused_before_inflating() {
        let body = postcard::to_allocvec(sample_messages().last().unwrap()).unwrap();
        let declared = MESSAGE_BYTES_MAX as u64 + 1;
        let bytes = deflated_frame(&body, declared);
        assert_eq!(charged_len(&bytes), MESSAGE_BYTES_MAX + 1);
        assert_eq!(
            decode(&bytes),
            Err(Refusal::TooLarge {
                bytes: MESSAGE_BYTES_MAX + 1,
                max: MESSAGE_BYTES_MAX
            })
        );
        let huge = deflated_frame(&body, u64::MAX);
        assert!(matches!(decode(&huge), Err(Refusal::TooLarge { .. })));
        assert_eq!(charged_len(&huge), usize::MAX);
    }

    #[test]
    fn a_body_that_inflates_past_or_short_of_its_declared_length_is_refused() {
        let body = postcard::to_allocvec(sample_messages().last().unwrap()).unwrap();
        for declared in [0, body.len() as u64 - 1, body.len() as u64 + 1] {
            let bytes = deflated_frame(&body, declared);
            assert!(
                matches!(decode(&bytes), Err(Refusal::Malformed { .. })),
                "declared {declared} of {}",
                body.len()
            );
        }
        assert!(decode(&deflated_frame(&body, body.len() as u64)).is_ok());
    }

    #[test]
    fn an_unknown_coding_is_refused() {
        let mut bytes = encode(&sample_messages()[0]).unwrap();
        bytes[1] = 2;
        assert!(matches!(decode(&bytes), Err(Refusal::Malformed { .. })));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode(&sample_messages().remove(0)).unwrap();
        bytes.push(0);
        assert!(matches!(decode(&bytes), Err(Refusal::Malformed { .. })));
    }

    #[test]
    fn another_version_is_refused_as_such() {
        let bytes = postcard::to_allocvec(&(7u32, &sample_messages()[0])).unwrap();
        assert_eq!(
            decode(&bytes),
            Err(Refusal::UnknownVersion {
                version: 7,
                supported: PROTOCOL_VERSION
            })
        );
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let bytes = vec![1u8; MESSAGE_BYTES_MAX + 1];
        assert!(matches!(decode(&bytes), Err(Refusal::TooLarge { .. })));
    }

    #[test]
    fn invalid_document_ids_are_malformed() {
        // A Sync whose document id is not a valid id.
        let bytes =
            postcard::to_allocvec(&(PROTOCOL_VERSION, PLAIN, 4u32, "not/a/doc", false)).unwrap();
        assert!(matches!(decode(&bytes), Err(Refusal::Malformed { .. })));
    }

    #[test]
    fn inventory_rules_are_enforced() {
        let entry = |k: ChildKey| (k, Digest([0; 32]));
        let cases = [
            // a grandchild, not a child
            Inventory {
                node: None,
                from: None,
                to: None,
                entries: vec![entry(ChildKey::Place(place("guandu/yiliu")))],
            },
            // a document under the root
            Inventory {
                node: None,
                from: None,
                to: None,
                entries: vec![entry(ChildKey::Doc(doc("guandu/charter")))],
            },
            // descending keys
            Inventory {
                node: None,
                from: None,
                to: None,
                entries: vec![
                    entry(ChildKey::Place(place("b"))),
                    entry(ChildKey::Place(place("a"))),
                ],
            },
            // outside its range
            Inventory {
                node: None,
                from: Some(ChildKey::Place(place("m"))),
                to: None,
                entries: vec![entry(ChildKey::Place(place("a")))],
            },
            // reversed range
            Inventory {
                node: None,
                from: Some(ChildKey::Place(place("m"))),
                to: Some(ChildKey::Place(place("a"))),
                entries: vec![],
            },
            // too many entries
            Inventory {
                node: None,
                from: None,
                to: None,
                entries: (0..=INVENTORY_ENTRIES_MAX)
                    .map(|i| entry(ChildKey::Place(place(&format!("p{i:05}")))))
                    .collect(),
            },
        ];
        for inv in cases {
            let bytes = encode(&Message::Inventory(inv.clone())).unwrap();
            assert!(
                matches!(decode(&bytes), Err(Refusal::Violation { .. })),
                "{inv:?} should be refused"
            );
        }
    }
}
