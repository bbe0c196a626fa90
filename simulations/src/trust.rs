//! Trust driven as the node drives it: every node re-reads its charter
//! whenever the charter changes and when an admission it knows of lapses
//! (`recheck_peers` in node/src/daemon.rs), records as a witness the
//! cut-off of every node it could revoke (`Node::witness_cut_offs`), tells
//! its engine when the revoked set or the number of cut-off records changed
//! (`Input::TrustChanged`), and drops peers whose credentials no longer
//! verify; a dropped peer is refused again on every reconnect. Admission
//! records, revocations and reinstatements are written as `yizhan admit`,
//! `revoke` and `reinstate` write them (node/src/trust/membership.rs).
//!
//! The node's versions of these work on its repository, which the
//! simulator does not have, so they are restated here over the in-memory
//! store, statement for statement.

use std::collections::BTreeSet;

use automerge::AutoCommit;
use chrono::{DateTime, Utc};
use crdt_model::{DocKind, DocumentId, ModelError};
use node::trust::charter::{self, CharterView};
use node::trust::statement::{CutReason, HeadsByDoc, Statement, heads_entry};
use node::trust::{Credential, Member, NodeKey};
use yizhan_engine::Input;

use crate::sim::{Event, Sim, SimNode};

/// How long an issuer that cannot write (down, or restoring a backup)
/// waits before it tries its revocation or reinstatement again.
const TRUST_RETRY_MS: u64 = 60_000;

/// What the driver of one node keeps about trust; like the daemon's, it is
/// forgotten when the node restarts.
#[derive(Debug, Clone, Default)]
pub struct NodeTrust {
    /// Revoked keys and the number of cut-off records when the engine was
    /// last told, as the daemon's `trust_fingerprint`.
    pub fingerprint: (BTreeSet<NodeKey>, usize),
    /// The earliest known admission that lapses after now (unix seconds);
    /// a recheck is queued for it.
    pub next_expiry: Option<i64>,
    /// A recheck is under way: the charter statements it writes do not
    /// start another (it reads the charter again once they are written).
    pub rechecking: bool,
}

/// Trust events in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustEvent {
    /// `issuer` revokes `target` (node indices).
    Revoke {
        /// Who revokes.
        issuer: usize,
        /// Who is revoked.
        target: usize,
    },
    /// `issuer` undoes its revocations of `target`.
    Reinstate {
        /// Who reinstates.
        issuer: usize,
        /// Who is reinstated.
        target: usize,
    },
    /// The admission `node` knew to lapse at `at` (unix seconds) has lapsed.
    Recheck {
        /// Which node looks again.
        node: usize,
        /// The expiry it was queued for; stale when the node since queued another.
        at: i64,
    },
}

/// The charter document of `n`'s federation.
pub fn charter_id(n: &SimNode) -> DocumentId {
    DocumentId::singleton(n.id.place.district(), DocKind::Charter)
}

/// The charter as `n` holds it, read against its federation.
pub fn read_charter(n: &SimNode) -> CharterView {
    match n.store.docs.get(&charter_id(n)) {
        Some(doc) => charter::read(doc, &n.id.trust.federation),
        None => CharterView::default(),
    }
}

/// Heads of every document in `docs` that `target` (or a node it admitted)
/// may have written: its place's subtree, and the charter if it may admit.
/// What a revocation or a cut-off records (`Node::cut_off_heads`).
pub fn cut_off_heads<'a>(
    docs: impl Iterator<Item = (&'a DocumentId, &'a mut AutoCommit)>,
    target: Option<&Member>,
) -> HeadsByDoc {
    let mut out = HeadsByDoc::new();
    let Some(target) = target else {
        return out;
    };
    for (id, doc) in docs {
        let wrote = target.place.contains(id.place())
            || (id.kind() == DocKind::Charter && target.may_admit);
        if wrote && id.kind() != DocKind::RosterPrivate {
            out.insert(id.to_string(), heads_entry(&doc.get_heads()));
        }
    }
    out
}

