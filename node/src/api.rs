//! The local API of a node: what operators' commands do, on the node's own
//! store. The CLI calls these directly when no node process runs.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use automerge::ActorId;
use chrono::{DateTime, Utc};
use crdt_model::report::{self, Attachment, AttachmentKind, NewReport, Report, ReportEvent};
use crdt_model::{
    CaseState, Category, DocKind, DocumentId, LatLon, Location, MemberId, PlaceId, ReportId,
    Status, roster,
};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Role};
use crate::error::NodeError;
use crate::identity::Identity;
use crate::repo::Repo;
use crate::report_index::ReportIndexes;
use crate::store::{ACTOR_EPOCH_KEY, BlobHash, SCHEMA_VERSION, Store, StoreError};
use crate::trust::authors::AuthorName;

/// File names inside a data directory.
pub mod files {
    /// The node's configuration.
    pub const CONFIG: &str = "config.toml";
    /// The node's Ed25519 key, owner-only.
    pub const IDENTITY: &str = "identity.key";
    /// The redb store.
    pub const STORE: &str = "store.redb";
    /// The node's copy of its own admission, as a `yz1.` token
    /// (`trust::admission_copy`).
    pub const ADMISSION: &str = "admission";
}

/// The default data directory: `$YIZHAN_DATA_DIR` is handled by the CLI; this
/// is `$XDG_DATA_HOME/yizhan`, else `~/.local/share/yizhan`, else `./yizhan-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("yizhan");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(h).join(".local/share/yizhan");
    }
    PathBuf::from("yizhan-data")
}

/// A photo or voice note to attach to a new report.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Media type.
    pub mime: String,
    /// Photo or voice.
    pub kind: AttachmentKind,
}

/// What a report says, however its attachments arrive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportContent {
    /// Category.
    pub category: Category,
    /// Latitude of the hazard.
    pub lat: f64,
    /// Longitude of the hazard.
    pub lon: f64,
    /// What the rider said.
    pub text: String,
    /// Address, if known.
    pub address: Option<String>,
    /// Grid, if known.
    pub grid: Option<String>,
    /// Reporting member, who must be on this community's roster.
    pub reporter: Option<MemberId>,
}

/// A report to submit.
#[derive(Debug, Clone)]
pub struct SubmitReport {
    /// What it says.
    pub content: ReportContent,
    /// Photos and voice notes.
    pub attachments: Vec<NewAttachment>,
}

/// A report as operators see it: its content, where it is held, and its folded state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportView {
    /// Report id.
    pub id: ReportId,
    /// The place whose document holds it.
    pub place: PlaceId,
    /// Category.
    pub category: Category,
    /// Current status.
    pub status: Status,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Address.
    pub address: Option<String>,
    /// Grid.
    pub grid: Option<String>,
    /// Text.
    pub text: String,
    /// Reporter's pseudonymous id.
    pub reporter: Option<MemberId>,
    /// Submission time.
    pub submitted_at: DateTime<Utc>,
    /// The deadline in force.
    pub deadline: DateTime<Utc>,
    /// Open and past the deadline now.
    pub overdue: bool,
    /// Photos and voice notes.
    pub attachments: Vec<Attachment>,
    /// The folded case state.
    pub state: CaseState,
    /// Every lifecycle event in fold order.
    pub events: Vec<ReportEvent>,
    /// The node that recorded it (its peer id).
    pub submitted_by: String,
    /// The place and role of the nodes that recorded it and wrote its
    /// events, by peer id, as the credentials held here name them (filled
    /// for one report, not in lists).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authors: BTreeMap<String, AuthorName>,
}

impl ReportView {
    fn new(place: PlaceId, r: Report, now: DateTime<Utc>) -> ReportView {
        let state = r.state();
        ReportView {
            id: r.id,
            place,
            category: r.category,
            status: state.status,
            lat: r.location.point.lat,
            lon: r.location.point.lon,
            address: r.location.address,
            grid: r.location.grid,
            text: r.text,
            reporter: r.reporter,
            submitted_at: r.submitted_at,
            deadline: state.deadline,
            overdue: state.is_overdue(now),
            attachments: r.attachments,
            events: r.events,
            submitted_by: r.submitted_by,
            authors: BTreeMap::new(),
            state,
        }
    }
}

/// The result of a submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submitted {
    /// The new report.
    pub report: ReportView,
    /// Open reports of the same category nearby, nearest first, with their distance in metres.
    pub nearby: Vec<(ReportId, f64)>,
}

