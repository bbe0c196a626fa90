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
        let doc_id = DocumentId::parse(id).map_err(|e| {
            NodeError::Admin(format!(
                "{id:?} is not a document id ({e}); `yizhan doc list` shows the documents held"
            ))
        })?;
        if doc_id.kind() == DocKind::RosterPrivate {
            return Err(NodeError::Admin(format!(
                "{id} holds members' personal data, which never leaves its community's node: it is not exported (`yizhan roster show MEMBER` shows it here)"
            )));
        }
        match self.repo().existing(&doc_id)? {
            Some(doc) => Ok(doc.save()),
            None => Err(NodeError::Admin(format!(
                "document {id} is not held on this node; `yizhan doc list` shows the documents held"
            ))),
        }
    }
}
