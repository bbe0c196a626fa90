//! Reports: hazards riders see, stored in `reports/YYYY-MM`, each with its
//! lifecycle events. The status is never stored; it is a fold of the events.
//!
//! Layout of one report, at root key `report/<id>`:
//!
//! ```text
//! content: "<JSON text: category, place, text, reporter, times, submitter, attachments>"
//! events:  { <event id>: {kind, at, by, by_level, note?, reason?, to?, due?, member?, photo?} }
//! ```
//!
//! What the rider submitted never changes, so it is one value
//! ([`crate::report_content`]): one operation instead of a dozen. Events are
//! keyed by unique ids inside a map the report's author created, so events
//! written concurrently by the community and the street merge as a set.

use automerge::{ReadDoc, transaction::Transactable};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::category::Category;
use crate::error::{ModelError, SchemaError, ValidationError};
use crate::geo::{LatLon, Location};
use crate::ids::{EventId, MemberId, ReportId};
use crate::lifecycle::{self, CaseState};
use crate::place::PlaceLevel;
use crate::report_content::{self, CONTENT_KEY};
use crate::rules::{AttachmentRule, TimeRule};
use crate::schema::{MapRef, MapWriter, child_map, entity_ids, entity_obj, has_entity};

/// Longest report text accepted, in characters.
pub const REPORT_TEXT_CHARS_MAX: usize = 2000;
/// Most attachments on one report.
pub const ATTACHMENTS_MAX: usize = 9;
/// Largest attachment a report may reference (photos and voice notes).
pub const ATTACHMENT_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// Longest note on an event, in characters.
pub const NOTE_CHARS_MAX: usize = 1000;

/// Root keys of reports are `report/<id>`: what a reader that looks at a
/// document's keys (at some earlier heads) looks for.
pub const PREFIX: &str = "report";

/// Photo or voice note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    /// A photo of the hazard.
    Photo,
    /// A voice note describing it.
    Voice,
}

impl AttachmentKind {
    /// The name stored in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Photo => "photo",
            AttachmentKind::Voice => "voice",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<AttachmentKind> {
        match s {
            "photo" => Some(AttachmentKind::Photo),
            "voice" => Some(AttachmentKind::Voice),
            _ => None,
        }
    }
}

/// A reference to a blob held outside the document, by its BLAKE3 hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attachment {
    /// BLAKE3 hash of the bytes, 64 lowercase hex digits.
    pub hash: String,
    /// Media type, such as `image/jpeg` or `audio/amr`.
    pub mime: String,
    /// Size in bytes.
    pub size: u64,
    /// Photo or voice.
    pub kind: AttachmentKind,
}

impl Attachment {
    /// Checks hash format, media type and size.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let bad = ValidationError::BadAttachment;
        if self.hash.len() != 64
            || !self
                .hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad(AttachmentRule::BadHash {
                hash: self.hash.clone(),
            }));
        }
        let (top, sub) = self.mime.split_once('/').ok_or_else(|| {
            bad(AttachmentRule::MimeForm {
                mime: self.mime.clone(),
            })
        })?;
        if top.is_empty() || sub.is_empty() || self.mime.len() > 100 {
            return Err(bad(AttachmentRule::MimeMalformed {
                mime: self.mime.clone(),
            }));
        }
        if self.size == 0 || self.size > ATTACHMENT_BYTES_MAX {
            return Err(bad(AttachmentRule::Size {
                size: self.size,
                max: ATTACHMENT_BYTES_MAX,
            }));
        }
        Ok(())
    }
}

named!(
    /// Why a case was voided without being handled.
    VoidReason {
        /// Another report covers the same hazard.
        Duplicate => "duplicate",
        /// Not this community's responsibility.
        NotResponsible => "not_responsible",
        /// Nothing needs doing.
        NoFurtherAction => "no_further_action",
    }
);

