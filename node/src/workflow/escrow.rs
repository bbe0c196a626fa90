//! Points in escrow at stations as node operations (`docs/escrow.md`): the
//! community grants a station part of a member's balance, the station
//! redeems or returns what it holds while its link to the office is down,
//! and either side shows what each station holds.
//!
//! Who writes what follows the write rule receivers enforce
//! (`crdt_model::escrow_rules`): grants only on the member's community node,
//! redemptions and returns only on the station that holds the points. A
//! station never opens a year's ledger: its opening entries are the
//! community's to write, so a station with no ledger for this year holds
//! nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crdt_model::escrow::{self, EscrowKind, EscrowMove};
use crdt_model::ids::EntryId;
use crdt_model::{DocumentId, MemberId, PlaceId, ValidationError};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use super::points_views::BalanceRow;
use super::{WorkflowError, WorkflowResponse, mint};
use crate::api::Node;
use crate::config::Role;
use crate::error::NodeError;
use crate::trust::NodeKey;

/// `yizhan points escrow ...`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum EscrowRequest {
    /// On the community: move `points` of a member's balance to a station.
    Grant {
        /// The station node's peer id.
        station: String,
        /// Whose points.
        member: MemberId,
        /// How many.
        points: i64,
    },
    /// On the station: give points it holds back to the member's balance.
    Return {
        /// The station's peer id, if named: it must be this node.
        station: Option<String>,
        /// Whose points.
        member: MemberId,
        /// How many; everything it holds for the member when omitted.
        points: Option<i64>,
    },
    /// On the station: give back everything it holds, for every member, in
    /// one write.
    ReturnAll {
        /// The station's peer id, if named: it must be this node.
        station: Option<String>,
    },
    /// What each station holds, per member, in this year's ledgers held here.
    Show {
        /// Only this station (its peer id).
        station: Option<String>,
    },
}

impl EscrowRequest {
    /// True for requests that change the store.
    pub fn writes(&self) -> bool {
        !matches!(self, EscrowRequest::Show { .. })
    }
}

/// What one station holds for one member, and how it got there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowRow {
    /// The community whose ledger holds the moves.
    pub place: PlaceId,
    /// The station's peer id.
    pub station: String,
    /// The member.
    pub member: MemberId,
    /// Their shown name, when the roster is held.
    pub display_name: Option<String>,
    /// Points the community granted the station for the member.
    pub granted: i64,
    /// Points the station redeemed.
    pub redeemed: i64,
    /// Points the station gave back.
    pub returned: i64,
    /// Points the station holds now: granted − redeemed − returned.
    pub held: i64,
}

/// What an escrow command did or found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EscrowView {
    /// The move written, for a grant, return or station redemption.
    pub written: Option<EscrowMove>,
    /// For `return --all`: every return written, one per member (empty when
    /// the station held nothing). Absent from every other command's view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned: Option<Vec<EscrowMove>>,
    /// Holdings: every one for `show`, the one moved otherwise.
    pub rows: Vec<EscrowRow>,
    /// The member's balance after a move (empty for `show`).
    pub balances: Vec<BalanceRow>,
}

/// Folds moves into one row per (station, member), in that order.
pub(crate) fn rows_of(
    place: &PlaceId,
    moves: &[EscrowMove],
    names: &BTreeMap<MemberId, String>,
) -> Vec<EscrowRow> {
    let mut rows: BTreeMap<(String, MemberId), EscrowRow> = BTreeMap::new();
    for m in moves {
        let row = rows
            .entry((m.station.clone(), m.member.clone()))
            .or_insert_with(|| EscrowRow {
                place: place.clone(),
                station: m.station.clone(),
                member: m.member.clone(),
                display_name: names.get(&m.member).cloned(),
                granted: 0,
                redeemed: 0,
                returned: 0,
                held: 0,
            });
        match m.kind {
            EscrowKind::Grant => {
                row.granted += m.points;
                row.held += m.points;
            }
            EscrowKind::Redeem => {
                row.redeemed += m.points;
                row.held -= m.points;
            }
            EscrowKind::Return => {
                row.returned += m.points;
                row.held -= m.points;
            }
        }
    }
    rows.into_values().collect()
}

fn refused(why: super::EscrowRefusal) -> NodeError {
    WorkflowError::EscrowRefused(why).into()
}

