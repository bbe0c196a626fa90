//! `yizhan privacy purge --left-before DAY [--dry-run]`: removes the personal
//! data of members who left before DAY, from the store file itself
//! (`docs/privacy.md`, "How long it stays").

use std::path::Path;

use chrono::Utc;
use clap::{Args, Subcommand};
use node::admin::{Request, Response, dispatch};
use node::privacy::PurgeReport;

use crate::i18n::{tr, tr_args};
use crate::output::{Output, local, print_json, table};
use crate::workflow::date;

/// `yizhan privacy ...`
#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Remove the real name, phone and ID number of members who left before
    /// a day, from the store file and its history; the pseudonymous roster
    /// entry stays. Run it with the node stopped (--dry-run works while it
    /// runs).
    Purge(PurgeArgs),
}

/// `yizhan privacy purge`
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Members who left before the start of this day (UTC), written
    /// YYYY-MM-DD. The policy: at most 180 days after leaving.
    #[arg(long, value_name = "DAY")]
    pub left_before: String,
    /// Only list whose data would go; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs a privacy command.
pub fn run(dir: &Path, cmd: PrivacyCommand, out: &Output) -> anyhow::Result<()> {
    let PrivacyCommand::Purge(a) = cmd;
    let left_before = date(&a.left_before, "--left-before")?;
    let report = if a.dry_run {
        match dispatch(dir, Request::PurgePreview { left_before })? {
            Response::Purge(r) => *r,
            other => return crate::report::unexpected(other),
        }
    } else {
        node::privacy::purge(dir, left_before, Utc::now())?
    };
    if out.json {
        return print_json(&report);
    }
    print_report(&report);
    Ok(())
}

fn print_report(r: &PurgeReport) {
    let n = r.members.len();
    let args = [
        ("n", n.to_string()),
        (
            "whom",
            tr(if n == 1 {
                "privacy.member"
            } else {
                "privacy.members"
            }),
        ),
        ("day", r.left_before.to_string()),
    ];
    let key = match (r.dry_run, n) {
        (_, 0) => "privacy.none",
        (true, _) => "privacy.would_purge",
        (false, _) => "privacy.purged",
    };
    println!("{}", tr_args(key, &args));
    if n > 0 {
        let mut t = table(&["member", "display name", "left"]);
        for m in &r.members {
            t.add_row(vec![
                m.member.to_string(),
                m.display_name.clone(),
                local(m.left_at),
            ]);
        }
        crate::table::print(t);
    }
    if let (Some(before), Some(after)) = (r.store_bytes_before, r.store_bytes_after) {
        let args = [
            ("before", before.to_string()),
            ("after", after.to_string()),
            ("cleared", r.answers_cleared.to_string()),
        ];
        println!("{}", tr_args("privacy.rewritten", &args));
        println!("{}", tr("privacy.backups"));
    }
    if !r.undated.is_empty() {
        let ids: Vec<String> = r.undated.iter().map(|m| m.to_string()).collect();
        println!(
            "{}",
            tr_args("privacy.undated", &[("members", ids.join(", "))])
        );
    }
    let kept = if r.kept == 1 {
        "privacy.kept_one"
    } else {
        "privacy.kept_many"
    };
    println!("{}", tr_args(kept, &[("n", r.kept.to_string())]));
}
