//! The federation's invariants, checked once the network is quiet.
//!
//! A node cut off at the end (revoked, or its admission lapsed; see
//! [`CutOffs`]) is disconnected and keeps writing where nobody takes it, so
//! it is judged apart: its own replicas need not converge or fold like the
//! others, and the others must not hold its work after its cut-off.

use std::collections::{BTreeMap, BTreeSet};

use automerge::ChangeHash;
use crdt_model::escrow::{self, EscrowKind};
use crdt_model::ledger::{self, EntryKind};
use crdt_model::{DocKind, DocumentId, PlaceId, ReportId, Stats, StatsFilter, Status, report};
use node::trust::{Member, may_read};

use crate::cutoffs::CutOffs;
use crate::sim::Sim;

/// Names of the invariants, in the order they are reported.
pub const NAMES: [&str; 7] = [
    "converged",
    "no-unauthorised-doc",
    "cut-off-stays",
    "roster-private-stays",
    "points-sound",
    "same-fold",
    "acked-writes-kept",
];

/// One invariant's outcome: `Err` says what broke.
pub type Outcome = Result<(), String>;

/// May the node `m` hold `doc`? (What its policy would store.)
/// A station shares its community's place but owns nothing there.
pub fn entitled(m: &Member, doc: &DocumentId) -> bool {
    may_read(m, doc) || (&m.place == doc.place() && m.role != node::Role::Station)
}

/// Heads of every non-empty document of every node, sorted.
pub fn all_heads(sim: &mut Sim) -> Vec<BTreeMap<DocumentId, Vec<ChangeHash>>> {
    sim.nodes
        .iter_mut()
        .map(|n| {
            n.store
                .docs
                .iter_mut()
                .filter_map(|(id, d)| {
                    let mut h = d.get_heads();
                    h.sort_unstable();
                    (!h.is_empty()).then(|| (id.clone(), h))
                })
                .collect()
        })
        .collect()
}

fn first_few(problems: Vec<String>) -> Outcome {
    if problems.is_empty() {
        return Ok(());
    }
    let n = problems.len();
    let mut s = problems.into_iter().take(3).collect::<Vec<_>>().join("; ");
    if n > 3 {
        s.push_str(&format!("; and {} more", n - 3));
    }
    Err(s)
}

/// Checks every invariant, in the order of [`NAMES`].
pub fn check(sim: &mut Sim) -> Vec<(&'static str, Outcome)> {
    let cut = CutOffs::at_end(sim);
    check_with(sim, &cut)
}

/// [`check`], with the cut-offs at the end already read.
pub fn check_with(sim: &mut Sim, cut: &CutOffs) -> Vec<(&'static str, Outcome)> {
    let heads = all_heads(sim);
    let members: Vec<Member> = sim.nodes.iter().map(|n| n.id.member.clone()).collect();
    let places: Vec<PlaceId> = sim.nodes.iter().map(|n| n.id.place.clone()).collect();
    let every_doc: BTreeSet<&DocumentId> = heads.iter().flat_map(|h| h.keys()).collect();

    let mut diverged = Vec::new();
    let mut unauthorised = Vec::new();
    let mut private = Vec::new();
    for doc in &every_doc {
        // Work a cut-off node wrote where no other node takes it: held by
        // its own replicas only, and by nothing that must converge.
        let held_by_entitled = members
            .iter()
            .enumerate()
            .any(|(i, m)| !cut.is_cut(i) && entitled(m, doc) && heads[i].contains_key(*doc));
        let mut reference: Option<(usize, &Vec<ChangeHash>)> = None;
        for (i, m) in members.iter().enumerate() {
            let held = heads[i].get(*doc);
            if !entitled(m, doc) {
                if held.is_some() {
                    unauthorised.push(format!("{} holds {doc}", places[i]));
                }
                continue;
            }
            if cut.is_cut(i) || !held_by_entitled {
                continue;
            }
            match (held, reference) {
                (None, _) => diverged.push(format!("{} lacks {doc}", places[i])),
                (Some(h), None) => reference = Some((i, h)),
                (Some(h), Some((r, rh))) if h != rh => diverged.push(format!(
                    "{doc} differs between {} and {}",
                    places[r], places[i]
                )),
                _ => {}
            }
        }
        if doc.kind() == DocKind::RosterPrivate {
            for (i, h) in heads.iter().enumerate() {
                if h.contains_key(*doc) && &places[i] != doc.place() {
                    private.push(format!("{} holds {doc}", places[i]));
                }
            }
        }
    }
    if sim.counters.private_on_wire > 0 {
        private.push(format!(
            "{} messages named a roster-private document on the wire",
            sim.counters.private_on_wire
        ));
    }
    vec![
        ("converged", first_few(diverged)),
        ("no-unauthorised-doc", first_few(unauthorised)),
        ("cut-off-stays", cut_off_stays(sim, cut)),
        ("roster-private-stays", first_few(private)),
        ("points-sound", points(sim)),
        ("same-fold", folds(sim, cut)),
        ("acked-writes-kept", acked(sim, &members, cut)),
    ]
}

