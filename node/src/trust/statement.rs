//! Signed charter statements: revocations, reinstatements, cut-offs and
//! admission records. Each is signed by its issuer, so a receiver judges the
//! statement itself, never the node that wrote it into the charter.
//!
//! A statement travels as one string value at its own charter key
//! (`ys1.` and URL-safe base64 of postcard). The key names the kind, the
//! target and a digest of the statement, so two statements never share a key
//! and the charter only ever grows (docs/trust.md).

use std::collections::BTreeMap;

use automerge::ChangeHash;
use crdt_model::DocumentId;
use libp2p::identity::Keypair;
use serde::{Deserialize, Serialize};

use super::admission::{Credential, NodeKey, TrustError};

/// Domain separation for statement signatures.
const SIGNING_CONTEXT: &[u8] = b"yizhan-statement-v1";
/// Prefix of an encoded statement.
const TOKEN_PREFIX: &str = "ys1.";
/// Largest encoded statement accepted: a cut-off over a few thousand
/// documents fits well inside it.
pub const STATEMENT_BYTES_MAX: usize = 1024 * 1024;

/// Heads per document: where a cut-off ends. Stored as strings and raw
/// hashes so the statement does not depend on Automerge's serde.
pub type HeadsByDoc = BTreeMap<String, Vec<[u8; 32]>>;

/// Why a node's work is cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CutReason {
    /// A revocation (named by its statement id).
    Revoked,
    /// The node's admission expired.
    Expired,
}

/// What a statement says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Statement {
    /// `issuer` revokes `target`. `heads` are the documents the target may
    /// write as the issuer held them when it revoked: the target's changes
    /// they cover stay valid.
    Revoke {
        /// The revoked node.
        target: NodeKey,
        /// Who revokes.
        issuer: NodeKey,
        /// Unix seconds, for operators (not used to judge changes).
        at: i64,
        /// Why, for operators.
        reason: Option<String>,
        /// The target's credential, which shows the issuer is on its chain
        /// above it. The root may revoke without it.
        target_credential: Option<Credential>,
        /// Where the target's valid work ends, as the issuer knew it.
        heads: HeadsByDoc,
    },
    /// `issuer` undoes the revocation `revocation` of `target`.
    Reinstate {
        /// The node reinstated.
        target: NodeKey,
        /// Who reinstates: the root or the revocation's issuer.
        issuer: NodeKey,
        /// Unix seconds.
        at: i64,
        /// The id of the revocation undone.
        revocation: String,
    },
    /// A witness: `issuer` (a node that could revoke `target`) records the
    /// documents the target may write as it held them when it learned that
    /// the target was cut off. The target's changes they cover stay valid.
    CutOff {
        /// The node cut off.
        target: NodeKey,
        /// The witness.
        issuer: NodeKey,
        /// Unix seconds.
        at: i64,
        /// Revoked or expired.
        why: CutReason,
        /// For a revocation, its id; for an expiry, the expiry (unix seconds).
        of: String,
        /// The target's credential, as for a revocation.
        target_credential: Option<Credential>,
        /// Heads per document.
        heads: HeadsByDoc,
    },
    /// `issuer` admitted a node with `credential`: published so that any
    /// node can later check a revocation's scope against the chain.
    Admitted {
        /// The admitter.
        issuer: NodeKey,
        /// Unix seconds.
        at: i64,
        /// The admitted node's credential (its token).
        credential: Credential,
    },
}

impl Statement {
    /// Who signs it.
    pub fn issuer(&self) -> NodeKey {
        match self {
            Statement::Revoke { issuer, .. }
            | Statement::Reinstate { issuer, .. }
            | Statement::CutOff { issuer, .. }
            | Statement::Admitted { issuer, .. } => *issuer,
        }
    }

    /// The node it is about.
    pub fn target(&self) -> Option<NodeKey> {
        match self {
            Statement::Revoke { target, .. }
            | Statement::Reinstate { target, .. }
            | Statement::CutOff { target, .. } => Some(*target),
            Statement::Admitted { credential, .. } => {
                credential.chain.last().map(|l| l.admission.node)
            }
        }
    }

    /// The charter key prefix of its kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Statement::Revoke { .. } => "revocation",
            Statement::Reinstate { .. } => "reinstatement",
            Statement::CutOff { .. } => "cutoff",
            Statement::Admitted { .. } => "admitted",
        }
    }

    fn signing_bytes(&self) -> Result<Vec<u8>, TrustError> {
        let mut out = SIGNING_CONTEXT.to_vec();
        out.extend(postcard::to_allocvec(self).map_err(|e| TrustError::Signing(e.to_string()))?);
        Ok(out)
    }

    /// Signs the statement with the issuer's keypair.
    pub fn sign(self, issuer: &Keypair) -> Result<SignedStatement, TrustError> {
        let signature = issuer
            .sign(&self.signing_bytes()?)
            .map_err(|e| TrustError::Signing(e.to_string()))?;
        Ok(SignedStatement {
            statement: self,
            signature,
        })
    }
}

/// Every charter key prefix a statement may use; the charter accepts no others.
pub const CHARTER_PREFIXES: [&str; 4] = ["revocation/", "reinstatement/", "cutoff/", "admitted/"];

/// A statement with its issuer's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedStatement {
    /// What it says.
    pub statement: Statement,
    /// The issuer's Ed25519 signature.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

impl SignedStatement {
    /// True when the issuer's signature verifies.
    pub fn verifies(&self) -> bool {
        self.statement
            .signing_bytes()
            .is_ok_and(|b| self.statement.issuer().verifies(&b, &self.signature))
    }

    /// The statement's id: the hex BLAKE3 digest of its encoding.
    pub fn id(&self) -> String {
        let bytes = postcard::to_allocvec(self).unwrap_or_default();
        blake3::hash(&bytes).to_hex().to_string()
    }

    /// The charter key it is written at: kind, target and id.
    pub fn charter_key(&self) -> String {
        let target = self
            .statement
            .target()
            .map(|t| t.to_string())
            .unwrap_or_else(|| "-".into());
        format!("{}/{target}/{}", self.statement.kind(), self.id())
    }

    /// The charter value.
    pub fn encode(&self) -> Result<String, TrustError> {
        use base64::Engine as _;
        let bytes =
            postcard::to_allocvec(self).map_err(|e| TrustError::Malformed(e.to_string()))?;
        Ok(format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Decodes a charter value.
    pub fn decode(value: &str) -> Result<SignedStatement, TrustError> {
        use base64::Engine as _;
        let body = value
            .strip_prefix(TOKEN_PREFIX)
            .ok_or_else(|| TrustError::Malformed("a statement starts with ys1.".into()))?;
        if body.len() > STATEMENT_BYTES_MAX * 4 / 3 + 4 {
            return Err(TrustError::Malformed("statement too large".into()));
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| TrustError::Malformed(e.to_string()))?;
        let (s, rest) = postcard::take_from_bytes::<SignedStatement>(&bytes)
            .map_err(|e| TrustError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(TrustError::Malformed("trailing bytes".into()));
        }
        Ok(s)
    }
}

/// Heads as a statement stores them.
pub fn heads_entry(heads: &[ChangeHash]) -> Vec<[u8; 32]> {
    heads.iter().map(|h| h.0).collect()
}

/// Heads of one document from a statement, as change hashes.
pub fn heads_of(heads: &HeadsByDoc, doc: &DocumentId) -> Vec<ChangeHash> {
    heads
        .get(&doc.to_string())
        .map(|v| v.iter().map(|h| ChangeHash(*h)).collect())
        .unwrap_or_default()
}
