//! The roster as node operations: applications (with the personal data going
//! to roster-private), approval, suspension, certificates, grid moves and
//! training records; listing and showing members.
//!
//! Personal data is shown only by the member's own community node: it is the
//! only node holding roster-private, and the view adds it only there.

use chrono::{DateTime, NaiveDate, Utc};
use crdt_model::ids::TrainingId;
use crdt_model::roster::{
    self, Certificate, Member, MemberKind, MemberStatus, NewMember, Role as MemberRole,
    TrainingRecord,
};
use crdt_model::roster_private::{self, PrivateRecord};
use crdt_model::{DocKind, DocumentId, MemberId, PlaceId};
use serde::{Deserialize, Serialize};

use super::roster_upkeep::{ImportRow, MemberChanges};
use super::{WorkflowError, WorkflowResponse, mint};
use crate::api::Node;
use crate::config::Role;
use crate::error::NodeError;

/// `yizhan roster ...`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum RosterRequest {
    /// A new applicant, status `applied`.
    Add {
        /// What the office typed.
        #[serde(flatten)]
        application: MemberApplication,
        /// Record it even when the phone is already another member's.
        #[serde(default)]
        force: bool,
    },
    /// Correct a member's shown name, platform or grid and their personal
    /// data (name, phone, ID number), each only where given.
    Edit {
        /// The member.
        member: MemberId,
        /// The corrections.
        changes: MemberChanges,
        /// Record a phone that is already another member's.
        #[serde(default)]
        force: bool,
    },
    /// Many applications from a spreadsheet, in one commit, or none of them
    /// when any row is refused.
    Import {
        /// The rows, with the file's line numbers.
        rows: Vec<ImportRow>,
        /// Check every row and write nothing.
        #[serde(default)]
        dry_run: bool,
        /// Accept phones already on the roster or twice in the file.
        #[serde(default)]
        force: bool,
    },
    /// Approve, suspend, reinstate, or record that a member left.
    SetStatus {
        /// The member.
        member: MemberId,
        /// The status to move to.
        to: MemberStatus,
    },
    /// Certify an active member as governance observer.
    Certify {
        /// The member.
        member: MemberId,
        /// The certificate.
        certificate: Certificate,
    },
    /// Move a member to another grid.
    Move {
        /// The member.
        member: MemberId,
        /// The new grid.
        grid: String,
    },
    /// Record a training the member attended.
    Train {
        /// The member.
        member: MemberId,
        /// What was taught.
        topic: String,
        /// When.
        date: NaiveDate,
        /// How long, in hours.
        hours: f64,
        /// Who gave it.
        trainer: Option<String>,
    },
    /// Members of every roster held.
    List {
        /// Only rosters of places under this prefix.
        place: Option<PlaceId>,
        /// Only members with this status.
        status: Option<MemberStatus>,
        /// Only members of this grid.
        grid: Option<String>,
    },
    /// One member, with personal data on their own community node.
    Show {
        /// The member.
        member: MemberId,
        /// Show the ID number whole instead of masked (only on the
        /// member's own community node, the only one that holds it).
        #[serde(default)]
        reveal: bool,
    },
}

impl RosterRequest {
    /// True for requests that change the store.
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            RosterRequest::List { .. }
                | RosterRequest::Show { .. }
                | RosterRequest::Import { dry_run: true, .. }
        )
    }
}

/// An application to join the roster, as the operator types it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberApplication {
    /// The name shown to staff (a nickname).
    pub display_name: String,
    /// Rider, courier, driver, other.
    pub kind: MemberKind,
    /// The platform they work for.
    pub platform: Option<String>,
    /// Their grid.
    pub grid: Option<String>,
    /// Roles applied for.
    pub roles: Vec<MemberRole>,
    /// Legal name: goes to roster-private only.
    pub real_name: String,
    /// Phone: goes to roster-private only.
    pub phone: String,
    /// Resident ID number: goes to roster-private only.
    pub id_number: Option<String>,
}

