//! The community's two lists: tasks riders claim (patrols, civility guidance,
//! medicine for elderly people living alone) and needs riders have (meals,
//! rest, charging, legal or health help).
//!
//! Layout: `task/<id>` holding `title, description?, points, lease_minutes,
//! posted_at, posted_by, claims: {<claim id>: {member, at, expires}},
//! completion?: {member, at, note?}, sign_off?: {at, by}`; and `need/<id>`
//! holding `member, kind, text, at, resolution?: {at, note?}`.
//!
//! Who holds a task is a fold over its claims in (time, claim id) order: a claim
//! takes the task when nobody holds it or the holder's lease has run out by the
//! claim's time. Two claims made concurrently on different replicas therefore
//! resolve to the same winner everywhere: the earlier one, ties broken by id.

use automerge::{ReadDoc, transaction::Transactable};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, SchemaError, TaskRefusal, ValidationError};
use crate::ids::{ClaimId, MemberId, NeedId, TaskId};
use crate::report::{check_line, check_text};
use crate::roster::{Member, MemberStatus};
use crate::schema::{MapRef, MapWriter, child_map, entity_ids, entity_obj, has_entity};

/// Longest lease a task may give, in minutes (one week).
pub const LEASE_MINUTES_MAX: i64 = 7 * 24 * 60;
/// Most points a single task may award.
pub const TASK_POINTS_MAX: i64 = 10_000;

/// A task as posted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// Its id.
    pub id: TaskId,
    /// Short title.
    pub title: String,
    /// Longer description.
    pub description: Option<String>,
    /// Points awarded on sign-off.
    pub points: i64,
    /// How long a claim holds the task.
    pub lease_minutes: i64,
    /// When posted.
    pub posted_at: DateTime<Utc>,
    /// The posting node.
    pub posted_by: String,
}

/// A claim on a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// Its id.
    pub id: ClaimId,
    /// The claiming member.
    pub member: MemberId,
    /// When claimed.
    pub at: DateTime<Utc>,
    /// When the lease runs out.
    pub expires: DateTime<Utc>,
}

/// A completion report by the holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    /// Who did it.
    pub member: MemberId,
    /// When.
    pub at: DateTime<Utc>,
    /// What they say.
    pub note: Option<String>,
}

/// The community's sign-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOff {
    /// When.
    pub at: DateTime<Utc>,
    /// The signing node.
    pub by: String,
}

/// A task as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Points on sign-off.
    pub points: i64,
    /// Lease length.
    pub lease_minutes: i64,
    /// When posted.
    pub posted_at: DateTime<Utc>,
    /// The posting node.
    pub posted_by: String,
    /// Every claim, in (time, id) order.
    pub claims: Vec<Claim>,
    /// The completion, if reported.
    pub completion: Option<Completion>,
    /// The sign-off, if given.
    pub sign_off: Option<SignOff>,
}

/// Where a task stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Nobody holds it.
    Open,
    /// A live lease holds it.
    Claimed,
    /// The holder reported it done.
    Completed,
    /// The community signed it off and awarded the points.
    SignedOff,
}

impl TaskStatus {
    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Claimed => "claimed",
            TaskStatus::Completed => "completed",
            TaskStatus::SignedOff => "signed_off",
        }
    }
}

impl Task {
    /// The claim that wins the fold up to and including time `t`, live or not.
    fn winner_until(&self, t: DateTime<Utc>) -> Option<&Claim> {
        let mut holder: Option<&Claim> = None;
        for c in self.claims.iter().filter(|c| c.at <= t) {
            match holder {
                Some(h) if c.at < h.expires => {}
                _ => holder = Some(c),
            }
        }
        holder
    }

    /// The completion, if its member held a live lease when reporting it.
    pub fn valid_completion(&self) -> Option<&Completion> {
        self.completion.as_ref().filter(|c| {
            self.winner_until(c.at)
                .is_some_and(|w| w.member == c.member && c.at < w.expires)
        })
    }

    /// The member holding a live lease at `now`, if the task is not yet done.
    pub fn holder(&self, now: DateTime<Utc>) -> Option<&Claim> {
        if self.valid_completion().is_some() {
            return None;
        }
        self.winner_until(now).filter(|w| now < w.expires)
    }

