//! Offline verification of a certificate: no store, no network, only the
//! file, the federation's root peer id and, optionally, a charter export.
//! The checks run in the order `docs/certificates.md` gives, and the first
//! that fails is the answer.

use automerge::AutoCommit;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::{
    Body, CERTIFICATE_BYTES_MAX, COMPACT_PREFIX, Certificate, CertificateError, FORMAT, PeerKey,
    signing_bytes_of,
};
use crate::config::Role;
use crate::trust::admission::Cut;
use crate::trust::charter;

/// Largest charter export read.
pub const CHARTER_BYTES_MAX: usize = 64 * 1024 * 1024;

/// What a certificate that verified establishes.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The certified statement.
    #[serde(flatten)]
    pub body: Body,
    /// The chain from the root to the issuer, as (role, place, peer id).
    pub chain: Vec<(Role, String, String)>,
    /// True when a charter was given and no key on the chain was revoked
    /// at or before the issue time.
    pub charter_checked: bool,
}

/// Verifies `file` (the JSON certificate, or its `yzc1.` compact text)
/// against the root peer id `root` and, when given, the Automerge bytes of
/// the federation's charter.
pub fn verify(
    file: &[u8],
    root: &str,
    charter_bytes: Option<&[u8]>,
) -> Result<Verified, CertificateError> {
    let root = PeerKey::parse(root.trim())
        .map_err(|e| CertificateError::Malformed(format!("--root: {e}")))?;
    let (cert, body_json) = parse(file)?;
    // 1. The root.
    if cert.credential.root != root {
        return Err(CertificateError::WrongRoot {
            found: cert.credential.root.to_string(),
            expected: root.to_string(),
        });
    }
    // 2. The chain, judged at the issue time: signatures, links, places,
    // roles, the right to admit, nothing issued later or lapsed by then.
    let cred = cert.credential.credential();
    let issued = DateTime::<Utc>::from_timestamp(cert.body.issued_at, 0)
        .ok_or_else(|| CertificateError::Malformed("issued_at is out of range".into()))?;
    let assessed = cred
        .assess(issued, &|_| false)
        .map_err(CertificateError::Chain)?;
    // With no revocations passed in, a cut key is one whose admission lapsed.
    if let Some(Cut { key, .. }) = assessed.cut.first() {
        return Err(CertificateError::Chain(
            crate::trust::TrustError::NotValidNow {
                node: key.to_string(),
                why: "its admission had expired when the certificate was issued",
            },
        ));
    }
    // 3. The issuer is the community node of the certified community.
    let m = assessed.member;
    let community = &cert.body.community;
    if m.key != cert.body.issuer.0 {
        return Err(CertificateError::NotAdmittedFor {
            community: community.clone(),
            why: super::AdmittedInstead::AnotherNode {
                chain_end: m.key.to_string(),
                issuer: cert.body.issuer.to_string(),
            },
        });
    }
    if m.role != Role::Community || &m.place != community {
        return Err(CertificateError::NotAdmittedFor {
            community: community.clone(),
            why: super::AdmittedInstead::AnotherRole {
                issuer: cert.body.issuer.to_string(),
                role: m.role.as_str(),
                place: m.place.to_string(),
            },
        });
    }
    // 4. The issuer's signature over the body exactly as the file holds it.
    if !cert
        .body
        .issuer
        .0
        .verifies(&signing_bytes_of(&body_json)?, &cert.signature.0)
    {
        return Err(CertificateError::BadSignature {
            issuer: cert.body.issuer.to_string(),
        });
    }
    // 5. Revocations in force at the issue time, when a charter is given.
    if let Some(bytes) = charter_bytes {
        check_charter(&cert, &cred, bytes)?;
    }
    Ok(Verified {
        chain: cert
            .credential
            .links
            .iter()
            .map(|l| (l.role, l.place.to_string(), l.node.to_string()))
            .collect(),
        body: cert.body,
        charter_checked: charter_bytes.is_some(),
    })
}

/// Parses either encoding; returns the certificate and its body as JSON (for
/// the compact form, the body re-encoded: the compact form carries typed
/// fields only, and the JSON of a typed body is canonical already).
pub(super) fn parse(file: &[u8]) -> Result<(Certificate, serde_json::Value), CertificateError> {
    let bad = |why: String| CertificateError::Malformed(why);
    if file.len() > CERTIFICATE_BYTES_MAX {
        return Err(bad(format!(
            "{} bytes; a certificate has at most {CERTIFICATE_BYTES_MAX}",
            file.len()
        )));
    }
    let text = std::str::from_utf8(file).map_err(|_| bad("it is not UTF-8 text".into()))?;
    let text = text.trim();
    let (cert, body) = if let Some(b64) = text.strip_prefix(COMPACT_PREFIX) {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|e| bad(format!("the compact text is not base64url: {e}")))?;
        let (cert, rest) = postcard::take_from_bytes::<Certificate>(&bytes)
            .map_err(|e| bad(format!("the compact form does not decode: {e}")))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes after the compact form".into()));
        }
        let body = cert.body_json()?;
        (cert, body)
    } else {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("it is neither JSON nor yzc1. text: {e}")))?;
        let body = value
            .get("body")
            .cloned()
            .ok_or_else(|| bad("it has no body".into()))?;
        let cert: Certificate = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        (cert, body)
    };
    if cert.format != FORMAT {
        return Err(bad(format!(
            "format {:?}; this verifier reads {FORMAT:?}",
            cert.format
        )));
    }
    Ok((cert, body))
}

fn check_charter(
    cert: &Certificate,
    cred: &crate::trust::Credential,
    bytes: &[u8],
) -> Result<(), CertificateError> {
    if bytes.len() > CHARTER_BYTES_MAX {
        return Err(CertificateError::Charter(format!(
            "{} bytes; at most {CHARTER_BYTES_MAX} are read",
            bytes.len()
        )));
    }
    let not_charter = |why: String| {
        CertificateError::Charter(format!(
            "not a saved Automerge document (`yizhan doc export` writes one): {why}"
        ))
    };
    // Only document and change chunks reach Automerge: other kinds can make
    // it allocate without bound (`trust::chunks`), and a panic while loading
    // is a refusal, never a crash.
    crate::trust::chunks::only_sync_chunks(bytes).map_err(not_charter)?;
    let doc = std::panic::catch_unwind(|| AutoCommit::load(bytes))
        .map_err(|_| not_charter("Automerge could not read it".into()))?
        .map_err(|e| not_charter(e.to_string()))?;
    let view = charter::read(&doc, &cred.federation);
    let issued = cert.body.issued_at;
    for link in &cert.credential.links {
        let Some(revocations) = view.revoked.get(&link.node.0) else {
            continue;
        };
        // A revocation stamped in the same second as the issue counts: with
        // whole seconds, "before or at" is the reading that never lets a
        // revoked key's certificate through.
        if let Some(r) = revocations
            .iter()
            .filter(|r| r.at <= issued)
            .min_by_key(|r| r.at)
        {
            return Err(CertificateError::Revoked {
                key: link.node.to_string(),
                by: r.issuer.to_string(),
                at: rfc3339(r.at),
                issued: rfc3339(issued),
                reason: r
                    .reason
                    .as_ref()
                    .map(|why| format!(": {why}"))
                    .unwrap_or_default(),
            });
        }
    }
    Ok(())
}

fn rfc3339(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}
