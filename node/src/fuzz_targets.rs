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
    Assembly, BLOB_REQUEST_BYTES, BLOB_RESPONSE_BYTES_MAX, ChunkRequest, ChunkResponse, Progress,
};
use crate::net::codec::{BytesCodec, Frame};
use crate::store::BlobHash;
use crate::trust::charter::{self, CharterView};
use crate::trust::signing::{ChangeSignature, Proof, TrustContext, check_changes, sign};
use crate::trust::statement::{CHARTER_PREFIXES, SignedStatement, Statement};
use crate::trust::{Admission, Credential, Federation, Member, NodeKey};

pub use crate::certificate::fuzz::{certificate, fixture_certificate};

/// A target's body: raw bytes in, a panic only for a finding.
pub type Body = fn(&[u8]);

/// Every target, by the name of its directory under `fuzz/corpus/` and
/// `fuzz/regressions/` and of its file under `fuzz/fuzz_targets/`.
pub const TARGETS: [(&str, Body); 6] = [
    ("sync_wire", sync_wire),
    ("change_check", change_check),
    ("blob_frame", blob_frame),
    ("admission_token", admission_token),
    ("admin_request", admin_request),
    ("certificate", certificate),
];

thread_local! {
    /// The last panic on this thread, as [`libfuzzer_init`]'s hook saw it.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// For a cargo-fuzz target's `init`. libfuzzer-sys installs a panic hook
/// that aborts the process on every panic, even one the node catches and
/// turns into a refusal (its guards around Automerge): the fuzzer would stop
/// at the first guarded panic. This hook only records the panic; whether it
/// is a finding is decided by [`libfuzzer_run`], as the replay test decides.
pub fn libfuzzer_init() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{message}{place}")));
    }));
}

/// Runs `body` on `data` for a cargo-fuzz target set up by
/// [`libfuzzer_init`]: a panic that escapes the body is printed and aborts
/// the process, which libFuzzer reports as a crash; a panic caught inside
/// the node is not a finding.
pub fn libfuzzer_run(body: Body, data: &[u8]) {
    if std::panic::catch_unwind(|| body(data)).is_err() {
        let why = LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_default();
        eprintln!("panic escaped the fuzz target: {why}");
        std::process::abort();
    }
}

/// Flag bit of a [`change_check`] input: sign every change whose actor is a
/// fixture node with that node's key, and show the fixture's credentials,
/// as an admitted but hostile member would. Without it the fuzzer cannot
/// forge a signature, and the write rules behind the signature check would
/// only ever see the changes of the seeds.
pub const CHANGE_CHECK_SIGN: u8 = 1;
/// Flag bit of a [`change_check`] input: the changes are for the charter
/// (append-only signed statements) rather than for the reports document.
pub const CHANGE_CHECK_CHARTER: u8 = 2;
/// Flag bit of a [`change_check`] input: give every chunk of the changes a
/// valid checksum before anything reads them. Automerge refuses a chunk
/// whose checksum does not match, so without it nearly every mutation of a
/// change stops at the checksum; a hostile peer computes checksums as
/// easily as anyone, so what lies behind them must hold too.
pub const CHANGE_CHECK_CHECKSUMS: u8 = 4;
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
/// [`CHANGE_CHECK_CHARTER`], [`CHANGE_CHECK_CHECKSUMS`]), the encoded proof
/// and the change bytes (what `AutoCommit::save_incremental` writes). A
/// proof longer than `u16::MAX` bytes is cut there.
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
    change_check_inner(bytes)
}

/// Runs the node's check on `changes` alone: it must answer, not panic.
fn check_only(f: &Fixture, doc: &DocumentId, changes: &[u8], proof: &Proof) {
    let message = sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: changes.to_vec().into(),
        flags: None,
        version: MessageVersion::V1,
    };
    let ctx = TrustContext::new(
        f.federation.clone(),
        f.district.member.clone(),
        CharterView::default(),
    );
    let _ = check_changes(&ctx, doc, &mut AutoCommit::new(), &message, proof, f.now);
}

fn change_check_inner(bytes: &[u8]) {
    let Some((&[flags, hi, lo], rest)) = bytes.split_first_chunk::<CHANGE_CHECK_HEADER_BYTES>()
    else {
        return;
    };
    let proof_len = usize::from(u16::from_be_bytes([hi, lo])).min(rest.len());
    let (proof_bytes, changes) = rest.split_at(proof_len);
    let Ok(mut proof) = Proof::decode(proof_bytes) else {
        return;
    };
    let repaired;
    let changes = if flags & CHANGE_CHECK_CHECKSUMS != 0 {
        repaired = with_valid_checksums(changes);
        &repaired[..]
    } else {
        changes
    };
    let f = fixture();
    let doc = if flags & CHANGE_CHECK_CHARTER != 0 {
        &f.charter
    } else {
        &f.reports
    };

    // The check refuses chunks sync never sends before Automerge reads
    // them; the harness must not read them either (a bundle can make
    // Automerge allocate without bound).
    if crate::trust::chunks::only_sync_chunks(changes).is_err() {
        check_only(f, doc, changes, &proof);
        return;
    }
    // What an honest sender would name as its heads, and the changes the
    // check must account for.
    let mut sent = AutoCommit::new();
    // Automerge itself can panic on such bytes (fuzz/regressions/change_check),
    // in loading them and, with debug assertions, in listing the changes. The
    // node's check must guard its own reading; this reading is the harness's,
    // so a panic here only sends the bytes to the check alone.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let loads = sent.load_incremental(changes).is_ok();
        (loads, sent.get_changes(&[]), sent.get_heads())
    }));
    let Ok((loads, new, heads)) = read else {
        check_only(f, doc, changes, &proof);
        return;
    };
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
        heads,
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
        // Two changes of one actor under one sequence number: refused
        // whole as a clash, nothing of it checked or taken.
        Ok(verdict) if verdict.clash.is_some() => {
            assert!(verdict.accepted.is_empty(), "a clashing message was taken");
        }
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
            signature,
        });
    }
}

