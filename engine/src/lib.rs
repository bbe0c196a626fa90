//! Yizhan's sans-IO sync engine: reconciles documents with peers and runs
//! Automerge's sync protocol over an unreliable network.
//!
//! How to drive it: build one [`Engine`] per node with an [`EngineConfig`], a
//! [`Policy`] and a seed. Give it every event as an [`Input`] —
//! [`Input::PeerUp`] with the sync states persisted for that peer,
//! [`Input::Message`] for every message received, [`Input::LocalChange`]
//! after every local write, [`Input::PeerDown`], and [`Input::Tick`] when the
//! last [`Output::Wake`] comes due — together with the time in ms and the
//! node's documents behind the [`Docs`] trait. Do the returned [`Output`]s in
//! order: send messages, persist sync states, set the timer, and check the
//! changes of every received sync message ([`Output::Check`]), answering
//! each with [`Input::Checked`] and its [`CheckId`]. A driver that checks on
//! the spot can call [`Engine::handle_and_check`], which feeds the answers
//! back until no check is left.
//!
//! Nothing here does IO, reads a clock, spawns a task or depends on tokio,
//! libp2p or redb, and this crate's manifest is what enforces it: the node's
//! driver (`node/src/daemon/sync.rs`) and the simulator run the same engine.
//! The wire format and the state machines are described in
//! `docs/protocol.md`.

mod check;
mod check_id;
mod config;
mod digest;
mod docs;
mod event;
mod frame_coding;
mod outbox;
mod park;
mod peer;
mod peer_key;
mod policy;
mod prepared;
mod push;
mod reconcile;
mod retry;
mod session;
mod step;
mod sync_engine;
pub mod wire;

#[cfg(test)]
mod tests;

pub use check::CheckStats;
pub use check_id::CheckId;
pub use config::{
    ANSWER_BYTES_PER_CALL_MAX, CHECK_BYTES_PER_PEER_MAX, CHECK_QUEUE_PER_PEER_MAX,
    CHECKS_IN_FLIGHT_PER_PEER_MAX, EngineConfig, INVENTORY_QUEUE_PER_PEER_MAX,
    INVENTORY_REQUESTS_PER_PEER_MAX, LINK_BYTES_PER_S_MIN, PEER_DOCS_MAX, PEERS_MAX,
    PENDING_SESSIONS_PER_PEER_MAX, RECHECK_MS_MIN, REPLY_TIMEOUT_MS, REPLY_TIMEOUT_MS_MIN,
    RETRY_BACKOFF_MS_MAX, SESSIONS_ACTIVE_PER_PEER_MAX, SYNC_BYTES_IN_FLIGHT_PER_PEER_MAX,
};
pub use digest::Digest;
pub use docs::{CheckOutcome, Docs, MemDocs};
pub use event::{Input, Output, Refusal};
pub use peer_key::PeerKey;
pub use policy::{AllowAll, Policy, never_leaves};
pub use prepared::Prepared;
pub use sync_engine::{Engine, PeerStatus};
pub use wire::{MESSAGE_BYTES_MAX, PROTOCOL_VERSION, SYNC_MESSAGE_BYTES_MAX};
