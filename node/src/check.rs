//! `yizhan check`: verify a node's store and say what is wrong with it.
//!
//! Every check always runs:
//!
//! - the store opens, which runs redb's integrity check (the checksum of
//!   every page of the committed trees);
//! - every document loads strictly and reproduces the heads recorded at its
//!   last write (`Store::load_document`);
//! - every blob file's bytes hash to its name; entries in the blob
//!   directory that are not a blob file are strays; blobs that reports held here name but that are not held
//!   are listed as missing (a node still fetching them is not damaged);
//! - this node's own credential holds and matches `config.toml`, and no
//!   entry of the charter it holds is one every node would ignore.
//!
//! `--deep` adds, for every change of every document: a signature is
//! recorded for it, by its actor's key, and verifies for that document
//! (or, for a change that a later change of its author depends on
//! directly, that change covers it: `trust::attest`); the author's
//! admission chain holds and leads to this federation's root; and the
//! author may write the document. That costs an Ed25519 verification per
//! signed change, seconds for a year of a street's documents, so it is not
//! the default.
//!
//! A store that fails verification is opened once more without it
//! ([`crate::store::Store::open_unverified`]), and the same checks run over
//! whatever can still be read, to name the documents, changes and blobs the
//! damage reached. Every read there is guarded against panics inside redb
//! and Automerge.
//!
//! The check never writes: offline it reads through a scratch view of the
//! file, and a running node answers it over a read-only view of its store.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use automerge::{ActorId, ChangeHash};
use crdt_model::DocumentId;
use serde::{Deserialize, Serialize};

use crate::admin::{self, Call, Request, Response};
use crate::api::Node;
use crate::error::NodeError;
use crate::report_index::report_blobs;
use crate::store::{BlobHash, StoreError};
use crate::trust::attest::{Chains, Link};
use crate::trust::charter;
use crate::trust::signing::signing_bytes;
use crate::trust::{Credential, Federation, Member, NodeKey, may_write};

/// What a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// The store file as a whole.
    Store,
    /// A document.
    Document,
    /// One change of a document.
    Change,
    /// A blob.
    Blob,
    /// An entry of the charter.
    Charter,
    /// This node's own credential.
    Credential,
}

impl Subject {
    fn as_str(self) -> &'static str {
        match self {
            Subject::Store => "store",
            Subject::Document => "document",
            Subject::Change => "change",
            Subject::Blob => "blob",
            Subject::Charter => "charter entry",
            Subject::Credential => "credential",
        }
    }
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// What kind of thing.
    pub subject: Subject,
    /// Which one: the store file's path, a document id, a change hash or a
    /// blob hash (hex), a charter key, or this node's peer id.
    pub id: String,
    /// For a change: the document it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// What is wrong, for the operator.
    pub problem: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.subject.as_str(), self.id)?;
        if let Some(doc) = &self.document {
            write!(f, " of {doc}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// What `yizhan check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Whether change signatures and author chains were checked too.
    pub deep: bool,
    /// Whether the running node answered, over a read-only view of its store.
    pub running: bool,
    /// Whether the store failed verification and what follows was read from
    /// it unverified, only to name what the damage reached.
    pub unverified: bool,
    /// Documents checked.
    pub documents: usize,
    /// Changes whose signature and author were checked (`--deep` only).
    pub changes: usize,
    /// Blobs checked.
    pub blobs: usize,
    /// Blobs that reports held here name and this node does not hold (yet):
    /// a street or district fetches them from peers, so they are not
    /// problems; on the community that took the report, one is lost.
    #[serde(default)]
    pub blobs_missing: Vec<String>,
    /// Everything found wrong; empty for a healthy store.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// True when nothing was found wrong.
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }

    fn push(&mut self, subject: Subject, id: impl Into<String>, problem: impl Into<String>) {
        self.problems.push(Problem {
            subject,
            id: id.into(),
            document: None,
            problem: problem.into(),
        });
    }
}