named!(
    /// Why a case was closed.
    CloseReason {
        /// The hazard was fixed.
        Fixed => "fixed",
        /// Another report covers the same hazard.
        Duplicate => "duplicate",
        /// Not this community's responsibility.
        NotResponsible => "not_responsible",
        /// Nothing (more) needs doing.
        NoFurtherAction => "no_further_action",
    }
);

/// What a lifecycle event does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The community confirmed the report is real.
    Verify,
    /// The community dropped the report.
    Void {
        /// Why.
        reason: VoidReason,
    },
    /// A handler was given the case with a deadline.
    Dispatch {
        /// Who handles it (a team, a department, a member id).
        to: String,
        /// When it must be handled by.
        due: DateTime<Utc>,
    },
    /// The handler reports the work done.
    Handle {
        /// Evidence photo of the fix, if any.
        photo: Option<Attachment>,
    },
    /// The community passes the case up to its street.
    Escalate,
    /// The street takes an escalated case.
    Accept,
    /// The community closes the case.
    Close {
        /// Why.
        reason: CloseReason,
    },
    /// A closed or voided case is opened again.
    Reopen,
    /// "Me too": another rider confirms the same hazard.
    Confirm {
        /// The confirming member, if known.
        member: Option<MemberId>,
    },
}

impl EventKind {
    /// The verb, as stored and as shown.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Verify => "verify",
            EventKind::Void { .. } => "void",
            EventKind::Dispatch { .. } => "dispatch",
            EventKind::Handle { .. } => "handle",
            EventKind::Escalate => "escalate",
            EventKind::Accept => "accept",
            EventKind::Close { .. } => "close",
            EventKind::Reopen => "reopen",
            EventKind::Confirm { .. } => "confirm",
        }
    }
}

/// One lifecycle event, immutable once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportEvent {
    /// Unique id; with `at`, orders events in the fold.
    pub id: EventId,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The node that wrote it (its peer id).
    pub by: String,
    /// The level of that node: community or street events follow different rules.
    pub by_level: PlaceLevel,
    /// Free text from the operator.
    pub note: Option<String>,
    /// What it does.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What a rider submits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewReport {
    /// The id, minted by the node (`ReportId::new`).
    pub id: ReportId,
    /// What kind of hazard.
    pub category: Category,
    /// Where the hazard is.
    pub location: Location,
    /// What the rider said.
    pub text: String,
    /// Photos and voice notes, by hash.
    pub attachments: Vec<Attachment>,
    /// The reporting member's pseudonymous id, if the rider is on the roster.
    pub reporter: Option<MemberId>,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
    /// The node that recorded it.
    pub submitted_by: String,
    /// Deadline override; the category's default applies otherwise.
    pub deadline: Option<DateTime<Utc>>,
}

/// A report as read back, with its events in fold order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Its id.
    pub id: ReportId,
    /// What kind of hazard.
    pub category: Category,
    /// Where.
    pub location: Location,
    /// What the rider said.
    pub text: String,
    /// Photos and voice notes.
    pub attachments: Vec<Attachment>,
    /// Who reported it (pseudonymous).
    pub reporter: Option<MemberId>,
    /// When.
    pub submitted_at: DateTime<Utc>,
    /// The recording node.
    pub submitted_by: String,
    /// The deadline set at submission.
    pub deadline: DateTime<Utc>,
    /// Every event, sorted by (time, id).
    pub events: Vec<ReportEvent>,
}

impl Report {
    /// Folds the events into the case's current state.
    pub fn state(&self) -> CaseState {
        lifecycle::fold(self)
    }

    /// True when the community's verification took effect in the fold and
    /// the case is not voided now: a real hazard, which is what rule-based
    /// points for a report reward. A verify event the fold skipped does not
    /// count, so every replica gives the same answer.
    pub fn was_verified(&self) -> bool {
        let state = self.state();
        state.status != lifecycle::Status::Voided
            && self
                .events
                .iter()
                .any(|e| e.kind == EventKind::Verify && !state.skipped.contains(&e.id))
    }
}

