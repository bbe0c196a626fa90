//! Write rules for escrow moves in a ledger (`docs/escrow.md`): a station
//! only adds redemptions and returns against its own escrow, within what it
//! held when it wrote; only other writers (the home community) add grants,
//! and always in their own name.
//!
//! The receiver runs [`check_ledger_change`] on a scratch copy holding the
//! change and its dependencies, like the report rules in `write_rules.rs`.
//! The bound is judged at the change's own moment (the change and its
//! ancestors), so later grants cannot excuse an overspend and later
//! redemptions cannot make an honest one look forged. That moment is read
//! in place, at the change's hash, rather than from a fork of the scratch
//! copy: forking rebuilds the whole ledger for every change checked.

use automerge::legacy::{Key, ObjectId, OpType};

use automerge::{ActorId, AutoCommit, Change, ObjId, ObjType, ROOT, ReadDoc};

use crate::escrow::{self, EscrowKind};
use crate::ledger;
use crate::write_rules::{Rule, RuleError};

fn refuse(detail: impl Into<String>) -> RuleError {
    RuleError {
        rule: Rule::Escrow,
        detail: detail.into(),
    }
}

/// Checks one change to a ledger document written by `by` (its peer id);
/// `station` says whether the writer was admitted as a station.
pub fn check_ledger_change(
    doc: &AutoCommit,
    change: &Change,
    by: &str,
    station: bool,
) -> Result<(), RuleError> {
    let actor = change.actor_id();
    let start = change.start_op().get();
    let ops = start..start + change.len() as u64;
    let created_here = |obj: &ObjectId| matches!(obj, ObjectId::Id(id) if id.actor() == actor && ops.contains(&id.counter()));
    let mut created = Vec::new();
    // Objects made by earlier changes that a community writes into: an
    // entry it corrects, or (refused below) a move it would rewrite.
    let mut older = Vec::new();
    for op in change.decode().operations {
        let key = match &op.key {
            Key::Map(k) => k.to_string(),
            Key::Seq(_) => return Err(refuse("writes into a list")),
        };
        let fresh = op.pred.is_empty() && !op.insert && op.action != OpType::Delete;
        match &op.obj {
            ObjectId::Root => match key.strip_prefix("escrow/") {
                Some(id) if fresh && op.action == OpType::Make(ObjType::Map) => {
                    created.push(id.to_owned());
                }
                Some(_) => return Err(refuse(format!("rewrites or deletes {key}"))),
                None if station => {
                    return Err(refuse(format!(
                        "puts {key}, but a station writes only escrow moves"
                    )));
                }
                None => {}
            },
            obj if created_here(obj) && !fresh => {
                return Err(refuse(format!(
                    "rewrites field {key} of its own new object"
                )));
            }
            obj if created_here(obj) => {}
            _ if station => {
                return Err(refuse(format!(
                    "writes {key} inside an object it did not create"
                )));
            }
            obj => older.push((obj.clone(), key)),
        }
    }
    if let Some(key) = rewritten_move(doc, &older) {
        return Err(refuse(format!("rewrites field {key} of an escrow move")));
    }
    if created.is_empty() {
        return Ok(());
    }
    // The moves as this change left them, with only what its writer saw:
    // read at the change's own hash, without copying the document.
    let at = [change.hash()];
    let heads = Some(&at[..]);
    let moves =
        escrow::list_at(doc, heads).map_err(|e| refuse(format!("writes a bad move: {e}")))?;
    // Both counters come from the one list of moves read above; entries
    // are read only when a grant needs the balance. Parsing the ledger is
    // what the check costs (docs/benchmarks.md), so it is done once.
    let held = escrow::holdings(&moves);
    let moved = escrow::balance_effects(&moves);
    let mut entries: Option<Vec<ledger::Entry>> = None;
    for id in &created {
        let Some(m) = moves.iter().find(|m| m.id.as_str() == id) else {
            return Err(refuse(format!("makes escrow/{id} but no readable move")));
        };
        if m.by != by {
            return Err(refuse(format!("writes move {id} in the name of {}", m.by)));
        }
        escrow::check_author(m).map_err(|e| refuse(format!("writes move {id}: {e}")))?;
        if station != m.kind.by_station() {
            return Err(refuse(format!(
                "writes a {} move {id}, which a {} may not",
                m.kind,
                if station { "station" } else { "community" }
            )));
        }
        if m.kind == EscrowKind::Grant {
            if entries.is_none() {
                entries = Some(
                    ledger::list_at(doc, heads)
                        .map_err(|e| refuse(format!("writes a bad entry: {e}")))?,
                );
            }
            let earned: i64 = entries
                .iter()
                .flatten()
                .filter(|e| e.member == m.member)
                .map(|e| e.amount)
                .sum();
            let bal = earned + moved.get(&m.member).copied().unwrap_or(0);
            if bal < 0 {
                return Err(refuse(format!(
                    "grants {} points, {} more than member {} had",
                    m.points, -bal, m.member
                )));
            }
        } else {
            let held = held
                .get(&(m.station.clone(), m.member.clone()))
                .copied()
                .unwrap_or(0);
            if held < 0 {
                return Err(refuse(format!(
                    "spends {} points, {} more than station {} held for member {}",
                    m.points, -held, m.station, m.member
                )));
            }
        }
    }
    Ok(())
}