/// Which reports to list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReportFilter {
    /// Only reports of places under this prefix.
    pub place: Option<PlaceId>,
    /// Only this category.
    pub category: Option<Category>,
    /// Only this status.
    pub status: Option<Status>,
    /// Only open cases past their deadline.
    pub overdue: bool,
}

/// What `status` shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    /// libp2p peer id.
    pub peer_id: String,
    /// Role.
    pub role: Role,
    /// Place.
    pub place: PlaceId,
    /// Human name.
    pub name: Option<String>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Store schema version.
    pub schema_version: u32,
    /// Documents held.
    pub documents: usize,
    /// Blobs held.
    pub blobs: usize,
    /// True when a node process is running and answered this request.
    pub running: bool,
    /// Addresses the running node listens on.
    pub listen: Vec<String>,
    /// Peers the running node is connected to.
    pub peers: Vec<String>,
    /// Bytes of sync messages this node process sent since it started.
    pub sync_bytes_sent: u64,
    /// Bytes of sync messages this node process received since it started.
    pub sync_bytes_received: u64,
    /// The federation this node belongs to, if it founded or joined one.
    pub membership: Option<crate::trust::MembershipView>,
    /// How far the running node is in step with its peers; `None` when no
    /// node runs. Boxed: it keeps every admin answer small.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<Box<SyncProgress>>,
}

/// A running node's sync with its peers, as `status` shows it: what a node
/// refilling its store (`yizhan rebuild`) waits for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncProgress {
    /// Connected peers whose admission this node accepted, so that it
    /// syncs with them.
    pub peers_admitted: Vec<String>,
    /// Of those, the ones in step: the last comparison of everything shared
    /// with the peer found both sides the same, and nothing changed since.
    /// A node refilling its store has everything a peer holds for it once
    /// that peer is in step.
    pub peers_in_step: Vec<String>,
    /// Photos and voice notes this node knows it lacks and is fetching (or
    /// will retry).
    pub blobs_wanted: usize,
    /// Sync sessions held in memory, over all peers.
    #[serde(default)]
    pub sessions_in_memory: usize,
    /// Sync sessions parked (at rest in step with their peer: only their
    /// saved state is kept), over all peers.
    #[serde(default)]
    pub sessions_parked: usize,
}

/// A document as `yizhan doc list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentRow {
    /// Document id.
    pub id: String,
    /// Its heads, as hex change hashes.
    pub heads: Vec<String>,
    /// Bytes of its compacted snapshot.
    pub snapshot_bytes: u64,
    /// Bytes of change chunks written since.
    pub changes_bytes: u64,
}

/// A report to submit, as the command line gives it: attachments are file
/// paths, read by whichever process executes the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportSubmission {
    /// What it says.
    #[serde(flatten)]
    pub content: ReportContent,
    /// Photo files.
    pub photos: Vec<PathBuf>,
    /// Voice-note files.
    pub voices: Vec<PathBuf>,
    /// The files, once [`ReportSubmission::preload`] read them: a running
    /// node reads them on the caller's connection, not on its loop.
    #[serde(skip)]
    pub loaded: Option<Vec<NewAttachment>>,
}

impl ReportSubmission {
    /// Reads the attachment files now, so that [`ReportSubmission::load`]
    /// does not touch the disk; an unreadable file fails here.
    pub fn preload(mut self) -> Result<Self, NodeError> {
        let loaded = self.read_attachments()?;
        self.loaded = Some(loaded);
        Ok(self)
    }

    /// Reads the attachment files (unless preloaded), refusing empty or
    /// oversized ones before reading them whole.
    pub fn load(mut self) -> Result<SubmitReport, NodeError> {
        let attachments = match self.loaded.take() {
            Some(loaded) => loaded,
            None => self.read_attachments()?,
        };
        Ok(SubmitReport {
            content: self.content,
            attachments,
        })
    }

    fn read_attachments(&self) -> Result<Vec<NewAttachment>, NodeError> {
        let mut attachments = Vec::new();
        for (paths, kind) in [
            (&self.photos, AttachmentKind::Photo),
            (&self.voices, AttachmentKind::Voice),
        ] {
            for p in paths {
                attachments.push(read_attachment(p, kind)?);
            }
        }
        Ok(attachments)
    }
}

