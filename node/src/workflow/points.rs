//! The points ledger as node operations: rule-based and discretionary awards,
//! redemptions at stations and merchants, compensating corrections. Reading
//! it (balances, statements, ledger views) is `points_views.rs`; escrow at
//! stations is `escrow.rs`.
//!
//! Ledgers are yearly documents (`<place>/ledger/YYYY`). The first write of a
//! new year opens its document with one `opening` entry per member carrying
//! the previous year's balance forward, in the same commit as the write, so a
//! balance is always the sum of one document's entries.

use std::collections::BTreeMap;

use automerge::AutoCommit;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone as _, Utc};
use crdt_model::directory;
use crdt_model::ids::{EntryId, MerchantId, StationId, TaskId};
use crdt_model::ledger::{self, Entry, EntryKind, RULE_POINTS_PATROL, RULE_POINTS_REPORT};
use crdt_model::roster::{Member, MemberStatus};
use crdt_model::{DocKind, DocumentId, MemberId, Period, PlaceId, ReportId, ValidationError};
use serde::{Deserialize, Serialize};

use super::points_views::BalanceRow;
use super::{AwardRefusal, RedeemRefusal, WorkflowError, WorkflowResponse, mint};
use crate::api::Node;
use crate::config::Role;
use crate::error::NodeError;
use crate::repo::Writer;

/// `yizhan points ...`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum PointsRequest {
    /// Award points to one or more members by a rule or at discretion.
    Award {
        /// Who earns them (the reporter, for a report; may be empty then).
        members: Vec<MemberId>,
        /// Why.
        rule: AwardRule,
    },
    /// Redeem points for an item at a station or merchant of the directory.
    Redeem {
        /// Whose points.
        member: MemberId,
        /// The station or merchant, by id or exact name.
        at: String,
        /// What is taken.
        item: String,
        /// The price in points; a merchant's listed price when omitted.
        points: Option<i64>,
    },
    /// A compensating entry for a mistake.
    Correct {
        /// Whose balance.
        member: MemberId,
        /// Signed change.
        points: i64,
        /// Why.
        reason: String,
        /// The entry it corrects.
        entry: Option<EntryId>,
    },
    /// Balances now.
    Balance {
        /// Only ledgers of places under this prefix.
        place: Option<PlaceId>,
        /// Only this member.
        member: Option<MemberId>,
    },
    /// Every entry of one member in one year, with the balance after each.
    Statement {
        /// The member.
        member: MemberId,
        /// The year; the current one when omitted.
        year: Option<i32>,
    },
    /// A signed certificate of one member's service over a period of local
    /// days (default: from their application to today).
    Certificate {
        /// The member.
        member: MemberId,
        /// The first day.
        from: Option<NaiveDate>,
        /// The last day.
        to: Option<NaiveDate>,
    },
    /// Points in escrow at stations: grant, return, show.
    Escrow(super::escrow::EscrowRequest),
    /// Every entry of one year of each ledger held under a place, with each
    /// member's balance after each entry: the statements of all members.
    Ledger {
        /// A place prefix (a community, or a street covering its
        /// communities); this node's place when omitted.
        place: Option<PlaceId>,
        /// The year; the current one when omitted.
        year: Option<i32>,
        /// Only this member's entries.
        member: Option<MemberId>,
    },
}

impl PointsRequest {
    /// True for requests that change the store.
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            PointsRequest::Balance { .. }
                | PointsRequest::Statement { .. }
                | PointsRequest::Ledger { .. }
                | PointsRequest::Certificate { .. }
        ) && !matches!(self, PointsRequest::Escrow(r) if !r.writes())
    }
}

/// Why points are awarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum AwardRule {
    /// A verified report, to its reporter, once.
    Report {
        /// The report.
        report: ReportId,
    },
    /// A signed-off task, to the member who did it, once (sign-off does this).
    Task {
        /// The task.
        task: TaskId,
    },
    /// A patrol.
    Patrol {
        /// A note, such as the route.
        reason: Option<String>,
    },
    /// A discretionary award.
    Discretionary {
        /// How many points.
        points: i64,
        /// Why.
        reason: String,
    },
}

/// What an award, redemption or correction wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Booked {
    /// The new entries.
    pub entries: Vec<Entry>,
    /// The balances of the members concerned, after.
    pub balances: Vec<BalanceRow>,
}

/// Where a write's ledger entries go: this year's document, and the opening
/// balances to write first when that document is new.
pub(crate) struct LedgerPlan {
    id: DocumentId,
    opening: Option<BTreeMap<MemberId, i64>>,
}

