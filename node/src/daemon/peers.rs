//! Connections: swarm events, strikes and bans, strangers' grace period,
//! the address book and redialling.

use std::time::Duration;

use chrono::Utc;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, identify};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::api::PeerRecord;
use crate::engine::{Input, PeerKey};
use crate::error::NodeError;
use crate::net::BehaviourEvent;
use crate::net::address_book;
use crate::net::strikes::{self};

use super::*;

/// Strikes a malformed or forged message counts; an oversized one counts more.
pub(super) const STRIKE_WEIGHT_REFUSED: u32 = 1;
/// Strikes an oversized message counts.
pub(super) const STRIKE_WEIGHT_OVERSIZED: u32 = 5;
/// Strikes up to which a peer's refusals are logged as warnings; beyond,
/// only its ban is (at [`strikes::STRIKES_MAX`]).
pub(super) const STRIKES_LOGGED: u32 = 20;
/// How long a connected peer may go without presenting a valid credential.
pub(super) const STRANGER_GRACE_MS: u64 = 10_000;

impl Daemon {
    pub(super) fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        libp2p::metrics::Recorder::record(&*self.metrics.swarm, &event);
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                if self.announce {
                    println!("listening on {address}/p2p/{}", self.swarm.local_peer_id());
                }
                self.listen.push(address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                let addr = endpoint.get_remote_address().clone();
                for r in self
                    .redials
                    .iter_mut()
                    .filter(|r| r.peer == Some(peer_id) || (endpoint.is_dialer() && r.addr == addr))
                {
                    r.peer = Some(peer_id);
                    r.backoff_ms = REDIAL_MS_MIN;
                }
                self.connected
                    .insert(peer_id, (num_established.get() as usize, addr.clone()));
                if endpoint.is_dialer() {
                    // An address we reached it at: kept once it is admitted.
                    let mut known = self.pending_addrs.take(&peer_id);
                    known.extend(address_book::dialable(
                        &peer_id,
                        std::slice::from_ref(&addr),
                    ));
                    self.pending_addrs.note(peer_id, known);
                }
                if self
                    .strikes
                    .banned(&peer_id, Instant::now().into_std())
                    .is_some()
                {
                    debug!(peer = %peer_id, "closing the connection of a peer kept out for its strikes");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if num_established.get() == 1 {
                    info!(peer = %peer_id, %addr, "peer connected");
                    if !self.peer_creds.contains_key(&peer_id) {
                        self.unadmitted.insert(peer_id, Instant::now());
                    }
                    self.present_credential(&peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                info!(peer = %peer_id, "peer disconnected");
                self.connected.remove(&peer_id);
                self.unadmitted.remove(&peer_id);
                if !self.peer_creds.contains_key(&peer_id) {
                    self.pending_addrs.forget(&peer_id);
                }
                self.drop_peer(&peer_id);
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(peer = ?peer_id, %error, "dial failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(e)) => self.on_sync(e),
            SwarmEvent::Behaviour(BehaviourEvent::Blob(e)) => self.on_blob(e),
            SwarmEvent::Behaviour(BehaviourEvent::Admission(e)) => self.on_admission(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                let addrs = address_book::dialable(&peer_id, &info.listen_addrs);
                if self.peer_creds.contains_key(&peer_id) {
                    self.remember_peer(&peer_id, &addrs);
                } else {
                    let mut known = addrs;
                    known.extend(self.pending_addrs.take(&peer_id));
                    self.pending_addrs.note(peer_id, known);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    if !self.connected.contains_key(&peer) {
                        debug!(%peer, %addr, "discovered on the LAN");
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            _ => {}
        }
    }

    /// Counts `weight` strikes against `peer` for `what`.
    pub(super) fn strike(&mut self, peer: PeerId, weight: u32, what: &str) {
        let verdict = self.strikes.strike(peer, weight, Instant::now().into_std());
        self.punish(peer, verdict, what);
    }

    /// Disconnects a peer that struck out; it is kept out until its ban ends.
    pub(super) fn punish(&mut self, peer: PeerId, verdict: strikes::Verdict, what: &str) {
        if let strikes::Verdict::Banned(d) = verdict {
            warn!(%peer, banned_s = d.as_secs(), cause = what, "disconnecting a peer after too many strikes; it is kept out for a while");
            self.drop_peer(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Ends a peer's sessions and forgets its admission.
    pub(super) fn drop_peer(&mut self, peer: &PeerId) {
        self.acked.remove(peer);
        self.outbox.forget(peer);
        let b = self.swarm.behaviour_mut();
        b.sync.close(peer);
        b.blob.close(peer);
        if self.peer_creds.remove(peer).is_none() {
            return;
        }
        let key = PeerKey::new(peer.to_string());
        if self.up.remove(peer) {
            self.count_peer_down(peer);
            self.escrow_peer_down(peer);
            self.engine_input(Input::PeerDown { peer: key.clone() });
        }
        self.peer_labels.remove(peer);
        if let Some(engine) = self.engine.as_mut() {
            engine.policy_mut().forget_peer(&key);
        }
    }

    /// Records an admitted peer and where it listens (merged with what was
    /// recorded before), and keeps dialling those addresses while it is
    /// away.
    pub(super) fn remember_peer(&mut self, peer: &PeerId, addrs: &[Multiaddr]) {
        let store = self.node.store();
        let old: Vec<Multiaddr> = store
            .peer(&peer.to_string())
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice::<PeerRecord>(&bytes).ok())
            .map(|r| r.addresses.iter().filter_map(|a| a.parse().ok()).collect())
            .unwrap_or_default();
        let learn = self.node.config().learn_addresses;
        let merged = if learn {
            address_book::merge(addrs, &old)
        } else {
            old
        };
        let labels = self.peer_labels.get(peer);
        let rec = PeerRecord {
            addresses: merged.iter().map(ToString::to_string).collect(),
            last_seen: Some(Utc::now()),
            place: labels.map(|l| l.place.clone()),
            role: labels.map(|l| l.role.clone()),
        };
        let r = serde_json::to_vec(&rec)
            .map_err(|e| NodeError::Internal(e.to_string()))
            .and_then(|bytes| {
                let mut b = self.node.store().batch()?;
                b.put_peer(&peer.to_string(), &bytes)?;
                b.commit()?;
                Ok(())
            });
        if let Err(e) = r {
            warn!(%peer, error = %e, "cannot record peer");
        }
        if learn {
            for a in merged {
                self.keep_dialling(a, Some(*peer));
            }
        }
    }

    /// Adds `addr` to the addresses dialled while its peer is away.
    pub(super) fn keep_dialling(&mut self, addr: Multiaddr, peer: Option<PeerId>) {
        if self.redials.iter().any(|r| r.addr == addr) {
            return;
        }
        if self.redials.len() >= REDIALS_MAX {
            debug!(%addr, "too many addresses to redial; not adding one");
            return;
        }
        self.redials.push(Redial {
            addr,
            peer,
            backoff_ms: REDIAL_MS_MIN,
            next_at: Instant::now(),
        });
    }

    /// Closes connections of peers that did not present a valid credential
    /// within the grace period: a stranger costs a connection slot only
    /// that long.
    pub(super) fn close_strangers(&mut self) {
        let now = Instant::now();
        let grace = Duration::from_millis(STRANGER_GRACE_MS);
        let due: Vec<PeerId> = self
            .unadmitted
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= grace)
            .map(|(p, _)| *p)
            .collect();
        for p in due {
            self.unadmitted.remove(&p);
            self.strangers_closed += 1;
            // One line per stranger would let strangers fill the log.
            if self.strangers_closed.is_power_of_two() {
                info!(peer = %p, closed = self.strangers_closed, "closed the connection of a peer that presented no valid credential");
            }
            let _ = self.swarm.disconnect_peer_id(p);
        }
    }

    pub(super) fn redial(&mut self) {
        let now = Instant::now();
        for r in &mut self.redials {
            if r.peer.is_some_and(|p| self.connected.contains_key(&p)) || now < r.next_at {
                continue;
            }
            debug!(addr = %r.addr, "dialling");
            if let Err(e) = self.swarm.dial(r.addr.clone()) {
                debug!(addr = %r.addr, error = %e, "cannot dial");
            }
            r.next_at = now + Duration::from_millis(r.backoff_ms);
            r.backoff_ms = (r.backoff_ms * 2).min(REDIAL_MS_MAX);
        }
    }
}