/// Checks a new report without writing it.
pub fn validate_new(r: &NewReport) -> Result<(), ValidationError> {
    validate_parts(&r.location, &r.text, &r.attachments)?;
    if let Some(d) = r.deadline
        && d <= r.submitted_at
    {
        return Err(ValidationError::BadTime(TimeRule::DeadlineBeforeSubmission));
    }
    if ReportId::new(r.submitted_at, 0).month() != r.id.month() {
        return Err(ValidationError::BadTime(TimeRule::OtherMonth {
            report: r.id.to_string(),
        }));
    }
    Ok(())
}

/// The checks a report's place, text and attachments pass, whether they
/// come from a rider ([`validate_new`]) or from a peer's document
/// ([`report_content::decode`]).
pub(crate) fn validate_parts(
    location: &Location,
    text: &str,
    attachments: &[Attachment],
) -> Result<(), ValidationError> {
    LatLon::new(location.point.lat, location.point.lon)?;
    check_text("report text", text, REPORT_TEXT_CHARS_MAX, true)?;
    if let Some(a) = &location.address {
        check_line("address", a, 200, false)?;
    }
    if let Some(g) = &location.grid {
        check_line("grid", g, 40, false)?;
    }
    if attachments.len() > ATTACHMENTS_MAX {
        return Err(ValidationError::BadAttachment(AttachmentRule::TooMany {
            count: attachments.len(),
            max: ATTACHMENTS_MAX,
        }));
    }
    for a in attachments {
        a.validate()?;
    }
    Ok(())
}

pub(crate) fn check_text(
    field: &'static str,
    s: &str,
    max: usize,
    may_be_empty: bool,
) -> Result<(), ValidationError> {
    if !may_be_empty && s.trim().is_empty() {
        return Err(ValidationError::EmptyText { field });
    }
    let chars = s.chars().count();
    if chars > max {
        return Err(ValidationError::TextTooLong { field, chars, max });
    }
    Ok(())
}

/// [`check_text`] for a field shown on one line (a name, a phone, an
/// address): control characters are refused, since they would split the
/// lines and table rows it is shown in or act on the terminal showing it.
/// Multi-line texts (a report's text, notes) keep them, and are escaped
/// where they are shown.
pub(crate) fn check_line(
    field: &'static str,
    s: &str,
    max: usize,
    may_be_empty: bool,
) -> Result<(), ValidationError> {
    check_text(field, s, max, may_be_empty)?;
    if s.chars().any(char::is_control) {
        return Err(ValidationError::ControlCharacter { field });
    }
    Ok(())
}

fn key(id: &ReportId) -> String {
    format!("{PREFIX}/{id}")
}

/// Writes a new report into a `reports/YYYY-MM` document.
pub fn submit<T: Transactable + ReadDoc>(doc: &mut T, r: &NewReport) -> Result<(), ModelError> {
    validate_new(r)?;
    let k = key(&r.id);
    if has_entity(doc, &k) {
        return Err(ValidationError::DuplicateEntity {
            what: "report",
            id: r.id.to_string(),
        }
        .into());
    }
    let deadline = r
        .deadline
        .unwrap_or(r.submitted_at + r.category.default_deadline());
    let content = Report {
        id: r.id.clone(),
        category: r.category,
        location: r.location.clone(),
        text: r.text.clone(),
        attachments: r.attachments.clone(),
        reporter: r.reporter.clone(),
        submitted_at: r.submitted_at,
        submitted_by: r.submitted_by.clone(),
        deadline,
        events: Vec::new(),
    };
    let mut w = MapWriter::create_entity(doc, &k)?;
    w.str(CONTENT_KEY, &report_content::encode(&content))?;
    w.map("events")?;
    Ok(())
}

fn write_attachment<T: Transactable>(
    w: &mut MapWriter<'_, T>,
    a: &Attachment,
) -> Result<(), ModelError> {
    w.str("hash", &a.hash)?
        .str("mime", &a.mime)?
        .i64("size", a.size as i64)?
        .str("kind", a.kind.as_str())?;
    Ok(())
}

