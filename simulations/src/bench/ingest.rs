//! Item 1: reports per second durably committed through the node's public
//! write path, against the least a node could do for the same reports:
//! Automerge making the changes and raw redb committing the same bytes in
//! the same batches, timed together. Also against each half alone (Automerge
//! in memory; raw redb committing bytes made beforehand), so a reader sees
//! where the time goes. Every figure is the median of [`Scale::ingest_runs`]
//! runs, the runs of all paths interleaved, so a slow moment of a shared
//! machine or disk falls on every path alike.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use automerge::{ActorId, AutoCommit};
use crdt_model::PlaceId;
use crdt_model::report;
use node::{Node, Role};
use redb::{Database, Durability, TableDefinition};

use super::fixtures::{at, new_report, submission};
use super::{Line, Scale, Spread, Target};

const PLACE: &str = "guandu/yiliu/xinyazhou";
const RAW: TableDefinition<u64, &[u8]> = TableDefinition::new("chunks");

fn actor() -> ActorId {
    ActorId::from(vec![7u8; 32])
}

fn community(dir: &Path) -> anyhow::Result<Node> {
    let place = PlaceId::parse(PLACE).context("benchmark place")?;
    Ok(Node::init(dir, Role::Community, place, None)?)
}

/// Appends reports `c * per .. (c + 1) * per` to `doc` as one change and
/// returns that change's bytes, `save_after(heads_before)`: the chunk the
/// node's `Repo` hands its store for the commit.
fn change_chunk(doc: &mut AutoCommit, c: u32, per: u32) -> anyhow::Result<Vec<u8>> {
    let before = doc.get_heads();
    for i in c * per..(c + 1) * per {
        report::submit(doc, &new_report(i, "bench"))?;
    }
    doc.commit();
    Ok(doc.save_after(&before))
}

/// The change chunks of `commits` commits of `per` reports each.
fn chunks(commits: u32, per: u32) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut doc = AutoCommit::new().with_actor(actor());
    (0..commits)
        .map(|c| change_chunk(&mut doc, c, per))
        .collect()
}

/// One durable commit of `bytes` under `key`, as the baselines write.
fn commit_raw(db: &Database, key: u64, bytes: &[u8]) -> anyhow::Result<()> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut table = txn.open_table(RAW)?;
        table.insert(key, bytes)?;
    }
    txn.commit()?;
    Ok(())
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

/// Reports per second as raw redb commits of `chunks` (made beforehand, so
/// Automerge's cost is not in this figure), one commit per chunk, `per`
/// reports per chunk, `Durability::Immediate`.
fn raw_redb(chunks: &[Vec<u8>], per: u32) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let db = Database::create(dir.path().join("raw.redb"))?;
    let t = Instant::now();
    for (k, chunk) in chunks.iter().enumerate() {
        commit_raw(&db, k as u64, chunk)?;
    }
    Ok(chunks.len() as f64 * f64::from(per) / t.elapsed().as_secs_f64())
}

/// Reports per second as the least a node could do: `report::submit` for
/// `per` reports, one Automerge commit, `save_after` of that change, and one
/// raw redb commit of those bytes (`Durability::Immediate`), timed together.
/// What the node adds on top (signing, the signature and info records, the
/// case index, compaction) is what its ratio to this measures.
fn automerge_then_redb(commits: u32, per: u32) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let db = Database::create(dir.path().join("raw.redb"))?;
    let mut doc = AutoCommit::new().with_actor(actor());
    let t = Instant::now();
    for c in 0..commits {
        let chunk = change_chunk(&mut doc, c, per)?;
        commit_raw(&db, u64::from(c), &chunk)?;
    }
    Ok(f64::from(commits * per) / t.elapsed().as_secs_f64())
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

/// The runs of every path of item 1, interleaved.
#[derive(Default)]
struct Runs {
    node_single: Spread,
    node_single_bare: Spread,
    node_batch: Spread,
    base_single: Spread,
    base_batch: Spread,
    raw_single: Spread,
    raw_batch: Spread,
    am_single: Spread,
    am_batch: Spread,
}

