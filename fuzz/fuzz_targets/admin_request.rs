//! A JSON call on the admin socket.
//!
//! The body is `node::fuzz_targets::admin_request`, which the corpus replay test
//! (`node/tests/fuzz_corpus.rs`) also runs on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| node::fuzz_targets::admin_request(data));
