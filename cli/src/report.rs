//! `yizhan report ...`

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use crdt_model::{Category, MemberId, PlaceId, ReportId, Status};
use node::admin::{Request, Response, dispatch};
use node::api::{ReportFilter, ReportSubmission};

use crate::output::Output;
use clap::{Args, Subcommand};

/// Runs a report command. Arguments are validated before the node is
/// reached, so a malformed command never touches the store.
pub fn run(dir: &Path, cmd: ReportCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        ReportCommand::Submit(a) => match dispatch(dir, Request::SubmitReport(submission(a)?))? {
            Response::Submitted(done) => out.submitted(&done),
            other => unexpected(other),
        },
        ReportCommand::List(a) => match dispatch(dir, Request::ListReports(filter(a)?))? {
            Response::Reports(list) => out.report_list(&list),
            other => unexpected(other),
        },
        ReportCommand::Show { id } => {
            match dispatch(dir, Request::ShowReport(ReportId::parse(&id)?))? {
                Response::Report(r) => out.report(&r),
                other => unexpected(other),
            }
        }
    }
}

/// A response that does not answer the request: a bug, said plainly.
pub fn unexpected(resp: Response) -> anyhow::Result<()> {
    bail!("the node gave an unexpected answer: {resp:?}")
}

fn submission(a: SubmitArgs) -> anyhow::Result<ReportSubmission> {
    // Validate everything the command line carries before the node is reached.
    let category: Category = a.category.parse()?;
    crdt_model::LatLon::new(a.lat, a.lon)?;
    let reporter = a.reporter.as_deref().map(MemberId::parse).transpose()?;
    // The node may run in another working directory: send absolute paths.
    let absolute = |paths: Vec<std::path::PathBuf>| -> anyhow::Result<Vec<std::path::PathBuf>> {
        paths
            .into_iter()
            .map(|p| {
                std::path::absolute(&p).with_context(|| format!("cannot read {}", p.display()))
            })
            .collect()
    };
    let photos = absolute(a.photo)?;
    let voices = absolute(a.voice)?;
    for p in photos.iter().chain(&voices) {
        std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
    }
    Ok(ReportSubmission {
        category,
        lat: a.lat,
        lon: a.lon,
        text: a.text,
        address: a.address,
        grid: a.grid,
        reporter,
        photos,
        voices,
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
    /// Record a hazard: location, text, photos and voice notes.
    Submit(SubmitArgs),
    /// List the reports this node holds.
    List(ListArgs),
    /// Show one report with its lifecycle.
    Show {
        /// Report id, such as 202611-3fa9c2d1.
        id: String,
    },
}

/// `yizhan report submit`
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Category (manhole_cover, electrical_fire, elevator_fault, fire_lane_blocked, sanitation,
    /// public_facility_damage, uncivil_behaviour, dispute, child_safety, lost_person, traffic, other).
    #[arg(long)]
    pub category: String,
    /// Latitude of the hazard, degrees north.
    #[arg(long, allow_negative_numbers = true)]
    pub lat: f64,
    /// Longitude of the hazard, degrees east.
    #[arg(long, allow_negative_numbers = true)]
    pub lon: f64,
    /// What the rider saw.
    #[arg(long, default_value = "")]
    pub text: String,
    /// Street address.
    #[arg(long)]
    pub address: Option<String>,
    /// Grid of the community.
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