/// No change a cut-off node wrote after its cut-off is held by any node
/// but those cut off with it (itself, or nodes it admitted when it is the
/// one revoked or expired).
fn cut_off_stays(sim: &mut Sim, cut: &CutOffs) -> Outcome {
    let mut problems = Vec::new();
    if !(0..sim.nodes.len()).any(|i| cut.is_cut(i)) {
        return Ok(());
    }
    let places: Vec<PlaceId> = sim.nodes.iter().map(|n| n.id.place.clone()).collect();
    for (holder, place) in places.iter().enumerate() {
        for (doc, d) in sim.nodes[holder].store.docs.iter_mut() {
            for change in d.get_changes(&[]) {
                let Some(author) = cut.node_of(change.actor_id()) else {
                    continue;
                };
                let hash = change.hash();
                for key in cut.after(author, doc, &hash) {
                    if !cut.may_hold_after(holder, &key) {
                        problems.push(format!(
                            "{place} holds {hash} to {doc}, written by {} after the cut-off of {key}",
                            places[author]
                        ));
                    }
                }
            }
        }
    }
    first_few(problems)
}

/// No replica of any ledger shows a negative balance; every redemption on
/// any replica is one its home community acknowledged, and every
/// acknowledged redemption not lost with a store appears once at home.
fn points(sim: &Sim) -> Outcome {
    let mut problems = Vec::new();
    // A community and its stations share a place: their redemptions together.
    let mut redemptions: BTreeMap<&PlaceId, BTreeSet<&str>> = BTreeMap::new();
    for n in &sim.nodes {
        redemptions
            .entry(&n.id.place)
            .or_default()
            .extend(n.redemptions.iter().map(String::as_str));
    }
    for n in &sim.nodes {
        for (id, d) in &n.store.docs {
            if id.kind() != DocKind::Ledger {
                continue;
            }
            match ledger::balances(d) {
                Ok(b) => {
                    for (m, v) in b.iter().filter(|(_, v)| **v < 0) {
                        problems.push(format!("{m} has {v} points in {id} at {}", n.id.place));
                    }
                }
                Err(e) => problems.push(format!("{id} at {} is unreadable: {e}", n.id.place)),
            }
            let moves = escrow::list(d).unwrap_or_default();
            for ((station, m), held) in escrow::holdings(&moves) {
                if held < 0 {
                    problems.push(format!(
                        "station {station} holds {held} points for {m} in {id} at {}",
                        n.id.place
                    ));
                }
            }
            for mv in moves.iter().filter(|mv| mv.kind == EscrowKind::Redeem) {
                let known = redemptions
                    .get(id.place())
                    .is_some_and(|r| r.contains(mv.id.as_str()));
                if !known {
                    problems.push(format!(
                        "{id} at {} holds an unknown station redemption {}",
                        n.id.place, mv.id
                    ));
                }
            }
            let entries = ledger::list(d).unwrap_or_default();
            let mut seen = BTreeSet::new();
            for e in entries.iter().filter(|e| e.kind == EntryKind::Redeem) {
                let known = redemptions
                    .get(id.place())
                    .is_some_and(|r| r.contains(e.id.as_str()));
                if !known {
                    problems.push(format!(
                        "{id} at {} holds an unknown redemption {}",
                        n.id.place, e.id
                    ));
                }
                if !seen.insert(e.id.as_str()) {
                    problems.push(format!("redemption {} counted twice in {id}", e.id));
                }
            }
        }
    }
    first_few(problems)
}