/// Simulated ms at which unix second `at` comes, never before `now`.
fn ms_at(start: DateTime<Utc>, now: u64, at: i64) -> u64 {
    let t = DateTime::from_timestamp(at, 0).unwrap_or(start);
    ((t - start).num_milliseconds().max(0) as u64).max(now)
}

impl Sim {
    /// Handles a trust event.
    pub fn trust_event(&mut self, event: TrustEvent) {
        match event {
            TrustEvent::Revoke { issuer, target } | TrustEvent::Reinstate { issuer, target } => {
                let n = &self.nodes[issuer];
                if n.engine.is_none() || n.recovering {
                    self.schedule(self.now + TRUST_RETRY_MS, Event::Trust(event));
                    return;
                }
                self.last_fault_ms = self.now;
                if matches!(event, TrustEvent::Revoke { .. }) {
                    self.revoke(issuer, target);
                } else {
                    self.reinstate(issuer, target);
                }
            }
            TrustEvent::Recheck { node, at } => {
                let n = &mut self.nodes[node];
                if n.trust_state.next_expiry == Some(at) && n.engine.is_some() {
                    n.trust_state.next_expiry = None;
                    self.last_fault_ms = self.now;
                    self.recheck(node);
                }
            }
        }
    }

    /// The member `other` proves to be, checked by `me` as the node's
    /// admission exchange checks it: the chain must verify to the same
    /// root, now, with no key on it revoked by `me`'s charter.
    pub fn verified_member(&self, me: usize, other: usize) -> Option<Member> {
        let cred = &self.nodes[other].id.credential;
        let view = &self.nodes[me].id.trust.charter;
        if cred.federation != self.nodes[me].id.trust.federation {
            return None;
        }
        cred.verify_for(&self.nodes[other].id.key, self.wall(), &|k| {
            view.is_revoked(k)
        })
        .ok()
    }

    /// Do both ends of the uplink of `child` admit each other?
    pub fn trusted_link(&self, child: usize) -> bool {
        self.nodes[child].id.parent.is_some_and(|parent| {
            self.verified_member(child, parent).is_some()
                && self.verified_member(parent, child).is_some()
        })
    }

    /// Credentials of the peers `i` is connected to (the daemon's
    /// `peer_creds`).
    fn peer_credentials(&self, i: usize) -> Vec<Credential> {
        self.links_of(i)
            .into_iter()
            .filter(|&c| self.connected(c))
            .filter_map(|c| {
                let other = if c == i { self.nodes[c].id.parent? } else { c };
                Some(self.nodes[other].id.credential.clone())
            })
            .collect()
    }

    /// The charter of node `i` changed, an admission lapsed, or the node
    /// started: witness cut-offs, read the charter again, tell the engine if
    /// trust changed, and drop or admit peers by their credentials now.
    pub fn recheck(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if n.engine.is_none() || n.trust_state.rechecking {
            return;
        }
        let ignores = self
            .mutation
            .as_ref()
            .is_some_and(|m| m.ignores_charter(&n.peer));
        n.trust_state.rechecking = true;
        if !ignores {
            self.witness_cut_offs(i);
            self.reload_charter(i);
        }
        self.nodes[i].trust_state.rechecking = false;
        for child in self.links_of(i) {
            self.refresh_link(child);
        }
    }

    /// Reads node `i`'s charter into its trust context, queues a recheck for
    /// the next known expiry, and feeds `TrustChanged` when the revoked set
    /// or the number of cut-off records changed.
    fn reload_charter(&mut self, i: usize) {
        let view = read_charter(&self.nodes[i]);
        let now = self.wall().timestamp();
        let peers = self.peer_credentials(i);
        let next = view
            .credentials
            .values()
            .chain(&peers)
            .filter_map(|c| c.structure().ok()?.expires)
            .filter(|e| *e > now)
            .min();
        let fingerprint = (
            view.revoked_keys(),
            view.cutoffs.values().map(Vec::len).sum::<usize>(),
        );
        self.nodes[i].id.trust.charter = view;
        self.set_next_expiry(i, next);
        if fingerprint != self.nodes[i].trust_state.fingerprint {
            // Changes refused under the old charter may be acceptable now.
            self.nodes[i].trust_state.fingerprint = fingerprint;
            self.feed(i, Input::TrustChanged);
        }
    }

