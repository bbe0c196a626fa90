//! The charter (`<district>/charter`): signed statements of revocations,
//! reinstatements, cut-offs and admissions, one string value per root key.
//!
//! Every node reads the charter the same way: each statement must verify
//! against its issuer's key and lie within the issuer's scope, or it is
//! ignored (and the reason returned, for the node to log once). Entries are
//! never deleted or overwritten: receivers refuse charter changes that try
//! (`crdt_model::write_rules::check_append_only_change`), and concurrent
//! values at one key are all read.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable};

use super::admission::{Credential, Federation, NodeKey};
use super::statement::{CHARTER_PREFIXES, HeadsByDoc, SignedStatement, Statement};

/// A revocation in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Its statement id.
    pub id: String,
    /// Who revoked.
    pub issuer: NodeKey,
    /// Unix seconds.
    pub at: i64,
    /// Why.
    pub reason: Option<String>,
}

/// What a charter establishes, read the same way on every node.
#[derive(Debug, Clone, Default)]
pub struct CharterView {
    /// Revocations in force (valid, in scope, not reinstated), by target.
    pub revoked: BTreeMap<NodeKey, Vec<Revocation>>,
    /// Where each cut-off node's valid work ends: every heads record from
    /// its revocations and the witnesses' cut-offs.
    pub cutoffs: BTreeMap<NodeKey, Vec<HeadsByDoc>>,
    /// Credentials the charter shows (admission records and revocation
    /// targets), by node.
    pub credentials: BTreeMap<NodeKey, Credential>,
    /// Cut-offs recorded, as (target, witness, what they are of).
    pub witnessed: BTreeSet<(NodeKey, NodeKey, String)>,
    /// Entries ignored, with why: charter key and reason.
    pub ignored: Vec<(String, String)>,
}

impl CharterView {
    /// Keys revoked now.
    pub fn revoked_keys(&self) -> BTreeSet<NodeKey> {
        self.revoked.keys().copied().collect()
    }

    /// True when `key` is revoked now.
    pub fn is_revoked(&self, key: &NodeKey) -> bool {
        self.revoked.contains_key(key)
    }

    /// Judges the scope of a statement by `issuer` about `target`, against
    /// the credential it carries or, failing that, the one the charter
    /// records; a carried credential that holds is recorded.
    fn judge_scope(
        &mut self,
        federation: &Federation,
        issuer: &NodeKey,
        target: &NodeKey,
        carried: Option<&Credential>,
    ) -> Result<(), String> {
        in_scope(
            federation,
            issuer,
            target,
            carried.or_else(|| self.credentials.get(target)),
        )
        .map_err(|r| r.to_string())?;
        if let Some(c) = carried
            && c.structure().is_ok_and(|m| &m.key == target)
        {
            self.credentials.entry(*target).or_insert_with(|| c.clone());
        }
        Ok(())
    }

    /// The credential of `key`, if the charter shows it.
    pub fn credential(&self, key: &NodeKey) -> Option<&Credential> {
        self.credentials.get(key)
    }
}

/// Why a node may not revoke (or witness the cut-off of) another: one
/// variant per rule, so the refusal has a code per rule and reads in the
/// operator's language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevokeRule {
    /// The target is the federation's root.
    #[error("the federation's root can never be revoked")]
    Root,
    /// The target is the issuer.
    #[error("a node cannot revoke itself")]
    Itself,
    /// No credential of the target is known.
    #[error(
        "{issuer} shows no admission chain of {target}; only the root may revoke a node without one"
    )]
    NoChain {
        /// Who would revoke.
        issuer: String,
        /// Whom.
        target: String,
    },
    /// The target's chain is of another federation.
    #[error("the chain shown for {target} is of another federation")]
    OtherFederation {
        /// Whom.
        target: String,
    },
    /// The target's chain does not hold.
    #[error("the chain shown for {target} does not hold: {why}")]
    ChainBroken {
        /// Whom.
        target: String,
        /// What breaks it (the trust error's English text; the code says
        /// the rest).
        why: String,
    },
    /// The chain shown ends at another node.
    #[error("the chain shown is of {shown}, not of {target}")]
    ChainOfAnother {
        /// The node the chain admits.
        shown: String,
        /// Whom.
        target: String,
    },
    /// The issuer signed no admission on the target's chain.
    #[error(
        "{issuer} is not an admitter on {target}'s chain: only the root or an admitter above {place} may revoke it"
    )]
    NotAnAdmitter {
        /// Who would revoke.
        issuer: String,
        /// Whom.
        target: String,
        /// The target's place.
        place: String,
    },
}

