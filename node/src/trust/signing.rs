//! Signed changes: every change a node writes is signed with its key, the
//! signature travels with the change through relays, and a receiver checks
//! signature and write right of every change before anything is applied.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{AutoCommit, ChangeHash, sync};
use chrono::{DateTime, Utc};
use crdt_model::DocumentId;
use libp2p::identity::Keypair;

use crdt_model::DocKind;
use crdt_model::escrow_rules::check_ledger_change;
use crdt_model::write_rules::{ChangeAuthor, check_append_only_change, check_reports_change};

use super::access::may_write;
use super::admission::{Credential, Cut, Federation, Member, NodeKey};
use super::attest::{Chains, Link, author_key};
use super::charter::{self, CharterView};
use super::refused::{Epoch, RefusedChanges};
use super::statement::{CHARTER_PREFIXES, CutReason, SignedStatement, heads_of};

/// Domain separation for change signatures. v2 binds the document id; v1
/// signed the hash alone, so a change could be replayed into another document.
const SIGNING_CONTEXT: &[u8] = b"yizhan-change-v2";

/// The bytes a change's author signs: a context string, the document id
/// (length-prefixed, so no id is a prefix of another's bytes) and the change
/// hash. A signature is therefore valid for one document only.
pub fn signing_bytes(doc: &DocumentId, hash: &ChangeHash) -> Vec<u8> {
    let id = doc.to_string();
    let mut out = SIGNING_CONTEXT.to_vec();
    out.extend_from_slice(&(id.len() as u32).to_be_bytes());
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&hash.0);
    out
}

/// Signs a change of `doc`.
pub fn sign(keypair: &Keypair, doc: &DocumentId, hash: &ChangeHash) -> Option<Vec<u8>> {
    keypair.sign(&signing_bytes(doc, hash)).ok()
}

pub use super::proof::{
    ChangeSignature, Proof, ProofSources, build_proof, changes_after, changes_since,
};

/// What a node knows to check changes: its federation, itself, and its
/// charter (revocations in force and where cut-off nodes' work ends).
#[derive(Debug, Clone)]
pub struct TrustContext {
    /// The federation.
    pub federation: Federation,
    /// This node.
    pub me: Member,
    /// The charter as this node reads it.
    pub charter: CharterView,
    /// Changes refused lately, so peers' heads naming them are not asked for.
    pub refused: RefusedChanges,
}

impl TrustContext {
    /// What `me` checks changes against, under `charter`.
    pub fn new(federation: Federation, me: Member, charter: CharterView) -> TrustContext {
        TrustContext {
            federation,
            me,
            charter,
            refused: RefusedChanges::default(),
        }
    }

    fn epoch(&self) -> Epoch {
        (
            self.charter.revoked.len(),
            self.charter.cutoffs.values().map(Vec::len).sum(),
            self.charter.credentials.len(),
        )
    }

    /// For a message that carries no changes: the same message without
    /// heads this node refused, or `None` when it names none.
    /// `ours` are this node's heads of `doc`.
    pub fn strip_refused(
        &self,
        doc: &DocumentId,
        message: &sync::Message,
        ours: &[ChangeHash],
    ) -> Option<sync::Message> {
        let mut heads = message.heads.clone();
        if !self.refused.strip(self.epoch(), doc, &mut heads, ours) {
            return None;
        }
        let mut m = message.clone();
        m.heads = heads;
        Some(m)
    }
}

/// A change that passed the checks, with what to store for forwarding it.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The change.
    pub hash: ChangeHash,
    /// Its author.
    pub author: NodeKey,
    /// Its own signature, when it came with one; `None` when a later change
    /// of its author in the message covers it (`attest`).
    pub signature: Option<Vec<u8>>,
    /// Its author's credential, unless the author is this node.
    pub credential: Option<Credential>,
}

