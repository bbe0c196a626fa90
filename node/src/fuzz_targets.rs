//! Bodies of the fuzz targets in `fuzz/`, shared with the corpus replay
//! test (`node/tests/fuzz_corpus.rs`) so the two can never drift apart.
//!
//! Each body takes the raw bytes a fuzzer or a corpus file gives, feeds them
//! to the decoders that read what a hostile peer or a local caller sends,
//! and returns nothing: errors are the expected outcome for most inputs. A
//! body panics only when the node breaks a promise it states, so a panic is
//! always a finding: a decoder that panics, a value that does not survive
//! its own encoding, a frame longer than its cap, a change check that
//! neither accepts nor refuses a change.
//!
//! The targets take bytes as they come (no `arbitrary` decoding), so a
//! corpus file means the same thing to the fuzzer and to the replay test.
//! See `fuzz/README.md` for how to run them.

use std::sync::OnceLock;

use automerge::AutoCommit;
use automerge::sync::{self, MessageVersion};
use base64::Engine as _;
use chrono::{DateTime, TimeZone as _, Utc};
use crdt_model::write_rules::{ChangeAuthor, check_append_only_change, check_reports_change};
use crdt_model::{DocKind, DocumentId, PlaceId};
use futures::executor::block_on;
use futures::io::Cursor;
use libp2p::identity::Keypair;
use libp2p::request_response::Codec as _;

use crate::config::Role;
use crate::engine::wire::{self, Message};
use crate::net::BLOB_PROTOCOL;
use crate::net::blob::{
    Assembly, BLOB_CHUNK_BYTES_MAX, BLOB_REQUEST_BYTES, BLOB_RESPONSE_HEADER_BYTES, ChunkRequest,
    ChunkResponse,
};
use crate::net::codec::{BytesCodec, Frame};
use crate::store::BlobHash;
use crate::trust::charter::{self, CharterView};
use crate::trust::signing::{ChangeSignature, Proof, TrustContext, check_changes, sign};
use crate::trust::statement::{CHARTER_PREFIXES, SignedStatement, Statement};
use crate::trust::{Admission, Credential, Federation, Member, NodeKey};

/// A target's body: raw bytes in, a panic only for a finding.
pub type Body = fn(&[u8]);

/// Every target, by the name of its directory under `fuzz/corpus/` and
/// `fuzz/regressions/` and of its file under `fuzz/fuzz_targets/`.
pub const TARGETS: [(&str, Body); 5] = [
    ("sync_wire", sync_wire),
    ("change_check", change_check),
    ("blob_frame", blob_frame),
    ("admission_token", admission_token),
    ("admin_request", admin_request),
];

/// Flag bit of a [`change_check`] input: sign every change whose actor is a
/// fixture node with that node's key, and show the fixture's credentials,
/// as an admitted but hostile member would. Without it the fuzzer cannot
/// forge a signature, and the write rules behind the signature check would
/// only ever see the changes of the seeds.
pub const CHANGE_CHECK_SIGN: u8 = 1;
/// Flag bit of a [`change_check`] input: the changes are for the charter
/// (append-only signed statements) rather than for the reports document.
pub const CHANGE_CHECK_CHARTER: u8 = 2;
/// Header of a [`change_check`] input: a flags byte, then the proof's length
/// as a big-endian `u16`.
pub const CHANGE_CHECK_HEADER_BYTES: usize = 3;

/// One node of the fixed federation the targets judge input against.
#[derive(Debug)]
pub struct FixtureNode {
    /// Its key, derived from a constant seed.
    pub keypair: Keypair,
    /// Its public key.
    pub key: NodeKey,
    /// Its peer id as a string: what it writes as `by` in report events.
    pub peer: String,
    /// Its admission chain.
    pub credential: Credential,
    /// What the chain establishes at [`Fixture::now`].
    pub member: Member,
}

