//! Crash consistency of the store: an acknowledged write survives SIGKILL.
//!
//! The parent test re-executes this test binary as a child that runs only
//! [`crash_child_appends_until_killed`]. The child appends one change at a
//! time to three Automerge documents, committing each in its own batch and
//! printing `ack <n>` only after the commit returned, and compacts now and
//! then. The parent kills it with SIGKILL after a random delay, reopens the
//! store, and checks that every document loads and every acknowledged key is
//! there; the next child carries on from the last acknowledged key.
//!
//! Set `YIZHAN_CRASH_SEED` to replay a particular run.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use automerge::{
    AutoCommit, ChangeHash, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable,
};
use node::store::Store;

/// Tells a child which store to write to; its absence makes the child test a
/// no-op, so it passes in ordinary runs.
const CHILD_ENV: &str = "YIZHAN_CRASH_CHILD";
/// The first key number the child writes.
const START_ENV: &str = "YIZHAN_CRASH_START";
/// Overrides the parent's RNG seed.
const SEED_ENV: &str = "YIZHAN_CRASH_SEED";
/// The child test's name, as libtest's `--exact` wants it.
const CHILD_TEST: &str = "crash_child_appends_until_killed";

const DOCS: u64 = 3;
const ROUNDS: usize = 24;
const KILL_DELAY_MS_MIN: u64 = 5;
const KILL_DELAY_MS_MAX: u64 = 300;
/// The child compacts a document after every this many of its own writes.
const COMPACT_EVERY: u64 = 45;
/// A child never writes more than this many keys, should nobody kill it.
const CHILD_KEYS_MAX: u64 = 1_000_000;

fn doc_id(d: u64) -> String {
    format!("crash/d{d}")
}

#[test]
fn crash_child_appends_until_killed() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let start = std::env::var(START_ENV)
        .ok()
        .and_then(|start| start.parse().ok())
        .unwrap_or(0);
    run_child(Path::new(&path), start);
}

fn run_child(path: &Path, start: u64) {
    let store = Store::open(path).unwrap();
    let mut docs: Vec<(AutoCommit, Vec<ChangeHash>)> = (0..DOCS)
        .map(|d| match store.load_document(&doc_id(d)).unwrap() {
            Some(mut doc) => {
                let heads = doc.get_heads();
                (doc, heads)
            }
            None => (AutoCommit::new(), Vec::new()),
        })
        .collect();
    let stdout = std::io::stdout();
    for n in start..start + CHILD_KEYS_MAX {
        let d = n % DOCS;
        let id = doc_id(d);
        let (doc, saved) = &mut docs[d as usize];
        doc.put(ROOT, format!("k{n}"), n).unwrap();
        doc.commit();
        let chunk = doc.save_after(saved);
        let heads = doc.get_heads();
        let mut batch = store.batch().unwrap();
        batch.append_changes(&id, &chunk, &heads).unwrap();
        batch.commit().unwrap();
        *saved = heads;

        // Acknowledge only after the commit returned: that is the contract
        // under test. One write(2) per line, so a kill never tears a line.
        let mut out = stdout.lock();
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
        drop(out);

        if n / DOCS % COMPACT_EVERY == COMPACT_EVERY - 1 {
            let mut batch = store.batch().unwrap();
            batch.put_snapshot(&id, &doc.save(), saved).unwrap();
            batch.commit().unwrap();
        }
    }
}

/// SplitMix64: a few lines, seedable, good enough to spread kill delays.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Kills the child if the parent fails before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a child writing keys from `start` into the store at `path`, and a
/// thread forwarding the numbers it acknowledges.
fn spawn_child(path: &Path, start: u64) -> (KillOnDrop, mpsc::Receiver<u64>) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .env(START_ENV, start.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (acks, received) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // A line without its newline was cut by the kill: not an ack.
            // libtest may print its own text before ours on the same line.
            let Some(body) = line.strip_suffix('\n') else {
                break;
            };
            if let Some((_, number)) = body.rsplit_once("ack ")
                && let Ok(n) = number.parse::<u64>()
                && acks.send(n).is_err()
            {
                break;
            }
        }
    });
    (KillOnDrop(child), received)
}

/// Reopens the store and checks every document loads and holds every key up
/// to and including `acked`.
fn verify(path: &Path, acked: Option<u64>, round: usize) {
    let store = Store::open(path)
        .unwrap_or_else(|err| panic!("round {round}: store does not open after a kill: {err}"));
    let mut docs = Vec::new();
    for d in 0..DOCS {
        let doc = store
            .load_document(&doc_id(d))
            .unwrap_or_else(|err| panic!("round {round}: document {d} does not load: {err}"));
        docs.push(doc);
    }
    for id in store.document_ids().unwrap() {
        store
            .load_document(&id)
            .unwrap_or_else(|err| panic!("round {round}: document {id} does not load: {err}"));
    }
    let Some(acked) = acked else { return };
    for n in 0..=acked {
        let d = (n % DOCS) as usize;
        let doc = docs[d]
            .as_ref()
            .unwrap_or_else(|| panic!("round {round}: document {d} is gone, key {n} was acked"));
        let value = doc.get(ROOT, format!("k{n}")).unwrap();
        match value {
            Some((Value::Scalar(scalar), _)) if *scalar == ScalarValue::Uint(n) => {}
            other => panic!("round {round}: acked key k{n} reads {other:?}"),
        }
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5EED_2024_u64);
    eprintln!("store_crash: seed {seed} (set {SEED_ENV} to replay)");
    let mut rng = SplitMix64(seed);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    drop(Store::create(&path).unwrap());

    let began = Instant::now();
    let mut acked: Option<u64> = None;
    let mut rounds_with_acks = 0;
    for round in 0..ROUNDS {
        let span = KILL_DELAY_MS_MAX - KILL_DELAY_MS_MIN + 1;
        let delay = Duration::from_millis(KILL_DELAY_MS_MIN + rng.next() % span);
        let start = acked.map_or(0, |n| n + 1);
        let (mut child, acks) = spawn_child(&path, start);
        std::thread::sleep(delay);
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("round {round}: child exited by itself with {status}; its stderr is above");
        }
        child.0.kill().unwrap();
        child.0.wait().unwrap();

        let numbers: Vec<u64> = acks.iter().collect();
        for (i, n) in numbers.iter().enumerate() {
            assert_eq!(*n, start + i as u64, "round {round}: acks out of order");
        }
        if let Some(&last) = numbers.last() {
            acked = Some(last);
            rounds_with_acks += 1;
        }
        verify(&path, acked, round);
        eprintln!(
            "store_crash: round {round}: killed after {} ms, {} acks, {} total",
            delay.as_millis(),
            numbers.len(),
            acked.map_or(0, |n| n + 1)
        );
    }
    assert!(
        rounds_with_acks >= ROUNDS / 4,
        "only {rounds_with_acks} of {ROUNDS} children acknowledged anything"
    );
    eprintln!(
        "store_crash: {ROUNDS} rounds, {} keys acknowledged, {:.1} s",
        acked.map_or(0, |n| n + 1),
        began.elapsed().as_secs_f64()
    );
}
