//! What a community's points ledger says, read: balances, statements and
//! yearly ledger views. Entries and escrow moves are replayed together in
//! time order ([`Replay`]), so every line's balance is the one its member
//! had after it, and what stations hold shows beside it (`docs/escrow.md`).

use std::collections::BTreeMap;

use automerge::AutoCommit;
use chrono::{DateTime, Datelike, Utc};
use crdt_model::escrow::{self, EscrowKind, EscrowMove};
use crdt_model::ledger::{self, Entry};
use crdt_model::roster;
use crdt_model::{DocKind, DocumentId, MemberId, PlaceId};
use serde::{Deserialize, Serialize};

use crate::api::Node;
use crate::error::NodeError;

/// A member's balance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceRow {
    /// The community whose ledger holds it.
    pub place: PlaceId,
    /// The member.
    pub member: MemberId,
    /// Their shown name, when the roster is held.
    pub display_name: Option<String>,
    /// Points.
    pub balance: i64,
    /// Points of theirs held in escrow at stations, outside the balance
    /// until a station redeems or returns them.
    #[serde(default)]
    pub escrowed: i64,
}

/// One line of a statement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatementLine {
    /// The entry.
    #[serde(flatten)]
    pub entry: Entry,
    /// The member's balance after it.
    pub balance: i64,
}

/// One escrow move of a member in a statement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EscrowLine {
    /// The move.
    #[serde(flatten)]
    pub moved: EscrowMove,
    /// The member's balance after it.
    pub balance: i64,
    /// What the move's station holds for the member after it.
    pub held: i64,
}

/// A member's statement for one year.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatementView {
    /// The community whose ledger it is.
    pub place: PlaceId,
    /// The member.
    pub member: MemberId,
    /// The year.
    pub year: i32,
    /// A balance carried from an earlier year that this year's ledger does
    /// not hold yet (it is written with the year's first entry); 0 otherwise.
    pub carried: i64,
    /// Every entry, in order.
    pub entries: Vec<StatementLine>,
    /// Every escrow move, in order: grants leave the balance, returns come
    /// back to it, station redemptions spend what a station holds.
    #[serde(default)]
    pub escrow: Vec<EscrowLine>,
    /// The balance at the end.
    pub balance: i64,
    /// Points held for the member at stations at the end.
    #[serde(default)]
    pub escrowed: i64,
}

/// One community's ledger for one year.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerView {
    /// The community.
    pub place: PlaceId,
    /// The year.
    pub year: i32,
    /// Balances carried from an earlier year that this year's ledger does not
    /// hold yet (written with the year's first entry).
    pub carried: BTreeMap<MemberId, i64>,
    /// Every entry in order, each with its member's balance after it.
    pub entries: Vec<StatementLine>,
    /// Every escrow move in order, with its member's balance and its
    /// station's holding after it.
    #[serde(default)]
    pub escrow: Vec<EscrowLine>,
}

/// Points held in escrow per member in a ledger document.
fn escrowed_of(doc: &AutoCommit) -> Result<BTreeMap<MemberId, i64>, NodeError> {
    let mut out = BTreeMap::new();
    for ((_, m), v) in escrow::holdings(&escrow::list(doc)?) {
        *out.entry(m).or_insert(0) += v;
    }
    Ok(out)
}

/// A ledger's entries and escrow moves replayed together in (time, id)
/// order, so every line carries the balance its member had after it: a
/// grant leaves the balance, a return comes back to it, and a station's
/// redemption spends only what the station held.
struct Replay {
    /// Balances at the end, per member, from what was carried in.
    balances: BTreeMap<MemberId, i64>,
    /// What each station holds at the end, per (station, member).
    held: BTreeMap<(String, MemberId), i64>,
    entries: Vec<StatementLine>,
    escrow: Vec<EscrowLine>,
}

impl Replay {
    fn run(
        carried: &BTreeMap<MemberId, i64>,
        entries: Vec<Entry>,
        moves: Vec<EscrowMove>,
    ) -> Replay {
        let mut r = Replay {
            balances: carried.clone(),
            held: BTreeMap::new(),
            entries: Vec::new(),
            escrow: Vec::new(),
        };
        let mut moves = moves.into_iter().peekable();
        for entry in entries {
            while let Some(m) = moves.next_if(|m| (m.at, &m.id) < (entry.at, &entry.id)) {
                r.moved(m);
            }
            let b = r.balances.entry(entry.member.clone()).or_insert(0);
            *b += entry.amount;
            r.entries.push(StatementLine { balance: *b, entry });
        }
        for m in moves {
            r.moved(m);
        }
        r
    }

    fn moved(&mut self, m: EscrowMove) {
        let b = self.balances.entry(m.member.clone()).or_insert(0);
        let h = self
            .held
            .entry((m.station.clone(), m.member.clone()))
            .or_insert(0);
        match m.kind {
            EscrowKind::Grant => {
                *b -= m.points;
                *h += m.points;
            }
            EscrowKind::Return => {
                *b += m.points;
                *h -= m.points;
            }
            EscrowKind::Redeem => *h -= m.points,
        }
        self.escrow.push(EscrowLine {
            held: *h,
            balance: *b,
            moved: m,
        });
    }
}

