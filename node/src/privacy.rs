//! `yizhan privacy purge`: removing the personal data (real name, phone, ID
//! number) of members who left before a day, as the retention policy of
//! `docs/privacy.md` requires, from the store file itself.
//!
//! Removing an entry from roster-private is not enough: Automerge keeps
//! every earlier value in the document's history, and redb keeps the bytes
//! of deleted values in freed pages. So a purge builds roster-private anew
//! from its current state less the purged members (a new history of one
//! change, signed by this node), and rewrites the whole store into a fresh
//! file without the old history ([`Store::rewrite_without_history`]).
//! roster-private is never sent to a peer, so no replica holds the old
//! history and none can bring it back.
//!
//! The purge runs with the node stopped: it replaces the store file, which
//! a running node holds open. A look at what it would purge (`--dry-run`)
//! is an ordinary read, with or without a running node.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use automerge::AutoCommit;
use automerge::transaction::CommitOptions;
use chrono::{DateTime, NaiveDate, Utc};
use crdt_model::roster::{self, MemberStatus};
use crdt_model::roster_private::{self, PrivateRecord};
use crdt_model::{DocKind, MemberId};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::admin::{Call, Request, call_running};
use crate::api::Node;
use crate::error::NodeError;
use crate::requests;
use crate::store::Rewrite;

/// A purge refused before anything was read or written.
#[derive(Debug, Error)]
pub enum PrivacyError {
    /// A node runs on the data directory.
    #[error(
        "a node is running on {}; the purge rewrites the store file it holds open: stop the node, run the purge, then start it again (`--dry-run` works while it runs)",
        dir.display()
    )]
    NodeRunning {
        /// The data directory.
        dir: PathBuf,
    },
}

/// A member whose personal data a purge removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgedMember {
    /// The pseudonymous id, which stays on the roster.
    pub member: MemberId,
    /// The name shown to staff, which stays too.
    pub display_name: String,
    /// When they left.
    pub left_at: DateTime<Utc>,
}

/// What a purge removed, or with `dry_run` would remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    /// Members who left before the start of this day (UTC).
    pub left_before: NaiveDate,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Whose personal data goes (or went), in member id order.
    pub members: Vec<PurgedMember>,
    /// Members with personal data who left before their leave time was
    /// recorded: not purged, since when they left is unknown.
    pub undated: Vec<MemberId>,
    /// Members whose personal data stays.
    pub kept: usize,
    /// Kept answers of earlier admin requests that showed a purged member,
    /// reduced to "committed" (`crate::requests`).
    pub answers_cleared: usize,
    /// The store file's size before, when it was rewritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_bytes_before: Option<u64>,
    /// The store file's size after, when it was rewritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_bytes_after: Option<u64>,
}

/// What the current documents say a purge would do.
struct Plan {
    report: PurgeReport,
    /// Personal data of the purged members, to find them in kept answers.
    purged: Vec<(MemberId, PrivateRecord)>,
    /// Personal data that stays.
    kept: Vec<(MemberId, PrivateRecord)>,
}

impl Node {
    /// What `yizhan privacy purge --left-before DAY` would remove: members
    /// of this community who left before the start of `left_before` (UTC)
    /// and still have personal data. Changes nothing.
    pub fn purge_preview(&mut self, left_before: NaiveDate) -> Result<PurgeReport, NodeError> {
        Ok(self.purge_plan(left_before)?.report)
    }

    fn purge_plan(&mut self, left_before: NaiveDate) -> Result<Plan, NodeError> {
        self.own_community("roster-private")?;
        let cutoff = left_before.and_time(chrono::NaiveTime::MIN).and_utc();
        let (roster_id, private_id) = (
            self.own_doc(DocKind::Roster),
            self.own_doc(DocKind::RosterPrivate),
        );
        let members = match self.repo.existing(&roster_id)? {
            Some(doc) => roster::list(&*doc)?,
            None => Vec::new(),
        };
        let private = match self.repo.existing(&private_id)? {
            Some(doc) => roster_private::list(&*doc)?,
            None => Vec::new(),
        };
        let mut report = PurgeReport {
            left_before,
            dry_run: true,
            members: Vec::new(),
            undated: Vec::new(),
            kept: 0,
            answers_cleared: 0,
            store_bytes_before: None,
            store_bytes_after: None,
        };
        let (mut purged, mut kept) = (Vec::new(), Vec::new());
        for (id, record) in private {
            let member = members
                .iter()
                .find(|m| m.id == id && m.status == MemberStatus::Left);
            match member.map(|m| (m, m.left_at)) {
                Some((m, Some(at))) if at < cutoff => {
                    report.members.push(PurgedMember {
                        member: id.clone(),
                        display_name: m.display_name.clone(),
                        left_at: at,
                    });
                    purged.push((id, record));
                }
                Some((_, None)) => {
                    report.undated.push(id.clone());
                    kept.push((id, record));
                }
                _ => kept.push((id, record)),
            }
        }
        report.kept = kept.len();
        Ok(Plan {
            report,
            purged,
            kept,
        })
    }
}

