//! [`AdminRefusal`]: what the node refuses an operator's request for, or
//! cannot do for it, outside the domain rules: joining, revoking and
//! reinstating, rebuilding, exporting a document, access codes, listening
//! and serving, request ids.
//!
//! Why an enum and not a sentence: each refusal gets a stable code and the
//! values its message names (`error_code.rs`), so the operator's tool can
//! say it in their language. The English messages are the ones these
//! refusals always had.

use std::path::PathBuf;

use crdt_model::PlaceId;
use thiserror::Error;

use crate::config::Role;

/// A request the node refuses, or work it cannot do for the operator.
#[derive(Debug, Error)]
pub enum AdminRefusal {
    /// `admit`, `revoke` or `reinstate` was given something that is not a
    /// peer id.
    #[error("{peer:?} is not a peer id{}", if *hint { " (yizhan status on the new node prints it)" } else { "" })]
    NotAPeerId {
        /// What was given.
        peer: String,
        /// Whether to say where a peer id is found.
        hint: bool,
    },
    /// The node has no admission, so it cannot admit, revoke or reinstate.
    #[error("this node is not a member of a federation{}", if *admitting { "; only members who may admit can admit" } else { "" })]
    NotAMember {
        /// Whether it was asked to admit.
        admitting: bool,
    },
    /// A report import of no rows, or of more than one commit takes.
    #[error("an import holds 1 to {max} reports; this one holds {count}")]
    ImportSize {
        /// Rows sent.
        count: usize,
        /// The most one import holds.
        max: usize,
    },
    /// `admit --role station --may-admit`: a station admits no one.
    #[error("a station admits no other node; admit it without --may-admit")]
    StationMayNotAdmit,
    /// The node may not admit, so it may not revoke or reinstate either.
    #[error("only the district and nodes that may admit can revoke or reinstate")]
    MayNotAdmit,
    /// A token for another role or place than this node's.
    #[error(
        "the token admits a {token_role} at {token_place}, but this node was set up as a {role} at {place}"
    )]
    TokenForOtherPlace {
        /// The role the token admits.
        token_role: Role,
        /// The place it admits.
        token_place: PlaceId,
        /// This node's role.
        role: Role,
        /// This node's place.
        place: PlaceId,
    },
    /// A token of another district's federation.
    #[error("the token is for the federation of {federation}, but this node lies in {district}")]
    TokenForOtherFederation {
        /// The federation the token is of.
        federation: PlaceId,
        /// This node's district.
        district: PlaceId,
    },
    /// A revocation outside this node's scope.
    #[error("cannot revoke {peer}: {why}")]
    CannotRevoke {
        /// The node.
        peer: String,
        /// The rule it breaks.
        why: crate::trust::charter::RevokeRule,
    },
    /// A node revoked already.
    #[error("{peer} is already revoked (by {by}); nothing to do")]
    AlreadyRevoked {
        /// The node.
        peer: String,
        /// Who revoked it.
        by: String,
    },
    /// A reinstatement of a node not revoked.
    #[error("{peer} is not revoked")]
    NotRevoked {
        /// The node.
        peer: String,
    },
    /// A reinstatement by a node that neither is the root nor revoked it.
    #[error("only the root or the node that revoked {peer} ({by}) may reinstate it")]
    NotTheRevoker {
        /// The node.
        peer: String,
        /// Who revoked it.
        by: String,
    },
    /// config.toml names another role or place than the node's admission.
    #[error(
        "this node is admitted as a {role} at {place}, but config.toml says a {config_role} at {config_place}: set its {which} back to {role} at {place} in config.toml (a node writes only for the place it was admitted to)"
    )]
    ConfigDisagrees {
        /// The role admitted.
        role: Role,
        /// The place admitted.
        place: PlaceId,
        /// The role configured.
        config_role: Role,
        /// The place configured.
        config_place: PlaceId,
        /// `role`, `place` or `role and place`.
        which: &'static str,
    },
    /// The admission file is larger than any admission.
    #[error("{} is {bytes} bytes, longer than any admission; it is not an admission file", path.display())]
    AdmissionFileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// The admission file holds no admission.
    #[error("{} does not hold an admission: {why}", path.display())]
    NotAnAdmissionFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A rebuild of a data directory without an identity key.
    #[error(
        "{} has no identity key ({file}); a rebuild keeps the node's identity, so there is nothing to rebuild: restore the node from a backup, or set up a new one with `yizhan init`",
        dir.display()
    )]
    NothingToRebuild {
        /// The data directory.
        dir: PathBuf,
        /// The key file's name.
        file: &'static str,
    },
    /// A rebuild while a node runs on the directory.
    #[error(
        "a node is running on {}; stop it first (systemctl stop yizhan, or Ctrl-C in its terminal), then rebuild",
        dir.display()
    )]
    RebuildWhileRunning {
        /// The data directory.
        dir: PathBuf,
    },
    /// `doc export` of something that is not a document id.
    #[error("{id:?} is not a document id ({why}); `yizhan doc list` shows the documents held")]
    NotADocumentId {
        /// What was given.
        id: String,
        /// Why it does not parse.
        why: String,
    },
    /// `doc export` of members' personal data.
    #[error(
        "{id} holds members' personal data, which never leaves its community's node: it is not exported (`yizhan roster show MEMBER` shows it here)"
    )]
    PrivateNotExported {
        /// The document.
        id: String,
    },
    /// `doc export` of a document this node does not hold.
    #[error("document {id} is not held on this node; `yizhan doc list` shows the documents held")]
    DocumentNotHeld {
        /// The document.
        id: String,
    },
    /// An access code's hash that is not 64 hex digits.
    #[error("a code hash is 64 hex digits, not {hash:?}")]
    BadCodeHash {
        /// What was given.
        hash: String,
    },
    /// A rider's code asked of a node other than their community's.
    #[error("riders' codes are issued on their community's node; this is a {role} node")]
    RiderCodeElsewhere {
        /// This node's role.
        role: Role,
    },
    /// A staff code asked of the district.
    #[error("staff codes are for community and street nodes; this is the district node")]
    StaffCodeAtDistrict,
    /// A staff name empty, too long, or with control characters.
    #[error("a staff name is 1 to {max} characters without control characters, not {name:?}")]
    BadStaffName {
        /// What was given.
        name: String,
        /// The limit, in characters.
        max: usize,
    },
    /// Codes revoked of someone who has none.
    #[error("{holder} has no access code here")]
    NoAccessCode {
        /// Who.
        holder: String,
    },
    /// A code for a member who is not active.
    #[error("member {member} is {status}, not active: only active members get access codes")]
    CodeForInactiveMember {
        /// The member.
        member: String,
        /// Their status.
        status: &'static str,
    },
    /// A request id that is not a short token.
    #[error("request id {id:?} is not 1 to {max} letters, digits and dashes")]
    BadRequestId {
        /// What was given.
        id: String,
        /// The limit, in characters.
        max: usize,
    },
    /// A request carried out whose answer was lost.
    #[error(
        "request {id} was carried out before the node stopped, but its answer was lost; look before trying again (for a report: yizhan report list)"
    )]
    AnswerLostEarlier {
        /// The request id.
        id: String,
    },
    /// The running node announced a body larger than any it sends.
    #[error("the node announced a {what} of {bytes} bytes, more than {max} bytes")]
    BodyTooLarge {
        /// `blob` or `document`.
        what: &'static str,
        /// The size announced.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// `[metrics] listen` or `[http] listen` that is not an address.
    #[error(
        "[{section}] listen = {value:?} in config.toml is not an address such as {example}: {why}"
    )]
    BadListenAddress {
        /// `metrics` or `http`.
        section: &'static str,
        /// What config.toml says.
        value: String,
        /// An address that would do.
        example: &'static str,
        /// Why it does not parse.
        why: String,
    },
    /// The metrics or HTTP server could not bind its address.
    #[error("cannot serve {what} on {addr}: {why}")]
    CannotServe {
        /// `metrics` or `HTTP`.
        what: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// The operating system's words.
        why: String,
    },
    /// The node could not listen on an address for its peers.
    #[error("cannot listen on {addr}: {why}")]
    CannotListen {
        /// The address.
        addr: String,
        /// Why.
        why: String,
    },
    /// The HTTP server's certificate or key could not be loaded.
    #[error("{0}")]
    Tls(crate::http::tls::TlsError),
    /// HTTP configured without TLS and without saying plain is meant.
    #[error(
        "the HTTP server needs [http] cert and key in config.toml (`yizhan http self-signed` makes a pair for trials), or [http] plain = true for plain HTTP on a trusted network"
    )]
    NoTls,
}
