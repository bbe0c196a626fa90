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

use crate::i18n::{self, tr, tr_args};
use crate::output::{Output, clip, labelled, local, print_json};

impl Output {
    pub fn report(&self, r: &ReportView) -> anyhow::Result<()> {
        if self.json {
            return print_json(r);
        }
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        let mut row = |k: &str, v: String| {
            t.add_row(vec![tr(k), v]);
        };
        row("list.id", r.id.to_string());
        row("list.category", i18n::category(r.category.as_str()));
        row("list.status", i18n::status(r.status.as_str()));
        row("list.place", r.place.to_string());
        row("case.location", format!("{:.6}, {:.6}", r.lat, r.lon));
        if let Some(a) = &r.address {
            row("case.address", a.clone());
        }
        if let Some(g) = &r.grid {
            row("case.grid", g.clone());
        }
        row("list.text", r.text.clone());
        if let Some(m) = &r.reporter {
            row("case.reporter", m.to_string());
        }
        row(
            "list.submitted",
            tr_args(
                "case.at_by",
                &[
                    ("at", local(r.submitted_at)),
                    ("by", writer(r, &r.submitted_by, None)),
                ],
            ),
        );
        if let Some(h) = &r.state.handler {
            row("case.handler", h.clone());
        }
        let overdue = if r.overdue {
            tr("case.overdue")
        } else {
            String::new()
        };
        row("list.due", format!("{}{overdue}", local(r.deadline)));
        if r.state.confirmations > 0 {
            row("case.confirmations", r.state.confirmations.to_string());
        }
        for a in &r.attachments {
            row(a.kind.as_str(), attachment(a));
        }
        crate::table::print(t);
        let mut e = labelled(&[
            "case.time",
            "case.event",
            "case.by",
            "case.details",
            "case.note",
        ]);
        e.add_row(vec![
            local(r.submitted_at),
            tr("case.submitted_event"),
            writer(r, &r.submitted_by, None),
            submitted_details(r),
            String::new(),
        ]);
        for ev in &r.events {
            let skipped = if r.state.skipped.contains(&ev.id) {
                tr("case.skipped")
            } else {
                String::new()
            };
            e.add_row(vec![
                local(ev.at),
                format!("{}{skipped}", i18n::event(ev.kind.name())),
                writer(r, &ev.by, Some(ev.by_level)),
                details(ev),
                ev.note.clone().unwrap_or_default(),
            ]);
        }
        crate::table::print(e);
        Ok(())
    }
}

/// The node `peer` as "place (role)" when a credential held here names it;
/// otherwise its clipped peer id with the level the event claims.
fn writer(r: &ReportView, peer: &str, level: Option<PlaceLevel>) -> String {
    match r.authors.get(peer) {
        Some(a) => format!("{} ({})", a.place, i18n::role(a.role.as_str())),
        None => {
            let level = level
                .map(|l| format!(" ({})", i18n::role(&format!("{l:?}").to_lowercase())))
                .unwrap_or_default();
            tr_args("case.unknown_node", &[("peer", clip(peer, 16))]) + &level
        }
    }
}

fn attachment(a: &Attachment) -> String {
    tr_args(
        "case.attachment",
        &[
            ("hash", a.hash.to_string()),
            ("mime", a.mime.to_string()),
            ("bytes", a.size.to_string()),
        ],
    )
}

fn submitted_details(r: &ReportView) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &r.reporter {
        parts.push(tr_args("case.reporter_is", &[("member", m.to_string())]));
    }
    let n = r.attachments.len();
    if n > 0 {
        let key = if n == 1 {
            "case.attachments_one"
        } else {
            "case.attachments_many"
        };
        parts.push(tr_args(key, &[("n", n.to_string())]));
    }
    parts.join(&tr("case.and"))
}

/// What a step carried besides its note.
fn details(ev: &ReportEvent) -> String {
    let reason = |r: String| tr_args("case.reason", &[("reason", i18n::named("reason", &r))]);
    match &ev.kind {
        EventKind::Void { reason: r } => reason(r.to_string()),
        EventKind::Close { reason: r } => reason(r.to_string()),
        EventKind::Dispatch { to, due } => tr_args(
            "case.dispatched",
            &[("handler", to.clone()), ("due", local(*due))],
        ),
        EventKind::Handle { photo: Some(p) } => tr_args("case.photo", &[("photo", attachment(p))]),
        EventKind::Confirm { member: Some(m) } => {
            tr_args("case.confirmed_by", &[("member", m.to_string())])
        }
        EventKind::Confirm { member: None } => tr("case.confirmed_by_unknown"),
        EventKind::Verify
        | EventKind::Escalate
        | EventKind::Accept
        | EventKind::Reopen
        | EventKind::Handle { photo: None } => String::new(),
    }
}
