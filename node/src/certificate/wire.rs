//! Keys and signatures in a certificate's two encodings: readable in JSON
//! (a libp2p peer id, base64url), raw bytes in the compact postcard form,
//! chosen by the serializer's `is_human_readable`.

use std::fmt;

use base64::Engine as _;
use libp2p::PeerId;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::trust::NodeKey;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// Length of an Ed25519 signature.
const SIGNATURE_BYTES: usize = 64;

/// An Ed25519 node key: a peer id in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerKey(pub NodeKey);

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PeerKey {
    /// Reads a peer id, which must embed an Ed25519 key.
    pub fn parse(s: &str) -> Result<PeerKey, String> {
        let peer: PeerId = s
            .parse()
            .map_err(|e| format!("{s:?} is not a peer id: {e}"))?;
        NodeKey::of_peer(&peer)
            .map(PeerKey)
            .map_err(|e| e.to_string())
    }
}

impl Serialize for PeerKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.0.to_string())
        } else {
            self.0.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for PeerKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PeerKey, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            PeerKey::parse(&s).map_err(D::Error::custom)
        } else {
            <[u8; 32]>::deserialize(d).map(|k| PeerKey(NodeKey(k)))
        }
    }
}

/// An Ed25519 signature: base64url without padding in JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature(pub Vec<u8>);

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&B64.encode(&self.0))
        } else {
            serde_bytes::Bytes::new(&self.0).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
        let bytes = if d.is_human_readable() {
            let s = String::deserialize(d)?;
            B64.decode(s.as_bytes())
                .map_err(|e| D::Error::custom(format!("signature is not base64url: {e}")))?
        } else {
            serde_bytes::ByteBuf::deserialize(d)?.into_vec()
        };
        if bytes.len() != SIGNATURE_BYTES {
            return Err(D::Error::custom(format!(
                "a signature has {SIGNATURE_BYTES} bytes, not {}",
                bytes.len()
            )));
        }
        Ok(Signature(bytes))
    }
}
