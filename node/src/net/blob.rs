//! `/yizhan/blob/2`: blobs requested by BLAKE3 hash, in verified ranges.
//!
//! A request names a hash and a byte range; the response carries a status,
//! the blob's total size and the range in BLAKE3 verified-streaming form
//! (`bao-tree`, 16 KiB chunk groups): the hash pairs that link the range to
//! the blob's hash, interleaved with the bytes. The fetcher checks every
//! 16 KiB group against the hash as it decodes it, so a range either
//! verifies or is refused whole, and what it has verified it keeps: an
//! interrupted transfer resumes where it stopped ([`Assembly::resume`]).
//!
//! The size a peer claims is untrusted until the blob's last chunk verifies
//! under it, so the first request of a transfer also asks for that chunk.
//! The hash in documents stays the plain BLAKE3 hash of the bytes: it is the
//! root of the same tree.

use std::io::Cursor;

use bao_tree::io::round_up_to_chunks;
use bao_tree::io::sync::{
    DecodeResponseIter, Outboard as _, OutboardMut as _, ReadAt, encode_ranges_validated,
    valid_ranges,
};
use bao_tree::io::{BaoContentItem, Leaf, Parent};
use bao_tree::{BaoTree, BlockSize, ByteRanges, ChunkNum, ChunkRanges};
use thiserror::Error;

use crate::store::BlobHash;

/// Size of the groups of 1 KiB BLAKE3 chunks that are verified as one
/// (16 KiB): the tree stores one hash pair per group, 0.4 % of the blob.
pub const BLOB_BLOCK: BlockSize = crate::store::TREE_BLOCK;
/// [`BLOB_BLOCK`] in bytes; request offsets are multiples of it.
pub const BLOB_GROUP_BYTES: u64 = 16 * 1024;
/// Largest range a request may ask for.
pub const BLOB_CHUNK_BYTES_MAX: u32 = 1024 * 1024;
/// The range this node asks for at a time (256 KiB): what a dropped
/// connection can cost again, and still few round trips per photo.
pub const BLOB_FETCH_BYTES: u32 = 256 * 1024;
/// Exact size of a request: hash, offset, length, flags.
pub const BLOB_REQUEST_BYTES: usize = 32 + 8 + 4 + 1;
/// Response header: status byte and total size.
pub const BLOB_RESPONSE_HEADER_BYTES: usize = 1 + 8;
/// Room for the hash pairs of a response: 64 B per pair, at most 63 inside
/// a 1 MiB range, 64 on each path from the root and the last chunk's
/// proof (1 KiB and its path); 16 KiB bounds them with room to spare.
pub const BLOB_PROOF_BYTES_MAX: usize = 16 * 1024;
/// Largest response on the wire.
pub const BLOB_RESPONSE_BYTES_MAX: usize =
    BLOB_RESPONSE_HEADER_BYTES + BLOB_CHUNK_BYTES_MAX as usize + BLOB_PROOF_BYTES_MAX;

/// Request flag: also send the last chunk, which proves the total size.
const PROVE_SIZE: u8 = 1;

/// A range request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRequest {
    /// The blob.
    pub hash: BlobHash,
    /// First byte wanted, a multiple of [`BLOB_GROUP_BYTES`].
    pub offset: u64,
    /// How many bytes, at most [`BLOB_CHUNK_BYTES_MAX`].
    pub len: u32,
    /// Also send the blob's last chunk, to prove its size.
    pub prove_size: bool,
}

