//! The proof of authorship that travels with a sync message carrying
//! changes, and how a sender builds it.
//!
//! A proof holds signatures and credentials, and no more of either than
//! the receiver needs:
//!
//! - a signature only for the changes that no change of the same author in
//!   the message depends on directly (`attest`); the rest are covered by
//!   hash. For an author whose chain the sender's charter shows revoked, cut
//!   off or expired, every change's signature goes, so a receiver that
//!   refuses the author's later changes keeps the earlier ones;
//! - a credential only for authors whose admission record the sender's
//!   charter does not show as the same credential. Every admission writes
//!   one (`yizhan admit`), so within a federation credentials travel once,
//!   in the charter, not with every message.
//!
//! Encoding: a version byte, then the [`Proof`] in postcard. A signature
//! names its change by hash; its author is the change's actor, so it is not
//! sent.

use std::collections::BTreeMap;

use automerge::{AutoCommit, ChangeHash};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::admission::{Credential, NodeKey};
use super::attest::{Chains, Link};
use super::charter::CharterView;

/// The proof encoding this node writes and reads. 1 was unversioned and
/// carried every change's signature with its author's key and every
/// author's credential.
pub const PROOF_VERSION: u8 = 2;

/// One change's signature: the change's hash and its author's signature of
/// `signing::signing_bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSignature {
    /// The change hash.
    pub hash: [u8; 32],
    /// The author's signature.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// What travels with a sync message that carries changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// Signatures of the changes that need one of their own.
    pub signatures: Vec<ChangeSignature>,
    /// Credentials of authors the receiver may not find in its charter.
    pub authors: Vec<Credential>,
}

impl Proof {
    /// Encodes the proof.
    pub fn encode(&self) -> Vec<u8> {
        let out = vec![PROOF_VERSION];
        postcard::to_extend(self, out).unwrap_or_default()
    }

    /// Decodes a proof; an empty slice is an empty proof.
    pub fn decode(bytes: &[u8]) -> Result<Proof, String> {
        let Some((&version, body)) = bytes.split_first() else {
            return Ok(Proof::default());
        };
        if version != PROOF_VERSION {
            return Err(format!(
                "malformed proof: encoding version {version}, this node reads {PROOF_VERSION}"
            ));
        }
        let (p, rest) = postcard::take_from_bytes::<Proof>(body)
            .map_err(|e| format!("malformed proof: {e}"))?;
        if !rest.is_empty() {
            return Err("malformed proof: trailing bytes".into());
        }
        Ok(p)
    }

    /// The credential the proof carries for `key`.
    pub fn credential(&self, key: &NodeKey) -> Option<&Credential> {
        self.authors.iter().find(|c| {
            c.chain.last().is_some_and(|a| a.admission.node == *key)
                || (c.chain.is_empty() && c.federation.root == *key)
        })
    }
}

/// The hashes of the changes of `doc` after `base`: what a sync message
/// generated from `base` may carry. Heads in `base` that `doc` lacks cannot
/// bound the set and are left out.
pub fn changes_after(doc: &mut AutoCommit, base: &[ChangeHash]) -> Vec<ChangeHash> {
    changes_since(doc, base).iter().map(|c| c.hash).collect()
}

/// The links of the changes of `doc` after `base`, as [`changes_after`]
/// names them, from their metadata.
pub fn changes_since(doc: &mut AutoCommit, base: &[ChangeHash]) -> Vec<Link> {
    let known: Vec<ChangeHash> = base
        .iter()
        .filter(|h| doc.get_change_meta_by_hash(h).is_some())
        .copied()
        .collect();
    doc.get_changes_meta(&known)
        .into_iter()
        .map(Link::of_meta)
        .collect()
}

/// Where a sender finds what a proof holds.
pub struct ProofSources<'a, S, C> {
    /// The recorded signature of a change, if any.
    pub signature_of: S,
    /// The credential of an author, if known.
    pub credential_of: C,
    /// The sender's charter.
    pub charter: &'a CharterView,
    /// The sender's clock, to judge expiries.
    pub now: DateTime<Utc>,
}

/// Builds the proof for `changes`: the changes of a document after the
/// base a sync message is generated from ([`changes_since`]).
pub fn build_proof<S, C>(changes: &[Link], mut from: ProofSources<'_, S, C>) -> Proof
where
    S: FnMut(&ChangeHash) -> Option<Vec<u8>>,
    C: FnMut(&NodeKey) -> Option<Credential>,
{
    let chains = Chains::of(changes);
    let mut authors: BTreeMap<NodeKey, Option<Credential>> = BTreeMap::new();
    let mut proof = Proof::default();
    for change in changes {
        let Some(key) = change.author else {
            continue;
        };
        let credential = authors
            .entry(key)
            .or_insert_with(|| (from.credential_of)(&key));
        let every = credential
            .as_ref()
            .is_some_and(|c| cut_or_near(c, from.charter, from.now));
        let hash = change.hash;
        if (every || !chains.is_chained(&hash))
            && let Some(signature) = (from.signature_of)(&hash)
        {
            proof.signatures.push(ChangeSignature {
                hash: hash.0,
                signature,
            });
        }
    }
    proof.authors = authors
        .into_iter()
        .filter_map(|(key, credential)| {
            let credential = credential?;
            (from.charter.credential(&key) != Some(&credential)).then_some(credential)
        })
        .collect();
    proof
}

/// True when a receiver may refuse some of the author's changes for its
/// chain: a key on it is revoked or has a recorded cut-off, or its
/// admission has expired.
///
/// Only the sender's view of the chain is read, not its signatures: the
/// receiver verifies those, and re-verifying every author's chain for each
/// proof was a sixth of a first sync's time (`docs/benchmarks.md`).
fn cut_or_near(credential: &Credential, charter: &CharterView, now: DateTime<Utc>) -> bool {
    let t = now.timestamp();
    credential.chain.iter().any(|l| {
        let a = &l.admission;
        charter.is_revoked(&a.node)
            || charter.cutoffs.contains_key(&a.node)
            || a.expires.is_some_and(|e| e <= t)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_round_trips_and_an_old_or_foreign_encoding_is_refused() {
        let proof = Proof {
            signatures: vec![ChangeSignature {
                hash: [7; 32],
                signature: vec![1; 64],
            }],
            authors: Vec::new(),
        };
        let bytes = proof.encode();
        assert_eq!(bytes[0], PROOF_VERSION);
        assert_eq!(Proof::decode(&bytes).unwrap(), proof);
        assert_eq!(Proof::decode(&[]).unwrap(), Proof::default());
        let mut old = bytes.clone();
        old[0] = 1;
        assert!(Proof::decode(&old).unwrap_err().contains("version 1"));
        let mut long = bytes;
        long.push(0);
        assert!(Proof::decode(&long).unwrap_err().contains("trailing"));
    }
}