fn read_attachment(path: &Path, kind: AttachmentKind) -> Result<NewAttachment, NodeError> {
    let len = fs::metadata(path).map_err(io(path))?.len();
    if len == 0 || len > crdt_model::report::ATTACHMENT_BYTES_MAX {
        return Err(crdt_model::ValidationError::BadAttachment(
            crdt_model::AttachmentRule::FileSize {
                kind: kind.as_str(),
                path: path.display().to_string(),
                bytes: len,
                max: crdt_model::report::ATTACHMENT_BYTES_MAX,
            },
        )
        .into());
    }
    let bytes = fs::read(path).map_err(io(path))?;
    Ok(NewAttachment {
        mime: mime_of(path, kind).to_owned(),
        bytes,
        kind,
    })
}

/// Media type by file extension; unknown ones are stored as opaque bytes.
fn mime_of(path: &Path, kind: AttachmentKind) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match (kind, ext.as_str()) {
        (_, "jpg" | "jpeg") => "image/jpeg",
        (_, "png") => "image/png",
        (_, "webp") => "image/webp",
        (_, "heic") => "image/heic",
        (_, "amr") => "audio/amr",
        (_, "m4a" | "mp4") => "audio/mp4",
        (_, "mp3") => "audio/mpeg",
        (_, "ogg" | "opus") => "audio/ogg",
        (_, "wav") => "audio/wav",
        (AttachmentKind::Photo, _) => "image/octet-stream",
        (AttachmentKind::Voice, _) => "audio/octet-stream",
    }
}

/// What the store keeps about a peer (the `peers` table, as JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerRecord {
    /// Addresses it was reached at, newest first.
    pub addresses: Vec<String>,
    /// When it was last connected.
    pub last_seen: Option<DateTime<Utc>>,
    /// The place its credential admitted it at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// Its role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// How long opening waits while another process holds the store's lock: a
/// one-shot command finishes well within it, a running node never does.
pub const STORE_BUSY_WAIT_MS: u64 = 3_000;

/// A node's data directory opened for work.
pub struct Node {
    pub(crate) dir: PathBuf,
    pub(crate) config: Config,
    pub(crate) identity: Identity,
    pub(crate) repo: Repo,
    /// What each reports document holds, kept from its changes.
    pub(crate) indexes: ReportIndexes,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("dir", &self.dir)
            .field("place", &self.config.place)
            .field("peer", &self.identity.peer_id())
            .finish()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NodeError + '_ {
    move |source| NodeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The actor this node writes with: its key, and the restore epoch its
/// store records if it was restored from a backup (`crdt_model::actor`).
pub(crate) fn actor_of(identity: &Identity, store: &Store) -> Result<ActorId, NodeError> {
    let epoch = match store.get_meta(ACTOR_EPOCH_KEY)? {
        None => None,
        Some(bytes) => {
            Some(
                <[u8; 8]>::try_from(bytes.as_slice()).map_err(|_| StoreError::Corrupt {
                    path: store.path().to_owned(),
                    reason: format!("its restore epoch has {} bytes, not 8", bytes.len()),
                })?,
            )
        }
    };
    Ok(identity.actor_id_at(epoch.as_ref()))
}

impl Node {
    /// Creates a node in `dir`: identity key (owner-only), config file and
    /// store. Validates everything before writing anything; refuses a
    /// directory that already holds a node.
    pub fn init(
        dir: &Path,
        role: Role,
        place: PlaceId,
        name: Option<String>,
    ) -> Result<Node, NodeError> {
        let config = Config::new(role, place, name)?;
        for f in [files::CONFIG, files::IDENTITY, files::STORE] {
            if dir.join(f).exists() {
                return Err(NodeError::AlreadyInitialised {
                    dir: dir.to_owned(),
                });
            }
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        let dir = &fs::canonicalize(dir).map_err(io(dir))?;
        let identity = Identity::generate();
        identity.save(&dir.join(files::IDENTITY))?;
        let store = Store::create(&dir.join(files::STORE))?;
        config.save(&dir.join(files::CONFIG))?;
        // The store holds roster-private: nobody but the owner reads it.
        for f in [files::STORE, files::CONFIG] {
            let p = dir.join(f);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).map_err(io(&p))?;
        }
        let mut repo = Repo::new(store, identity.actor_id());
        repo.sign_with(identity.keypair().clone());
        let mut node = Node {
            dir: dir.to_owned(),
            config,
            identity,
            repo,
            indexes: ReportIndexes::new(),
        };
        if role == Role::District {
            node.found_federation()?;
        }
        Ok(node)
    }

    /// Opens the node in `dir` for reading and writing.
    pub fn open(dir: &Path) -> Result<Node, NodeError> {
        Node::open_with(dir, Store::open)
    }