/// What a responder says about a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkResponse {
    /// The range in verified-streaming form, and the blob's total size.
    Chunk {
        /// Total size of the blob.
        total: u64,
        /// Hash pairs and bytes of the requested range, in tree order.
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
        out.push(if self.prove_size { PROVE_SIZE } else { 0 });
        out
    }

    /// Decodes a request, refusing any other length, an unaligned offset,
    /// an oversized range or unknown flags.
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
        let [flags] = rest else {
            return Err(BlobWireError::Malformed("request is not 45 bytes long"));
        };
        let len = u32::from_be_bytes(*len);
        if len == 0 || len > BLOB_CHUNK_BYTES_MAX {
            return Err(BlobWireError::Malformed("range length outside 1..=1 MiB"));
        }
        let offset = u64::from_be_bytes(*offset);
        if offset % BLOB_GROUP_BYTES != 0 {
            return Err(BlobWireError::Malformed(
                "range offset is not a multiple of 16 KiB",
            ));
        }
        if flags & !PROVE_SIZE != 0 {
            return Err(BlobWireError::Malformed("unknown request flags"));
        }
        Ok(ChunkRequest {
            hash: BlobHash::from_bytes(*hash),
            offset,
            len,
            prove_size: flags & PROVE_SIZE != 0,
        })
    }

    /// The BLAKE3 chunks the request asks for. A range past the end of the
    /// blob selects its last chunk, which is how the size is proven.
    fn ranges(&self) -> ChunkRanges {
        let end = self.offset.saturating_add(u64::from(self.len));
        let mut ranges = round_up_to_chunks(&ByteRanges::from(self.offset..end));
        if self.prove_size {
            ranges |= ChunkRanges::from(ChunkNum(u64::MAX)..);
        }
        ranges
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
                let (total, range) = rest
                    .split_first_chunk::<8>()
                    .ok_or(BlobWireError::Malformed("range response lacks its total"))?;
                if range.len() > BLOB_CHUNK_BYTES_MAX as usize + BLOB_PROOF_BYTES_MAX {
                    return Err(BlobWireError::Malformed(
                        "range response larger than allowed",
                    ));
                }
                Ok(ChunkResponse::Chunk {
                    total: u64::from_be_bytes(*total),
                    bytes: range.to_vec(),
                })
            }
            Some((1, [])) => Ok(ChunkResponse::NotFound),
            Some((2, [])) => Ok(ChunkResponse::Refused),
            _ => Err(BlobWireError::Malformed("unknown response status")),
        }
    }
}

/// The verified-streaming tree of a blob: what a responder needs beside the
/// bytes to send ranges a fetcher can check. Its root is the blob's hash.
pub use crate::store::BlobTree;

/// Computes the tree of `bytes` (one BLAKE3 pass).
pub fn blob_tree(bytes: &[u8]) -> BlobTree {
    crate::store::make_tree(bytes)
}

/// Why a held blob cannot be served.
#[derive(Debug, Error)]
#[error("held bytes of blob {hash} do not match its hash: {reason}")]
pub struct ServeError {
    /// The blob.
    pub hash: BlobHash,
    /// What did not match.
    pub reason: String,
}

/// Answers a range request from the blob's bytes and tree, if held. Every
/// group sent is checked against the tree first, so damaged bytes are
/// reported here rather than sent.
pub fn serve(
    req: &ChunkRequest,
    blob: Option<(&[u8], &BlobTree)>,
) -> Result<ChunkResponse, ServeError> {
    let Some((bytes, tree)) = blob else {
        return Ok(ChunkResponse::NotFound);
    };
    encode(req, bytes, bytes.len() as u64, tree)
}

/// Answers a range request from a blob's open file and its tree: only the
/// range is read from the file, and every group is checked
/// against the tree before it is sent, so a damaged file is refused here.
pub fn serve_file(
    req: &ChunkRequest,
    file: &std::fs::File,
    tree: &BlobTree,
) -> Result<ChunkResponse, ServeError> {
    let size = file
        .metadata()
        .map_err(|e| ServeError {
            hash: req.hash,
            reason: e.to_string(),
        })?
        .len();
    encode(req, file, size, tree)
}

fn encode(
    req: &ChunkRequest,
    data: impl ReadAt,
    size: u64,
    tree: &BlobTree,
) -> Result<ChunkResponse, ServeError> {
    let refuse = |reason: String| ServeError {
        hash: req.hash,
        reason,
    };
    if tree.root.as_bytes() != req.hash.as_bytes() || tree.tree.size() != size {
        return Err(refuse("the tree was made from other bytes".into()));
    }
    let mut out =
        Vec::with_capacity((u64::from(req.len).min(size) as usize) + BLOB_PROOF_BYTES_MAX / 4);
    encode_ranges_validated(data, tree, &req.ranges(), &mut out)
        .map_err(|e| refuse(e.to_string()))?;
    Ok(ChunkResponse::Chunk {
        total: size,
        bytes: out,
    })
}

/// What a fetcher keeps of a blob it has not finished: the proven size, the
/// hash pairs it has verified, and the verified bytes from the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    /// The blob's size, proven by its last chunk.
    pub total: u64,
    /// The tree's hash pairs in pre-order; pairs not yet received are zero.
    pub tree: Vec<u8>,
    /// The blob's first bytes.
    pub bytes: Vec<u8>,
}

/// A blob being assembled from verified ranges.
#[derive(Debug)]
pub struct Assembly {
    /// The blob.
    pub hash: BlobHash,
    max: u64,
    /// The tree, once the size is proven; its pairs fill in as they verify.
    tree: Option<BlobTree>,
    /// The verified bytes from the start of the blob.
    bytes: Vec<u8>,
    /// Verified bytes this fetch started from (kept by an earlier one).
    resumed: u64,
    /// Response bytes received by this fetch.
    received: u64,
    /// The request in flight.
    asked: Option<ChunkRequest>,
    /// Bytes asked for per request.
    range_bytes: u32,
}