/// Appends a lifecycle event after checking that the case's current state allows it.
/// Returns the state after the event.
pub fn record_event<T: Transactable + ReadDoc>(
    doc: &mut T,
    report: &ReportId,
    ev: &ReportEvent,
) -> Result<CaseState, ModelError> {
    let mut current = get(doc, report)?.ok_or_else(|| ValidationError::UnknownEntity {
        what: "report",
        id: report.to_string(),
    })?;
    if let Some(note) = &ev.note {
        check_text("note", note, NOTE_CHARS_MAX, true)?;
    }
    if let EventKind::Handle { photo: Some(p) } = &ev.kind {
        p.validate()?;
    }
    if let EventKind::Dispatch { to, due } = &ev.kind {
        check_line("handler", to, 100, false)?;
        if *due <= ev.at {
            return Err(ValidationError::BadTime(TimeRule::DueBeforeDispatch).into());
        }
    }
    if current.events.iter().any(|e| e.id == ev.id) {
        return Err(ValidationError::DuplicateEntity {
            what: "event",
            id: ev.id.to_string(),
        }
        .into());
    }
    if let Some(last) = current.events.last()
        && ev.at < last.at
    {
        return Err(ValidationError::BadTime(TimeRule::EventBeforeLast {
            at: ev.at.to_string(),
            last: last.at.to_string(),
        })
        .into());
    }
    let before = current.state();
    lifecycle::transition(&before, ev).map_err(|status| ValidationError::IllegalTransition {
        report: report.to_string(),
        event: ev.kind.name(),
        status,
    })?;
    let obj = entity_obj(doc, &key(report))?.ok_or_else(|| SchemaError {
        path: key(report),
        why: "vanished".into(),
    })?;
    let path = key(report);
    let events = child_map(doc, &obj, "events", &path)?.ok_or_else(|| SchemaError {
        path: format!("{path}/events"),
        why: "missing".into(),
    })?;
    let ev_obj = MapWriter::open(doc, events).map(ev.id.as_str())?;
    write_event(&mut MapWriter::open(doc, ev_obj), ev)?;
    current.events.push(ev.clone());
    Ok(current.state())
}

fn write_event<T: Transactable>(
    w: &mut MapWriter<'_, T>,
    ev: &ReportEvent,
) -> Result<(), ModelError> {
    w.str("kind", ev.kind.name())?
        .time("at", ev.at)?
        .str("by", &ev.by)?
        .str("by_level", level_name(ev.by_level))?
        .opt_str("note", ev.note.as_deref())?;
    match &ev.kind {
        EventKind::Void { reason } => {
            w.str("reason", reason.as_str())?;
        }
        EventKind::Close { reason } => {
            w.str("reason", reason.as_str())?;
        }
        EventKind::Dispatch { to, due } => {
            w.str("to", to)?.time("due", *due)?;
        }
        EventKind::Handle { photo: Some(p) } => {
            let obj = w.map("photo")?;
            write_attachment(&mut MapWriter::open(w.tx(), obj), p)?;
        }
        EventKind::Confirm { member } => {
            w.opt_str("member", member.as_ref().map(|m| m.as_str()))?;
        }
        EventKind::Handle { photo: None }
        | EventKind::Verify
        | EventKind::Escalate
        | EventKind::Accept
        | EventKind::Reopen => {}
    }
    Ok(())
}

/// The name a level is stored under in `by_level`.
pub(crate) fn level_name(l: PlaceLevel) -> &'static str {
    match l {
        PlaceLevel::District => "district",
        PlaceLevel::Street => "street",
        PlaceLevel::Community => "community",
        PlaceLevel::Finer => "finer",
    }
}

fn level_from_name(s: &str) -> Option<PlaceLevel> {
    match s {
        "district" => Some(PlaceLevel::District),
        "street" => Some(PlaceLevel::Street),
        "community" => Some(PlaceLevel::Community),
        "finer" => Some(PlaceLevel::Finer),
        _ => None,
    }
}

