//! Points held in escrow at a station, so a station can redeem while its link
//! to the community is down (`docs/escrow.md`).
//!
//! Layout, in the same `ledger/YYYY` document as the entries:
//! `escrow/<id>` holding `member, station, kind, points, at, by, item?`, with
//! `points` always positive and `kind` one of grant, return, redeem.
//!
//! Two counters per (station, member), each grown by one writer only:
//!
//! - the community writes grants: they leave the member's balance and enter
//!   the station's escrow;
//! - the station writes redemptions and returns against its own escrow; a
//!   return goes back to the member's balance.
//!
//! So `balance = entries − granted + returned` and
//! `held = granted − redeemed − returned`. Each writer checks its own bound
//! before writing: the community that `balance ≥ points`, the station that
//! `held ≥ points`. What either has not yet seen from the other only raises
//! its bound (a return the community has not seen, a grant the station has not
//! seen), so any merge of honest replicas keeps both counters non-negative.

use std::collections::BTreeMap;

use automerge::{ChangeHash, ReadDoc, transaction::Transactable};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, SchemaError, ValidationError};
use crate::ids::{EntryId, MemberId};
use crate::ledger::{self, ENTRY_POINTS_MAX};
use crate::report::check_text;
use crate::roster::Member;
use crate::schema::{MapRef, MapWriter, entity_ids_at, has_entity};

/// Root-key prefix of escrow moves in a ledger document.
pub const PREFIX: &str = "escrow";

named!(
    /// What an escrow move does.
    EscrowKind {
        /// The community moves points from a member's balance to a station.
        Grant => "grant",
        /// The station gives unused points back to the member's balance.
        Return => "return",
        /// The station hands out something for points it holds.
        Redeem => "redeem",
    }
);

impl EscrowKind {
    /// True for the kinds only the station itself writes.
    pub fn by_station(self) -> bool {
        matches!(self, EscrowKind::Return | EscrowKind::Redeem)
    }
}

/// One escrow move. Immutable once written, like a ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowMove {
    /// Its id; shares the namespace of ledger entry ids but not their keys.
    pub id: EntryId,
    /// Whose points.
    pub member: MemberId,
    /// The station node (its peer id) that holds the escrow.
    pub station: String,
    /// What it does.
    pub kind: EscrowKind,
    /// Points moved, always positive.
    pub points: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The node that wrote it: the community for grants, the station otherwise.
    pub by: String,
    /// For redemptions: what was taken.
    pub item: Option<String>,
}

fn key(id: &EntryId) -> String {
    format!("{PREFIX}/{id}")
}

/// Every escrow move, in (time, id) order.
pub fn list<D: ReadDoc>(doc: &D) -> Result<Vec<EscrowMove>, SchemaError> {
    list_at(doc, None)
}

/// Every escrow move the document held at `heads` (now when `None`), in
/// (time, id) order.
pub fn list_at<D: ReadDoc>(
    doc: &D,
    heads: Option<&[ChangeHash]>,
) -> Result<Vec<EscrowMove>, SchemaError> {
    let mut out = Vec::new();
    for raw in entity_ids_at(doc, PREFIX, heads) {
        let path = format!("{PREFIX}/{raw}");
        let bad = |e: crate::IdError| SchemaError {
            path: path.clone(),
            why: e.to_string(),
        };
        let id = EntryId::parse(&raw).map_err(bad)?;
        let Some(m) = MapRef::entity_at(doc, &path, heads)? else {
            continue;
        };
        let points = m.i64("points")?;
        if !(1..=ENTRY_POINTS_MAX).contains(&points) {
            return Err(SchemaError {
                path: format!("{path}/points"),
                why: format!("{points} is outside 1..={ENTRY_POINTS_MAX}"),
            });
        }
        out.push(EscrowMove {
            id,
            member: MemberId::parse(&m.str("member")?).map_err(bad)?,
            station: m.str("station")?,
            kind: m.parsed("kind", EscrowKind::from_name)?,
            points,
            at: m.time("at")?,
            by: m.str("by")?,
            item: m.opt_str("item")?,
        });
    }
    out.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    Ok(out)
}

/// How escrow moves change each member's balance: minus grants, plus returns.
/// Redemptions at a station leave the balance alone; their points left it with
/// the grant.
pub fn balance_effects(moves: &[EscrowMove]) -> BTreeMap<MemberId, i64> {
    let mut out = BTreeMap::new();
    for m in moves {
        let d = match m.kind {
            EscrowKind::Grant => -m.points,
            EscrowKind::Return => m.points,
            EscrowKind::Redeem => 0,
        };
        *out.entry(m.member.clone()).or_insert(0) += d;
    }
    out
}

