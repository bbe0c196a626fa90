//! Item 2: delta sync. A reports document with a history of `H` operations,
//! synced between two engines, which then disconnect and reconnect with their
//! saved sync states; one side adds `d` reports (one change each) and the
//! engines run until quiet. Bytes on the wire are compared with the bytes of
//! the new changes one by one (`save_after(heads_before)`, what Automerge's
//! sync sends when the peer lacks less than a third of the document), with
//! the same changes as one compressed bundle (`AutoCommit::bundle`, the
//! columnar encoding `save()` uses, of those changes alone: the least a
//! sender could send without the peer's help), and with Automerge's own sync
//! protocol run on the same document from the same saved states.

use std::time::Instant;

use anyhow::Context;
use automerge::sync::State;
use automerge::{ActorId, AutoCommit, ReadDoc};
use crdt_model::{DocumentId, PlaceId};
use yizhan_engine::Docs;

use super::exchange::{Link, plain_sync};
use super::fixtures::{at, submit_each};
use super::{Line, Scale, Target};

/// Wire ÷ new the issue asks for at `d ≥ 10`.
pub const WIRE_PER_NEW_MAX: f64 = 1.5;

fn doc_id() -> anyhow::Result<DocumentId> {
    let place = PlaceId::parse("guandu/yiliu/xinyazhou").context("benchmark place")?;
    Ok(DocumentId::reports(place, at()))
}

/// A reports document of at least `ops` operations, one change per report.
/// Returns it with the number of reports written.
pub fn history(ops: u64) -> anyhow::Result<(AutoCommit, u32)> {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(vec![1u8; 32]));
    let mut n = 0;
    while doc.stats().num_ops < ops {
        submit_each(&mut doc, n, 10, "guandu/yiliu/xinyazhou")?;
        n += 10;
    }
    Ok((doc, n))
}

/// One delta-sync measurement.
#[derive(Debug, Clone, Copy)]
pub struct Delta {
    /// Bytes of the new changes one by one, `save_after(heads_before)`.
    pub new_bytes: u64,
    /// Bytes of the same changes as one compressed bundle.
    pub bundle_bytes: u64,
    /// Engine traffic until quiet.
    pub wire: super::exchange::Traffic,
    /// Automerge's sync protocol on the same document and saved states.
    pub plain: super::exchange::PlainSync,
}

/// Runs item 2.
pub fn run(scale: &Scale) -> anyhow::Result<Vec<Line>> {
    let id = doc_id()?;
    let mut lines = Vec::new();
    let mut per_h: Vec<(u64, Vec<(u32, f64)>)> = Vec::new();
    for &h in &scale.histories {
        let t = Instant::now();
        let (doc, reports) = history(h)?;
        let (ops, changes) = (doc.stats().num_ops, doc.stats().num_changes);
        let built = t.elapsed().as_secs_f64();
        let mut a = Link::docs_for(0);
        a.insert(id.clone(), doc);
        let mut link = Link::new(a, Link::docs_for(1));
        let t = Instant::now();
        let first = link.connect();
        let first_s = t.elapsed().as_secs_f64();
        eprintln!(
            "  H={h}: {ops} ops, {changes} changes ({reports} reports), built in {built:.1} s, \
             first sync {} B in {first_s:.1} s",
            first.bytes
        );
        let mut next = reports;
        let mut ratios = Vec::new();
        for &d in &scale.deltas {
            link.disconnect();
            let reconnect = link.connect();
            // Automerge's baseline starts where the engines do now.
            let mut plain_b = link.ends[1]
                .docs
                .get(&id)
                .context("b lacks the doc")?
                .clone();
            let mut sa = saved_state(&link, 0, &id)?;
            let mut sb = saved_state(&link, 1, &id)?;

            let a_doc = link.ends[0].docs.get_mut(&id).context("a lacks the doc")?;
            let before = a_doc.get_heads();
            submit_each(a_doc, next, d, "guandu/yiliu/xinyazhou")?;
            next += d;
            let new_bytes = a_doc.save_after(&before).len() as u64;
            let hashes = a_doc
                .get_changes(&before)
                .iter()
                .map(|c| c.hash())
                .collect::<Vec<_>>();
            let bundle_bytes = a_doc.bundle(hashes)?.bytes().len() as u64;
            let mut plain_a = a_doc.clone();

            let wire = link.local_change(0, std::slice::from_ref(&id));
            let (ha, hb) = (link.ends[0].docs.heads(&id), link.ends[1].docs.heads(&id));
            anyhow::ensure!(ha == hb, "H={h} d={d}: the engines did not converge");
            let plain = plain_sync(&mut plain_a, &mut plain_b, &mut sa, &mut sb)?;
            anyhow::ensure!(
                plain_a.get_heads() == plain_b.get_heads(),
                "H={h} d={d}: Automerge's sync did not converge"
            );
            let m = Delta {
                new_bytes,
                bundle_bytes,
                wire,
                plain,
            };
            let ratio = m.wire.bytes as f64 / m.new_bytes as f64;
            ratios.push((d, ratio));
            lines.extend(delta_lines(h, ops, d, &m, reconnect.bytes));
        }
        per_h.push((ops, ratios));
    }
    if let (Some((h0, first)), Some((h1, last))) = (per_h.first(), per_h.last())
        && h1 > h0
    {
        for ((d, r0), (_, r1)) in first.iter().zip(last) {
            let growth = r1 / r0;
            lines.push(Line {
                bench: "delta",
                what: format!("wire ÷ `save_after` at H={h1} ops, d={d}"),
                value: *r1,
                baseline: format!("wire ÷ `save_after` at H={h0} ops, d={d}"),
                base: *r0,
                unit: "",
                target: Some(Target {
                    rule: "not growing with H (ratio ≤ 1.1)".into(),
                    met: growth <= 1.1,
                }),
                note: if *r0 < 1.0 {
                    format!(
                        "at H={h0} ops the {d} new changes were over a third of the history, so \
                         Automerge sent the whole document, compressed, for less than the changes; \
                         at H={h1} ops they go one by one"
                    )
                } else {
                    String::new()
                },
            });
        }
    }
    Ok(lines)
}

