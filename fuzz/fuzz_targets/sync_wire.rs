//! `/yizhan/sync/1` messages: the envelope, the Automerge sync message and
//! the proof it carries.
//!
//! The body is `node::fuzz_targets::sync_wire`, which the corpus replay test
//! (`node/tests/fuzz_corpus.rs`) also runs on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(init: node::fuzz_targets::libfuzzer_init(), |data: &[u8]| {
    node::fuzz_targets::libfuzzer_run(node::fuzz_targets::sync_wire, data)
});
