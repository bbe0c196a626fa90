//! Content addresses of blobs: [`BlobHash`], the BLAKE3 hash of a blob's
//! bytes, and the size limit [`BLOB_BYTES_MAX`].
//!
//! Photos and voice notes never go inside a CRDT document; documents refer to
//! them by hash. The hash names the blob's file (`blob_files.rs`) and is
//! checked again on every read, so a damaged blob is reported rather than
//! served.

use std::fmt;
use std::str::FromStr;

/// The largest blob the store accepts, in bytes (32 MiB).
///
/// A phone photo or a minute of voice fits with room to spare; the bound keeps
/// one attachment from exhausting a community mini-PC's memory, since a blob
/// is read and verified whole.
pub const BLOB_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Groups of 1 KiB BLAKE3 chunks verified as one (16 KiB) in a blob's tree:
/// one hash pair per group, 0.4 % of the blob. The network serves and
/// checks ranges in the same groups (`net::blob::BLOB_BLOCK`).
pub const TREE_BLOCK: bao_tree::BlockSize = bao_tree::BlockSize::from_chunk_log(4);

/// The BLAKE3 hash of a blob's bytes, which is also its name.
///
/// Shown and parsed as 64 lowercase hex digits; serialised with serde as that
/// same hex string, so it reads the same in JSON output, TOML and logs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobHash([u8; 32]);

impl BlobHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> BlobHash {
        BlobHash(*blake3::hash(bytes).as_bytes())
    }

    /// Wraps 32 raw hash bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> BlobHash {
        BlobHash(bytes)
    }

    /// The 32 raw hash bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({self})")
    }
}

/// Why a string is not a [`BlobHash`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a blob hash: expected 64 lowercase hex digits")]
pub struct ParseBlobHashError {
    /// The rejected input, cut to its first 80 characters.
    pub input: String,
}

impl FromStr for BlobHash {
    type Err = ParseBlobHashError;

    fn from_str(s: &str) -> Result<BlobHash, ParseBlobHashError> {
        let refuse = || ParseBlobHashError {
            input: s.chars().take(80).collect(),
        };
        // One spelling only: a hash is also a file name and a map key
        // elsewhere, and two spellings of one blob would be two blobs there.
        let canonical = s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !canonical {
            return Err(refuse());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| refuse())?;
        Ok(BlobHash(bytes))
    }
}

impl serde::Serialize for BlobHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for BlobHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<BlobHash, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_blake3_of_the_bytes() {
        let hash = BlobHash::of(b"hello");
        assert_eq!(
            hash.to_string(),
            "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"
        );
    }

    #[test]
    fn display_and_parse_round_trip() {
        let hash = BlobHash::of(b"photo");
        let text = hash.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<BlobHash>().unwrap(), hash);
    }

    #[test]
    fn uppercase_short_and_non_hex_strings_are_refused() {
        let text = BlobHash::of(b"photo").to_string();
        assert!(text.to_uppercase().parse::<BlobHash>().is_err());
        assert!(text[..63].parse::<BlobHash>().is_err());
        assert!(format!("{text}0").parse::<BlobHash>().is_err());
        assert!("g".repeat(64).parse::<BlobHash>().is_err());
        assert!("".parse::<BlobHash>().is_err());
        // Multi-byte characters must not trip a byte-length check into slicing.
        assert!("é".repeat(32).parse::<BlobHash>().is_err());
    }

    #[test]
    fn serde_uses_the_hex_string() {
        let hash = BlobHash::of(b"voice");
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(json, format!("\"{hash}\""));
        let back: BlobHash = serde_json::from_str(&json).unwrap();
        assert_eq!(back, hash);
        assert!(serde_json::from_str::<BlobHash>("\"abc\"").is_err());
    }
}
