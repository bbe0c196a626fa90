//! `yizhan report ...`: submit (or "me too"), list, show, and the lifecycle
//! verbs: verify, void, dispatch, handle, escalate, accept, close, reopen.
//! Each verb is checked against the case's folded state by the node; an
//! illegal step is refused with the status the case is in.

use crate::file_error::FileContext as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use crdt_model::report::{CloseReason, VoidReason};
use crdt_model::{Category, MemberId, PlaceId, ReportId, Status};
use node::admin::{Request, Response, dispatch};
use node::api::{ReportContent, ReportFilter, ReportSubmission, ReportView};
use node::workflow::{ReportAction, ReportRequest, WorkflowRequest, WorkflowResponse};

use crate::i18n::{self, tr, tr_args};
use crate::output::{Output, local, print_json};
use crate::workflow::{call, datetime, named};
use clap::{Args, Subcommand};

/// Runs a report command. Arguments are validated before the node is
/// reached, so a malformed command never touches the store.
pub fn run(dir: &Path, cmd: ReportCommand, out: &Output) -> anyhow::Result<()> {
    let (id, action, note) = match cmd {
        ReportCommand::Submit(a) if a.me_too.is_some() => return me_too(dir, a, out),
        ReportCommand::Submit(a) => {
            return match dispatch(dir, Request::SubmitReport(submission(a)?))? {
                Response::Submitted(done) => out.submitted(&done),
                other => unexpected(other),
            };
        }
        ReportCommand::Import(a) => return crate::report_import::run(dir, a, out),
        ReportCommand::List(a) => {
            return match dispatch(dir, Request::ListReports(filter(a)?))? {
                Response::Reports(list) => out.report_list(&list),
                other => unexpected(other),
            };
        }
        ReportCommand::Show { id } => {
            return match dispatch(dir, Request::ShowReport(ReportId::parse(&id)?))? {
                Response::Report(r) => out.report(&r),
                other => unexpected(other),
            };
        }
        ReportCommand::Verify(s) => (s.id, ReportAction::Verify, s.note),
        ReportCommand::Void { step, reason } => (
            step.id,
            ReportAction::Void {
                reason: named(
                    &reason,
                    "void reason",
                    VoidReason::from_name,
                    VoidReason::names,
                )?,
            },
            step.note,
        ),
        ReportCommand::Dispatch { step, to, due } => {
            let due = datetime(&due, "--due")?;
            if due <= chrono::Utc::now() {
                let due = [("due", local(due))];
                return Err(crate::error_out::refuse(
                    "bad_value",
                    "input.due_past",
                    &due,
                ));
            }
            (step.id, ReportAction::Dispatch { to, due }, step.note)
        }
        ReportCommand::Handle { step, photo } => {
            let photo = photo
                .map(|p| {
                    let abs = std::path::absolute(&p).reading(&p)?;
                    std::fs::metadata(&abs).reading(&p)?;
                    anyhow::Ok(abs)
                })
                .transpose()?;
            (
                step.id,
                ReportAction::Handle {
                    photo,
                    uploaded: None,
                },
                step.note,
            )
        }
        ReportCommand::Escalate(s) => (s.id, ReportAction::Escalate, s.note),
        ReportCommand::Accept(s) => (s.id, ReportAction::Accept, s.note),
        ReportCommand::Close { step, reason } => (
            step.id,
            ReportAction::Close {
                reason: named(
                    &reason,
                    "close reason",
                    CloseReason::from_name,
                    CloseReason::names,
                )?,
            },
            step.note,
        ),
        ReportCommand::Reopen(s) => (s.id, ReportAction::Reopen, s.note),
    };
    let report = ReportId::parse(&id)?;
    let verb = action.verb();
    let req = ReportRequest::Event {
        report,
        action,
        note,
    };
    match call(dir, WorkflowRequest::Report(req))? {
        WorkflowResponse::Report(r) => stepped(&r, verb, out),
        other => crate::workflow::unexpected(other),
    }
}

