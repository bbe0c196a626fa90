//! A gate in front of a protocol: a peer may open streams of the wrapped
//! protocol only once the node has admitted it.
//!
//! The sync and blob protocols read messages of up to megabytes. A stranger
//! that could open their streams would make the node buffer those bytes
//! before anything knew who sent them. Behind the gate, a connection of a
//! peer that has not presented a valid credential offers the wrapped
//! protocol no inbound stream at all: negotiation fails before a byte of a
//! message is read. Such a peer can only speak the admission protocol,
//! whose frames are capped at [`super::CREDENTIAL_BYTES_MAX`], plus identify
//! and ping.
//!
//! The daemon opens the gate when it admits a peer and closes it when it
//! drops one (revocation, strikes). The set of admitted peers is shared with
//! every connection's handler, which reads it when a stream arrives: the
//! gate is open from the moment `open` returns, before the daemon answers
//! the peer's credential. (A message to each handler would arrive only at
//! the swarm's next poll, and the answer, written by the admission
//! protocol's handler, could overtake it.) Outbound streams are never gated:
//! this node opens them only to peers it admitted.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use either::Either;
use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::DeniedUpgrade;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::futures::future;
use libp2p::swarm::handler::{
    ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
    ListenUpgradeError, SendWrapper,
};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};

/// Peers let through, shared by a gate and its handlers. A poisoned lock
/// still holds a consistent set (inserts and removals do not panic midway).
type Admitted = Arc<RwLock<HashSet<PeerId>>>;

/// Wraps behaviour `B` so its inbound streams are served only to admitted peers.
pub struct Gate<B: NetworkBehaviour> {
    inner: B,
    open: Admitted,
}

impl<B: NetworkBehaviour> Gate<B> {
    /// `inner` behind a gate that starts closed for everyone.
    pub fn new(inner: B) -> Gate<B> {
        Gate {
            inner,
            open: Admitted::default(),
        }
    }

    /// Lets `peer` open streams from now on, on every connection.
    pub fn open(&mut self, peer: PeerId) {
        self.open
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(peer);
    }

    /// Refuses `peer`'s new streams from now on.
    pub fn close(&mut self, peer: &PeerId) {
        self.open
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(peer);
    }

    /// True when `peer` may open streams.
    pub fn is_open(&self, peer: &PeerId) -> bool {
        admitted(&self.open, peer)
    }

    fn handler(&self, peer: PeerId, inner: THandler<B>) -> GateHandler<THandler<B>> {
        GateHandler {
            inner,
            peer,
            open: Arc::clone(&self.open),
        }
    }
}

fn admitted(open: &Admitted, peer: &PeerId) -> bool {
    open.read()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(peer)
}

// The gate adds two calls to the protocol's own API; everything else
// (sending requests and responses) goes to the wrapped behaviour as before.
impl<B: NetworkBehaviour> std::ops::Deref for Gate<B> {
    type Target = B;
    fn deref(&self) -> &B {
        &self.inner
    }
}