impl LedgerPlan {
    /// The ledger document inside a write, opened for the year if new. Call
    /// once per write.
    pub(crate) fn open<'w>(
        &self,
        w: &'w mut Writer<'_>,
        now: DateTime<Utc>,
        by: &str,
    ) -> Result<&'w mut AutoCommit, NodeError> {
        let doc = w.doc(&self.id)?;
        if let Some(carried) = &self.opening {
            // Dated at the start of the year, so statements list it first.
            let start = Utc
                .with_ymd_and_hms(now.year(), 1, 1, 0, 0, 0)
                .single()
                .unwrap_or(now);
            ledger::open_year(doc, carried, start, by)?;
        }
        Ok(doc)
    }
}

/// A fresh entry id for `doc`.
pub(crate) fn mint_entry(doc: &AutoCommit) -> Result<EntryId, NodeError> {
    let held = ledger::list(doc)?;
    mint("e", |e: &EntryId| held.iter().any(|x| &x.id == e))
}

fn year_of(id: &DocumentId) -> Option<i32> {
    match id.period() {
        Some(Period::Year { year }) => Some(year),
        _ => None,
    }
}

impl Node {
    pub(super) fn execute_points(
        &mut self,
        req: PointsRequest,
        now: DateTime<Utc>,
    ) -> Result<WorkflowResponse, NodeError> {
        match req {
            PointsRequest::Balance { place, member } => Ok(WorkflowResponse::Balances(
                self.balances(place.as_ref(), member.as_ref(), now)?,
            )),
            PointsRequest::Statement { member, year } => Ok(WorkflowResponse::Statement(
                self.statement(&member, year.unwrap_or(now.year()), now)?,
            )),
            PointsRequest::Ledger {
                place,
                year,
                member,
            } => {
                let prefix = place.unwrap_or_else(|| self.config.place.clone());
                Ok(WorkflowResponse::Ledgers(self.ledger_views(
                    &prefix,
                    year.unwrap_or(now.year()),
                    member.as_ref(),
                    now,
                )?))
            }
            PointsRequest::Certificate { member, from, to } => Ok(WorkflowResponse::Certificate(
                Box::new(self.certificate(&member, from, to, now)?),
            )),
            PointsRequest::Escrow(r) => self.execute_escrow(r, now),
            PointsRequest::Award { members, rule } => {
                Ok(WorkflowResponse::Booked(self.award(members, rule, now)?))
            }
            PointsRequest::Redeem {
                member,
                at,
                item,
                points,
            } if self.config.role == Role::Station => {
                // A station redeems from what it holds in escrow, never
                // from the balance (docs/escrow.md).
                let (_, price) = self.price(&at, &item, points)?;
                let moved = self.station_write(&member, price, Some(&item), now)?;
                Ok(WorkflowResponse::Escrow(Box::new(
                    self.escrow_moved(moved, now)?,
                )))
            }
            PointsRequest::Redeem {
                member,
                at,
                item,
                points,
            } => Ok(WorkflowResponse::Booked(
                self.redeem(&member, &at, &item, points, now)?,
            )),
            PointsRequest::Correct {
                member,
                points,
                reason,
                entry,
            } => {
                let place = self.own_community("ledger")?;
                let m = self.own_member(&member)?;
                let plan = self.ledger_plan(&place, now)?;
                let by = self.author();
                let e = self.repo.write(now, |w| {
                    let doc = plan.open(w, now, &by)?;
                    let e = Entry {
                        id: mint_entry(doc)?,
                        member: m.id.clone(),
                        amount: points,
                        kind: EntryKind::Correction,
                        at: now,
                        by: by.clone(),
                        reason: Some(reason),
                        reference: entry.map(|e| e.to_string()),
                        redeemed_at: None,
                        item: None,
                    };
                    ledger::correct(doc, &m, &e)?;
                    Ok(e)
                })?;
                Ok(WorkflowResponse::Booked(self.booked(vec![e], now)?))
            }
        }
    }

    /// The entries written, with the balances after them.
    fn booked(&mut self, entries: Vec<Entry>, now: DateTime<Utc>) -> Result<Booked, NodeError> {
        let place = self.config.place.clone();
        let mut balances = Vec::new();
        for e in &entries {
            if balances.iter().any(|b: &BalanceRow| b.member == e.member) {
                continue;
            }
            balances.extend(self.balances(Some(&place), Some(&e.member), now)?);
        }
        Ok(Booked { entries, balances })
    }

