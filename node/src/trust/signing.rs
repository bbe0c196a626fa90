//! Signed changes: every change a node writes is signed with its key, the
//! signature travels with the change through relays, and a receiver checks
//! signature and write right of every change before anything is applied.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{AutoCommit, ChangeHash, sync};
use chrono::{DateTime, Utc};
use crdt_model::DocumentId;
use libp2p::identity::Keypair;
use serde::{Deserialize, Serialize};

use super::access::may_write;
use super::admission::{Credential, Federation, Member, NodeKey};

/// Domain separation for change signatures.
const SIGNING_CONTEXT: &[u8] = b"yizhan-change-v1";

/// The bytes a change's author signs: a context string and the change hash.
pub fn signing_bytes(hash: &ChangeHash) -> Vec<u8> {
    let mut out = SIGNING_CONTEXT.to_vec();
    out.extend_from_slice(&hash.0);
    out
}

/// Signs a change hash.
pub fn sign(keypair: &Keypair, hash: &ChangeHash) -> Option<Vec<u8>> {
    keypair.sign(&signing_bytes(hash)).ok()
}

/// One change's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSignature {
    /// The change hash.
    pub hash: [u8; 32],
    /// Its author's key.
    pub author: NodeKey,
    /// The author's signature of [`signing_bytes`].
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// What travels with a sync message that carries changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// Signatures of the changes the message may carry.
    pub signatures: Vec<ChangeSignature>,
    /// Credentials of their authors, so a node that never met an author can
    /// check its write right.
    pub authors: Vec<Credential>,
}

impl Proof {
    /// Encodes the proof.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a proof; an empty slice is an empty proof.
    pub fn decode(bytes: &[u8]) -> Result<Proof, String> {
        if bytes.is_empty() {
            return Ok(Proof::default());
        }
        let (p, rest) = postcard::take_from_bytes::<Proof>(bytes)
            .map_err(|e| format!("malformed proof: {e}"))?;
        if !rest.is_empty() {
            return Err("malformed proof: trailing bytes".into());
        }
        Ok(p)
    }
}

/// The hashes of the changes of `doc` after `base`: what a sync message
/// generated from `base` may carry. Heads in `base` that `doc` lacks cannot
/// bound the set and are left out.
pub fn changes_after(doc: &mut AutoCommit, base: &[ChangeHash]) -> Vec<ChangeHash> {
    let known: Vec<ChangeHash> = base
        .iter()
        .filter(|h| doc.get_change_by_hash(h).is_some())
        .copied()
        .collect();
    doc.get_changes(&known).iter().map(|c| c.hash()).collect()
}

/// Builds the proof for `hashes`: the recorded signature of each change
/// (`signature_of`) and the credential of each author (`credential_of`).
pub fn build_proof(
    hashes: &[ChangeHash],
    mut signature_of: impl FnMut(&ChangeHash) -> Option<ChangeSignature>,
    credential_of: impl FnMut(&NodeKey) -> Option<Credential>,
) -> Proof {
    let mut proof = Proof::default();
    let mut authors = BTreeSet::new();
    for hash in hashes {
        if let Some(sig) = signature_of(hash) {
            authors.insert(sig.author);
            proof.signatures.push(sig);
        }
    }
    proof.authors = authors.iter().filter_map(credential_of).collect();
    proof
}

/// What a node knows to check changes: its federation, itself, and the
/// revocations in its charter.
#[derive(Debug, Clone)]
pub struct TrustContext {
    /// The federation.
    pub federation: Federation,
    /// This node.
    pub me: Member,
    /// Revoked keys.
    pub revoked: BTreeSet<NodeKey>,
}

/// A change that passed the checks, with what to store for forwarding it.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Its signature.
    pub signature: ChangeSignature,
    /// Its author's credential, unless the author is this node.
    pub credential: Option<Credential>,
}

/// Checks every change `message` would add to `current` (the document as held,
/// or empty): each must be signed by the key of its actor, that key must be an
/// admitted, unrevoked member of this federation, and that member must be
/// allowed to write `doc`. Nothing is applied to `current`.
pub fn check_changes(
    ctx: &TrustContext,
    doc: &DocumentId,
    current: &mut AutoCommit,
    message: &sync::Message,
    proof: &Proof,
    now: DateTime<Utc>,
) -> Result<Vec<Checked>, String> {
    let before = current.get_heads();
    let mut scratch = current.fork();
    for chunk in message.changes.iter() {
        scratch
            .load_incremental(chunk)
            .map_err(|e| format!("undecodable changes: {e}"))?;
    }
    if !scratch.get_missing_deps(&[]).is_empty() {
        return Err("changes whose dependencies the message does not carry".into());
    }
    let new = scratch.get_changes(&before);
    let sigs: BTreeMap<[u8; 32], &ChangeSignature> =
        proof.signatures.iter().map(|s| (s.hash, s)).collect();
    let mut members: BTreeMap<NodeKey, (Member, Option<Credential>)> = BTreeMap::new();
    let mut out = Vec::with_capacity(new.len());
    for change in new {
        let hash = change.hash();
        let actor = change.actor_id().to_bytes();
        let key = NodeKey(
            <[u8; 32]>::try_from(actor)
                .map_err(|_| format!("change {hash} has an actor that is not a node key"))?,
        );
        let sig = sigs
            .get(&hash.0)
            .ok_or_else(|| format!("change {hash} by {key} is not signed"))?;
        if sig.author != key || !key.verifies(&signing_bytes(&hash), &sig.signature) {
            return Err(format!(
                "change {hash} carries a signature that is not its author's ({key})"
            ));
        }
        if let std::collections::btree_map::Entry::Vacant(slot) = members.entry(key) {
            let entry = if key == ctx.me.key {
                (ctx.me.clone(), None)
            } else {
                let cred = proof
                    .authors
                    .iter()
                    .find(|c| {
                        c.chain.last().is_some_and(|a| a.admission.node == key)
                            || (c.chain.is_empty() && c.federation.root == key)
                    })
                    .ok_or_else(|| {
                        format!("author {key} of change {hash} presented no credential")
                    })?;
                if cred.federation != ctx.federation {
                    return Err(format!("author {key} belongs to another federation"));
                }
                let m = cred
                    .verify_for(&key, now, &|k| ctx.revoked.contains(k))
                    .map_err(|e| format!("author {key}: {e}"))?;
                (m, Some(cred.clone()))
            };
            slot.insert(entry);
        }
        let (member, credential) = &members[&key];
        if !may_write(member, doc) {
            return Err(format!(
                "{} at {} may not write {doc}",
                member.role, member.place
            ));
        }
        out.push(Checked {
            signature: (*sig).clone(),
            credential: credential.clone(),
        });
    }
    Ok(out)
}
