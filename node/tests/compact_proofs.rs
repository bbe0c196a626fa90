//! Proofs that carry one signature per run of an author's changes and no
//! credential the charter shows (`node::trust::proof`), judged by the
//! receiver's real `check_changes` against the fuzz fixture's federation.

use std::collections::BTreeMap;

use automerge::sync;
use automerge::{AutoCommit, Change, ChangeHash};
use node::fuzz_targets::{FixtureNode, fixture};
use node::trust::attest::Link;
use node::trust::charter::CharterView;
use node::trust::signing::{
    ChangeSignature, Proof, ProofSources, TrustContext, Verdict, build_proof, check_changes, sign,
};

mod history;
use history::{raw, reports_history, street_overreach};

/// The fixture node whose key is `change`'s actor.
fn author(change: &Change) -> &'static FixtureNode {
    let actor = change.actor_id().to_bytes();
    fixture()
        .nodes()
        .into_iter()
        .find(|n| n.key.0.as_slice() == actor)
        .expect("a fixture author")
}

/// Every change's signature, as its author recorded it when writing.
fn signatures(changes: &[Change]) -> BTreeMap<ChangeHash, Vec<u8>> {
    let f = fixture();
    changes
        .iter()
        .map(|c| {
            let sig = sign(&author(c).keypair, &f.reports, &c.hash()).unwrap();
            (c.hash(), sig)
        })
        .collect()
}

/// A charter showing the street's and the community's admission records.
fn charter() -> CharterView {
    let f = fixture();
    let mut view = CharterView::default();
    for n in [&f.street, &f.community] {
        view.credentials.insert(n.key, n.credential.clone());
    }
    view
}

/// The proof a sender holding every signature and `charter` sends.
fn proof_for(changes: &[Change], charter: &CharterView) -> Proof {
    let sigs = signatures(changes);
    let f = fixture();
    let links: Vec<Link> = changes.iter().map(Link::of_change).collect();
    build_proof(
        &links,
        ProofSources {
            signature_of: |h: &ChangeHash| sigs.get(h).cloned(),
            credential_of: |k: &node::trust::NodeKey| {
                f.nodes()
                    .into_iter()
                    .find(|n| n.key == *k)
                    .map(|n| n.credential.clone())
            },
            charter,
            now: f.now,
        },
    )
}

/// The proof of a sender that sends every signature and credential.
fn full_proof(changes: &[Change]) -> Proof {
    let f = fixture();
    Proof {
        signatures: signatures(changes)
            .into_iter()
            .map(|(h, signature)| ChangeSignature {
                hash: h.0,
                signature,
            })
            .collect(),
        authors: vec![f.street.credential.clone(), f.community.credential.clone()],
    }
}

fn message(changes: &[Change]) -> sync::Message {
    sync::Message {
        heads: changes.last().map(Change::hash).into_iter().collect(),
        need: Vec::new(),
        have: Vec::new(),
        changes: raw(changes).into(),
        flags: None,
        version: sync::MessageVersion::V1,
    }
}

/// The district's context, with `charter`.
fn district(charter: CharterView) -> TrustContext {
    let f = fixture();
    TrustContext::new(f.federation.clone(), f.district.member.clone(), charter)
}

fn judge(ctx: &TrustContext, changes: &[Change], proof: &Proof) -> Verdict {
    let f = fixture();
    let mut held = AutoCommit::new();
    check_changes(ctx, &f.reports, &mut held, &message(changes), proof, f.now).unwrap()
}

/// True when the district remembers `hash` as refused for good: a message
/// naming it as a head is stripped.
fn remembered(ctx: &TrustContext, hash: ChangeHash) -> bool {
    let mut m = message(&[]);
    m.heads = vec![hash];
    ctx.strip_refused(&fixture().reports, &m, &[]).is_some()
}

#[test]
fn a_run_of_one_authors_changes_travels_with_its_last_signature_alone() {
    let changes = reports_history().get_changes(&[]);
    let proof = proof_for(&changes, &charter());
    // Four changes of the community, then two of the street: one
    // signature each, for the last of each run; no credential, since the
    // charter shows both.
    assert_eq!(proof.signatures.len(), 2, "{proof:?}");
    let lasts: Vec<[u8; 32]> = proof.signatures.iter().map(|s| s.hash).collect();
    assert!(lasts.contains(&changes[3].hash().0));
    assert!(lasts.contains(&changes[5].hash().0));
    assert!(proof.authors.is_empty());
    assert!(proof.encode().len() < full_proof(&changes).encode().len() / 3);

    let verdict = judge(&district(charter()), &changes, &proof);
    assert!(verdict.refused.is_empty(), "{:?}", verdict.refused);
    assert_eq!(verdict.accepted.len(), 6);
    // What the district keeps to forward them: the two signatures.
    let kept = verdict.accepted.iter().filter(|c| c.signature.is_some());
    assert_eq!(kept.count(), 2);
}