/// What to do after a response arrived.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// The range verified; ask for the next one.
    Next(ChunkRequest),
    /// All bytes arrived and match the hash.
    Done(Vec<u8>),
    /// The peer does not hold the blob (it may still be fetching it).
    NotHeld,
    /// The peer would not serve it now: its queue of range reads is full,
    /// or it may not share the blob with this node. An answer, not bad bytes.
    Refused,
    /// Give up on this peer for this blob; nothing of the response is kept.
    Failed(String),
}

impl Assembly {
    /// Starts fetching `hash` from nothing, refusing blobs over `max` bytes.
    pub fn new(hash: BlobHash, max: u64) -> Assembly {
        Assembly {
            hash,
            max,
            tree: None,
            bytes: Vec::new(),
            resumed: 0,
            received: 0,
            asked: None,
            range_bytes: BLOB_FETCH_BYTES,
        }
    }

    /// Asks for `bytes` per request instead of [`BLOB_FETCH_BYTES`],
    /// rounded down to whole 16 KiB groups, between one group and
    /// [`BLOB_CHUNK_BYTES_MAX`]. Longer ranges mean fewer round trips and
    /// more bytes fetched again after a cut.
    pub fn with_range_bytes(mut self, bytes: u32) -> Assembly {
        let group = BLOB_GROUP_BYTES as u32;
        self.range_bytes = (bytes - bytes % group).clamp(group, BLOB_CHUNK_BYTES_MAX);
        self
    }

    /// Resumes fetching `hash` from what an earlier fetch kept. The kept
    /// bytes are checked against the kept tree again, since they come from
    /// disk: only the verified groups from the start are used, the rest is
    /// fetched anew. A partial that does not fit is ignored.
    pub fn resume(hash: BlobHash, max: u64, partial: Partial) -> Assembly {
        let mut fresh = Assembly::new(hash, max);
        let tree = BaoTree::new(partial.total, BLOB_BLOCK);
        if partial.total > max || partial.tree.len() as u64 != tree.outboard_size() {
            return fresh;
        }
        let tree = BlobTree {
            root: blake3::Hash::from_bytes(*hash.as_bytes()),
            tree,
            data: partial.tree,
        };
        let mut bytes = partial.bytes;
        bytes.truncate(partial.total as usize);
        let mut verified = 0u64;
        for range in valid_ranges(&tree, &bytes[..], &ChunkRanges::all()) {
            match range {
                Ok(r) if r.start == ChunkNum(verified.div_ceil(1024)) => {
                    verified = r.end.to_bytes().min(partial.total);
                }
                _ => break,
            }
        }
        // Keep whole groups only, so the next request is aligned.
        if verified < partial.total {
            verified -= verified % BLOB_GROUP_BYTES;
        }
        bytes.truncate(verified as usize);
        fresh.resumed = verified;
        fresh.bytes = bytes;
        // No room made here: the size read back from disk is not proven
        // again until a peer's range agrees with it.
        fresh.tree = Some(tree);
        fresh
    }

    /// Makes room for the whole blob once its size is proven (by the hash,
    /// so a peer cannot make this larger than the blob it names, and never
    /// past `max`): the bytes are then copied once, not moved to a larger
    /// buffer every few ranges, which was most of the fetching side's time
    /// (`docs/benchmarks.md`, "Trees in memory").
    fn room_for(&mut self, total: u64) {
        let total = total.min(self.max) as usize;
        if self.bytes.capacity() < total {
            self.bytes.reserve_exact(total - self.bytes.len());
        }
    }

    /// The next request: the range after the verified bytes, with the size
    /// proof while the size is not proven.
    pub fn first(&mut self) -> ChunkRequest {
        let req = ChunkRequest {
            hash: self.hash,
            offset: self.bytes.len() as u64,
            len: self.range_bytes,
            prove_size: self.tree.is_none(),
        };
        self.asked = Some(req);
        req
    }