/// Every replica of every reports document folds every report to the same
/// status, and the district's statistics equal the sum of its
/// communities' own.
fn folds(sim: &Sim, cut: &CutOffs) -> Outcome {
    let mut problems = Vec::new();
    // A cut-off community's own replicas hold work nobody took: they are
    // not compared, and its documents are left out of the district's sum
    // and the communities' alike (their replicas elsewhere still fold the
    // same).
    let cut_places: BTreeSet<&PlaceId> = (0..sim.nodes.len())
        .filter(|&i| cut.is_cut(i))
        .map(|i| &sim.nodes[i].id.place)
        .collect();
    let mut folded: BTreeMap<&DocumentId, (&PlaceId, BTreeMap<ReportId, Status>)> = BTreeMap::new();
    let now = sim.wall();
    let mut district = Stats::default();
    let mut communities = Stats::default();
    for (i, n) in sim.nodes.iter().enumerate() {
        if cut.is_cut(i) {
            continue;
        }
        for (id, d) in &n.store.docs {
            if id.kind() != DocKind::Reports {
                continue;
            }
            let counted = !cut_places.contains(id.place());
            let reports = report::list(d).unwrap_or_default();
            let statuses: BTreeMap<ReportId, Status> = reports
                .iter()
                .map(|r| (r.id.clone(), r.state().status))
                .collect();
            let stats = Stats::compute(
                reports.iter().map(|r| (id.place(), r)),
                &StatsFilter::default(),
                now,
            );
            if counted && n.id.parent.is_none() {
                district.merge(&stats);
            }
            // A station's replica is its community's, counted once already.
            if counted && id.place() == &n.id.place && n.id.role != node::Role::Station {
                communities.merge(&stats);
            }
            match folded.get(id) {
                None => {
                    folded.insert(id, (&n.id.place, statuses));
                }
                Some((first, s)) if *s != statuses => {
                    let differing = s
                        .iter()
                        .find(|(r, st)| statuses.get(*r) != Some(st))
                        .map(|(r, _)| r.to_string())
                        .unwrap_or_else(|| "a report".into());
                    problems.push(format!(
                        "{differing} in {id} folds differently at {first} and {}",
                        n.id.place
                    ));
                }
                _ => {}
            }
        }
    }
    if district != communities {
        problems.push(format!(
            "the district counts {} reports ({} open), its communities {} ({} open)",
            district.total, district.open, communities.total, communities.open
        ));
    }
    first_few(problems)
}

/// Every write a node acknowledged, unless it lost its store before a
/// backup held the write, is held by the writer and every node entitled to
/// the document that is not cut off; a write a cut-off node made after its
/// cut-off, by the writer alone.
fn acked(sim: &mut Sim, members: &[Member], cut: &CutOffs) -> Outcome {
    let mut problems = Vec::new();
    let writes: Vec<(usize, DocumentId, ChangeHash)> = sim
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| {
            n.acked
                .iter()
                .filter(|a| !a.lost_with_store)
                .map(move |a| (i, a.doc.clone(), a.hash))
        })
        .collect();
    for (writer, doc, hash) in writes {
        let stays_home = !cut.after(writer, &doc, &hash).is_empty();
        for (i, m) in members.iter().enumerate() {
            if i != writer && (!entitled(m, &doc) || cut.is_cut(i) || stays_home) {
                continue;
            }
            let held = sim.nodes[i]
                .store
                .docs
                .get_mut(&doc)
                .is_some_and(|d| d.get_change_by_hash(&hash).is_some());
            if !held {
                problems.push(format!(
                    "{hash} to {doc} acknowledged by {} is missing at {}",
                    sim.nodes[writer].id.place, sim.nodes[i].id.place
                ));
            }
        }
    }
    first_few(problems)
}
