//! Deterministic simulations of Yizhan federations.
//!
//! This crate will drive many nodes' sync engines with in-memory stores over
//! a simulated network (seeded latency, loss, partitions, restarts) and check
//! the federation's invariants after quiescence. It holds no code yet: the
//! engine it drives is being built in `node::engine`, and the simulator lands
//! with the simulation work. Property tests of merge behaviour already live in
//! `crdt-model/tests/convergence.rs`.