#[test]
fn a_credential_left_to_the_charter_that_the_receiver_lacks_is_asked_for_once_it_arrives() {
    let changes = reports_history().get_changes(&[]);
    let proof = proof_for(&changes, &charter());
    let ctx = district(CharterView::default());
    let verdict = judge(&ctx, &changes, &proof);
    assert_eq!(verdict.refused.len(), 6, "{:?}", verdict.refused);
    assert!(verdict.refused[0].1.contains("presented no credential"));
    assert_eq!(verdict.waiting.len(), 6);
    assert!(remembered(&ctx, changes[5].hash()));
    // The charter's admission records arrive: the memory is forgotten, so
    // the district asks again, and the same proof is taken.
    let mut ctx = ctx;
    ctx.charter = charter();
    assert!(!remembered(&ctx, changes[5].hash()));
    let again = judge(&ctx, &changes, &proof);
    assert!(again.refused.is_empty(), "{:?}", again.refused);
}

#[test]
fn a_change_under_an_authors_key_without_its_signature_is_refused_beside_its_signed_run() {
    let f = fixture();
    let mut doc = reports_history();
    let honest = doc.get_changes(&[]);
    // A forger appends a change under the community's key with another
    // actor epoch, depending on the community's signed last change, and
    // sends it with the honest proof.
    let mut forged_doc = doc.fork();
    forged_doc.set_actor(crdt_model::actor::actor_for(
        &f.community.key.0,
        Some(&[0, 0, 0, 0, 0, 0, 0, 9]),
    ));
    let forged = history::one_more_report(&mut forged_doc);
    let mut all = honest.clone();
    all.extend(forged.clone());
    let verdict = judge(&district(charter()), &all, &proof_for(&honest, &charter()));
    assert_eq!(
        verdict.accepted.len(),
        honest.len(),
        "{:?}",
        verdict.refused
    );
    assert_eq!(verdict.refused.len(), 1);
    assert_eq!(verdict.refused[0].0, forged[0].hash());
    assert!(
        verdict.refused[0].1.contains("not signed"),
        "{:?}",
        verdict.refused
    );
    // A signature of the run's last change that is not its author's
    // refuses that change for good and leaves the run before it askable.
    let mut tampered = proof_for(&honest, &charter());
    for s in &mut tampered.signatures {
        s.signature[0] ^= 1;
    }
    let ctx = district(charter());
    let verdict = judge(&ctx, &honest, &tampered);
    assert!(verdict.accepted.is_empty());
    let waiting: Vec<ChangeHash> = honest[..3].iter().map(Change::hash).collect();
    assert_eq!(verdict.waiting, waiting.into_iter().collect());
    drop(doc);
}

#[test]
fn a_refused_last_change_leaves_its_run_waiting_and_a_full_proof_lands_it() {
    let mut doc = reports_history();
    let mut changes = doc.get_changes(&[]);
    changes.extend(street_overreach(&mut doc));
    let overreach = changes[6].hash();
    let ctx = district(charter());
    let verdict = judge(&ctx, &changes, &proof_for(&changes, &charter()));
    // The street's overreach is refused for good; its two earlier events,
    // covered only by it, wait for a proof that signs them.
    let refused: Vec<ChangeHash> = verdict.refused.iter().map(|r| r.0).collect();
    assert_eq!(
        refused,
        vec![changes[4].hash(), changes[5].hash(), overreach]
    );
    let waiting: Vec<ChangeHash> = changes[4..6].iter().map(Change::hash).collect();
    assert_eq!(verdict.waiting, waiting.into_iter().collect());
    // All three are remembered, so the district does not ask for them in a
    // loop; the street's next session sends them, and with every
    // signature the two land.
    assert!(remembered(&ctx, overreach));
    assert!(remembered(&ctx, changes[5].hash()));
    let again = judge(&ctx, &changes, &full_proof(&changes));
    assert_eq!(again.accepted.len(), 6, "{:?}", again.refused);
    assert_eq!(again.refused.len(), 1);
}

#[test]
fn an_author_whose_chain_is_cut_off_gets_every_signature_sent() {
    let f = fixture();
    let changes = reports_history().get_changes(&[]);
    let mut cut = charter();
    cut.revoked.insert(f.community.key, Vec::new());
    let proof = proof_for(&changes, &cut);
    // Four community signatures (every change) and the street's last.
    assert_eq!(proof.signatures.len(), 5, "{proof:?}");
}

#[test]
fn a_run_whose_covering_change_cannot_apply_yet_waits_for_it() {
    let f = fixture();
    let mut doc = reports_history();
    let history = doc.get_changes(&[]);
    // The community writes again after the street's two events; a message
    // carries the community's changes without the street's, so its new
    // change cannot apply yet and its earlier ones have no accepted cover.
    doc.set_actor(history::actor(&f.community));
    let later = history::one_more_report(&mut doc);
    let mut sent = history[..4].to_vec();
    sent.extend(later.clone());
    let mut all = history.clone();
    all.extend(later);
    let proof = proof_for(&all, &charter());
    let verdict = judge(&district(charter()), &sent, &proof);
    assert!(verdict.accepted.is_empty(), "{:?}", verdict.accepted);
    let waiting: Vec<ChangeHash> = history[..4].iter().map(Change::hash).collect();
    assert_eq!(verdict.waiting, waiting.into_iter().collect());
    // With the street's changes the whole message is taken.
    let whole = judge(&district(charter()), &all, &proof);
    assert!(whole.refused.is_empty(), "{:?}", whole.refused);
    assert_eq!(whole.accepted.len(), all.len());
}