    /// Opens the node in `dir` for looking only: the store file is not
    /// modified, and any write fails.
    pub fn open_read_only(dir: &Path) -> Result<Node, NodeError> {
        Node::open_with(dir, Store::open_read_only)
    }

    /// Opens the node in `dir` over [`Store::open_rehearsal`]: writes
    /// succeed or fail as they would, but stay in memory and never reach
    /// the file. A write request is rehearsed on one before the store is
    /// opened for writing, so that a refused request leaves the file alone.
    pub fn open_rehearsal(dir: &Path) -> Result<Node, NodeError> {
        Node::open_with(dir, Store::open_rehearsal)
    }

    /// Opens the node in `dir` over [`Store::open_unverified`], for `yizhan
    /// check` on a store that failed verification.
    pub(crate) fn open_unverified(dir: &Path) -> Result<Node, NodeError> {
        Node::open_with(dir, Store::open_unverified)
    }

    /// Reads the configuration of the node in `dir` without opening its store.
    pub fn load_config(dir: &Path) -> Result<Config, NodeError> {
        let path = dir.join(files::CONFIG);
        if !path.exists() {
            return Err(NodeError::NotInitialised {
                dir: dir.to_owned(),
            });
        }
        Ok(Config::load(&path)?)
    }

    fn open_with(
        dir: &Path,
        open_store: fn(&Path) -> Result<Store, crate::store::StoreError>,
    ) -> Result<Node, NodeError> {
        let config_path = dir.join(files::CONFIG);
        if !config_path.exists() {
            return Err(NodeError::NotInitialised {
                dir: dir.to_owned(),
            });
        }
        let dir = &fs::canonicalize(dir).map_err(io(dir))?;
        let config = Config::load(&config_path)?;
        let identity = Identity::load(&dir.join(files::IDENTITY))?;
        // A one-shot command may hold the store's lock for a moment: wait for it.
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_millis(STORE_BUSY_WAIT_MS);
        let store = loop {
            match open_store(&dir.join(files::STORE)) {
                Err(crate::store::StoreError::AlreadyOpen { .. })
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other?,
            }
        };
        let actor = actor_of(&identity, &store)?;
        let mut repo = Repo::new(store, actor);
        repo.sign_with(identity.keypair().clone());
        Ok(Node {
            dir: dir.to_owned(),
            config,
            identity,
            repo,
            indexes: ReportIndexes::new(),
        })
    }

    /// The node's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The node's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The node's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The store, for reading.
    pub fn store(&self) -> &Store {
        self.repo.store()
    }

    /// The documents and the store.
    pub fn repo(&mut self) -> &mut Repo {
        &mut self.repo
    }

    /// The same node for reading only, over the same open store, with a
    /// document cache of its own: any write through it fails. It sees what
    /// is durable, so the running node answers large reads through one on
    /// another thread while its own loop goes on.
    pub fn reader(&self) -> Node {
        Node {
            dir: self.dir.clone(),
            config: self.config.clone(),
            identity: self.identity.clone(),
            repo: Repo::new(
                self.repo.store().read_only_view(),
                self.repo.actor().clone(),
            ),
            indexes: ReportIndexes::new(),
        }
    }

    /// Identity, role, place and what the store holds.
    pub fn status(&self) -> Result<NodeStatus, NodeError> {
        let store = self.repo.store();
        Ok(NodeStatus {
            peer_id: self.identity.peer_id().to_string(),
            role: self.config.role,
            place: self.config.place.clone(),
            name: self.config.name.clone(),
            data_dir: self.dir.clone(),
            schema_version: store.schema_version()?,
            documents: store.document_ids()?.len(),
            blobs: store.blob_hashes()?.len(),
            running: false,
            listen: Vec::new(),
            peers: Vec::new(),
            sync_bytes_sent: 0,
            sync_bytes_received: 0,
            membership: None,
            sync: None,
        })
    }

    pub(crate) fn author(&self) -> String {
        self.identity.peer_id().to_string()
    }