/// Checks the node in `dir`: through the running node if one answers on its
/// admin socket, else on the store file, read-only. A store that fails
/// verification gives a report naming the damage, not an error; errors are
/// for what stops the check itself (no node here, the store held by a
/// process that does not answer, a store from a newer yizhan).
pub fn check_dir(dir: &Path, deep: bool) -> Result<CheckReport, NodeError> {
    let call = Call::new(Request::Check { deep });
    if let Some(answer) = admin::call_running(dir, &call)? {
        return match answer {
            Response::Check(mut report) => {
                report.running = true;
                Ok(*report)
            }
            Response::Failed(body) => Err(NodeError::Remote(body)),
            other => Err(NodeError::Internal(format!(
                "the running node answered a check with {other:?}"
            ))),
        };
    }
    match Node::open_read_only(dir) {
        Ok(mut node) => Ok(node.check(deep)),
        Err(NodeError::Store(StoreError::Corrupt { path, reason })) => {
            Ok(check_damaged(dir, deep, &path, &reason))
        }
        Err(e) => Err(e),
    }
}

/// The report on a store that failed verification: that failure, and what
/// the checks find in whatever can still be read.
fn check_damaged(dir: &Path, deep: bool, path: &Path, reason: &str) -> CheckReport {
    let path = path.display().to_string();
    let mut report = CheckReport {
        deep,
        unverified: true,
        ..CheckReport::default()
    };
    report.push(
        Subject::Store,
        &path,
        format!(
            "it failed verification ({reason}); stop the node and run `yizhan rebuild` (it moves the file aside and refills a fresh store from the node's peers), or restore a backup"
        ),
    );
    let _quiet = QuietPanics::install();
    let nothing_more = match guard(|| Node::open_unverified(dir)) {
        Ok(Ok(mut node)) => {
            let found = node.check(deep);
            report.documents = found.documents;
            report.changes = found.changes;
            report.blobs = found.blobs;
            report.problems.extend(found.problems);
            return report;
        }
        Ok(Err(NodeError::Store(StoreError::Corrupt { reason: again, .. }))) if again == reason => {
            "nothing more could be read from it".to_owned()
        }
        Ok(Err(e)) => format!("nothing more could be read from it: {e}"),
        Err(why) => format!("nothing more could be read from it: {why}"),
    };
    report.push(Subject::Store, &path, nothing_more);
    report
}

/// Runs `f`, turning a panic (inside redb or Automerge, on damaged bytes)
/// into an error.
fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| "the storage engine could not read it (its bytes are damaged)".to_owned())
}

/// Silences the panic hook while a damaged store is read, so that guarded
/// panics do not print backtraces at the operator; restores it when dropped.
struct QuietPanics {
    previous: Option<PanicHook>,
}

/// What `std::panic::take_hook` returns.
type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

impl QuietPanics {
    fn install() -> QuietPanics {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        QuietPanics {
            previous: Some(previous),
        }
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            std::panic::set_hook(previous);
        }
    }
}

/// Authors as the deep check establishes them, each judged once.
struct Authors {
    /// The federation, once this node founded or joined one; before that
    /// no chain can be judged and only signatures are checked.
    federation: Option<Federation>,
    charter: charter::CharterView,
    judged: BTreeMap<NodeKey, Result<Option<Member>, String>>,
}