    /// The status at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> TaskStatus {
        match (&self.sign_off, self.valid_completion()) {
            (Some(_), Some(_)) => TaskStatus::SignedOff,
            (_, Some(_)) => TaskStatus::Completed,
            _ if self.holder(now).is_some() => TaskStatus::Claimed,
            _ => TaskStatus::Open,
        }
    }
}

fn task_key(id: &TaskId) -> String {
    format!("task/{id}")
}

/// Posts a task.
pub fn post<T: Transactable + ReadDoc>(doc: &mut T, t: &NewTask) -> Result<(), ModelError> {
    check_line("task title", &t.title, 120, false)?;
    if let Some(d) = &t.description {
        check_text("task description", d, 2000, true)?;
    }
    if t.points <= 0 {
        return Err(ValidationError::NonPositiveAmount(t.points).into());
    }
    if t.points > TASK_POINTS_MAX {
        return Err(ValidationError::BadText {
            field: "task points",
            why: crate::ValueRule::TaskTooRich {
                points: t.points,
                max: TASK_POINTS_MAX,
            },
        }
        .into());
    }
    if !(1..=LEASE_MINUTES_MAX).contains(&t.lease_minutes) {
        return Err(ValidationError::BadTime(crate::TimeRule::Lease {
            minutes: t.lease_minutes,
            max: LEASE_MINUTES_MAX,
        })
        .into());
    }
    let k = task_key(&t.id);
    if has_entity(doc, &k) {
        return Err(ValidationError::DuplicateEntity {
            what: "task",
            id: t.id.to_string(),
        }
        .into());
    }
    let mut w = MapWriter::create_entity(doc, &k)?;
    w.str("title", &t.title)?
        .opt_str("description", t.description.as_deref())?
        .i64("points", t.points)?
        .i64("lease_minutes", t.lease_minutes)?
        .time("posted_at", t.posted_at)?
        .str("posted_by", &t.posted_by)?;
    w.map("claims")?;
    Ok(())
}

/// Reads one task.
pub fn get<D: ReadDoc>(doc: &D, id: &TaskId) -> Result<Option<Task>, SchemaError> {
    let Some(m) = MapRef::entity(doc, &task_key(id))? else {
        return Ok(None);
    };
    let member = |m: &MapRef<'_, D>, path: &str| {
        let s = m.str("member")?;
        MemberId::parse(&s).map_err(|e| SchemaError {
            path: format!("{path}/member"),
            why: e.to_string(),
        })
    };
    let mut claims = Vec::new();
    if let Some(cs) = m.opt_map("claims")? {
        for k in cs.keys() {
            let c = cs.map(&k)?;
            let path = format!("{}/claims/{k}", task_key(id));
            claims.push(Claim {
                id: ClaimId::parse(&k).map_err(|e| SchemaError {
                    path: path.clone(),
                    why: e.to_string(),
                })?,
                member: member(&c, &path)?,
                at: c.time("at")?,
                expires: c.time("expires")?,
            });
        }
    }
    claims.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    let completion = match m.opt_map("completion")? {
        None => None,
        Some(c) => Some(Completion {
            member: member(&c, &task_key(id))?,
            at: c.time("at")?,
            note: c.opt_str("note")?,
        }),
    };
    let sign_off = match m.opt_map("sign_off")? {
        None => None,
        Some(s) => Some(SignOff {
            at: s.time("at")?,
            by: s.str("by")?,
        }),
    };
    Ok(Some(Task {
        id: id.clone(),
        title: m.str("title")?,
        description: m.opt_str("description")?,
        points: m.i64("points")?,
        lease_minutes: m.i64("lease_minutes")?,
        posted_at: m.time("posted_at")?,
        posted_by: m.str("posted_by")?,
        claims,
        completion,
        sign_off,
    }))
}

/// Every task, in id order.
pub fn list<D: ReadDoc>(doc: &D) -> Result<Vec<Task>, SchemaError> {
    let mut out = Vec::new();
    for raw in entity_ids(doc, "task") {
        let id = TaskId::parse(&raw).map_err(|e| SchemaError {
            path: format!("task/{raw}"),
            why: e.to_string(),
        })?;
        out.extend(get(doc, &id)?);
    }
    Ok(out)
}

