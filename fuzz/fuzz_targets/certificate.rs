//! A service certificate file (JSON or `yzc1.` text) and a charter export,
//! as a platform verifying offline is handed them.
//!
//! The body is `node::fuzz_targets::certificate`, which the corpus replay test
//! (`node/tests/fuzz_corpus.rs`) also runs on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(init: node::fuzz_targets::libfuzzer_init(), |data: &[u8]| {
    node::fuzz_targets::libfuzzer_run(node::fuzz_targets::certificate, data)
});