impl Node {
    /// Checks this node's store (see the module docs); never fails: what
    /// cannot be read is a problem in the report.
    pub fn check(&mut self, deep: bool) -> CheckReport {
        let mut report = CheckReport {
            deep,
            ..CheckReport::default()
        };
        let store_path = self.store().path().display().to_string();
        let ids = match guard(|| self.store().document_ids()) {
            Ok(Ok(ids)) => ids,
            Ok(Err(e)) => {
                report.push(Subject::Store, &store_path, e.to_string());
                Vec::new()
            }
            Err(why) => {
                report.push(
                    Subject::Store,
                    &store_path,
                    format!("listing documents: {why}"),
                );
                Vec::new()
            }
        };
        let mut authors = deep.then(|| self.authors());
        let mut referenced = BTreeSet::new();
        for id in ids {
            report.documents += 1;
            let mut doc = match guard(|| self.store().load_document(&id)) {
                Ok(Ok(Some(doc))) => doc,
                Ok(Ok(None)) => continue,
                Ok(Err(StoreError::CorruptDocument { reason, .. })) => {
                    report.push(Subject::Document, &id, reason);
                    continue;
                }
                Ok(Err(e)) => {
                    report.push(Subject::Document, &id, e.to_string());
                    continue;
                }
                Err(why) => {
                    report.push(Subject::Document, &id, why);
                    continue;
                }
            };
            // A reports document that does not list is not this check's
            // concern (its reports cannot name blobs); the others name the
            // blobs that should be here.
            if DocumentId::parse(&id).is_ok_and(|d| d.kind() == crdt_model::DocKind::Reports)
                && let Ok(Ok(reports)) = guard(|| crdt_model::report::list(&doc))
            {
                referenced.extend(reports.iter().flat_map(report_blobs));
            }
            let Some(authors) = authors.as_mut() else {
                continue;
            };
            let doc_id = match DocumentId::parse(&id) {
                Ok(d) => d,
                Err(e) => {
                    report.push(
                        Subject::Document,
                        &id,
                        format!("its id does not parse: {e}"),
                    );
                    continue;
                }
            };
            // A change that a later change of its author depends on
            // directly is covered by that change's signature and may have
            // none of its own (trust::attest).
            let changes = match guard(|| {
                let all = doc.get_changes(&[]);
                let chains = Chains::of(&all.iter().map(Link::of_change).collect::<Vec<_>>());
                all.iter()
                    .map(|c| (c.hash(), c.actor_id().clone(), chains.is_chained(&c.hash())))
                    .collect::<Vec<_>>()
            }) {
                Ok(changes) => changes,
                Err(why) => {
                    report.push(
                        Subject::Document,
                        &id,
                        format!("listing its changes: {why}"),
                    );
                    continue;
                }
            };
            for (hash, actor, chained) in changes {
                report.changes += 1;
                if let Err(why) = self.check_change(&doc_id, &hash, &actor, chained, authors) {
                    report.problems.push(Problem {
                        subject: Subject::Change,
                        id: hash.to_string(),
                        document: Some(id.clone()),
                        problem: why,
                    });
                }
            }
        }
        self.check_blobs(&mut report, &store_path, &referenced);
        self.check_trust(&mut report);
        report
    }

    fn check_blobs(
        &self,
        report: &mut CheckReport,
        store_path: &str,
        referenced: &BTreeSet<BlobHash>,
    ) {
        let survey = match guard(|| self.store().blob_survey()) {
            Ok(Ok(survey)) => survey,
            Ok(Err(e)) => return report.push(Subject::Store, store_path, e.to_string()),
            Err(why) => {
                return report.push(Subject::Store, store_path, format!("listing blobs: {why}"));
            }
        };
        for hash in &survey.blobs {
            report.blobs += 1;
            match guard(|| self.store().verify_blob(hash)) {
                Ok(Ok(())) => {}
                Ok(Err(StoreError::CorruptBlob { reason, .. })) => report.push(
                    Subject::Blob,
                    hash.to_string(),
                    format!("{reason}: its file was altered on disk and is not served; delete it and `yizhan blob get {hash}` fetches it again from a peer"),
                ),
                Ok(Err(e)) => report.push(Subject::Blob, hash.to_string(), e.to_string()),
                Err(why) => report.push(Subject::Blob, hash.to_string(), why),
            }
        }
        let dir = self.store().blob_dir().display().to_string();
        for name in survey.strays {
            report.push(
                Subject::Blob,
                format!("{dir}/{name}"),
                "a stray file in the blob directory: not a blob file, so nothing uses it; remove it",
            );
        }
        report.blobs_missing = referenced
            .iter()
            .filter(|h| survey.blobs.binary_search(h).is_err())
            .map(ToString::to_string)
            .collect();
    }