    /// Records a report with its attachments, durably, in one commit, and
    /// names open reports of the same category nearby ("me too" candidates).
    pub fn submit_report(
        &mut self,
        req: SubmitReport,
        now: DateTime<Utc>,
    ) -> Result<Submitted, NodeError> {
        let point = LatLon::new(req.content.lat, req.content.lon)?;
        let category = req.content.category;
        let ids = self.submit_reports(vec![req], now)?;
        let id = ids
            .into_iter()
            .next()
            .ok_or_else(|| NodeError::Internal("no id for a submitted report".into()))?;
        // Open cases of this month and the last, not the whole history: the
        // suggestion must stay cheap as the years of reports pile up.
        let radius = self.config.duplicate_radius_m;
        let place = self.config.place.clone();
        let mut months = vec![DocumentId::reports(place.clone(), now)];
        let end_of_last_month = chrono::Datelike::with_day(&now, 1)
            .map_or(now, |first| first - chrono::Duration::days(1));
        let last_month = DocumentId::reports(place, end_of_last_month);
        if last_month != months[0] {
            months.push(last_month);
        }
        let mut nearby: Vec<(ReportId, f64)> = Vec::new();
        for doc_id in &months {
            if let Some(cases) = self.indexes.current(&mut self.repo, doc_id)? {
                nearby.extend(
                    cases
                        .nearby_open(category, &point, radius)
                        .into_iter()
                        .filter(|(r, _)| *r != id),
                );
            }
        }
        nearby.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let report = self.report(&id, now)?;
        Ok(Submitted { report, nearby })
    }

