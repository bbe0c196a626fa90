//! `yizhan points escrow ...`: points a community hands its stations so
//! they can redeem while their link to the office is down
//! (`docs/escrow.md`). Grants run on the community's node; returns, like
//! redemptions at a station, on the station's own node.

use clap::{Args, Subcommand};
use crdt_model::escrow::{EscrowKind, EscrowMove};
use crdt_model::ledger::ENTRY_POINTS_MAX;
use node::workflow::{EscrowLine, EscrowRequest, EscrowRow, EscrowView};

use super::member;
use crate::i18n::{tr, tr_args};
use crate::output::{Output, local, print_json, table};

/// `yizhan points escrow ...`
#[derive(Debug, Subcommand)]
pub enum EscrowCommand {
    /// On the community's node: move points of a member's balance to a
    /// station, which may then redeem them while cut off.
    Grant(GrantArgs),
    /// On the station's node: give points it holds back to the member's
    /// balance (all it holds for them unless --points; --all for every member).
    Return(ReturnArgs),
    /// What each station holds for each member: granted, redeemed, returned, held.
    Show {
        /// Only this station (its peer id).
        #[arg(long)]
        station: Option<String>,
    },
}

/// `yizhan points escrow grant`
#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The station node's peer id (`yizhan status` on it prints it).
    #[arg(long)]
    pub station: String,
    /// Whose points.
    #[arg(long)]
    pub member: String,
    /// How many points.
    #[arg(long)]
    pub points: i64,
}

/// `yizhan points escrow return`
#[derive(Debug, Args)]
pub struct ReturnArgs {
    /// The station's peer id: this node (a check against running it on the wrong one).
    #[arg(long)]
    pub station: Option<String>,
    /// Whose points.
    #[arg(long, required_unless_present = "all")]
    pub member: Option<String>,
    /// How many points (default: all it holds for the member).
    #[arg(long)]
    pub points: Option<i64>,
    /// Everything it holds, for every member, in one write.
    #[arg(long, conflicts_with_all = ["member", "points"])]
    pub all: bool,
}

fn in_range(p: i64) -> anyhow::Result<i64> {
    if p <= 0 || p > ENTRY_POINTS_MAX {
        anyhow::bail!("--points {p} is outside 1..={ENTRY_POINTS_MAX}");
    }
    Ok(p)
}

/// The request `cmd` asks for, with its arguments checked.
pub fn request(cmd: EscrowCommand) -> anyhow::Result<EscrowRequest> {
    Ok(match cmd {
        EscrowCommand::Grant(a) => EscrowRequest::Grant {
            station: a.station,
            member: member(&a.member)?,
            points: in_range(a.points)?,
        },
        EscrowCommand::Return(ReturnArgs {
            station, all: true, ..
        }) => EscrowRequest::ReturnAll { station },
        EscrowCommand::Return(a) => EscrowRequest::Return {
            station: a.station,
            // clap requires --member unless --all.
            member: member(a.member.as_deref().unwrap_or_default())?,
            points: a.points.map(in_range).transpose()?,
        },
        EscrowCommand::Show { station } => EscrowRequest::Show { station },
    })
}

/// Prints what an escrow command or a station's redemption did or found.
pub fn print_view(v: &EscrowView, out: &Output) -> anyhow::Result<()> {
    if out.json {
        return print_json(v);
    }
    if let Some(m) = &v.written {
        let key = match m.kind {
            EscrowKind::Grant => "escrow.granted",
            EscrowKind::Return => "escrow.returned",
            EscrowKind::Redeem => "escrow.redeemed",
        };
        let held = v.rows.first().map_or(0, |r| r.held);
        let balance = v.balances.first().map_or(0, |b| b.balance);
        let args = [
            ("points", m.points.to_string()),
            ("member", m.member.to_string()),
            ("station", m.station.clone()),
            ("item", m.item.clone().unwrap_or_default()),
            ("held", held.to_string()),
            ("balance", balance.to_string()),
            ("id", m.id.to_string()),
        ];
        println!("{}", tr_args(key, &args));
        return Ok(());
    }
    if let Some(moved) = &v.returned {
        return print_returned(v, moved);
    }
    if v.rows.is_empty() {
        println!("{}", tr("empty.escrow"));
        return Ok(());
    }
    crate::table::print(rows_table(&v.rows));
    Ok(())
}

/// `return --all`: one line per member returned, then the total.
fn print_returned(v: &EscrowView, moved: &[EscrowMove]) -> anyhow::Result<()> {
    if moved.is_empty() {
        println!("{}", tr("escrow.returned_none"));
        return Ok(());
    }
    let mut t = table(&["member", "display name", "returned", "balance", "move"]);
    for m in moved {
        let name = v
            .rows
            .iter()
            .find(|r| r.member == m.member)
            .and_then(|r| r.display_name.clone());
        let balance = v.balances.iter().find(|b| b.member == m.member);
        t.add_row(vec![
            m.member.to_string(),
            name.unwrap_or_else(|| "-".into()),
            m.points.to_string(),
            balance.map_or_else(|| "-".into(), |b| b.balance.to_string()),
            m.id.to_string(),
        ]);
    }
    crate::table::print(t);
    let total: i64 = moved.iter().map(|m| m.points).sum();
    let args = [
        ("points", total.to_string()),
        ("members", moved.len().to_string()),
    ];
    println!("{}", tr_args("escrow.returned_all", &args));
    Ok(())
}

fn rows_table(rows: &[EscrowRow]) -> comfy_table::Table {
    let mut t = table(&[
        "station",
        "member",
        "display name",
        "granted",
        "redeemed",
        "returned",
        "held",
        "community",
    ]);
    for r in rows {
        t.add_row(vec![
            r.station.clone(),
            r.member.to_string(),
            r.display_name.clone().unwrap_or_else(|| "-".into()),
            r.granted.to_string(),
            r.redeemed.to_string(),
            r.returned.to_string(),
            r.held.to_string(),
            r.place.to_string(),
        ]);
    }
    t
}

/// A statement's escrow moves as a table.
pub(crate) fn lines_table(lines: &[EscrowLine]) -> comfy_table::Table {
    let mut t = table(&[
        "time", "move", "kind", "station", "points", "balance", "held", "item",
    ]);
    for l in lines {
        let m = &l.moved;
        t.add_row(vec![
            local(m.at),
            m.id.to_string(),
            crate::i18n::tr(&format!("escrow_kind.{}", m.kind)),
            m.station.clone(),
            m.points.to_string(),
            l.balance.to_string(),
            l.held.to_string(),
            m.item.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    t
}
