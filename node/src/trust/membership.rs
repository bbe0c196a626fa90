//! A node's own membership: creating a federation (district), admitting
//! others, joining with a token, revoking. These are the node operations
//! behind `yizhan init --role district`, `admit`, `join` and `revoke`.

use chrono::{DateTime, Duration, Utc};
use crdt_model::{DocKind, DocumentId, PlaceId};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use super::admission::{Admission, Credential, Federation, Member, NodeKey, TrustError};
use super::charter::CharterView;
use super::statement::{CutReason, HeadsByDoc, Statement, heads_entry};
use super::{CREDENTIAL_META_KEY, charter};
use crate::api::Node;
use crate::config::Role;
use crate::error::NodeError;

/// What `yizhan join` and `status` say about membership.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembershipView {
    /// The federation's root (the district's peer id).
    pub root: String,
    /// The district's place.
    pub federation: PlaceId,
    /// This node as the chain establishes it.
    pub role: Role,
    /// Its place.
    pub place: PlaceId,
    /// May it admit others?
    pub may_admit: bool,
    /// When its admission lapses.
    pub expires: Option<DateTime<Utc>>,
}

impl From<TrustError> for NodeError {
    fn from(e: TrustError) -> Self {
        NodeError::Trust(e)
    }
}

impl Node {
    /// This node's key.
    pub fn key(&self) -> Result<NodeKey, NodeError> {
        Ok(NodeKey::of_keypair(self.identity.keypair())?)
    }

