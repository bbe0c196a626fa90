//! The charter (`<district>/charter`): revocations, and a record of
//! admissions for operators to read. Revocations are what every node checks
//! chains against.
//!
//! Layout: `revoked/<peer id>` holding `key` (hex), `at` (ms), `by` (peer id),
//! `reason?`; `admitted/<peer id>` holding `role`, `place`, `by`, `at`.

use std::collections::BTreeSet;

use automerge::{ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable};
use chrono::{DateTime, Utc};

use super::admission::{Member, NodeKey};

fn text<D: ReadDoc>(doc: &D, obj: &automerge::ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(t) => Some(t.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Every revoked key in the charter. Entries that do not parse are ignored:
/// a malformed revocation revokes nothing rather than everything.
pub fn revoked<D: ReadDoc>(doc: &D) -> BTreeSet<NodeKey> {
    let mut out = BTreeSet::new();
    for k in doc.keys(ROOT).filter(|k| k.starts_with("revoked/")) {
        let Ok(Some((Value::Object(ObjType::Map), obj))) = doc.get(ROOT, k.as_str()) else {
            continue;
        };
        let Some(hex_key) = text(doc, &obj, "key") else {
            continue;
        };
        if let Ok(bytes) = hex::decode(hex_key)
            && let Ok(arr) = <[u8; 32]>::try_from(bytes.as_slice())
        {
            out.insert(NodeKey(arr));
        }
    }
    out
}

/// Writes a revocation of `key` by `by`.
pub fn revoke<T: Transactable>(
    doc: &mut T,
    key: &NodeKey,
    by: &str,
    at: DateTime<Utc>,
    reason: Option<&str>,
) -> Result<(), automerge::AutomergeError> {
    let obj = doc.put_object(ROOT, format!("revoked/{key}"), ObjType::Map)?;
    doc.put(&obj, "key", hex::encode(key.0))?;
    doc.put(&obj, "by", by)?;
    doc.put(&obj, "at", at.timestamp_millis())?;
    if let Some(r) = reason {
        doc.put(&obj, "reason", r)?;
    }
    Ok(())
}

/// Records an admission for operators to see.
pub fn record_admission<T: Transactable>(
    doc: &mut T,
    m: &Member,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), automerge::AutomergeError> {
    let obj = doc.put_object(ROOT, format!("admitted/{}", m.key), ObjType::Map)?;
    doc.put(&obj, "role", m.role.as_str())?;
    doc.put(&obj, "place", m.place.as_str())?;
    doc.put(&obj, "by", by)?;
    doc.put(&obj, "at", at.timestamp_millis())?;
    Ok(())
}
