//! What stations do (`docs/escrow.md`): a community grants a station points
//! of a member's balance; the station redeems them for meals, whether or not
//! its link is up, and returns some unused. Every move goes through the real
//! model functions, is signed, and is checked by every receiver.

use crdt_model::DocumentId;
use crdt_model::escrow;
use crdt_model::ids::EntryId;
use rand::Rng;

use crate::sim::Sim;

fn stations(sim: &Sim) -> Vec<usize> {
    (0..sim.nodes.len())
        .filter(|&i| sim.nodes[i].id.role == node::Role::Station)
        .collect()
}

fn new_id(sim: &mut Sim, prefix: &str) -> EntryId {
    EntryId::parse(&format!("{prefix}-{:08x}", sim.rng.random::<u32>())).expect("a valid slug")
}

/// One escrow act at a random station: its community grants it points, or
/// it redeems or returns what it holds. Some asks exceed the bound and must
/// be refused by the writer's own check.
pub fn act(sim: &mut Sim) {
    let all = stations(sim);
    if all.is_empty() {
        return;
    }
    let s = all[sim.rng.random_range(0..all.len())];
    let Some(c) = sim.nodes[s].id.parent else {
        return;
    };
    let ledger = DocumentId::ledger(sim.nodes[s].id.place.clone(), sim.wall());
    let station = sim.nodes[s].id.key.to_string();
    let at = sim.wall();
    if sim.rng.random_bool(0.3) {
        let members = &sim.nodes[c].members;
        if members.is_empty() {
            return;
        }
        let member = members[sim.rng.random_range(0..members.len())].clone();
        let points = sim.rng.random_range(1..=10);
        let id = new_id(sim, "g");
        let by = sim.nodes[c].id.key.to_string();
        sim.write(c, &ledger, |d| {
            escrow::grant(d, &id, &member, &station, points, at, &by)
        });
        return;
    }
    let held: Vec<_> = sim.nodes[s]
        .store
        .docs
        .get(&ledger)
        .and_then(|d| escrow::list(d).ok())
        .map(|moves| escrow::holdings(&moves))
        .unwrap_or_default()
        .into_iter()
        .filter(|((st, _), _)| st == &station)
        .map(|((_, m), h)| (m, h))
        .collect();
    if held.is_empty() {
        return;
    }
    let (member, have) = held[sim.rng.random_range(0..held.len())].clone();
    let (points, item) = if sim.rng.random_bool(0.15) {
        (have.max(1), None)
    } else {
        (sim.rng.random_range(1..=8), Some("meal"))
    };
    let id = new_id(sim, "sr");
    let done = sim.write(s, &ledger, |d| {
        escrow::station_move(d, &id, &member, points, item, at, &station)
    });
    if done.is_some() && item.is_some() {
        sim.nodes[s].redemptions.insert(id.to_string());
    }
}