    fn award(
        &mut self,
        mut members: Vec<MemberId>,
        rule: AwardRule,
        now: DateTime<Utc>,
    ) -> Result<Booked, NodeError> {
        let place = self.own_community("ledger")?;
        members.sort();
        members.dedup();
        let entries = self.all_entries(&place)?;
        // (kind, points, reason, reference) per award.
        let (kind, points, reason, reference) = match rule {
            AwardRule::Report { report } => {
                let (doc_id, r) = self.find_report(&report)?;
                if doc_id.place() != &place {
                    return Err(refused_award(AwardRefusal::NotOwnReport {
                        report: report.to_string(),
                        owner: doc_id.place().to_string(),
                    }));
                }
                if !r.was_verified() {
                    return Err(refused_award(AwardRefusal::NotVerified {
                        report: report.to_string(),
                        status: r.state().status.as_str(),
                    }));
                }
                let Some(reporter) = r.reporter.clone() else {
                    return Err(refused_award(AwardRefusal::NoReporter {
                        report: report.to_string(),
                    }));
                };
                if members.iter().any(|m| m != &reporter) {
                    return Err(refused_award(AwardRefusal::NotTheReporter {
                        report: report.to_string(),
                        reporter: reporter.to_string(),
                    }));
                }
                members = vec![reporter];
                (
                    EntryKind::Report,
                    RULE_POINTS_REPORT,
                    Some(format!("verified report ({})", r.category)),
                    Some(report.to_string()),
                )
            }
            AwardRule::Task { task } => {
                if let Some(e) = ledger::credited_for(&entries, EntryKind::Task, task.as_str()) {
                    return Err(WorkflowError::DoubleAward {
                        reference: format!("task {task}"),
                        member: e.member.to_string(),
                        entry: e.id.to_string(),
                    }
                    .into());
                }
                return Err(refused_award(AwardRefusal::TaskBySignOff {
                    task: task.to_string(),
                }));
            }
            AwardRule::Patrol { reason } => (EntryKind::Patrol, RULE_POINTS_PATROL, reason, None),
            AwardRule::Discretionary { points, reason } => {
                if points <= 0 {
                    return Err(ValidationError::NonPositiveAmount(points).into());
                }
                (EntryKind::Award, points, Some(reason), None)
            }
        };
        if members.is_empty() {
            return Err(refused_award(AwardRefusal::NoMember));
        }
        if let Some(r) = &reference
            && let Some(e) = ledger::credited_for(&entries, kind, r)
        {
            return Err(WorkflowError::DoubleAward {
                reference: format!("report {r}"),
                member: e.member.to_string(),
                entry: e.id.to_string(),
            }
            .into());
        }
        let mut on_roster: Vec<Member> = Vec::new();
        for id in &members {
            let m = self.own_member(id)?;
            if kind != EntryKind::Report && m.status != MemberStatus::Active {
                return Err(ValidationError::MemberNotActive {
                    member: id.to_string(),
                    status: m.status.as_str(),
                    action: "earning points",
                }
                .into());
            }
            on_roster.push(m);
        }
        let plan = self.ledger_plan(&place, now)?;
        let by = self.author();
        let written = self.repo.write(now, |w| {
            let doc = plan.open(w, now, &by)?;
            let mut written = Vec::new();
            for m in &on_roster {
                let e = Entry {
                    id: mint_entry(doc)?,
                    member: m.id.clone(),
                    amount: points,
                    kind,
                    at: now,
                    by: by.clone(),
                    reason: reason.clone(),
                    reference: reference.clone(),
                    redeemed_at: None,
                    item: None,
                };
                ledger::credit(doc, m, &e)?;
                written.push(e);
            }
            Ok(written)
        })?;
        self.booked(written, now)
    }

