//! The report lifecycle as node operations: verify, void, dispatch, handle,
//! escalate, accept, close, reopen, and "me too" confirmations.
//!
//! The model's fold decides which step the case allows, by the level of the
//! node that writes it (community or street); this module finds the document
//! that holds the report, checks that this node may act on that place at all,
//! and writes the event in one durable commit. A street writes its events into
//! its community's document, which it holds as a replica.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use crdt_model::report::{
    self, ATTACHMENT_BYTES_MAX, Attachment, AttachmentKind, CloseReason, EventKind, Report,
    ReportEvent, VoidReason,
};
use crdt_model::{Category, DocKind, DocumentId, EventId, MemberId, PlaceId, ReportId, roster};
use serde::{Deserialize, Serialize};

use super::{ConfirmRefusal, WorkflowError, WorkflowResponse, mint};
use crate::api::Node;
use crate::config::Role;
use crate::error::NodeError;
use crate::store::BlobHash;

/// `yizhan report verify|void|dispatch|handle|escalate|accept|close|reopen`
/// and `report submit --me-too`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum ReportRequest {
    /// A lifecycle step.
    Event {
        /// The case.
        report: ReportId,
        /// What to do.
        action: ReportAction,
        /// The operator's note.
        note: Option<String>,
    },
    /// "Me too": another rider confirms an open case instead of reporting it again.
    Confirm {
        /// The open case.
        report: ReportId,
        /// The confirming member, if on the roster.
        member: Option<MemberId>,
        /// The category the rider would have reported, to check it matches.
        category: Option<Category>,
        /// What the rider adds.
        note: Option<String>,
    },
}

impl ReportRequest {
    /// Every report request writes.
    pub fn writes(&self) -> bool {
        true
    }
}

/// A lifecycle step, as the command line gives it: a photo is a file path,
/// read by whichever process executes the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ReportAction {
    /// The community confirms the report is real.
    Verify,
    /// The community drops it.
    Void {
        /// Why.
        reason: VoidReason,
    },
    /// A handler gets the case with a deadline.
    Dispatch {
        /// Who handles it.
        to: String,
        /// When it must be handled by.
        due: DateTime<Utc>,
    },
    /// The handler reports the work done.
    Handle {
        /// Evidence photo file.
        photo: Option<PathBuf>,
        /// The evidence photo's bytes, when they came with the request
        /// rather than as a file (the staff console's upload). Never on
        /// the admin socket: the HTTP server hands it to the loop directly.
        #[serde(skip)]
        uploaded: Option<PhotoUpload>,
    },
    /// The community passes the case to its street.
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
}

/// A photo that arrived as bytes, its media type read from them.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoUpload {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Its media type, such as `image/jpeg`.
    pub mime: String,
}

impl ReportAction {
    /// The verb, for messages.
    pub fn verb(&self) -> &'static str {
        match self {
            ReportAction::Verify => "verify",
            ReportAction::Void { .. } => "void",
            ReportAction::Dispatch { .. } => "dispatch",
            ReportAction::Handle { .. } => "handle",
            ReportAction::Escalate => "escalate",
            ReportAction::Accept => "accept",
            ReportAction::Close { .. } => "close",
            ReportAction::Reopen => "reopen",
        }
    }
}

impl Node {
    pub(super) fn execute_report(
        &mut self,
        req: ReportRequest,
        now: DateTime<Utc>,
    ) -> Result<WorkflowResponse, NodeError> {
        let id = match req {
            ReportRequest::Event {
                report,
                action,
                note,
            } => self.record_step(&report, action, note, now)?,
            ReportRequest::Confirm {
                report,
                member,
                category,
                note,
            } => self.confirm_report(&report, member, category, note, now)?,
        };
        Ok(WorkflowResponse::Report(Box::new(self.report(&id, now)?)))
    }

    /// The document holding report `id`, and the report.
    pub(crate) fn find_report(&mut self, id: &ReportId) -> Result<(DocumentId, Report), NodeError> {
        for doc_id in self.held(DocKind::Reports)? {
            if doc_id.period() != Some(id.month()) {
                continue;
            }
            let Some(doc) = self.repo.existing(&doc_id)? else {
                continue;
            };
            if let Some(r) = report::get(&*doc, id)? {
                return Ok((doc_id, r));
            }
        }
        Err(NodeError::UnknownReport(id.to_string()))
    }

    /// Refuses to act on reports of places this node does not coordinate: a
    /// community acts on its own, a street on those of its communities.
    fn may_act_on(
        &self,
        report: &ReportId,
        owner: &PlaceId,
        action: &'static str,
    ) -> Result<(), WorkflowError> {
        let ok = match self.config.role {
            Role::Community => owner == &self.config.place,
            Role::Street => self.config.place.contains(owner),
            Role::District | Role::Station => false,
        };
        if ok {
            Ok(())
        } else {
            Err(WorkflowError::ReportOutOfScope {
                report: report.to_string(),
                owner: owner.clone(),
                role: self.config.role,
                place: self.config.place.clone(),
                action,
            })
        }
    }