/// What the checks made of a message's changes.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Changes to apply, with their signatures.
    pub accepted: Vec<Checked>,
    /// Changes refused, each with its reason.
    pub refused: Vec<(ChangeHash, String)>,
    /// The author of each refused change whose actor is a node key.
    pub refused_authors: BTreeMap<ChangeHash, NodeKey>,
    /// Refused changes that wait for a proof or a charter that completes
    /// their attestation or their author's credential, rather than broke a
    /// rule.
    pub waiting: BTreeSet<ChangeHash>,
    /// When some changes were refused: the message to apply instead, carrying
    /// only the accepted changes and not naming the refused ones as the
    /// sender's heads (so this node does not ask for them again).
    pub filtered: Option<sync::Message>,
    /// The message reuses a sequence number of an actor for a change other
    /// than the one held here (two copies of one node wrote under one
    /// actor): which actor and number. Nothing else is checked then.
    pub clash: Option<String>,
    /// For a document not held before: the checked copy, holding exactly
    /// the message's changes, when every one was accepted and none waits
    /// for a dependency. The engine takes it as the new document instead
    /// of loading the changes again (`yizhan_engine::Prepared`).
    pub prepared: Option<AutoCommit>,
}

impl Verdict {
    /// What the engine needs of it: a line per refused change, and the
    /// message to apply instead.
    pub fn into_outcome(self) -> crate::engine::CheckOutcome {
        crate::engine::CheckOutcome {
            refused: self
                .refused
                .into_iter()
                .map(|(hash, why)| format!("change {hash}: {why}"))
                .collect(),
            filtered: self.filtered,
            clash: self.clash,
            prepared: self.prepared.map(crate::engine::Prepared::new),
        }
    }
}

