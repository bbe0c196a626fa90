//! The local admin API: what `yizhan` commands ask of a node, as requests and
//! responses. With a node running, requests travel over the Unix socket
//! `admin.sock` in the data directory (owner-only), one JSON line each way;
//! with none running, the command executes them itself on the store. Both
//! paths run the same [`execute`], so a command behaves the same either way.

use std::io::{BufRead, BufReader, Read as _, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use crdt_model::ReportId;
use serde::{Deserialize, Serialize};

use crate::api::{
    DocumentRow, Node, NodeStatus, ReportFilter, ReportSubmission, ReportView, Submitted,
};
use crate::config::Role;
use crate::error::NodeError;
use crate::http::codes::{CodeHolder, CodeRecord};
use crate::requests::Earlier;
use crate::store::{BlobHash, StoreError};
use crate::trust::MembershipView;
use crate::workflow::{WorkflowRequest, WorkflowResponse};
use crdt_model::PlaceId;

/// File name of the admin socket inside the data directory.
pub const SOCKET: &str = "admin.sock";
/// Longest request or response line accepted on the socket.
pub const LINE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// How long a command waits for the node to answer.
pub const CALL_TIMEOUT_MS: u64 = 60_000;

/// What a command asks of a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum Request {
    /// Identity, role, place, store; listen addresses and peers when running.
    Status,
    /// Record a report.
    SubmitReport(ReportSubmission),
    /// Record many reports in one commit, or none if any row is refused.
    ImportReports(Vec<crate::report_import::ImportedReport>),
    /// Reports held, filtered.
    ListReports(ReportFilter),
    /// One report.
    ShowReport(ReportId),
    /// A blob's bytes, verified.
    Blob(BlobHash),
    /// Known peers and whether they are connected.
    Peers,
    /// Per peer and document: in sync or not, and when last synced.
    SyncStatus,
    /// Documents held, with heads and sizes.
    Documents,
    /// A governance workflow (roster, tasks, points, directory, statistics...).
    Workflow(WorkflowRequest),
    /// Admit a node and return its token.
    Admit {
        /// The new node's peer id.
        peer: String,
        /// Its role.
        role: Role,
        /// Its place.
        place: PlaceId,
        /// May it admit others below its place?
        may_admit: bool,
        /// Days until the admission lapses; never if absent.
        expires_days: Option<u32>,
    },
    /// Install an admission token on this node.
    Join {
        /// The token `admit` printed.
        token: String,
    },
    /// Revoke a node in the charter.
    Revoke {
        /// Its peer id.
        peer: String,
        /// Why, for the record.
        reason: Option<String>,
    },
    /// Undo a mistaken revocation.
    Reinstate {
        /// The revoked node's peer id.
        peer: String,
    },
    /// Verify the store (`yizhan check`); see [`crate::check`].
    Check {
        /// Also check every change's signature and author.
        deep: bool,
    },
    /// A document's Automerge bytes (`yizhan doc export`).
    ExportDocument {
        /// The document id.
        id: String,
    },
    /// Write a backup of the node (store, identity key, configuration) to
    /// a file, from one read transaction, and verify it.
    Backup {
        /// The backup file, absolute: the node may run in another directory.
        path: PathBuf,
        /// Replace an existing file.
        force: bool,
    },
    /// New, urgent and overdue cases the running node noticed after the
    /// cursor `after` (`yizhan watch` polls with it); without one, none and
    /// the cursor to follow from now. See [`crate::alerts::feed`].
    Watch {
        /// The cursor the last answer gave.
        after: Option<u64>,
    },
    /// Which members' personal data `yizhan privacy purge` would remove;
    /// changes nothing. The purge itself runs only with the node stopped
    /// ([`crate::privacy::purge`]).
    PurgePreview {
        /// Members who left before the start of this day (UTC).
        left_before: chrono::NaiveDate,
    },
    /// Keep an access code's hash for a rider or staff member (`yizhan
    /// roster code`, `yizhan staff code`). The command makes the code and
    /// sends only its hash: the code never reaches the store, not even in
    /// the answer kept for a retry.
    IssueCode {
        /// [`crate::http::codes::code_hash`] of the code.
        hash: String,
        /// Who it signs in.
        holder: CodeHolder,
    },
    /// Forget every access code of a rider or staff member.
    RevokeCodes {
        /// Whose codes.
        holder: CodeHolder,
    },
    /// Who the code with this hash signs in here, if anyone: the HTTP
    /// server's check of every request's code.
    CodeHolder {
        /// [`crate::http::codes::code_hash`] of the code.
        hash: String,
    },
}