impl Runs {
    fn measure(
        &mut self,
        scale: &Scale,
        single: &[Vec<u8>],
        batch: &[Vec<u8>],
    ) -> anyhow::Result<()> {
        let b = scale.batch;
        self.node_single.push(node_submit_report(scale.single)?);
        self.base_single.push(automerge_then_redb(scale.single, 1)?);
        self.node_single_bare
            .push(node_submit_reports(scale.single, 1)?);
        self.raw_single.push(raw_redb(single, 1)?);
        self.am_single.push(automerge_memory(scale.single, 1)?);
        self.node_batch.push(node_submit_reports(scale.batches, b)?);
        self.base_batch.push(automerge_then_redb(scale.batches, b)?);
        self.raw_batch.push(raw_redb(batch, b)?);
        self.am_batch.push(automerge_memory(scale.batches, b)?);
        Ok(())
    }
}

/// Runs item 1.
pub fn run(scale: &Scale) -> anyhow::Result<Vec<Line>> {
    let single_chunks = chunks(scale.single, 1)?;
    let batch_chunks = chunks(scale.batches, scale.batch)?;
    let mean = |c: &[Vec<u8>]| c.iter().map(Vec::len).sum::<usize>() as f64 / c.len().max(1) as f64;
    let single_bytes = mean(&single_chunks);
    let batch_bytes = mean(&batch_chunks);
    let mut runs = Runs::default();
    for _ in 0..scale.ingest_runs.max(1) {
        runs.measure(scale, &single_chunks, &batch_chunks)?;
    }
    let r = &runs;

    let b = scale.batch;
    let unit = "reports/s";
    let base1 = "Automerge plus raw redb, 1 commit per report".to_string();
    let baseb = format!("Automerge plus raw redb, 1 commit per {b} reports");
    let raw1 = format!("raw redb alone, 1 commit per report ({single_bytes:.0} B each)");
    let rawb = format!("raw redb alone, 1 commit per {b} reports ({batch_bytes:.0} B each)");
    let am1 = "Automerge in memory, 1 commit per report".to_string();
    let amb = format!("Automerge in memory, 1 commit per {b} reports");
    let n1 = format!("{} reports", scale.single);
    let nb = format!("{} commits of {b}", scale.batches);
    let line = |what: String, value: &Spread, baseline: String, base: &Spread, note: String| Line {
        bench: "ingest",
        what,
        value: value.median(),
        baseline,
        base: base.median(),
        unit,
        target: None,
        note: format!("{note}; {} against {}", value.runs(), base.runs()),
    };
    let ratio = r.node_batch.median() / r.base_batch.median();
    Ok(vec![
        line(
            "`Node::submit_report`, 1 per commit".into(),
            &r.node_single,
            base1.clone(),
            &r.base_single,
            format!("{n1}; includes the nearby-duplicates lookup and reading the report back"),
        ),
        line(
            "`Node::submit_reports`, 1 per commit".into(),
            &r.node_single_bare,
            base1.clone(),
            &r.base_single,
            format!("{n1}; the write path alone"),
        ),
        Line {
            target: Some(Target {
                rule: "≥ 0.5 of Automerge plus raw redb".into(),
                met: ratio >= 0.5,
            }),
            ..line(
                format!("`Node::submit_reports`, {b} per commit"),
                &r.node_batch,
                baseb.clone(),
                &r.base_batch,
                nb.clone(),
            )
        },
        line(
            "`Node::submit_report`, 1 per commit".into(),
            &r.node_single,
            am1.clone(),
            &r.am_single,
            n1.clone(),
        ),
        line(
            format!("`Node::submit_reports`, {b} per commit"),
            &r.node_batch,
            amb.clone(),
            &r.am_batch,
            nb.clone(),
        ),
        line(
            raw1,
            &r.raw_single,
            base1,
            &r.base_single,
            format!("{n1}; raw redb's part of the baseline alone: the same bytes, made beforehand"),
        ),
        line(
            rawb.clone(),
            &r.raw_batch,
            baseb,
            &r.base_batch,
            format!("{nb}; raw redb's part of the baseline alone: the same bytes, made beforehand"),
        ),
    ])
}
