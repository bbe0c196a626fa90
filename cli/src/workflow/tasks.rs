//! `yizhan task ...` and `yizhan need ...`: the community's task list (claims
//! hold a task for a lease that expires) and its needs list.

use std::path::Path;

use clap::Subcommand;
use crdt_model::ids::{NeedId, TaskId};
use crdt_model::tasks::{LEASE_MINUTES_MAX, NeedKind, TaskStatus};
use node::workflow::{
    NeedRequest, NeedView, TaskRequest, TaskView, WorkflowRequest, WorkflowResponse,
};

use crate::error_out::refuse;
use crate::i18n::tr_args;
use crate::table::label;

use super::{call, member, named, place, unexpected};
use crate::output::{Output, clip, local, print_json, table};

/// `yizhan task ...`
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Post a task for members to claim.
    Post {
        /// Short title, such as "night patrol of the market".
        #[arg(long)]
        title: String,
        /// Longer description.
        #[arg(long)]
        description: Option<String>,
        /// Points awarded on sign-off.
        #[arg(long, allow_negative_numbers = true)]
        points: i64,
        /// How long a claim holds the task before it lapses, in minutes.
        #[arg(long, default_value_t = 120)]
        lease_minutes: i64,
    },
    /// Tasks of every list this node holds, with who holds them now.
    List {
        /// Only lists of places under this prefix.
        #[arg(long)]
        place: Option<String>,
        /// Only tasks in this state: open, claimed, completed, signed_off.
        #[arg(long)]
        status: Option<String>,
    },
    /// One task with every claim.
    Show {
        /// Task id, such as t-3f9a2c1d.
        task: String,
    },
    /// Claim a task for a member; refused while another member's lease is live.
    Claim {
        /// Task id.
        task: String,
        /// The claiming member.
        #[arg(long)]
        member: String,
    },
    /// The lease holder reports the task done.
    Complete {
        /// Task id.
        task: String,
        /// The member holding the lease.
        #[arg(long)]
        member: String,
        /// What they say.
        #[arg(long)]
        note: Option<String>,
    },
    /// Sign a completed task off; its points go to the member in the same commit.
    SignOff {
        /// Task id.
        task: String,
    },
}

/// `yizhan need ...`
#[derive(Debug, Subcommand)]
pub enum NeedCommand {
    /// Record what a member needs.
    Add {
        /// The member.
        #[arg(long)]
        member: String,
        /// meal, rest, charging, legal, health or other.
        #[arg(long)]
        kind: String,
        /// In their words.
        #[arg(long)]
        text: String,
    },
    /// Needs of every list this node holds.
    List {
        /// Only lists of places under this prefix.
        #[arg(long)]
        place: Option<String>,
        /// Only needs not yet resolved.
        #[arg(long)]
        open: bool,
    },
    /// Mark a need resolved.
    Resolve {
        /// Need id, such as n-3f9a2c1d.
        need: String,
        /// How it was resolved.
        #[arg(long)]
        note: Option<String>,
    },
}

fn task_id(s: &str) -> anyhow::Result<TaskId> {
    Ok(TaskId::parse(s)?)
}

const TASK_STATUSES: [TaskStatus; 4] = [
    TaskStatus::Open,
    TaskStatus::Claimed,
    TaskStatus::Completed,
    TaskStatus::SignedOff,
];

fn task_status(s: &str) -> anyhow::Result<TaskStatus> {
    named(
        s,
        "task status",
        |s| TASK_STATUSES.into_iter().find(|x| x.as_str() == s),
        || TASK_STATUSES.iter().map(|x| x.as_str()).collect(),
    )
}

/// Runs a task command.
pub fn run_task(dir: &Path, cmd: TaskCommand, out: &Output) -> anyhow::Result<()> {
    let req = match cmd {
        TaskCommand::Post {
            title,
            description,
            points,
            lease_minutes,
        } => {
            if points <= 0 {
                return Err(refuse(
                    "bad_value",
                    "input.points_not_positive",
                    &[("points", points.to_string())],
                ));
            }
            if !(1..=LEASE_MINUTES_MAX).contains(&lease_minutes) {
                return Err(refuse(
                    "bad_value",
                    "input.lease_out_of_range",
                    &[
                        ("minutes", lease_minutes.to_string()),
                        ("max", LEASE_MINUTES_MAX.to_string()),
                    ],
                ));
            }
            TaskRequest::Post {
                title,
                description,
                points,
                lease_minutes,
            }
        }
        TaskCommand::List { place: p, status } => TaskRequest::List {
            place: place(p.as_deref())?,
            status: status.as_deref().map(task_status).transpose()?,
        },
        TaskCommand::Show { task } => TaskRequest::Show {
            task: task_id(&task)?,
        },
        TaskCommand::Claim { task, member: m } => TaskRequest::Claim {
            task: task_id(&task)?,
            member: member(&m)?,
        },
        TaskCommand::Complete {
            task,
            member: m,
            note,
        } => TaskRequest::Complete {
            task: task_id(&task)?,
            member: member(&m)?,
            note,
        },
        TaskCommand::SignOff { task } => TaskRequest::SignOff {
            task: task_id(&task)?,
        },
    };
    match call(dir, WorkflowRequest::Task(req))? {
        WorkflowResponse::Task(t) => print_task(&t, out),
        WorkflowResponse::Tasks(list) => print_tasks(&list, out),
        WorkflowResponse::SignedOff { task, entry } => {
            if out.json {
                return print_json(&serde_json::json!({ "task": task, "entry": entry }));
            }
            let args = [
                ("task", task.task.id.to_string()),
                ("title", task.task.title.clone()),
                ("points", entry.amount.to_string()),
                ("member", entry.member.to_string()),
                ("entry", entry.id.to_string()),
            ];
            println!(
                "{}",
                crate::table::printable(&crate::i18n::tr_args("task.signed_off", &args))
            );
            Ok(())
        }
        other => unexpected(other),
    }
}

