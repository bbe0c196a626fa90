//! The points ledger of one year (`ledger/YYYY`): immutable entries, never
//! edited. Earnings are credits; redemptions are debits; a mistake is fixed by a
//! compensating correction. A balance is the sum of a member's entries.
//!
//! Layout: `entry/<id>` holding `member, amount, kind, at, by, reason?,
//! reference?, redeemed_at?, item?`.
//!
//! Why no balance goes negative: credits commute, and debits (redemptions,
//! negative corrections, escrow grants) are written only by the member's home
//! community node, which checks the balance it holds. Since every credit or
//! escrow return it has not yet seen only raises the true balance, a debit
//! that fits the balance it sees fits the merged one too. Stations redeem only
//! from escrow (`escrow.rs`), never from the balance.

use std::collections::BTreeMap;

use automerge::{ChangeHash, ReadDoc, transaction::Transactable};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, SchemaError, ValidationError};
use crate::escrow;
use crate::ids::{EntryId, MemberId};
use crate::report::check_text;
use crate::roster::Member;
use crate::schema::{MapRef, MapWriter, entity_ids_at, has_entity};

/// Largest amount one entry may move.
pub const ENTRY_POINTS_MAX: i64 = 100_000;
/// Points for a verified report, under the default rules.
pub const RULE_POINTS_REPORT: i64 = 5;
/// Points for a patrol, under the default rules.
pub const RULE_POINTS_PATROL: i64 = 3;

named!(
    /// Why an entry exists.
    EntryKind {
        /// Balance carried forward from the previous year.
        Opening => "opening",
        /// Rule-based: a verified report.
        Report => "report",
        /// Rule-based: a signed-off task.
        Task => "task",
        /// Rule-based: a patrol.
        Patrol => "patrol",
        /// Discretionary award, with a reason.
        Award => "award",
        /// Redemption at a station or merchant.
        Redeem => "redeem",
        /// Compensating entry for a mistake.
        Correction => "correction",
    }
);

impl EntryKind {
    /// True for kinds that only add points.
    pub fn is_credit(self) -> bool {
        matches!(
            self,
            EntryKind::Opening
                | EntryKind::Report
                | EntryKind::Task
                | EntryKind::Patrol
                | EntryKind::Award
        )
    }
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its id.
    pub id: EntryId,
    /// Whose points.
    pub member: MemberId,
    /// Signed change: positive for credits, negative for redemptions.
    pub amount: i64,
    /// Why.
    pub kind: EntryKind,
    /// When.
    pub at: DateTime<Utc>,
    /// The node that wrote it.
    pub by: String,
    /// Free-text reason (required for awards and corrections).
    pub reason: Option<String>,
    /// What it refers to: a report, a task, or the entry a correction fixes.
    pub reference: Option<String>,
    /// For redemptions: the station or merchant.
    pub redeemed_at: Option<String>,
    /// For redemptions: what was taken.
    pub item: Option<String>,
}

fn key(id: &EntryId) -> String {
    format!("entry/{id}")
}

/// Every entry, in (time, id) order.
pub fn list<D: ReadDoc>(doc: &D) -> Result<Vec<Entry>, SchemaError> {
    list_at(doc, None)
}

/// Every entry the document held at `heads` (now when `None`), in (time,
/// id) order.
pub fn list_at<D: ReadDoc>(
    doc: &D,
    heads: Option<&[ChangeHash]>,
) -> Result<Vec<Entry>, SchemaError> {
    let mut out = Vec::new();
    for raw in entity_ids_at(doc, "entry", heads) {
        let path = format!("entry/{raw}");
        let bad = |e: crate::IdError| SchemaError {
            path: path.clone(),
            why: e.to_string(),
        };
        let id = EntryId::parse(&raw).map_err(bad)?;
        let Some(m) = MapRef::entity_at(doc, &path, heads)? else {
            continue;
        };
        out.push(Entry {
            id,
            member: MemberId::parse(&m.str("member")?).map_err(bad)?,
            amount: m.i64("amount")?,
            kind: m.parsed("kind", EntryKind::from_name)?,
            at: m.time("at")?,
            by: m.str("by")?,
            reason: m.opt_str("reason")?,
            reference: m.opt_str("reference")?,
            redeemed_at: m.opt_str("redeemed_at")?,
            item: m.opt_str("item")?,
        });
    }
    out.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    Ok(out)
}

