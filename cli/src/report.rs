//! `yizhan report ...`

use std::path::Path;

use anyhow::{Context as _, bail};
use chrono::Utc;
use crdt_model::report::{ATTACHMENT_BYTES_MAX, AttachmentKind};
use crdt_model::{Category, MemberId, PlaceId, ReportId, Status};
use node::Node;
use node::api::{NewAttachment, ReportFilter, SubmitReport};

use crate::args::{ListArgs, ReportCommand, SubmitArgs};
use crate::output::Output;

/// Runs a report command. Arguments are validated before the node is opened,
/// so a malformed command never touches the store.
pub fn run(dir: &Path, cmd: ReportCommand, out: &Output) -> anyhow::Result<()> {
    let now = Utc::now();
    match cmd {
        ReportCommand::Submit(a) => {
            let req = submission(a)?;
            let done = Node::open(dir)?.submit_report(req, now)?;
            out.submitted(&done)
        }
        ReportCommand::List(a) => {
            let filter = filter(a)?;
            out.report_list(&Node::open_read_only(dir)?.reports(&filter, now)?)
        }
        ReportCommand::Show { id } => {
            let id = ReportId::parse(&id)?;
            out.report(&Node::open_read_only(dir)?.report(&id, now)?)
        }
    }
}

fn submission(a: SubmitArgs) -> anyhow::Result<SubmitReport> {
    // Validate everything the command line carries before any file is read.
    let category: Category = a.category.parse()?;
    crdt_model::LatLon::new(a.lat, a.lon)?;
    let reporter = a.reporter.as_deref().map(MemberId::parse).transpose()?;
    let mut attachments = Vec::new();
    for (paths, kind) in [
        (&a.photo, AttachmentKind::Photo),
        (&a.voice, AttachmentKind::Voice),
    ] {
        for p in paths {
            attachments.push(read_attachment(p, kind)?);
        }
    }
    Ok(SubmitReport {
        category,
        lat: a.lat,
        lon: a.lon,
        text: a.text,
        address: a.address,
        grid: a.grid,
        reporter,
        attachments,
    })
}

fn read_attachment(path: &Path, kind: AttachmentKind) -> anyhow::Result<NewAttachment> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {} {}", kind.as_str(), path.display()))?
        .len();
    if len > ATTACHMENT_BYTES_MAX {
        bail!(
            "{} {} is {len} bytes; attachments may be at most {ATTACHMENT_BYTES_MAX} bytes",
            kind.as_str(),
            path.display()
        );
    }
    if len == 0 {
        bail!("{} {} is empty", kind.as_str(), path.display());
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(NewAttachment {
        mime: mime_of(path, kind).to_owned(),
        bytes,
        kind,
    })
}

/// Media type by file extension; unknown ones are stored as opaque bytes.
fn mime_of(path: &Path, kind: AttachmentKind) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match (kind, ext.as_str()) {
        (_, "jpg" | "jpeg") => "image/jpeg",
        (_, "png") => "image/png",
        (_, "webp") => "image/webp",
        (_, "heic") => "image/heic",
        (_, "amr") => "audio/amr",
        (_, "m4a" | "mp4") => "audio/mp4",
        (_, "mp3") => "audio/mpeg",
        (_, "ogg" | "opus") => "audio/ogg",
        (_, "wav") => "audio/wav",
        (AttachmentKind::Photo, _) => "image/octet-stream",
        (AttachmentKind::Voice, _) => "audio/octet-stream",
    }
}

fn filter(a: ListArgs) -> anyhow::Result<ReportFilter> {
    Ok(ReportFilter {
        place: a.place.as_deref().map(PlaceId::parse).transpose()?,
        category: a
            .category
            .as_deref()
            .map(str::parse::<Category>)
            .transpose()?,
        status: a
            .status
            .as_deref()
            .map(|s| {
                Status::from_name(s).with_context(|| {
                    let names: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
                    format!("unknown status {s:?}; known: {}", names.join(", "))
                })
            })
            .transpose()?,
        overdue: a.overdue,
    })
}