fn print_task(t: &TaskView, out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(t);
    }
    let x = &t.task;
    let mut head = table(&["task", &x.id.to_string()]);
    head.add_row(vec![label("title"), x.title.clone()]);
    if let Some(d) = &x.description {
        head.add_row(vec![label("description"), d.clone()]);
    }
    head.add_row(vec![label("community"), t.place.to_string()]);
    head.add_row(vec![
        label("status"),
        crate::i18n::named("task_status", t.status.as_str()),
    ]);
    head.add_row(vec![label("points"), x.points.to_string()]);
    let lease = [("n", x.lease_minutes.to_string())];
    head.add_row(vec![label("lease"), tr_args("task.lease_minutes", &lease)]);
    head.add_row(vec![label("posted"), local(x.posted_at)]);
    if let Some(h) = &t.holder {
        head.add_row(vec![
            label("held by"),
            tr_args(
                "task.held_until",
                &[
                    ("member", h.member.to_string()),
                    ("until", local(h.expires)),
                ],
            ),
        ]);
    }
    if let Some(c) = &x.completion {
        head.add_row(vec![
            label("completed"),
            format!(
                "{}{}",
                tr_args(
                    "task.completed_by",
                    &[("at", local(c.at)), ("member", c.member.to_string())],
                ),
                c.note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ),
        ]);
    }
    if let Some(s) = &x.sign_off {
        head.add_row(vec![label("signed off"), local(s.at)]);
    }
    crate::table::print(head);
    if !x.claims.is_empty() {
        let mut c = table(&["claim", "member", "claimed", "lease ends"]);
        for cl in &x.claims {
            c.add_row(vec![
                cl.id.to_string(),
                cl.member.to_string(),
                local(cl.at),
                local(cl.expires),
            ]);
        }
        crate::table::print(c);
    }
    Ok(())
}

fn print_tasks(list: &[TaskView], out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(list);
    }
    if list.is_empty() {
        println!("{}", crate::i18n::tr("empty.tasks"));
        return Ok(());
    }
    let mut t = table(&[
        "task",
        "title",
        "points",
        "status",
        "held by",
        "until",
        "community",
    ]);
    for v in list {
        t.add_row(vec![
            v.task.id.to_string(),
            clip(&v.task.title, 30),
            v.task.points.to_string(),
            crate::i18n::named("task_status", v.status.as_str()),
            v.holder
                .as_ref()
                .map(|h| h.member.to_string())
                .unwrap_or_else(|| "-".into()),
            v.holder
                .as_ref()
                .map(|h| local(h.expires))
                .unwrap_or_else(|| "-".into()),
            v.place.to_string(),
        ]);
    }
    crate::table::print(t);
    Ok(())
}

/// Runs a need command.
pub fn run_need(dir: &Path, cmd: NeedCommand, out: &Output) -> anyhow::Result<()> {
    let req = match cmd {
        NeedCommand::Add {
            member: m,
            kind,
            text,
        } => NeedRequest::Add {
            member: member(&m)?,
            kind: named(&kind, "need kind", NeedKind::from_name, NeedKind::names)?,
            text,
        },
        NeedCommand::List { place: p, open } => NeedRequest::List {
            place: place(p.as_deref())?,
            open_only: open,
        },
        NeedCommand::Resolve { need, note } => NeedRequest::Resolve {
            need: NeedId::parse(&need)?,
            note,
        },
    };
    match call(dir, WorkflowRequest::Need(req))? {
        WorkflowResponse::Need(n) => {
            if out.json {
                return print_json(&n);
            }
            print_needs(std::slice::from_ref(&*n));
            Ok(())
        }
        WorkflowResponse::Needs(list) => {
            if out.json {
                return print_json(&list);
            }
            if list.is_empty() {
                println!("{}", crate::i18n::tr("empty.needs"));
            } else {
                print_needs(&list);
            }
            Ok(())
        }
        other => unexpected(other),
    }
}

fn print_needs(list: &[NeedView]) {
    let mut t = table(&[
        "need",
        "member",
        "kind",
        "raised",
        "text",
        "resolved",
        "community",
    ]);
    for v in list {
        let n = &v.need;
        t.add_row(vec![
            n.id.to_string(),
            n.member.to_string(),
            crate::i18n::named("need_kind", &n.kind.to_string()),
            local(n.at),
            clip(&n.text, 30),
            match &n.resolved {
                None => crate::i18n::tr("need.open"),
                Some((at, note)) => match note {
                    Some(note) => format!("{}: {}", local(*at), clip(note, 20)),
                    None => local(*at),
                },
            },
            v.place.to_string(),
        ]);
    }
    crate::table::print(t);
}