impl MemberApplication {
    /// The roster entry and the roster-private record: what goes where.
    fn split(self, id: MemberId, now: DateTime<Utc>) -> (NewMember, PrivateRecord) {
        let member = NewMember {
            id,
            display_name: self.display_name,
            kind: self.kind,
            platform: self.platform,
            grid: self.grid,
            roles: self.roles,
            applied_at: now,
        };
        let private = PrivateRecord {
            real_name: self.real_name,
            phone: self.phone,
            id_number: self.id_number,
        };
        (member, private)
    }
}

/// A member as operators see them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberView {
    /// The community whose roster holds them.
    pub place: PlaceId,
    /// The roster entry.
    #[serde(flatten)]
    pub member: Member,
    /// Personal data, only on the member's own community node.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub private: Option<PrivateRecord>,
}

impl MemberView {
    /// Masks the ID number: every display shows it masked unless the
    /// operator asks to see it whole on the member's own community node.
    pub fn mask(&mut self) {
        if let Some(n) = self.private.as_mut().and_then(|p| p.id_number.as_mut()) {
            *n = mask_id_number(n);
        }
    }
}

/// An ID number with all but its first and last four characters starred:
/// `530102199001011234` shows as `5301**********1234`. Shorter numbers are
/// starred whole, so at least eight characters are always hidden.
pub fn mask_id_number(n: &str) -> String {
    let chars: Vec<char> = n.chars().collect();
    if chars.len() < 16 {
        return "*".repeat(chars.len());
    }
    let (head, rest) = chars.split_at(4);
    let (middle, tail) = rest.split_at(rest.len() - 4);
    let mut out: String = head.iter().collect();
    out.extend(std::iter::repeat_n('*', middle.len()));
    out.extend(tail);
    out
}

impl Node {
    pub(super) fn execute_roster(
        &mut self,
        req: RosterRequest,
        now: DateTime<Utc>,
    ) -> Result<WorkflowResponse, NodeError> {
        let member = match req {
            RosterRequest::List {
                place,
                status,
                grid,
            } => {
                return Ok(WorkflowResponse::Members(self.members(
                    place.as_ref(),
                    status,
                    grid.as_deref(),
                )?));
            }
            RosterRequest::Show { member, reveal } => {
                if reveal {
                    self.own_community("revealing an ID number")?;
                }
                let mut view = self.member(&member)?;
                if !reveal {
                    view.mask();
                }
                return Ok(WorkflowResponse::Member(Box::new(view)));
            }
            RosterRequest::Add { application, force } => {
                self.add_member(application, force, now)?
            }
            RosterRequest::Edit {
                member,
                changes,
                force,
            } => {
                self.edit_member(&member, changes, force, now)?;
                member
            }
            RosterRequest::Import {
                rows,
                dry_run,
                force,
            } => {
                return Ok(WorkflowResponse::Imported(
                    self.import_members(rows, dry_run, force, now)?,
                ));
            }
            RosterRequest::SetStatus { member, to } => {
                self.write_roster(now, |doc| {
                    roster::set_status(doc, &member, to, now).map(drop)
                })?;
                member
            }
            RosterRequest::Certify {
                member,
                certificate,
            } => {
                self.write_roster(now, |doc| roster::certify(doc, &member, &certificate))?;
                member
            }
            RosterRequest::Move { member, grid } => {
                self.write_roster(now, |doc| roster::move_grid(doc, &member, &grid))?;
                member
            }
            RosterRequest::Train {
                member,
                topic,
                date,
                hours,
                trainer,
            } => {
                self.own_community("roster")?;
                let m = self.own_member(&member)?;
                let id: TrainingId =
                    mint("tr", |t: &TrainingId| m.training.iter().any(|x| &x.id == t))?;
                let record = TrainingRecord {
                    id,
                    topic,
                    date,
                    hours,
                    trainer,
                };
                self.write_roster(now, |doc| roster::add_training(doc, &member, &record))?;
                member
            }
        };
        let mut view = self.member(&member)?;
        view.mask();
        Ok(WorkflowResponse::Member(Box::new(view)))
    }