/// Purges, from the store of the node in `dir`, the personal data of the
/// members who left before `left_before` (see the module docs). Refuses
/// while a node runs on `dir`, and on any node but a community's; a purge
/// with nobody to purge changes nothing.
pub fn purge(
    dir: &Path,
    left_before: NaiveDate,
    now: DateTime<Utc>,
) -> Result<PurgeReport, NodeError> {
    if call_running(dir, &Call::new(Request::Status))?.is_some() {
        return Err(PrivacyError::NodeRunning {
            dir: dir.to_owned(),
        }
        .into());
    }
    // Read-only: the old file is never written, and stays locked against a
    // node starting until the new file has replaced it.
    let mut node = Node::open_read_only(dir)?;
    let plan = node.purge_plan(left_before)?;
    let mut report = plan.report;
    report.dry_run = false;
    if plan.purged.is_empty() {
        return Ok(report);
    }
    let private_id = node.own_doc(DocKind::RosterPrivate);
    let actor = node.repo.actor().clone();
    let mut fresh = AutoCommit::new().with_actor(actor.clone());
    for (id, record) in &plan.kept {
        roster_private::put(&mut fresh, id, record)?;
    }
    fresh.commit_with(CommitOptions::default().with_time(now.timestamp()));
    let author = crdt_model::actor::writer_key(&actor)
        .ok_or_else(|| NodeError::Internal("the node's actor holds no key".into()))?;
    let mut signatures = Vec::new();
    for change in fresh.get_changes(&[]) {
        let hash = change.hash();
        let sig = crate::trust::signing::sign(node.identity.keypair(), &private_id, &hash)
            .ok_or_else(|| NodeError::Internal("cannot sign a change".into()))?;
        signatures.push((hash.0, author, sig));
    }
    let drop_signatures: BTreeSet<[u8; 32]> = match node.repo.existing(&private_id)? {
        Some(old) => old.get_changes(&[]).iter().map(|c| c.hash().0).collect(),
        None => BTreeSet::new(),
    };
    let meta = clear_answers(&node, &plan.purged)?;
    report.answers_cleared = meta.len();
    let rewrite = Rewrite {
        document: private_id.to_string(),
        snapshot: fresh.save(),
        heads: fresh.get_heads(),
        drop_signatures,
        signatures,
        meta,
    };
    let store = node.store().clone();
    drop(node);
    let sizes = store.rewrite_without_history(&rewrite)?;
    report.store_bytes_before = Some(sizes.bytes_before);
    report.store_bytes_after = Some(sizes.bytes_after);
    Ok(report)
}

/// Kept answers of admin requests (`request/<id>` in meta) that name a
/// purged member or hold any of their personal data: an answer to `roster
/// add` shows the name and phone. Each is reduced to "committed", so a
/// retry of that request is still told it was carried out.
fn clear_answers(
    node: &Node,
    purged: &[(MemberId, PrivateRecord)],
) -> Result<BTreeMap<String, Vec<u8>>, NodeError> {
    let mut needles: Vec<&[u8]> = Vec::new();
    for (id, r) in purged {
        needles.push(id.as_str().as_bytes());
        needles.push(r.real_name.as_bytes());
        needles.push(r.phone.as_bytes());
        needles.extend(r.id_number.as_deref().map(str::as_bytes));
    }
    let mut out = BTreeMap::new();
    for (key, value) in node.store().meta_with_prefix(requests::PREFIX)? {
        let holds = |n: &[u8]| !n.is_empty() && value.windows(n.len()).any(|w| w == n);
        if value != requests::COMMITTED && needles.iter().any(|n| holds(n)) {
            out.insert(key, requests::COMMITTED.to_vec());
        }
    }
    Ok(out)
}
