//! Service certificates: a community node's signed statement of one
//! member's volunteer service over a period, carrying the node's admission
//! chain so that anyone holding the federation's root key can check it
//! offline, with no store and no network (`docs/certificates.md`).
//!
//! How to drive it: [`crate::Node::certificate`] issues one at a community;
//! [`Certificate::to_json`] / [`Certificate::to_compact`] write the file and
//! the QR text; [`verify()`] judges a file against a root peer id and,
//! optionally, a charter export.
//!
//! One struct, two encodings: the JSON file shows keys as libp2p peer ids and
//! signatures as base64url, the compact `yzc1.` form (postcard) carries the
//! raw 32 and 64 bytes. Both sign the same bytes: the canonical JSON of the
//! body ([`canonical`]), which a verifier in any language can rebuild from
//! the file with its standard JSON library.

pub mod canonical;
pub mod fuzz;
mod issue;
#[cfg(test)]
mod tests;
mod verify;
mod wire;

use chrono::NaiveDate;
use crdt_model::{MemberId, PlaceId};
use libp2p::identity::Keypair;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::Role;
use crate::trust::{Admission, Credential, Federation, SignedAdmission, TrustError};

pub use verify::{CHARTER_BYTES_MAX, Verified, verify};
pub use wire::{PeerKey, Signature};

/// The value of [`Certificate::format`].
pub const FORMAT: &str = "yizhan-certificate/1";
/// Domain separation: prepended to the canonical body before signing, so a
/// certificate signature can never be replayed as an admission, a statement
/// or a change signature.
pub const SIGNING_CONTEXT: &[u8] = b"yizhan-certificate-v1";
/// Prefix of the compact encoding (QR codes).
pub const COMPACT_PREFIX: &str = "yzc1.";
/// Largest certificate file read: a real one is about 2 KiB.
pub const CERTIFICATE_BYTES_MAX: usize = 64 * 1024;

/// A signed certificate of service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// Always [`FORMAT`].
    pub format: String,
    /// What is certified: the signed part.
    pub body: Body,
    /// The issuer's admission chain from the federation's root.
    pub credential: Chain,
    /// The issuer's Ed25519 signature over [`SIGNING_CONTEXT`] and the
    /// canonical JSON of `body`.
    pub signature: Signature,
}

/// What a certificate states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// The member's community (the issuer's place).
    pub community: PlaceId,
    /// The member.
    pub member: CertifiedMember,
    /// The days the counts cover.
    pub period: Span,
    /// The counts.
    pub service: Service,
    /// Unix seconds when it was issued.
    pub issued_at: i64,
    /// The community node that signed it.
    pub issuer: PeerKey,
}

/// The member, as the roster shows them: no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifiedMember {
    /// Pseudonymous roster id.
    pub id: MemberId,
    /// The name the roster shows.
    pub display_name: String,
}

/// Inclusive local days in the community's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// The IANA zone the days are counted in.
    pub timezone: String,
}

/// What the member did in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Their reports the community verified in the period.
    pub verified_reports: u32,
    /// Tasks they completed that were signed off in the period.
    pub signed_off_tasks: u32,
    /// Patrols credited in the period.
    pub patrols: u32,
    /// Points earned in the period: report, task, patrol and discretionary
    /// credits plus corrections (not opening balances, not redemptions).
    pub points_earned: i64,
}

/// An admission chain in the certificate's encodings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chain {
    /// The federation's root key (the district's).
    pub root: PeerKey,
    /// The district's place.
    pub place: PlaceId,
    /// Admissions from the root down to the issuer.
    pub links: Vec<Link>,
}

/// One admission, with its issuer's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// The admitted node.
    pub node: PeerKey,
    /// Its role.
    pub role: Role,
    /// Its place.
    pub place: PlaceId,
    /// May it admit below its place?
    pub may_admit: bool,
    /// Unix seconds when issued.
    pub issued: i64,
    /// Unix seconds when it lapses, if ever.
    pub expires: Option<i64>,
    /// Who admitted it.
    pub issuer: PeerKey,
    /// The issuer's signature over the admission (`docs/trust.md`).
    pub signature: Signature,
}

/// What a certificate's chain admits instead of its issuer as the
/// community node of the community it names.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AdmittedInstead {
    /// The chain admits another node.
    #[error("the chain ends at {chain_end}, not at the issuer {issuer}")]
    AnotherNode {
        /// The node the chain admits.
        chain_end: String,
        /// The certificate's issuer.
        issuer: String,
    },
    /// The chain admits the issuer in another role or place.
    #[error("it admits {issuer} as the {role} of {place}")]
    AnotherRole {
        /// The certificate's issuer.
        issuer: String,
        /// The role admitted.
        role: &'static str,
        /// The place admitted.
        place: String,
    },
}

