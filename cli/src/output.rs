//! What commands print: aligned tables for people, JSON for machines.

use chrono::{DateTime, Local, Utc};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use node::admin::{PeerRow, SyncRow};
use node::api::{DocumentRow, NodeStatus, ReportView, Submitted};
use serde::Serialize;

use crate::i18n::{self, tr, tr_args, yes_no};

pub struct Output {
    pub json: bool,
}

pub(crate) fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
}

/// How long ago `t` was, in the largest whole unit: "40 s ago", "3 min
/// ago", "5 h ago", "2 days ago" (or 40 秒前 ... in Chinese).
pub(crate) fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    let (key, n) = match s {
        0..60 => ("ago.seconds", s),
        60..3_600 => ("ago.minutes", s / 60),
        3_600..86_400 => ("ago.hours", s / 3_600),
        _ => ("ago.days", s / 86_400),
    };
    tr_args(key, &[("n", n.to_string())])
}

/// A peer as people know it: its place and role, else its clipped id.
fn peer_name(place: &Option<String>, role: &Option<String>, peer_id: &str) -> String {
    match (place, role) {
        (Some(p), Some(r)) => format!("{p} ({})", i18n::role(r)),
        (Some(p), None) => p.clone(),
        _ => clip(peer_id, 16),
    }
}

/// What a node says it did, in the language in force: the text of
/// `done.CODE` with its values, or the node's English sentence.
pub(crate) fn done(said: &node::admin::Done) -> String {
    match crate::i18n::lookup(crate::i18n::current(), &format!("done.{}", said.code)) {
        Some(text) if crate::i18n::current() != crate::i18n::Lang::En => {
            let args: Vec<(&str, String)> = said
                .params
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            crate::i18n::fill(&text, &args)
        }
        _ => said.message.clone(),
    }
}

pub(crate) fn print_json<T: Serialize + ?Sized>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub(crate) fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}

/// [`table`] with each header a label key, in the language in force.
pub(crate) fn labelled(keys: &[&str]) -> Table {
    let header: Vec<String> = keys.iter().map(|k| tr(k)).collect();
    let mut t = Table::new();
    t.set_header(header);
    t
}

