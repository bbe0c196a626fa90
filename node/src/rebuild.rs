//! Rebuilding a node whose store is lost or damaged (`yizhan rebuild`): a
//! fresh store beside the old one, which is moved aside and never deleted,
//! under the node's own identity and admission and a fresh Automerge actor,
//! for its peers to refill (`docs/storage.md`, "Rebuilding").
//!
//! What the fresh store starts with, and from where:
//!
//! - the admission (the node's credential): from the old store when it can
//!   still be read, else from the admission file beside it
//!   ([`crate::trust::admission_copy`]), else, for a district, made anew
//!   from its key (a root credential is the key and the place, nothing
//!   signed by anyone else); failing all three, none, and the node must be
//!   admitted again;
//! - the peers' addresses: the old store's `peers` table when it can be
//!   read; `config.toml`'s `peers` are read at every start anyway;
//! - a new random actor epoch, so the node never writes a change under a
//!   sequence number it used before the loss (the mechanism restoring a
//!   backup uses; `docs/storage.md`, "Restoring").
//!
//! Everything else (documents, signatures) comes back from the peers once
//! the node runs. The blob files in `blobs/` beside the store are kept as
//! they are: each is named by its hash and checked against it whenever it
//! is read, so photos already here are not fetched again. Only
//! roster-private, which never leaves its node, cannot come back from
//! peers: it comes back only from a backup.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::admin::{Call, Request, call_running};
use crate::api::{Node, files};
use crate::config::{Config, Role};
use crate::error::NodeError;
use crate::identity::Identity;
use crate::store::{Store, StoreError};
use crate::trust::{CREDENTIAL_META_KEY, Credential, Federation, NodeKey, admission_copy};

/// What was found at the old store's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OldStore {
    /// No store file.
    Absent,
    /// It opened and verified: admission and peers were carried from it.
    Readable,
    /// It failed to open: damaged, truncated, not a store.
    Unreadable {
        /// Why, as opening it said.
        reason: String,
    },
}

/// Where the fresh store's admission came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdmissionFrom {
    /// The old store.
    OldStore,
    /// The admission file beside the store.
    AdmissionFile,
    /// Made anew: a district is the root of its federation.
    Founded,
    /// Nowhere: the node must be admitted again (`yizhan join TOKEN`).
    Missing,
}

/// What [`rebuild`] did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rebuilt {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The node's peer id, kept.
    pub peer_id: String,
    /// Its role, from `config.toml`.
    pub role: Role,
    /// Its place.
    pub place: String,
    /// The new actor epoch (16 hex digits) the node writes under.
    pub actor_epoch: String,
    /// What was at the old store's path.
    pub old_store: OldStore,
    /// Where the old store file was moved; `None` when there was none.
    pub moved_aside: Option<PathBuf>,
    /// Where the admission came from.
    pub admission: AdmissionFrom,
    /// Peer records carried from the old store.
    pub peers_carried: usize,
}

impl Rebuilt {
    /// True when the node has no admission and must join again before it
    /// can sync anything.
    pub fn rejoin_needed(&self) -> bool {
        self.admission == AdmissionFrom::Missing
    }
}

