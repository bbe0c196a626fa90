//! `yizhan doc export`: a document's Automerge bytes, for other Automerge
//! tools. `docs/storage.md` ("Reading an exported document") describes the
//! layout such a reader finds.

use crdt_model::{DocKind, DocumentId};

use crate::api::Node;
use crate::error::NodeError;

impl Node {
    /// The whole document `id` as `AutoCommit::save` writes it, with its
    /// full history (every change, with its actor and time).
    ///
    /// Refused: an id that does not parse, a document this node does not
    /// hold, and every roster-private document, which never leaves its
    /// community's node, not even as a file (`yizhan roster show` is how
    /// its own operators see it).
    pub fn export_document(&mut self, id: &str) -> Result<Vec<u8>, NodeError> {
        let doc_id =
            DocumentId::parse(id).map_err(|e| crate::refusal::AdminRefusal::NotADocumentId {
                id: id.to_owned(),
                why: e.to_string(),
            })?;
        if doc_id.kind() == DocKind::RosterPrivate {
            return Err(
                crate::refusal::AdminRefusal::PrivateNotExported { id: id.to_owned() }.into(),
            );
        }
        match self.repo().existing(&doc_id)? {
            Some(doc) => Ok(doc.save()),
            None => Err(crate::refusal::AdminRefusal::DocumentNotHeld { id: id.to_owned() }.into()),
        }
    }
}
