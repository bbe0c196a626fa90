//! `/yizhan/blob/1`: chunk requests and responses, bare and through the
//! length-prefixed codec.
//!
//! The body is `node::fuzz_targets::blob_frame`, which the corpus replay test
//! (`node/tests/fuzz_corpus.rs`) also runs on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(init: node::fuzz_targets::libfuzzer_init(), |data: &[u8]| {
    node::fuzz_targets::libfuzzer_run(node::fuzz_targets::blob_frame, data)
});
