//! `yizhan roster ...`: applications, approval, certificates, grid moves,
//! suspensions and training; listing and showing members. Real names and
//! phones go to roster-private and are shown only on the member's own
//! community node.

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::{Args, Subcommand};
use crdt_model::roster::{Certificate, Member, MemberKind, MemberStatus, Role};
use node::workflow::{
    MemberApplication, MemberChanges, MemberView, RosterRequest, WorkflowRequest, WorkflowResponse,
};

use crate::error_out::refuse;
use crate::i18n::tr_args;

use crate::table::label;

use super::{call, date, member, named, place, unexpected};
use crate::output::{Output, local, print_json, table};

/// `yizhan roster ...`
#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Record an application (status applied); name, phone and ID number go to roster-private.
    Add(AddArgs),
    /// Correct a member's record: display name, platform and grid on the
    /// roster; name, phone and ID number in roster-private.
    Edit(EditArgs),
    /// Add applicants from a CSV file (columns display_name, name, phone,
    /// id_number, kind, platform, grid, roles): every row is checked first,
    /// and all are written in one commit or none.
    Import {
        /// The CSV file, UTF-8 (Excel: save as "CSV UTF-8").
        file: PathBuf,
        /// Check every row and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Accept phones already on the roster or twice in the file.
        #[arg(long)]
        force: bool,
    },
    /// Issue an active rider's access code for the HTTP server: shown once
    /// with a QR code of the sign-in link (kept here only as a hash);
    /// `--revoke` takes the rider's codes back.
    Code(crate::access::CodeArgs),
    /// Approve an applicant: applied → active.
    Approve {
        /// Member id, such as m-3f9a2c1d.
        member: String,
    },
    /// Suspend an active member.
    Suspend {
        /// Member id.
        member: String,
    },
    /// Reinstate a suspended member.
    Reinstate {
        /// Member id.
        member: String,
    },
    /// Record that a member left.
    Leave {
        /// Member id.
        member: String,
    },
    /// Certify an active member as city governance observer.
    Certify {
        /// Member id.
        member: String,
        /// Certificate number as printed.
        #[arg(long)]
        number: String,
        /// Day of issue (YYYY-MM-DD).
        #[arg(long)]
        issued: String,
        /// Last day it is valid (YYYY-MM-DD).
        #[arg(long)]
        expires: String,
    },
    /// Move a member to another grid.
    Move {
        /// Member id.
        member: String,
        /// The new grid, such as g03.
        #[arg(long)]
        grid: String,
    },
    /// Record a training the member attended.
    Train {
        /// Member id.
        member: String,
        /// What was taught.
        #[arg(long)]
        topic: String,
        /// When (YYYY-MM-DD).
        #[arg(long)]
        date: String,
        /// How long, in hours.
        #[arg(long)]
        hours: f64,
        /// Who gave it.
        #[arg(long)]
        trainer: Option<String>,
    },
    /// Members of every roster this node holds (no personal data).
    List {
        /// Only rosters of places under this prefix.
        #[arg(long)]
        place: Option<String>,
        /// Only members with this status (applied, active, suspended, left).
        #[arg(long)]
        status: Option<String>,
        /// Only members of this grid.
        #[arg(long)]
        grid: Option<String>,
    },
    /// One member; name and phone only on their own community's node, the
    /// ID number masked there unless --reveal.
    Show {
        /// Member id.
        member: String,
        /// Show the ID number whole (on the member's own community node).
        #[arg(long)]
        reveal: bool,
    },
}

/// `yizhan roster add`
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The name shown to staff and other nodes (a nickname, not the legal name).
    #[arg(long)]
    pub display_name: String,
    /// Legal name (kept in roster-private, never sent).
    #[arg(long)]
    pub name: String,
    /// Phone number (kept in roster-private, never sent).
    #[arg(long)]
    pub phone: String,
    /// Resident ID number (kept in roster-private, never sent).
    #[arg(long)]
    pub id_number: Option<String>,
    /// rider, courier, driver or other.
    #[arg(long, default_value = "rider")]
    pub kind: String,
    /// The platform they work for.
    #[arg(long)]
    pub platform: Option<String>,
    /// Their grid.
    #[arg(long)]
    pub grid: Option<String>,
    /// A role applied for: part_time_grid_worker or governance_observer (repeatable).
    #[arg(long)]
    pub role: Vec<String>,
    /// Record the application even if the phone is already another member's.
    #[arg(long)]
    pub force: bool,
}

/// `yizhan roster edit`
#[derive(Debug, Args)]
pub struct EditArgs {
    /// Member id.
    pub member: String,
    /// The name shown to staff and other nodes.
    #[arg(long)]
    pub display_name: Option<String>,
    /// Legal name (roster-private).
    #[arg(long)]
    pub name: Option<String>,
    /// Phone number (roster-private).
    #[arg(long)]
    pub phone: Option<String>,
    /// Resident ID number (roster-private).
    #[arg(long)]
    pub id_number: Option<String>,
    /// The platform they work for.
    #[arg(long)]
    pub platform: Option<String>,
    /// Their grid.
    #[arg(long)]
    pub grid: Option<String>,
    /// Record the phone even if it is already another member's.
    #[arg(long)]
    pub force: bool,
}