/// Balance of every member with entries or escrow moves: the sum of their
/// entries, less what is held in escrow at stations (`escrow.rs`).
pub fn balances<D: ReadDoc>(doc: &D) -> Result<BTreeMap<MemberId, i64>, SchemaError> {
    let mut out = BTreeMap::new();
    for e in list(doc)? {
        *out.entry(e.member).or_insert(0) += e.amount;
    }
    for (m, d) in escrow::balance_effects(&escrow::list(doc)?) {
        *out.entry(m).or_insert(0) += d;
    }
    Ok(out)
}

/// One member's balance, escrow deducted.
pub fn balance<D: ReadDoc>(doc: &D, member: &MemberId) -> Result<i64, SchemaError> {
    balance_at(doc, member, None)
}

/// One member's balance, escrow deducted, as the document held it at
/// `heads` (now when `None`).
pub fn balance_at<D: ReadDoc>(
    doc: &D,
    member: &MemberId,
    heads: Option<&[ChangeHash]>,
) -> Result<i64, SchemaError> {
    let entries: i64 = list_at(doc, heads)?
        .iter()
        .filter(|e| &e.member == member)
        .map(|e| e.amount)
        .sum();
    let moves = escrow::list_at(doc, heads)?;
    let held = escrow::balance_effects(&moves)
        .get(member)
        .copied()
        .unwrap_or(0);
    Ok(entries + held)
}

/// The entry of `kind` already written for `reference`, if any. Rule-based
/// awards (a verified report, a signed-off task) are made once per reference;
/// callers look across every year's entries before writing another.
pub fn credited_for<'e>(
    entries: &'e [Entry],
    kind: EntryKind,
    reference: &str,
) -> Option<&'e Entry> {
    entries
        .iter()
        .find(|e| e.kind == kind && e.reference.as_deref() == Some(reference))
}

/// One member's entries, in order: their statement.
pub fn statement<D: ReadDoc>(doc: &D, member: &MemberId) -> Result<Vec<Entry>, SchemaError> {
    Ok(list(doc)?
        .into_iter()
        .filter(|e| &e.member == member)
        .collect())
}

/// Refuses an amount (either sign) larger than one entry may move.
pub(crate) fn check_size(amount: i64) -> Result<(), ValidationError> {
    if amount.abs() > ENTRY_POINTS_MAX {
        return Err(ValidationError::BadText {
            field: "points amount",
            why: crate::ValueRule::EntryTooLarge {
                amount: amount.abs(),
                max: ENTRY_POINTS_MAX,
            },
        });
    }
    Ok(())
}

fn write<T: Transactable + ReadDoc>(doc: &mut T, e: &Entry) -> Result<(), ModelError> {
    for (field, v, max) in [
        ("reason", &e.reason, 500),
        ("reference", &e.reference, 100),
        ("station or merchant", &e.redeemed_at, 100),
        ("item", &e.item, 100),
    ] {
        if let Some(v) = v {
            check_text(field, v, max, false)?;
        }
    }
    check_size(e.amount)?;
    let k = key(&e.id);
    if has_entity(doc, &k) {
        return Err(ValidationError::DuplicateEntity {
            what: "ledger entry",
            id: e.id.to_string(),
        }
        .into());
    }
    MapWriter::create_entity(doc, &k)?
        .str("member", e.member.as_str())?
        .i64("amount", e.amount)?
        .str("kind", e.kind.as_str())?
        .time("at", e.at)?
        .str("by", &e.by)?
        .opt_str("reason", e.reason.as_deref())?
        .opt_str("reference", e.reference.as_deref())?
        .opt_str("redeemed_at", e.redeemed_at.as_deref())?
        .opt_str("item", e.item.as_deref())?;
    Ok(())
}