    /// The credential this node holds, if it founded or joined a federation.
    pub fn credential(&self) -> Result<Option<Credential>, NodeError> {
        match self.repo.store().get_meta(CREDENTIAL_META_KEY)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                NodeError::Internal(format!("stored credential does not decode: {e}"))
            }),
        }
    }

    fn store_credential(&mut self, cred: &Credential) -> Result<(), NodeError> {
        let bytes = serde_json::to_vec(cred).map_err(|e| NodeError::Internal(e.to_string()))?;
        let mut b = self.repo.store().batch()?;
        b.put_meta(CREDENTIAL_META_KEY, &bytes)?;
        b.commit()?;
        // After the commit: the copy never holds what the store does not.
        self.keep_admission_copy()
    }

    /// The charter document's id for this node's federation.
    pub fn charter_id(&self) -> DocumentId {
        DocumentId::singleton(self.config.place.district(), DocKind::Charter)
    }

    /// The charter this node holds, read against its federation (empty
    /// before it joins).
    pub fn charter_view(&mut self) -> Result<CharterView, NodeError> {
        let Some(cred) = self.credential()? else {
            return Ok(CharterView::default());
        };
        let id = self.charter_id();
        Ok(match self.repo.existing(&id)? {
            Some(doc) => charter::read(&*doc, &cred.federation),
            None => CharterView::default(),
        })
    }

    /// Keys revoked now, by the statements in force in the charter.
    pub fn revoked(&mut self) -> Result<std::collections::BTreeSet<NodeKey>, NodeError> {
        Ok(self.charter_view()?.revoked_keys())
    }

    /// The credential of `key` as this node knows it: from the charter's
    /// admission records, or stored with changes it authored.
    pub fn known_credential(
        &mut self,
        key: &NodeKey,
        view: &CharterView,
    ) -> Result<Option<Credential>, NodeError> {
        if let Some(c) = view.credential(key) {
            return Ok(Some(c.clone()));
        }
        if key == &self.key()? {
            return self.credential();
        }
        Ok(self
            .repo
            .store()
            .author(&key.0)?
            .and_then(|bytes| serde_json::from_slice::<Credential>(&bytes).ok()))
    }

    /// Heads of every document this node holds that `target` (or a node it
    /// admitted) may have written: its place's subtree, and the charter if it
    /// may admit. What a cut-off records.
    pub fn cut_off_heads(&mut self, target: Option<&Member>) -> Result<HeadsByDoc, NodeError> {
        let mut out = HeadsByDoc::new();
        let Some(target) = target else {
            return Ok(out);
        };
        for id in self.repo.document_ids()? {
            let wrote = target.place.contains(id.place())
                || (id.kind() == DocKind::Charter && target.may_admit);
            if !wrote || id.kind() == DocKind::RosterPrivate {
                continue;
            }
            if let Some(heads) = self.repo.heads(&id)? {
                out.insert(id.to_string(), heads_entry(&heads));
            }
        }
        Ok(out)
    }

    fn write_statement(&mut self, s: Statement, now: DateTime<Utc>) -> Result<(), NodeError> {
        let signed = s.sign(self.identity.keypair())?;
        let charter = self.charter_id();
        self.repo.write(now, |w| {
            charter::put(w.doc(&charter)?, &signed).map_err(NodeError::Internal)
        })
    }

    /// This node as a verified member, or `None` while it has not joined.
    pub fn federation_member(&mut self, now: DateTime<Utc>) -> Result<Option<Member>, NodeError> {
        let Some(cred) = self.credential()? else {
            return Ok(None);
        };
        let revoked = self.revoked()?;
        let me = self.key()?;
        Ok(Some(cred.verify_for(&me, now, &|k| revoked.contains(k))?))
    }

    /// Makes this (district) node the root of a new federation.
    pub(crate) fn found_federation(&mut self) -> Result<(), NodeError> {
        let cred = Credential::root(Federation {
            root: self.key()?,
            place: self.config.place.clone(),
        });
        self.store_credential(&cred)
    }

    /// Admits `peer` as `role` at `place` and returns the token it joins with.
    #[allow(clippy::too_many_arguments)]
    pub fn admit(
        &mut self,
        peer: &str,
        role: Role,
        place: PlaceId,
        may_admit: bool,
        expires_days: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<String, NodeError> {
        let peer_id: PeerId =
            peer.parse()
                .map_err(|_| crate::refusal::AdminRefusal::NotAPeerId {
                    peer: peer.to_owned(),
                    hint: true,
                })?;
        let node = NodeKey::of_peer(&peer_id)?;
        if role == Role::Station && may_admit {
            return Err(crate::refusal::AdminRefusal::StationMayNotAdmit.into());
        }
        let me = self
            .federation_member(now)?
            .ok_or(crate::refusal::AdminRefusal::NotAMember { admitting: true })?;
        let cred = self
            .credential()?
            .ok_or_else(|| NodeError::Internal("member without credential".into()))?;
        let admission = Admission {
            node,
            role,
            place: place.clone(),
            may_admit,
            issued: now.timestamp(),
            expires: expires_days.map(|d| (now + Duration::days(i64::from(d))).timestamp()),
            issuer: me.key,
        };
        let token_cred = cred.admit(self.identity.keypair(), admission)?;
        // Check it as the new node will, so a bad admission fails here.
        let revoked = self.revoked()?;
        let admitted = token_cred.verify_for(&node, now, &|k| revoked.contains(k))?;
        debug_assert_eq!(admitted.key, node);
        self.write_statement(
            Statement::Admitted {
                issuer: me.key,
                at: now.timestamp(),
                credential: token_cred.clone(),
            },
            now,
        )?;
        Ok(token_cred.to_token()?)
    }

    /// Installs a token: verifies it admits this node with its configured role
    /// and place, and keeps it.
    pub fn join(&mut self, token: &str, now: DateTime<Utc>) -> Result<MembershipView, NodeError> {
        let cred = Credential::from_token(token)?;
        let me = self.key()?;
        let revoked = self.revoked()?;
        let m = cred.verify_for(&me, now, &|k| revoked.contains(k))?;
        if m.role != self.config.role || m.place != self.config.place {
            return Err(crate::refusal::AdminRefusal::TokenForOtherPlace {
                token_role: m.role,
                token_place: m.place,
                role: self.config.role,
                place: self.config.place.clone(),
            }
            .into());
        }
        if cred.federation.place != self.config.place.district() {
            return Err(crate::refusal::AdminRefusal::TokenForOtherFederation {
                federation: cred.federation.place.clone(),
                district: self.config.place.district(),
            }
            .into());
        }
        self.store_credential(&cred)?;
        Ok(view(&cred, &m))
    }

    /// Revokes `peer` in the charter, recording where its valid work ends
    /// (the heads of what it may have written, as this node holds them).
    /// Refused up front, naming the rule, when this node may not revoke it.
    pub fn revoke(
        &mut self,
        peer: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), NodeError> {
        let key = parse_peer(peer)?;
        let (me, fed) = self.admitter(now)?;
        let view = self.charter_view()?;
        let target_credential = self.known_credential(&key, &view)?;
        charter::in_scope(&fed, &me.key, &key, target_credential.as_ref()).map_err(|why| {
            crate::refusal::AdminRefusal::CannotRevoke {
                peer: peer.to_owned(),
                why,
            }
        })?;
        if let Some(r) = view.revoked.get(&key) {
            return Err(crate::refusal::AdminRefusal::AlreadyRevoked {
                peer: peer.to_owned(),
                by: r[0].issuer.to_string(),
            }
            .into());
        }
        let target = target_credential.as_ref().and_then(|c| c.structure().ok());
        let heads = self.cut_off_heads(target.as_ref())?;
        self.write_statement(
            Statement::Revoke {
                target: key,
                issuer: me.key,
                at: now.timestamp(),
                reason: reason.map(str::to_owned),
                target_credential,
                heads,
            },
            now,
        )
    }

    /// Undoes the revocations of `peer` that this node may undo: all of them
    /// for the root, its own for another admitter. Returns how many.
    pub fn reinstate(&mut self, peer: &str, now: DateTime<Utc>) -> Result<usize, NodeError> {
        let key = parse_peer(peer)?;
        let (me, fed) = self.admitter(now)?;
        let view = self.charter_view()?;
        let Some(revocations) = view.revoked.get(&key) else {
            return Err(crate::refusal::AdminRefusal::NotRevoked {
                peer: peer.to_owned(),
            }
            .into());
        };
        let mine: Vec<String> = revocations
            .iter()
            .filter(|r| me.key == fed.root || r.issuer == me.key)
            .map(|r| r.id.clone())
            .collect();
        if mine.is_empty() {
            let by: Vec<String> = revocations.iter().map(|r| r.issuer.to_string()).collect();
            return Err(crate::refusal::AdminRefusal::NotTheRevoker {
                peer: peer.to_owned(),
                by: by.join(", "),
            }
            .into());
        }
        for id in &mine {
            self.write_statement(
                Statement::Reinstate {
                    target: key,
                    issuer: me.key,
                    at: now.timestamp(),
                    revocation: id.clone(),
                },
                now,
            )?;
        }
        Ok(mine.len())
    }

    /// Records, as a witness, the cut-off of every node this node could
    /// revoke that is revoked or has expired and whose cut-off it has not
    /// recorded yet: the heads of what that node may have written, as held
    /// now. Called when the charter changes and when an admission lapses, so
    /// work that reached this node before it learned of the cut-off stays
    /// valid everywhere. Returns the nodes recorded.
    ///
    /// `known` are credentials the caller holds beside the charter's
    /// admission records (the daemon's connected peers).
    pub fn witness_cut_offs(
        &mut self,
        now: DateTime<Utc>,
        known: &[Credential],
    ) -> Result<Vec<NodeKey>, NodeError> {
        let Some(me) = self.federation_member(now)? else {
            return Ok(Vec::new());
        };
        if !me.may_admit {
            return Ok(Vec::new());
        }
        let Some(fed) = self.credential()?.map(|c| c.federation) else {
            return Ok(Vec::new());
        };
        let view = self.charter_view()?;
        let mut due: Vec<(NodeKey, CutReason, String)> = Vec::new();
        for (target, revocations) in &view.revoked {
            for r in revocations {
                if r.issuer != me.key && !view.witnessed.contains(&(*target, me.key, r.id.clone()))
                {
                    due.push((*target, CutReason::Revoked, r.id.clone()));
                }
            }
        }
        let t = now.timestamp();
        for cred in view.credentials.values().chain(known) {
            if cred.federation != fed || cred.structure().is_err() {
                continue;
            }
            // Each admission on the chain that has lapsed cuts its own node off.
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
        let mut out = Vec::new();
        for (target, why, of) in due {
            let cred = match known
                .iter()
                .find(|c| c.chain.last().is_some_and(|l| l.admission.node == target))
            {
                Some(c) => Some(c.clone()),
                None => self.known_credential(&target, &view)?,
            };
            if charter::in_scope(&fed, &me.key, &target, cred.as_ref()).is_err() {
                continue;
            }
            let member = cred.as_ref().and_then(|c| c.structure().ok());
            let heads = self.cut_off_heads(member.as_ref())?;
            self.write_statement(
                Statement::CutOff {
                    target,
                    issuer: me.key,
                    at: t,
                    why,
                    of,
                    target_credential: cred,
                    heads,
                },
                now,
            )?;
            out.push(target);
        }
        Ok(out)
    }

    /// This node as a member that may admit (and so revoke), with its federation.
    fn admitter(&mut self, now: DateTime<Utc>) -> Result<(Member, Federation), NodeError> {
        let me = self
            .federation_member(now)?
            .ok_or(crate::refusal::AdminRefusal::NotAMember { admitting: false })?;
        if !me.may_admit {
            return Err(crate::refusal::AdminRefusal::MayNotAdmit.into());
        }
        let fed = self
            .credential()?
            .map(|c| c.federation)
            .ok_or_else(|| NodeError::Internal("member without credential".into()))?;
        Ok((me, fed))
    }

    /// Refuses when the configured role or place is not the one this node's
    /// installed admission names, saying which to fix: a node must never
    /// write documents of a place it was not admitted to.
    pub fn check_config_matches_admission(&self) -> Result<(), NodeError> {
        let Some(cred) = self.credential()? else {
            return Ok(());
        };
        let m = cred.structure()?;
        let config = self.config();
        if m.role != config.role || m.place != config.place {
            let which = match (m.role != config.role, m.place != config.place) {
                (true, true) => "role and place",
                (true, false) => "role",
                _ => "place",
            };
            return Err(crate::refusal::AdminRefusal::ConfigDisagrees {
                role: m.role,
                place: m.place,
                config_role: config.role,
                config_place: config.place.clone(),
                which,
            }
            .into());
        }
        Ok(())
    }

    /// Membership as `status` shows it.
    pub fn membership(&mut self, now: DateTime<Utc>) -> Result<Option<MembershipView>, NodeError> {
        let Some(cred) = self.credential()? else {
            return Ok(None);
        };
        let Some(m) = self.federation_member(now)? else {
            return Ok(None);
        };
        Ok(Some(view(&cred, &m)))
    }
}

fn view(cred: &Credential, m: &Member) -> MembershipView {
    MembershipView {
        root: cred.federation.root.to_string(),
        federation: cred.federation.place.clone(),
        role: m.role,
        place: m.place.clone(),
        may_admit: m.may_admit,
        expires: m.expires.and_then(|e| DateTime::from_timestamp(e, 0)),
    }
}

fn parse_peer(peer: &str) -> Result<NodeKey, NodeError> {
    let peer_id: PeerId = peer
        .parse()
        .map_err(|_| crate::refusal::AdminRefusal::NotAPeerId {
            peer: peer.to_owned(),
            hint: false,
        })?;
    Ok(NodeKey::of_peer(&peer_id)?)
}
