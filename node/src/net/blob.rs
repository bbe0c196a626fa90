//! `/yizhan/blob/1`: blobs requested by BLAKE3 hash, in chunks.
//!
//! A request names a hash and a byte range; the response carries a status,
//! the blob's total size and the chunk. The fetcher asks for consecutive
//! chunks, refuses a total over its cap before asking for more, and verifies
//! the assembled bytes against the hash before anything is stored.

use thiserror::Error;

use crate::store::BlobHash;

/// Largest chunk a response carries.
pub const BLOB_CHUNK_BYTES_MAX: u32 = 1024 * 1024;
/// Exact size of a request: hash, offset, length.
pub const BLOB_REQUEST_BYTES: usize = 32 + 8 + 4;
/// Response header: status byte and total size.
pub const BLOB_RESPONSE_HEADER_BYTES: usize = 1 + 8;

/// A chunk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRequest {
    /// The blob.
    pub hash: BlobHash,
    /// First byte wanted.
    pub offset: u64,
    /// How many bytes, at most [`BLOB_CHUNK_BYTES_MAX`].
    pub len: u32,
}

/// What a responder says about a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkResponse {
    /// The chunk, and the blob's total size.
    Chunk {
        /// Total size of the blob.
        total: u64,
        /// The bytes from the requested offset.
        bytes: Vec<u8>,
    },
    /// The responder does not hold the blob.
    NotFound,
    /// The responder will not serve it (not allowed, malformed request).
    Refused,
}

/// A blob message that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlobWireError {
    /// Wrong length or an impossible field.
    #[error("malformed blob message: {0}")]
    Malformed(&'static str),
    /// A well-formed request for a blob the peer may not have.
    #[error("the peer may read no document that references this blob")]
    NotEntitled,
}

impl ChunkRequest {
    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BLOB_REQUEST_BYTES);
        out.extend_from_slice(self.hash.as_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.len.to_be_bytes());
        out
    }

    /// Decodes a request, refusing any other length or an oversized chunk.
    pub fn decode(bytes: &[u8]) -> Result<ChunkRequest, BlobWireError> {
        let (hash, rest) = bytes
            .split_first_chunk::<32>()
            .ok_or(BlobWireError::Malformed("request shorter than a hash"))?;
        let (offset, rest) = rest
            .split_first_chunk::<8>()
            .ok_or(BlobWireError::Malformed("request lacks an offset"))?;
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(BlobWireError::Malformed("request lacks a length"))?;
        if !rest.is_empty() {
            return Err(BlobWireError::Malformed("request longer than 44 bytes"));
        }
        let len = u32::from_be_bytes(*len);
        if len == 0 || len > BLOB_CHUNK_BYTES_MAX {
            return Err(BlobWireError::Malformed("chunk length outside 1..=1 MiB"));
        }
        Ok(ChunkRequest {
            hash: BlobHash::from_bytes(*hash),
            offset: u64::from_be_bytes(*offset),
            len,
        })
    }
}

impl ChunkResponse {
    /// Encodes the response.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            ChunkResponse::Chunk { total, bytes } => {
                let mut out = Vec::with_capacity(BLOB_RESPONSE_HEADER_BYTES + bytes.len());
                out.push(0);
                out.extend_from_slice(&total.to_be_bytes());
                out.extend_from_slice(bytes);
                out
            }
            ChunkResponse::NotFound => vec![1],
            ChunkResponse::Refused => vec![2],
        }
    }

    /// Decodes a response.
    pub fn decode(bytes: &[u8]) -> Result<ChunkResponse, BlobWireError> {
        match bytes.split_first() {
            Some((0, rest)) => {
                let (total, chunk) = rest
                    .split_first_chunk::<8>()
                    .ok_or(BlobWireError::Malformed("chunk response lacks its total"))?;
                if chunk.len() > BLOB_CHUNK_BYTES_MAX as usize {
                    return Err(BlobWireError::Malformed("chunk larger than 1 MiB"));
                }
                Ok(ChunkResponse::Chunk {
                    total: u64::from_be_bytes(*total),
                    bytes: chunk.to_vec(),
                })
            }
            Some((1, [])) => Ok(ChunkResponse::NotFound),
            Some((2, [])) => Ok(ChunkResponse::Refused),
            _ => Err(BlobWireError::Malformed("unknown response status")),
        }
    }
}

/// Answers a chunk request from the blob's bytes, if held.
pub fn serve(req: &ChunkRequest, blob: Option<&[u8]>) -> ChunkResponse {
    let Some(blob) = blob else {
        return ChunkResponse::NotFound;
    };
    let total = blob.len() as u64;
    let start = req.offset.min(total) as usize;
    let end = (req.offset.saturating_add(u64::from(req.len))).min(total) as usize;
    ChunkResponse::Chunk {
        total,
        bytes: blob.get(start..end).unwrap_or_default().to_vec(),
    }
}

/// A blob being assembled from chunks.
#[derive(Debug)]
pub struct Assembly {
    /// The blob.
    pub hash: BlobHash,
    bytes: Vec<u8>,
    total: Option<u64>,
    max: u64,
}

