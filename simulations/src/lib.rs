//! Deterministic simulations of Yizhan federations.
//!
//! A [`scenario::Scenario`] (read from TOML) describes a federation — one
//! district, its streets and communities — what its people do per simulated
//! hour, the network's quality and the faults to inject. [`run::run_seed`]
//! builds the federation with keys derived from the seed and real admission
//! chains, runs every node's real sync engine ([`yizhan_engine::Engine`] with
//! the [`node::trust::FederationPolicy`]) over an in-memory store that checks
//! signed changes as the node does, drives them through a seeded network
//! (latency, loss, duplication, reordering, cut links, restarts that keep or
//! lose the store) on a simulated clock, drives trust as the node's daemon
//! does ([`trust`]: charters read, cut-offs witnessed, revoked and lapsed
//! peers dropped, revocations and reinstatements as faults), and checks the
//! invariants in [`invariants`] once everything is quiet. The same seed
//! replays the same run, message by message.
//!
//! The `simulations` binary runs a scenario for a list of seeds and prints a
//! table; see `simulations/README.md`.

pub mod bench;
pub mod cpu;
pub mod cutoffs;
pub mod escrow;
pub mod faults;
pub mod federation;
pub mod invariants;
pub mod mutation;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod store;
pub mod trust;
pub mod workload;
