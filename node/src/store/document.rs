//! How a document is kept: a snapshot plus incremental change chunks, the
//! bookkeeping record beside them ([`DocumentInfo`] and its encoding), the
//! compaction policy, and the verified reassembly of an `AutoCommit`.

use automerge::{AutoCommit, ChangeHash};

use super::error::StoreError;

/// Change chunks below this many bytes never ask for compaction (64 KiB).
///
/// Compaction rewrites the whole snapshot; for a small document that costs
/// more than the few chunks it saves, so the floor keeps fresh documents from
/// being rewritten on every write.
pub const COMPACTION_CHANGES_BYTES_MIN: u64 = 64 * 1024;

/// What the store knows about a document without loading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInfo {
    /// Size of the stored snapshot in bytes; 0 before the first compaction.
    pub snapshot_bytes: u64,
    /// Total size of the change chunks written since the last snapshot.
    pub changes_bytes: u64,
    /// Number of change chunks written since the last snapshot.
    pub change_chunks: u64,
    /// The document's heads at the last write, sorted.
    pub heads: Vec<ChangeHash>,
}

impl DocumentInfo {
    /// True when the change chunks have outgrown the snapshot (and exceed
    /// [`COMPACTION_CHANGES_BYTES_MIN`]), so the caller should compact: load
    /// the document, `save()` it and hand the result to
    /// [`Batch::put_snapshot`](super::Batch::put_snapshot).
    ///
    /// Incremental chunks are several times larger than the same changes in a
    /// snapshot, and loading replays every chunk; once they outweigh the
    /// snapshot, rewriting it roughly halves both size and load time, and the
    /// cost of a rewrite stays proportional to the writes that earned it.
    pub fn wants_compaction(&self) -> bool {
        self.changes_bytes > self.snapshot_bytes
            && self.changes_bytes >= COMPACTION_CHANGES_BYTES_MIN
    }
}

/// The `doc_info` value: [`DocumentInfo`] plus the next chunk sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocRecord {
    /// The public part.
    pub(crate) info: DocumentInfo,
    /// Sequence number the next change chunk is stored under.
    pub(crate) next_chunk_seq: u64,
}

/// First byte of every encoded [`DocRecord`]; lets a later schema change the
/// layout without guessing.
const RECORD_FORMAT: u8 = 1;
/// Bytes before the heads: format, four u64 fields, heads count.
const RECORD_FIXED_BYTES: usize = 1 + 4 * 8 + 4;
/// Bytes per head.
const HEAD_BYTES: usize = 32;

impl DocRecord {
    /// The record of a document that has never been written.
    pub(crate) fn empty() -> DocRecord {
        DocRecord {
            info: DocumentInfo {
                snapshot_bytes: 0,
                changes_bytes: 0,
                change_chunks: 0,
                heads: Vec::new(),
            },
            next_chunk_seq: 0,
        }
    }

    /// Encodes the record: format byte, then little-endian `snapshot_bytes`,
    /// `changes_bytes`, `change_chunks`, `next_chunk_seq` (u64 each), heads
    /// count (u32) and the heads' 32 bytes each.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_FIXED_BYTES + HEAD_BYTES * self.info.heads.len());
        out.push(RECORD_FORMAT);
        out.extend_from_slice(&self.info.snapshot_bytes.to_le_bytes());
        out.extend_from_slice(&self.info.changes_bytes.to_le_bytes());
        out.extend_from_slice(&self.info.change_chunks.to_le_bytes());
        out.extend_from_slice(&self.next_chunk_seq.to_le_bytes());
        // A document has a handful of heads; u32 cannot overflow in practice,
        // and saturating keeps the encoder total (decode would then refuse it).
        let count = u32::try_from(self.info.heads.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for head in &self.info.heads {
            out.extend_from_slice(&head.0);
        }
        out
    }

