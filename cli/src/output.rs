//! What commands print: aligned tables for people, JSON for machines.

use chrono::{DateTime, Local, Utc};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use node::admin::{PeerRow, SyncRow};
use node::api::{DocumentRow, NodeStatus, ReportView, Submitted};
use serde::Serialize;

pub struct Output {
    pub json: bool,
}

pub(crate) fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
}

/// How long ago `t` was, in the largest whole unit: "40 s ago", "3 min
/// ago", "5 h ago", "2 days ago".
pub(crate) fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..60 => format!("{s} s ago"),
        60..3_600 => format!("{} min ago", s / 60),
        3_600..86_400 => format!("{} h ago", s / 3_600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// A peer as people know it: its place and role, else its clipped id.
fn peer_name(place: &Option<String>, role: &Option<String>, peer_id: &str) -> String {
    match (place, role) {
        (Some(p), Some(r)) => format!("{p} ({r})"),
        (Some(p), None) => p.clone(),
        _ => clip(peer_id, 16),
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
            println!("{headline}");
        }
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.add_row(vec!["peer id", &s.peer_id]);
        t.add_row(vec!["role", s.role.as_str()]);
        t.add_row(vec!["place", s.place.as_str()]);
        t.add_row(vec!["name", s.name.as_deref().unwrap_or("-")]);
        t.add_row(vec!["data dir", &s.data_dir.display().to_string()]);
        t.add_row(vec!["documents", &s.documents.to_string()]);
        t.add_row(vec!["blobs", &s.blobs.to_string()]);
        t.add_row(vec!["schema", &s.schema_version.to_string()]);
        t.add_row(vec!["running", if s.running { "yes" } else { "no" }]);
        match &s.membership {
            Some(m) if m.root == s.peer_id => {
                t.add_row(vec![
                    "federation".to_owned(),
                    format!(
                        "{}: this node is its root; admit the streets with `yizhan admit PEER_ID --role street --place PLACE --may-admit`",
                        m.federation
                    ),
                ]);
            }
            Some(m) => {
                let admits = if m.may_admit { ", may admit" } else { "" };
                t.add_row(vec![
                    "federation".to_owned(),
                    format!("{} (root {}){admits}", m.federation, m.root),
                ]);
            }
            None => {
                t.add_row(vec![
                    "federation".to_owned(),
                    "none: run `yizhan join TOKEN`".to_owned(),
                ]);
            }
        }
        for a in &s.listen {
            t.add_row(vec!["listening", a]);
        }
        for p in &s.peers {
            t.add_row(vec!["connected", p]);
        }
        if let Some(sync) = &s.sync {
            // What an operator watching a refill (`rebuild --no-wait`) waits for.
            t.add_row(vec![
                "peers in step".to_owned(),
                format!(
                    "{} of {} admitted",
                    sync.peers_in_step.len(),
                    sync.peers_admitted.len()
                ),
            ]);
            t.add_row(vec![
                "blobs wanted".to_owned(),
                sync.blobs_wanted.to_string(),
            ]);
        }
        println!("{t}");
        Ok(())
    }

    pub fn documents(&self, rows: &[DocumentRow]) -> anyhow::Result<()> {
        if self.json {
            return print_json(rows);
        }
        let mut t = table(&["document", "heads", "snapshot bytes", "change bytes"]);
        for r in rows {
            let heads: Vec<String> = r.heads.iter().map(|h| clip(h, 9)).collect();
            t.add_row(vec![
                r.id.clone(),
                heads.join(" "),
                r.snapshot_bytes.to_string(),
                r.changes_bytes.to_string(),
            ]);
        }
        println!("{t}");
        Ok(())
    }

    pub fn peers(&self, rows: &[PeerRow]) -> anyhow::Result<()> {
        if self.json {
            return print_json(rows);
        }
        if rows.is_empty() {
            println!("no known peers");
            return Ok(());
        }
        let now = Utc::now();
        let mut t = table(&["peer", "id", "connected", "last seen", "addresses"]);
        for r in rows {
            t.add_row(vec![
                peer_name(&r.place, &r.role, &r.peer_id),
                clip(&r.peer_id, 16),
                if r.connected { "yes" } else { "no" }.to_owned(),
                r.last_seen
                    .map(|t| {
                        if r.connected {
                            "now".into()
                        } else {
                            ago(t, now)
                        }
                    })
                    .unwrap_or_else(|| "-".into()),
                r.addresses.join(" "),
            ]);
        }
        println!("{t}");
        Ok(())
    }

    pub fn sync_status(&self, rows: &[SyncRow]) -> anyhow::Result<()> {
        if self.json {
            return print_json(rows);
        }
        if rows.is_empty() {
            println!("no document has synced with a peer yet");
            return Ok(());
        }
        let now = Utc::now();
        let mut t = table(&["peer", "document", "in sync", "last synced", "problem"]);
        for r in rows {
            t.add_row(vec![
                peer_name(&r.place, &r.role, &r.peer_id),
                r.doc.clone(),
                if r.in_sync { "yes" } else { "no" }.to_owned(),
                r.last_synced
                    .map(|t| format!("{} ({})", local(t), ago(t, now)))
                    .unwrap_or_else(|| "never".into()),
                r.problem.clone().unwrap_or_default(),
            ]);
        }
        println!("{t}");
        Ok(())
    }

    pub fn submitted(&self, s: &Submitted) -> anyhow::Result<()> {
        if self.json {
            return print_json(s);
        }
        println!(
            "recorded report {} ({}), due {}",
            s.report.id,
            s.report.category,
            local(s.report.deadline)
        );
        for (id, d) in &s.nearby {
            println!(
                "  open report {id} of the same category is {d:.0} m away: is it the same hazard?"
            );
        }
        Ok(())
    }

    pub fn report_list(&self, reports: &[ReportView]) -> anyhow::Result<()> {
        if self.json {
            return print_json(reports);
        }
        if reports.is_empty() {
            println!("no reports");
            return Ok(());
        }
        let mut t = table(&[
            "id",
            "category",
            "status",
            "place",
            "submitted",
            "due",
            "text",
        ]);
        for r in reports {
            let due = if r.overdue {
                format!("{} OVERDUE", local(r.deadline))
            } else {
                local(r.deadline)
            };
            t.add_row(vec![
                r.id.to_string(),
                r.category.to_string(),
                r.status.to_string(),
                r.place.to_string(),
                local(r.submitted_at),
                due,
                clip(&r.text, 30),
            ]);
        }
        println!("{t}");
        Ok(())
    }
}
