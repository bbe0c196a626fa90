//! The document adapter: the engine's view of the repository, with the
//! proofs this node sends and the trust check of what it receives.

use automerge::{AutoCommit, ChangeHash};
use chrono::{DateTime, Utc};
use crdt_model::DocumentId;
use tracing::{debug, warn};

use crate::engine::{CheckOutcome, Docs, PeerKey};
use crate::repo::Repo;
use crate::trust::signing::{
    Proof, ProofSources, TrustContext, build_proof, changes_since, check_changes,
};
use crate::trust::{Credential, NodeKey};

/// The engine's view of the repository.
pub(super) struct RepoDocs<'a> {
    pub(super) repo: &'a mut Repo,
    pub(super) now: DateTime<Utc>,
    /// What this node checks changes against; `None` checks nothing (no engine runs then).
    pub(super) trust: Option<&'a TrustContext>,
    /// This node's own credential, sent with its changes.
    pub(super) credential: Option<&'a Credential>,
    /// Changes from peers that passed their checks during this call.
    pub(super) accepted: u64,
}

impl Docs for RepoDocs<'_> {
    fn ids(&self) -> Vec<DocumentId> {
        self.repo.document_ids().unwrap_or_else(|e| {
            warn!(error = %e, "cannot list documents");
            Vec::new()
        })
    }

    fn get_mut(&mut self, id: &DocumentId) -> Option<&mut AutoCommit> {
        match self.repo.existing(id) {
            Ok(doc) => doc,
            Err(e) => {
                warn!(doc = %id, error = %e, "cannot load document");
                None
            }
        }
    }

    fn create(&mut self, id: &DocumentId) -> &mut AutoCommit {
        self.repo.create(id)
    }

    fn heads(&mut self, id: &DocumentId) -> Option<Vec<ChangeHash>> {
        self.repo.heads(id).unwrap_or_else(|e| {
            warn!(doc = %id, error = %e, "cannot read a document's heads");
            None
        })
    }

    fn changed(&mut self, id: &DocumentId, heads_before: &[ChangeHash]) {
        if let Err(e) = self.repo.persist_received(self.now, id, heads_before) {
            warn!(doc = %id, error = %e, "cannot persist changes from a peer");
        }
    }

    fn proof(&mut self, id: &DocumentId, base: &[ChangeHash]) -> Vec<u8> {
        let Some(trust) = self.trust else {
            return Vec::new();
        };
        let changes = match self.repo.existing(id) {
            Ok(Some(doc)) => changes_since(doc, base),
            _ => return Vec::new(),
        };
        // Through the repo: signatures still queued for the store count.
        let repo = &*self.repo;
        let me = trust.me.key;
        let own = self.credential;
        let signature_of = |hash: &ChangeHash| match repo.signature(&hash.0) {
            Ok(Some(rec)) => Some(rec.signature),
            Ok(None) => {
                debug!(doc = %id, %hash, "no signature held for a change that needs one; the peer will refuse it");
                None
            }
            Err(e) => {
                warn!(doc = %id, error = %e, "cannot read a signature");
                None
            }
        };
        let credential_of = |author: &NodeKey| {
            if *author == me {
                return own.cloned();
            }
            let bytes = repo.author(&author.0).ok().flatten()?;
            serde_json::from_slice::<Credential>(&bytes).ok()
        };
        let sources = ProofSources {
            signature_of,
            credential_of,
            charter: &trust.charter,
            now: self.now,
        };
        build_proof(&changes, sources).encode()
    }
}

impl RepoDocs<'_> {
    /// Answers the engine's [`Output::Check`](crate::engine::Output::Check):
    /// checks a sync message's changes for `id` against `proof` with
    /// `check_changes`, and keeps the signatures and credentials of the
    /// changes accepted, so this node can forward them.
    pub(super) fn check(
        &mut self,
        _peer: &PeerKey,
        id: &DocumentId,
        message: &automerge::sync::Message,
        proof: &[u8],
    ) -> Result<CheckOutcome, String> {
        let Some(trust) = self.trust else {
            return Err("this node is not a member of a federation".into());
        };
        if message.changes.is_empty() {
            return Ok(CheckOutcome {
                refused: Vec::new(),
                filtered: trust.strip_refused(id, message, &self.heads(id).unwrap_or_default()),
                clash: None,
                prepared: None,
            });
        }
        let proof = Proof::decode(proof)?;
        let mut empty = AutoCommit::new();
        let now = self.now;
        let current = match self.repo.existing(id) {
            Ok(Some(doc)) => doc,
            Ok(None) => &mut empty,
            Err(e) => return Err(format!("cannot load {id}: {e}")),
        };
        let verdict = check_changes(trust, id, current, message, &proof, now)?;
        // Keep signatures and credentials so this node can forward the
        // changes; stored with the step's group.
        self.accepted += verdict.accepted.len() as u64;
        for c in &verdict.accepted {
            // A change covered by a later change of its author keeps no
            // signature: it is never the last of its author here, so it is
            // never sent without that later change (trust::attest).
            if let Some(signature) = &c.signature {
                self.repo.stage_signature(&c.hash.0, &c.author.0, signature);
            }
            if let Some(cred) = &c.credential
                && let Ok(bytes) = serde_json::to_vec(cred)
            {
                self.repo.stage_author(&c.author.0, &bytes);
            }
        }
        Ok(verdict.into_outcome())
    }
}
