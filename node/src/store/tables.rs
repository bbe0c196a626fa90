//! The redb tables of schema version 3, and the encoding of the schema
//! version itself.
//!
//! Table names and key/value types are part of the file format: renaming one,
//! or changing its types, is a schema change that needs a new
//! [`SCHEMA_VERSION`] and a migration. `docs/storage.md` describes each table.

use redb::{ReadTransaction, ReadableDatabase, TableDefinition, TableError, WriteTransaction};

/// The schema version this binary writes, and the newest it can read.
///
/// Stored in the `meta` table under `"schema_version"` as a little-endian
/// `u32`. A store with a larger number is refused without being modified.
pub const SCHEMA_VERSION: u32 = 3;

/// Key of the schema version in [`META`].
pub(crate) const SCHEMA_VERSION_KEY: &str = "schema_version";

/// Store-wide settings: the schema version, and small values callers keep
/// with [`Batch::put_meta`](super::Batch::put_meta).
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Document id → the document's compacted snapshot (`AutoCommit::save`).
pub(crate) const DOC_SNAPSHOTS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("doc_snapshots");

/// (document id, chunk sequence number) → an incremental change chunk
/// (`AutoCommit::save_after`). Sequence numbers rise per document, so a range
/// scan returns the chunks in the order they were written.
pub(crate) const DOC_CHANGES: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("doc_changes");

/// Document id → the document's bookkeeping record: sizes, next chunk
/// sequence number and heads at the last write. Its presence is what makes a
/// document exist.
pub(crate) const DOC_INFO: TableDefinition<&str, &[u8]> = TableDefinition::new("doc_info");

/// (peer id, document id) → encoded Automerge sync state.
pub(crate) const SYNC_STATES: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("sync_states");

/// Change hash → the author's Ed25519 key (32 bytes) and signature of the
/// change (64 bytes). Forwarded with the change so relays cannot forge writes.
pub(crate) const SIGNATURES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("signatures");

/// Author key → the author's admission credential, forwarded with its
/// changes so nodes that never met the author can check its write rights.
pub(crate) const AUTHORS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("authors");

/// Peer id → the caller's record about that peer.
pub(crate) const PEERS: TableDefinition<&str, &[u8]> = TableDefinition::new("peers");

/// The names of every table of this schema, in the order they are checked.
pub(crate) const TABLE_NAMES: [&str; 8] = [
    "meta",
    "doc_snapshots",
    "doc_changes",
    "doc_info",
    "sync_states",
    "peers",
    "signatures",
    "authors",
];

/// Encodes a schema version for the `meta` table.
pub(crate) fn encode_schema_version(version: u32) -> [u8; 4] {
    version.to_le_bytes()
}

