//! The roster: members of a community (riders, couriers, drivers), their roles,
//! certificates, grid and training. Real names and phones are not here; they
//! live in [`crate::roster_private`], which never leaves the community's node.
//!
//! Layout: root key `member/<id>` holding `display_name, kind, platform?, grid?,
//! status, applied_at, left_at?, roles: {role: true}, certificate?: {number,
//! issued, expires}, training: {<id>: {topic, date, hours, trainer?}}`.
//!
//! `left_at` is written with the move to `left`: the retention policy counts
//! from it (personal data goes at most 180 days after leaving,
//! `docs/privacy.md`). Members who left before it was recorded have none.

use automerge::{ReadDoc, transaction::Transactable};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, SchemaError, ValidationError};
use crate::ids::{MemberId, TrainingId};
use crate::report::check_line;
use crate::schema::{MapRef, MapWriter, child_map, entity_ids, entity_obj, has_entity};

const PREFIX: &str = "member";

named!(
    /// What kind of new-employment worker a member is.
    MemberKind {
        /// Food-delivery rider.
        Rider => "rider",
        /// Parcel courier.
        Courier => "courier",
        /// Ride-hailing driver.
        Driver => "driver",
        /// Anyone else.
        Other => "other",
    }
);

named!(
    /// A role a member holds in the community.
    Role {
        /// 兼职网格员: part-time grid worker.
        PartTimeGridWorker => "part_time_grid_worker",
        /// Certified city governance observer.
        GovernanceObserver => "governance_observer",
    }
);

named!(
    /// Where a member stands.
    MemberStatus {
        /// Asked to join, not yet approved.
        Applied => "applied",
        /// Approved and working.
        Active => "active",
        /// Temporarily stopped by the community.
        Suspended => "suspended",
        /// Gone.
        Left => "left",
    }
);

/// A governance-observer certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// Certificate number as printed.
    pub number: String,
    /// Day of issue.
    pub issued: NaiveDate,
    /// Last day it is valid.
    pub expires: NaiveDate,
}

/// One training a member attended; recorded by the body that gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Its id.
    pub id: TrainingId,
    /// What was taught (grid concepts, duties, first aid...).
    pub topic: String,
    /// When.
    pub date: NaiveDate,
    /// How long, in hours.
    pub hours: f64,
    /// Who gave it.
    pub trainer: Option<String>,
}

/// An application to join the roster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewMember {
    /// Pseudonymous id, minted by the node.
    pub id: MemberId,
    /// The name shown to staff (a nickname; the real name goes to roster-private).
    pub display_name: String,
    /// Rider, courier, driver...
    pub kind: MemberKind,
    /// The platform they work for, if any.
    pub platform: Option<String>,
    /// Their grid.
    pub grid: Option<String>,
    /// Roles applied for.
    pub roles: Vec<Role>,
    /// When they applied.
    pub applied_at: DateTime<Utc>,
}

/// A member as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Pseudonymous id.
    pub id: MemberId,
    /// Shown name.
    pub display_name: String,
    /// Rider, courier, driver...
    pub kind: MemberKind,
    /// Platform.
    pub platform: Option<String>,
    /// Grid.
    pub grid: Option<String>,
    /// Roles held.
    pub roles: Vec<Role>,
    /// Status.
    pub status: MemberStatus,
    /// Application time.
    pub applied_at: DateTime<Utc>,
    /// When they left, for members who left since the time was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_at: Option<DateTime<Utc>>,
    /// Observer certificate, if certified.
    pub certificate: Option<Certificate>,
    /// Trainings attended, by date.
    pub training: Vec<TrainingRecord>,
}

fn key(id: &MemberId) -> String {
    format!("{PREFIX}/{id}")
}

/// Corrections to a member's public fields, as an office makes them after a
/// typing mistake; a field left `None` stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEdit {
    /// The shown name.
    pub display_name: Option<String>,
    /// The platform.
    pub platform: Option<String>,
    /// The grid.
    pub grid: Option<String>,
}

impl MemberEdit {
    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none() && self.platform.is_none() && self.grid.is_none()
    }
}

/// Checks the public fields as [`add`] and [`edit`] will, without a
/// document (a field not given is not checked): an import validates every
/// row before it writes any.
pub fn check_public(
    display_name: Option<&str>,
    platform: Option<&str>,
    grid: Option<&str>,
) -> Result<(), ValidationError> {
    if let Some(d) = display_name {
        check_line("display name", d, 60, false)?;
    }
    if let Some(p) = platform {
        check_line("platform", p, 60, false)?;
    }
    if let Some(g) = grid {
        check_line("grid", g, 40, false)?;
    }
    Ok(())
}