/// Checks every change `message` would add to `current` (the document as
/// held, or empty), before anything is applied:
///
/// - it is attested by its author (`attest`): signed by the key of its
///   actor, for this document, or depended on directly by a change of the
///   same author in the message that is itself attested and accepted;
/// - that key belongs to a member of this federation whose chain holds, and
///   if a key on that chain is revoked or expired now, the change lies
///   inside every such key's cut-off (docs/trust.md);
/// - that member may write `doc`, and the change's operations keep the
///   document's write rules (reports: a street adds only its own events;
///   charter: append-only statements);
/// - it does not depend on a change refused here.
///
/// Changes that fail are refused alone (with those that depend on them or
/// lean on them for attestation); the rest are accepted. Changes whose
/// dependencies neither the message nor the document hold are left out, to
/// arrive again with them. An error refuses the whole message: bytes that
/// do not decode.
pub fn check_changes(
    ctx: &TrustContext,
    doc: &DocumentId,
    current: &mut AutoCommit,
    message: &sync::Message,
    proof: &Proof,
    now: DateTime<Utc>,
) -> Result<Verdict, String> {
    // Only the chunk kinds Automerge's sync sends reach it: the others carry decoding
    // paths a peer can make allocate without bound (super::chunks).
    for chunk in message.changes.iter() {
        super::chunks::only_sync_chunks(chunk).map_err(|e| format!("undecodable changes: {e}"))?;
    }
    let before = current.get_heads();
    let mut scratch = current.fork();
    // Automerge can panic on changes crafted to break its op model (found by
    // fuzzing, fuzz/regressions/change_check). Only the scratch copy is
    // touched here, so a panic refuses the message and loses nothing.
    let loaded = guarded(|| {
        for chunk in message.changes.iter() {
            match scratch.load_incremental(chunk) {
                Ok(_) => {}
                // Not forged, and not the sender's fault alone: the actor
                // wrote two different changes with one sequence number,
                // which happens when a node's store is put back from a
                // copy (docs/storage.md, "Restoring").
                Err(automerge::AutomergeError::DuplicateSeqNumber(seq, actor)) => {
                    return Ok(Some(format!(
                        "actor {actor} used sequence number {seq} for a change other than the one held here"
                    )));
                }
                Err(e) => return Err(format!("undecodable changes: {e}")),
            }
        }
        Ok(None)
    });
    if let Some(clash) = loaded? {
        return Ok(Verdict {
            clash: Some(clash),
            ..Verdict::default()
        });
    }
    // Changes whose dependencies neither the message nor the document hold
    // stay out (Automerge queues them); the filtered message leaves them
    // out, and the next message asks for what they lack.
    // Listing the changes can panic inside Automerge too (MissingOps,
    // fuzz/regressions/change_check): guarded like the load.
    let (queued, new) = guarded(|| {
        Ok((
            !scratch.get_missing_deps(&[]).is_empty(),
            scratch.get_changes(&before),
        ))
    })?;
    let chains = Chains::of(&new.iter().map(Link::of_change).collect::<Vec<_>>());
    let sigs: BTreeMap<[u8; 32], &ChangeSignature> =
        proof.signatures.iter().map(|s| (s.hash, s)).collect();
    let revoked = ctx.charter.revoked_keys();
    let mut authors: BTreeMap<NodeKey, Result<Author, Refusal>> = BTreeMap::new();
    let mut covered: BTreeMap<NodeKey, BTreeSet<ChangeHash>> = BTreeMap::new();
    // Each change on its own: signature if it has one, author, cut-offs,
    // write right and rules.
    let mut own: Vec<Result<Checked, Refusal>> = Vec::with_capacity(new.len());
    for change in &new {
        let hash = change.hash();
        let outcome = (|| {
            // The key is the actor's first 32 bytes; a restored node's
            // actor adds its restore epoch (crdt_model::actor).
            let key = author_key(change)
                .ok_or_else(|| Refusal::last("its actor is not a node key".to_string()))?;
            let signature = match sigs.get(&hash.0) {
                Some(sig) if !key.verifies(&signing_bytes(doc, &hash), &sig.signature) => {
                    return Err(Refusal::last(format!(
                        "it carries a signature that is not its author's ({key}) for {doc}"
                    )));
                }
                Some(sig) => Some(sig.signature.clone()),
                None => None,
            };
            let author = authors
                .entry(key)
                .or_insert_with(|| author_of(ctx, proof, &key, now, &revoked))
                .clone()?;
            for cut in &author.cut {
                let set = covered
                    .entry(cut.key)
                    .or_insert_with(|| cut_off_set(ctx, &mut scratch, current, doc, &cut.key));
                if !set.contains(&hash) {
                    return Err(Refusal::last(format!(
                        "{} is {} and this change lies after its cut-off",
                        cut.key,
                        match cut.why {
                            CutReason::Revoked => "revoked",
                            CutReason::Expired => "expired",
                        }
                    )));
                }
            }
            let member = &author.member;
            if !may_write(member, doc) {
                return Err(Refusal::last(format!(
                    "{} at {} may not write {doc}",
                    member.role, member.place
                )));
            }
            guarded(|| write_rules(&ctx.federation, doc, &scratch, change, member))
                .map_err(Refusal::last)?;
            Ok(Checked {
                hash,
                author: key,
                signature,
                credential: author.credential.clone(),
            })
        })();
        own.push(outcome);
    }
    let refused = settle(&new, &own, &chains, queued);
    let mut verdict = Verdict::default();
    let mut accepted_bytes = Vec::new();
    let mut noted = Vec::new();
    for (change, outcome) in new.iter().zip(own) {
        let hash = change.hash();
        let r = match (refused.get(&hash), outcome) {
            (None, Ok(checked)) => {
                accepted_bytes.push(change.raw_bytes().to_vec());
                verdict.accepted.push(checked);
                continue;
            }
            (Some(r), _) => r.clone(),
            (None, Err(r)) => r,
        };
        {
            {
                // Remembered either way, so a peer's heads naming it do not
                // make this node ask for it in a loop. One waiting for a
                // fuller proof still lands when a sender's later session
                // sends it with one (a re-check, or once the sender's
                // charter shows its author cut off); one waiting for a
                // credential is forgotten when the charter gains one.
                if r.retry {
                    verdict.waiting.insert(hash);
                }
                noted.push((hash, change.deps().to_vec()));
                if let Some(key) = author_key(change) {
                    verdict.refused_authors.insert(hash, key);
                }
                verdict.refused.push((hash, r.why.clone()));
            }
        }
    }
    let epoch = ctx.epoch();
    ctx.refused.note(epoch, doc, noted);
    let mut heads = message.heads.clone();
    let stripped = ctx.refused.strip(epoch, doc, &mut heads, &before);
    if !refused.is_empty() || queued || stripped {
        let mut filtered = message.clone();
        filtered.heads = heads;
        filtered.changes = accepted_bytes.into();
        verdict.filtered = Some(filtered);
    } else if before.is_empty() {
        // Every change accepted into a document not held: the copy is the
        // new document.
        verdict.prepared = Some(scratch);
    }
    Ok(verdict)
}