impl Node {
    pub(super) fn execute_escrow(
        &mut self,
        req: EscrowRequest,
        now: DateTime<Utc>,
    ) -> Result<WorkflowResponse, NodeError> {
        let view = match req {
            EscrowRequest::Show { station } => EscrowView {
                written: None,
                returned: None,
                rows: self.escrow_rows(station.as_deref(), None, now)?,
                balances: Vec::new(),
            },
            EscrowRequest::Grant {
                station,
                member,
                points,
            } => {
                let moved = self.grant_escrow(&station, &member, points, now)?;
                self.escrow_moved(moved, now)?
            }
            EscrowRequest::Return {
                station,
                member,
                points,
            } => {
                let moved = self.return_escrow(station.as_deref(), &member, points, now)?;
                self.escrow_moved(moved, now)?
            }
            EscrowRequest::ReturnAll { station } => {
                self.named_station_is_me(station.as_deref())?;
                let moved = self.return_held(None, now)?;
                self.escrow_returned(moved, now)?
            }
        };
        Ok(WorkflowResponse::Escrow(Box::new(view)))
    }

    /// The view after `moved` was written: its row and the member's balance.
    pub(super) fn escrow_moved(
        &mut self,
        moved: EscrowMove,
        now: DateTime<Utc>,
    ) -> Result<EscrowView, NodeError> {
        let rows = self.escrow_rows(Some(&moved.station), Some(&moved.member), now)?;
        let place = self.config.place.clone();
        let balances = self.balances(Some(&place), Some(&moved.member), now)?;
        Ok(EscrowView {
            written: Some(moved),
            returned: None,
            rows,
            balances,
        })
    }

    /// The view after `return --all` wrote `moved`: the rows and balances
    /// of the members it returned points of.
    fn escrow_returned(
        &mut self,
        moved: Vec<EscrowMove>,
        now: DateTime<Utc>,
    ) -> Result<EscrowView, NodeError> {
        let me = self.author();
        let place = self.config.place.clone();
        let of = |m: &MemberId| moved.iter().any(|x| &x.member == m);
        let rows = self
            .escrow_rows(Some(&me), None, now)?
            .into_iter()
            .filter(|r| of(&r.member))
            .collect();
        let balances = self
            .balances(Some(&place), None, now)?
            .into_iter()
            .filter(|b| of(&b.member))
            .collect();
        Ok(EscrowView {
            written: None,
            returned: Some(moved),
            rows,
            balances,
        })
    }