impl Request {
    /// True for requests that change the store.
    pub fn writes(&self) -> bool {
        match self {
            Request::SubmitReport(_)
            | Request::ImportReports(_)
            | Request::Admit { .. }
            | Request::Join { .. }
            | Request::Revoke { .. }
            | Request::Reinstate { .. }
            | Request::IssueCode { .. }
            | Request::RevokeCodes { .. } => true,
            Request::Workflow(w) => w.writes(),
            _ => false,
        }
    }
}

/// A peer as `yizhan peers` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerRow {
    /// Its peer id.
    pub peer_id: String,
    /// Addresses it was reached at.
    pub addresses: Vec<String>,
    /// Connected now.
    pub connected: bool,
    /// The place its credential admitted it at, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// Its role, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// When it was last connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
}

/// One line of `yizhan sync status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncRow {
    /// The peer.
    pub peer_id: String,
    /// The peer's place, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// The peer's role, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The document.
    pub doc: String,
    /// Whether the last session ended with both at the same heads and
    /// nothing changed here since.
    pub in_sync: bool,
    /// When a session with this peer last ended in sync.
    pub last_synced: Option<DateTime<Utc>>,
    /// Why this document cannot sync with this peer, if it cannot: a
    /// sequence clash (two copies of one node wrote under one actor).
    #[serde(default)]
    pub problem: Option<String>,
}

/// A blob in an answer. Over the admin socket the JSON line carries only
/// `len`, and exactly that many raw bytes follow the line: a photo costs its
/// size on the wire, not twice that in hex, and is never parsed as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BlobBody {
    /// How many bytes follow the line.
    pub len: u64,
    /// The bytes themselves (not part of the JSON).
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

impl BlobBody {
    /// A body holding `bytes`.
    pub fn new(bytes: Vec<u8>) -> BlobBody {
        BlobBody {
            len: bytes.len() as u64,
            bytes,
        }
    }
}

/// A node's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Response {
    /// For [`Request::Status`].
    Status(NodeStatus),
    /// For [`Request::SubmitReport`].
    Submitted(Box<Submitted>),
    /// For [`Request::ImportReports`].
    ImportedReports(crate::report_import::ReportsImported),
    /// For [`Request::ListReports`].
    Reports(Vec<ReportView>),
    /// For [`Request::ShowReport`].
    Report(Box<ReportView>),
    /// For [`Request::Blob`]: the bytes, which over the admin socket follow
    /// the answer's line raw rather than inside its JSON.
    Blob(BlobBody),
    /// For [`Request::Peers`].
    Peers(Vec<PeerRow>),
    /// For [`Request::SyncStatus`].
    SyncStatus(Vec<SyncRow>),
    /// For [`Request::Documents`].
    Documents(Vec<DocumentRow>),
    /// For [`Request::Workflow`].
    Workflow(Box<WorkflowResponse>),
    /// For [`Request::Admit`]: the token.
    Token(String),
    /// For [`Request::Join`].
    Joined(MembershipView),
    /// For [`Request::Check`].
    Check(Box<crate::check::CheckReport>),
    /// For [`Request::ExportDocument`]: the bytes, which over the admin
    /// socket follow the answer's line raw, as a blob's do.
    Document(BlobBody),
    /// For [`Request::Backup`]: what the verified backup holds.
    BackedUp(Box<crate::store::BackupSummary>),
    /// For [`Request::PurgePreview`], and what a purge did.
    Purge(Box<crate::privacy::PurgeReport>),
    /// For [`Request::Watch`].
    Watch(Box<crate::alerts::WatchPage>),
    /// For [`Request::IssueCode`]: what the store keeps of the code.
    CodeIssued(Box<CodeRecord>),
    /// For [`Request::CodeHolder`]: who the code signs in, if it works here.
    CodeHolder(Option<Box<CodeRecord>>),
    /// For requests that only need to say they were done.
    Done(Done),
    /// The request failed, with a stable code ([`crate::error_code`]):
    /// every failure has one, so the operator's tool can say it in their
    /// language.
    Failed(crate::error_code::ErrorBody),
}

/// What a node says it did: a stable code, the values it names, and the
/// English sentence. Like a failure's [`ErrorBody`](crate::error_code::ErrorBody),
/// so the operator's tool can say it in their language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// Stable, snake_case: `revoked`, `reinstated`, `codes_revoked`.
    pub code: String,
    /// The English sentence.
    pub message: String,
    /// The values it names, by name.
    pub params: std::collections::BTreeMap<String, String>,
}

impl Done {
    fn new<const N: usize>(code: &str, message: String, params: [(&str, String); N]) -> Done {
        Done {
            code: code.to_owned(),
            message,
            params: params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }
}

/// A request as it travels over the admin socket: write requests carry an
/// id so a retry after a lost answer never writes twice
/// ([`crate::requests`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Call {
    /// The request's id; the CLI gives every write one.
    #[serde(default)]
    pub id: Option<String>,
    /// The request.
    pub request: Request,
}