/// Why a change is refused, and whether for good or until a fuller proof
/// or the charter's admission record comes.
#[derive(Debug, Clone)]
struct Refusal {
    why: String,
    retry: bool,
}

impl Refusal {
    fn last(why: String) -> Refusal {
        Refusal { why, retry: false }
    }
}

/// Which of `new` (in causal order, each with its own verdict) are refused
/// once refusals reach what depends on them and attestation is settled: a
/// change without its own signature needs an accepted child that covers
/// it, and refusing it can refuse changes that depend on it, so the two
/// passes repeat until nothing moves (at most once per change). `queued`:
/// Automerge held back some of the message's changes for missing
/// dependencies, so an uncovered change may yet be covered by one of them.
fn settle(
    new: &[automerge::Change],
    own: &[Result<Checked, Refusal>],
    chains: &Chains,
    queued: bool,
) -> BTreeMap<ChangeHash, Refusal> {
    let mut refused: BTreeMap<ChangeHash, Refusal> = BTreeMap::new();
    let held: BTreeSet<ChangeHash> = new.iter().map(automerge::Change::hash).collect();
    loop {
        let count = refused.len();
        for (change, outcome) in new.iter().zip(own) {
            let hash = change.hash();
            if refused.contains_key(&hash) {
                continue;
            }
            let r = match outcome {
                Err(r) => r.clone(),
                Ok(_) => match change.deps().iter().find(|d| refused.contains_key(d)) {
                    Some(dep) => Refusal {
                        why: format!("it depends on change {dep}, refused here"),
                        retry: refused[dep].retry,
                    },
                    None => continue,
                },
            };
            refused.insert(hash, r);
        }
        for (change, outcome) in new.iter().zip(own).rev() {
            let hash = change.hash();
            let Ok(checked) = outcome else { continue };
            if checked.signature.is_some() || refused.contains_key(&hash) {
                continue;
            }
            let links = chains.children(&hash);
            if links
                .iter()
                .any(|k| held.contains(k) && !refused.contains_key(k))
            {
                continue;
            }
            let r = match links.first() {
                // A change Automerge queued (its dependencies are missing)
                // may be the one that covers it: wait for it.
                None if queued => Refusal {
                    why: format!(
                        "it is not signed (author {}), and a change that may attest it waits for its dependencies",
                        checked.author
                    ),
                    retry: true,
                },
                None => Refusal::last(format!("it is not signed (author {})", checked.author)),
                // Covered only by a change refused or not yet applicable
                // here: a proof with its own signature may still come.
                Some(k) => Refusal {
                    why: format!("the only change that attests it, {k}, is not accepted here"),
                    retry: true,
                },
            };
            refused.insert(hash, r);
        }
        if refused.len() == count {
            return refused;
        }
    }
}

/// Runs `f`, turning a panic inside Automerge into a refusal. The default
/// panic hook still prints the panic, once per refused message.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err("changes that break Automerge's document model (it panicked reading them)".into())
    })
}

/// An author as established by its credential.
#[derive(Debug, Clone)]
struct Author {
    member: Member,
    /// Keys on its chain cut off now.
    cut: Vec<Cut>,
    /// Its credential to store for forwarding, unless it is this node.
    credential: Option<Credential>,
}

fn author_of(
    ctx: &TrustContext,
    proof: &Proof,
    key: &NodeKey,
    now: DateTime<Utc>,
    revoked: &BTreeSet<NodeKey>,
) -> Result<Author, Refusal> {
    // A credential the proof left out for the charter to supply, which
    // this node's charter does not (yet) supply as it should: the sender's
    // next proof, or the charter's next change, may settle it.
    let carried = proof.credential(key).is_some();
    judge_author(ctx, proof, key, now, revoked).map_err(|why| Refusal {
        why,
        retry: !carried,
    })
}