    /// Names the level whose step this is when this node's is the wrong one;
    /// the fold would refuse it too, but without saying where to run it.
    fn level_may(&self, report: &ReportId, action: &ReportAction) -> Result<(), WorkflowError> {
        let street_only = matches!(action, ReportAction::Accept);
        let community_only = matches!(
            action,
            ReportAction::Verify
                | ReportAction::Void { .. }
                | ReportAction::Escalate
                | ReportAction::Close { .. }
                | ReportAction::Reopen
        );
        let level = match self.config.role {
            Role::Street if community_only => "community",
            Role::Community if street_only => "street",
            _ => return Ok(()),
        };
        Err(WorkflowError::WrongLevel {
            report: report.to_string(),
            action: action.verb(),
            level,
        })
    }

    fn event(
        &self,
        r: &Report,
        kind: EventKind,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<ReportEvent, NodeError> {
        let id: EventId = mint("ev", |e: &EventId| r.events.iter().any(|x| &x.id == e))?;
        // The fold orders events by (time, id): a step taken within the same
        // millisecond as the last one must still come after it.
        let at = match r.events.last() {
            Some(last) if last.at >= now => last.at + chrono::Duration::milliseconds(1),
            _ => now,
        };
        Ok(ReportEvent {
            id,
            at,
            by: self.author(),
            by_level: self.config.role.level(),
            note,
            kind,
        })
    }

    fn record_step(
        &mut self,
        id: &ReportId,
        action: ReportAction,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<ReportId, NodeError> {
        let (doc_id, r) = self.find_report(id)?;
        self.may_act_on(id, doc_id.place(), action.verb())?;
        self.level_may(id, &action)?;
        let mut blob = None;
        let kind = match action {
            ReportAction::Verify => EventKind::Verify,
            ReportAction::Void { reason } => EventKind::Void { reason },
            ReportAction::Dispatch { to, due } => EventKind::Dispatch { to, due },
            ReportAction::Handle { photo, uploaded } => {
                let read = match (uploaded, photo) {
                    (Some(up), _) => Some(uploaded_photo(up)?),
                    (None, Some(path)) => Some(read_photo(&path)?),
                    (None, None) => None,
                };
                let photo = read.map(|(att, bytes)| {
                    blob = Some(bytes);
                    att
                });
                EventKind::Handle { photo }
            }
            ReportAction::Escalate => EventKind::Escalate,
            ReportAction::Accept => EventKind::Accept,
            ReportAction::Close { reason } => EventKind::Close { reason },
            ReportAction::Reopen => EventKind::Reopen,
        };
        let ev = self.event(&r, kind, note, now)?;
        self.repo.write(now, |w| {
            report::record_event(w.doc(&doc_id)?, id, &ev)?;
            if let Some(b) = blob {
                w.put_blob(b);
            }
            Ok(())
        })?;
        Ok(id.clone())
    }

    fn confirm_report(
        &mut self,
        id: &ReportId,
        member: Option<MemberId>,
        category: Option<Category>,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<ReportId, NodeError> {
        let (doc_id, r) = self.find_report(id)?;
        self.may_act_on(id, doc_id.place(), "confirm")?;
        if let Some(c) = category
            && c != r.category
        {
            return Err(
                WorkflowError::ConfirmRefused(ConfirmRefusal::OtherCategory {
                    report: id.to_string(),
                    category: r.category.as_str(),
                    given: c.as_str(),
                })
                .into(),
            );
        }
        if let Some(m) = &member {
            let roster_id = DocumentId::singleton(doc_id.place().clone(), DocKind::Roster);
            match self.repo.existing(&roster_id)? {
                Some(doc) => {
                    roster::require(&*doc, m)?;
                }
                None => {
                    return Err(crdt_model::ValidationError::UnknownMember(m.to_string()).into());
                }
            }
        }
        let ev = self.event(&r, EventKind::Confirm { member }, note, now)?;
        self.repo.write(now, |w| {
            report::record_event(w.doc(&doc_id)?, id, &ev)?;
            Ok(())
        })?;
        Ok(id.clone())
    }
}

/// Reads an evidence photo, refusing empty or oversized files before reading
/// them whole.
fn uploaded_photo(up: PhotoUpload) -> Result<(Attachment, Vec<u8>), NodeError> {
    let len = up.bytes.len() as u64;
    if len == 0 || len > ATTACHMENT_BYTES_MAX {
        return Err(crdt_model::ValidationError::BadAttachment(
            crdt_model::AttachmentRule::UploadSize {
                bytes: len,
                max: ATTACHMENT_BYTES_MAX,
            },
        )
        .into());
    }
    let att = Attachment {
        hash: BlobHash::of(&up.bytes).to_string(),
        mime: up.mime,
        size: len,
        kind: AttachmentKind::Photo,
    };
    att.validate()?;
    Ok((att, up.bytes))
}

fn read_photo(path: &Path) -> Result<(Attachment, Vec<u8>), NodeError> {
    let io = |source| NodeError::Io {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len == 0 || len > ATTACHMENT_BYTES_MAX {
        return Err(crdt_model::ValidationError::BadAttachment(
            crdt_model::AttachmentRule::FileSize {
                kind: "photo",
                path: path.display().to_string(),
                bytes: len,
                max: ATTACHMENT_BYTES_MAX,
            },
        )
        .into());
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let mime = match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "heic" => "image/heic",
        _ => "image/octet-stream",
    };
    let att = Attachment {
        hash: BlobHash::of(&bytes).to_string(),
        mime: mime.to_owned(),
        size: bytes.len() as u64,
        kind: AttachmentKind::Photo,
    };
    Ok((att, bytes))
}