impl Call {
    /// A call of `request`, with a fresh id if it writes.
    pub fn new(request: Request) -> Call {
        let id = request.writes().then(|| {
            let bytes: [u8; 16] = rand::random();
            hex::encode(bytes)
        });
        Call { id, request }
    }
}

/// Executes `call`: a write whose id was seen before returns the first
/// answer (or says the write was done) instead of writing again.
pub fn execute_call(
    node: &mut Node,
    call: Call,
    now: DateTime<Utc>,
) -> Result<Response, NodeError> {
    let Call { id, request } = call;
    let Some(id) = id.filter(|_| request.writes()) else {
        return execute(node, request, now);
    };
    crate::requests::valid_id(&id)?;
    match node.earlier_request(&id)? {
        Earlier::Answered(response) => return Ok(*response),
        Earlier::Committed => {
            return Err(crate::refusal::AdminRefusal::AnswerLostEarlier { id }.into());
        }
        Earlier::None => {}
    }
    node.repo().begin_request(&id);
    let result = execute(node, request, now);
    node.repo().end_request();
    let response = result?;
    node.keep_answer(&id, &response, now)?;
    Ok(response)
}

/// Executes the requests any node can answer from its store. Requests that
/// only a running node can answer are refused with a message saying so.
pub fn execute(node: &mut Node, req: Request, now: DateTime<Utc>) -> Result<Response, NodeError> {
    if req.writes() && !matches!(req, Request::Join { .. }) {
        node.check_config_matches_admission()?;
    }
    Ok(match req {
        Request::Status => {
            let mut status = node.status()?;
            // A node whose own chain no longer verifies (revoked, expired) shows none.
            status.membership = node.membership(now).ok().flatten();
            Response::Status(status)
        }
        Request::SubmitReport(sub) => {
            Response::Submitted(Box::new(node.submit_report(sub.load()?, now)?))
        }
        Request::ImportReports(rows) => Response::ImportedReports(node.import_reports(rows, now)?),
        Request::ListReports(filter) => Response::Reports(node.reports(&filter, now)?),
        Request::ShowReport(id) => Response::Report(Box::new(node.report(&id, now)?)),
        Request::Blob(hash) => Response::Blob(BlobBody::new(node.blob(&hash)?)),
        Request::Peers => Response::Peers(node.known_peers()?),
        Request::Documents => Response::Documents(node.documents()?),
        Request::Workflow(w) => Response::Workflow(Box::new(node.execute_workflow(w, now)?)),
        Request::Admit {
            peer,
            role,
            place,
            may_admit,
            expires_days,
        } => Response::Token(node.admit(&peer, role, place, may_admit, expires_days, now)?),
        Request::Join { token } => Response::Joined(node.join(&token, now)?),
        Request::Revoke { peer, reason } => {
            node.revoke(&peer, reason.as_deref(), now)?;
            Response::Done(Done::new(
                "revoked",
                format!("revoked {peer}; the revocation spreads with the charter"),
                [("peer", peer.clone())],
            ))
        }
        Request::Reinstate { peer } => {
            let n = node.reinstate(&peer, now)?;
            Response::Done(Done::new(
                "reinstated",
                format!(
                    "reinstated {peer} ({n} revocation{} undone); it may reconnect with its token once the charter reaches its peers",
                    if n == 1 { "" } else { "s" }
                ),
                [("peer", peer.clone()), ("n", n.to_string())],
            ))
        }
        Request::Check { deep } => Response::Check(Box::new(node.check(deep))),
        Request::ExportDocument { id } => {
            Response::Document(BlobBody::new(node.export_document(&id)?))
        }
        Request::Backup { path, force } => {
            Response::BackedUp(Box::new(node.backup(&path, force, &mut |_, _| {})?))
        }
        Request::PurgePreview { left_before } => {
            Response::Purge(Box::new(node.purge_preview(left_before)?))
        }
        Request::IssueCode { hash, holder } => {
            Response::CodeIssued(Box::new(node.issue_code(&hash, holder, now)?))
        }
        Request::RevokeCodes { holder } => {
            let n = node.revoke_codes(&holder)?;
            Response::Done(Done::new(
                "codes_revoked",
                format!(
                    "revoked {n} access code{} of {holder}",
                    if n == 1 { "" } else { "s" }
                ),
                [("holder", holder.to_string()), ("n", n.to_string())],
            ))
        }
        Request::CodeHolder { hash } => {
            Response::CodeHolder(node.code_holder(&hash)?.map(Box::new))
        }
        Request::SyncStatus => {
            return Err(NodeError::NotRunning {
                what: "sync status",
            });
        }
        Request::Watch { .. } => return Err(NodeError::NotRunning { what: "watch" }),
    })
}