    fn redeem(
        &mut self,
        member: &MemberId,
        at: &str,
        item: &str,
        points: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Booked, NodeError> {
        let place = self.own_community("ledger")?;
        let m = self.own_member(member)?;
        let (where_id, price) = self.price(at, item, points)?;
        let plan = self.ledger_plan(&place, now)?;
        let by = self.author();
        let e = self.repo.write(now, |w| {
            let doc = plan.open(w, now, &by)?;
            let id = mint_entry(doc)?;
            Ok(ledger::redeem(
                doc, &id, &m, price, &where_id, item, now, &by,
            )?)
        })?;
        self.booked(vec![e], now)
    }

    /// Finds the station or merchant of this community's directory and the
    /// price of `item` there: a merchant's listed price, or `points` at a station.
    fn price(
        &mut self,
        at: &str,
        item: &str,
        points: Option<i64>,
    ) -> Result<(String, i64), NodeError> {
        let refused = |why: RedeemRefusal| NodeError::from(WorkflowError::RedeemRefused(why));
        let dir_id = self.own_doc(DocKind::Directory);
        let (stations, merchants) = match self.repo.existing(&dir_id)? {
            Some(doc) => (
                directory::list_stations(&*doc)?,
                directory::list_merchants(&*doc)?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let station_id = StationId::parse(at).ok();
        let merchant_id = MerchantId::parse(at).ok();
        if let Some(mc) = merchants
            .iter()
            .find(|mc| Some(&mc.id) == merchant_id.as_ref() || mc.name == at)
        {
            let Some(price) = mc.rewards.get(item).copied() else {
                let offered: Vec<(String, i64)> =
                    mc.rewards.iter().map(|(i, p)| (i.clone(), *p)).collect();
                let (name, merchant, item) = (mc.name.clone(), mc.id.to_string(), item.to_owned());
                return Err(refused(if offered.is_empty() {
                    RedeemRefusal::NothingOffered {
                        name,
                        merchant,
                        item,
                    }
                } else {
                    RedeemRefusal::NotOffered {
                        name,
                        merchant,
                        item,
                        offered,
                    }
                }));
            };
            if let Some(p) = points
                && p != price
            {
                return Err(refused(RedeemRefusal::WrongPrice {
                    name: mc.name.clone(),
                    item: item.to_owned(),
                    price,
                    points: p,
                }));
            }
            return Ok((mc.id.to_string(), price));
        }
        if let Some(st) = stations
            .iter()
            .find(|st| Some(&st.id) == station_id.as_ref() || st.name == at)
        {
            let Some(p) = points else {
                return Err(refused(RedeemRefusal::NoPrices {
                    name: st.name.clone(),
                    station: st.id.to_string(),
                }));
            };
            if p <= 0 {
                return Err(ValidationError::NonPositiveAmount(p).into());
            }
            return Ok((st.id.to_string(), p));
        }
        Err(refused(RedeemRefusal::UnknownPlace { at: at.to_owned() }))
    }

    /// The held ledgers of `place`, oldest first.
    fn ledgers(&self, place: &PlaceId) -> Result<Vec<(i32, DocumentId)>, NodeError> {
        let mut out: Vec<(i32, DocumentId)> = self
            .held(DocKind::Ledger)?
            .into_iter()
            .filter(|id| id.place() == place)
            .filter_map(|id| year_of(&id).map(|y| (y, id)))
            .collect();
        out.sort_by_key(|(y, _)| *y);
        Ok(out)
    }

    /// The places under `prefix` (every place without one) whose ledgers
    /// are held here, in order, each once.
    pub(super) fn ledger_places(
        &self,
        prefix: Option<&PlaceId>,
    ) -> Result<Vec<PlaceId>, NodeError> {
        let mut places: Vec<PlaceId> = self
            .held(DocKind::Ledger)?
            .into_iter()
            .map(|id| id.place().clone())
            .filter(|p| prefix.is_none_or(|f| f.contains(p)))
            .collect();
        places.dedup();
        Ok(places)
    }

    /// Every entry of every year of `place`'s ledger.
    pub(crate) fn all_entries(&mut self, place: &PlaceId) -> Result<Vec<Entry>, NodeError> {
        let mut out = Vec::new();
        for (_, id) in self.ledgers(place)? {
            if let Some(doc) = self.repo.existing(&id)? {
                out.extend(ledger::list(&*doc)?);
            }
        }
        Ok(out)
    }

    /// The ledger document of `year` if it holds anything.
    pub(super) fn ledger_doc(
        &mut self,
        place: &PlaceId,
        year: i32,
    ) -> Result<Option<DocumentId>, NodeError> {
        for (y, id) in self.ledgers(place)? {
            if y == year
                && let Some(doc) = self.repo.existing(&id)?
                && !doc.get_heads().is_empty()
            {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Balances at the end of the latest ledger before `year`: what that
    /// year opens with.
    pub(super) fn carried_into(
        &mut self,
        place: &PlaceId,
        year: i32,
    ) -> Result<BTreeMap<MemberId, i64>, NodeError> {
        let prior = self
            .ledgers(place)?
            .into_iter()
            .rev()
            .find(|(y, _)| *y < year);
        match prior {
            Some((_, id)) => match self.repo.existing(&id)? {
                Some(doc) => Ok(ledger::balances(&*doc)?),
                None => Ok(BTreeMap::new()),
            },
            None => Ok(BTreeMap::new()),
        }
    }

    /// Where this year's entries of `place` go.
    pub(crate) fn ledger_plan(
        &mut self,
        place: &PlaceId,
        now: DateTime<Utc>,
    ) -> Result<LedgerPlan, NodeError> {
        let id = DocumentId::ledger(place.clone(), now);
        let opening = match self.ledger_doc(place, now.year())? {
            Some(_) => None,
            None => Some(self.carried_into(place, now.year())?),
        };
        Ok(LedgerPlan { id, opening })
    }
}

fn refused_award(why: AwardRefusal) -> NodeError {
    WorkflowError::AwardRefused(why).into()
}
