//! `yizhan points ...`: the volunteer-points ledger. Entries are never edited:
//! a mistake is fixed with `points correct`, a compensating entry.

use std::path::Path;

use clap::{Args, Subcommand, ValueEnum};
use crdt_model::ReportId;
use crdt_model::ids::{EntryId, TaskId};
use crdt_model::ledger::{ENTRY_POINTS_MAX, Entry};
use node::workflow::{
    AwardRule, BalanceRow, Booked, PointsRequest, StatementView, WorkflowRequest, WorkflowResponse,
};

use super::{call, member, place, unexpected};
use crate::error_out::refuse;
use crate::output::{Output, clip, local, print_json, table};

/// `yizhan points ...`
#[derive(Debug, Subcommand)]
pub enum PointsCommand {
    /// Award points by a rule (report, task, patrol) or at discretion (--points with --reason).
    Award(AwardArgs),
    /// Redeem points for an item at a station or merchant; refused if it would overdraw.
    /// On a station's node, redeems from what the station holds in escrow.
    Redeem {
        /// Whose points.
        #[arg(long)]
        member: String,
        /// The station or merchant, by id or exact name.
        #[arg(long)]
        at: String,
        /// What is taken.
        #[arg(long)]
        item: String,
        /// The price (a merchant's listed price when omitted; required at a station).
        #[arg(long)]
        points: Option<i64>,
    },
    /// Balances now, of every member or of one.
    Balance {
        /// Only this member.
        member: Option<String>,
        /// Only ledgers of places under this prefix.
        #[arg(long)]
        place: Option<String>,
    },
    /// Every entry of a member in a year, with reason, reference and the balance after it.
    Statement {
        /// The member.
        member: String,
        /// The year (default: this year).
        #[arg(long)]
        year: Option<i32>,
    },
    /// Points in escrow at stations, which redeem them while cut off from the
    /// community: grant, return, show.
    #[command(subcommand)]
    Escrow(super::escrow::EscrowCommand),
    /// Issue a signed certificate of a member's service over a period, which
    /// anyone with the federation's root peer id can verify offline.
    Certificate(crate::certificate::IssueArgs),
    /// Write a compensating entry (positive or negative); entries are never edited.
    Correct {
        /// Whose balance.
        #[arg(long)]
        member: String,
        /// Signed change, such as -5.
        #[arg(long, allow_negative_numbers = true)]
        points: i64,
        /// Why.
        #[arg(long)]
        reason: String,
        /// The entry this corrects.
        #[arg(long)]
        entry: Option<String>,
    },
}

/// What an award rewards.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RuleArg {
    /// A verified report, to its reporter (needs --report).
    Report,
    /// A signed-off task (sign-off awards these itself).
    Task,
    /// A patrol.
    Patrol,
}

/// `yizhan points award`
#[derive(Debug, Args)]
pub struct AwardArgs {
    /// Who earns the points (repeatable for a bulk award; the reporter for --rule report).
    #[arg(long)]
    pub member: Vec<String>,
    /// The rule; omit it for a discretionary award with --points and --reason.
    #[arg(long, value_enum)]
    pub rule: Option<RuleArg>,
    /// The verified report, for --rule report.
    #[arg(long)]
    pub report: Option<String>,
    /// The task, for --rule task.
    #[arg(long)]
    pub task: Option<String>,
    /// Points of a discretionary award.
    #[arg(long, allow_negative_numbers = true)]
    pub points: Option<i64>,
    /// Why (required for a discretionary award).
    #[arg(long)]
    pub reason: Option<String>,
}

/// `--points` outside what one entry may carry.
fn points_out_of_range(points: i64) -> anyhow::Error {
    let args = [
        ("points", points.to_string()),
        ("max", ENTRY_POINTS_MAX.to_string()),
    ];
    refuse("bad_value", "input.points_out_of_range", &args)
}

fn award_rule(a: &AwardArgs) -> anyhow::Result<AwardRule> {
    Ok(match a.rule {
        Some(rule) if a.points.is_some() => {
            let rule = rule
                .to_possible_value()
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default();
            return Err(refuse(
                "bad_flags",
                "input.rule_and_points",
                &[("rule", rule)],
            ));
        }
        Some(RuleArg::Report) => match &a.report {
            Some(r) => AwardRule::Report {
                report: ReportId::parse(r)?,
            },
            None => return Err(refuse("bad_flags", "input.rule_report_needs_report", &[])),
        },
        Some(RuleArg::Task) => match &a.task {
            Some(t) => AwardRule::Task {
                task: TaskId::parse(t)?,
            },
            None => return Err(refuse("bad_flags", "input.rule_task_needs_task", &[])),
        },
        Some(RuleArg::Patrol) => AwardRule::Patrol {
            reason: a.reason.clone(),
        },
        None => {
            let Some(points) = a.points else {
                return Err(refuse("bad_flags", "input.award_needs_why", &[]));
            };
            if points <= 0 || points > ENTRY_POINTS_MAX {
                return Err(points_out_of_range(points));
            }
            let Some(reason) = a.reason.clone() else {
                return Err(refuse("bad_flags", "input.award_needs_reason", &[]));
            };
            AwardRule::Discretionary { points, reason }
        }
    })
}