/// What could be read from the old store.
#[derive(Default)]
struct Salvage {
    credential: Option<Credential>,
    peers: Vec<(String, Vec<u8>)>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NodeError + '_ {
    move |source| NodeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads what the old store can still give, or says why it cannot.
/// Refuses (an `Err`) when the store is not damaged but unavailable: in use
/// by a running node, newer than this binary, or beyond the operating
/// system's reach; moving it aside then would be wrong.
fn salvage(path: &Path) -> Result<(OldStore, Salvage), NodeError> {
    let store = match Store::open_read_only(path) {
        Ok(store) => store,
        Err(StoreError::NotFound { .. }) => return Ok((OldStore::Absent, Salvage::default())),
        Err(
            e @ (StoreError::Corrupt { .. }
            | StoreError::MissingMeta { .. }
            | StoreError::Database { .. }
            | StoreError::CorruptDocument { .. }),
        ) => {
            let reason = e.to_string();
            return Ok((OldStore::Unreadable { reason }, Salvage::default()));
        }
        Err(e) => return Err(e.into()),
    };
    let read = || -> Result<Salvage, StoreError> {
        // A credential that does not decode is as good as none; the
        // admission file may still hold it.
        let credential = store
            .get_meta(CREDENTIAL_META_KEY)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        Ok(Salvage {
            credential,
            peers: store.peers()?,
        })
    };
    Ok(match read() {
        Ok(s) => (OldStore::Readable, s),
        Err(e) => (
            OldStore::Unreadable {
                reason: e.to_string(),
            },
            Salvage::default(),
        ),
    })
}

/// The admission to carry: the first of old store, admission file, and (a
/// district's) root credential that admits this very key at the role and
/// place `config.toml` gives.
fn choose_admission(
    dir: &Path,
    config: &Config,
    me: NodeKey,
    from_store: Option<Credential>,
) -> (Option<Credential>, AdmissionFrom) {
    let fits = |c: &Credential| {
        c.structure()
            .is_ok_and(|m| m.key == me && m.role == config.role && m.place == config.place)
    };
    if let Some(c) = from_store.filter(fits) {
        return (Some(c), AdmissionFrom::OldStore);
    }
    match admission_copy::load(dir) {
        Ok(Some(c)) if fits(&c) => return (Some(c), AdmissionFrom::AdmissionFile),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "the admission file cannot be used"),
    }
    if config.role == Role::District {
        let root = Credential::root(Federation {
            root: me,
            place: config.place.clone(),
        });
        return (Some(root), AdmissionFrom::Founded);
    }
    (None, AdmissionFrom::Missing)
}

/// A name beside the store for the old file, not taken yet.
fn aside_path(dir: &Path, now: DateTime<Utc>) -> PathBuf {
    let stem = format!("{}.damaged-{}", files::STORE, now.format("%Y%m%dT%H%M%SZ"));
    let mut path = dir.join(&stem);
    let mut n = 2;
    while path.symlink_metadata().is_ok() {
        path = dir.join(format!("{stem}-{n}"));
        n += 1;
    }
    path
}

/// Makes the fresh store at `path` (not yet in place) holding only the
/// actor epoch, the admission and the peer records, in one transaction.
fn make_fresh(
    path: &Path,
    epoch: [u8; 8],
    cred: Option<&Credential>,
    peers: &[(String, Vec<u8>)],
) -> Result<(), NodeError> {
    let store = Store::create(path)?;
    let mut b = store.batch()?;
    b.put_actor_epoch(epoch)?;
    if let Some(c) = cred {
        let bytes = serde_json::to_vec(c).map_err(|e| NodeError::Internal(e.to_string()))?;
        b.put_meta(CREDENTIAL_META_KEY, &bytes)?;
    }
    for (peer, record) in peers {
        b.put_peer(peer, record)?;
    }
    b.commit()?;
    drop(store);
    // The store holds roster-private once refilled: owner-only, as `init` makes it.
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io(path))
}