/// Decodes a schema version; `None` if the value is not exactly four bytes.
pub(crate) fn decode_schema_version(bytes: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = bytes.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

/// Creates every table of the schema in `txn`.
///
/// Done once, at creation: a read transaction cannot open a table that was
/// never created, so every table must exist before the first read.
pub(crate) fn create_all(txn: &WriteTransaction) -> Result<(), TableError> {
    txn.open_table(META)?;
    txn.open_table(DOC_SNAPSHOTS)?;
    txn.open_table(DOC_CHANGES)?;
    txn.open_table(DOC_INFO)?;
    txn.open_table(SYNC_STATES)?;
    txn.open_table(PEERS)?;
    txn.open_table(SIGNATURES)?;
    txn.open_table(AUTHORS)?;
    Ok(())
}

/// Checks that every table of the schema exists with its key and value types.
///
/// Returns the name of the first table that is missing or has other types,
/// with redb's error.
pub(crate) fn check_all(txn: &ReadTransaction) -> Result<(), (&'static str, TableError)> {
    fn check<K: redb::Key + 'static, V: redb::Value + 'static>(
        txn: &ReadTransaction,
        name: &'static str,
        definition: TableDefinition<K, V>,
    ) -> Result<(), (&'static str, TableError)> {
        txn.open_table(definition)
            .map(drop)
            .map_err(|err| (name, err))
    }
    check(txn, TABLE_NAMES[0], META)?;
    check(txn, TABLE_NAMES[1], DOC_SNAPSHOTS)?;
    check(txn, TABLE_NAMES[2], DOC_CHANGES)?;
    check(txn, TABLE_NAMES[3], DOC_INFO)?;
    check(txn, TABLE_NAMES[4], SYNC_STATES)?;
    check(txn, TABLE_NAMES[5], PEERS)?;
    check(txn, TABLE_NAMES[6], SIGNATURES)?;
    check(txn, TABLE_NAMES[7], AUTHORS)?;
    Ok(())
}

/// Reads the schema version recorded in `db`, telling an absent entry from a
/// malformed one so the caller can name the problem.
pub(crate) fn read_schema_version(
    db: &impl ReadableDatabase,
) -> Result<SchemaVersionRead, redb::Error> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(META) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(SchemaVersionRead::Missing),
        Err(err) => return Err(err.into()),
    };
    let Some(value) = table.get(SCHEMA_VERSION_KEY)? else {
        return Ok(SchemaVersionRead::Missing);
    };
    let bytes = value.value();
    Ok(match decode_schema_version(bytes) {
        Some(version) => SchemaVersionRead::Found(version),
        None => SchemaVersionRead::Malformed(bytes.len()),
    })
}

/// What [`read_schema_version`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchemaVersionRead {
    /// No `meta` table, or no `schema_version` in it.
    Missing,
    /// A well-formed version.
    Found(u32),
    /// A value of this many bytes instead of four.
    Malformed(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{Database, TableHandle};

    #[test]
    fn table_names_are_the_file_format() {
        // These names are on disk in every store; changing one orphans data.
        assert_eq!(META.name(), "meta");
        assert_eq!(DOC_SNAPSHOTS.name(), "doc_snapshots");
        assert_eq!(DOC_CHANGES.name(), "doc_changes");
        assert_eq!(DOC_INFO.name(), "doc_info");
        assert_eq!(SYNC_STATES.name(), "sync_states");
        assert_eq!(PEERS.name(), "peers");
    }

    #[test]
    fn schema_version_is_four_little_endian_bytes() {
        assert_eq!(encode_schema_version(1), [1, 0, 0, 0]);
        assert_eq!(decode_schema_version(&[2, 1, 0, 0]), Some(258));
        assert_eq!(decode_schema_version(&[1, 0, 0]), None);
        assert_eq!(decode_schema_version(&[1, 0, 0, 0, 0]), None);
    }

    #[test]
    fn check_all_names_the_missing_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("t.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap();
        txn.open_table(DOC_SNAPSHOTS).unwrap();
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        let (name, err) = check_all(&read).unwrap_err();
        assert_eq!(name, "doc_changes");
        assert!(matches!(err, TableError::TableDoesNotExist(_)));
        drop(read);

        let txn = db.begin_write().unwrap();
        create_all(&txn).unwrap();
        txn.commit().unwrap();
        assert!(check_all(&db.begin_read().unwrap()).is_ok());
    }

    #[test]
    fn schema_version_reads_missing_found_and_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("t.redb")).unwrap();
        assert_eq!(
            read_schema_version(&db).unwrap(),
            SchemaVersionRead::Missing
        );

        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap();
        txn.commit().unwrap();
        assert_eq!(
            read_schema_version(&db).unwrap(),
            SchemaVersionRead::Missing
        );

        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_VERSION_KEY, &[7u8, 0][..])
            .unwrap();
        txn.commit().unwrap();
        assert_eq!(
            read_schema_version(&db).unwrap(),
            SchemaVersionRead::Malformed(2)
        );

        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_VERSION_KEY, &encode_schema_version(1)[..])
            .unwrap();
        txn.commit().unwrap();
        assert_eq!(
            read_schema_version(&db).unwrap(),
            SchemaVersionRead::Found(1)
        );
    }
}
