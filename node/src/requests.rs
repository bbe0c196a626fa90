//! Idempotent admin writes. Every write request from the CLI carries an id;
//! the node marks the id in the same durable batch as the write itself, and
//! keeps the answer once it has it. A retry with the same id after an
//! ambiguous failure (the answer lost, the node killed mid-request) gets the
//! first answer back, or is told the write happened, and never writes twice.
//!
//! Ids live in the store's meta table under `request/<id>`; the newest
//! [`REQUESTS_KEPT`] are kept.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::admin::Response;
use crate::api::Node;
use crate::error::NodeError;

/// Prefix of the meta keys that record requests.
pub const PREFIX: &str = "request/";
/// What a batch writes under its request's key before the answer is known.
pub const COMMITTED: &[u8] = b"committed";
/// Requests remembered; older ones are forgotten.
pub const REQUESTS_KEPT: usize = 1_024;
/// Longest request id accepted.
pub const REQUEST_ID_CHARS_MAX: usize = 64;

/// The meta key of request `id`.
pub fn meta_key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

/// A request id is 1 to 64 ASCII letters, digits and dashes.
pub fn valid_id(id: &str) -> Result<(), NodeError> {
    if id.is_empty()
        || id.len() > REQUEST_ID_CHARS_MAX
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(crate::refusal::AdminRefusal::BadRequestId {
            id: id.to_owned(),
            max: REQUEST_ID_CHARS_MAX,
        }
        .into());
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct Kept {
    at: DateTime<Utc>,
    response: Response,
}

/// What is known of request `id` from an earlier attempt.
pub enum Earlier {
    /// Never seen.
    None,
    /// Its write committed, but the node stopped before keeping the answer.
    Committed,
    /// Done, with this answer.
    Answered(Box<Response>),
}

impl Node {
    /// What an earlier attempt of request `id` left.
    pub fn earlier_request(&self, id: &str) -> Result<Earlier, NodeError> {
        Ok(match self.store().get_meta(&meta_key(id))? {
            None => Earlier::None,
            Some(bytes) if bytes == COMMITTED => Earlier::Committed,
            Some(bytes) => match serde_json::from_slice::<Kept>(&bytes) {
                Ok(k) => Earlier::Answered(Box::new(k.response)),
                Err(_) => Earlier::Committed,
            },
        })
    }

    /// Keeps the answer of request `id`, forgetting the oldest requests
    /// beyond [`REQUESTS_KEPT`].
    pub fn keep_answer(
        &self,
        id: &str,
        response: &Response,
        now: DateTime<Utc>,
    ) -> Result<(), NodeError> {
        let kept = Kept {
            at: now,
            response: response.clone(),
        };
        let bytes = serde_json::to_vec(&kept).map_err(|e| NodeError::Internal(e.to_string()))?;
        let mut all: Vec<(DateTime<Utc>, String)> = self
            .store()
            .meta_with_prefix(PREFIX)?
            .into_iter()
            .map(|(k, v)| {
                let at = serde_json::from_slice::<Kept>(&v)
                    .map(|k| k.at)
                    .unwrap_or(now);
                (at, k)
            })
            .collect();
        all.sort();
        let mut b = self.store().batch()?;
        b.put_meta(&meta_key(id), &bytes)?;
        let excess = (all.len() + 1).saturating_sub(REQUESTS_KEPT);
        for (_, key) in all.iter().take(excess) {
            if *key != meta_key(id) {
                b.delete_meta(key)?;
            }
        }
        b.commit()?;
        Ok(())
    }
}