/// The first field of `older` that lies inside an existing escrow move.
/// Moves are append-only for every writer: a grant edited after a station
/// spent from it would leave the station's redemptions unbacked.
fn rewritten_move(doc: &AutoCommit, older: &[(ObjectId, String)]) -> Option<String> {
    if older.is_empty() {
        return None;
    }
    let moves: Vec<(u64, ActorId)> = doc
        .keys(ROOT)
        .filter(|k| k.starts_with("escrow/"))
        .filter_map(|k| match doc.get(ROOT, k.as_str()) {
            Ok(Some((_, ObjId::Id(counter, actor, _)))) => Some((counter, actor)),
            _ => None,
        })
        .collect();
    older.iter().find_map(|(obj, key)| match obj {
        ObjectId::Id(id)
            if moves
                .iter()
                .any(|(c, a)| *c == id.counter() && a == id.actor()) =>
        {
            Some(key.clone())
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use chrono::{TimeZone, Utc};

    use crate::ids::{EntryId, MemberId};
    use crate::ledger::{Entry, EntryKind};
    use crate::roster::{Member, MemberKind, MemberStatus};

    const COMMUNITY: &str = "community";
    const STATION: &str = "station-a";

    fn member() -> Member {
        Member {
            id: MemberId::parse("m-1").unwrap(),
            display_name: "rider".into(),
            kind: MemberKind::Rider,
            platform: None,
            grid: None,
            roles: vec![],
            status: MemberStatus::Active,
            applied_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            left_at: None,
            certificate: None,
            training: vec![],
        }
    }

    fn id(s: &str) -> EntryId {
        EntryId::parse(s).unwrap()
    }

    /// A community ledger with 10 points earned and 6 granted to the station,
    /// and a station replica forked from it.
    fn granted() -> (AutoCommit, AutoCommit) {
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        let mut c = AutoCommit::new().with_actor(ActorId::from(vec![1; 16]));
        let m = member();
        let e = Entry {
            id: id("earn"),
            member: m.id.clone(),
            amount: 10,
            kind: EntryKind::Patrol,
            at,
            by: COMMUNITY.into(),
            reason: None,
            reference: None,
            redeemed_at: None,
            item: None,
        };
        ledger::credit(&mut c, &m, &e).unwrap();
        escrow::grant(&mut c, &id("g"), &m, STATION, 6, at, COMMUNITY).unwrap();
        c.commit();
        let s = c.fork().with_actor(ActorId::from(vec![2; 16]));
        (c, s)
    }

    fn last(doc: &mut AutoCommit) -> Change {
        doc.commit();
        doc.get_last_local_change().unwrap().clone()
    }

    #[test]
    fn honest_station_and_community_moves_are_accepted() {
        let (mut c, mut s) = granted();
        let at = Utc::now();
        escrow::station_move(&mut s, &id("r"), &member().id, 6, Some("meal"), at, STATION).unwrap();
        let ch = last(&mut s);
        assert_eq!(check_ledger_change(&s, &ch, STATION, true), Ok(()));
        escrow::grant(&mut c, &id("g2"), &member(), STATION, 4, at, COMMUNITY).unwrap();
        let ch = last(&mut c);
        assert_eq!(check_ledger_change(&c, &ch, COMMUNITY, false), Ok(()));
    }

    #[test]
    fn the_bound_is_judged_at_the_change_not_after_later_merges() {
        let at = Utc::now();
        let (mut c, mut s) = granted();
        // Honest at the time: 6 held, 6 spent.
        escrow::station_move(&mut s, &id("r"), &member().id, 6, Some("meal"), at, STATION).unwrap();
        let honest = last(&mut s);
        // An overspend of 1, which a grant written concurrently would cover.
        let o = s.put_object(ROOT, "escrow/over", ObjType::Map).unwrap();
        for (k, v) in [("member", "m-1"), ("station", STATION), ("kind", "redeem")] {
            s.put(&o, k, v).unwrap();
        }
        s.put(&o, "by", STATION).unwrap();
        s.put(&o, "points", 1).unwrap();
        s.put(&o, "at", at.timestamp_millis()).unwrap();
        let over = last(&mut s);
        escrow::grant(&mut c, &id("g2"), &member(), STATION, 4, at, COMMUNITY).unwrap();
        c.commit();
        s.merge(&mut c).unwrap();
        assert_eq!(escrow::held(&s, STATION, &member().id).unwrap(), 3);
        assert_eq!(check_ledger_change(&s, &honest, STATION, true), Ok(()));
        let e = check_ledger_change(&s, &over, STATION, true).unwrap_err();
        assert!(e.to_string().contains("1 more than station"), "{e}");
    }

    #[test]
    fn station_overspend_forgery_and_other_writes_are_refused() {
        let at = Utc::now();
        // Past its escrow: written around the model's own check.
        let (_, mut s) = granted();
        let forged = escrow::EscrowMove {
            id: id("over"),
            member: member().id,
            station: STATION.into(),
            kind: EscrowKind::Redeem,
            points: 7,
            at,
            by: STATION.into(),
            item: Some("meal".into()),
        };
        let raw = |doc: &mut AutoCommit, m: &escrow::EscrowMove| {
            let o = doc
                .put_object(ROOT, format!("escrow/{}", m.id), ObjType::Map)
                .unwrap();
            doc.put(&o, "member", m.member.as_str()).unwrap();
            doc.put(&o, "station", m.station.as_str()).unwrap();
            doc.put(&o, "kind", m.kind.as_str()).unwrap();
            doc.put(&o, "points", m.points).unwrap();
            doc.put(&o, "at", m.at.timestamp_millis()).unwrap();
            doc.put(&o, "by", m.by.as_str()).unwrap();
            last(doc)
        };
        let ch = raw(&mut s, &forged);
        let e = check_ledger_change(&s, &ch, STATION, true).unwrap_err();
        assert!(e.to_string().contains("1 more than station"), "{e}");
        // Spending another station's escrow.
        let (_, mut s) = granted();
        let other = escrow::EscrowMove {
            id: id("other"),
            station: "station-b".into(),
            points: 1,
            ..forged.clone()
        };
        let ch = raw(&mut s, &other);
        assert!(check_ledger_change(&s, &ch, STATION, true).is_err());
        // A station granting to itself.
        let (_, mut s) = granted();
        let grant = escrow::EscrowMove {
            id: id("self"),
            kind: EscrowKind::Grant,
            item: None,
            ..forged.clone()
        };
        let ch = raw(&mut s, &grant);
        assert!(check_ledger_change(&s, &ch, STATION, true).is_err());
        // A community writing a station's redemption.
        let (mut c, _) = granted();
        let by_community = escrow::EscrowMove {
            id: id("c"),
            points: 1,
            by: COMMUNITY.into(),
            ..forged.clone()
        };
        let ch = raw(&mut c, &by_community);
        assert!(check_ledger_change(&c, &ch, COMMUNITY, false).is_err());
        // A station writing a ledger entry or touching the grant.
        let (_, mut s) = granted();
        s.put(ROOT, "entry/x", 1).unwrap();
        let ch = last(&mut s);
        assert!(check_ledger_change(&s, &ch, STATION, true).is_err());
        let (_, mut s) = granted();
        let (_, g) = s.get(ROOT, "escrow/g").unwrap().unwrap();
        s.put(&g, "points", 60).unwrap();
        let ch = last(&mut s);
        assert!(check_ledger_change(&s, &ch, STATION, true).is_err());
    }

    #[test]
    fn a_community_corrects_entries_but_never_rewrites_a_move() {
        // Shrinking a grant after the station spent it would unback the
        // station's redemptions, whoever merges first.
        let (mut c, _) = granted();
        let (_, g) = c.get(ROOT, "escrow/g").unwrap().unwrap();
        c.put(&g, "points", 1).unwrap();
        let ch = last(&mut c);
        let e = check_ledger_change(&c, &ch, COMMUNITY, false).unwrap_err();
        assert!(
            e.to_string().contains("field points of an escrow move"),
            "{e}"
        );
        // Its own entries stay correctable as before.
        let (mut c, _) = granted();
        let (_, earn) = c.get(ROOT, "entry/earn").unwrap().unwrap();
        c.put(&earn, "reason", "patrol, corrected").unwrap();
        let ch = last(&mut c);
        assert_eq!(check_ledger_change(&c, &ch, COMMUNITY, false), Ok(()));
    }
}