    fn set_next_expiry(&mut self, i: usize, next: Option<i64>) {
        let st = &mut self.nodes[i].trust_state;
        if st.next_expiry == next {
            return;
        }
        st.next_expiry = next;
        if let Some(at) = next {
            let ms = ms_at(self.start, self.now, at);
            self.schedule(ms, Event::Trust(TrustEvent::Recheck { node: i, at }));
        }
    }

    /// A peer whose admission lapses at `expires` connected to `i`: look
    /// again then, as the daemon does when it admits a peer.
    pub fn note_expiry(&mut self, i: usize, expires: Option<i64>) {
        let now = self.wall().timestamp();
        let Some(e) = expires.filter(|e| *e > now) else {
            return;
        };
        let next = self.nodes[i]
            .trust_state
            .next_expiry
            .map_or(e, |n| n.min(e));
        self.set_next_expiry(i, Some(next));
    }

    /// Signs `statement` with node `i`'s key and writes it into its charter.
    /// `None` when the node cannot write now.
    fn put_statement(&mut self, i: usize, statement: Statement) -> Option<()> {
        let signed = statement.sign(&self.nodes[i].id.keypair).ok()?;
        let id = charter_id(&self.nodes[i]);
        self.write(i, &id, |d| {
            charter::put(d, &signed).map_err(ModelError::Automerge)
        })
    }

    /// Every admitter publishes the admissions it issued in the charter, as
    /// `yizhan admit` does, so that any node can judge a revocation's scope
    /// and knows when each admission lapses.
    pub fn publish_admissions(&mut self) {
        let at = self.wall().timestamp();
        for j in 0..self.nodes.len() {
            let Some(mut parent) = self.nodes[j].id.parent else {
                continue;
            };
            // A station links to its community but was admitted by the street.
            if self.nodes[j].id.role == node::Role::Station
                && let Some(street) = self.nodes[parent].id.parent
            {
                parent = street;
            }
            let statement = Statement::Admitted {
                issuer: self.nodes[parent].id.key,
                at,
                credential: self.nodes[j].id.credential.clone(),
            };
            self.put_statement(parent, statement);
        }
    }

    /// Node `i` as an admitter now, by its own chain and charter, or `None`
    /// (`Node::admitter`: a node that lost its right writes nothing).
    fn admitter(&self, i: usize, view: &CharterView) -> Option<Member> {
        let n = &self.nodes[i];
        let me =
            n.id.credential
                .verify_for(&n.id.key, self.wall(), &|k| view.is_revoked(k))
                .ok()?;
        me.may_admit.then_some(me)
    }

    /// The credential of `key` as node `i` knows it: the charter's records,
    /// its own, or one stored with changes the key authored
    /// (`Node::known_credential`).
    fn known_credential(&self, i: usize, key: &NodeKey, view: &CharterView) -> Option<Credential> {
        let n = &self.nodes[i];
        if let Some(c) = view.credential(key) {
            return Some(c.clone());
        }
        if key == &n.id.key {
            return Some(n.id.credential.clone());
        }
        n.store.authors.get(key).cloned()
    }