    /// Records many reports in one durable commit (bulk import). Every report
    /// is validated first; if any is invalid, none is written.
    pub fn submit_reports(
        &mut self,
        reqs: Vec<SubmitReport>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReportId>, NodeError> {
        let mut staged = Vec::with_capacity(reqs.len());
        for req in reqs {
            staged.push(self.stage_report(req, now)?);
        }
        self.write_reports(staged, now)
    }

    /// Checks one report to submit (its reporter on the roster, its
    /// content) and mints its id; writes nothing.
    pub(crate) fn stage_report(
        &mut self,
        mut req: SubmitReport,
        now: DateTime<Utc>,
    ) -> Result<(NewReport, Vec<Vec<u8>>), NodeError> {
        if let Some(m) = &req.content.reporter {
            let member = self.require_member(m)?;
            // Riders report on their own grid's routes: without a grid
            // given, the case counts for the reporter's, so per-grid
            // statistics do not fall to "-".
            if req.content.grid.is_none() {
                req.content.grid = member.grid;
            }
        }
        self.prepare(req, now)
    }

    /// Writes reports [`Node::stage_report`] checked, in one durable commit.
    pub(crate) fn write_reports(
        &mut self,
        staged: Vec<(NewReport, Vec<Vec<u8>>)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReportId>, NodeError> {
        let place = self.config.place.clone();
        let doc_id = DocumentId::reports(place, now);
        let ids = self.repo.write(now, |w| {
            let mut ids = Vec::with_capacity(staged.len());
            for (mut new, blobs) in staged {
                let doc = w.doc(&doc_id)?;
                // A random 32-bit suffix collides rarely; draw again when it does.
                while report::get(&*doc, &new.id)?.is_some() {
                    new.id = ReportId::new(now, rand::random());
                }
                report::submit(doc, &new)?;
                for b in blobs {
                    w.put_blob(b);
                }
                ids.push(new.id);
            }
            Ok(ids)
        })?;
        Ok(ids)
    }

    fn prepare(
        &self,
        req: SubmitReport,
        now: DateTime<Utc>,
    ) -> Result<(NewReport, Vec<Vec<u8>>), NodeError> {
        let point = LatLon::new(req.content.lat, req.content.lon)?;
        let attachments = req
            .attachments
            .iter()
            .map(|a| Attachment {
                hash: BlobHash::of(&a.bytes).to_string(),
                mime: a.mime.clone(),
                size: a.bytes.len() as u64,
                kind: a.kind,
            })
            .collect();
        let new = NewReport {
            id: ReportId::new(now, rand::random()),
            category: req.content.category,
            location: Location {
                point,
                address: req.content.address,
                grid: req.content.grid,
            },
            text: req.content.text,
            attachments,
            reporter: req.content.reporter,
            submitted_at: now,
            submitted_by: self.author(),
            deadline: None,
        };
        report::validate_new(&new)?;
        Ok((new, req.attachments.into_iter().map(|a| a.bytes).collect()))
    }

    fn require_member(&mut self, m: &MemberId) -> Result<roster::Member, NodeError> {
        let roster_id = DocumentId::singleton(self.config.place.clone(), DocKind::Roster);
        let Some(doc) = self.repo.existing(&roster_id)? else {
            return Err(crdt_model::ValidationError::UnknownMember(m.to_string()).into());
        };
        Ok(roster::require(doc, m)?)
    }

    /// Every report this node holds that passes `filter`, newest first.
    pub fn reports(
        &mut self,
        filter: &ReportFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReportView>, NodeError> {
        let mut out = Vec::new();
        for id in self.repo.document_ids()? {
            if id.kind() != DocKind::Reports {
                continue;
            }
            if filter
                .place
                .as_ref()
                .is_some_and(|p| !p.contains(id.place()))
            {
                continue;
            }
            let Some(doc) = self.repo.existing(&id)? else {
                continue;
            };
            for r in report::list(doc)? {
                if filter.category.is_some_and(|c| c != r.category) {
                    continue;
                }
                let v = ReportView::new(id.place().clone(), r, now);
                if filter.status.is_some_and(|s| s != v.status) || (filter.overdue && !v.overdue) {
                    continue;
                }
                out.push(v);
            }
        }
        out.sort_by(|a, b| (b.submitted_at, &b.id).cmp(&(a.submitted_at, &a.id)));
        Ok(out)
    }

    /// One report by id, from whichever place's document holds it.
    pub fn report(&mut self, id: &ReportId, now: DateTime<Utc>) -> Result<ReportView, NodeError> {
        for doc_id in self.repo.document_ids()? {
            if doc_id.kind() != DocKind::Reports || doc_id.period() != Some(id.month()) {
                continue;
            }
            let Some(doc) = self.repo.existing(&doc_id)? else {
                continue;
            };
            if let Some(r) = report::get(doc, id)? {
                let mut view = ReportView::new(doc_id.place().clone(), r, now);
                let writers = std::iter::once(view.submitted_by.as_str())
                    .chain(view.events.iter().map(|e| e.by.as_str()));
                view.authors = self.author_names(writers.collect::<Vec<_>>())?;
                return Ok(view);
            }
        }
        Err(NodeError::UnknownReport(id.to_string()))
    }

    /// Every document held, with its heads and storage sizes.
    pub fn documents(&self) -> Result<Vec<DocumentRow>, NodeError> {
        let store = self.repo.store();
        let mut out = Vec::new();
        for id in store.document_ids()? {
            if let Some(info) = store.document_info(&id)? {
                out.push(DocumentRow {
                    id,
                    heads: info.heads.iter().map(|h| h.to_string()).collect(),
                    snapshot_bytes: info.snapshot_bytes,
                    changes_bytes: info.changes_bytes,
                });
            }
        }
        Ok(out)
    }

    /// Counts from the street summaries this node holds, for the places whose
    /// reports it does not hold itself (a district following a neighbourhood
    /// only through summaries). Summaries are all-time counts: `from`/`to`
    /// filters do not apply to them.
    pub fn summarized(
        &mut self,
        filter: &crdt_model::StatsFilter,
    ) -> Result<crdt_model::Stats, NodeError> {
        let ids = self.repo.document_ids()?;
        let held: std::collections::BTreeSet<PlaceId> = ids
            .iter()
            .filter(|id| id.kind() == DocKind::Reports)
            .map(|id| id.place().clone())
            .collect();
        let mut out = crdt_model::Stats::default();
        for id in ids.iter().filter(|id| id.kind() == DocKind::Summary) {
            let Some(doc) = self.repo.existing(id)? else {
                continue;
            };
            for (place, stats) in crdt_model::summary::list(&*doc)? {
                let wanted = filter.place.as_ref().is_none_or(|p| p.contains(&place));
                if wanted && !held.contains(&place) {
                    out.merge(&stats);
                }
            }
        }
        Ok(out)
    }

    /// Peers this node has known, from the store; none is connected while no
    /// node process runs.
    pub fn known_peers(&self) -> Result<Vec<crate::admin::PeerRow>, NodeError> {
        let mut out = Vec::new();
        for (peer, record) in self.repo.store().peers()? {
            // A record this version cannot read still names a known peer.
            let rec: PeerRecord = serde_json::from_slice(&record).unwrap_or_default();
            out.push(crate::admin::PeerRow {
                peer_id: peer,
                addresses: rec.addresses,
                connected: false,
                place: rec.place,
                role: rec.role,
                last_seen: rec.last_seen,
            });
        }
        Ok(out)
    }

    /// A blob's bytes, verified against its hash.
    pub fn blob(&self, hash: &BlobHash) -> Result<Vec<u8>, NodeError> {
        self.repo
            .blob(hash)?
            .ok_or_else(|| NodeError::UnknownBlob(hash.to_string()))
    }

    /// The schema version this build writes.
    pub fn schema_version() -> u32 {
        SCHEMA_VERSION
    }
}