/// Adds an applicant with status `applied`.
pub fn add<T: Transactable + ReadDoc>(doc: &mut T, m: &NewMember) -> Result<(), ModelError> {
    check_public(
        Some(&m.display_name),
        m.platform.as_deref(),
        m.grid.as_deref(),
    )?;
    let k = key(&m.id);
    if has_entity(doc, &k) {
        return Err(ValidationError::DuplicateEntity {
            what: "member",
            id: m.id.to_string(),
        }
        .into());
    }
    let mut w = MapWriter::create_entity(doc, &k)?;
    w.str("display_name", &m.display_name)?
        .str("kind", m.kind.as_str())?
        .opt_str("platform", m.platform.as_deref())?
        .opt_str("grid", m.grid.as_deref())?
        .str("status", MemberStatus::Applied.as_str())?
        .time("applied_at", m.applied_at)?
        .set("roles", m.roles.iter().map(|r| r.as_str()))?;
    w.map("training")?;
    Ok(())
}

/// Reads one member.
pub fn get<D: ReadDoc>(doc: &D, id: &MemberId) -> Result<Option<Member>, SchemaError> {
    let Some(m) = MapRef::entity(doc, &key(id))? else {
        return Ok(None);
    };
    let date =
        |m: &MapRef<'_, D>, k: &str| m.parsed(k, |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
    let certificate = match m.opt_map("certificate")? {
        None => None,
        Some(c) => Some(Certificate {
            number: c.str("number")?,
            issued: date(&c, "issued")?,
            expires: date(&c, "expires")?,
        }),
    };
    let mut training = Vec::new();
    if let Some(t) = m.opt_map("training")? {
        for k in t.keys() {
            let r = t.map(&k)?;
            training.push(TrainingRecord {
                id: TrainingId::parse(&k).map_err(|e| SchemaError {
                    path: format!("{}/training/{k}", key(id)),
                    why: e.to_string(),
                })?,
                topic: r.str("topic")?,
                date: date(&r, "date")?,
                hours: r.f64("hours")?,
                trainer: r.opt_str("trainer")?,
            });
        }
    }
    training.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
    let mut roles = Vec::new();
    for r in m.set("roles")? {
        roles.push(Role::from_name(&r).ok_or_else(|| SchemaError {
            path: format!("{}/roles/{r}", key(id)),
            why: "unknown role".into(),
        })?);
    }
    roles.sort();
    Ok(Some(Member {
        id: id.clone(),
        display_name: m.str("display_name")?,
        kind: m.parsed("kind", MemberKind::from_name)?,
        platform: m.opt_str("platform")?,
        grid: m.opt_str("grid")?,
        roles,
        status: m.parsed("status", MemberStatus::from_name)?,
        applied_at: m.time("applied_at")?,
        left_at: m.opt_time("left_at")?,
        certificate,
        training,
    }))
}

/// Every member, in id order.
pub fn list<D: ReadDoc>(doc: &D) -> Result<Vec<Member>, SchemaError> {
    let mut out = Vec::new();
    for raw in entity_ids(doc, PREFIX) {
        let id = MemberId::parse(&raw).map_err(|e| SchemaError {
            path: format!("{PREFIX}/{raw}"),
            why: e.to_string(),
        })?;
        out.extend(get(doc, &id)?);
    }
    Ok(out)
}

/// Reads a member that must exist.
pub fn require<D: ReadDoc>(doc: &D, id: &MemberId) -> Result<Member, ModelError> {
    get(doc, id)?.ok_or_else(|| ValidationError::UnknownMember(id.to_string()).into())
}

fn member_obj<D: ReadDoc>(doc: &D, id: &MemberId) -> Result<automerge::ObjId, ModelError> {
    entity_obj(doc, &key(id))?.ok_or_else(|| ValidationError::UnknownMember(id.to_string()).into())
}

/// Moves a member to a new status at `at`: approve (applied → active),
/// suspend (active → suspended), reinstate (suspended → active), leave (any →
/// left). Leaving records `left_at`, from which the retention of the
/// member's personal data counts.
pub fn set_status<T: Transactable + ReadDoc>(
    doc: &mut T,
    id: &MemberId,
    to: MemberStatus,
    at: DateTime<Utc>,
) -> Result<Member, ModelError> {
    use MemberStatus::*;
    let mut m = require(doc, id)?;
    let allowed = matches!(
        (m.status, to),
        (Applied, Active)
            | (Active, Suspended)
            | (Suspended, Active)
            | (Applied | Active | Suspended, Left)
    );
    if !allowed {
        return Err(ValidationError::IllegalMemberTransition {
            member: id.to_string(),
            from: m.status.as_str(),
            to: to.as_str(),
        }
        .into());
    }
    let obj = member_obj(doc, id)?;
    let mut w = MapWriter::open(doc, obj);
    w.str("status", to.as_str())?;
    if to == Left {
        w.time("left_at", at)?;
        m.left_at = Some(at);
    }
    m.status = to;
    Ok(m)
}