/// Rebuilds the store of the node in `dir`: moves the old store file aside
/// (renamed `store.redb.damaged-<UTC time>`, never deleted) and puts in its
/// place a fresh store with the node's admission and known peers, under a
/// new actor epoch. Refuses, changing nothing, when `dir` holds no node or
/// no identity key, when a node is running on it, or when the old store is
/// unavailable rather than damaged (newer schema, permissions).
///
/// The fresh store is made complete under a temporary name first and
/// renamed into place last, so an interruption leaves either the old store
/// in place or the fresh one, never a store without its actor epoch.
pub fn rebuild(dir: &Path, now: DateTime<Utc>) -> Result<Rebuilt, NodeError> {
    let config = Node::load_config(dir)?;
    let dir = &fs::canonicalize(dir).map_err(io(dir))?;
    let key_path = dir.join(files::IDENTITY);
    if !key_path.exists() {
        return Err(crate::refusal::AdminRefusal::NothingToRebuild {
            dir: dir.clone(),
            file: files::IDENTITY,
        }
        .into());
    }
    let identity = Identity::load(&key_path)?;
    if matches!(call_running(dir, &Call::new(Request::Status)), Ok(Some(_))) {
        return Err(crate::refusal::AdminRefusal::RebuildWhileRunning { dir: dir.clone() }.into());
    }
    let store_path = dir.join(files::STORE);
    let (old_store, salvaged) = salvage(&store_path)?;
    let me = NodeKey::of_keypair(identity.keypair())?;
    let (cred, admission) = choose_admission(dir, &config, me, salvaged.credential);

    let fresh = dir.join(format!("{}.rebuilding", files::STORE));
    // Left by an interrupted rebuild: it was never in place, so never used.
    if fresh.exists() {
        fs::remove_file(&fresh).map_err(io(&fresh))?;
    }
    let epoch: [u8; 8] = rand::random();
    if let Err(e) = make_fresh(&fresh, epoch, cred.as_ref(), &salvaged.peers) {
        let _ = fs::remove_file(&fresh);
        return Err(e);
    }
    let moved_aside = if store_path.symlink_metadata().is_ok() {
        let aside = aside_path(dir, now);
        fs::rename(&store_path, &aside).map_err(io(&store_path))?;
        Some(aside)
    } else {
        None
    };
    fs::rename(&fresh, &store_path).map_err(io(&store_path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    if let Some(c) = &cred {
        admission_copy::save(dir, c)?;
    }
    Ok(Rebuilt {
        data_dir: dir.clone(),
        peer_id: identity.peer_id().to_string(),
        role: config.role,
        place: config.place.to_string(),
        actor_epoch: hex::encode(epoch),
        old_store,
        moved_aside,
        admission,
        peers_carried: salvaged.peers.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PeerRecord;
    use crdt_model::PlaceId;

    fn community(dir: &Path) -> Node {
        let place = PlaceId::parse("guandu/yiliu/xinyazhou").unwrap();
        Node::init(dir, Role::Community, place, None).unwrap()
    }

    /// Gives the node in `dir` a credential as if it had joined, and a peer record.
    fn admitted(dir: &Path) -> Credential {
        let street = Identity::generate();
        let district = Identity::generate();
        let fed = Federation {
            root: NodeKey::of_keypair(district.keypair()).unwrap(),
            place: PlaceId::parse("guandu").unwrap(),
        };
        let now = Utc::now().timestamp();
        let admit =
            |by: &Identity, node: NodeKey, role, place: &str, may_admit, cred: &Credential| {
                cred.admit(
                    by.keypair(),
                    crate::trust::Admission {
                        node,
                        role,
                        place: PlaceId::parse(place).unwrap(),
                        may_admit,
                        issued: now,
                        expires: None,
                        issuer: NodeKey::of_keypair(by.keypair()).unwrap(),
                    },
                )
                .unwrap()
            };
        let street_key = NodeKey::of_keypair(street.keypair()).unwrap();
        let street_cred = admit(
            &district,
            street_key,
            Role::Street,
            "guandu/yiliu",
            true,
            &Credential::root(fed),
        );
        let node = Node::open(dir).unwrap();
        let cred = admit(
            &street,
            node.key().unwrap(),
            Role::Community,
            "guandu/yiliu/xinyazhou",
            false,
            &street_cred,
        );
        let mut node = node;
        node.join(&cred.to_token().unwrap(), Utc::now()).unwrap();
        let rec = serde_json::to_vec(&PeerRecord {
            addresses: vec!["/ip4/10.0.0.2/tcp/4001".into()],
            ..PeerRecord::default()
        })
        .unwrap();
        let mut b = node.store().batch().unwrap();
        b.put_peer(&street.peer_id().to_string(), &rec).unwrap();
        b.commit().unwrap();
        cred
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn readable_store_gives_its_admission_and_peers_to_a_fresh_actor() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        drop(community(&dir));
        let cred = admitted(&dir);
        let peer = Node::open_read_only(&dir).unwrap().identity().peer_id();
        let r = rebuild(&dir, Utc::now()).unwrap();
        assert_eq!(r.old_store, OldStore::Readable);
        assert_eq!(r.admission, AdmissionFrom::OldStore);
        assert_eq!(r.peers_carried, 1);
        assert_eq!(r.peer_id, peer.to_string());
        assert!(r.moved_aside.as_ref().unwrap().exists());
        let node = Node::open_read_only(&dir).unwrap();
        assert_eq!(node.credential().unwrap(), Some(cred));
        assert_eq!(node.store().peers().unwrap().len(), 1);
        assert_eq!(
            node.store()
                .get_meta(crate::store::ACTOR_EPOCH_KEY)
                .unwrap(),
            Some(hex::decode(&r.actor_epoch).unwrap())
        );
        assert!(!files_in(&dir).iter().any(|f| f.ends_with(".rebuilding")));
    }

    #[test]
    fn garbage_store_takes_its_admission_from_the_admission_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        drop(community(&dir));
        let cred = admitted(&dir);
        // `join` wrote the copy.
        assert_eq!(admission_copy::load(&dir).unwrap(), Some(cred.clone()));
        fs::write(dir.join(files::STORE), vec![0xa5; 5000]).unwrap();
        let r = rebuild(&dir, Utc::now()).unwrap();
        assert!(matches!(r.old_store, OldStore::Unreadable { .. }));
        assert_eq!(r.admission, AdmissionFrom::AdmissionFile);
        assert_eq!(
            fs::read(r.moved_aside.unwrap()).unwrap(),
            vec![0xa5; 5000],
            "the old file is kept as it was"
        );
        let node = Node::open_read_only(&dir).unwrap();
        assert_eq!(node.credential().unwrap(), Some(cred));
    }

    #[test]
    fn without_any_admission_the_store_is_made_and_a_rejoin_asked_for() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        drop(community(&dir));
        fs::remove_file(dir.join(files::STORE)).unwrap();
        let r = rebuild(&dir, Utc::now()).unwrap();
        assert_eq!(r.old_store, OldStore::Absent);
        assert!(r.rejoin_needed());
        assert!(r.moved_aside.is_none());
        assert!(
            Node::open_read_only(&dir)
                .unwrap()
                .credential()
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_district_founds_its_federation_again() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        let node = Node::init(
            &dir,
            Role::District,
            PlaceId::parse("guandu").unwrap(),
            None,
        )
        .unwrap();
        let cred = node.credential().unwrap();
        drop(node);
        fs::remove_file(dir.join(files::STORE)).unwrap();
        fs::remove_file(dir.join(files::ADMISSION)).unwrap();
        let r = rebuild(&dir, Utc::now()).unwrap();
        assert_eq!(r.admission, AdmissionFrom::Founded);
        assert_eq!(
            Node::open_read_only(&dir).unwrap().credential().unwrap(),
            cred
        );
    }

    #[test]
    fn refused_rebuild_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        let node = community(&dir);
        // The store is held open, as by a running node.
        let before = files_in(&dir);
        assert!(matches!(
            rebuild(&dir, Utc::now()),
            Err(NodeError::Store(StoreError::AlreadyOpen { .. }))
        ));
        assert_eq!(files_in(&dir), before);
        // Closing writes redb's own bookkeeping; compare bytes from here.
        drop(node);
        let bytes = fs::read(dir.join(files::STORE)).unwrap();
        // No identity key: nothing to keep.
        fs::rename(dir.join(files::IDENTITY), tmp.path().join("key")).unwrap();
        let err = rebuild(&dir, Utc::now()).unwrap_err().to_string();
        assert!(err.contains("no identity key"), "{err}");
        assert_eq!(files_in(&dir).len(), before.len() - 1);
        assert_eq!(fs::read(dir.join(files::STORE)).unwrap(), bytes);
    }
}
