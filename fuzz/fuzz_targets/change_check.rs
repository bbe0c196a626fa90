//! Changes a peer sends: the proof decoder, the signature and write-right
//! check, and the write rules.
//!
//! The body is `node::fuzz_targets::change_check`, which the corpus replay test
//! (`node/tests/fuzz_corpus.rs`) also runs on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(init: node::fuzz_targets::libfuzzer_init(), |data: &[u8]| {
    node::fuzz_targets::libfuzzer_run(node::fuzz_targets::change_check, data)
});