fn judge_author(
    ctx: &TrustContext,
    proof: &Proof,
    key: &NodeKey,
    now: DateTime<Utc>,
    revoked: &BTreeSet<NodeKey>,
) -> Result<Author, String> {
    if key == &ctx.me.key {
        return Ok(Author {
            member: ctx.me.clone(),
            cut: Vec::new(),
            credential: None,
        });
    }
    let cred = proof
        .credential(key)
        .or_else(|| ctx.charter.credential(key))
        .ok_or_else(|| format!("its author {key} presented no credential"))?;
    if cred.federation != ctx.federation {
        return Err(format!("its author {key} belongs to another federation"));
    }
    let assessed = cred
        .assess(now, &|k| revoked.contains(k))
        .map_err(|e| format!("its author {key}: {e}"))?;
    if assessed.member.key != *key {
        return Err(format!("the credential shown is not {key}'s"));
    }
    Ok(Author {
        member: assessed.member,
        cut: assessed.cut,
        credential: Some(cred.clone()),
    })
}

/// The new changes of `doc` that lie inside `cut`'s cut-off: the ancestors
/// (inclusive) of every heads record the charter holds for it. The walk
/// stops at changes already held, which were accepted before.
fn cut_off_set(
    ctx: &TrustContext,
    scratch: &mut AutoCommit,
    current: &mut AutoCommit,
    doc: &DocumentId,
    cut: &NodeKey,
) -> BTreeSet<ChangeHash> {
    let mut out = BTreeSet::new();
    let mut stack: Vec<ChangeHash> = ctx
        .charter
        .cutoffs
        .get(cut)
        .into_iter()
        .flatten()
        .flat_map(|record| heads_of(record, doc))
        .collect();
    while let Some(h) = stack.pop() {
        if out.contains(&h) || current.get_change_by_hash(&h).is_some() {
            continue;
        }
        let Some(change) = scratch.get_change_by_hash(&h) else {
            continue;
        };
        out.insert(h);
        stack.extend(change.deps().iter().copied());
    }
    out
}

/// The operation-level rules of documents with several writers.
fn write_rules(
    federation: &Federation,
    doc: &DocumentId,
    scratch: &AutoCommit,
    change: &automerge::Change,
    member: &Member,
) -> Result<(), String> {
    match doc.kind() {
        DocKind::Reports => {
            let by = member.key.to_string();
            let author = ChangeAuthor {
                by: &by,
                level: member.role.level(),
                owner: &member.place == doc.place(),
            };
            check_reports_change(scratch, change, &author).map_err(|e| e.to_string())
        }
        DocKind::Charter => {
            check_append_only_change(change, &CHARTER_PREFIXES).map_err(|e| e.to_string())?;
            check_statements(federation, scratch, change, member)
        }
        DocKind::Ledger => {
            let by = member.key.to_string();
            let station = member.role == crate::config::Role::Station;
            check_ledger_change(scratch, change, &by, station).map_err(|e| e.to_string())
        }
        _ => Ok(()),
    }
}

/// Every statement a charter change writes must be its author's own, and
/// one that every node would take: signed, at its own key, in scope.
/// Nothing out of scope is stored, rather than stored and ignored.
fn check_statements(
    federation: &Federation,
    scratch: &AutoCommit,
    change: &automerge::Change,
    member: &Member,
) -> Result<(), String> {
    let view = charter::read(scratch, federation);
    for op in change.decode().operations {
        let automerge::legacy::Key::Map(key) = &op.key else {
            continue;
        };
        if let Some((_, why)) = view.ignored.iter().find(|(k, _)| k == key.as_str()) {
            return Err(format!("charter statement {key}: {why}"));
        }
        if let Some(automerge::ScalarValue::Str(value)) = op.primitive_value() {
            let statement = SignedStatement::decode(&value)
                .map_err(|e| format!("charter statement {key}: {e}"))?;
            if statement.statement.issuer() != member.key {
                return Err(format!(
                    "charter statement {key} is signed by {}, not by its writer {}",
                    statement.statement.issuer(),
                    member.key
                ));
            }
        }
    }
    Ok(())
}
