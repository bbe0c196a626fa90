//! Can a photo's BLAKE3 tree hide behind the disk on this machine? For 16
//! photos of 3 MB of random bytes, times writing and syncing them with no
//! tree (the disk ceiling), the trees alone, and the ways the two could
//! overlap on two cores; nine rounds, medians. `docs/benchmarks.md`, "The
//! bound of a lone local photo", reads the result.
//!
//!     cargo run --release -p simulations --example hash_overlap

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

const PHOTOS: u8 = 16;
const PHOTO_BYTES: usize = 3_000_000;
const ROUNDS: usize = 9;

fn photo(i: u8) -> Vec<u8> {
    let mut bytes = vec![0u8; PHOTO_BYTES];
    blake3::Hasher::new()
        .update(&[i])
        .finalize_xof()
        .fill(&mut bytes);
    bytes
}

fn write_and_sync(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_data()
}

fn tree(bytes: &[u8]) {
    std::hint::black_box(node::store::make_tree(bytes));
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(".")?;
    let photos: Vec<Vec<u8>> = (0..PHOTOS).map(photo).collect();
    let named = |tag: &str, i: usize| dir.path().join(format!("{tag}-{i}"));
    type Variant<'a> = (&'a str, Box<dyn Fn() -> anyhow::Result<()> + 'a>);
    let variants: Vec<Variant> = vec![
        (
            "write and sync, no tree (the ceiling)",
            Box::new(|| {
                for (i, p) in photos.iter().enumerate() {
                    write_and_sync(&named("a", i), p)?;
                }
                Ok(())
            }),
        ),
        (
            "the trees alone",
            Box::new(|| {
                photos.iter().for_each(|p| tree(p));
                Ok(())
            }),
        ),
        (
            "tree, then write and sync",
            Box::new(|| {
                for (i, p) in photos.iter().enumerate() {
                    tree(p);
                    write_and_sync(&named("b", i), p)?;
                }
                Ok(())
            }),
        ),
        (
            "tree while the other thread writes and syncs",
            Box::new(|| {
                for (i, p) in photos.iter().enumerate() {
                    std::thread::scope(|s| {
                        let written = s.spawn(|| write_and_sync(&named("c", i), p));
                        tree(p);
                        written.join().expect("the writing thread panicked")
                    })?;
                }
                Ok(())
            }),
        ),
        (
            "write while the other thread makes the tree, then sync",
            Box::new(|| {
                for (i, p) in photos.iter().enumerate() {
                    let mut file = std::fs::File::create(named("d", i))?;
                    std::thread::scope(|s| {
                        s.spawn(|| tree(p));
                        file.write_all(p)
                    })?;
                    file.sync_data()?;
                }
                Ok(())
            }),
        ),
        (
            "plain BLAKE3 of each half on its own thread, no tree",
            Box::new(|| {
                for p in &photos {
                    let (left, right) = p.split_at(p.len() / 2);
                    std::thread::scope(|s| {
                        s.spawn(|| std::hint::black_box(blake3::hash(left)));
                        std::hint::black_box(blake3::hash(right));
                    });
                }
                Ok(())
            }),
        ),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    for _ in 0..ROUNDS {
        for (k, (_, run)) in variants.iter().enumerate() {
            let start = Instant::now();
            run()?;
            times[k].push(start.elapsed());
        }
        for entry in std::fs::read_dir(dir.path())? {
            std::fs::remove_file(entry?.path())?;
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        v[v.len() / 2].as_secs_f64()
    };
    let medians: Vec<f64> = times.iter_mut().map(median).collect();
    for ((name, _), m) in variants.iter().zip(&medians) {
        println!(
            "{name:56} {:7.2} ms   ceiling ÷ this {:.2}",
            m * 1e3,
            medians[0] / m
        );
    }
    Ok(())
}