fn stepped(r: &ReportView, verb: &str, out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(r);
    }
    let holder = match r.state.level {
        crdt_model::PlaceLevel::Street => tr("step.with_street"),
        _ => String::new(),
    };
    let handler = r
        .state
        .handler
        .as_deref()
        .map(|h| tr_args("step.handler", &[("handler", h.to_owned())]))
        .unwrap_or_default();
    let due = if r.status.is_open() {
        let overdue = if r.overdue {
            tr("case.overdue")
        } else {
            String::new()
        };
        tr_args("step.due", &[("due", local(r.deadline))]) + &overdue
    } else {
        String::new()
    };
    let line = tr_args(
        "step.recorded",
        &[
            ("id", r.id.to_string()),
            ("step", i18n::event(verb)),
            ("status", i18n::status(r.status.as_str())),
        ],
    );
    println!("{line}{holder}{handler}{due}");
    Ok(())
}

/// `report submit --me-too ID`: a confirmation on the open case instead of a new report.
fn me_too(dir: &Path, a: SubmitArgs, out: &Output) -> anyhow::Result<()> {
    let id = ReportId::parse(a.me_too.as_deref().unwrap_or_default())?;
    let category: Option<Category> = a.category.as_deref().map(str::parse).transpose()?;
    if let (Some(lat), Some(lon)) = (a.lat, a.lon) {
        crdt_model::LatLon::new(lat, lon)?;
    }
    let member = a.reporter.as_deref().map(MemberId::parse).transpose()?;
    let req = ReportRequest::Confirm {
        report: id,
        member,
        category,
        note: (!a.text.trim().is_empty()).then_some(a.text),
    };
    match call(dir, WorkflowRequest::Report(req))? {
        WorkflowResponse::Report(r) => {
            if out.json {
                return print_json(&r);
            }
            let args = [
                ("report", r.id.to_string()),
                ("category", crate::i18n::category(&r.category.to_string())),
                ("status", crate::i18n::status(r.status.as_str())),
                ("n", r.state.confirmations.to_string()),
            ];
            println!("{}", crate::i18n::tr_args("report.me_too_added", &args));
            Ok(())
        }
        other => crate::workflow::unexpected(other),
    }
}

/// A response that does not answer the request: a bug, said plainly.
pub fn unexpected<T>(resp: Response) -> anyhow::Result<T> {
    Err(crate::file_error::unexpected(&resp))
}

