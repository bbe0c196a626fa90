//! Idempotent admin writes. Every write request from the CLI carries an id;
//! the node marks the id in the same durable batch as the write itself, and
//! keeps the answer once it has it. A retry with the same id after an
//! ambiguous failure (the answer lost, the node killed mid-request) gets the
//! first answer back, or is told the write happened, and never writes twice.
//!
//! Ids live in the store's meta table under `request/<id>`, and the order
//! they were answered in under `request-at/<time>/<id>`; the newest
//! [`REQUESTS_KEPT`] are kept.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::admin::Response;
use crate::api::Node;
use crate::error::NodeError;

/// Prefix of the meta keys that record requests.
pub const PREFIX: &str = "request/";
/// Prefix of the meta keys that order the kept requests by when they were
/// answered: `request-at/<microseconds since 1970, 20 digits>/<id>`, empty.
pub const ORDER_PREFIX: &str = "request-at/";
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

/// The order key of request `id` answered at `at`.
fn order_key(at: DateTime<Utc>, id: &str) -> String {
    format!("{ORDER_PREFIX}{:020}/{id}", at.timestamp_micros().max(0))
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
    ///
    /// Which are oldest is read from the order keys ([`ORDER_PREFIX`]),
    /// whose values are empty: every write used to read and parse every
    /// kept answer (up to 1,024 of them, a megabyte of JSON) to find them.
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
        let mut b = self.store().batch()?;
        let mut order: Vec<String> = self
            .store()
            .meta_with_prefix(ORDER_PREFIX)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        if order.is_empty() {
            // A store from before the order keys: order what it kept once,
            // by when each was answered (unanswered ones count as now).
            for (key, value) in self.store().meta_with_prefix(PREFIX)? {
                let at = serde_json::from_slice::<Kept>(&value).map_or(now, |k| k.at);
                let o = order_key(at, &key[PREFIX.len()..]);
                b.put_meta(&o, &[])?;
                order.push(o);
            }
        }
        b.put_meta(&meta_key(id), &bytes)?;
        let mine = order_key(now, id);
        b.put_meta(&mine, &[])?;
        order.push(mine);
        order.sort();
        order.dedup();
        let excess = order.len().saturating_sub(REQUESTS_KEPT);
        for o in order.iter().take(excess) {
            let Some((_, old)) = o.rsplit_once('/') else {
                continue;
            };
            if old != id {
                b.delete_meta(o)?;
                b.delete_meta(&meta_key(old))?;
            }
        }
        b.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::config::Role;

    fn kept(node: &Node) -> Vec<String> {
        node.store()
            .meta_with_prefix(PREFIX)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k[PREFIX.len()..].to_owned())
            .collect()
    }

    #[test]
    fn the_oldest_answers_are_forgotten_past_the_cap_also_in_an_older_store() {
        let tmp = tempfile::tempdir().unwrap();
        let place = crdt_model::PlaceId::parse("guandu/yiliu/xinyazhou").unwrap();
        let node = Node::init(tmp.path(), Role::Community, place, None).unwrap();
        let t0 = Utc::now();
        let answer = Response::Token("ok".into());
        // Answers kept before the order keys existed: only `request/<id>`.
        let mut b = node.store().batch().unwrap();
        for i in 0..10 {
            let k = Kept {
                at: t0 + Duration::seconds(i),
                response: answer.clone(),
            };
            b.put_meta(
                &meta_key(&format!("old-{i:02}")),
                &serde_json::to_vec(&k).unwrap(),
            )
            .unwrap();
        }
        b.commit().unwrap();
        for i in 0..REQUESTS_KEPT + 5 {
            let at = t0 + Duration::seconds(100 + i as i64);
            node.keep_answer(&format!("new-{i:05}"), &answer, at)
                .unwrap();
        }
        let ids = kept(&node);
        assert_eq!(ids.len(), REQUESTS_KEPT);
        // The ten old ones and the five oldest new ones went first.
        assert!(ids.iter().all(|id| id.starts_with("new-")));
        assert!(!ids.contains(&"new-00004".to_owned()));
        assert!(ids.contains(&"new-00005".to_owned()));
        assert!(matches!(
            node.earlier_request(&format!("new-{:05}", REQUESTS_KEPT + 4))
                .unwrap(),
            Earlier::Answered(_)
        ));
        let order = node.store().meta_with_prefix(ORDER_PREFIX).unwrap();
        assert_eq!(order.len(), REQUESTS_KEPT);
    }
}
