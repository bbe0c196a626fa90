//! A node's own membership: creating a federation (district), admitting
//! others, joining with a token, revoking. These are the node operations
//! behind `yizhan init --role district`, `admit`, `join` and `revoke`.

use chrono::{DateTime, Duration, Utc};
use crdt_model::{DocKind, DocumentId, PlaceId};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use super::admission::{Admission, Credential, Federation, Member, NodeKey, TrustError};
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
        Ok(())
    }

    /// The charter document's id for this node's federation.
    pub fn charter_id(&self) -> DocumentId {
        DocumentId::singleton(self.config.place.district(), DocKind::Charter)
    }

    /// Keys revoked in the charter this node holds.
    pub fn revoked(&mut self) -> Result<std::collections::BTreeSet<NodeKey>, NodeError> {
        let id = self.charter_id();
        Ok(match self.repo.existing(&id)? {
            Some(doc) => charter::revoked(&*doc),
            None => Default::default(),
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
        let peer_id: PeerId = peer.parse().map_err(|_| {
            NodeError::Admin(format!(
                "{peer:?} is not a peer id (yizhan status on the new node prints it)"
            ))
        })?;
        let node = NodeKey::of_peer(&peer_id)?;
        let me = self.federation_member(now)?.ok_or_else(|| {
            NodeError::Admin(
                "this node is not a member of a federation; only members who may admit can admit"
                    .into(),
            )
        })?;
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
        let charter = self.charter_id();
        let by = self.author();
        self.repo.write(now, |w| {
            charter::record_admission(w.doc(&charter)?, &admitted, &by, now)
                .map_err(|e| NodeError::Internal(e.to_string()))
        })?;
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
            return Err(NodeError::Admin(format!(
                "the token admits a {} at {}, but this node was set up as a {} at {}",
                m.role, m.place, self.config.role, self.config.place
            )));
        }
        if cred.federation.place != self.config.place.district() {
            return Err(NodeError::Admin(format!(
                "the token is for the federation of {}, but this node lies in {}",
                cred.federation.place,
                self.config.place.district()
            )));
        }
        self.store_credential(&cred)?;
        Ok(view(&cred, &m))
    }

    /// Revokes `peer` in the charter.
    pub fn revoke(
        &mut self,
        peer: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), NodeError> {
        let peer_id: PeerId = peer
            .parse()
            .map_err(|_| NodeError::Admin(format!("{peer:?} is not a peer id")))?;
        let key = NodeKey::of_peer(&peer_id)?;
        let me = self
            .federation_member(now)?
            .ok_or_else(|| NodeError::Admin("this node is not a member of a federation".into()))?;
        if !me.may_admit {
            return Err(NodeError::Admin(
                "only the district and nodes that may admit can revoke".into(),
            ));
        }
        if key == me.key {
            return Err(NodeError::Admin("a node cannot revoke itself".into()));
        }
        let charter = self.charter_id();
        let by = self.author();
        self.repo.write(now, |w| {
            charter::revoke(w.doc(&charter)?, &key, &by, now, reason)
                .map_err(|e| NodeError::Internal(e.to_string()))
        })
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