/// A fixed federation (district → street → community, no revocations), a
/// fixed time and the documents the change check judges against. Built
/// once; the same on every run and every machine, so seeds written from it
/// keep verifying.
#[derive(Debug)]
pub struct Fixture {
    /// The federation: the district's key and place.
    pub federation: Federation,
    /// The district `guandu`: the root, and the node doing the checks.
    pub district: FixtureNode,
    /// The street `guandu/yiliu`, admitted by the district, may admit.
    pub street: FixtureNode,
    /// The community `guandu/yiliu/xinyazhou`, admitted by the street.
    pub community: FixtureNode,
    /// The time every check is made at.
    pub now: DateTime<Utc>,
    /// When the admissions were issued.
    pub issued: DateTime<Utc>,
    /// `guandu/yiliu/xinyazhou/reports/2026-11`.
    pub reports: DocumentId,
    /// `guandu/charter`.
    pub charter: DocumentId,
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

// The fixture is made of constants: a failure here is a bug in this file,
// found by the first replay, never something an input can cause.
fn build_fixture() -> Fixture {
    let place = |s: &str| PlaceId::parse(s).expect("fixture place");
    let keypair = |name: &str| {
        let seed = blake3::derive_key("yizhan fuzz fixture key v1", name.as_bytes());
        Keypair::ed25519_from_bytes(seed).expect("fixture key")
    };
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .expect("fixture time");
    let issued = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("fixture time");
    let district_kp = keypair("district");
    let district_key = NodeKey::of_keypair(&district_kp).expect("fixture key");
    let federation = Federation {
        root: district_key,
        place: place("guandu"),
    };
    let root = Credential::root(federation.clone());
    let admit = |issuer: &Keypair, parent: &Credential, node: &Keypair, role, at: &str, may| {
        let admission = Admission {
            node: NodeKey::of_keypair(node).expect("fixture key"),
            role,
            place: place(at),
            may_admit: may,
            issued: issued.timestamp(),
            expires: None,
            issuer: NodeKey::of_keypair(issuer).expect("fixture key"),
        };
        parent.admit(issuer, admission).expect("fixture admission")
    };
    let street_kp = keypair("street");
    let street = admit(
        &district_kp,
        &root,
        &street_kp,
        Role::Street,
        "guandu/yiliu",
        true,
    );
    let community_kp = keypair("community");
    let community = admit(
        &street_kp,
        &street,
        &community_kp,
        Role::Community,
        "guandu/yiliu/xinyazhou",
        false,
    );
    let node = |keypair: Keypair, credential: Credential| {
        let member = credential
            .verify(now, &|_| false)
            .expect("fixture chain verifies");
        FixtureNode {
            key: member.key,
            peer: member.key.to_string(),
            keypair,
            credential,
            member,
        }
    };
    Fixture {
        district: node(district_kp, root),
        street: node(street_kp, street),
        community: node(community_kp, community),
        federation,
        now,
        issued,
        reports: DocumentId::parse("guandu/yiliu/xinyazhou/reports/2026-11")
            .expect("fixture document"),
        charter: DocumentId::singleton(place("guandu"), DocKind::Charter),
    }
}

impl Fixture {
    /// The three nodes, root first.
    pub fn nodes(&self) -> [&FixtureNode; 3] {
        [&self.district, &self.street, &self.community]
    }
}

// ------------------------------------------------------------------ sync_wire

/// `/yizhan/sync/1` messages as a peer sends them: the envelope, and for a
/// sync message the Automerge sync message and the proof it carries. A
/// decoded message must survive its own encoding unchanged.
pub fn sync_wire(bytes: &[u8]) {
    let Ok(message) = wire::decode(bytes) else {
        return;
    };
    let again =
        wire::encode(&message).unwrap_or_else(|e| panic!("a decoded message does not encode: {e}"));
    assert_eq!(
        wire::decode(&again).as_ref(),
        Ok(&message),
        "a decoded message does not decode the same once re-encoded"
    );
    let Message::Sync(data) = &message else {
        return;
    };
    let _ = sync::Message::decode(&data.data);
    if let Ok(proof) = Proof::decode(&data.proof) {
        proof_round_trips(&proof);
        let f = fixture();
        for credential in &proof.authors {
            let _ = credential
                .assess(f.now, &|_| false)
                .map_err(|e| e.to_string());
        }
    }
}

fn proof_round_trips(proof: &Proof) {
    assert_eq!(
        Proof::decode(&proof.encode()).as_ref(),
        Ok(proof),
        "a decoded proof does not decode the same once re-encoded"
    );
}

// --------------------------------------------------------------- change_check

/// Builds a [`change_check`] input: `flags` ([`CHANGE_CHECK_SIGN`],
/// [`CHANGE_CHECK_CHARTER`]), the encoded proof and the change bytes (what
/// `AutoCommit::save_incremental` writes). A proof longer than `u16::MAX`
/// bytes is cut there.
pub fn change_check_input(flags: u8, proof: &[u8], changes: &[u8]) -> Vec<u8> {
    let proof = &proof[..proof.len().min(usize::from(u16::MAX))];
    let len = u16::try_from(proof.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(CHANGE_CHECK_HEADER_BYTES + proof.len() + changes.len());
    out.push(flags);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(proof);
    out.extend_from_slice(changes);
    out
}

/// Changes a peer sends, judged as a district judges them: the input is
/// `flags ++ u16 proof length ++ proof ++ changes` ([`change_check_input`];
/// a length past the end takes the rest). The proof is decoded as the
/// driver decodes it, and the changes go, as the one chunk of a sync
/// message, through [`check_changes`] against an empty document of the
/// fixture, at the fixture's time, under an empty charter. Every change is
/// also put to the write rules directly, whoever signed it.
///
/// What must hold: the check fails exactly when the changes do not load,
/// and otherwise accepts or refuses every change they add, each once.
pub fn change_check(bytes: &[u8]) {
    let Some((&[flags, hi, lo], rest)) = bytes.split_first_chunk::<CHANGE_CHECK_HEADER_BYTES>()
    else {
        return;
    };
    let proof_len = usize::from(u16::from_be_bytes([hi, lo])).min(rest.len());
    let (proof_bytes, changes) = rest.split_at(proof_len);
    let Ok(mut proof) = Proof::decode(proof_bytes) else {
        return;
    };
    let f = fixture();
    let doc = if flags & CHANGE_CHECK_CHARTER != 0 {
        &f.charter
    } else {
        &f.reports
    };

    // What an honest sender would name as its heads, and the changes the
    // check must account for.
    let mut sent = AutoCommit::new();
    let loads = sent.load_incremental(changes).is_ok();
    let new = sent.get_changes(&[]);
    for change in &new {
        write_rules_directly(f, &sent, change);
        if flags & CHANGE_CHECK_SIGN != 0 {
            sign_as_fixture(f, doc, change, &mut proof);
        }
    }
    if flags & CHANGE_CHECK_SIGN != 0 {
        proof.authors.push(f.street.credential.clone());
        proof.authors.push(f.community.credential.clone());
    }

    let message = sync::Message {
        heads: sent.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: changes.to_vec().into(),
        flags: None,
        version: MessageVersion::V1,
    };
    // A fresh context each time: its memory of refused changes is shared
    // by clones and would carry one input's verdict into the next.
    let ctx = TrustContext::new(
        f.federation.clone(),
        f.district.member.clone(),
        CharterView::default(),
    );
    let mut current = AutoCommit::new();
    match check_changes(&ctx, doc, &mut current, &message, &proof, f.now) {
        Ok(verdict) => {
            assert!(loads, "changes that do not load were checked");
            assert_eq!(
                verdict.accepted.len() + verdict.refused.len(),
                new.len(),
                "every new change is accepted or refused, once"
            );
            if let Some(filtered) = &verdict.filtered {
                assert_eq!(
                    filtered.changes.iter().count(),
                    verdict.accepted.len(),
                    "the filtered message carries other changes than the accepted ones"
                );
            }
            let _ = verdict.into_outcome();
        }
        Err(_) => assert!(!loads, "changes that load were refused as undecodable"),
    }
}

/// The operation-level rules on one change, for each kind of writer.
fn write_rules_directly(f: &Fixture, doc: &AutoCommit, change: &automerge::Change) {
    for (node, owner) in [(&f.community, true), (&f.street, false)] {
        let author = ChangeAuthor {
            by: &node.peer,
            level: node.member.role.level(),
            owner,
        };
        let _ = check_reports_change(doc, change, &author).map_err(|e| e.to_string());
    }
    let _ = check_append_only_change(change, &CHARTER_PREFIXES).map_err(|e| e.to_string());
}

/// Adds the signature of the fixture node whose key is `change`'s actor,
/// if any: the signature an honest author of that change would send.
fn sign_as_fixture(f: &Fixture, doc: &DocumentId, change: &automerge::Change, proof: &mut Proof) {
    let actor = change.actor_id().to_bytes();
    let Some(author) = f.nodes().into_iter().find(|n| n.key.0.as_slice() == actor) else {
        return;
    };
    let hash = change.hash();
    if let Some(signature) = sign(&author.keypair, doc, &hash) {
        proof.signatures.push(ChangeSignature {
            hash: hash.0,
            author: author.key,
            signature,
        });
    }
}

// ----------------------------------------------------------------- blob_frame

/// `/yizhan/blob/1` as a peer sends it: the bytes as a bare chunk request
/// and response, and as a length-prefixed frame read by the node's codec
/// under the blob protocol's caps, then decoded and (a response) handed to
/// a blob assembly. A decoded request or response re-encodes to the bytes
/// it came from; a frame never exceeds its cap.
pub fn blob_frame(bytes: &[u8]) {
    bare_chunk_messages(bytes);
    let request_max = BLOB_REQUEST_BYTES;
    let response_max = BLOB_RESPONSE_HEADER_BYTES + BLOB_CHUNK_BYTES_MAX as usize;
    let mut codec = BytesCodec::new(request_max, response_max);
    let declared = bytes
        .first_chunk::<4>()
        .map(|len| u32::from_be_bytes(*len) as usize);
    match block_on(codec.read_request(&BLOB_PROTOCOL, &mut Cursor::new(bytes))) {
        Ok(Frame::Bytes(frame)) => {
            assert!(frame.len() <= request_max, "request frame over its cap");
            assert_eq!(
                declared,
                Some(frame.len()),
                "request frame of another length"
            );
            assert_eq!(
                &bytes[4..4 + frame.len()],
                &frame[..],
                "request frame altered"
            );
            bare_chunk_messages(&frame);
        }
        Ok(Frame::Oversized { max }) => {
            assert!(
                declared.is_some_and(|d| d > max),
                "a frame within its cap refused"
            );
        }
        Err(_) => {}
    }
    if let Ok(frame) = block_on(codec.read_response(&BLOB_PROTOCOL, &mut Cursor::new(bytes))) {
        assert!(frame.len() <= response_max, "response frame over its cap");
        assert_eq!(
            declared,
            Some(frame.len()),
            "response frame of another length"
        );
        if let Ok(response) = ChunkResponse::decode(&frame) {
            let mut assembly = Assembly::new(BlobHash::of(b"yizhan fuzz blob"), 64 << 20);
            let _ = assembly.accept(response);
        }
    }
}

fn bare_chunk_messages(bytes: &[u8]) {
    if let Ok(request) = ChunkRequest::decode(bytes) {
        assert_eq!(
            request.encode(),
            bytes,
            "a chunk request re-encodes differently"
        );
    }
    if let Ok(response) = ChunkResponse::decode(bytes) {
        assert_eq!(
            response.encode(),
            bytes,
            "a chunk response re-encodes differently"
        );
    }
}

// ------------------------------------------------------------ admission_token

/// What an operator pastes or a peer presents: the bytes as (lossy UTF-8)
/// text, decoded as an admission token and as a charter statement; and the
/// same bytes as the body of a `yz1.` token and a `ys1.` statement, so the
/// fuzzer reaches the structures behind the base64 directly. A decoded
/// credential is verified and judged at the fixture's time, a decoded
/// statement is checked for scope and read back from a charter; both
/// survive their own encoding.
pub fn admission_token(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    token(&text);
    statement(&text);
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    token(&format!("yz1.{body}"));
    statement(&format!("ys1.{body}"));
}

fn token(text: &str) {
    let Ok(credential) = Credential::from_token(text) else {
        return;
    };
    judge_credential(&credential);
    let again = credential
        .to_token()
        .unwrap_or_else(|e| panic!("a decoded credential does not encode: {e}"));
    assert_eq!(
        Credential::from_token(&again).as_ref(),
        Ok(&credential),
        "a decoded credential does not decode the same once re-encoded"
    );
}

fn judge_credential(credential: &Credential) {
    let f = fixture();
    let street = f.street.key;
    let _ = credential
        .verify(f.now, &|_| false)
        .map_err(|e| e.to_string());
    let _ = credential
        .verify(f.now, &|k| *k == street)
        .map_err(|e| e.to_string());
    let _ = credential
        .verify_for(&f.community.key, f.now, &|_| false)
        .map_err(|e| e.to_string());
    let _ = credential.structure().map_err(|e| e.to_string());
    let _ = credential.admitted_by(&street);
}

fn statement(value: &str) {
    let Ok(signed) = SignedStatement::decode(value) else {
        return;
    };
    let f = fixture();
    let _ = signed.verifies();
    let _ = signed.statement.target();
    let target_credential = match &signed.statement {
        Statement::Revoke {
            target_credential, ..
        }
        | Statement::CutOff {
            target_credential, ..
        } => target_credential.as_ref(),
        Statement::Admitted { credential, .. } => Some(credential),
        Statement::Reinstate { .. } => None,
    };
    if let Some(credential) = target_credential {
        judge_credential(credential);
    }
    if let Some(target) = signed.statement.target() {
        let _ = charter::in_scope(
            &f.federation,
            &signed.statement.issuer(),
            &target,
            target_credential,
        );
    }
    let again = signed
        .encode()
        .unwrap_or_else(|e| panic!("a decoded statement does not encode: {e}"));
    assert_eq!(
        SignedStatement::decode(&again).as_ref(),
        Ok(&signed),
        "a decoded statement does not decode the same once re-encoded"
    );
    let mut doc = AutoCommit::new();
    if charter::put(&mut doc, &signed).is_ok() {
        let _ = charter::read(&doc, &f.federation);
    }
}

// -------------------------------------------------------------- admin_request

/// A line on the admin socket: a JSON [`crate::admin::Call`]. A decoded
/// call's id is checked as the node checks it, and the call serializes.
pub fn admin_request(bytes: &[u8]) {
    let Ok(call) = serde_json::from_slice::<crate::admin::Call>(bytes) else {
        return;
    };
    if let Some(id) = &call.id {
        let _ = crate::requests::valid_id(id);
    }
    let _ = call.request.writes();
    // serde_json parses floats to within one unit in the last place by
    // default, so a re-parsed call may differ in a coordinate: only
    // serializing is checked, not a round trip.
    let _ = serde_json::to_vec(&call);
}