/// Runs a roster command.
pub fn run(dir: &Path, cmd: RosterCommand, out: &Output) -> anyhow::Result<()> {
    if let RosterCommand::Code(a) = cmd {
        return crate::access::rider_code(dir, a, out);
    }
    if let RosterCommand::Import {
        file,
        dry_run,
        force,
    } = &cmd
    {
        return super::roster_import::run(dir, file, *dry_run, *force, out);
    }
    let req = request(cmd)?;
    let summary = summary(&req);
    match call(dir, WorkflowRequest::Roster(req))? {
        WorkflowResponse::Member(m) => match summary {
            Some(line) if !out.json => {
                println!("{}", line(&m));
                Ok(())
            }
            _ => print_member(&m, out),
        },
        WorkflowResponse::Members(list) => print_members(&list, out),
        other => unexpected(other),
    }
}

/// The one line a write prints, made from the member after it.
type Summary = fn(&MemberView) -> String;

/// What the roster's one-line summaries name of a member.
fn who(m: &MemberView) -> [(&'static str, String); 4] {
    [
        ("id", m.member.id.to_string()),
        ("name", m.member.display_name.clone()),
        ("place", m.place.to_string()),
        (
            "status",
            crate::i18n::named("member_status", m.member.status.as_str()),
        ),
    ]
}

fn summary(req: &RosterRequest) -> Option<Summary> {
    Some(match req {
        RosterRequest::Edit { .. } => |m| tr_args("roster.corrected", &who(m)),
        RosterRequest::Add { .. } => |m| tr_args("roster.added", &who(m)),
        RosterRequest::SetStatus { .. } => |m| match m.member.status {
            MemberStatus::Left => tr_args("roster.left", &who(m)),
            _ => tr_args("roster.now", &who(m)),
        },
        RosterRequest::Certify { .. } => |m| match &m.member.certificate {
            Some(c) => tr_args(
                "roster.certified",
                &[
                    ("id", m.member.id.to_string()),
                    ("number", c.number.clone()),
                    ("issued", c.issued.to_string()),
                    ("expires", c.expires.to_string()),
                ],
            ),
            None => tr_args("roster.no_certificate", &[("id", m.member.id.to_string())]),
        },
        RosterRequest::Move { .. } => |m| {
            let grid = m.member.grid.as_deref().unwrap_or("-").to_owned();
            tr_args(
                "roster.moved",
                &[("id", m.member.id.to_string()), ("grid", grid)],
            )
        },
        RosterRequest::Train { .. } => |m| {
            tr_args(
                "roster.trained",
                &[
                    ("id", m.member.id.to_string()),
                    ("n", m.member.training.len().to_string()),
                    ("hours", training_hours(&m.member).to_string()),
                ],
            )
        },
        RosterRequest::List { .. } | RosterRequest::Show { .. } | RosterRequest::Import { .. } => {
            return None;
        }
    })
}

/// A member's training hours in all. Summed from +0.0: std's float `sum`
/// starts from -0.0, which prints as "-0" for a member with no training.
pub(crate) fn training_hours(m: &Member) -> f64 {
    m.training.iter().fold(0.0, |all, t| all + t.hours)
}

fn status(member_arg: &str, to: MemberStatus) -> anyhow::Result<RosterRequest> {
    Ok(RosterRequest::SetStatus {
        member: member(member_arg)?,
        to,
    })
}

fn request(cmd: RosterCommand) -> anyhow::Result<RosterRequest> {
    Ok(match cmd {
        RosterCommand::Add(a) => RosterRequest::Add {
            application: MemberApplication {
                display_name: a.display_name,
                kind: named(
                    &a.kind,
                    "member kind",
                    MemberKind::from_name,
                    MemberKind::names,
                )?,
                platform: a.platform,
                grid: a.grid,
                roles: a
                    .role
                    .iter()
                    .map(|r| named(r, "role", Role::from_name, Role::names))
                    .collect::<anyhow::Result<_>>()?,
                real_name: a.name,
                phone: a.phone,
                id_number: a.id_number,
            },
            force: a.force,
        },
        RosterCommand::Edit(e) => RosterRequest::Edit {
            member: member(&e.member)?,
            changes: MemberChanges {
                display_name: e.display_name,
                real_name: e.name,
                phone: e.phone,
                id_number: e.id_number,
                platform: e.platform,
                grid: e.grid,
            },
            force: e.force,
        },
        RosterCommand::Import { .. } => {
            bail!("roster import reads its file before it asks the node")
        }
        RosterCommand::Code(_) => bail!("roster code makes its code before it asks the node"),
        RosterCommand::Approve { member } => status(&member, MemberStatus::Active)?,
        RosterCommand::Reinstate { member } => status(&member, MemberStatus::Active)?,
        RosterCommand::Suspend { member } => status(&member, MemberStatus::Suspended)?,
        RosterCommand::Leave { member } => status(&member, MemberStatus::Left)?,
        RosterCommand::Certify {
            member: m,
            number,
            issued,
            expires,
        } => {
            let issued = date(&issued, "--issued")?;
            let expires = date(&expires, "--expires")?;
            if expires <= issued {
                return Err(refuse(
                    "bad_value",
                    "input.expires_before_issued",
                    &[
                        ("expires", expires.to_string()),
                        ("issued", issued.to_string()),
                    ],
                ));
            }
            RosterRequest::Certify {
                member: member(&m)?,
                certificate: Certificate {
                    number,
                    issued,
                    expires,
                },
            }
        }
        RosterCommand::Move { member: m, grid } => RosterRequest::Move {
            member: member(&m)?,
            grid,
        },
        RosterCommand::Train {
            member: m,
            topic,
            date: d,
            hours,
            trainer,
        } => {
            if !(hours > 0.0 && hours <= 24.0) {
                return Err(refuse(
                    "bad_value",
                    "input.hours_out_of_range",
                    &[("hours", hours.to_string())],
                ));
            }
            RosterRequest::Train {
                member: member(&m)?,
                topic,
                date: date(&d, "--date")?,
                hours,
                trainer,
            }
        }
        RosterCommand::List {
            place: p,
            status,
            grid,
        } => RosterRequest::List {
            place: place(p.as_deref())?,
            status: status
                .as_deref()
                .map(|s| {
                    named(
                        s,
                        "member status",
                        MemberStatus::from_name,
                        MemberStatus::names,
                    )
                })
                .transpose()?,
            grid,
        },
        RosterCommand::Show { member: m, reveal } => RosterRequest::Show {
            member: member(&m)?,
            reveal,
        },
    })
}

fn print_member(m: &MemberView, out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(m);
    }
    let x = &m.member;
    let mut t = table(&["member", &x.id.to_string()]);
    t.add_row(vec![label("community"), m.place.to_string()]);
    t.add_row(vec![label("display name"), x.display_name.clone()]);
    if let Some(p) = &m.private {
        t.add_row(vec![label("name"), p.real_name.clone()]);
        t.add_row(vec![label("phone"), p.phone.clone()]);
        if let Some(n) = &p.id_number {
            t.add_row(vec![label("ID number"), n.clone()]);
        }
    }
    t.add_row(vec![
        label("kind"),
        crate::i18n::named("member_kind", x.kind.as_str()),
    ]);
    t.add_row(vec![
        label("status"),
        crate::i18n::named("member_status", x.status.as_str()),
    ]);
    t.add_row(vec![
        label("platform"),
        x.platform.clone().unwrap_or_else(|| "-".into()),
    ]);
    t.add_row(vec![
        label("grid"),
        x.grid.clone().unwrap_or_else(|| "-".into()),
    ]);
    let roles: Vec<String> = x
        .roles
        .iter()
        .map(|r| crate::i18n::named("member_role", r.as_str()))
        .collect();
    t.add_row(vec![label("roles"), roles.join(", ")]);
    t.add_row(vec![label("applied"), local(x.applied_at)]);
    if let Some(c) = &x.certificate {
        t.add_row(vec![
            label("certificate"),
            tr_args(
                "roster.certificate_row",
                &[
                    ("number", c.number.clone()),
                    ("issued", c.issued.to_string()),
                    ("expires", c.expires.to_string()),
                ],
            ),
        ]);
    }
    crate::table::print(t);
    if !x.training.is_empty() {
        let mut tr = table(&["training", "date", "hours", "trainer"]);
        for r in &x.training {
            tr.add_row(vec![
                r.topic.clone(),
                r.date.to_string(),
                format!("{}", r.hours),
                r.trainer.clone().unwrap_or_default(),
            ]);
        }
        crate::table::print(tr);
    }
    Ok(())
}

fn print_members(list: &[MemberView], out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(list);
    }
    if list.is_empty() {
        println!("{}", crate::i18n::tr("empty.members"));
        return Ok(());
    }
    let mut t = table(&[
        "member",
        "display name",
        "kind",
        "status",
        "grid",
        "roles",
        "certificate expires",
        "community",
    ]);
    for m in list {
        let x = &m.member;
        let roles: Vec<String> = x
            .roles
            .iter()
            .map(|r| crate::i18n::named("member_role", r.as_str()))
            .collect();
        t.add_row(vec![
            x.id.to_string(),
            x.display_name.clone(),
            crate::i18n::named("member_kind", x.kind.as_str()),
            crate::i18n::named("member_status", x.status.as_str()),
            x.grid.clone().unwrap_or_else(|| "-".into()),
            roles.join(", "),
            x.certificate
                .as_ref()
                .map(|c| c.expires.to_string())
                .unwrap_or_else(|| "-".into()),
            m.place.to_string(),
        ]);
    }
    crate::table::print(t);
    Ok(())
}
