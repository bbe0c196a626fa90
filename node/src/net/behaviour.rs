//! The node's network behaviour. The derive generates `BehaviourEvent`, one
//! variant per field, without doc comments; hence the allowance.
#![allow(missing_docs)]

use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{connection_limits, identify, mdns, ping, request_response};

use super::codec::BytesCodec;
use super::gate::Gate;

/// The node's network behaviour.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Caps on connections: total, pending, per peer.
    pub limits: connection_limits::Behaviour,
    /// `/yizhan/sync/1`: engine messages, acknowledged with an empty
    /// response; inbound streams only from admitted peers.
    pub sync: Gate<request_response::Behaviour<BytesCodec>>,
    /// `/yizhan/admission/1`: credentials exchanged on connect.
    pub admission: request_response::Behaviour<BytesCodec>,
    /// `/yizhan/blob/2`: verified blob ranges by hash; inbound streams only from
    /// admitted peers.
    pub blob: Gate<request_response::Behaviour<BytesCodec>>,
    /// Learns peers' listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// Keeps connections alive and measures round trips.
    pub ping: ping::Behaviour,
    /// LAN discovery, when enabled.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}
