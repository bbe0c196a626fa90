//! What deflating a sync frame's body costs and saves: the changes of 10,
//! 100 and 1,000 new reports on histories of 1,000 and 100,000 operations,
//! and the whole saved document, at levels 1 and 6 (the engine uses 6).
//! `docs/benchmarks.md`, "Deflated frames", quotes it.
//!
//!     cargo run --release -p simulations --example deflate_cost

use std::io::Write as _;
use std::time::Instant;

use simulations::bench::{delta, fixtures};

fn deflate(bytes: &[u8], level: u32) -> anyhow::Result<(usize, f64)> {
    let start = Instant::now();
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
    encoder.write_all(bytes)?;
    let out = encoder.finish()?;
    Ok((out.len(), start.elapsed().as_secs_f64() * 1e3))
}

fn main() -> anyhow::Result<()> {
    println!("| history | what | bytes | level 1 | level 6 |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for ops in [1_000u64, 100_000] {
        let (mut doc, mut next) = delta::history(ops)?;
        let row = |what: String, bytes: &[u8]| -> anyhow::Result<()> {
            let (fast, fast_ms) = deflate(bytes, 1)?;
            let (best, best_ms) = deflate(bytes, 6)?;
            println!(
                "| {ops} ops | {what} | {} | {fast} B in {fast_ms:.2} ms | {best} B in {best_ms:.2} ms |",
                bytes.len()
            );
            Ok(())
        };
        for d in [10u32, 100, 1_000] {
            let before = doc.get_heads();
            fixtures::submit_each(&mut doc, next, d, "guandu/yiliu/xinyazhou")?;
            next += d;
            row(
                format!("{d} new reports' changes"),
                &doc.save_after(&before),
            )?;
        }
        row("the whole document, saved".into(), &doc.save())?;
    }
    Ok(())
}
