//! The node's error type: what failed, said so an operator knows what to do.

use std::path::PathBuf;

use thiserror::Error;

use crate::config::ConfigError;
use crate::identity::IdentityError;
use crate::store::StoreError;

/// Any failure of a node operation.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The data directory holds no node.
    #[error(
        "no yizhan node in {dir}: run `yizhan init --role ROLE --place PLACE` first, or point --data-dir / YIZHAN_DATA_DIR at an existing node"
    )]
    NotInitialised {
        /// The data directory.
        dir: PathBuf,
    },
    /// `init` found a node already there.
    #[error(
        "{dir} already holds a yizhan node; use another --data-dir, or move the directory away to start afresh"
    )]
    AlreadyInitialised {
        /// The data directory.
        dir: PathBuf,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Taking, checking or restoring a backup failed.
    #[error(transparent)]
    Backup(#[from] crate::store::BackupError),
    /// The request broke a domain rule, or a document is malformed.
    #[error(transparent)]
    Model(#[from] crdt_model::ModelError),
    /// The identity key failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The configuration failed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The running node's answer never came whole (the connection closed,
    /// or the answer was cut short).
    #[error("the running node answered something unreadable: {0}")]
    AnswerLost(String),
    /// No report with this id is held here.
    #[error("report {0} is not held on this node; `yizhan report list` shows the reports it holds")]
    UnknownReport(String),
    /// No blob with this hash is held here.
    #[error(
        "blob {0} is not held on this node; a running node fetches a photo or voice note of a report it holds from its peers when asked (start it with `yizhan node start`)"
    )]
    UnknownBlob(String),
    /// An admission, token or credential does not hold.
    #[error(transparent)]
    Trust(crate::trust::TrustError),
    /// A workflow step this node may not take, or its input is wrong.
    #[error(transparent)]
    Workflow(#[from] crate::workflow::WorkflowError),
    /// A service certificate that cannot be issued or read.
    #[error(transparent)]
    Certificate(#[from] crate::certificate::CertificateError),
    /// A purge of personal data refused.
    #[error(transparent)]
    Privacy(#[from] crate::privacy::PrivacyError),
    /// Only a running node can answer this.
    #[error("{what} is known only while the node runs; start it with `yizhan node start`")]
    NotRunning {
        /// What was asked.
        what: &'static str,
    },
    /// A request the node refuses, or work it cannot do for the operator.
    #[error(transparent)]
    Refused(#[from] crate::refusal::AdminRefusal),
    /// The running node is stopping and will not answer this request.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// A line on the admin socket that is not a request.
    #[error("malformed admin request: {0}")]
    MalformedRequest(String),
    /// A photo or voice note asked for on demand that did not come.
    #[error(transparent)]
    BlobDemand(#[from] BlobDemandError),
    /// The running node refused or failed a request, with the code and
    /// parameters it gave ([`crate::error_code`]).
    #[error("{}", .0.message)]
    Remote(crate::error_code::ErrorBody),
    /// A bug: an invariant of the node broke.
    #[error("internal error: {0}")]
    Internal(String),

    /// A bulk import with rows refused; nothing was written.
    #[error("nothing imported: {} rows refused: {}", rows.len(), crate::error_code::RefusedRow::joined(rows))]
    ImportRefused {
        /// Each refused row: its line and why.
        rows: Vec<crate::error_code::RefusedRow>,
    },
}

/// Why a running node could not hand over a blob it fetches on demand.
#[derive(Debug, Error)]
pub enum BlobDemandError {
    /// Too many callers wait for blobs already.
    #[error(
        "blob {hash} is not held here and {max} other blobs are being fetched for callers; try again shortly"
    )]
    Busy {
        /// The blob.
        hash: String,
        /// How many may wait at once.
        max: usize,
    },
    /// Every peer asked was given up on.
    #[error("blob {hash} is not held here and no peer sent it; try again once the street holds it")]
    NotSent {
        /// The blob.
        hash: String,
    },
    /// The caller's wait ran out; the fetch goes on.
    #[error(
        "blob {hash} is not held here and did not arrive within {secs} s; it is still being fetched, try again later"
    )]
    Late {
        /// The blob.
        hash: String,
        /// How long the caller waited.
        secs: u64,
    },
}

impl From<crdt_model::ValidationError> for NodeError {
    fn from(e: crdt_model::ValidationError) -> Self {
        NodeError::Model(e.into())
    }
}

impl From<crdt_model::SchemaError> for NodeError {
    fn from(e: crdt_model::SchemaError) -> Self {
        NodeError::Model(e.into())
    }
}

impl NodeError {
    /// True when a call to the running node may have been carried out but
    /// its answer did not arrive: a retry with the same request id is safe
    /// and needed.
    pub fn answer_lost(&self) -> bool {
        matches!(self, NodeError::AnswerLost(_) | NodeError::Io { .. })
    }
}
