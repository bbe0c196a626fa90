//! Admission tokens (`yz1.`) and charter statements (`ys1.`): decoded,
//! verified and judged.
//!
//! The body is `node::fuzz_targets::admission_token`, which the corpus replay test
//! (`node/tests/fuzz_corpus.rs`) also runs on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(init: node::fuzz_targets::libfuzzer_init(), |data: &[u8]| {
    node::fuzz_targets::libfuzzer_run(node::fuzz_targets::admission_token, data)
});