    /// Holdings in this year's ledgers held here, optionally of one station
    /// or member.
    fn escrow_rows(
        &mut self,
        station: Option<&str>,
        member: Option<&MemberId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<EscrowRow>, NodeError> {
        let mut out = Vec::new();
        for place in self.ledger_places(None)? {
            let id = DocumentId::ledger(place.clone(), now);
            let moves = match self.repo.existing(&id)? {
                Some(doc) => escrow::list(&*doc)?,
                None => continue,
            };
            let names = self.display_names(&place)?;
            out.extend(
                rows_of(&place, &moves, &names)
                    .into_iter()
                    .filter(|r| station.is_none_or(|s| s == r.station))
                    .filter(|r| member.is_none_or(|m| m == &r.member)),
            );
        }
        Ok(out)
    }

    /// Checks that `station` names a node admitted as a station of `place`
    /// and not revoked, as the charter held here records it. Points granted
    /// to any other node would be stuck: only the station named may return
    /// them.
    fn admitted_station(&mut self, place: &PlaceId, station: &str) -> Result<(), NodeError> {
        let peer: PeerId = station.parse().map_err(|_| {
            refused(super::EscrowRefusal::NotAPeerId {
                station: station.to_owned(),
            })
        })?;
        let key = NodeKey::of_peer(&peer)?;
        let view = self.charter_view()?;
        let not_station = |why: String| {
            NodeError::from(WorkflowError::NotAStation {
                station: station.to_owned(),
                why,
            })
        };
        let Some(cred) = self.known_credential(&key, &view)? else {
            return Err(not_station(
                "its admission has not reached this node (it comes with the charter from the street)".into(),
            ));
        };
        let m = cred
            .structure()
            .map_err(|e| not_station(format!("its admission does not hold: {e}")))?;
        if m.role != Role::Station || &m.place != place {
            return Err(not_station(format!("it is a {} at {}", m.role, m.place)));
        }
        if view.revoked_keys().contains(&key) {
            return Err(not_station("it has been revoked".into()));
        }
        Ok(())
    }

    fn grant_escrow(
        &mut self,
        station: &str,
        member: &MemberId,
        points: i64,
        now: DateTime<Utc>,
    ) -> Result<EscrowMove, NodeError> {
        let place = self.own_community("escrow grant")?;
        if points <= 0 {
            return Err(ValidationError::NonPositiveAmount(points).into());
        }
        let m = self.own_member(member)?;
        self.admitted_station(&place, station)?;
        let plan = self.ledger_plan(&place, now)?;
        let by = self.author();
        self.repo.write(now, |w| {
            let doc = plan.open(w, now, &by)?;
            let id = mint_move(doc)?;
            Ok(escrow::grant(doc, &id, &m, station, points, now, &by)?)
        })
    }

    /// This node's place, when it is a station; otherwise the refusal
    /// naming what only a station writes.
    fn own_station(&self, what: &'static str) -> Result<PlaceId, NodeError> {
        if self.config.role != Role::Station {
            return Err(refused(super::EscrowRefusal::StationOnly {
                what,
                role: self.config.role.as_str(),
            }));
        }
        Ok(self.config.place.clone())
    }

    fn return_escrow(
        &mut self,
        station: Option<&str>,
        member: &MemberId,
        points: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<EscrowMove, NodeError> {
        let me = self.named_station_is_me(station)?;
        let held = self.held_here(member, now)?;
        let points = match points {
            Some(p) => p,
            None if held > 0 => held,
            None => {
                return Err(ValidationError::EscrowShort {
                    station: me,
                    member: member.to_string(),
                    held,
                    needed: 1,
                }
                .into());
            }
        };
        self.station_write(member, points, None, now)
    }

    /// Refuses a return on any node but a station, or on a station other
    /// than the one named; returns this station's peer id.
    fn named_station_is_me(&self, station: Option<&str>) -> Result<String, NodeError> {
        let me = self.author();
        if let Some(s) = station
            && s != me
        {
            return Err(refused(super::EscrowRefusal::WrongStation {
                me: me.clone(),
                station: s.to_owned(),
            }));
        }
        self.own_station("a return")?;
        Ok(me)
    }

    /// What this station holds, per member it holds anything for, in this
    /// year's ledger.
    pub(crate) fn held_by_station(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<MemberId, i64>, NodeError> {
        let id = DocumentId::ledger(self.config.place.clone(), now);
        let me = self.author();
        let moves = match self.repo.existing(&id)? {
            Some(doc) => escrow::list(&*doc)?,
            None => return Ok(BTreeMap::new()),
        };
        Ok(escrow::holdings(&moves)
            .into_iter()
            .filter(|((s, _), held)| s == &me && *held > 0)
            .map(|((_, m), held)| (m, held))
            .collect())
    }

    /// Returns what this station holds for every member, in one write: all
    /// of it, or per member no more than `most` says (members `most` leaves
    /// out get nothing back). Writes nothing when there is nothing to
    /// return.
    pub(crate) fn return_held(
        &mut self,
        most: Option<&BTreeMap<MemberId, i64>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<EscrowMove>, NodeError> {
        let place = self.own_station("a return")?;
        let due: Vec<(MemberId, i64)> = self
            .held_by_station(now)?
            .into_iter()
            .filter_map(|(m, held)| {
                let cap = most.map_or(Some(held), |c| c.get(&m).copied())?;
                let p = held.min(cap);
                (p > 0).then_some((m, p))
            })
            .collect();
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let me = self.author();
        let id = DocumentId::ledger(place, now);
        self.repo.write(now, |w| {
            let doc = w.doc(&id)?;
            let mut out = Vec::with_capacity(due.len());
            for (member, points) in &due {
                let move_id = mint_move(doc)?;
                out.push(escrow::station_move(
                    doc, &move_id, member, *points, None, now, &me,
                )?);
            }
            Ok(out)
        })
    }

    /// What this station holds for `member` in this year's ledger.
    fn held_here(&mut self, member: &MemberId, now: DateTime<Utc>) -> Result<i64, NodeError> {
        let id = DocumentId::ledger(self.config.place.clone(), now);
        let me = self.author();
        Ok(match self.repo.existing(&id)? {
            Some(doc) => escrow::held(&*doc, &me, member)?,
            None => 0,
        })
    }

    /// Writes this station's redemption (`item` given) or return of
    /// `points` it holds for `member`; refused, naming what it holds, when
    /// that is less.
    pub(super) fn station_write(
        &mut self,
        member: &MemberId,
        points: i64,
        item: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<EscrowMove, NodeError> {
        let place = self.own_station("a station redemption")?;
        let me = self.author();
        let id = DocumentId::ledger(place, now);
        // No ledger of this year here means no grant has reached this
        // station: refuse without creating the document.
        if self.repo.existing(&id)?.is_none() {
            if points <= 0 {
                return Err(ValidationError::NonPositiveAmount(points).into());
            }
            return Err(ValidationError::EscrowShort {
                station: me,
                member: member.to_string(),
                held: 0,
                needed: points,
            }
            .into());
        }
        self.repo.write(now, |w| {
            let doc = w.doc(&id)?;
            let move_id = mint_move(doc)?;
            Ok(escrow::station_move(
                doc, &move_id, member, points, item, now, &me,
            )?)
        })
    }
}

/// A fresh escrow move id for `doc`.
fn mint_move(doc: &automerge::AutoCommit) -> Result<EntryId, NodeError> {
    let held = escrow::list(doc)?;
    mint("x", |e: &EntryId| held.iter().any(|x| &x.id == e))
}