impl Node {
    /// Shown names of the members on `place`'s roster, when it is held.
    pub(super) fn display_names(
        &mut self,
        place: &PlaceId,
    ) -> Result<BTreeMap<MemberId, String>, NodeError> {
        let roster_id = DocumentId::singleton(place.clone(), DocKind::Roster);
        Ok(match self.repo.existing(&roster_id)? {
            Some(doc) => roster::list(&*doc)?
                .into_iter()
                .map(|m| (m.id, m.display_name))
                .collect(),
            None => BTreeMap::new(),
        })
    }

    /// Balances now of the members of the ledgers held under `place`.
    pub fn balances(
        &mut self,
        place: Option<&PlaceId>,
        member: Option<&MemberId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<BalanceRow>, NodeError> {
        let mut out = Vec::new();
        for p in self.ledger_places(place)? {
            let (balances, escrowed) = match self.ledger_doc(&p, now.year())? {
                Some(id) => match self.repo.existing(&id)? {
                    Some(doc) => (ledger::balances(&*doc)?, escrowed_of(&*doc)?),
                    None => (BTreeMap::new(), BTreeMap::new()),
                },
                None => (self.carried_into(&p, now.year())?, BTreeMap::new()),
            };
            let names = self.display_names(&p)?;
            for (m, balance) in balances {
                if member.is_some_and(|x| x != &m) {
                    continue;
                }
                out.push(BalanceRow {
                    place: p.clone(),
                    display_name: names.get(&m).cloned(),
                    escrowed: escrowed.get(&m).copied().unwrap_or(0),
                    member: m,
                    balance,
                });
            }
        }
        if let Some(m) = member
            && out.is_empty()
        {
            // A member without entries has nothing: say 0 if they are on a
            // roster held here, and name the mistake otherwise.
            let view = self.member(m)?;
            out.push(BalanceRow {
                place: view.place,
                member: m.clone(),
                display_name: Some(view.member.display_name),
                balance: 0,
                escrowed: 0,
            });
        }
        Ok(out)
    }

    /// One member's entries in `year`, with the balance after each.
    pub fn statement(
        &mut self,
        member: &MemberId,
        year: i32,
        now: DateTime<Utc>,
    ) -> Result<StatementView, NodeError> {
        let place = self.member(member)?.place;
        let (entries, moves, carried) = match self.ledger_doc(&place, year)? {
            Some(id) => match self.repo.existing(&id)? {
                Some(doc) => {
                    let moves: Vec<EscrowMove> = escrow::list(&*doc)?
                        .into_iter()
                        .filter(|m| &m.member == member)
                        .collect();
                    (ledger::statement(&*doc, member)?, moves, 0)
                }
                None => (Vec::new(), Vec::new(), 0),
            },
            None if year == now.year() => {
                let carried = self.carried_into(&place, year)?;
                let c = carried.get(member).copied().unwrap_or(0);
                (Vec::new(), Vec::new(), c)
            }
            None => (Vec::new(), Vec::new(), 0),
        };
        let r = Replay::run(&[(member.clone(), carried)].into(), entries, moves);
        Ok(StatementView {
            place,
            member: member.clone(),
            year,
            carried,
            balance: r.balances.get(member).copied().unwrap_or(carried),
            escrowed: r.held.values().sum(),
            entries: r.entries,
            escrow: r.escrow,
        })
    }

    /// The ledgers of `year` held for places under `prefix` (a street holds
    /// its communities'), one view each in place order.
    pub fn ledger_views(
        &mut self,
        prefix: &PlaceId,
        year: i32,
        member: Option<&MemberId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<LedgerView>, NodeError> {
        self.ledger_places(Some(prefix))?
            .iter()
            .map(|p| self.ledger_view(p, year, member, now))
            .collect()
    }

    /// One community's entries of `year`, with running balances per member.
    pub fn ledger_view(
        &mut self,
        place: &PlaceId,
        year: i32,
        member: Option<&MemberId>,
        now: DateTime<Utc>,
    ) -> Result<LedgerView, NodeError> {
        let (entries, moves, carried) = match self.ledger_doc(place, year)? {
            Some(id) => match self.repo.existing(&id)? {
                Some(doc) => (ledger::list(&*doc)?, escrow::list(&*doc)?, BTreeMap::new()),
                None => (Vec::new(), Vec::new(), BTreeMap::new()),
            },
            None if year == now.year() => (Vec::new(), Vec::new(), self.carried_into(place, year)?),
            None => (Vec::new(), Vec::new(), BTreeMap::new()),
        };
        let mine = |m: &MemberId| member.is_none_or(|x| x == m);
        let carried: BTreeMap<MemberId, i64> =
            carried.into_iter().filter(|(m, _)| mine(m)).collect();
        let entries = entries.into_iter().filter(|e| mine(&e.member)).collect();
        let moves = moves.into_iter().filter(|m| mine(&m.member)).collect();
        let r = Replay::run(&carried, entries, moves);
        Ok(LedgerView {
            place: place.clone(),
            year,
            carried,
            entries: r.entries,
            escrow: r.escrow,
        })
    }
}
