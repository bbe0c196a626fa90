//! `yizhan report show`: one case as a street's operator reads it, with its
//! whole history from submission on.
//!
//! Every writer is named by place and role as this node's credentials
//! establish them, not by peer id, and every step shows what it carried
//! (the handler and due time of a dispatch, the photo of a handling, the
//! member who confirmed a "me too"), so the case reads the same at the
//! community, the street and the district.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use crdt_model::PlaceLevel;
use crdt_model::report::{Attachment, EventKind, ReportEvent};
use node::api::ReportView;

use crate::output::{Output, clip, local, print_json, table};

impl Output {
    pub fn report(&self, r: &ReportView) -> anyhow::Result<()> {
        if self.json {
            return print_json(r);
        }
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        let mut row = |k: &str, v: String| {
            t.add_row(vec![k.to_owned(), v]);
        };
        row("id", r.id.to_string());
        row("category", r.category.to_string());
        row("status", r.status.to_string());
        row("place", r.place.to_string());
        row("location", format!("{:.6}, {:.6}", r.lat, r.lon));
        if let Some(a) = &r.address {
            row("address", a.clone());
        }
        if let Some(g) = &r.grid {
            row("grid", g.clone());
        }
        row("text", r.text.clone());
        if let Some(m) = &r.reporter {
            row("reporter", m.to_string());
        }
        row(
            "submitted",
            format!(
                "{} by {}",
                local(r.submitted_at),
                writer(r, &r.submitted_by, None)
            ),
        );
        if let Some(h) = &r.state.handler {
            row("handler", h.clone());
        }
        let overdue = if r.overdue { " (overdue)" } else { "" };
        row("due", format!("{}{overdue}", local(r.deadline)));
        if r.state.confirmations > 0 {
            row("confirmations", r.state.confirmations.to_string());
        }
        for a in &r.attachments {
            row(a.kind.as_str(), attachment(a));
        }
        println!("{t}");
        let mut e = table(&["time", "event", "by", "details", "note"]);
        e.add_row(vec![
            local(r.submitted_at),
            "submitted".to_owned(),
            writer(r, &r.submitted_by, None),
            submitted_details(r),
            String::new(),
        ]);
        for ev in &r.events {
            let skipped = if r.state.skipped.contains(&ev.id) {
                " (skipped)"
            } else {
                ""
            };
            e.add_row(vec![
                local(ev.at),
                format!("{}{skipped}", ev.kind.name()),
                writer(r, &ev.by, Some(ev.by_level)),
                details(ev),
                ev.note.clone().unwrap_or_default(),
            ]);
        }
        println!("{e}");
        Ok(())
    }
}

/// The node `peer` as "place (role)" when a credential held here names it;
/// otherwise its clipped peer id with the level the event claims.
fn writer(r: &ReportView, peer: &str, level: Option<PlaceLevel>) -> String {
    match r.authors.get(peer) {
        Some(a) => format!("{} ({})", a.place, a.role.as_str()),
        None => {
            let level = level.map(|l| format!(" ({l:?})").to_lowercase());
            format!(
                "unknown node {}{}",
                clip(peer, 16),
                level.unwrap_or_default()
            )
        }
    }
}

fn attachment(a: &Attachment) -> String {
    format!("{} {} {} bytes", a.hash, a.mime, a.size)
}

fn submitted_details(r: &ReportView) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &r.reporter {
        parts.push(format!("reporter {m}"));
    }
    let n = r.attachments.len();
    if n > 0 {
        parts.push(format!("{n} attachment{}", if n == 1 { "" } else { "s" }));
    }
    parts.join(", ")
}

/// What a step carried besides its note.
fn details(ev: &ReportEvent) -> String {
    match &ev.kind {
        EventKind::Void { reason } => format!("reason {reason}"),
        EventKind::Close { reason } => format!("reason {reason}"),
        EventKind::Dispatch { to, due } => format!("handler {to}, due {}", local(*due)),
        EventKind::Handle { photo: Some(p) } => format!("photo {}", attachment(p)),
        EventKind::Confirm { member: Some(m) } => format!("confirmed by member {m}"),
        EventKind::Confirm { member: None } => "confirmed by a rider not on the roster".to_owned(),
        EventKind::Verify
        | EventKind::Escalate
        | EventKind::Accept
        | EventKind::Reopen
        | EventKind::Handle { photo: None } => String::new(),
    }
}