    /// Decodes a record of document `id`, refusing anything malformed.
    pub(crate) fn decode(id: &str, bytes: &[u8]) -> Result<DocRecord, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptDocument {
            id: id.to_owned(),
            reason,
        };
        let mut reader = Reader { bytes };
        let format = reader
            .take::<1>()
            .ok_or_else(|| corrupt("its info record is empty".into()))?[0];
        if format != RECORD_FORMAT {
            return Err(corrupt(format!(
                "its info record has format {format}, expected {RECORD_FORMAT}"
            )));
        }
        let short = || {
            corrupt(format!(
                "its info record is {} bytes, too short",
                bytes.len()
            ))
        };
        let snapshot_bytes = reader.u64().ok_or_else(short)?;
        let changes_bytes = reader.u64().ok_or_else(short)?;
        let change_chunks = reader.u64().ok_or_else(short)?;
        let next_chunk_seq = reader.u64().ok_or_else(short)?;
        let count = reader.u32().ok_or_else(short)?;
        let expected = usize::try_from(count)
            .ok()
            .and_then(|count| count.checked_mul(HEAD_BYTES))
            .and_then(|heads| heads.checked_add(RECORD_FIXED_BYTES));
        if expected != Some(bytes.len()) {
            return Err(corrupt(format!(
                "its info record is {} bytes but declares {count} heads",
                bytes.len()
            )));
        }
        let mut heads = Vec::with_capacity(reader.bytes.len() / HEAD_BYTES);
        while let Some(head) = reader.take::<HEAD_BYTES>() {
            heads.push(ChangeHash(head));
        }
        Ok(DocRecord {
            info: DocumentInfo {
                snapshot_bytes,
                changes_bytes,
                change_chunks,
                heads,
            },
            next_chunk_seq,
        })
    }
}

/// A cursor over a byte slice for [`DocRecord::decode`].
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.bytes.split_first_chunk::<N>()?;
        self.bytes = rest;
        Some(*head)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
}

/// Sorts and deduplicates heads, the form in which they are recorded and
/// compared.
pub(crate) fn normalise_heads(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut heads = heads.to_vec();
    heads.sort_unstable();
    heads.dedup();
    heads
}

/// Rebuilds document `id` from its snapshot and chunks, and checks the result
/// against `record`.
///
/// The snapshot and chunks are concatenated and loaded in one strict
/// `AutoCommit::load`, which fails on an undecodable chunk instead of skipping
/// it as `load_incremental` does. The heads check then catches what decoding
/// cannot: a chunk that is missing, or a write whose chunk never made it.
pub(crate) fn assemble(
    id: &str,
    record: &DocRecord,
    snapshot: Option<&[u8]>,
    chunks: &[Vec<u8>],
) -> Result<AutoCommit, StoreError> {
    let corrupt = |reason: String| StoreError::CorruptDocument {
        id: id.to_owned(),
        reason,
    };
    let info = &record.info;
    let snapshot_len = snapshot.map_or(0, <[u8]>::len);
    if snapshot_len as u64 != info.snapshot_bytes {
        return Err(corrupt(format!(
            "its snapshot is {snapshot_len} bytes but {} were recorded",
            info.snapshot_bytes
        )));
    }
    let changes_len: usize = chunks.iter().map(Vec::len).sum();
    if chunks.len() as u64 != info.change_chunks || changes_len as u64 != info.changes_bytes {
        return Err(corrupt(format!(
            "it has {} change chunks of {changes_len} bytes but {} chunks of {} bytes were recorded",
            chunks.len(),
            info.change_chunks,
            info.changes_bytes
        )));
    }

    let mut all = Vec::with_capacity(snapshot_len + changes_len);
    all.extend_from_slice(snapshot.unwrap_or_default());
    for chunk in chunks {
        all.extend_from_slice(chunk);
    }
    let mut doc = AutoCommit::load(&all)
        .map_err(|err| corrupt(format!("its stored changes do not decode: {err}")))?;

    let loaded = normalise_heads(&doc.get_heads());
    if loaded != info.heads {
        return Err(corrupt(format!(
            "loading gives heads [{}] but the last write recorded [{}]; a change chunk is missing or damaged",
            join_heads(&loaded),
            join_heads(&info.heads)
        )));
    }
    Ok(doc)
}

