//! `Step`: the work of one [`super::Engine::handle`] call: peer lifecycle,
//! sync sessions, timers. Reconciliation (summaries, inventories,
//! announcements) is in [`super::reconcile`].
//!
//! A `Step` borrows the engine's state, the driver's documents and the output
//! buffer for the length of one call, so every handler can reach all three.

use std::collections::BTreeMap;

use automerge::sync;
use automerge::{AutoCommit, ChangeHash};
use crdt_model::{DocumentId, PlaceId};

use super::check::{Checks, HeldSync, Received};
use super::config::EngineConfig;
use super::digest::{Digest, DigestCache, SharedDocs};
use super::docs::Docs;
use super::event::{Input, Output, Refusal};
use super::outbox::Outbox;
use super::peer::Peer;
use super::peer_key::PeerKey;
use super::policy::{Access, Policy};
use super::prepared::Prepared;
use super::push::changed_since;
use super::retry::Jitter;
use super::session::Outgoing;
use super::wire::{self, Deny, Message, SYNC_MESSAGE_BYTES_MAX, SyncData};

/// One `handle` call in progress.
pub(crate) struct Step<'a, P: Policy + ?Sized, D: Docs + ?Sized> {
    pub(crate) now: u64,
    pub(crate) config: &'a EngineConfig,
    pub(crate) access: Access<'a, P>,
    pub(crate) peers: &'a mut BTreeMap<PeerKey, Peer>,
    pub(crate) jitter: &'a mut Jitter,
    pub(crate) checks: &'a mut Checks,
    pub(crate) digests: &'a mut DigestCache,
    pub(crate) docs: &'a mut D,
    pub(crate) out: Vec<Output>,
    /// Sync messages made in this call, sent packed when the call ends.
    pub(crate) outbox: &'a mut Outbox,
    /// Sessions opened in this call.
    pub(crate) opened: usize,
}