/// A certificate that cannot be made, read or trusted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertificateError {
    /// Not a certificate: bad JSON, base64, field or size.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// The chain starts at another root than the one given.
    #[error(
        "wrong root: the certificate's chain starts at {found}, not at the root {expected} you gave"
    )]
    WrongRoot {
        /// The chain's root.
        found: String,
        /// The root given.
        expected: String,
    },
    /// A link of the chain does not hold.
    #[error("bad admission chain: {0}")]
    Chain(TrustError),
    /// The chain holds but does not make the issuer the community node of
    /// the community the certificate names.
    #[error("the chain does not admit the issuer for {community}: {why}")]
    NotAdmittedFor {
        /// The community claimed.
        community: PlaceId,
        /// What the chain says instead.
        why: AdmittedInstead,
    },
    /// The body's signature does not verify against the issuer.
    #[error(
        "bad signature: the certificate's signature does not verify against its issuer {issuer}; it was altered or forged"
    )]
    BadSignature {
        /// The issuer claimed.
        issuer: String,
    },
    /// A key on the chain was revoked at or before the issue time.
    #[error(
        "revoked issuer: {key} was revoked by {by} at {at}{reason}, and the certificate is dated {issued}, not before that"
    )]
    Revoked {
        /// The revoked key (the issuer or one of its admitters).
        key: String,
        /// Who revoked it.
        by: String,
        /// When (RFC 3339).
        at: String,
        /// When the certificate was issued (RFC 3339).
        issued: String,
        /// `: why`, when the revocation says.
        reason: String,
    },
    /// The charter file cannot be read.
    #[error("charter file: {0}")]
    Charter(String),
    /// The issuing node cannot issue.
    #[error("cannot issue a certificate: {0}")]
    CannotIssue(String),
}

impl Chain {
    /// The chain of a credential.
    pub fn of(cred: &Credential) -> Chain {
        Chain {
            root: PeerKey(cred.federation.root),
            place: cred.federation.place.clone(),
            links: cred
                .chain
                .iter()
                .map(|l| {
                    let a = &l.admission;
                    Link {
                        node: PeerKey(a.node),
                        role: a.role,
                        place: a.place.clone(),
                        may_admit: a.may_admit,
                        issued: a.issued,
                        expires: a.expires,
                        issuer: PeerKey(a.issuer),
                        signature: Signature(l.signature.clone()),
                    }
                })
                .collect(),
        }
    }

    /// The credential this chain encodes, for [`Credential`]'s checks.
    pub fn credential(&self) -> Credential {
        Credential {
            federation: Federation {
                root: self.root.0,
                place: self.place.clone(),
            },
            chain: self
                .links
                .iter()
                .map(|l| SignedAdmission {
                    admission: Admission {
                        node: l.node.0,
                        role: l.role,
                        place: l.place.clone(),
                        may_admit: l.may_admit,
                        issued: l.issued,
                        expires: l.expires,
                        issuer: l.issuer.0,
                    },
                    signature: l.signature.0.clone(),
                })
                .collect(),
        }
    }
}

impl Body {
    /// The exact bytes signed: [`SIGNING_CONTEXT`], then the canonical JSON.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, CertificateError> {
        let value =
            serde_json::to_value(self).map_err(|e| CertificateError::Malformed(e.to_string()))?;
        signing_bytes_of(&value)
    }

    /// Signs the body with the issuer's key.
    pub fn sign(
        self,
        issuer: &Keypair,
        credential: &Credential,
    ) -> Result<Certificate, CertificateError> {
        let signature = issuer
            .sign(&self.signing_bytes()?)
            .map_err(|e| CertificateError::CannotIssue(e.to_string()))?;
        Ok(Certificate {
            format: FORMAT.to_owned(),
            body: self,
            credential: Chain::of(credential),
            signature: Signature(signature),
        })
    }
}

/// The signed bytes of a body given as JSON, exactly as a file holds it.
pub(crate) fn signing_bytes_of(body: &serde_json::Value) -> Result<Vec<u8>, CertificateError> {
    let mut out = SIGNING_CONTEXT.to_vec();
    out.extend(
        canonical::to_string(body)
            .map_err(CertificateError::Malformed)?
            .into_bytes(),
    );
    Ok(out)
}

impl Certificate {
    /// The JSON file: pretty-printed for people; its signature does not
    /// depend on the layout.
    pub fn to_json(&self) -> Result<String, CertificateError> {
        serde_json::to_string_pretty(self).map_err(|e| CertificateError::Malformed(e.to_string()))
    }

    /// The compact text for a QR code: `yzc1.` and base64url (no padding)
    /// of the postcard encoding.
    pub fn to_compact(&self) -> Result<String, CertificateError> {
        use base64::Engine as _;
        let bytes =
            postcard::to_allocvec(self).map_err(|e| CertificateError::Malformed(e.to_string()))?;
        Ok(format!(
            "{COMPACT_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Reads a file in either encoding (JSON, or `yzc1.` text) without
    /// judging it: the first of [`verify()`]'s checks alone.
    pub fn read(file: &[u8]) -> Result<Certificate, CertificateError> {
        verify::parse(file).map(|(cert, _)| cert)
    }

    /// The certificate's body as the JSON a verifier canonicalises.
    pub fn body_json(&self) -> Result<serde_json::Value, CertificateError> {
        serde_json::to_value(&self.body).map_err(|e| CertificateError::Malformed(e.to_string()))
    }
}
