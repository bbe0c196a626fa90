//! A simulated node's durable state, in memory, and the [`Docs`] the engine
//! reaches it through, with the node's real signed-change checks.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ActorId, AutoCommit, ChangeHash};
use chrono::{DateTime, Utc};
use crdt_model::DocumentId;
use node::trust::signing::{
    Proof, ProofSources, TrustContext, Verdict, build_proof, changes_since, check_changes,
};
use node::trust::{Credential, NodeKey};
use yizhan_engine::{CheckOutcome, Docs, PeerKey};

/// What a node keeps across a restart: documents, change signatures, the
/// credentials of the authors it has seen, and sync states per peer. A clone
/// is a backup snapshot.
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// Documents by id.
    pub docs: BTreeMap<DocumentId, AutoCommit>,
    /// Signature of every change held, by change hash.
    pub signatures: BTreeMap<[u8; 32], (NodeKey, Vec<u8>)>,
    /// Credentials of other authors, to forward with their changes.
    pub authors: BTreeMap<NodeKey, Credential>,
    /// Persisted sync states, per peer and document.
    pub sync_states: BTreeMap<(PeerKey, DocumentId), Vec<u8>>,
}

/// The engine's view of one node's store during one `handle` call.
pub struct SimDocs<'a> {
    /// The store.
    pub store: &'a mut Store,
    /// This node's actor (its public key).
    pub actor: &'a ActorId,
    /// What incoming changes are checked against.
    pub trust: &'a TrustContext,
    /// This node's credential, sent with its own changes.
    pub credential: &'a Credential,
    /// Simulated wall-clock time.
    pub now: DateTime<Utc>,
    /// Documents whose heads moved during the call.
    pub changed: &'a mut BTreeSet<DocumentId>,
    /// Changes that failed the signature or write checks.
    pub forged: &'a mut u64,
    /// Changes refused for lying after their author's cut-off.
    pub withheld: &'a mut u64,
}

impl SimDocs<'_> {
    /// Counts refused changes: withheld when the author's chain is cut off
    /// now (or the change depends on one withheld, which the node's reason
    /// names), forged otherwise. Honest runs with revocations withhold
    /// changes; only a forgery or a broken write rule counts as forged.
    fn count_refusals(&mut self, verdict: &Verdict, proof: &Proof) {
        let charter = &self.trust.charter;
        let mut withheld: BTreeSet<String> = BTreeSet::new();
        for (hash, _) in &verdict.refused {
            let author = verdict.refused_authors.get(hash).copied();
            let cut = author.is_some_and(|a| {
                proof
                    .credential(&a)
                    .or_else(|| charter.credential(&a))
                    .and_then(|c| c.assess(self.now, &|k| charter.is_revoked(k)).ok())
                    .is_some_and(|assessed| !assessed.cut.is_empty())
            });
            if cut {
                withheld.insert(hash.to_string());
            }
        }
        // A refusal that names a withheld change (it depends on one, or
        // only one attests it) is withheld too, whichever comes first.
        loop {
            let before = withheld.len();
            for (hash, why) in &verdict.refused {
                if withheld.iter().any(|h| why.contains(h.as_str())) {
                    withheld.insert(hash.to_string());
                }
            }
            if withheld.len() == before {
                break;
            }
        }
        // Changes waiting for a fuller proof or the charter's admission
        // record are neither: they are asked for again.
        let held = withheld.len() as u64;
        let waiting = verdict
            .refused
            .iter()
            .filter(|(h, _)| !withheld.contains(&h.to_string()) && verdict.waiting.contains(h))
            .count() as u64;
        *self.withheld += held;
        *self.forged += verdict.refused.len() as u64 - held - waiting;
    }
}

impl Docs for SimDocs<'_> {
    fn ids(&self) -> Vec<DocumentId> {
        self.store.docs.keys().cloned().collect()
    }

    fn get_mut(&mut self, id: &DocumentId) -> Option<&mut AutoCommit> {
        self.store.docs.get_mut(id)
    }

    fn create(&mut self, id: &DocumentId) -> &mut AutoCommit {
        let actor = self.actor.clone();
        self.store
            .docs
            .entry(id.clone())
            .or_insert_with(|| AutoCommit::new().with_actor(actor))
    }

    fn changed(&mut self, id: &DocumentId, _heads_before: &[ChangeHash]) {
        self.changed.insert(id.clone());
    }

    fn proof(&mut self, id: &DocumentId, base: &[ChangeHash]) -> Vec<u8> {
        let Some(doc) = self.store.docs.get_mut(id) else {
            return Vec::new();
        };
        let changes = changes_since(doc, base);
        let store = &*self.store;
        let me = self.trust.me.key;
        let own = &self.credential;
        let sources = ProofSources {
            signature_of: |hash: &ChangeHash| store.signatures.get(&hash.0).map(|(_, s)| s.clone()),
            credential_of: |author: &NodeKey| {
                if *author == me {
                    Some(Credential::clone(own))
                } else {
                    store.authors.get(author).cloned()
                }
            },
            charter: &self.trust.charter,
            now: self.now,
        };
        build_proof(&changes, sources).encode()
    }
}

impl SimDocs<'_> {
    /// Answers the engine's `Output::Check` as the node does: the real
    /// `check_changes`, keeping the signatures and credentials of the
    /// changes accepted, and counting what it refuses.
    pub fn check(
        &mut self,
        _peer: &PeerKey,
        id: &DocumentId,
        message: &automerge::sync::Message,
        proof: &[u8],
    ) -> Result<CheckOutcome, String> {
        if message.changes.is_empty() {
            return Ok(CheckOutcome {
                refused: Vec::new(),
                filtered: self.trust.strip_refused(
                    id,
                    message,
                    &self.heads(id).unwrap_or_default(),
                ),
                clash: None,
                prepared: None,
            });
        }
        let proof = Proof::decode(proof)?;
        let mut empty = AutoCommit::new();
        let current = self.store.docs.get_mut(id).unwrap_or(&mut empty);
        let mut verdict = check_changes(self.trust, id, current, message, &proof, self.now)
            .inspect_err(|_| *self.forged += 1)?;
        self.count_refusals(&verdict, &proof);
        for c in std::mem::take(&mut verdict.accepted) {
            if let Some(signature) = c.signature {
                self.store
                    .signatures
                    .insert(c.hash.0, (c.author, signature));
            }
            if let Some(cred) = c.credential {
                self.store.authors.insert(c.author, cred);
            }
        }
        Ok(verdict.into_outcome())
    }
}