impl<P: Policy + ?Sized, D: Docs + ?Sized> Step<'_, P, D> {
    /// Handles one input.
    pub(crate) fn input(&mut self, input: Input) {
        match input {
            Input::PeerUp { peer, sync_states } => self.peer_up(peer, sync_states),
            Input::PeerDown { peer } => self.peer_down(&peer),
            Input::Message { peer, bytes } => self.message(&peer, &bytes),
            Input::LocalChange { doc } => self.local_change(&doc),
            Input::Checked { id, result } => self.checked(id, result),
            Input::Tick => self.tick(),
            Input::TrustChanged => self.trust_changed(),
        }
    }

    pub(crate) fn send(&mut self, peer: &PeerKey, message: &Message) {
        match wire::encode(message) {
            Ok(bytes) => self.out.push(Output::Send {
                peer: peer.clone(),
                bytes,
            }),
            Err(e) => tracing::error!(peer = %peer, error = %e, "message not sent"),
        }
    }

    pub(crate) fn refuse(&mut self, peer: &PeerKey, reason: Refusal) {
        tracing::debug!(peer = %peer, reason = %reason, "refused");
        self.out.push(Output::Refused {
            peer: peer.clone(),
            reason,
        });
    }

    /// What we share with `peer` under `node` (`None`: everything), as of
    /// now, from the digest cache.
    pub(crate) fn shared_with(&mut self, peer: &PeerKey, node: Option<&PlaceId>) -> SharedDocs {
        let access = &self.access;
        self.digests
            .shared(self.docs, node, |doc| access.share(peer, doc))
    }

    /// The heads of `doc`, sorted, or `None` if not held; the digest cache
    /// learns them too, so an entry gone stale heals when it is read.
    pub(crate) fn heads(&mut self, doc: &DocumentId) -> Option<Vec<ChangeHash>> {
        let heads = self.docs.heads(doc);
        self.digests
            .update(doc, heads.as_deref().unwrap_or_default());
        heads
    }

    fn peer_up(&mut self, peer: PeerKey, sync_states: Vec<(DocumentId, Vec<u8>)>) {
        if self.peers.contains_key(&peer) {
            self.peer_down(&peer);
        }
        if self.peers.len() >= self.config.peers_max {
            let max = self.config.peers_max;
            self.refuse(&peer, Refusal::TooManyPeers { max });
            return;
        }
        let mut p = Peer::new(self.config);
        p.unsettle(self.now, self.jitter);
        self.peers.insert(peer.clone(), p);
        let shared = self.shared_with(&peer, None);
        self.ask_summary_of(&peer, shared.root_digest());
        // Parked, not kept decoded: most will rest for the whole connection.
        // What changed here since, or is new to the peer, is pushed at once
        // (`crate::push`).
        let known_peer = !sync_states.is_empty();
        let mut changed = Vec::new();
        let mut all_parked = true;
        for (doc, bytes) in sync_states {
            if !self.access.share(&peer, &doc) {
                continue;
            }
            if shared
                .get(&doc)
                .is_some_and(|mine| changed_since(mine, &bytes))
            {
                changed.push(doc.clone());
            }
            let Some(p) = self.peers.get_mut(&peer) else {
                return;
            };
            if p.parking.len() >= self.config.peer_docs_max {
                all_parked = false;
                break;
            }
            p.parking.park_saved(doc, bytes);
        }
        // A document we share with a peer we synced with before, but with
        // no state for it, was never exchanged with it: new since. (Unless
        // states were left out at the bound: then no state proves nothing.)
        let new: Vec<DocumentId> = match self.peers.get(&peer) {
            Some(p) if known_peer && all_parked => shared
                .ids()
                .filter(|doc| !p.parking.contains(doc))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        self.push_on_reconnect(&peer, &changed, &new);
    }

    fn peer_down(&mut self, peer: &PeerKey) {
        self.outbox.forget(peer);
        let Some(mut p) = self.peers.remove(peer) else {
            return;
        };
        // Messages held for checks go with the connection; answers to their
        // checks will name ids no longer held.
        self.checks.forget_peer(peer);
        for (doc, session) in &mut p.sessions {
            if let Some(state) = session.take_save() {
                self.out.push(Output::SaveSyncState {
                    peer: peer.clone(),
                    doc: doc.clone(),
                    state,
                });
            }
        }
    }

    fn message(&mut self, peer: &PeerKey, bytes: &[u8]) {
        if !self.peers.contains_key(peer) {
            self.refuse(peer, Refusal::UnknownPeer);
            return;
        }
        let message = match wire::decode(bytes) {
            Ok(m) => m,
            Err(reason) => {
                self.refuse(peer, reason);
                return;
            }
        };
        if let Some(p) = self.peers.get_mut(peer) {
            p.heard(self.now);
        }
        match message {
            Message::Summary(s) => self.on_summary(peer, s),
            Message::InventoryRequest(r) => self.on_inventory_request(peer, r),
            Message::Inventory(i) => self.on_inventory(peer, i),
            Message::Announce(a) => self.on_announce(peer, a),
            Message::Sync(s) => self.on_sync(peer, s),
            Message::Batch(batch) => {
                for s in batch {
                    self.on_sync(peer, s);
                }
            }
            Message::Deny(d) => self.on_deny(peer, d),
        }
    }

    fn local_change(&mut self, doc: &DocumentId) {
        let Some(heads) = self.heads(doc) else {
            return;
        };
        if !heads.is_empty() {
            self.announce(doc, Digest::of_heads(&heads), None, false);
        }
    }

    /// `doc` changed here: pass it on to every peer that may read it,
    /// except the one the change came from (`crate::push`), and compare
    /// inventories again with each of them later, in case what was sent is
    /// lost. `created`: the document did not exist here before these
    /// changes, so a peer we never exchanged it with is taken to lack it
    /// too (changes travel along the tree, and we are its way there).
    pub(crate) fn announce(
        &mut self,
        doc: &DocumentId,
        digest: Digest,
        source: Option<&PeerKey>,
        created: bool,
    ) {
        let keys: Vec<PeerKey> = self.peers.keys().cloned().collect();
        for key in keys {
            if !self.access.share(&key, doc) {
                continue;
            }
            let Some(p) = self.peers.get_mut(&key) else {
                continue;
            };
            p.unsettle(self.now, self.jitter);
            if Some(&key) == source || p.blocked.contains(doc) {
                continue;
            }
            self.forward(&key, doc, digest, created);
        }
    }

    fn trust_changed(&mut self) {
        // The node records cut-offs in its charter when trust changes, and
        // may do so while handling a peer's message, when those writes are
        // not reported as local changes: read every document afresh.
        self.digests.invalidate();
        let keys: Vec<PeerKey> = self.peers.keys().cloned().collect();
        for key in keys {
            let Some(p) = self.peers.get_mut(&key) else {
                continue;
            };
            for session in p.sessions.values_mut() {
                session.restart();
            }
            p.parking.forget_steps();
            p.unsettle(self.now, self.jitter);
            self.ask_summary(&key);
        }
    }

    fn tick(&mut self) {
        let keys: Vec<PeerKey> = self.peers.keys().cloned().collect();
        for key in keys {
            if let Some(p) = self.peers.get_mut(&key) {
                p.park_idle(self.now, self.config);
            }
            self.restart_overdue(&key);
            self.retry_inventory(&key);
            self.retry_summary(&key);
            self.recheck_if_due(&key);
            self.pay_owed(&key);
            self.fill_slots(&key);
        }
    }

    /// Makes the answers owed to `key` (deferred by the per-call budget),
    /// as far as this call's budget goes.
    fn pay_owed(&mut self, key: &PeerKey) {
        while self.outbox.bytes_for(key) < self.config.answer_bytes_per_call_max {
            let Some(p) = self.peers.get_mut(key) else {
                return;
            };
            let Some((doc, reply)) = p.owed.pop_first() else {
                return;
            };
            let Some(session) = p.sessions.get_mut(&doc) else {
                continue;
            };
            let mut stand_in = AutoCommit::new();
            let am = match self.docs.get_mut(&doc) {
                Some(am) => am,
                None => &mut stand_in,
            };
            let heads = am.get_heads();
            let answer = session.generate(am, reply, false);
            self.send_sync(key, &doc, answer, &heads);
            self.finish_if_at_rest(key, &doc, &heads);
        }
    }

    /// Sessions whose reply did not come: drop to the shared heads and start
    /// again, waiting longer each time.
    fn restart_overdue(&mut self, key: &PeerKey) {
        let Some(p) = self.peers.get(key) else {
            return;
        };
        for doc in p.overdue(self.now) {
            tracing::debug!(peer = %key, doc = %doc, "sync session restarted after a lost reply");
            match self.forced_message(key, &doc, true) {
                Some((outgoing, heads)) => self.send_sync(key, &doc, Some(outgoing), &heads),
                None => {
                    if let Some(p) = self.peers.get_mut(key) {
                        p.waiting.remove(&doc);
                    }
                }
            }
        }
    }

    /// The next message of `key`'s session on `doc`, forced out even if
    /// Automerge thinks there is nothing to say, and asking for a reply;
    /// `restart` first drops the session to its shared heads. A document we
    /// lack is stood in for by an empty one: it is created only when the
    /// peer's answer brings something to put in it.
    fn forced_message(
        &mut self,
        key: &PeerKey,
        doc: &DocumentId,
        restart: bool,
    ) -> Option<(Outgoing, Vec<ChangeHash>)> {
        let session = self.peers.get_mut(key)?.sessions.get_mut(doc)?;
        if restart {
            session.restart();
        }
        let mut stand_in = AutoCommit::new();
        let am = match self.docs.get_mut(doc) {
            Some(am) => am,
            None => &mut stand_in,
        };
        let heads = am.get_heads();
        let outgoing = session.generate(am, true, true)?;
        Some((outgoing, heads))
    }

    fn recheck_if_due(&mut self, key: &PeerKey) {
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        if p.recheck_at.is_none_or(|at| at > self.now) {
            return;
        }
        if p.settled_at.is_some() {
            p.recheck_at = None;
        } else if p.busy() || p.summary_overdue(self.now).is_some() {
            // Sessions, a walk or an ask are under way; check once they end.
            p.postpone_recheck(self.now);
        } else {
            p.recheck_later(self.now, self.jitter);
            self.ask_summary(key);
        }
    }

    /// Starts queued sessions while `key` has free slots.
    pub(crate) fn fill_slots(&mut self, key: &PeerKey) {
        loop {
            let Some(p) = self.peers.get_mut(key) else {
                return;
            };
            p.more_to_open = false;
            if !p.has_free_slot(self.config) {
                return;
            }
            if self.opened >= self.config.sessions_opened_per_call_max {
                p.more_to_open = p.pending_len() > 0;
                return;
            }
            let Some(doc) = p.dequeue() else {
                return;
            };
            if !p.waiting.contains_key(&doc) && !p.blocked.contains(&doc) {
                self.open_session(key, &doc);
            }
        }
    }

    /// `doc` differs between us and `key`: sync it now, or when a slot frees.
    pub(crate) fn want_session(&mut self, key: &PeerKey, doc: &DocumentId) {
        if !self.access.share(key, doc) {
            return;
        }
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        if p.blocked.contains(doc) || p.waiting.contains_key(doc) {
            return;
        }
        let capped = self.opened >= self.config.sessions_opened_per_call_max;
        if capped || !p.has_free_slot(self.config) {
            if !p.enqueue(doc, self.config) {
                tracing::debug!(peer = %key, doc = %doc, "session queue full; left to the next re-check");
            }
            p.more_to_open |= capped;
            return;
        }
        self.open_session(key, doc);
    }

    /// Sends the first message of a session (or a pull on a resting one),
    /// asking for an answer. A document we lack is pulled only if we may
    /// accept it.
    fn open_session(&mut self, key: &PeerKey, doc: &DocumentId) {
        let read_only = !self.access.accept(key, doc);
        let held = self.docs.get_mut(doc).is_some();
        if !held && read_only {
            return;
        }
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        let peer_empty = p.peer_empty;
        let Some(session) = p.session_entry(doc, read_only, self.config) else {
            tracing::debug!(peer = %key, doc = %doc, "no room for another session with this peer");
            return;
        };
        session.set_read_only(read_only);
        if peer_empty {
            session.assume_peer_empty();
        }
        // Counted only once a session is really opened.
        self.opened += 1;
        if let Some((outgoing, heads)) = self.forced_message(key, doc, false) {
            self.send_sync(key, doc, Some(outgoing), &heads);
        }
    }

    /// Sends a session's message (if any) and starts or stops waiting for
    /// the answer. A message over the limit is not sent: the document is
    /// blocked for this connection and the refusal reported.
    pub(crate) fn send_sync(
        &mut self,
        key: &PeerKey,
        doc: &DocumentId,
        outgoing: Option<Outgoing>,
        our_heads: &[ChangeHash],
    ) {
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        let Some(session) = p.sessions.get_mut(doc) else {
            return;
        };
        let Some(outgoing) = outgoing else {
            p.waiting.remove(doc);
            return;
        };
        let bytes = outgoing.data.len();
        if bytes > SYNC_MESSAGE_BYTES_MAX {
            session.restart();
            p.waiting.remove(doc);
            p.blocked.insert(doc.clone());
            let reason = Refusal::OutgoingTooLarge {
                doc: doc.clone(),
                bytes,
                max: SYNC_MESSAGE_BYTES_MAX,
            };
            self.refuse(key, reason);
            return;
        }
        if session.expects_reply(&outgoing, our_heads) {
            p.wait_for_reply(doc, bytes, self.now, self.config, self.jitter);
        } else {
            p.waiting.remove(doc);
        }
        let proof = if outgoing.carries_changes {
            self.docs.proof(doc, &outgoing.base)
        } else {
            Vec::new()
        };
        let sync = SyncData {
            doc: doc.clone(),
            reply: outgoing.reply,
            reset: outgoing.reset,
            data: outgoing.data,
            proof,
        };
        self.outbox.push(key, sync);
    }

    fn on_sync(&mut self, key: &PeerKey, sync_data: SyncData) {
        let SyncData {
            doc,
            reply,
            reset,
            data,
            proof,
        } = sync_data;
        if !self.access.share(key, &doc) {
            self.deny(key, doc);
            return;
        }
        let read_only = !self.access.accept(key, &doc);
        let held = self.docs.get_mut(&doc).is_some();
        if !held && read_only {
            self.deny(key, doc);
            return;
        }
        let message = match sync::Message::decode(&data) {
            Ok(m) => m,
            Err(e) => {
                let why = e.to_string();
                self.refuse(key, Refusal::BadSyncMessage { doc, why });
                return;
            }
        };
        // Authorship and write rights of every change it carries are checked
        // by the driver before anything is applied (`check.rs`). Messages
        // without changes are shown too, so heads naming refused changes are
        // not taken as the peer's.
        let held = HeldSync {
            reply,
            reset,
            message,
            bytes: data.len() + proof.len(),
            proof,
        };
        self.ask_check(key, doc, held);
    }

    /// Applies a checked sync message from `key` for `doc` and answers it.
    /// The policy is asked again: it may have changed while the check was
    /// out.
    pub(crate) fn apply_sync(&mut self, key: &PeerKey, doc: DocumentId, received: Received) {
        let Received {
            reply,
            reset,
            message,
            prepared,
        } = received;
        if !self.access.share(key, &doc) {
            self.deny(key, doc);
            return;
        }
        let read_only = !self.access.accept(key, &doc);
        let held = self.docs.get_mut(&doc).is_some();
        if !held && read_only {
            self.deny(key, doc);
            return;
        }
        let over_budget = self.outbox.bytes_for(key) >= self.config.answer_bytes_per_call_max;
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        if p.session_entry(&doc, read_only, self.config).is_none() {
            let max = self.config.peer_docs_max;
            self.refuse(key, Refusal::TooManyDocs { max });
            return;
        }
        p.session_answered(&doc, self.now, self.config, self.jitter);
        p.blocked.remove(&doc);
        let Some(session) = p.sessions.get_mut(&doc) else {
            return;
        };
        session.set_read_only(read_only);
        // A document we lack is received into a stand-in, and created only if
        // that gained changes: a peer that lacks it too creates nothing here.
        // The stand-in is the document the check built, if it built one.
        let prepared = prepared.filter(|_| !held).map(Prepared::into_doc);
        let from_check = prepared.is_some();
        let mut stand_in = prepared.unwrap_or_default();
        let am = match self.docs.get_mut(&doc) {
            Some(am) => am,
            None => &mut stand_in,
        };
        let (before, result) = if from_check {
            (
                Vec::new(),
                session.receive_prepared(am, &[], message, reset),
            )
        } else {
            (am.get_heads(), session.receive(am, message, reset))
        };
        let after = am.get_heads();
        let answer = match result {
            // Past this call's budget of answers to this peer: applied, and
            // answered on the next tick.
            Ok(()) if over_budget => {
                p.owed.insert(doc.clone(), reply);
                None
            }
            Ok(()) => session.generate(am, reply, false),
            Err(_) => {
                session.restart();
                None
            }
        };
        if let Err(e) = result {
            let why = e.to_string();
            self.refuse(
                key,
                Refusal::BadSyncMessage {
                    doc: doc.clone(),
                    why,
                },
            );
        }
        if !held && !after.is_empty() {
            // The new document is the stand-in itself, writing as this node:
            // merging it into an empty one would apply every change again.
            let created = self.docs.create(&doc);
            let actor = created.get_actor().clone();
            stand_in.set_actor(actor);
            *created = stand_in;
        }
        if held || !after.is_empty() {
            self.digests.update(&doc, &after);
        }
        if before != after {
            self.docs.changed(&doc, &before);
            self.announce(&doc, Digest::of_heads(&after), Some(key), !held);
        }
        self.send_sync(key, &doc, answer, &after);
        self.finish_if_at_rest(key, &doc, &after);
        self.fill_slots(key);
    }

    /// Refuses a document the policy does not let us exchange with `key`,
    /// and tells the peer so it stops asking.
    fn deny(&mut self, key: &PeerKey, doc: DocumentId) {
        let message = Message::Deny(Deny { doc: doc.clone() });
        self.refuse(key, Refusal::Denied { doc });
        self.send(key, &message);
    }

    fn on_deny(&mut self, key: &PeerKey, deny: Deny) {
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        p.waiting.remove(&deny.doc);
        if p.blocked.len() < self.config.peer_docs_max {
            p.blocked.insert(deny.doc);
        }
        self.fill_slots(key);
    }

    /// A session that waits for nothing: report `Synced` if both sides are at
    /// `our_heads`, and hand out the state if the peer replied since the last
    /// save.
    fn finish_if_at_rest(&mut self, key: &PeerKey, doc: &DocumentId, our_heads: &[ChangeHash]) {
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        if p.waiting.contains_key(doc) {
            return;
        }
        let Some(session) = p.sessions.get_mut(doc) else {
            return;
        };
        if session.newly_synced(our_heads) {
            self.out.push(Output::Synced {
                peer: key.clone(),
                doc: doc.clone(),
            });
        }
        if let Some(state) = session.take_save() {
            self.out.push(Output::SaveSyncState {
                peer: key.clone(),
                doc: doc.clone(),
                state,
            });
        }
        if session.peer_at(our_heads) {
            p.rested(doc, self.now, self.config);
        }
    }
}