fn saved_state(link: &Link, end: usize, id: &DocumentId) -> anyhow::Result<State> {
    let bytes = link.ends[end]
        .saved
        .get(id)
        .with_context(|| format!("end {end} saved no sync state for {id}"))?;
    Ok(State::decode(bytes)?)
}

fn delta_lines(h: u64, ops: u64, d: u32, m: &Delta, reconnect: u64) -> Vec<Line> {
    let ratio = m.wire.bytes as f64 / m.new_bytes as f64;
    let target = (d >= 10).then(|| Target {
        rule: format!("≤ {WIRE_PER_NEW_MAX}"),
        met: ratio <= WIRE_PER_NEW_MAX,
    });
    let w = &m.wire;
    vec![
        Line {
            bench: "delta",
            what: format!("engine wire bytes, H={h} ({ops} ops), d={d}"),
            value: w.bytes as f64,
            baseline: "the new changes one by one (`save_after`)".into(),
            base: m.new_bytes as f64,
            unit: "B",
            target,
            note: format!(
                "{} messages: sync data {} B, announce {} B, summaries/inventories {} B; \
                 reconnect before the change cost {reconnect} B",
                w.messages, w.sync_data, w.announce, w.reconcile
            ),
        },
        Line {
            bench: "delta",
            what: format!("engine wire bytes, H={h}, d={d}"),
            value: w.bytes as f64,
            baseline: "the new changes as one compressed bundle".into(),
            base: m.bundle_bytes as f64,
            unit: "B",
            target: None,
            note: format!(
                "`save_after` is {} × the bundle",
                super::number(m.new_bytes as f64 / m.bundle_bytes.max(1) as f64)
            ),
        },
        Line {
            bench: "delta",
            what: format!("engine wire bytes, H={h}, d={d}"),
            value: w.bytes as f64,
            baseline: "Automerge sync, saved states".into(),
            base: m.plain.bytes as f64,
            unit: "B",
            target: None,
            note: format!("{} Automerge messages", m.plain.messages),
        },
        Line {
            bench: "delta",
            what: format!("engine round trips until the data arrived, H={h}, d={d}"),
            value: w.round_trips_to_data(),
            baseline: "Automerge sync, saved states".into(),
            base: m.plain.round_trips_to_data(),
            unit: "RT",
            target: None,
            note: super::exchange::trips_note(w, &m.plain),
        },
    ]
}
