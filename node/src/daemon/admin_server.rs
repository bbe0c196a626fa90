//! The admin socket: the server that accepts local callers, and the daemon's
//! handling of each call.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::admin::{self, Call, PeerRow, Request, Response, SyncRow};

use super::*;

/// Admin connections served at once.
pub(super) const ADMIN_CONNECTIONS_MAX: usize = 16;
/// How long an admin client may take to send its request line.
pub(super) const ADMIN_READ_TIMEOUT_MS: u64 = 10_000;
/// First wait after a failed accept on the admin socket; doubles.
pub(super) const ADMIN_ACCEPT_BACKOFF_MS_MIN: u64 = 100;
/// Longest wait after failed accepts.
pub(super) const ADMIN_ACCEPT_BACKOFF_MS_MAX: u64 = 5_000;

/// Reads that may be large: answered on a blocking thread over a read-only
/// view of the store, so the loop never waits on them.
fn off_loop(request: &Request) -> bool {
    match request {
        Request::ListReports(_)
        | Request::ShowReport(_)
        | Request::Blob(_)
        | Request::Documents
        | Request::Check { .. }
        | Request::ExportDocument { .. }
        | Request::Backup { .. }
        | Request::PurgePreview { .. }
        | Request::CodeHolder { .. } => true,
        Request::Workflow(w) => !w.writes(),
        _ => false,
    }
}

impl Daemon {
    /// Answers an admin call: large reads on a blocking thread, everything
    /// else (writes, and what only the loop knows) here.
    pub(super) fn on_admin(&mut self, call: Call, reply: oneshot::Sender<Response>) {
        // A blob not held here waits for its fetch instead of failing.
        let Some((call, reply)) = self.fetch_on_demand(call, reply) else {
            return;
        };
        if off_loop(&call.request) && !call.request.writes() {
            let mut reader = self.node.reader();
            let damaged = self.damaged_tx.clone();
            tokio::task::spawn_blocking(move || {
                let blob = match &call.request {
                    Request::Blob(hash) => Some(*hash),
                    _ => None,
                };
                let resp = admin::execute_call(&mut reader, call, Utc::now())
                    .unwrap_or_else(|e| Response::failed(&e));
                if let (Some(hash), Response::Failed(body)) = (blob, &resp)
                    && body.code == "blob_damaged"
                {
                    let _ = damaged.try_send(super::blobs::BlobDamage::Suspected(hash));
                }
                let _ = reply.send(resp);
            });
            return;
        }
        let _ = reply.send(self.answer(call));
    }

    fn answer(&mut self, call: Call) -> Response {
        let Call { id, request } = call;
        let result = match request {
            Request::Status => self.node.status().map(|mut s| {
                s.membership = self.node.membership(Utc::now()).ok().flatten();
                s.running = true;
                let me = *self.swarm.local_peer_id();
                s.listen = self
                    .listen
                    .iter()
                    .map(|a| format!("{a}/p2p/{me}"))
                    .collect();
                s.peers = self.connected.keys().map(|p| p.to_string()).collect();
                s.peers.sort();
                s.sync_bytes_sent = self.sync_bytes_sent;
                s.sync_bytes_received = self.sync_bytes_received;
                let mut sync = crate::api::SyncProgress {
                    blobs_wanted: self.wanted.len(),
                    ..Default::default()
                };
                if let Some(engine) = self.engine.as_ref() {
                    for p in engine.peers() {
                        sync.peers_admitted.push(p.to_string());
                        let Some(st) = engine.peer_status(p) else {
                            continue;
                        };
                        if st.settled {
                            sync.peers_in_step.push(p.to_string());
                        }
                        sync.sessions_in_memory += st.sessions;
                        sync.sessions_parked += st.parked;
                    }
                }
                s.sync = Some(Box::new(sync));
                Response::Status(s)
            }),
            Request::Peers => self.node.known_peers().map(|mut rows| {
                for (p, (_, addr)) in self
                    .connected
                    .iter()
                    .filter(|(p, _)| self.peer_creds.contains_key(p))
                {
                    let labels = self.peer_labels.get(p);
                    let i = match rows.iter().position(|r| r.peer_id == p.to_string()) {
                        Some(i) => i,
                        None => {
                            rows.push(PeerRow {
                                peer_id: p.to_string(),
                                addresses: vec![addr.to_string()],
                                connected: false,
                                place: None,
                                role: None,
                                last_seen: None,
                            });
                            rows.len() - 1
                        }
                    };
                    let r = &mut rows[i];
                    r.connected = true;
                    r.last_seen = Some(Utc::now());
                    if let Some(l) = labels {
                        r.place = Some(l.place.clone());
                        r.role = Some(l.role.clone());
                    }
                }
                Response::Peers(rows)
            }),
            Request::Watch { after } => Ok(Response::Watch(Box::new(self.alerts.page(after)))),
            Request::SyncStatus => {
                // Places and roles of peers not connected now, from their records.
                let known: HashMap<String, (Option<String>, Option<String>)> = self
                    .node
                    .known_peers()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| (r.peer_id, (r.place, r.role)))
                    .collect();
                Ok(Response::SyncStatus(
                    self.sync_rows
                        .iter()
                        .map(|((p, d), info)| {
                            let (place, role) = match self.peer_labels.get(p) {
                                Some(l) => (Some(l.place.clone()), Some(l.role.clone())),
                                None => known.get(&p.to_string()).cloned().unwrap_or_default(),
                            };
                            SyncRow {
                                peer_id: p.to_string(),
                                place,
                                role,
                                doc: d.to_string(),
                                in_sync: info.in_sync && info.problem.is_none(),
                                last_synced: info.last_synced,
                                problem: info.problem.clone(),
                            }
                        })
                        .collect(),
                ))
            }
            other => {
                let joined = matches!(other, Request::Join { .. });
                let call = Call { id, request: other };
                let r = admin::execute_call(&mut self.node, call, Utc::now());
                if joined && r.is_ok() {
                    if self.engine.is_some() {
                        self.renewed();
                    }
                    self.become_member();
                }
                r
            }
        };
        result.unwrap_or_else(|e| Response::failed(&e))
    }
}