/// Points each station holds for each member: granted − redeemed − returned.
pub fn holdings(moves: &[EscrowMove]) -> BTreeMap<(String, MemberId), i64> {
    let mut out = BTreeMap::new();
    for m in moves {
        let d = match m.kind {
            EscrowKind::Grant => m.points,
            EscrowKind::Return | EscrowKind::Redeem => -m.points,
        };
        *out.entry((m.station.clone(), m.member.clone()))
            .or_insert(0) += d;
    }
    out
}

/// Points `station` holds for `member`.
pub fn held<D: ReadDoc>(doc: &D, station: &str, member: &MemberId) -> Result<i64, SchemaError> {
    held_at(doc, station, member, None)
}

/// Points `station` held for `member` when the document was at `heads`
/// (now when `None`).
pub fn held_at<D: ReadDoc>(
    doc: &D,
    station: &str,
    member: &MemberId,
    heads: Option<&[ChangeHash]>,
) -> Result<i64, SchemaError> {
    Ok(list_at(doc, heads)?
        .iter()
        .filter(|m| m.station == station && &m.member == member)
        .map(|m| match m.kind {
            EscrowKind::Grant => m.points,
            EscrowKind::Return | EscrowKind::Redeem => -m.points,
        })
        .sum())
}

/// Points held for `member` at any station, per station.
pub fn held_for<D: ReadDoc>(
    doc: &D,
    member: &MemberId,
) -> Result<BTreeMap<String, i64>, SchemaError> {
    Ok(holdings(&list(doc)?)
        .into_iter()
        .filter(|((_, m), _)| m == member)
        .map(|((s, _), v)| (s, v))
        .collect())
}

fn write<T: Transactable + ReadDoc>(doc: &mut T, m: &EscrowMove) -> Result<(), ModelError> {
    check_text("station", &m.station, 100, false)?;
    if let Some(item) = &m.item {
        check_text("item", item, 100, false)?;
    }
    if m.points <= 0 {
        return Err(ValidationError::NonPositiveAmount(m.points).into());
    }
    ledger::check_size(m.points)?;
    let k = key(&m.id);
    if has_entity(doc, &k) {
        return Err(ValidationError::DuplicateEntity {
            what: "escrow move",
            id: m.id.to_string(),
        }
        .into());
    }
    MapWriter::create_entity(doc, &k)?
        .str("member", m.member.as_str())?
        .str("station", &m.station)?
        .str("kind", m.kind.as_str())?
        .i64("points", m.points)?
        .time("at", m.at)?
        .str("by", &m.by)?
        .opt_str("item", m.item.as_deref())?;
    Ok(())
}

/// The community grants `points` of `member`'s balance to `station`; refused
/// if the balance it holds is short. Written by the member's home community.
#[allow(clippy::too_many_arguments)]
pub fn grant<T: Transactable + ReadDoc>(
    doc: &mut T,
    id: &EntryId,
    member: &Member,
    station: &str,
    points: i64,
    at: DateTime<Utc>,
    by: &str,
) -> Result<EscrowMove, ModelError> {
    if points <= 0 {
        return Err(ValidationError::NonPositiveAmount(points).into());
    }
    if station == by {
        return Err(ValidationError::BadText {
            field: "station",
            why: crate::ValueRule::GrantingCommunity,
        }
        .into());
    }
    let bal = ledger::balance(doc, &member.id)?;
    if bal < points {
        return Err(ValidationError::Overdraw {
            member: member.id.to_string(),
            balance: bal,
            needed: points,
        }
        .into());
    }
    let m = EscrowMove {
        id: id.clone(),
        member: member.id.clone(),
        station: station.to_owned(),
        kind: EscrowKind::Grant,
        points,
        at,
        by: by.to_owned(),
        item: None,
    };
    write(doc, &m)?;
    Ok(m)
}

/// The station `by` redeems (`item` is `Some`) or returns (`item` is `None`)
/// `points` it holds for `member`; refused if it holds fewer. The member need
/// not be on any roster the station holds: the grant vouches for them.
pub fn station_move<T: Transactable + ReadDoc>(
    doc: &mut T,
    id: &EntryId,
    member: &MemberId,
    points: i64,
    item: Option<&str>,
    at: DateTime<Utc>,
    by: &str,
) -> Result<EscrowMove, ModelError> {
    if points <= 0 {
        return Err(ValidationError::NonPositiveAmount(points).into());
    }
    let have = held(doc, by, member)?;
    if have < points {
        return Err(ValidationError::EscrowShort {
            station: by.to_owned(),
            member: member.to_string(),
            held: have,
            needed: points,
        }
        .into());
    }
    let m = EscrowMove {
        id: id.clone(),
        member: member.clone(),
        station: by.to_owned(),
        kind: if item.is_some() {
            EscrowKind::Redeem
        } else {
            EscrowKind::Return
        },
        points,
        at,
        by: by.to_owned(),
        item: item.map(str::to_owned),
    };
    write(doc, &m)?;
    Ok(m)
}

