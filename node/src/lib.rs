//! A Yizhan node: the durable store of Automerge documents and blobs, the
//! node's identity and configuration, and the local API that operators'
//! commands call.
//!
//! How to drive it: [`Node::init`] a data directory once, then [`Node::open`]
//! it and call its methods ([`Node::submit_report`], [`Node::reports`]...).
//! Every write is acknowledged only after its redb transaction is durable.
//! [`daemon`] runs the node on the network: it drives the sync [`engine`]
//! (the `yizhan-engine` crate) over libp2p ([`net`]) on top of the same store.

pub mod admin;
pub mod alerts;
pub mod api;
pub mod backup;
pub mod case_tally;
pub mod certificate;
pub mod check;
pub mod config;
pub mod daemon;
mod doc_export;
pub mod error;
pub mod error_code;
pub mod fuzz_targets;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod net;
pub mod privacy;
pub mod rebuild;
pub mod refusal;
pub mod repo;
pub mod report_import;
pub mod report_index;
pub mod requests;
pub mod store;
pub mod timezone;
pub mod trust;
pub mod workflow;

/// The sync engine, its own crate so that it cannot reach tokio, libp2p or
/// redb; re-exported so that `node::engine::…` paths keep working.
pub use yizhan_engine as engine;

pub use api::Node;
pub use config::{Config, Role};
pub use error::NodeError;
pub use identity::Identity;