fn join_heads(heads: &[ChangeHash]) -> String {
    heads
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{ROOT, ReadDoc, transaction::Transactable};
    use proptest::prelude::*;

    fn info(snapshot_bytes: u64, changes_bytes: u64) -> DocumentInfo {
        DocumentInfo {
            snapshot_bytes,
            changes_bytes,
            change_chunks: 1,
            heads: vec![],
        }
    }

    #[test]
    fn compaction_wanted_only_when_changes_outgrow_snapshot_and_floor() {
        assert!(!info(0, 1000).wants_compaction(), "below the floor");
        assert!(info(0, COMPACTION_CHANGES_BYTES_MIN).wants_compaction());
        assert!(
            !info(1 << 20, 1 << 19).wants_compaction(),
            "snapshot is larger"
        );
        assert!(info(1 << 20, (1 << 20) + 1).wants_compaction());
    }

    #[test]
    fn record_round_trips() {
        let record = DocRecord {
            info: DocumentInfo {
                snapshot_bytes: 10,
                changes_bytes: 20,
                change_chunks: 3,
                heads: vec![ChangeHash([1; 32]), ChangeHash([2; 32])],
            },
            next_chunk_seq: 7,
        };
        let bytes = record.encode();
        assert_eq!(bytes.len(), RECORD_FIXED_BYTES + 64);
        assert_eq!(DocRecord::decode("d", &bytes).unwrap(), record);
        assert_eq!(
            DocRecord::decode("d", &DocRecord::empty().encode()).unwrap(),
            DocRecord::empty()
        );
    }

    #[test]
    fn malformed_records_are_corrupt_documents() {
        let good = DocRecord::empty().encode();
        for bad in [
            vec![],
            vec![RECORD_FORMAT],
            vec![9; RECORD_FIXED_BYTES],
            good[..good.len() - 1].to_vec(),
            [good.as_slice(), &[0]].concat(),
        ] {
            let err = DocRecord::decode("d", &bad).unwrap_err();
            assert!(matches!(err, StoreError::CorruptDocument { ref id, .. } if id == "d"));
        }
        // A heads count that would overflow a size computation.
        let mut huge = good.clone();
        huge[RECORD_FIXED_BYTES - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(DocRecord::decode("d", &huge).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = DocRecord::decode("d", &bytes);
        }
    }

    fn doc_with(keys: &[&str]) -> AutoCommit {
        let mut doc = AutoCommit::new();
        for key in keys {
            doc.put(ROOT, *key, 1).unwrap();
            doc.commit();
        }
        doc
    }

    fn record_for(doc: &mut AutoCommit, snapshot: &[u8], chunks: &[Vec<u8>]) -> DocRecord {
        DocRecord {
            info: DocumentInfo {
                snapshot_bytes: snapshot.len() as u64,
                changes_bytes: chunks.iter().map(Vec::len).sum::<usize>() as u64,
                change_chunks: chunks.len() as u64,
                heads: normalise_heads(&doc.get_heads()),
            },
            next_chunk_seq: chunks.len() as u64,
        }
    }

    #[test]
    fn snapshot_plus_chunks_reassemble() {
        let mut doc = doc_with(&["a"]);
        let snapshot = doc.save();
        let heads = doc.get_heads();
        doc.put(ROOT, "b", 2).unwrap();
        doc.commit();
        let chunk = doc.save_after(&heads);
        let chunks = vec![chunk];
        let record = record_for(&mut doc, &snapshot, &chunks);
        let loaded = assemble("d", &record, Some(&snapshot), &chunks).unwrap();
        assert!(loaded.get(ROOT, "a").unwrap().is_some());
        assert!(loaded.get(ROOT, "b").unwrap().is_some());
    }

    #[test]
    fn missing_last_chunk_is_caught_by_heads() {
        let mut doc = AutoCommit::new();
        let mut chunks = vec![];
        let mut heads = vec![];
        for key in ["a", "b", "c"] {
            doc.put(ROOT, key, 1).unwrap();
            doc.commit();
            chunks.push(doc.save_after(&heads));
            heads = doc.get_heads();
        }
        let mut record = record_for(&mut doc, &[], &chunks);
        let dropped = chunks.pop().unwrap();
        record.info.change_chunks -= 1;
        record.info.changes_bytes -= dropped.len() as u64;
        let err = assemble("d", &record, None, &chunks).unwrap_err();
        let StoreError::CorruptDocument { reason, .. } = err else {
            panic!("wrong error {err:?}")
        };
        assert!(reason.contains("heads"), "{reason}");
    }

    #[test]
    fn garbage_chunk_is_a_corrupt_document() {
        let mut doc = doc_with(&["a"]);
        let mut chunks = vec![doc.save_after(&[])];
        chunks.push(b"definitely not automerge".to_vec());
        let record = record_for(&mut doc, &[], &chunks);
        let err = assemble("d", &record, None, &chunks).unwrap_err();
        assert!(matches!(err, StoreError::CorruptDocument { .. }), "{err:?}");
    }

    #[test]
    fn size_mismatch_is_a_corrupt_document() {
        let mut doc = doc_with(&["a"]);
        let chunks = vec![doc.save_after(&[])];
        let mut record = record_for(&mut doc, &[], &chunks);
        record.info.changes_bytes += 1;
        assert!(assemble("d", &record, None, &chunks).is_err());
        record.info.changes_bytes -= 1;
        record.info.snapshot_bytes = 5;
        assert!(assemble("d", &record, None, &chunks).is_err());
    }

    #[test]
    fn empty_document_loads_empty() {
        let record = DocRecord::empty();
        let mut doc = assemble("d", &record, None, &[]).unwrap();
        assert!(doc.get_heads().is_empty());
    }
}