fn require<D: ReadDoc>(doc: &D, id: &TaskId) -> Result<Task, ModelError> {
    get(doc, id)?.ok_or_else(|| {
        ValidationError::UnknownEntity {
            what: "task",
            id: id.to_string(),
        }
        .into()
    })
}

fn refused(task: &TaskId, why: TaskRefusal) -> ModelError {
    ValidationError::TaskRefused {
        task: task.to_string(),
        why,
    }
    .into()
}

/// Claims a task for an active member; refused while another live lease holds it.
pub fn claim<T: Transactable + ReadDoc>(
    doc: &mut T,
    task: &TaskId,
    claim: &ClaimId,
    member: &Member,
    at: DateTime<Utc>,
) -> Result<Claim, ModelError> {
    if member.status != MemberStatus::Active {
        return Err(ValidationError::MemberNotActive {
            member: member.id.to_string(),
            status: member.status.as_str(),
            action: "claiming a task",
        }
        .into());
    }
    let t = require(doc, task)?;
    match t.status(at) {
        TaskStatus::Open => {}
        TaskStatus::Claimed => {
            let h = t.holder(at).map(|h| (h.member.to_string(), h.expires));
            let (who, until) = h.unwrap_or_default();
            let (member, until) = (who, until.to_string());
            return Err(refused(task, TaskRefusal::ClaimedBy { member, until }));
        }
        s => {
            let status = s.as_str();
            return Err(refused(task, TaskRefusal::Already { status }));
        }
    }
    if t.claims.iter().any(|c| &c.id == claim) {
        return Err(ValidationError::DuplicateEntity {
            what: "claim",
            id: claim.to_string(),
        }
        .into());
    }
    if t.claims.last().is_some_and(|c| at < c.at) {
        return Err(ValidationError::BadTime(crate::TimeRule::ClaimBeforeEarlier).into());
    }
    let c = Claim {
        id: claim.clone(),
        member: member.id.clone(),
        at,
        expires: at + Duration::minutes(t.lease_minutes),
    };
    let obj =
        entity_obj(doc, &task_key(task))?.ok_or_else(|| refused(task, TaskRefusal::Vanished))?;
    let claims = match child_map(doc, &obj, "claims", &task_key(task))? {
        Some(c) => c,
        None => MapWriter::open(doc, obj).map("claims")?,
    };
    let cobj = MapWriter::open(doc, claims).map(claim.as_str())?;
    MapWriter::open(doc, cobj)
        .str("member", c.member.as_str())?
        .time("at", c.at)?
        .time("expires", c.expires)?;
    Ok(c)
}

/// The holder reports the task done; refused when the lease is not theirs or has expired.
pub fn complete<T: Transactable + ReadDoc>(
    doc: &mut T,
    task: &TaskId,
    member: &MemberId,
    at: DateTime<Utc>,
    note: Option<&str>,
) -> Result<(), ModelError> {
    if let Some(n) = note {
        check_text("note", n, 1000, true)?;
    }
    let t = require(doc, task)?;
    match t.status(at) {
        TaskStatus::Claimed => {}
        TaskStatus::Open => {
            let why = match t.winner_until(at) {
                Some(w) if &w.member == member => TaskRefusal::LeaseExpired {
                    member: member.to_string(),
                    expired: w.expires.to_string(),
                },
                _ => TaskRefusal::NotClaimed,
            };
            return Err(refused(task, why));
        }
        s => {
            let status = s.as_str();
            return Err(refused(task, TaskRefusal::Already { status }));
        }
    }
    if t.holder(at).is_some_and(|h| &h.member != member) {
        let member = member.to_string();
        return Err(refused(task, TaskRefusal::HeldByAnother { member }));
    }
    let obj =
        entity_obj(doc, &task_key(task))?.ok_or_else(|| refused(task, TaskRefusal::Vanished))?;
    let c = MapWriter::open(doc, obj).map("completion")?;
    MapWriter::open(doc, c)
        .str("member", member.as_str())?
        .time("at", at)?
        .opt_str("note", note)?;
    Ok(())
}

