//! Item 3: many documents. Two engines share `N` documents (reports of 20
//! months for communities under 10 streets), synced once, disconnected; one
//! side then adds a report to `k` of them, and the engines reconnect with
//! their saved sync states and run until quiet. The baseline is Automerge's
//! sync protocol run for every document, with the same saved states and with
//! fresh ones, all documents in parallel (round trips are the longest
//! document's).

use std::collections::BTreeMap;

use anyhow::Context;
use automerge::sync::State;
use automerge::{ActorId, AutoCommit};
use chrono::{TimeZone, Utc};
use crdt_model::report;
use crdt_model::{DocumentId, PlaceId};
use yizhan_engine::Docs;

use super::exchange::{Link, PlainSync, plain_sync};
use super::fixtures::new_report;
use super::{Line, Scale, Target};

/// Many-documents bytes ÷ per-document loop the issue asks for.
pub const BYTES_SHARE_MAX: f64 = 0.05;

const STREETS: u32 = 10;
const MONTHS: u32 = 20;

/// `n` document ids: `guandu/sNN/cNNN/reports/YYYY-MM`.
fn ids(n: u32) -> anyhow::Result<Vec<DocumentId>> {
    let per_street = n.div_ceil(STREETS * MONTHS).max(1);
    let mut out = Vec::with_capacity(n as usize);
    'all: for s in 0..STREETS {
        for c in 0..per_street {
            let place = PlaceId::parse(&format!("guandu/s{s:02}/c{c:03}")).context("place")?;
            for m in 0..MONTHS {
                let t = Utc
                    .with_ymd_and_hms(2025 + (m / 12) as i32, m % 12 + 1, 15, 8, 0, 0)
                    .single()
                    .context("month")?;
                out.push(DocumentId::reports(place.clone(), t));
                if out.len() == n as usize {
                    break 'all;
                }
            }
        }
    }
    anyhow::ensure!(out.len() == n as usize, "made {} ids of {n}", out.len());
    Ok(out)
}

type Snapshot = (
    BTreeMap<DocumentId, AutoCommit>,
    BTreeMap<DocumentId, AutoCommit>,
);

fn snapshot(link: &Link) -> Snapshot {
    let copy = |i: usize| {
        link.ends[i]
            .docs
            .iter()
            .map(|(id, d)| (id.clone(), d.clone()))
            .collect()
    };
    (copy(0), copy(1))
}

/// Automerge's sync loop over every document of `snap`; `states` gives the
/// saved states of each end, or `None` for fresh ones. Returns the totals
/// (hops: the longest document's) and how many documents had no saved state.
fn per_document(
    snap: Snapshot,
    states: Option<[&BTreeMap<DocumentId, Vec<u8>>; 2]>,
) -> anyhow::Result<(PlainSync, usize)> {
    let (mut a, mut b) = snap;
    let mut total = PlainSync::default();
    let mut missing = 0;
    for (id, da) in a.iter_mut() {
        let db = b.entry(id.clone()).or_default();
        let state = |i: usize, missing: &mut usize| -> anyhow::Result<State> {
            match states.and_then(|s| s[i].get(id)) {
                Some(bytes) => Ok(State::decode(bytes)?),
                None => {
                    *missing += usize::from(states.is_some());
                    Ok(State::new())
                }
            }
        };
        let mut sa = state(0, &mut missing)?;
        let mut sb = state(1, &mut missing)?;
        let p = plain_sync(da, db, &mut sa, &mut sb)?;
        total.bytes += p.bytes;
        total.messages += p.messages;
        total.hops = total.hops.max(p.hops);
        total.hops_to_data = total.hops_to_data.max(p.hops_to_data);
    }
    Ok((total, missing))
}

/// Runs item 3.
pub fn run(scale: &Scale) -> anyhow::Result<Vec<Line>> {
    let (n, k) = (scale.docs, scale.differing);
    let ids = ids(n)?;
    let mut a = Link::docs_for(0);
    for (i, id) in ids.iter().enumerate() {
        let mut d = AutoCommit::new().with_actor(ActorId::from(vec![1u8; 32]));
        report::submit(&mut d, &new_report(i as u32, &id.place().to_string()))?;
        d.commit();
        a.insert(id.clone(), d);
    }
    let mut link = Link::new(a, Link::docs_for(1));
    let first = link.connect();
    anyhow::ensure!(
        link.ends[1].docs.len() == ids.len(),
        "first sync incomplete"
    );
    eprintln!(
        "  {n} documents: first sync {} B, {} messages, {} RT",
        first.bytes,
        first.messages,
        first.round_trips()
    );
    link.disconnect();

    let step = (n / k.max(1)).max(1) as usize;
    let changed: Vec<DocumentId> = ids.iter().step_by(step).take(k as usize).cloned().collect();
    for (j, id) in changed.iter().enumerate() {
        let d = link.ends[0].docs.get_mut(id).context("a lacks a doc")?;
        report::submit(d, &new_report(1_000_000 + j as u32, "bench"))?;
        d.commit();
    }
    // Reported as a node reports every local write (no peer is up: nothing
    // is sent); the engine answers summaries from the digests it keeps.
    link.local_change(0, &changed);
    let snap = snapshot(&link);
    let snap_fresh = (snap.0.clone(), snap.1.clone());
    let saved = [link.ends[0].saved.clone(), link.ends[1].saved.clone()];

    let t = link.connect();
    for id in &ids {
        anyhow::ensure!(
            link.ends[0].docs.heads(id) == link.ends[1].docs.heads(id),
            "{id} did not converge"
        );
    }
    let (with_saved, missing) = per_document(snap, Some([&saved[0], &saved[1]]))?;
    let (fresh, _) = per_document(snap_fresh, None)?;

    let share = t.bytes as f64 / with_saved.bytes as f64;
    let what = format!("engine reconnect, {n} docs, {k} differ");
    let note = format!(
        "{} messages: sync data {} B, summaries/inventories {} B",
        t.messages, t.sync_data, t.reconcile
    );
    let saved_name = if missing == 0 {
        "per-document Automerge sync, saved states".to_string()
    } else {
        format!("per-document Automerge sync, saved states ({missing} missing, fresh)")
    };
    Ok(vec![
        Line {
            bench: "many",
            what: what.clone(),
            value: t.bytes as f64,
            baseline: saved_name.clone(),
            base: with_saved.bytes as f64,
            unit: "B",
            target: Some(Target {
                rule: format!("≤ {:.0} %", BYTES_SHARE_MAX * 100.0),
                met: share <= BYTES_SHARE_MAX,
            }),
            note: format!("{note}; baseline {} messages", with_saved.messages),
        },
        Line {
            bench: "many",
            what,
            value: t.bytes as f64,
            baseline: "per-document Automerge sync, fresh states".into(),
            base: fresh.bytes as f64,
            unit: "B",
            target: None,
            note: format!("baseline {} messages", fresh.messages),
        },
        Line {
            bench: "many",
            what: format!("engine round trips until the data arrived, {n} docs, {k} differ"),
            value: t.round_trips_to_data(),
            baseline: saved_name,
            base: with_saved.round_trips_to_data(),
            unit: "RT",
            target: None,
            note: format!(
                "{}; the baseline runs every document at once",
                super::exchange::trips_note(&t, &with_saved)
            ),
        },
    ])
}
