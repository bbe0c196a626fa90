//! roster-private: the personal data of members. This document is written and
//! read only on its community's node; the node never lists, syncs or exports it.
//!
//! Layout: root key `private/<member id>` holding `real_name, phone, id_number?`.

use automerge::{ReadDoc, transaction::Transactable};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, SchemaError, ValidationError};
use crate::ids::MemberId;
use crate::report::check_line;
use crate::schema::{MapRef, MapWriter, entity_ids, entity_obj};

const PREFIX: &str = "private";

/// Personal data of one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateRecord {
    /// Legal name.
    pub real_name: String,
    /// Phone number.
    pub phone: String,
    /// Resident ID number, if collected.
    pub id_number: Option<String>,
}

fn key(id: &MemberId) -> String {
    format!("{PREFIX}/{id}")
}

/// Checks a record as [`put`] will, without a document: an import validates
/// every row before it writes any.
pub fn check(r: &PrivateRecord) -> Result<(), ValidationError> {
    check_line("real name", &r.real_name, 60, false)?;
    check_line("phone", &r.phone, 30, false)?;
    if !r
        .phone
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+- ".contains(&b))
    {
        return Err(ValidationError::BadPhone {
            phone: r.phone.clone(),
        });
    }
    if let Some(n) = &r.id_number {
        check_line("ID number", n, 30, false)?;
    }
    Ok(())
}

/// Writes (or replaces) a member's personal data.
pub fn put<T: Transactable + ReadDoc>(
    doc: &mut T,
    id: &MemberId,
    r: &PrivateRecord,
) -> Result<(), ModelError> {
    check(r)?;
    let k = key(id);
    let mut w = match entity_obj(doc, &k)? {
        Some(obj) => MapWriter::open(doc, obj),
        None => MapWriter::create_entity(doc, &k)?,
    };
    w.str("real_name", &r.real_name)?
        .str("phone", &r.phone)?
        .opt_str("id_number", r.id_number.as_deref())?;
    Ok(())
}

/// Reads a member's personal data.
pub fn get<D: ReadDoc>(doc: &D, id: &MemberId) -> Result<Option<PrivateRecord>, SchemaError> {
    let Some(m) = MapRef::entity(doc, &key(id))? else {
        return Ok(None);
    };
    Ok(Some(PrivateRecord {
        real_name: m.str("real_name")?,
        phone: m.str("phone")?,
        id_number: m.opt_str("id_number")?,
    }))
}

/// Every member's personal data, in member id order. A purge rebuilds the
/// document from this, less the members whose data goes.
pub fn list<D: ReadDoc>(doc: &D) -> Result<Vec<(MemberId, PrivateRecord)>, SchemaError> {
    let mut out = Vec::new();
    for raw in entity_ids(doc, PREFIX) {
        let id = MemberId::parse(&raw).map_err(|e| SchemaError {
            path: format!("{PREFIX}/{raw}"),
            why: e.to_string(),
        })?;
        out.extend(get(doc, &id)?.map(|r| (id, r)));
    }
    Ok(out)
}