/// Where the admin socket of `dir` is.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

/// Sends `call` to the node running on `dir`, or returns `None` when no node
/// answers there (no socket, or a stale one left by a node that died).
pub fn call_running(dir: &Path, call: &Call) -> Result<Option<Response>, NodeError> {
    let path = socket_path(dir);
    let Ok(stream) = UnixStream::connect(&path) else {
        return Ok(None);
    };
    let io = |source| NodeError::Io {
        path: path.clone(),
        source,
    };
    let timeout = Some(Duration::from_millis(CALL_TIMEOUT_MS));
    stream.set_read_timeout(timeout).map_err(io)?;
    stream.set_write_timeout(timeout).map_err(io)?;
    let mut line = serde_json::to_string(call).map_err(|e| NodeError::Internal(e.to_string()))?;
    line.push('\n');
    (&stream).write_all(line.as_bytes()).map_err(io)?;
    let mut reader = BufReader::new(&stream).take(LINE_BYTES_MAX as u64);
    let mut answer = String::new();
    reader.read_line(&mut answer).map_err(io)?;
    let mut resp =
        serde_json::from_str(&answer).map_err(|e| NodeError::AnswerLost(e.to_string()))?;
    let raw = match &mut resp {
        Response::Blob(body) => Some((body, crate::store::BLOB_BYTES_MAX as u64, "blob")),
        Response::Document(body) => Some((body, LINE_BYTES_MAX as u64, "document")),
        _ => None,
    };
    if let Some((body, bytes_max, what)) = raw {
        if body.len > bytes_max {
            return Err(crate::refusal::AdminRefusal::BodyTooLarge {
                what,
                bytes: body.len,
                max: bytes_max,
            }
            .into());
        }
        // The bytes follow the line; what the line reader buffered of them
        // is still in its buffer.
        let mut rest = reader.into_inner().take(body.len);
        rest.read_to_end(&mut body.bytes).map_err(io)?;
        if body.bytes.len() as u64 != body.len {
            return Err(NodeError::AnswerLost(format!(
                "the {what} was cut short after {} of {} bytes",
                body.bytes.len(),
                body.len
            )));
        }
    }
    Ok(Some(resp))
}

/// Executes `req` for the node in `dir`: through the running node if there is
/// one, else directly on the store (read-only for requests that only look).
///
/// A write whose answer is lost (the connection closed, the answer cut
/// short) is asked once more with the same id, saying so on stderr: the
/// node returns the first answer rather than writing twice.
pub fn dispatch(dir: &Path, req: Request) -> Result<Response, NodeError> {
    let call = Call::new(req);
    let running = match call_running(dir, &call) {
        Err(e) if call.id.is_some() && e.answer_lost() => {
            eprintln!("the node's answer was lost ({e}); asking again with the same request id");
            call_running(dir, &call)?
        }
        other => other?,
    };
    if let Some(resp) = running {
        return match resp {
            Response::Failed(body) => Err(NodeError::Remote(body)),
            other => Ok(other),
        };
    }
    let now = Utc::now();
    if !call.request.writes() {
        let mut node = Node::open_read_only(dir)?;
        return execute_call(&mut node, call, now);
    }
    rehearse(dir, &call, now)?;
    let mut node = Node::open(dir)?;
    execute_call(&mut node, call, now)
}

/// Carries out a write request on a scratch view of the store whose writes
/// stay in memory, and returns its refusal if it is refused.
///
/// Why: opening redb for writing changes the file's bytes at once (a
/// header flag on open, the allocator state on close) even when nothing is
/// committed, so a request refused only after [`Node::open`] would still
/// have changed the store. Rehearsed first, a refused request never opens
/// the file for writing, and the store is left byte for byte as it was. A
/// request that passes is carried out again on the real store, at the same
/// `now`, and checked again there. The cost is a second verifying read of
/// the file per write while no node runs.
fn rehearse(dir: &Path, call: &Call, now: DateTime<Utc>) -> Result<(), NodeError> {
    let rehearsed =
        Node::open_rehearsal(dir).and_then(|mut node| execute_call(&mut node, call.clone(), now));
    match rehearsed {
        Ok(_) => Ok(()),
        // The scratch view failed where the file may not (its memory bound
        // is smaller than the largest write): the real run decides.
        Err(NodeError::Store(StoreError::Database { .. } | StoreError::Io { .. })) => Ok(()),
        Err(refused) => Err(refused),
    }
}