/// The community signs off a completed task. Returns the task with the member
/// and points to award.
pub fn sign_off<T: Transactable + ReadDoc>(
    doc: &mut T,
    task: &TaskId,
    by: &str,
    at: DateTime<Utc>,
) -> Result<Task, ModelError> {
    let mut t = require(doc, task)?;
    if t.status(at) != TaskStatus::Completed {
        let status = t.status(at).as_str();
        return Err(refused(task, TaskRefusal::NotCompleted { status }));
    }
    let obj =
        entity_obj(doc, &task_key(task))?.ok_or_else(|| refused(task, TaskRefusal::Vanished))?;
    let s = MapWriter::open(doc, obj).map("sign_off")?;
    MapWriter::open(doc, s).time("at", at)?.str("by", by)?;
    t.sign_off = Some(SignOff {
        at,
        by: by.to_owned(),
    });
    Ok(t)
}

named!(
    /// What a rider needs.
    NeedKind {
        /// A meal.
        Meal => "meal",
        /// A place to rest.
        Rest => "rest",
        /// Charging for phone or e-bike.
        Charging => "charging",
        /// Legal help.
        Legal => "legal",
        /// Health help.
        Health => "health",
        /// Anything else.
        Other => "other",
    }
);

/// A need on the needs list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Need {
    /// Its id.
    pub id: NeedId,
    /// Whose need.
    pub member: MemberId,
    /// What kind.
    pub kind: NeedKind,
    /// In their words.
    pub text: String,
    /// When raised.
    pub at: DateTime<Utc>,
    /// When resolved, and how.
    pub resolved: Option<(DateTime<Utc>, Option<String>)>,
}

fn need_key(id: &NeedId) -> String {
    format!("need/{id}")
}

/// Adds a need for a member on the roster.
pub fn add_need<T: Transactable + ReadDoc>(
    doc: &mut T,
    need: &Need,
    member: &Member,
) -> Result<(), ModelError> {
    check_text("need text", &need.text, 1000, false)?;
    debug_assert_eq!(need.member, member.id);
    let k = need_key(&need.id);
    if has_entity(doc, &k) {
        return Err(ValidationError::DuplicateEntity {
            what: "need",
            id: need.id.to_string(),
        }
        .into());
    }
    MapWriter::create_entity(doc, &k)?
        .str("member", member.id.as_str())?
        .str("kind", need.kind.as_str())?
        .str("text", &need.text)?
        .time("at", need.at)?;
    Ok(())
}

/// Reads every need, in id order.
pub fn list_needs<D: ReadDoc>(doc: &D) -> Result<Vec<Need>, SchemaError> {
    let mut out = Vec::new();
    for raw in entity_ids(doc, "need") {
        let path = format!("need/{raw}");
        let bad = |e: crate::IdError| SchemaError {
            path: path.clone(),
            why: e.to_string(),
        };
        let id = NeedId::parse(&raw).map_err(bad)?;
        let Some(m) = MapRef::entity(doc, &path)? else {
            continue;
        };
        let resolved = match m.opt_map("resolution")? {
            None => None,
            Some(r) => Some((r.time("at")?, r.opt_str("note")?)),
        };
        out.push(Need {
            id,
            member: MemberId::parse(&m.str("member")?).map_err(bad)?,
            kind: m.parsed("kind", NeedKind::from_name)?,
            text: m.str("text")?,
            at: m.time("at")?,
            resolved,
        });
    }
    Ok(out)
}

/// Marks a need resolved.
pub fn resolve_need<T: Transactable + ReadDoc>(
    doc: &mut T,
    id: &NeedId,
    at: DateTime<Utc>,
    note: Option<&str>,
) -> Result<(), ModelError> {
    if let Some(n) = note {
        check_text("note", n, 1000, true)?;
    }
    let needs = list_needs(doc)?;
    let need =
        needs
            .iter()
            .find(|n| &n.id == id)
            .ok_or_else(|| ValidationError::UnknownEntity {
                what: "need",
                id: id.to_string(),
            })?;
    if need.resolved.is_some() {
        return Err(ValidationError::NeedRefused {
            need: id.to_string(),
            why: crate::NeedRefusal::AlreadyResolved,
        }
        .into());
    }
    let obj = entity_obj(doc, &need_key(id))?.ok_or_else(|| SchemaError {
        path: need_key(id),
        why: "vanished".into(),
    })?;
    let r = MapWriter::open(doc, obj).map("resolution")?;
    MapWriter::open(doc, r)
        .time("at", at)?
        .opt_str("note", note)?;
    Ok(())
}