/// Checks that a move read from a peer's replica names its writer correctly:
/// station moves are written by the station they name, grants by someone else.
/// Who that someone is (the home community) is the node's check, which knows
/// admissions.
pub fn check_author(m: &EscrowMove) -> Result<(), ValidationError> {
    if m.kind.by_station() != (m.by == m.station) {
        return Err(ValidationError::NotTheStation {
            station: m.station.clone(),
            by: m.by.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::AutoCommit;
    use chrono::TimeZone;

    use crate::ledger::{Entry, EntryKind};
    use crate::roster::{Member, MemberKind, MemberStatus};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
    }

    fn member(id: &str) -> Member {
        Member {
            id: MemberId::parse(id).unwrap(),
            display_name: format!("rider {id}"),
            kind: MemberKind::Rider,
            platform: None,
            grid: None,
            roles: vec![],
            status: MemberStatus::Active,
            applied_at: t0(),
            left_at: None,
            certificate: None,
            training: vec![],
        }
    }

    fn id(s: &str) -> EntryId {
        EntryId::parse(s).unwrap()
    }

    fn earn(doc: &mut AutoCommit, m: &Member, points: i64) {
        let e = Entry {
            id: id(&format!("earn-{points}")),
            member: m.id.clone(),
            amount: points,
            kind: EntryKind::Award,
            at: t0(),
            by: "community".into(),
            reason: Some("help".into()),
            reference: None,
            redeemed_at: None,
            item: None,
        };
        ledger::credit(doc, m, &e).unwrap();
    }

    #[test]
    fn grant_moves_points_from_balance_to_station() {
        let mut doc = AutoCommit::new();
        let m = member("rider-1");
        earn(&mut doc, &m, 10);
        grant(&mut doc, &id("g1"), &m, "station-a", 6, t0(), "community").unwrap();
        assert_eq!(ledger::balance(&doc, &m.id).unwrap(), 4);
        assert_eq!(held(&doc, "station-a", &m.id).unwrap(), 6);
        let e = grant(&mut doc, &id("g2"), &m, "station-a", 5, t0(), "community");
        assert!(matches!(
            e,
            Err(ModelError::Invalid(ValidationError::Overdraw { .. }))
        ));
    }

    #[test]
    fn station_redeems_and_returns_within_its_escrow_only() {
        let mut doc = AutoCommit::new();
        let m = member("rider-1");
        earn(&mut doc, &m, 10);
        grant(&mut doc, &id("g1"), &m, "station-a", 6, t0(), "community").unwrap();
        station_move(
            &mut doc,
            &id("r1"),
            &m.id,
            4,
            Some("meal"),
            t0(),
            "station-a",
        )
        .unwrap();
        let short = station_move(
            &mut doc,
            &id("r2"),
            &m.id,
            3,
            Some("meal"),
            t0(),
            "station-a",
        );
        assert!(matches!(
            short,
            Err(ModelError::Invalid(ValidationError::EscrowShort {
                held: 2,
                ..
            }))
        ));
        let other = station_move(
            &mut doc,
            &id("r3"),
            &m.id,
            1,
            Some("meal"),
            t0(),
            "station-b",
        );
        assert!(other.is_err(), "station-b holds nothing for the member");
        station_move(&mut doc, &id("back"), &m.id, 2, None, t0(), "station-a").unwrap();
        assert_eq!(held(&doc, "station-a", &m.id).unwrap(), 0);
        assert_eq!(ledger::balance(&doc, &m.id).unwrap(), 6);
    }

    #[test]
    fn a_move_naming_another_station_is_refused_on_read() {
        let forged = EscrowMove {
            id: id("f"),
            member: MemberId::parse("rider-1").unwrap(),
            station: "station-a".into(),
            kind: EscrowKind::Redeem,
            points: 1,
            at: t0(),
            by: "station-b".into(),
            item: Some("meal".into()),
        };
        assert!(check_author(&forged).is_err());
        let self_grant = EscrowMove {
            kind: EscrowKind::Grant,
            by: "station-a".into(),
            ..forged
        };
        assert!(check_author(&self_grant).is_err());
    }
}
