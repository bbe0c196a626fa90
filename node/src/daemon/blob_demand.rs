//! Blobs fetched when asked for: a district replicates its streets' reports
//! but not their photos, which it rarely looks at, so it fetches a photo
//! only when `yizhan blob get` asks for one.
//!
//! The caller's answer waits, parked here, until the fetch stores the blob,
//! gives up, or [`BLOB_DEMAND_WAIT_MS`] pass; the fetch itself goes through
//! the same queue, verification and retries as eager fetches.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::admin::{self, Call, Request, Response};
use crate::config::Role;
use crate::error::BlobDemandError;
use crate::store::BlobHash;

use super::Daemon;

/// Longest a `blob get` waits for a blob fetched on demand; the admin client
/// waits 60 s for any answer, so this stays well under it.
pub(super) const BLOB_DEMAND_WAIT_MS: u64 = 30_000;
/// Callers waiting for blobs at once; more are told to try again.
pub(super) const BLOB_DEMAND_WAITERS_MAX: usize = 64;

/// A caller waiting for a blob.
pub(super) struct Waiter {
    call: Call,
    reply: oneshot::Sender<Response>,
    until: Instant,
}

/// Callers waiting, by the blob they asked for.
pub(super) type Waiters = HashMap<BlobHash, Vec<Waiter>>;

/// True for nodes that fetch the blobs of received reports as they arrive;
/// a district fetches them on demand instead.
pub(super) fn fetches_eagerly(role: Role) -> bool {
    role != Role::District
}

impl Daemon {
    /// A `blob get` for a blob not held here that a held report references:
    /// starts fetching it from a peer and keeps the caller waiting for it.
    /// Gives the call back when the blob is held, or cannot be fetched.
    pub(super) fn fetch_on_demand(
        &mut self,
        call: Call,
        reply: oneshot::Sender<Response>,
    ) -> Option<(Call, oneshot::Sender<Response>)> {
        let Request::Blob(hash) = &call.request else {
            return Some((call, reply));
        };
        let hash = *hash;
        if self.node.store().has_blob(&hash).unwrap_or(true) {
            return Some((call, reply));
        }
        let Some(peer) = self.up.iter().min().copied() else {
            return Some((call, reply));
        };
        let referenced = self
            .node
            .referenced_by_readable(&hash, |_| true)
            .unwrap_or_else(|e| {
                warn!(%hash, error = %e, "cannot tell which documents reference a blob");
                false
            });
        if !referenced {
            return Some((call, reply));
        }
        if self.blob_waiters.values().map(Vec::len).sum::<usize>() >= BLOB_DEMAND_WAITERS_MAX {
            let busy = BlobDemandError::Busy {
                hash: hash.to_string(),
                max: BLOB_DEMAND_WAITERS_MAX,
            };
            let _ = reply.send(Response::failed(&busy.into()));
            return None;
        }
        if self.wanted.insert(hash) {
            debug!(%hash, %peer, "fetching a blob on demand");
            self.fetch_queue.push_front((hash, peer, 0));
            self.start_fetches();
        }
        self.blob_waiters.entry(hash).or_default().push(Waiter {
            call,
            reply,
            until: Instant::now() + Duration::from_millis(BLOB_DEMAND_WAIT_MS),
        });
        None
    }

    /// The writer answered for `hash`: its waiters get what the store holds
    /// (the blob, or "not held" when it could not be committed), read off
    /// the loop.
    pub(super) fn blob_arrived(&mut self, hash: &BlobHash) {
        for w in self.blob_waiters.remove(hash).unwrap_or_default() {
            let mut reader = self.node.reader();
            tokio::task::spawn_blocking(move || {
                let resp = admin::execute_call(&mut reader, w.call, Utc::now())
                    .unwrap_or_else(|e| Response::failed(&e));
                let _ = w.reply.send(resp);
            });
        }
    }

    /// The fetch of `hash` was given up: tells its waiters.
    pub(super) fn blob_given_up(&mut self, hash: &BlobHash) {
        for w in self.blob_waiters.remove(hash).unwrap_or_default() {
            let hash = hash.to_string();
            let _ = w
                .reply
                .send(Response::failed(&BlobDemandError::NotSent { hash }.into()));
        }
    }

    /// Answers callers that waited [`BLOB_DEMAND_WAIT_MS`]; their fetches
    /// go on.
    pub(super) fn expire_blob_waiters(&mut self) {
        let now = Instant::now();
        for (hash, waiters) in self.blob_waiters.iter_mut() {
            let (late, keep): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(waiters)
                .into_iter()
                .partition(|w| w.until <= now);
            *waiters = keep;
            for w in late {
                let late = BlobDemandError::Late {
                    hash: hash.to_string(),
                    secs: BLOB_DEMAND_WAIT_MS / 1_000,
                };
                let _ = w.reply.send(Response::failed(&late.into()));
            }
        }
        self.blob_waiters.retain(|_, w| !w.is_empty());
    }
}
