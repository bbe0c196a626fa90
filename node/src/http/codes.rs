//! Access codes: how a rider's phone or a staff member signs in to this
//! node's HTTP server.
//!
//! A code is 128 random bits, shown once when issued and kept here only as
//! its BLAKE3 hash, in the store's meta table under `code/<hash>`. The meta
//! table is never synced, so a code works on the node that issued it and
//! nowhere else. A fast hash is enough: the codes are random with 128 bits
//! of entropy, so a stolen table gives no dictionary to guess against, and
//! a slow hash (argon2) would only cost every phone request CPU time.

use chrono::{DateTime, Utc};
use crdt_model::roster::MemberStatus;
use crdt_model::{MemberId, PlaceId};
use serde::{Deserialize, Serialize};

use crate::api::Node;
use crate::config::Role;
use crate::error::NodeError;

/// Prefix of the meta keys that hold code hashes.
pub const PREFIX: &str = "code/";
/// Random bytes in a code (128 bits).
pub const CODE_BYTES: usize = 16;
/// Longest staff name accepted.
pub const STAFF_NAME_CHARS_MAX: usize = 64;

/// Who a code signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CodeHolder {
    /// A rider on this community's roster: reports are filed as theirs.
    Rider {
        /// Their member id.
        member: MemberId,
    },
    /// Community or street staff, by the name the operator gave.
    Staff {
        /// The name.
        name: String,
    },
}

impl std::fmt::Display for CodeHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodeHolder::Rider { member } => write!(f, "rider {member}"),
            CodeHolder::Staff { name } => write!(f, "staff {name}"),
        }
    }
}

/// What the store keeps of an issued code (never the code itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// Who it signs in.
    pub holder: CodeHolder,
    /// The place of the node that issued it: the only place it works for.
    pub place: PlaceId,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

/// A fresh code: 32 lowercase hex digits, easy to read out and to put in
/// a link.
pub fn new_code() -> String {
    let bytes: [u8; CODE_BYTES] = rand::random();
    hex::encode(bytes)
}

/// The hash under which `code` is kept, as 64 hex digits. Surrounding
/// blanks are ignored (a code pasted with a newline still works).
pub fn code_hash(code: &str) -> String {
    blake3::hash(code.trim().as_bytes()).to_hex().to_string()
}

fn valid_hash(hash: &str) -> Result<(), NodeError> {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(crate::refusal::AdminRefusal::BadCodeHash {
            hash: hash.to_owned(),
        }
        .into());
    }
    Ok(())
}

impl Node {
    /// Keeps `hash` as the code of `holder`. A rider's code is issued only
    /// on a community node, for an active member of its roster; staff codes
    /// only on community and street nodes.
    pub fn issue_code(
        &mut self,
        hash: &str,
        holder: CodeHolder,
        now: DateTime<Utc>,
    ) -> Result<CodeRecord, NodeError> {
        valid_hash(hash)?;
        match &holder {
            CodeHolder::Rider { member } => {
                if self.config().role != Role::Community {
                    return Err(crate::refusal::AdminRefusal::RiderCodeElsewhere {
                        role: self.config().role,
                    }
                    .into());
                }
                self.require_active(member)?;
            }
            CodeHolder::Staff { name } => {
                if self.config().role == Role::District {
                    return Err(crate::refusal::AdminRefusal::StaffCodeAtDistrict.into());
                }
                let n = name.trim().chars().count();
                if n == 0 || n > STAFF_NAME_CHARS_MAX || name.chars().any(char::is_control) {
                    return Err(crate::refusal::AdminRefusal::BadStaffName {
                        name: name.clone(),
                        max: STAFF_NAME_CHARS_MAX,
                    }
                    .into());
                }
            }
        }
        let record = CodeRecord {
            holder,
            place: self.config().place.clone(),
            issued_at: now,
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| NodeError::Internal(e.to_string()))?;
        let mut b = self.store().batch()?;
        b.put_meta(&format!("{PREFIX}{hash}"), &bytes)?;
        b.commit()?;
        Ok(record)
    }

    /// Forgets every code of `holder`; returns how many there were.
    pub fn revoke_codes(&mut self, holder: &CodeHolder) -> Result<usize, NodeError> {
        let mine: Vec<String> = self
            .store()
            .meta_with_prefix(PREFIX)?
            .into_iter()
            .filter(|(_, v)| {
                serde_json::from_slice::<CodeRecord>(v).is_ok_and(|r| r.holder == *holder)
            })
            .map(|(k, _)| k)
            .collect();
        if mine.is_empty() {
            return Err(crate::refusal::AdminRefusal::NoAccessCode {
                holder: holder.to_string(),
            }
            .into());
        }
        let mut b = self.store().batch()?;
        for k in &mine {
            b.delete_meta(k)?;
        }
        b.commit()?;
        Ok(mine.len())
    }

    /// Who the code with `hash` signs in, if it works here now: issued on
    /// this node for its place, not revoked, and for a rider still active.
    pub fn code_holder(&mut self, hash: &str) -> Result<Option<CodeRecord>, NodeError> {
        if valid_hash(hash).is_err() {
            return Ok(None);
        }
        let Some(bytes) = self.store().get_meta(&format!("{PREFIX}{hash}"))? else {
            return Ok(None);
        };
        let Ok(record) = serde_json::from_slice::<CodeRecord>(&bytes) else {
            return Ok(None);
        };
        if record.place != self.config().place {
            return Ok(None);
        }
        if let CodeHolder::Rider { member } = &record.holder
            && self.require_active(member).is_err()
        {
            return Ok(None);
        }
        Ok(Some(record))
    }

    fn require_active(&mut self, member: &MemberId) -> Result<(), NodeError> {
        let m = self.own_member(member)?;
        if m.status != MemberStatus::Active {
            return Err(crate::refusal::AdminRefusal::CodeForInactiveMember {
                member: member.to_string(),
                status: m.status.as_str(),
            }
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_random_and_hashed_stably() {
        let (a, b) = (new_code(), new_code());
        assert_ne!(a, b);
        assert_eq!(a.len(), 2 * CODE_BYTES);
        assert_eq!(code_hash(&a), code_hash(&format!(" {a}\n")));
        assert_ne!(code_hash(&a), code_hash(&b));
        assert!(valid_hash(&code_hash(&a)).is_ok());
        assert!(valid_hash(&a).is_err());
    }
}