/// First bytes of every Automerge storage chunk.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Chunk type of a deflated change, whose checksum is that of the change
/// inflated: left as it is.
const COMPRESSED_CHUNK: u8 = 2;

/// `bytes` with the checksum of every chunk (`magic ++ checksum ++ type ++
/// uleb128 length ++ data`) set to what Automerge computes: the first four
/// bytes of the SHA-256 of `type ++ uleb128(length) ++ data`. Stops at the
/// first bytes that are not a whole chunk.
pub fn with_valid_checksums(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut at = 0;
    while let Some(header) = out.get(at..at + 9) {
        if header[..4] != CHUNK_MAGIC {
            break;
        }
        let typ = header[8];
        let Some((len, len_bytes)) = read_uleb128(&out[at + 9..]) else {
            break;
        };
        let start = at + 9 + len_bytes;
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|end| *end <= out.len())
        else {
            break;
        };
        if typ != COMPRESSED_CHUNK {
            let mut prefix = vec![typ];
            write_uleb128(len, &mut prefix);
            let digest = sha256::digest(&[&prefix, &out[start..end]]);
            out[at + 4..at + 8].copy_from_slice(&digest[..4]);
        }
        at = end;
    }
    out
}

fn read_uleb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn write_uleb128(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// SHA-256 (FIPS 180-4), for chunk checksums only: the node has no other
/// use for it, so it is not worth a dependency.
mod sha256 {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    const H0: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    /// The digest of the concatenation of `parts`.
    pub(super) fn digest(parts: &[&[u8]]) -> [u8; 32] {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut message: Vec<u8> = Vec::with_capacity(len + 72);
        for part in parts {
            message.extend_from_slice(part);
        }
        message.push(0x80);
        while message.len() % 64 != 56 {
            message.push(0);
        }
        message.extend_from_slice(&((len as u64) * 8).to_be_bytes());
        let mut h = H0;
        for block in message.chunks_exact(64) {
            compress(&mut h, block);
        }
        let mut out = [0u8; 32];
        for (o, word) in out.chunks_exact_mut(4).zip(h) {
            o.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    fn compress(h: &mut [u32; 8], block: &[u8]) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
}

// ----------------------------------------------------------------- blob_frame

/// `/yizhan/blob/2` as a peer sends it: the bytes as a bare range request
/// and response, and as a length-prefixed frame read by the node's codec
/// under the blob protocol's caps, then decoded and (a response) handed to
/// a blob assembly. A decoded request or response re-encodes to the bytes
/// it came from; a frame never exceeds its cap.
pub fn blob_frame(bytes: &[u8]) {
    bare_chunk_messages(bytes);
    let request_max = BLOB_REQUEST_BYTES;
    let response_max = BLOB_RESPONSE_BYTES_MAX;
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
            assembly.first();
            // Random bytes never verify against the hash: nothing is kept.
            if !matches!(
                assembly.accept(response),
                Progress::NotHeld | Progress::Refused
            ) {
                assert_eq!(assembly.verified(), 0, "unverified bytes kept");
            }
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

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable as _;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    #[test]
    fn sha256_matches_the_standard_vectors() {
        assert_eq!(
            hex::encode(sha256::digest(&[b"abc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(sha256::digest(&[
                b"abcdbcdecdefdefgefghfghighij",
                b"hijkijkljklmklmnlmnomnopnopq"
            ])),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex::encode(sha256::digest(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn checksums_are_restored_as_automerge_computes_them() {
        let mut doc = AutoCommit::new();
        for i in 0..3 {
            doc.put(ROOT, format!("k{i}"), i).unwrap();
            doc.commit();
        }
        let changes: Vec<u8> = doc
            .get_changes(&[])
            .iter()
            .flat_map(|c| c.raw_bytes().to_vec())
            .collect();
        assert_eq!(with_valid_checksums(&changes), changes);
        let mut broken = changes.clone();
        broken[5] ^= 0xff;
        let mut refused = AutoCommit::new();
        let _ = refused.load_incremental(&broken);
        assert!(
            refused.get_changes(&[]).is_empty(),
            "a chunk with a wrong checksum is refused"
        );
        assert_eq!(with_valid_checksums(&broken), changes);
        let saved = doc.save();
        let mut broken = saved.clone();
        broken[4] ^= 0xff;
        assert_eq!(with_valid_checksums(&broken), saved);
    }
}