impl<B: NetworkBehaviour> std::ops::DerefMut for Gate<B> {
    fn deref_mut(&mut self) -> &mut B {
        &mut self.inner
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Gate<B> {
    type ConnectionHandler = GateHandler<THandler<B>>;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let inner = self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )?;
        Ok(self.handler(peer, inner))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let inner = self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )?;
        Ok(self.handler(peer, inner))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer_id, connection_id, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

/// A connection handler that offers the wrapped protocol for inbound
/// streams only while its peer's gate is open.
pub struct GateHandler<H> {
    inner: H,
    peer: PeerId,
    open: Admitted,
}

impl<H: ConnectionHandler> ConnectionHandler for GateHandler<H> {
    type FromBehaviour = H::FromBehaviour;
    type ToBehaviour = H::ToBehaviour;
    type InboundProtocol = Either<SendWrapper<H::InboundProtocol>, SendWrapper<DeniedUpgrade>>;
    type OutboundProtocol = H::OutboundProtocol;
    type InboundOpenInfo = Either<H::InboundOpenInfo, ()>;
    type OutboundOpenInfo = H::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        if admitted(&self.open, &self.peer) {
            self.inner
                .listen_protocol()
                .map_upgrade(|u| Either::Left(SendWrapper(u)))
                .map_info(Either::Left)
        } else {
            // No protocol offered: the stranger's stream fails negotiation.
            SubstreamProtocol::new(Either::Right(SendWrapper(DeniedUpgrade)), Either::Right(()))
        }
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        self.inner.on_behaviour_event(event);
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<
        ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>,
    > {
        self.inner.poll(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        self.inner.poll_close(cx)
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        let inner = match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound { protocol, info }) => {
                match (protocol, info) {
                    (future::Either::Left(protocol), Either::Left(info)) => {
                        ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                            protocol,
                            info,
                        })
                    }
                    // A denied upgrade never succeeds; a stream negotiated
                    // while open whose info disagrees cannot exist.
                    _ => return,
                }
            }
            ConnectionEvent::ListenUpgradeError(ListenUpgradeError { info, error }) => {
                match (info, error) {
                    (Either::Left(info), Either::Left(error)) => {
                        ConnectionEvent::ListenUpgradeError(ListenUpgradeError { info, error })
                    }
                    _ => return,
                }
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol,
                info,
            }) => {
                ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound { protocol, info })
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info, error }) => {
                ConnectionEvent::DialUpgradeError(DialUpgradeError { info, error })
            }
            ConnectionEvent::AddressChange(change) => ConnectionEvent::AddressChange(change),
            ConnectionEvent::LocalProtocolsChange(change) => {
                ConnectionEvent::LocalProtocolsChange(change)
            }
            ConnectionEvent::RemoteProtocolsChange(change) => {
                ConnectionEvent::RemoteProtocolsChange(change)
            }
            _ => return,
        };
        self.inner.on_connection_event(inner);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt as _;
    use libp2p::identity::Keypair;
    use libp2p::request_response::{self, OutboundFailure};
    use libp2p::swarm::SwarmEvent;
    use libp2p::{Multiaddr, Swarm};

    use crate::net::codec::Frame;
    use crate::net::{Behaviour, BehaviourEvent, build_swarm};

    /// What became of one sync request from `client` to `server`.
    #[derive(Debug, PartialEq)]
    enum Fate {
        Answered,
        Denied,
    }

    async fn send_one(client: &mut Swarm<Behaviour>, server: &mut Swarm<Behaviour>) -> Fate {
        let server_id = *server.local_peer_id();
        client
            .behaviour_mut()
            .sync
            .send_request(&server_id, Frame::Bytes(vec![1, 2, 3]));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            tokio::select! {
                ev = client.select_next_some() => match ev {
                    SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                        message: request_response::Message::Response { .. }, ..
                    })) => return Fate::Answered,
                    SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                        error: OutboundFailure::UnsupportedProtocols, ..
                    })) => return Fate::Denied,
                    SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                        error, ..
                    })) => panic!("unexpected failure: {error}"),
                    _ => {}
                },
                ev = server.select_next_some() => {
                    if let SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                        message: request_response::Message::Request { channel, .. }, ..
                    })) = ev {
                        let _ = server.behaviour_mut().sync.send_response(channel, Vec::new());
                    }
                }
                () = tokio::time::sleep_until(deadline) => panic!("no outcome within 20 s"),
            }
        }
    }

    #[tokio::test]
    async fn streams_pass_only_while_the_peer_is_admitted() {
        let mut server = build_swarm(Keypair::generate_ed25519(), false).unwrap();
        let mut client = build_swarm(Keypair::generate_ed25519(), false).unwrap();
        let client_id = *client.local_peer_id();
        server
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
        let addr: Multiaddr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
                break address;
            }
        };
        client.dial(addr).unwrap();
        loop {
            tokio::select! {
                ev = client.select_next_some() => {
                    if matches!(ev, SwarmEvent::ConnectionEstablished { .. }) {
                        break;
                    }
                }
                _ = server.select_next_some() => {}
            }
        }

        // A stranger's stream fails negotiation.
        assert_eq!(send_one(&mut client, &mut server).await, Fate::Denied);
        assert!(!server.behaviour().sync.is_open(&client_id));
        // Admitted: the same connection now carries its requests.
        server.behaviour_mut().sync.open(client_id);
        assert_eq!(send_one(&mut client, &mut server).await, Fate::Answered);
        // Dropped again (revoked, struck out): refused at once.
        server.behaviour_mut().sync.close(&client_id);
        assert_eq!(send_one(&mut client, &mut server).await, Fate::Denied);
    }
}
