//! `yizhan privacy purge --left-before DAY [--dry-run]`: removes the personal
//! data of members who left before DAY, from the store file itself
//! (`docs/privacy.md`, "How long it stays").

use std::path::Path;

use chrono::Utc;
use clap::{Args, Subcommand};
use node::admin::{Request, Response, dispatch};
use node::privacy::PurgeReport;

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
    let whom = if n == 1 { "member" } else { "members" };
    match (r.dry_run, n) {
        (_, 0) => println!(
            "no member who left before {} holds personal data; nothing to purge",
            r.left_before
        ),
        (true, _) => println!(
            "would purge the name, phone and ID number of {n} {whom} who left before {} (dry run: nothing changed):",
            r.left_before
        ),
        (false, _) => println!(
            "purged the name, phone and ID number of {n} {whom} who left before {}:",
            r.left_before
        ),
    }
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
        println!(
            "roster-private was given a new history without them and the store file rewritten ({before} → {after} bytes); {} kept answers of earlier commands cleared",
            r.answers_cleared
        );
        println!(
            "backups taken before now still hold their data: replace them with a new `yizhan backup`"
        );
    }
    if !r.undated.is_empty() {
        let ids: Vec<String> = r.undated.iter().map(|m| m.to_string()).collect();
        println!(
            "not purged, left before leave times were recorded (their leave day is unknown): {}",
            ids.join(", ")
        );
    }
    let kept = if r.kept == 1 {
        "member keeps"
    } else {
        "members keep"
    };
    println!("{} {kept} their personal data", r.kept);
}