fn require_active<D: ReadDoc>(
    doc: &D,
    id: &MemberId,
    action: &'static str,
) -> Result<Member, ModelError> {
    let m = require(doc, id)?;
    if m.status != MemberStatus::Active {
        return Err(ValidationError::MemberNotActive {
            member: id.to_string(),
            status: m.status.as_str(),
            action,
        }
        .into());
    }
    Ok(m)
}

/// Certifies an active member as governance observer.
pub fn certify<T: Transactable + ReadDoc>(
    doc: &mut T,
    id: &MemberId,
    cert: &Certificate,
) -> Result<(), ModelError> {
    check_line("certificate number", &cert.number, 40, false)?;
    if cert.expires <= cert.issued {
        return Err(
            ValidationError::BadTime(crate::TimeRule::CertificateExpiry {
                expires: cert.expires.to_string(),
                issued: cert.issued.to_string(),
            })
            .into(),
        );
    }
    let m = require_active(doc, id, "certification")?;
    let obj = member_obj(doc, id)?;
    let path = key(id);
    let mut w = MapWriter::open(doc, obj.clone());
    let c = w.map("certificate")?;
    MapWriter::open(doc, c)
        .str("number", &cert.number)?
        .str("issued", &cert.issued.to_string())?
        .str("expires", &cert.expires.to_string())?;
    if !m.roles.contains(&Role::GovernanceObserver) {
        let roles = match child_map(doc, &obj, "roles", &path)? {
            Some(r) => r,
            None => MapWriter::open(doc, obj).map("roles")?,
        };
        doc.put(&roles, Role::GovernanceObserver.as_str(), true)?;
    }
    Ok(())
}

/// Moves a member to another grid of the community.
pub fn move_grid<T: Transactable + ReadDoc>(
    doc: &mut T,
    id: &MemberId,
    grid: &str,
) -> Result<(), ModelError> {
    check_line("grid", grid, 40, false)?;
    require(doc, id)?;
    let obj = member_obj(doc, id)?;
    MapWriter::open(doc, obj).str("grid", grid)?;
    Ok(())
}

/// Corrects a member's shown name, platform or grid; returns the member as
/// it then reads.
pub fn edit<T: Transactable + ReadDoc>(
    doc: &mut T,
    id: &MemberId,
    e: &MemberEdit,
) -> Result<Member, ModelError> {
    check_public(
        e.display_name.as_deref(),
        e.platform.as_deref(),
        e.grid.as_deref(),
    )?;
    let mut m = require(doc, id)?;
    let obj = member_obj(doc, id)?;
    let mut w = MapWriter::open(doc, obj);
    if let Some(d) = &e.display_name {
        w.str("display_name", d)?;
        m.display_name = d.clone();
    }
    if let Some(p) = &e.platform {
        w.str("platform", p)?;
        m.platform = Some(p.clone());
    }
    if let Some(g) = &e.grid {
        w.str("grid", g)?;
        m.grid = Some(g.clone());
    }
    Ok(m)
}

/// Records a training the member attended.
pub fn add_training<T: Transactable + ReadDoc>(
    doc: &mut T,
    id: &MemberId,
    t: &TrainingRecord,
) -> Result<(), ModelError> {
    check_line("training topic", &t.topic, 100, false)?;
    if !(t.hours > 0.0 && t.hours <= 24.0) {
        return Err(ValidationError::BadText {
            field: "training hours",
            why: crate::ValueRule::TrainingHours { hours: t.hours },
        }
        .into());
    }
    let m = require(doc, id)?;
    if m.training.iter().any(|x| x.id == t.id) {
        return Err(ValidationError::DuplicateEntity {
            what: "training record",
            id: t.id.to_string(),
        }
        .into());
    }
    let obj = member_obj(doc, id)?;
    let path = key(id);
    let training = match child_map(doc, &obj, "training", &path)? {
        Some(t) => t,
        None => MapWriter::open(doc, obj).map("training")?,
    };
    let rec = MapWriter::open(doc, training).map(t.id.as_str())?;
    MapWriter::open(doc, rec)
        .str("topic", &t.topic)?
        .str("date", &t.date.to_string())?
        .f64("hours", t.hours)?
        .opt_str("trainer", t.trainer.as_deref())?;
    Ok(())
}