fn submission(a: SubmitArgs) -> anyhow::Result<ReportSubmission> {
    // Validate everything the command line carries before the node is reached.
    let (Some(category), Some(lat), Some(lon)) = (a.category.as_deref(), a.lat, a.lon) else {
        return Err(crate::error_out::refuse(
            "bad_flags",
            "input.report_needs_place",
            &[],
        ));
    };
    let category: Category = category.parse()?;
    crdt_model::LatLon::new(lat, lon)?;
    let reporter = a.reporter.as_deref().map(MemberId::parse).transpose()?;
    // The node may run in another working directory: send absolute paths.
    let absolute = |paths: Vec<std::path::PathBuf>| -> anyhow::Result<Vec<std::path::PathBuf>> {
        paths
            .into_iter()
            .map(|p| std::path::absolute(&p).reading(&p))
            .collect()
    };
    let photos = absolute(a.photo)?;
    let voices = absolute(a.voice)?;
    for p in photos.iter().chain(&voices) {
        std::fs::metadata(p).reading(p)?;
    }
    Ok(ReportSubmission {
        content: ReportContent {
            category,
            lat,
            lon,
            text: a.text,
            address: a.address,
            grid: a.grid,
            reporter,
        },
        photos,
        voices,
        loaded: None,
    })
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

/// `yizhan report ...`
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Record a hazard (location, text, photos, voice notes), or confirm an open case with --me-too.
    Submit(SubmitArgs),
    /// Record many reports from a CSV or JSON lines file, in one commit, or none if any row is bad.
    Import(crate::report_import::ImportArgs),
    /// List the reports this node holds.
    List(ListArgs),
    /// Show one report with its lifecycle.
    Show {
        /// Report id, such as 202611-3fa9c2d1.
        id: String,
    },
    /// The community confirms the report is real.
    Verify(StepArgs),
    /// The community drops the report: duplicate, not_responsible or no_further_action.
    Void {
        #[command(flatten)]
        step: StepArgs,
        /// duplicate, not_responsible or no_further_action.
        #[arg(long)]
        reason: String,
    },
    /// Give the case to a handler with a deadline.
    Dispatch {
        #[command(flatten)]
        step: StepArgs,
        /// Who handles it: a team, a department, a member id.
        #[arg(long)]
        to: String,
        /// When it must be handled by: "YYYY-MM-DD HH:MM" (local time) or RFC 3339.
        #[arg(long)]
        due: String,
    },
    /// The handler reports the work done, with an evidence photo.
    Handle {
        #[command(flatten)]
        step: StepArgs,
        /// A photo of the fix.
        #[arg(long)]
        photo: Option<PathBuf>,
    },
    /// Pass the case to the street (community nodes).
    Escalate(StepArgs),
    /// Take an escalated case (street nodes).
    Accept(StepArgs),
    /// Close the case: fixed (after handling), duplicate, not_responsible or no_further_action.
    Close {
        #[command(flatten)]
        step: StepArgs,
        /// fixed, duplicate, not_responsible or no_further_action.
        #[arg(long)]
        reason: String,
    },
    /// Open a closed or voided case again; its category's deadline starts over.
    Reopen(StepArgs),
}

/// The case and the operator's note, common to every lifecycle verb.
#[derive(Debug, Args)]
pub struct StepArgs {
    /// Report id, such as 202611-3fa9c2d1.
    pub id: String,
    /// A note for the record.
    #[arg(long)]
    pub note: Option<String>,
}

/// `yizhan report submit`
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Category (manhole_cover, electrical_fire, elevator_fault, fire_lane_blocked, sanitation,
    /// public_facility_damage, uncivil_behaviour, dispute, child_safety, lost_person, traffic, other).
    #[arg(long, required_unless_present = "me_too")]
    pub category: Option<String>,
    /// Latitude of the hazard, degrees north.
    #[arg(
        long,
        allow_negative_numbers = true,
        required_unless_present = "me_too"
    )]
    pub lat: Option<f64>,
    /// Longitude of the hazard, degrees east.
    #[arg(
        long,
        allow_negative_numbers = true,
        required_unless_present = "me_too"
    )]
    pub lon: Option<f64>,
    /// What the rider saw.
    #[arg(long, default_value = "")]
    pub text: String,
    /// Street address.
    #[arg(long)]
    pub address: Option<String>,
    /// Grid of the community [default: the reporter's grid on the roster].
    #[arg(long)]
    pub grid: Option<String>,
    /// The reporting member's id (must be on the roster).
    #[arg(long)]
    pub reporter: Option<String>,
    /// A photo file (repeatable).
    #[arg(long)]
    pub photo: Vec<PathBuf>,
    /// A voice-note file (repeatable).
    #[arg(long)]
    pub voice: Vec<PathBuf>,
    /// "Me too": add a confirmation to this open case instead of recording a new report.
    #[arg(long, value_name = "ID", conflicts_with_all = ["photo", "voice", "address", "grid"])]
    pub me_too: Option<String>,
}

/// `yizhan report list`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only reports of places under this prefix.
    #[arg(long)]
    pub place: Option<String>,
    /// Only this category.
    #[arg(long)]
    pub category: Option<String>,
    /// Only this status.
    #[arg(long)]
    pub status: Option<String>,
    /// Only open cases past their deadline.
    #[arg(long)]
    pub overdue: bool,
}
