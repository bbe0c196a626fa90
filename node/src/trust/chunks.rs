//! What a sync message's changes may be before Automerge reads them: the
//! chunks Automerge's sync protocol sends, nothing else.
//!
//! `AutoCommit::load_incremental` takes any Automerge chunk: whole
//! documents, changes, compressed changes and, since 0.12, bundles.
//! Automerge's sync protocol sends change chunks, and (version 2 messages,
//! to a peer syncing a document for the first time) one whole document
//! chunk; it never sends compressed changes or bundles. Those two kinds
//! are only a way in for a peer's bytes to reach more decoding: a 3 KB
//! bundle found by fuzzing makes Automerge 0.12 allocate 8 GiB while
//! parsing it (an allocation failure aborts the process; no `catch_unwind`
//! helps). So the node walks the chunk headers first and refuses a message
//! holding any other kind, before Automerge sees a byte of it.

/// The first bytes of every Automerge chunk.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Magic bytes, checksum, chunk type.
const HEADER_FIXED_BYTES: usize = 4 + 4 + 1;
/// Chunk type of a whole document, as version 2 sync messages carry it.
const DOCUMENT_CHUNK: u8 = 0;
/// Chunk type of a single uncompressed change.
const CHANGE_CHUNK: u8 = 1;

/// Ok when `bytes` is one or more whole change or document chunks, back to
/// back; else what is wrong, for the refusal.
pub fn only_sync_chunks(bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Err("an empty chunk".into());
    }
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some((fixed, after)) = rest.split_first_chunk::<HEADER_FIXED_BYTES>() else {
            return Err("a chunk cut short in its header".into());
        };
        if fixed[..4] != MAGIC {
            return Err("a chunk without Automerge's magic bytes".into());
        }
        let kind = fixed[8];
        if kind != CHANGE_CHUNK && kind != DOCUMENT_CHUNK {
            return Err(format!(
                "a chunk of type {kind} where only changes (type {CHANGE_CHUNK}) and documents (type {DOCUMENT_CHUNK}) are taken"
            ));
        }
        let (len, after) = uleb128(after).ok_or("a chunk whose length does not decode")?;
        let len = usize::try_from(len).map_err(|_| "a chunk longer than memory")?;
        if len > after.len() {
            return Err(format!(
                "a chunk that claims {len} bytes where {} remain",
                after.len()
            ));
        }
        rest = &after[len..];
    }
    Ok(())
}

/// An unsigned LEB128 number of at most 10 bytes and what follows it.
fn uleb128(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().take(10).enumerate() {
        let part = u64::from(b & 0x7f);
        value |= part.checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use automerge::{AutoCommit, ROOT, transaction::Transactable};

    use super::*;

    fn change_bytes() -> Vec<u8> {
        let mut d = AutoCommit::new();
        d.put(ROOT, "k", "v").unwrap();
        d.commit();
        d.put(ROOT, "k", "w").unwrap();
        d.commit();
        d.get_changes(&[])
            .iter()
            .flat_map(|c| c.raw_bytes().to_vec())
            .collect()
    }

    #[test]
    fn change_and_document_chunks_pass() {
        only_sync_chunks(&change_bytes()).unwrap();
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "k", "v").unwrap();
        only_sync_chunks(&doc.save()).unwrap();
    }

    #[test]
    fn bundles_compressed_changes_and_broken_chunks_are_refused() {
        let mut compressed = change_bytes();
        compressed[8] = 2;
        assert!(
            only_sync_chunks(&compressed)
                .unwrap_err()
                .contains("type 2")
        );
        let mut bundle = change_bytes();
        bundle[8] = 3;
        assert!(only_sync_chunks(&bundle).unwrap_err().contains("type 3"));
        let good = change_bytes();
        assert!(only_sync_chunks(&good[..good.len() - 1]).is_err());
        assert!(only_sync_chunks(&good[..5]).is_err());
        let mut garbage = good.clone();
        garbage[0] = 0;
        assert!(only_sync_chunks(&garbage).is_err());
        assert!(only_sync_chunks(&[]).is_err());
        let mut trailing = good;
        trailing.push(1);
        assert!(only_sync_chunks(&trailing).is_err());
    }
}
