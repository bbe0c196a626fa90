//! The benchmark suite at its smallest: every part runs, converges and
//! reports a finite ratio against its baseline.
//!
//! The cold-start part starts the `yizhan` executable Cargo built beside
//! this test (`cargo test --workspace` builds it first; alone, run
//! `cargo build -p yizhan` before `cargo test -p simulations`).

use simulations::bench::{Parts, Scale, run, table};

#[test]
fn the_quick_benchmarks_run_and_report_ratios() {
    let lines = run(&Scale::quick(), Parts::ALL).unwrap();
    println!("{}", table(&lines));
    for bench in [
        "ingest", "delta", "many", "converge", "cold", "blobs", "street",
    ] {
        assert!(lines.iter().any(|l| l.bench == bench), "no {bench} figures");
    }
    for l in &lines {
        assert!(l.base > 0.0, "{}: empty baseline {}", l.what, l.baseline);
        assert!(l.ratio().is_finite(), "{}: ratio {}", l.what, l.ratio());
    }
}