/// Writes a credit (earning or award) for a member on the roster.
/// `entry.amount` must be positive; awards need a reason.
pub fn credit<T: Transactable + ReadDoc>(
    doc: &mut T,
    member: &Member,
    entry: &Entry,
) -> Result<(), ModelError> {
    debug_assert_eq!(member.id, entry.member);
    if !entry.kind.is_credit() {
        return Err(ValidationError::BadText {
            field: "entry kind",
            why: crate::ValueRule::NotAnEarning {
                kind: entry.kind.as_str(),
            },
        }
        .into());
    }
    if entry.amount <= 0 {
        return Err(ValidationError::NonPositiveAmount(entry.amount).into());
    }
    if entry.kind == EntryKind::Award && entry.reason.is_none() {
        return Err(ValidationError::BadText {
            field: "reason",
            why: crate::ValueRule::AwardNeedsReason,
        }
        .into());
    }
    write(doc, entry)
}

/// Redeems `points` (positive) for `item` at a station or merchant; refused if
/// it would overdraw. Writes an entry of `-points`.
#[allow(clippy::too_many_arguments)]
pub fn redeem<T: Transactable + ReadDoc>(
    doc: &mut T,
    id: &EntryId,
    member: &Member,
    points: i64,
    at_place: &str,
    item: &str,
    at: DateTime<Utc>,
    by: &str,
) -> Result<Entry, ModelError> {
    if points <= 0 {
        return Err(ValidationError::NonPositiveAmount(points).into());
    }
    let bal = balance(doc, &member.id)?;
    if bal < points {
        return Err(ValidationError::Overdraw {
            member: member.id.to_string(),
            balance: bal,
            needed: points,
        }
        .into());
    }
    let e = Entry {
        id: id.clone(),
        member: member.id.clone(),
        amount: -points,
        kind: EntryKind::Redeem,
        at,
        by: by.to_owned(),
        reason: None,
        reference: None,
        redeemed_at: Some(at_place.to_owned()),
        item: Some(item.to_owned()),
    };
    write(doc, &e)?;
    Ok(e)
}

/// Writes a compensating correction of `amount` (non-zero, either sign) with a
/// reason and the entry it corrects. A negative correction may not overdraw.
pub fn correct<T: Transactable + ReadDoc>(
    doc: &mut T,
    member: &Member,
    entry: &Entry,
) -> Result<(), ModelError> {
    debug_assert_eq!(member.id, entry.member);
    if entry.kind != EntryKind::Correction {
        return Err(ValidationError::BadText {
            field: "entry kind",
            why: crate::ValueRule::NotACorrection,
        }
        .into());
    }
    if entry.amount == 0 {
        return Err(ValidationError::NonPositiveAmount(0).into());
    }
    if entry.reason.is_none() {
        return Err(ValidationError::BadText {
            field: "reason",
            why: crate::ValueRule::CorrectionNeedsReason,
        }
        .into());
    }
    if let Some(r) = &entry.reference {
        let entries = list(doc)?;
        if !entries
            .iter()
            .any(|e| e.id.as_str() == r && e.member == member.id)
        {
            return Err(ValidationError::UnknownEntity {
                what: "ledger entry of this member",
                id: r.clone(),
            }
            .into());
        }
    }
    if entry.amount < 0 {
        let bal = balance(doc, &member.id)?;
        if bal + entry.amount < 0 {
            return Err(ValidationError::Overdraw {
                member: member.id.to_string(),
                balance: bal,
                needed: -entry.amount,
            }
            .into());
        }
    }
    write(doc, entry)
}

/// Opens a new year: one `opening` entry per member with a positive balance
/// carried forward. Ids are derived from the member, so replaying the opening
/// is refused instead of doubling balances.
pub fn open_year<T: Transactable + ReadDoc>(
    doc: &mut T,
    carried: &BTreeMap<MemberId, i64>,
    at: DateTime<Utc>,
    by: &str,
) -> Result<(), ModelError> {
    for (member, amount) in carried.iter().filter(|(_, a)| **a > 0) {
        write(
            doc,
            &Entry {
                id: EntryId::parse(&format!("opening-{member}"))?,
                member: member.clone(),
                amount: *amount,
                kind: EntryKind::Opening,
                at,
                by: by.to_owned(),
                reason: Some("balance carried forward".into()),
                reference: None,
                redeemed_at: None,
                item: None,
            },
        )?;
    }
    Ok(())
}