pub(crate) fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(n.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

impl Output {
    pub fn status(&self, s: &NodeStatus, headline: &str) -> anyhow::Result<()> {
        if self.json {
            return print_json(s);
        }
        if !headline.is_empty() {
            println!("{}", tr(headline));
        }
        let mut t = Table::new();
        let mut row = |key: &str, value: String| {
            t.add_row(vec![tr(key), value]);
        };
        row("show.peer_id", s.peer_id.clone());
        row("show.role", i18n::role(s.role.as_str()));
        row("show.place", s.place.to_string());
        row("show.name", s.name.clone().unwrap_or_else(|| "-".into()));
        row("show.data_dir", s.data_dir.display().to_string());
        row("show.documents", s.documents.to_string());
        row("show.blobs", s.blobs.to_string());
        row("show.schema", s.schema_version.to_string());
        row("show.running", yes_no(s.running));
        let federation = match &s.membership {
            Some(m) if m.root == s.peer_id => tr_args(
                "show.federation_root",
                &[("federation", m.federation.to_string())],
            ),
            Some(m) => tr_args(
                "show.federation_member",
                &[
                    ("federation", m.federation.to_string()),
                    ("root", m.root.to_string()),
                    (
                        "admits",
                        if m.may_admit {
                            tr("show.may_admit")
                        } else {
                            String::new()
                        },
                    ),
                ],
            ),
            None => tr("show.federation_none"),
        };
        row("show.federation", federation);
        for a in &s.listen {
            row("show.listening", a.clone());
        }
        for p in &s.peers {
            row("show.connected", p.clone());
        }
        if let Some(sync) = &s.sync {
            // What an operator watching a refill (`rebuild --no-wait`) waits for.
            row(
                "show.peers_in_step",
                tr_args(
                    "show.peers_in_step_value",
                    &[
                        ("in_step", sync.peers_in_step.len().to_string()),
                        ("admitted", sync.peers_admitted.len().to_string()),
                    ],
                ),
            );
            row("show.blobs_wanted", sync.blobs_wanted.to_string());
        }
        crate::table::print(t);
        Ok(())
    }

    pub fn documents(&self, rows: &[DocumentRow]) -> anyhow::Result<()> {
        if self.json {
            return print_json(rows);
        }
        let mut t = labelled(&[
            "docs.document",
            "docs.heads",
            "docs.snapshot_bytes",
            "docs.change_bytes",
        ]);
        for r in rows {
            let heads: Vec<String> = r.heads.iter().map(|h| clip(h, 9)).collect();
            t.add_row(vec![
                r.id.clone(),
                heads.join(" "),
                r.snapshot_bytes.to_string(),
                r.changes_bytes.to_string(),
            ]);
        }
        crate::table::print(t);
        Ok(())
    }

    pub fn peers(&self, rows: &[PeerRow]) -> anyhow::Result<()> {
        if self.json {
            return print_json(rows);
        }
        if rows.is_empty() {
            println!("{}", tr("peers.none"));
            return Ok(());
        }
        let now = Utc::now();
        let mut t = labelled(&[
            "peers.peer",
            "peers.id",
            "peers.connected",
            "peers.last_seen",
            "peers.addresses",
        ]);
        for r in rows {
            t.add_row(vec![
                peer_name(&r.place, &r.role, &r.peer_id),
                clip(&r.peer_id, 16),
                yes_no(r.connected),
                r.last_seen
                    .map(|t| {
                        if r.connected {
                            tr("peers.now")
                        } else {
                            ago(t, now)
                        }
                    })
                    .unwrap_or_else(|| "-".into()),
                r.addresses.join(" "),
            ]);
        }
        crate::table::print(t);
        Ok(())
    }

    pub fn sync_status(&self, rows: &[SyncRow]) -> anyhow::Result<()> {
        if self.json {
            return print_json(rows);
        }
        if rows.is_empty() {
            println!("{}", tr("sync.none"));
            return Ok(());
        }
        let now = Utc::now();
        let mut t = labelled(&[
            "peers.peer",
            "sync.document",
            "sync.in_sync",
            "sync.last_synced",
            "sync.problem",
        ]);
        for r in rows {
            t.add_row(vec![
                peer_name(&r.place, &r.role, &r.peer_id),
                r.doc.clone(),
                yes_no(r.in_sync),
                r.last_synced
                    .map(|t| format!("{} ({})", local(t), ago(t, now)))
                    .unwrap_or_else(|| tr("sync.never")),
                r.problem.clone().unwrap_or_default(),
            ]);
        }
        crate::table::print(t);
        Ok(())
    }

    pub fn submitted(&self, s: &Submitted) -> anyhow::Result<()> {
        if self.json {
            return print_json(s);
        }
        println!(
            "{}",
            tr_args(
                "submitted.recorded",
                &[
                    ("id", s.report.id.to_string()),
                    ("category", i18n::category(s.report.category.as_str())),
                    ("due", local(s.report.deadline)),
                ],
            )
        );
        for (id, d) in &s.nearby {
            println!(
                "{}",
                tr_args(
                    "submitted.nearby",
                    &[("id", id.to_string()), ("metres", format!("{d:.0}"))],
                )
            );
        }
        Ok(())
    }

    pub fn report_list(&self, reports: &[ReportView]) -> anyhow::Result<()> {
        if self.json {
            return print_json(reports);
        }
        if reports.is_empty() {
            println!("{}", tr("list.none"));
            return Ok(());
        }
        let mut t = labelled(&[
            "list.id",
            "list.category",
            "list.status",
            "list.place",
            "list.submitted",
            "list.due",
            "list.text",
        ]);
        for r in reports {
            let due = if r.overdue {
                format!("{} {}", local(r.deadline), tr("list.overdue"))
            } else {
                local(r.deadline)
            };
            t.add_row(vec![
                r.id.to_string(),
                i18n::category(r.category.as_str()),
                i18n::status(r.status.as_str()),
                r.place.to_string(),
                local(r.submitted_at),
                due,
                clip(&crate::table::printable(&r.text), 30),
            ]);
        }
        crate::table::print(t);
        Ok(())
    }
}