/// Accepts admin connections: one request line, one response line each.
/// Serves the admin socket: only this node's own user may talk to it (the
/// socket is owner-only, and the caller's uid is checked), a bounded number
/// of connections at once, each with a read deadline; a failing accept
/// backs off instead of spinning.
pub(super) async fn serve_admin(
    listener: UnixListener,
    tx: mpsc::Sender<(Call, oneshot::Sender<Response>)>,
) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(ADMIN_CONNECTIONS_MAX));
    // This node's user: the owner of the socket file it just created.
    let own_uid = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(|p| p.to_owned()))
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    let mut backoff = Duration::from_millis(ADMIN_ACCEPT_BACKOFF_MS_MIN);
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff = Duration::from_millis(ADMIN_ACCEPT_BACKOFF_MS_MIN);
                stream
            }
            Err(e) => {
                warn!(error = %e, "cannot accept on the admin socket; waiting before trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(ADMIN_ACCEPT_BACKOFF_MS_MAX));
                continue;
            }
        };
        let caller = stream.peer_cred().ok().map(|c| c.uid());
        if own_uid.is_some() && caller != own_uid {
            warn!(caller = ?caller, "refused an admin connection from another user");
            continue;
        }
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = admin_connection(stream, tx).await {
                debug!(error = %e, "admin connection ended");
            }
        });
    }
}

/// Reads a report's attachment files here, on a blocking thread, so the
/// loop that stores the report does not wait on the disk.
async fn preload(call: Call) -> Result<Call, NodeError> {
    let Call { id, request } = call;
    let Request::SubmitReport(sub) = request else {
        return Ok(Call { id, request });
    };
    let sub = tokio::task::spawn_blocking(move || sub.preload())
        .await
        .map_err(|e| NodeError::Internal(format!("cannot read the attachments: {e}")))??;
    Ok(Call {
        id,
        request: Request::SubmitReport(sub),
    })
}

pub(super) async fn admin_connection(
    stream: UnixStream,
    tx: mpsc::Sender<(Call, oneshot::Sender<Response>)>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read.take(admin::LINE_BYTES_MAX as u64));
    let mut line = String::new();
    // A client that connects and says nothing gives its slot back.
    tokio::time::timeout(
        Duration::from_millis(ADMIN_READ_TIMEOUT_MS),
        reader.read_line(&mut line),
    )
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request in time"))??;
    let call = match serde_json::from_str::<Call>(&line) {
        Ok(call) => preload(call).await,
        Err(e) => Err(NodeError::MalformedRequest(e.to_string())),
    };
    let resp = match call {
        Ok(req) => {
            let (reply, answer) = oneshot::channel();
            if tx.send((req, reply)).await.is_err() {
                Response::failed(&NodeError::ShuttingDown)
            } else {
                answer
                    .await
                    .unwrap_or_else(|_| Response::failed(&NodeError::ShuttingDown))
            }
        }
        Err(e) => Response::failed(&e),
    };
    let mut out = serde_json::to_string(&resp)
        .unwrap_or_else(|e| format!("{{\"kind\":\"error\",\"value\":\"{e}\"}}"));
    out.push('\n');
    write.write_all(out.as_bytes()).await?;
    if let Response::Blob(body) | Response::Document(body) = &resp {
        write.write_all(&body.bytes).await?;
    }
    Ok(())
}
