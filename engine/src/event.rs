//! What goes into the engine ([`Input`]) and what comes out ([`Output`]).

use crdt_model::DocumentId;
use thiserror::Error;

use super::check_id::CheckId;
use super::docs::CheckOutcome;
use super::peer_key::PeerKey;

/// Something that happened, handed to [`super::Engine::handle`].
///
/// Not `Eq`: [`Input::Checked`] carries an Automerge message, which is only
/// `PartialEq`.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A connection to `peer` is open. `sync_states` are the states the driver
    /// persisted from [`Output::SaveSyncState`] for this peer (any order, any
    /// subset; an undecodable one is ignored and that document starts afresh).
    /// A `PeerUp` for a peer already up is a reconnect: its old sessions end
    /// first.
    PeerUp {
        /// Who connected.
        peer: PeerKey,
        /// Persisted sync states: document id and [`Output::SaveSyncState`] bytes.
        sync_states: Vec<(DocumentId, Vec<u8>)>,
    },
    /// The connection to `peer` closed. States worth keeping come out as
    /// [`Output::SaveSyncState`].
    PeerDown {
        /// Who disconnected.
        peer: PeerKey,
    },
    /// `bytes` arrived from `peer` on the sync protocol.
    Message {
        /// The sender.
        peer: PeerKey,
        /// One whole message as framed by the transport.
        bytes: Vec<u8>,
    },
    /// The node wrote to `doc` (or created it). Every local write must be
    /// reported, or peers learn of it only at the next inventory re-check.
    LocalChange {
        /// The document written.
        doc: DocumentId,
    },
    /// What this node accepts changed (its charter gained a revocation,
    /// reinstatement or cut-off): changes refused before may be acceptable
    /// now. Every session drops to its shared heads, so peers send again
    /// what this node lacks, and every peer is compared afresh.
    TrustChanged,
    /// The driver's answer to [`Output::Check`] `id`. `Err` refuses the whole
    /// message; `Ok` applies it, or [`CheckOutcome::filtered`] instead, and
    /// reports every [`CheckOutcome::refused`] change. An `id` the engine no
    /// longer holds (answered already, or its peer went down or reconnected
    /// since) is ignored.
    Checked {
        /// The id of the check answered.
        id: CheckId,
        /// What the check made of the message.
        result: Result<CheckOutcome, String>,
    },
    /// A timer asked for by [`Output::Wake`] fired (early or late ticks are
    /// harmless).
    Tick,
}

/// Work for the driver, returned by [`super::Engine::handle`] in the order it
/// should be done.
///
/// Not `Eq`: [`Output::Check`] carries an Automerge message.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `bytes` to `peer` as one message. A driver whose queue to the
    /// peer is full may drop it: the engine recovers as from network loss.
    Send {
        /// The receiver.
        peer: PeerKey,
        /// One whole message.
        bytes: Vec<u8>,
    },
    /// Persist the sync state of (`peer`, `doc`) and hand it back in the next
    /// [`Input::PeerUp`] for this peer, so a reconnect sends only what changed.
    SaveSyncState {
        /// The peer.
        peer: PeerKey,
        /// The document.
        doc: DocumentId,
        /// `automerge::sync::State::encode` output.
        state: Vec<u8>,
    },
    /// Check the changes a sync message from `peer` carries for `doc`
    /// against `proof`, before anything of it is applied: who wrote them and
    /// whether they may. Called for every sync message, with changes or
    /// without, so heads naming refused changes can be stripped. Answer with
    /// [`Input::Checked`] and the same `id`, now or later; the engine holds
    /// the message meanwhile, and messages for the same document from the
    /// same peer wait behind it (see `docs/protocol.md`).
    Check {
        /// Names this check in the answer.
        id: CheckId,
        /// The sender.
        peer: PeerKey,
        /// The document the message is for.
        doc: DocumentId,
        /// The decoded Automerge sync message.
        message: automerge::sync::Message,
        /// The sender's proof of authorship, as received.
        proof: Vec<u8>,
    },
    /// Call `handle(Input::Tick, ..)` at or after `at_ms`. Each `Wake`
    /// replaces the previous one.
    Wake {
        /// Engine time in ms, on the clock passed to `handle`.
        at_ms: u64,
    },
    /// Input from `peer` was refused; nothing it carried was applied. For logs
    /// and metrics: the engine has already done what it should.
    Refused {
        /// The peer whose input was refused.
        peer: PeerKey,
        /// Why.
        reason: Refusal,
    },
    /// `doc` is at the same heads here and at `peer`: a sync session for it
    /// finished so, or the summaries showed everything shared with `peer`
    /// equal (reported once per settled state, for every shared document).
    Synced {
        /// The peer.
        peer: PeerKey,
        /// The document.
        doc: DocumentId,
    },
}

/// Why input was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The message is larger than the protocol allows.
    #[error("message of {bytes} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The peer speaks a protocol version this node does not.
    #[error("protocol version {version} is not supported (this node speaks {supported})")]
    UnknownVersion {
        /// The version received.
        version: u32,
        /// The version spoken here.
        supported: u32,
    },
    /// The bytes do not decode as a message.
    #[error("malformed message: {why}")]
    Malformed {
        /// What the decoder said.
        why: String,
    },
    /// Changes whose authorship or write right does not check out.
    #[error("refused changes to {doc}: {why}")]
    Forged {
        /// The document.
        doc: DocumentId,
        /// What failed.
        why: String,
    },
    /// The peer's changes reuse a sequence number of an actor for a
    /// different change than the one held here: two copies of one node wrote
    /// under one actor (typically a store restored by copying the file). No
    /// replica can hold both; syncing this document with this peer cannot
    /// succeed, so the engine stops asking for it on this connection.
    #[error("sequence clash in {doc}: {why}")]
    SequenceClash {
        /// The document.
        doc: DocumentId,
        /// Which actor and sequence number.
        why: String,
    },
    /// The message decodes but breaks a protocol rule.
    #[error("protocol violation: {why}")]
    Violation {
        /// The rule broken.
        why: &'static str,
    },
    /// The Automerge sync message inside could not be decoded or applied.
    #[error("bad sync message for {doc}: {why}")]
    BadSyncMessage {
        /// The document.
        doc: DocumentId,
        /// What Automerge said.
        why: String,
    },
    /// The access policy forbids exchanging this document with the peer.
    #[error("{doc} may not be exchanged with this peer")]
    Denied {
        /// The document.
        doc: DocumentId,
    },
    /// The peer asked for sessions on more documents than allowed.
    #[error("more than {max} documents with one peer")]
    TooManyDocs {
        /// The limit.
        max: usize,
    },
    /// Too many peers are connected; this one is ignored until a slot frees.
    #[error("more than {max} peers connected")]
    TooManyPeers {
        /// The limit.
        max: usize,
    },
    /// A message came from a peer that is not up.
    #[error("message from a peer that is not connected")]
    UnknownPeer,
    /// Our own sync message for `doc` would exceed the limit, so it was not
    /// sent; the document cannot sync with this peer until it is compacted
    /// or split.
    #[error("outgoing sync message for {doc} of {bytes} bytes exceeds {max} bytes")]
    OutgoingTooLarge {
        /// The document.
        doc: DocumentId,
        /// Size of the message that was not sent.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}