    /// Bytes verified so far.
    pub fn verified(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Verified bytes this fetch started from.
    pub fn resumed(&self) -> u64 {
        self.resumed
    }

    /// Response bytes received by this fetch.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The proven size and tree, and the verified bytes, borrowed.
    pub fn kept(&self) -> Option<(u64, &[u8], &[u8])> {
        let tree = self.tree.as_ref()?;
        Some((tree.tree.size(), &tree.data, &self.bytes))
    }

    /// The blob's tree once its size is proven, complete once the blob is
    /// ([`Progress::Done`], [`Assembly::complete`]): stored beside the
    /// bytes, it saves the store hashing them again.
    pub fn take_tree(&mut self) -> Option<BlobTree> {
        self.tree.take()
    }

    /// The whole blob, when what was kept already holds all of it.
    pub fn complete(&mut self) -> Option<Vec<u8>> {
        let total = self.tree.as_ref()?.tree.size();
        if self.verified() != total || BlobHash::of(&self.bytes) != self.hash {
            return None;
        }
        Some(std::mem::take(&mut self.bytes))
    }

    /// Takes a response and says what comes next.
    pub fn accept(&mut self, resp: ChunkResponse) -> Progress {
        let (total, encoded) = match resp {
            ChunkResponse::Chunk { total, bytes } => (total, bytes),
            ChunkResponse::NotFound => return Progress::NotHeld,
            ChunkResponse::Refused => return Progress::Refused,
        };
        self.received += (BLOB_RESPONSE_HEADER_BYTES + encoded.len()) as u64;
        let Some(asked) = self.asked.take() else {
            return Progress::Failed("a response nobody asked for".into());
        };
        if total > self.max {
            return Progress::Failed(format!(
                "blob of {total} bytes exceeds the limit of {} bytes",
                self.max
            ));
        }
        if let Some(tree) = &self.tree
            && tree.tree.size() != total
        {
            // The size was proven, by this peer or an earlier one, or read
            // back from disk: one of them is wrong, so nothing kept is
            // trusted any more and the next attempt starts over.
            let proven = tree.tree.size();
            *self = Assembly::new(self.hash, self.max);
            return Progress::Failed(format!(
                "peer claims {total} bytes for a blob proven to hold {proven}"
            ));
        }
        // Work on copies: a range that fails part-way leaves nothing behind.
        let mut tree = self.tree.clone().unwrap_or_else(|| {
            let shape = BaoTree::new(total, BLOB_BLOCK);
            BlobTree {
                root: blake3::Hash::from_bytes(*self.hash.as_bytes()),
                tree: shape,
                data: vec![0; shape.outboard_size() as usize],
            }
        });
        let start = self.bytes.len();
        let mut proven = self.tree.is_some();
        let ranges = asked.ranges();
        let mut cursor = Cursor::new(&encoded[..]);
        let items = DecodeResponseIter::new(tree.root(), tree.tree(), &mut cursor, &ranges)
            .collect::<Vec<_>>();
        for item in items {
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    self.bytes.truncate(start);
                    return Progress::Failed(format!("range does not verify: {e}"));
                }
            };
            match item {
                BaoContentItem::Parent(Parent { node, pair }) => {
                    if let Err(e) = tree.save(node, &pair) {
                        self.bytes.truncate(start);
                        return Progress::Failed(format!("hash pair out of place: {e}"));
                    }
                }
                BaoContentItem::Leaf(Leaf { offset, data }) => {
                    let end = offset + data.len() as u64;
                    if end == total {
                        proven = true;
                    }
                    if offset == self.bytes.len() as u64 {
                        self.bytes.extend_from_slice(&data);
                    } else if end != total {
                        // Only the size proof may stand apart from the range.
                        self.bytes.truncate(start);
                        return Progress::Failed(format!("bytes at {offset} out of order"));
                    }
                }
            }
        }
        let due = asked.offset.saturating_add(u64::from(asked.len)).min(total);
        let trailing = cursor.position() != encoded.len() as u64;
        // More than asked is fine when it is the blob's end: a size proof
        // right after the range joins it.
        if !proven || (self.bytes.len() as u64) < due || trailing {
            self.bytes.truncate(start);
            return Progress::Failed(format!(
                "range short or overlong: {} bytes of {due} verified{}{}",
                self.bytes.len(),
                if proven { "" } else { ", size unproven" },
                if trailing { ", bytes left over" } else { "" },
            ));
        }
        self.tree = Some(tree);
        if (self.bytes.len() as u64) < total {
            self.room_for(total);
            return Progress::Next(self.first());
        }
        // Every group verified against the hash already; the whole-blob
        // check costs one more pass and guards against a library bug.
        let got = BlobHash::of(&self.bytes);
        if got != self.hash {
            self.bytes.clear();
            self.tree = None;
            return Progress::Failed(format!("bytes hash to {got}, not {}", self.hash));
        }
        Progress::Done(std::mem::take(&mut self.bytes))
    }
}

#[cfg(test)]
mod tests;