/// May `issuer` revoke (or witness the cut-off of) `target`? Only the root,
/// or a node that signed an admission on the target's chain (so its place
/// lies strictly above the target's); never the root itself, never oneself.
pub fn in_scope(
    federation: &Federation,
    issuer: &NodeKey,
    target: &NodeKey,
    target_credential: Option<&Credential>,
) -> Result<(), RevokeRule> {
    if target == &federation.root {
        return Err(RevokeRule::Root);
    }
    if issuer == target {
        return Err(RevokeRule::Itself);
    }
    if issuer == &federation.root {
        return Ok(());
    }
    let Some(cred) = target_credential else {
        return Err(RevokeRule::NoChain {
            issuer: issuer.to_string(),
            target: target.to_string(),
        });
    };
    if &cred.federation != federation {
        return Err(RevokeRule::OtherFederation {
            target: target.to_string(),
        });
    }
    let m = cred.structure().map_err(|e| RevokeRule::ChainBroken {
        target: target.to_string(),
        why: e.to_string(),
    })?;
    if &m.key != target {
        return Err(RevokeRule::ChainOfAnother {
            shown: m.key.to_string(),
            target: target.to_string(),
        });
    }
    if !cred.admitted_by(issuer) {
        return Err(RevokeRule::NotAnAdmitter {
            issuer: issuer.to_string(),
            target: target.to_string(),
            place: m.place.to_string(),
        });
    }
    Ok(())
}

fn strings<D: ReadDoc>(doc: &D, key: &str) -> Vec<String> {
    doc.get_all(ROOT, key)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(v, _)| match v {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Str(t) => Some(t.to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Reads the charter: every valid statement, judged against `federation`.
pub fn read<D: ReadDoc>(doc: &D, federation: &Federation) -> CharterView {
    let mut view = CharterView::default();
    let mut statements = Vec::new();
    for key in doc.keys(ROOT) {
        if !CHARTER_PREFIXES.iter().any(|p| key.starts_with(p)) {
            view.ignored
                .push((key.clone(), "not a charter statement key".into()));
            continue;
        }
        for value in strings(doc, &key) {
            match SignedStatement::decode(&value) {
                Ok(s) if !s.verifies() => view
                    .ignored
                    .push((key.clone(), "its signature does not verify".into())),
                Ok(s) if s.charter_key() != key => view
                    .ignored
                    .push((key.clone(), "it is not stored at its own key".into())),
                Ok(s) => statements.push((key.clone(), s)),
                Err(e) => view.ignored.push((key.clone(), e.to_string())),
            }
        }
    }
    // Admission records first: they show the chains scopes are judged by.
    for (key, s) in &statements {
        if let Statement::Admitted {
            issuer, credential, ..
        } = &s.statement
        {
            let last_issuer = credential.chain.last().map(|l| l.admission.issuer);
            match credential.structure() {
                Ok(m) if &credential.federation == federation && last_issuer == Some(*issuer) => {
                    view.credentials.insert(m.key, credential.clone());
                }
                Ok(_) => view.ignored.push((
                    key.clone(),
                    "an admission record not by its admitter".into(),
                )),
                Err(e) => view.ignored.push((key.clone(), e.to_string())),
            }
        }
    }
    let mut revocations: BTreeMap<String, (NodeKey, Revocation, HeadsByDoc)> = BTreeMap::new();
    for (key, s) in &statements {
        let Statement::Revoke {
            target,
            issuer,
            at,
            reason,
            target_credential,
            heads,
        } = &s.statement
        else {
            continue;
        };
        match view.judge_scope(federation, issuer, target, target_credential.as_ref()) {
            Ok(()) => {
                let id = s.id();
                let r = Revocation {
                    id: id.clone(),
                    issuer: *issuer,
                    at: *at,
                    reason: reason.clone(),
                };
                revocations.insert(id, (*target, r, heads.clone()));
            }
            Err(why) => view.ignored.push((key.clone(), why)),
        }
    }
    let mut reinstated = BTreeSet::new();
    for (key, s) in &statements {
        let Statement::Reinstate {
            target,
            issuer,
            revocation,
            ..
        } = &s.statement
        else {
            continue;
        };
        match revocations.get(revocation) {
            Some((t, r, _))
                if t == target && (issuer == &r.issuer || issuer == &federation.root) =>
            {
                reinstated.insert(revocation.clone());
            }
            Some(_) => view.ignored.push((
                key.clone(),
                "only the root or the revocation's issuer may reinstate".into(),
            )),
            None => view
                .ignored
                .push((key.clone(), "it names no revocation in force".into())),
        }
    }
    for (id, (target, r, heads)) in revocations {
        view.cutoffs.entry(target).or_default().push(heads);
        if !reinstated.contains(&id) {
            view.revoked.entry(target).or_default().push(r);
        }
    }
    for (key, s) in &statements {
        let Statement::CutOff {
            target,
            issuer,
            of,
            target_credential,
            heads,
            ..
        } = &s.statement
        else {
            continue;
        };
        match view.judge_scope(federation, issuer, target, target_credential.as_ref()) {
            Ok(()) => {
                view.cutoffs.entry(*target).or_default().push(heads.clone());
                view.witnessed.insert((*target, *issuer, of.clone()));
            }
            Err(why) => view.ignored.push((key.clone(), why)),
        }
    }
    view
}

/// Writes a signed statement at its own key.
pub fn put<T: Transactable>(doc: &mut T, statement: &SignedStatement) -> Result<(), String> {
    let value = statement.encode().map_err(|e| e.to_string())?;
    doc.put(ROOT, statement.charter_key(), value)
        .map_err(|e| e.to_string())
}