/// What to do after a chunk arrived.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Ask for the next chunk.
    Next(ChunkRequest),
    /// All bytes arrived and match the hash.
    Done(Vec<u8>),
    /// The peer does not hold the blob (it may still be fetching it).
    NotHeld,
    /// The peer would not serve it now: its queue of chunk reads is full,
    /// or it may not share the blob with this node. An answer, not bad bytes.
    Refused,
    /// Give up on this peer for this blob.
    Failed(String),
}

impl Assembly {
    /// Starts fetching `hash`, refusing blobs over `max` bytes.
    pub fn new(hash: BlobHash, max: u64) -> Assembly {
        Assembly {
            hash,
            bytes: Vec::new(),
            total: None,
            max,
        }
    }

    /// The first request.
    pub fn first(&self) -> ChunkRequest {
        ChunkRequest {
            hash: self.hash,
            offset: 0,
            len: BLOB_CHUNK_BYTES_MAX,
        }
    }

    /// Takes a response and says what comes next.
    pub fn accept(&mut self, resp: ChunkResponse) -> Progress {
        let (total, chunk) = match resp {
            ChunkResponse::Chunk { total, bytes } => (total, bytes),
            ChunkResponse::NotFound => return Progress::NotHeld,
            ChunkResponse::Refused => return Progress::Refused,
        };
        if total > self.max {
            return Progress::Failed(format!(
                "blob of {total} bytes exceeds the limit of {} bytes",
                self.max
            ));
        }
        if self.total.is_some_and(|t| t != total) {
            return Progress::Failed("peer changed the blob's size mid-transfer".into());
        }
        self.total = Some(total);
        let want = (total - self.bytes.len() as u64).min(u64::from(BLOB_CHUNK_BYTES_MAX));
        if chunk.len() as u64 != want {
            return Progress::Failed(format!(
                "chunk of {} bytes where {want} were due",
                chunk.len()
            ));
        }
        self.bytes.extend_from_slice(&chunk);
        if (self.bytes.len() as u64) < total {
            return Progress::Next(ChunkRequest {
                hash: self.hash,
                offset: self.bytes.len() as u64,
                len: BLOB_CHUNK_BYTES_MAX,
            });
        }
        let got = BlobHash::of(&self.bytes);
        if got != self.hash {
            return Progress::Failed(format!("bytes hash to {got}, not {}", self.hash));
        }
        Progress::Done(std::mem::take(&mut self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_ones_are_refused() {
        let req = ChunkRequest {
            hash: BlobHash::of(b"x"),
            offset: 7,
            len: 100,
        };
        assert_eq!(ChunkRequest::decode(&req.encode()), Ok(req));
        assert!(ChunkRequest::decode(b"short").is_err());
        let mut long = req.encode();
        long.push(0);
        assert!(ChunkRequest::decode(&long).is_err());
        let mut huge = req;
        huge.len = BLOB_CHUNK_BYTES_MAX + 1;
        assert!(ChunkRequest::decode(&huge.encode()).is_err());
        assert!(ChunkResponse::decode(&[9]).is_err());
        assert!(ChunkResponse::decode(&[]).is_err());
    }

    #[test]
    fn a_multi_chunk_blob_assembles_and_verifies() {
        let blob: Vec<u8> = (0..(2 * BLOB_CHUNK_BYTES_MAX as usize + 10))
            .map(|i| i as u8)
            .collect();
        let hash = BlobHash::of(&blob);
        let mut a = Assembly::new(hash, 64 << 20);
        let mut req = a.first();
        let mut rounds = 0;
        loop {
            let resp = ChunkResponse::decode(&serve(&req, Some(&blob)).encode()).unwrap();
            rounds += 1;
            match a.accept(resp) {
                Progress::Next(r) => req = r,
                Progress::Done(bytes) => {
                    assert_eq!(bytes, blob);
                    break;
                }
                Progress::NotHeld | Progress::Refused => panic!("the blob is held and served"),
                Progress::Failed(why) => panic!("{why}"),
            }
        }
        assert_eq!(rounds, 3);
    }

    #[test]
    fn tampered_or_oversized_blobs_fail() {
        let blob = b"the real photo".to_vec();
        let mut a = Assembly::new(BlobHash::of(&blob), 1000);
        let forged = ChunkResponse::Chunk {
            total: blob.len() as u64,
            bytes: b"the fake photo".to_vec(),
        };
        assert!(matches!(a.accept(forged), Progress::Failed(w) if w.contains("hash")));
        let mut absent = Assembly::new(BlobHash::of(&blob), 1000);
        assert_eq!(
            absent.accept(serve(&absent.first(), None)),
            Progress::NotHeld
        );
        let mut small = Assembly::new(BlobHash::of(&blob), 4);
        assert!(
            matches!(small.accept(serve(&small.first(), Some(&blob))), Progress::Failed(w) if w.contains("exceeds"))
        );
    }
}
