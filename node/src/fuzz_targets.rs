//! Bodies of the fuzz targets in `fuzz/`, shared with the corpus replay
//! test (`node/tests/fuzz_corpus.rs`) so the two can never drift apart.