    /// This node's credential, its agreement with `config.toml`, and the
    /// charter's entries.
    fn check_trust(&mut self, report: &mut CheckReport) {
        let me = match self.key() {
            Ok(k) => k,
            Err(e) => return report.push(Subject::Credential, "identity.key", e.to_string()),
        };
        let cred = match guard(|| self.credential()) {
            Ok(Ok(Some(cred))) => cred,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => return report.push(Subject::Credential, me.to_string(), e.to_string()),
            Err(why) => return report.push(Subject::Credential, me.to_string(), why),
        };
        match cred.structure() {
            Ok(m) if m.key != me => report.push(
                Subject::Credential,
                me.to_string(),
                format!("the credential stored here admits {}, not this node", m.key),
            ),
            Ok(_) => {
                if let Err(e) = self.check_config_matches_admission() {
                    report.push(Subject::Credential, me.to_string(), e.to_string());
                }
            }
            Err(e) => report.push(
                Subject::Credential,
                me.to_string(),
                format!("this node's admission chain does not hold: {e}"),
            ),
        }
        let charter_id = self.charter_id().to_string();
        // A charter that does not load is already reported as a document.
        if let Ok(Ok(Some(doc))) = guard(|| self.store().load_document(&charter_id)) {
            for (key, why) in charter::read(&doc, &cred.federation).ignored {
                report.push(
                    Subject::Charter,
                    key,
                    format!("every node ignores it: {why}; receivers refuse such entries, so it should not be stored"),
                );
            }
        }
    }

    fn authors(&mut self) -> Authors {
        let federation = self.credential().ok().flatten().map(|c| c.federation);
        let charter = self.charter_view().unwrap_or_default();
        Authors {
            federation,
            charter,
            judged: BTreeMap::new(),
        }
    }

    /// One change: its recorded signature, and its author's chain and write
    /// right.
    fn check_change(
        &mut self,
        doc: &DocumentId,
        hash: &ChangeHash,
        actor: &ActorId,
        chained: bool,
        authors: &mut Authors,
    ) -> Result<(), String> {
        let key = NodeKey(
            crdt_model::actor::writer_key(actor)
                .ok_or_else(|| format!("its actor {actor} is not a node key"))?,
        );
        let record = guard(|| self.store().signature(&hash.0))?.map_err(|e| e.to_string())?;
        match record {
            None if chained => {}
            None => return Err(format!("no signature is recorded for it (author {key})")),
            Some(record) if record.author != key.0 => {
                return Err(format!(
                    "its signature is recorded as {}'s, but its author is {key}",
                    NodeKey(record.author)
                ));
            }
            Some(record) => {
                if !key.verifies(&signing_bytes(doc, hash), &record.signature) {
                    return Err(format!(
                        "its recorded signature does not verify (author {key}, document {doc})"
                    ));
                }
            }
        }
        let judged = match authors.judged.get(&key) {
            Some(j) => j.clone(),
            None => {
                let j = self.judge_author(&key, authors);
                authors.judged.insert(key, j.clone());
                j
            }
        };
        match judged? {
            Some(member) if !may_write(&member, doc) => Err(format!(
                "its author {key}, a {} at {}, may not write {doc}",
                member.role, member.place
            )),
            _ => Ok(()),
        }
    }

    /// The member `key` is by its admission chain, or `None` when no chain
    /// can be judged (this node has not joined a federation).
    fn judge_author(&mut self, key: &NodeKey, authors: &Authors) -> Result<Option<Member>, String> {
        let Some(federation) = &authors.federation else {
            return Ok(None);
        };
        let cred = if key == &federation.root {
            Credential::root(federation.clone())
        } else {
            self.known_credential(key, &authors.charter)
                .map_err(|e| format!("reading its author {key}'s credential: {e}"))?
                .ok_or_else(|| format!("no credential of its author {key} is stored here"))?
        };
        if &cred.federation != federation {
            return Err(format!("its author {key} belongs to another federation"));
        }
        let member = cred
            .structure()
            .map_err(|e| format!("its author {key}'s admission chain does not hold: {e}"))?;
        if &member.key != key {
            return Err(format!(
                "the credential stored for its author {key} is {}'s",
                member.key
            ));
        }
        Ok(Some(member))
    }
}