    /// Runs one model write on this community's roster, durably.
    fn write_roster(
        &mut self,
        now: DateTime<Utc>,
        f: impl FnOnce(&mut automerge::AutoCommit) -> Result<(), crdt_model::ModelError>,
    ) -> Result<(), NodeError> {
        self.own_community("roster")?;
        let id = self.own_doc(DocKind::Roster);
        self.repo.write(now, |w| Ok(f(w.doc(&id)?)?))
    }

    fn add_member(
        &mut self,
        app: MemberApplication,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<MemberId, NodeError> {
        self.own_community("roster")?;
        if !force && let Some(holder) = self.phone_taken(&app.phone, None)? {
            return Err(holder.into());
        }
        let mut ids = self.write_applications(vec![app], now)?;
        ids.pop()
            .ok_or_else(|| NodeError::Internal("no id for an added member".into()))
    }

    /// Writes applications, each under a fresh id, in one commit.
    pub(super) fn write_applications(
        &mut self,
        apps: Vec<MemberApplication>,
        now: DateTime<Utc>,
    ) -> Result<Vec<MemberId>, NodeError> {
        let roster_id = self.own_doc(DocKind::Roster);
        let private_id = self.own_doc(DocKind::RosterPrivate);
        self.repo.write(now, |w| {
            let mut ids = Vec::with_capacity(apps.len());
            for app in apps {
                let doc = w.doc(&roster_id)?;
                let id: MemberId = mint("m", |m| matches!(roster::get(&*doc, m), Ok(Some(_))))?;
                let (member, private) = app.split(id.clone(), now);
                roster::add(doc, &member)?;
                roster_private::put(w.doc(&private_id)?, &id, &private)?;
                ids.push(id);
            }
            Ok(ids)
        })
    }

    /// A member from whichever roster this node holds them in, with personal
    /// data when this is their own community's node.
    pub fn member(&mut self, id: &MemberId) -> Result<MemberView, NodeError> {
        for doc_id in self.held(DocKind::Roster)? {
            let Some(doc) = self.repo.existing(&doc_id)? else {
                continue;
            };
            if let Some(member) = roster::get(&*doc, id)? {
                let place = doc_id.place().clone();
                let private = self.private_record(&place, id)?;
                return Ok(MemberView {
                    place,
                    member,
                    private,
                });
            }
        }
        Err(WorkflowError::NotHeld {
            what: "member",
            id: id.to_string(),
            hint: "yizhan roster list",
        }
        .into())
    }

    pub(super) fn private_record(
        &mut self,
        place: &PlaceId,
        id: &MemberId,
    ) -> Result<Option<PrivateRecord>, NodeError> {
        if self.config.role != Role::Community || place != &self.config.place {
            return Ok(None);
        }
        let private_id = DocumentId::singleton(place.clone(), DocKind::RosterPrivate);
        match self.repo.existing(&private_id)? {
            Some(doc) => Ok(roster_private::get(&*doc, id)?),
            None => Ok(None),
        }
    }

    /// Members of every roster held that pass the filters; no personal data.
    pub fn members(
        &mut self,
        place: Option<&PlaceId>,
        status: Option<MemberStatus>,
        grid: Option<&str>,
    ) -> Result<Vec<MemberView>, NodeError> {
        let mut out = Vec::new();
        for doc_id in self.held(DocKind::Roster)? {
            if place.is_some_and(|p| !p.contains(doc_id.place())) {
                continue;
            }
            let Some(doc) = self.repo.existing(&doc_id)? else {
                continue;
            };
            for member in roster::list(&*doc)? {
                if status.is_some_and(|s| s != member.status)
                    || grid.is_some_and(|g| member.grid.as_deref() != Some(g))
                {
                    continue;
                }
                out.push(MemberView {
                    place: doc_id.place().clone(),
                    member,
                    private: None,
                });
            }
        }
        Ok(out)
    }

    /// A member of this community's own roster, for writes that need one.
    pub(crate) fn own_member(&mut self, id: &MemberId) -> Result<Member, NodeError> {
        let roster_id = self.own_doc(DocKind::Roster);
        match self.repo.existing(&roster_id)? {
            Some(doc) => Ok(roster::require(&*doc, id)?),
            None => Err(crdt_model::ValidationError::UnknownMember(id.to_string()).into()),
        }
    }
}