    /// `issuer` revokes `target`, recording the heads it holds of what the
    /// target may have written (`Node::revoke`). Nothing happens when the
    /// issuer may not revoke it or it is revoked already.
    fn revoke(&mut self, issuer: usize, target: usize) {
        let view = read_charter(&self.nodes[issuer]);
        let Some(me) = self.admitter(issuer, &view) else {
            return;
        };
        let key = self.nodes[target].id.key;
        let fed = self.nodes[issuer].id.trust.federation.clone();
        let target_credential = self.known_credential(issuer, &key, &view);
        if charter::in_scope(&fed, &me.key, &key, target_credential.as_ref()).is_err()
            || view.revoked.contains_key(&key)
        {
            return;
        }
        let member = target_credential.as_ref().and_then(|c| c.structure().ok());
        let heads = cut_off_heads(self.nodes[issuer].store.docs.iter_mut(), member.as_ref());
        let statement = Statement::Revoke {
            target: key,
            issuer: me.key,
            at: self.wall().timestamp(),
            reason: Some("simulated revocation".into()),
            target_credential,
            heads,
        };
        if self.put_statement(issuer, statement).is_some() {
            self.counters.revocations += 1;
        }
    }

    /// `issuer` undoes the revocations of `target` it may undo: all of them
    /// for the root, its own for another admitter (`Node::reinstate`).
    fn reinstate(&mut self, issuer: usize, target: usize) {
        let view = read_charter(&self.nodes[issuer]);
        let Some(me) = self.admitter(issuer, &view) else {
            return;
        };
        let key = self.nodes[target].id.key;
        let root = self.nodes[issuer].id.trust.federation.root;
        let mine: Vec<String> = view
            .revoked
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|r| me.key == root || r.issuer == me.key)
            .map(|r| r.id.clone())
            .collect();
        for revocation in mine {
            let statement = Statement::Reinstate {
                target: key,
                issuer: me.key,
                at: self.wall().timestamp(),
                revocation,
            };
            if self.put_statement(issuer, statement).is_some() {
                self.counters.reinstatements += 1;
            }
        }
    }

    /// Records, as a witness, the cut-off of every node `i` could revoke that
    /// is revoked (by another) or has expired and whose cut-off `i` has not
    /// recorded yet: the heads it holds now of what that node may have
    /// written (`Node::witness_cut_offs`, with the connected peers'
    /// credentials as `known`).
    fn witness_cut_offs(&mut self, i: usize) {
        if self.nodes[i].recovering || !self.nodes[i].id.member.may_admit {
            return;
        }
        let view = read_charter(&self.nodes[i]);
        let Some(me) = self.admitter(i, &view) else {
            return;
        };
        let fed = self.nodes[i].id.trust.federation.clone();
        let known = self.peer_credentials(i);
        let mut due: Vec<(NodeKey, CutReason, String)> = Vec::new();
        for (target, revocations) in &view.revoked {
            for r in revocations {
                if r.issuer != me.key && !view.witnessed.contains(&(*target, me.key, r.id.clone()))
                {
                    due.push((*target, CutReason::Revoked, r.id.clone()));
                }
            }
        }
        let t = self.wall().timestamp();
        for cred in view.credentials.values().chain(&known) {
            if cred.federation != fed || cred.structure().is_err() {
                continue;
            }
            // Each lapsed admission on a chain cuts its own node off.
            for link in &cred.chain {
                let a = &link.admission;
                let Some(e) = a.expires.filter(|e| *e <= t) else {
                    continue;
                };
                let of = e.to_string();
                if !view.witnessed.contains(&(a.node, me.key, of.clone()))
                    && !due.iter().any(|(k, _, o)| *k == a.node && *o == of)
                {
                    due.push((a.node, CutReason::Expired, of));
                }
            }
        }
        for (target, why, of) in due {
            let cred = known
                .iter()
                .find(|c| c.chain.last().is_some_and(|l| l.admission.node == target))
                .cloned()
                .or_else(|| self.known_credential(i, &target, &view));
            if charter::in_scope(&fed, &me.key, &target, cred.as_ref()).is_err() {
                continue;
            }
            let member = cred.as_ref().and_then(|c| c.structure().ok());
            let heads = cut_off_heads(self.nodes[i].store.docs.iter_mut(), member.as_ref());
            let statement = Statement::CutOff {
                target,
                issuer: me.key,
                at: t,
                why,
                of,
                target_credential: cred,
                heads,
            };
            if self.put_statement(i, statement).is_some() {
                self.counters.cutoffs += 1;
            }
        }
    }
}
