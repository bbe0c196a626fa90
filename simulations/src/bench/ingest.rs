//! Item 1: reports per second durably committed through the node's public
//! write path, against raw redb commits of the same bytes with the same
//! durability, and against Automerge changes in memory.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use automerge::{ActorId, AutoCommit};
use crdt_model::PlaceId;
use crdt_model::report;
use node::{Node, Role};
use redb::{Database, Durability, TableDefinition};

use super::fixtures::{at, new_report, submission};
use super::{Line, Scale, Target};

const PLACE: &str = "guandu/yiliu/xinyazhou";
const RAW: TableDefinition<u64, &[u8]> = TableDefinition::new("chunks");

fn actor() -> ActorId {
    ActorId::from(vec![7u8; 32])
}

fn community(dir: &Path) -> anyhow::Result<Node> {
    let place = PlaceId::parse(PLACE).context("benchmark place")?;
    Ok(Node::init(dir, Role::Community, place, None)?)
}

/// Bytes of the change chunk each commit appends, when reports are committed
/// `per` at a time: what the node's `Repo` hands the store for the document.
fn chunk_sizes(commits: u32, per: u32) -> anyhow::Result<Vec<usize>> {
    let mut doc = AutoCommit::new().with_actor(actor());
    let mut sizes = Vec::with_capacity(commits as usize);
    for c in 0..commits {
        let before = doc.get_heads();
        for i in c * per..(c + 1) * per {
            report::submit(&mut doc, &new_report(i, "bench"))?;
        }
        doc.commit();
        sizes.push(doc.save_after(&before).len());
    }
    Ok(sizes)
}

/// Reports per second through `Node::submit_report`, one durable commit each
/// (including its "nearby open reports" lookup).
fn node_submit_report(n: u32) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut node = community(&dir.path().join("n"))?;
    let t = Instant::now();
    for i in 0..n {
        node.submit_report(submission(i), at())?;
    }
    Ok(f64::from(n) / t.elapsed().as_secs_f64())
}

/// Reports per second through `Node::submit_reports`, `per` reports per
/// durable commit.
fn node_submit_reports(commits: u32, per: u32) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut node = community(&dir.path().join("n"))?;
    let t = Instant::now();
    for c in 0..commits {
        let reqs = (c * per..(c + 1) * per).map(submission).collect();
        node.submit_reports(reqs, at())?;
    }
    Ok(f64::from(commits * per) / t.elapsed().as_secs_f64())
}

/// Reports per second as raw redb commits of blobs of `sizes` bytes, one
/// commit per size, `per` reports per commit, `Durability::Immediate`.
fn raw_redb(sizes: &[usize], per: u32) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let db = Database::create(dir.path().join("raw.redb"))?;
    // The bytes are made before the clock starts, as the node's are by
    // Automerge (whose cost the node's figure includes and this one does not).
    let blobs: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| (0..n).map(|b| (b * 31 + k * 7) as u8).collect())
        .collect();
    let t = Instant::now();
    for (k, blob) in blobs.iter().enumerate() {
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(RAW)?;
            table.insert(k as u64, blob.as_slice())?;
        }
        txn.commit()?;
    }
    Ok(sizes.len() as f64 * f64::from(per) / t.elapsed().as_secs_f64())
}

/// Reports per second as Automerge changes in memory: `report::submit` and
/// one commit per `per` reports, no store.
fn automerge_memory(commits: u32, per: u32) -> anyhow::Result<f64> {
    let mut doc = AutoCommit::new().with_actor(actor());
    let t = Instant::now();
    for c in 0..commits {
        for i in c * per..(c + 1) * per {
            report::submit(&mut doc, &new_report(i, "bench"))?;
        }
        doc.commit();
    }
    Ok(f64::from(commits * per) / t.elapsed().as_secs_f64())
}

/// Runs item 1.
pub fn run(scale: &Scale) -> anyhow::Result<Vec<Line>> {
    let single_sizes = chunk_sizes(scale.single, 1)?;
    let batch_sizes = chunk_sizes(scale.batches, scale.batch)?;
    let mean = |s: &[usize]| s.iter().sum::<usize>() as f64 / s.len().max(1) as f64;
    let single_bytes = mean(&single_sizes);
    let batch_bytes = mean(&batch_sizes);

    let raw_single = raw_redb(&single_sizes, 1)?;
    let raw_batch = raw_redb(&batch_sizes, scale.batch)?;
    let am_single = automerge_memory(scale.single, 1)?;
    let am_batch = automerge_memory(scale.batches, scale.batch)?;
    let node_single = node_submit_report(scale.single)?;
    let node_single_bare = node_submit_reports(scale.single, 1)?;
    let node_batch = node_submit_reports(scale.batches, scale.batch)?;

    let b = scale.batch;
    let unit = "reports/s";
    let raw1 = format!("raw redb, 1 commit per report ({single_bytes:.0} B each)");
    let rawb = format!("raw redb, 1 commit per {b} reports ({batch_bytes:.0} B each)");
    let am1 = "Automerge in memory, 1 commit per report".to_string();
    let amb = format!("Automerge in memory, 1 commit per {b} reports");
    let n1 = format!("{} reports", scale.single);
    let nb = format!("{} commits of {b}", scale.batches);
    let line = |what: String, value: f64, baseline: String, base: f64, note: String| Line {
        bench: "ingest",
        what,
        value,
        baseline,
        base,
        unit,
        target: None,
        note,
    };
    let ratio = node_batch / raw_batch;
    Ok(vec![
        line(
            "`Node::submit_report`, 1 per commit".into(),
            node_single,
            raw1.clone(),
            raw_single,
            format!("{n1}; includes the nearby-duplicates lookup and reading the report back"),
        ),
        line(
            "`Node::submit_reports`, 1 per commit".into(),
            node_single_bare,
            raw1,
            raw_single,
            format!("{n1}; the write path alone"),
        ),
        Line {
            target: Some(Target {
                rule: "≥ 0.5 of raw redb".into(),
                met: ratio >= 0.5,
            }),
            ..line(
                format!("`Node::submit_reports`, {b} per commit"),
                node_batch,
                rawb,
                raw_batch,
                nb.clone(),
            )
        },
        line(
            "`Node::submit_report`, 1 per commit".into(),
            node_single,
            am1,
            am_single,
            n1,
        ),
        line(
            format!("`Node::submit_reports`, {b} per commit"),
            node_batch,
            amb,
            am_batch,
            nb,
        ),
    ])
}