fn read_attachment<D: ReadDoc>(m: &MapRef<'_, D>) -> Result<Attachment, SchemaError> {
    Ok(Attachment {
        hash: m.str("hash")?,
        mime: m.str("mime")?,
        size: m.u64("size")?,
        kind: m.parsed("kind", AttachmentKind::from_name)?,
    })
}

fn read_event<D: ReadDoc>(id: &str, m: &MapRef<'_, D>) -> Result<ReportEvent, SchemaError> {
    let kind_name = m.str("kind")?;
    let kind = match kind_name.as_str() {
        "verify" => EventKind::Verify,
        "void" => EventKind::Void {
            reason: m.parsed("reason", VoidReason::from_name)?,
        },
        "dispatch" => EventKind::Dispatch {
            to: m.str("to")?,
            due: m.time("due")?,
        },
        "handle" => EventKind::Handle {
            photo: m
                .opt_map("photo")?
                .map(|p| read_attachment(&p))
                .transpose()?,
        },
        "escalate" => EventKind::Escalate,
        "accept" => EventKind::Accept,
        "close" => EventKind::Close {
            reason: m.parsed("reason", CloseReason::from_name)?,
        },
        "reopen" => EventKind::Reopen,
        "confirm" => EventKind::Confirm {
            member: m
                .opt_str("member")?
                .map(|s| MemberId::parse(&s))
                .transpose()
                .map_err(|e| SchemaError {
                    path: format!("events/{id}/member"),
                    why: e.to_string(),
                })?,
        },
        other => {
            return Err(SchemaError {
                path: format!("events/{id}/kind"),
                why: format!("unknown event kind {other:?}"),
            });
        }
    };
    Ok(ReportEvent {
        id: EventId::parse(id).map_err(|e| SchemaError {
            path: format!("events/{id}"),
            why: e.to_string(),
        })?,
        at: m.time("at")?,
        by: m.str("by")?,
        by_level: m.parsed("by_level", level_from_name)?,
        note: m.opt_str("note")?,
        kind,
    })
}

/// Reads one report, or `None` if this document does not hold it.
pub fn get<D: ReadDoc>(doc: &D, id: &ReportId) -> Result<Option<Report>, SchemaError> {
    let Some(m) = MapRef::entity(doc, &key(id))? else {
        return Ok(None);
    };
    let mut report = report_content::decode(id, &m.str(CONTENT_KEY)?).map_err(|e| SchemaError {
        path: format!("{}/{CONTENT_KEY}", key(id)),
        why: e.to_string(),
    })?;
    if let Some(evs) = m.opt_map("events")? {
        for k in evs.keys() {
            report.events.push(read_event(&k, &evs.map(&k)?)?);
        }
    }
    report
        .events
        .sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    Ok(Some(report))
}

/// Reads every report of a document, in id order.
pub fn list<D: ReadDoc>(doc: &D) -> Result<Vec<Report>, SchemaError> {
    let mut out = Vec::new();
    for raw in entity_ids(doc, PREFIX) {
        let id = ReportId::parse(&raw).map_err(|e| SchemaError {
            path: format!("{PREFIX}/{raw}"),
            why: e.to_string(),
        })?;
        if let Some(r) = get(doc, &id)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Open reports of `category` within `radius_m` of `point`, nearest first: the
/// candidates for "me too" instead of a second report of the same hazard.
pub fn nearby_open<'r>(
    reports: impl IntoIterator<Item = &'r Report>,
    category: Category,
    point: &LatLon,
    radius_m: f64,
) -> Vec<(&'r Report, f64)> {
    let mut out: Vec<(&Report, f64)> = reports
        .into_iter()
        .filter(|r| r.category == category && r.state().status.is_open())
        .map(|r| (r, r.location.point.distance_m(point)))
        .filter(|(_, d)| *d <= radius_m)
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.id.cmp(&b.0.id)));
    out
}

/// How long after submission a case is due when nothing else says.
pub fn default_deadline(category: Category) -> Duration {
    category.default_deadline()
}