/// Runs a points command.
pub fn run(dir: &Path, cmd: PointsCommand, out: &Output) -> anyhow::Result<()> {
    let req = match cmd {
        PointsCommand::Certificate(a) => return crate::certificate::issue(dir, a, out),
        PointsCommand::Escrow(c) => PointsRequest::Escrow(super::escrow::request(c)?),
        PointsCommand::Award(a) => {
            let rule = award_rule(&a)?;
            let members = a
                .member
                .iter()
                .map(|m| member(m))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if members.is_empty()
                && matches!(
                    rule,
                    AwardRule::Patrol { .. } | AwardRule::Discretionary { .. }
                )
            {
                return Err(refuse("bad_flags", "input.award_needs_member", &[]));
            }
            PointsRequest::Award { members, rule }
        }
        PointsCommand::Redeem {
            member: m,
            at,
            item,
            points,
        } => {
            if let Some(p) = points
                && (p <= 0 || p > ENTRY_POINTS_MAX)
            {
                return Err(points_out_of_range(p));
            }
            PointsRequest::Redeem {
                member: member(&m)?,
                at,
                item,
                points,
            }
        }
        PointsCommand::Balance {
            member: m,
            place: p,
        } => PointsRequest::Balance {
            place: place(p.as_deref())?,
            member: m.as_deref().map(member).transpose()?,
        },
        PointsCommand::Statement { member: m, year } => PointsRequest::Statement {
            member: member(&m)?,
            year,
        },
        PointsCommand::Correct {
            member: m,
            points,
            reason,
            entry,
        } => {
            if points == 0 || points.abs() > ENTRY_POINTS_MAX {
                let args = [
                    ("points", points.to_string()),
                    ("max", ENTRY_POINTS_MAX.to_string()),
                ];
                return Err(refuse("bad_value", "input.correction_out_of_range", &args));
            }
            PointsRequest::Correct {
                member: member(&m)?,
                points,
                reason,
                entry: entry.as_deref().map(EntryId::parse).transpose()?,
            }
        }
    };
    match call(dir, WorkflowRequest::Points(req))? {
        WorkflowResponse::Booked(b) => print_booked(&b, out),
        WorkflowResponse::Balances(rows) => print_balances(&rows, out),
        WorkflowResponse::Statement(s) => print_statement(&s, out),
        WorkflowResponse::Escrow(v) => super::escrow::print_view(&v, out),
        other => unexpected(other),
    }
}

/// The entries as a table: time, member, amount, kind, reason, reference, where.
pub(crate) fn entries_table(entries: &[(&Entry, Option<i64>)]) -> comfy_table::Table {
    let mut t = table(&[
        "time",
        "entry",
        "member",
        "points",
        "balance",
        "kind",
        "reason",
        "reference",
    ]);
    for (e, balance) in entries {
        let reference = match (&e.reference, &e.redeemed_at, &e.item) {
            (_, Some(at), Some(item)) => format!("{item} at {at}"),
            (Some(r), _, _) => r.clone(),
            _ => "-".into(),
        };
        t.add_row(vec![
            local(e.at),
            e.id.to_string(),
            e.member.to_string(),
            format!("{:+}", e.amount),
            balance.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
            e.kind.to_string(),
            clip(e.reason.as_deref().unwrap_or("-"), 30),
            reference,
        ]);
    }
    t
}

fn print_booked(b: &Booked, out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(b);
    }
    let rows: Vec<(&Entry, Option<i64>)> = b
        .entries
        .iter()
        .map(|e| {
            let bal = b
                .balances
                .iter()
                .find(|r| r.member == e.member)
                .map(|r| r.balance);
            (e, bal)
        })
        .collect();
    crate::table::print(entries_table(&rows));
    Ok(())
}

fn print_balances(rows: &[BalanceRow], out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(rows);
    }
    if rows.is_empty() {
        println!("{}", crate::i18n::tr("empty.points"));
        return Ok(());
    }
    let mut t = table(&[
        "member",
        "display name",
        "balance",
        "in escrow",
        "community",
    ]);
    for r in rows {
        t.add_row(vec![
            r.member.to_string(),
            r.display_name.clone().unwrap_or_else(|| "-".into()),
            r.balance.to_string(),
            r.escrowed.to_string(),
            r.place.to_string(),
        ]);
    }
    crate::table::print(t);
    Ok(())
}

fn print_statement(s: &StatementView, out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(s);
    }
    let args = [
        ("member", s.member.to_string()),
        ("place", s.place.to_string()),
        ("year", s.year.to_string()),
        ("balance", s.balance.to_string()),
        ("carried", s.carried.to_string()),
        ("escrowed", s.escrowed.to_string()),
    ];
    println!("{}", crate::i18n::tr_args("points.statement", &args));
    if s.carried != 0 {
        println!("{}", crate::i18n::tr_args("points.carried", &args));
    }
    if !s.entries.is_empty() {
        let rows: Vec<(&Entry, Option<i64>)> = s
            .entries
            .iter()
            .map(|l| (&l.entry, Some(l.balance)))
            .collect();
        crate::table::print(entries_table(&rows));
    }
    if !s.escrow.is_empty() {
        println!("{}", crate::i18n::tr_args("points.escrowed", &args));
        crate::table::print(super::escrow::lines_table(&s.escrow));
    }
    Ok(())
}
