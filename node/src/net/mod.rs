//! The libp2p side of a node: transports (TCP and QUIC, with Noise and
//! Yamux on TCP), identify, ping, optional mDNS, and Yizhan's two protocols
//! `/yizhan/sync/1` and `/yizhan/blob/2`.
//!
//! This module only builds the swarm; the daemon's loop drives it.

pub mod address_book;
mod behaviour;
pub mod blob;
pub mod blob_serve;
pub mod codec;
pub mod gate;
pub mod rehash_budget;
pub mod strikes;

pub use behaviour::{Behaviour, BehaviourEvent};

use std::time::Duration;

use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    StreamProtocol, Swarm, connection_limits, identify, identity::Keypair, mdns, noise, ping,
    request_response, tcp, yamux,
};
use thiserror::Error;

use codec::BytesCodec;
use gate::Gate;

/// The sync protocol.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/yizhan/sync/1");
/// The blob protocol.
pub const BLOB_PROTOCOL: StreamProtocol = StreamProtocol::new("/yizhan/blob/2");
/// The admission protocol: each side presents its credential.
pub const ADMISSION_PROTOCOL: StreamProtocol = StreamProtocol::new("/yizhan/admission/1");
/// Largest credential accepted (a chain of at most four admissions is far smaller).
pub const CREDENTIAL_BYTES_MAX: usize = 16 * 1024;
/// The identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/yizhan/id/1";
/// Largest sync message accepted: the engine's own limit, enforced while
/// reading so an oversized message never sits whole in memory.
pub const SYNC_MESSAGE_BYTES_MAX: usize = crate::engine::MESSAGE_BYTES_MAX;
/// A sync message is acknowledged with an empty response; anything more is refused.
pub const SYNC_ACK_BYTES_MAX: usize = 64;
/// Concurrent inbound or outbound streams per protocol and connection.
pub const STREAMS_PER_CONNECTION_MAX: usize = 64;
/// How long a request may take before it counts as lost.
pub const REQUEST_TIMEOUT_S: u64 = 30;
/// Connections without traffic close after this long.
pub const IDLE_CONNECTION_TIMEOUT_S: u64 = 60;

/// Building the swarm failed.
#[derive(Debug, Error)]
#[error("cannot set up networking: {0}")]
pub struct NetError(pub String);

fn rr_config() -> request_response::Config {
    request_response::Config::default()
        .with_request_timeout(Duration::from_secs(REQUEST_TIMEOUT_S))
        .with_max_concurrent_streams(STREAMS_PER_CONNECTION_MAX)
}

/// Connections established at once, in and out: a street serves dozens of
/// communities, so this leaves room for many times that.
pub const CONNECTIONS_MAX: u32 = 512;
/// Incoming connections still in their handshake at once.
pub const PENDING_INCOMING_MAX: u32 = 32;
/// Connections to one peer at once (TCP and QUIC, each way).
pub const CONNECTIONS_PER_PEER_MAX: u32 = 4;

/// Builds the swarm for `keypair`, with mDNS when `mdns` is true.
pub fn build_swarm(keypair: Keypair, mdns_on: bool) -> Result<Swarm<Behaviour>, NetError> {
    let err = |e: &dyn std::fmt::Display| NetError(e.to_string());
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| err(&e))?
        .with_quic()
        .with_behaviour(|key| {
            let peer_id = key.public().to_peer_id();
            let mdns = if mdns_on {
                Some(mdns::tokio::Behaviour::new(
                    mdns::Config::default(),
                    peer_id,
                )?)
            } else {
                None
            };
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(
                    connection_limits::ConnectionLimits::default()
                        .with_max_established(Some(CONNECTIONS_MAX))
                        .with_max_pending_incoming(Some(PENDING_INCOMING_MAX))
                        .with_max_established_per_peer(Some(CONNECTIONS_PER_PEER_MAX)),
                ),
                sync: Gate::new(request_response::Behaviour::with_codec(
                    BytesCodec::new(SYNC_MESSAGE_BYTES_MAX, SYNC_ACK_BYTES_MAX),
                    [(SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
                    rr_config(),
                )),
                admission: request_response::Behaviour::with_codec(
                    BytesCodec::new(CREDENTIAL_BYTES_MAX, SYNC_ACK_BYTES_MAX),
                    [(ADMISSION_PROTOCOL, request_response::ProtocolSupport::Full)],
                    rr_config(),
                ),
                blob: Gate::new(request_response::Behaviour::with_codec(
                    BytesCodec::new(blob::BLOB_REQUEST_BYTES, blob::BLOB_RESPONSE_BYTES_MAX),
                    [(BLOB_PROTOCOL, request_response::ProtocolSupport::Full)],
                    rr_config(),
                )),
                identify: identify::Behaviour::new(identify::Config::new(
                    IDENTIFY_PROTOCOL.into(),
                    key.public(),
                )),
                ping: ping::Behaviour::default(),
                mdns: Toggle::from(mdns),
            })
        })
        .map_err(|e| err(&e))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(IDLE_CONNECTION_TIMEOUT_S))
        })
        .build();
    Ok(swarm)
}
