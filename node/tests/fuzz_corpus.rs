//! Replays the fuzz corpora on stable: every file under
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the
//! target's body in `node::fuzz_targets`, the same function the cargo-fuzz
//! target calls, and a panic names the file that caused it.
//!
//! `write_seeds` (ignored) writes the seed inputs the corpora were grown
//! from: `cargo test -p yizhan-node --test fuzz_corpus -- --ignored
//! write_seeds`. See `fuzz/README.md`.

use std::cell::RefCell;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;

use automerge::sync::{self, SyncDoc as _};
use automerge::{AutoCommit, Change, ROOT, ReadDoc as _};
use base64::Engine as _;
use chrono::Duration;
use crdt_model::{Category, DocumentId, ReportId};
use node::admin::{Call, Request};
use node::api::{ReportContent, ReportFilter, ReportSubmission};
use node::engine::Digest;
use node::engine::wire::{
    self, Announce, ChildKey, Deny, Inventory, InventoryRequest, Message, Summary, SyncData,
};
use node::fuzz_targets::{
    CHANGE_CHECK_CHARTER, CHANGE_CHECK_CHECKSUMS, CHANGE_CHECK_SIGN, TARGETS, change_check_input,
    fixture, fixture_certificate,
};
use node::net::blob::{ChunkRequest, ChunkResponse};
use node::store::BlobHash;
use node::trust::charter::{self, CharterView};
use node::trust::signing::{ChangeSignature, Proof, TrustContext, check_changes, sign};
use node::trust::statement::{HeadsByDoc, Statement};
use node::workflow::{ReportAction, ReportRequest, WorkflowRequest};

mod history;
use history::{actor, commit, raw, reports_history, street_overreach};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

thread_local! {
    /// The message and place of the last panic on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records each panic's message for the thread that raised it, so a
/// failure can be reported next to the file that caused it, and still
/// prints it as the default hook does.
fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
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
            default(info);
        }));
    });
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target`'s body on every file of its corpus and regressions.
fn replay(target: &str) {
    record_panics();
    let (_, body) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no target {target} in node::fuzz_targets::TARGETS"));
    let corpus = files_in(&fuzz_dir().join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target} is missing or empty"
    );
    let mut regressions = files_in(&fuzz_dir().join("regressions").join(target));
    // Inputs on which Automerge's own debug assertions panic and then panic
    // again in a destructor while unwinding: a debug build aborts on them,
    // whatever catches the first panic. Release builds, the ones nodes run,
    // do not compile those checks, so they are replayed there
    // (`cargo test --release -p yizhan-node --test fuzz_corpus`).
    let release_only = files_in(
        &fuzz_dir()
            .join("regressions")
            .join("release-only")
            .join(target),
    );
    if !cfg!(debug_assertions) {
        regressions.extend(release_only);
    }
    let mut failures = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        LAST_PANIC.with(|p| p.borrow_mut().take());
        if panic::catch_unwind(AssertUnwindSafe(|| body(&bytes))).is_err() {
            let why = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_default();
            failures.push(format!("{}: {why}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs panicked:\n{}",
        failures.len(),
        corpus.len() + regressions.len(),
        failures.join("\n")
    );
}

#[test]
fn sync_wire_corpus_replays_without_panic() {
    replay("sync_wire");
}

#[test]
fn change_check_corpus_replays_without_panic() {
    replay("change_check");
}

#[test]
fn blob_frame_corpus_replays_without_panic() {
    replay("blob_frame");
}

#[test]
fn admission_token_corpus_replays_without_panic() {
    replay("admission_token");
}

#[test]
fn admin_request_corpus_replays_without_panic() {
    replay("admin_request");
}

#[test]
fn certificate_corpus_replays_without_panic() {
    replay("certificate");
}

#[test]
fn every_target_has_a_cargo_fuzz_target() {
    for (name, _) in TARGETS {
        let file = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            text.contains(&format!("libfuzzer_run(node::fuzz_targets::{name}, data)")),
            "{} does not run node::fuzz_targets::{name}",
            file.display()
        );
    }
}

// ---------------------------------------------------------------- the seeds

/// Writes the seed inputs into `fuzz/corpus/<target>/seed-*`. Deterministic:
/// fixed keys, times and ids, so writing them again changes nothing.
#[test]
#[ignore = "writes files under fuzz/corpus; run by hand when seeds change"]
fn write_seeds() {
    let seeds = [
        ("sync_wire", sync_wire_seeds()),
        ("change_check", change_check_seeds()),
        ("blob_frame", blob_frame_seeds()),
        ("admission_token", admission_token_seeds()),
        ("admin_request", admin_request_seeds()),
        ("certificate", certificate_seeds()),
    ];
    for (target, inputs) in seeds {
        let dir = fuzz_dir().join("corpus").join(target);
        fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in inputs {
            fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        }
    }
}

/// Every seed passes through its body without a panic, so a seed that
/// breaks is caught before it is written.
#[test]
fn seeds_pass_their_bodies() {
    let seeds = [
        ("sync_wire", sync_wire_seeds()),
        ("change_check", change_check_seeds()),
        ("blob_frame", blob_frame_seeds()),
        ("admission_token", admission_token_seeds()),
        ("admin_request", admin_request_seeds()),
        ("certificate", certificate_seeds()),
    ];
    for (target, inputs) in seeds {
        let (_, body) = TARGETS.iter().find(|(n, _)| *n == target).unwrap();
        for (name, bytes) in inputs {
            assert!(!bytes.is_empty(), "{target}/{name} is empty");
            body(&bytes);
        }
    }
}

/// The signed seeds of `change_check` are judged as meant: honest changes
/// accepted, the street's overreach refused alone. If signing or the rules
/// change, the seeds must be written again or they stop reaching past the
/// signature check.
#[test]
fn signed_change_seeds_are_accepted_and_the_overreach_refused() {
    let f = fixture();
    let verdict = |doc: &DocumentId, changes: &[Change]| {
        let ctx = TrustContext::new(
            f.federation.clone(),
            f.district.member.clone(),
            CharterView::default(),
        );
        let message = sync::Message {
            heads: Vec::new(),
            need: Vec::new(),
            have: Vec::new(),
            changes: raw(changes).into(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        let proof = proof_of(doc, changes);
        let v = check_changes(&ctx, doc, &mut AutoCommit::new(), &message, &proof, f.now).unwrap();
        (v.accepted.len(), v.refused)
    };
    let mut reports = reports_history();
    let changes = reports.get_changes(&[]);
    assert_eq!(verdict(&f.reports, &changes), (changes.len(), vec![]));
    let mut bad = changes.clone();
    bad.extend(street_overreach(&mut reports.fork()));
    let (accepted, refused) = verdict(&f.reports, &bad);
    assert_eq!(accepted, changes.len());
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].1.contains("street"), "{refused:?}");
    let charter = charter_history().get_changes(&[]);
    assert_eq!(verdict(&f.charter, &charter), (2, vec![]));
}

type Seeds = Vec<(&'static str, Vec<u8>)>;

/// The signatures of `changes` by their actors among the fixture's nodes,
/// and the credentials of those that are not the district.
fn proof_of(doc: &DocumentId, changes: &[Change]) -> Proof {
    let f = fixture();
    let mut proof = Proof::default();
    for change in changes {
        let actor = change.actor_id().to_bytes();
        let Some(author) = f.nodes().into_iter().find(|n| n.key.0.as_slice() == actor) else {
            continue;
        };
        proof.signatures.push(ChangeSignature {
            hash: change.hash().0,
            signature: sign(&author.keypair, doc, &change.hash()).unwrap(),
        });
        if author.key != f.district.key && !proof.authors.contains(&author.credential) {
            proof.authors.push(author.credential.clone());
        }
    }
    proof
}

/// A charter: the district publishes the street's admission, the street
/// revokes the community (with its chain, so the scope checks).
fn charter_history() -> AutoCommit {
    let f = fixture();
    let mut doc = AutoCommit::new();
    doc.set_actor(actor(&f.district));
    let admitted = Statement::Admitted {
        issuer: f.district.key,
        at: f.issued.timestamp(),
        credential: f.street.credential.clone(),
    }
    .sign(&f.district.keypair)
    .unwrap();
    charter::put(&mut doc, &admitted).unwrap();
    commit(&mut doc, f.issued);
    doc.set_actor(actor(&f.street));
    let mut heads = HeadsByDoc::new();
    heads.insert(fixture().reports.to_string(), vec![[7; 32]]);
    let revoke = Statement::Revoke {
        target: f.community.key,
        issuer: f.street.key,
        at: f.now.timestamp() - 3600,
        reason: Some("lost device".into()),
        target_credential: Some(f.community.credential.clone()),
        heads,
    }
    .sign(&f.street.keypair)
    .unwrap();
    charter::put(&mut doc, &revoke).unwrap();
    commit(&mut doc, f.now - Duration::hours(1));
    doc
}

fn sync_wire_seeds() -> Seeds {
    let f = fixture();
    let place = |s: &str| crdt_model::PlaceId::parse(s).unwrap();
    let enc = |m: Message| wire::encode(&m).unwrap();
    let mut seeds: Seeds = vec![
        (
            "summary",
            enc(Message::Summary(Summary {
                digest: Digest([3; 32]),
                reply: true,
            })),
        ),
        (
            "inventory-request",
            enc(Message::InventoryRequest(InventoryRequest {
                node: Some(place("guandu/yiliu")),
                from: Some(ChildKey::Doc(
                    DocumentId::parse("guandu/yiliu/tasks").unwrap(),
                )),
            })),
        ),
        (
            "inventory",
            enc(Message::Inventory(Inventory {
                node: Some(place("guandu")),
                from: None,
                to: Some(ChildKey::Place(place("guandu/z"))),
                entries: vec![
                    (ChildKey::Place(place("guandu/yiliu")), Digest([1; 32])),
                    (ChildKey::Doc(f.charter.clone()), Digest([2; 32])),
                ],
            })),
        ),
        (
            "announce",
            enc(Message::Announce(Announce {
                doc: f.reports.clone(),
                digest: Digest([9; 32]),
            })),
        ),
        (
            "deny",
            enc(Message::Deny(Deny {
                doc: DocumentId::parse("guandu/yiliu/xinyazhou/roster").unwrap(),
            })),
        ),
    ];
    // A real exchange: a fresh peer's opening message, and the answer that
    // carries the changes, with their proof.
    let mut held = reports_history();
    let mut fresh = AutoCommit::new();
    let (mut held_state, mut fresh_state) = (sync::State::new(), sync::State::new());
    let opening = fresh
        .sync()
        .generate_sync_message(&mut fresh_state)
        .unwrap();
    let sync = |data: Vec<u8>, proof: Vec<u8>, reply: bool| {
        enc(Message::Sync(SyncData {
            doc: f.reports.clone(),
            reply,
            reset: reply,
            data,
            proof,
        }))
    };
    seeds.push((
        "sync-opening",
        sync(opening.clone().encode(), Vec::new(), true),
    ));
    held.sync()
        .receive_sync_message(&mut held_state, opening.clone())
        .unwrap();
    let answer = held.sync().generate_sync_message(&mut held_state).unwrap();
    assert!(!answer.changes.is_empty(), "the answer carries the changes");
    let changes = held.get_changes(&[]);
    let proof = proof_of(&f.reports, &changes).encode();
    let entry = |doc: &DocumentId, data: Vec<u8>, proof: Vec<u8>, reply: bool| SyncData {
        doc: doc.clone(),
        reply,
        reset: reply,
        data,
        proof,
    };
    // Several documents' messages in one frame, as a first sync sends them.
    seeds.push((
        "sync-batch",
        enc(Message::Batch(vec![
            entry(&f.charter, opening.encode(), Vec::new(), true),
            entry(&f.reports, answer.clone().encode(), proof.clone(), false),
        ])),
    ));
    seeds.push(("sync-changes", sync(answer.encode(), proof, false)));
    seeds
}

fn change_check_seeds() -> Seeds {
    let f = fixture();
    let mut reports = reports_history();
    let changes = reports.get_changes(&[]);
    let proof = proof_of(&f.reports, &changes).encode();
    let mut overreaching = reports.fork();
    let mut bad = changes.clone();
    bad.extend(street_overreach(&mut overreaching));
    let bad_proof = proof_of(&f.reports, &bad).encode();
    let mut charter = charter_history();
    let charter_changes = charter.get_changes(&[]);
    let charter_proof = proof_of(&f.charter, &charter_changes).encode();
    vec![
        (
            "reports-signed",
            change_check_input(0, &proof, &raw(&changes)),
        ),
        (
            "reports-oracle",
            change_check_input(CHANGE_CHECK_SIGN, &[], &raw(&changes)),
        ),
        (
            "reports-unsigned",
            change_check_input(0, &[], &raw(&changes[..1])),
        ),
        (
            "reports-street-overreach",
            change_check_input(0, &bad_proof, &raw(&bad)),
        ),
        (
            "reports-street-overreach-oracle",
            change_check_input(CHANGE_CHECK_SIGN, &[], &raw(&bad)),
        ),
        (
            "reports-oracle-checksums",
            change_check_input(CHANGE_CHECK_SIGN | CHANGE_CHECK_CHECKSUMS, &[], &raw(&bad)),
        ),
        (
            "reports-saved",
            change_check_input(CHANGE_CHECK_SIGN, &[], &reports.save()),
        ),
        (
            "charter-signed",
            change_check_input(CHANGE_CHECK_CHARTER, &charter_proof, &raw(&charter_changes)),
        ),
        (
            "charter-oracle",
            change_check_input(
                CHANGE_CHECK_CHARTER | CHANGE_CHECK_SIGN,
                &[],
                &raw(&charter_changes),
            ),
        ),
        (
            "charter-oracle-checksums",
            change_check_input(
                CHANGE_CHECK_CHARTER | CHANGE_CHECK_SIGN | CHANGE_CHECK_CHECKSUMS,
                &[],
                &raw(&charter_changes),
            ),
        ),
    ]
}

fn blob_frame_seeds() -> Seeds {
    let framed = |bytes: Vec<u8>| {
        let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
        out.extend(bytes);
        out
    };
    let request = ChunkRequest {
        hash: BlobHash::of(b"a photo"),
        offset: 1 << 20,
        len: 1 << 20,
        prove_size: true,
    }
    .encode();
    let chunk = ChunkResponse::Chunk {
        total: 7,
        bytes: b"a photo".to_vec(),
    }
    .encode();
    vec![
        ("request", request.clone()),
        ("request-framed", framed(request)),
        ("chunk", chunk.clone()),
        ("chunk-framed", framed(chunk)),
        ("not-found", ChunkResponse::NotFound.encode()),
        ("refused-framed", framed(ChunkResponse::Refused.encode())),
        ("oversized-frame", 0x0100_0000u32.to_be_bytes().to_vec()),
    ]
}

fn admission_token_seeds() -> Seeds {
    let f = fixture();
    let b64 = |s: &str, prefix: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.strip_prefix(prefix).unwrap())
            .unwrap()
    };
    let community = f.community.credential.to_token().unwrap();
    let street = f.street.credential.to_token().unwrap();
    let root = f.district.credential.to_token().unwrap();
    let mut charter = charter_history();
    let statements: Vec<String> = charter
        .keys(ROOT)
        .filter_map(|k| match charter.get(ROOT, k.as_str()).unwrap() {
            Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
                automerge::ScalarValue::Str(t) => Some(t.to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(statements.len(), 2);
    let _ = charter.save();
    let admitted = statements
        .iter()
        .find(|s| s.len() < statements[0].len().max(statements[1].len()))
        .unwrap_or(&statements[0])
        .clone();
    let revoke = statements.iter().find(|s| **s != admitted).unwrap().clone();
    vec![
        ("token-community", community.clone().into_bytes()),
        ("token-street", street.into_bytes()),
        ("token-root", root.into_bytes()),
        ("raw-community", b64(&community, "yz1.")),
        ("statement-revoke", revoke.clone().into_bytes()),
        ("statement-admitted", admitted.into_bytes()),
        ("raw-revoke", b64(&revoke, "ys1.")),
    ]
}

/// The fixture's certificate as a file, as QR text and as the postcard
/// behind it; and a charter revoking the community before it signed.
fn certificate_seeds() -> Seeds {
    let cert = fixture_certificate();
    let compact = cert.to_compact().unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(compact.strip_prefix("yzc1.").unwrap())
        .unwrap();
    vec![
        ("json", cert.to_json().unwrap().into_bytes()),
        ("compact", compact.into_bytes()),
        ("raw-compact", raw),
        ("charter-revoking", charter_history().save()),
    ]
}

fn admin_request_seeds() -> Seeds {
    let f = fixture();
    let report = ReportId::new(f.now - Duration::days(2), 42);
    let calls = [
        ("status", None, Request::Status),
        ("peers", None, Request::Peers),
        ("sync-status", None, Request::SyncStatus),
        ("documents", None, Request::Documents),
        (
            "list-reports",
            None,
            Request::ListReports(ReportFilter {
                place: Some(crdt_model::PlaceId::parse("guandu/yiliu").unwrap()),
                overdue: true,
                ..ReportFilter::default()
            }),
        ),
        ("show-report", None, Request::ShowReport(report.clone())),
        (
            "submit-report",
            Some("r-1"),
            Request::SubmitReport(ReportSubmission {
                content: ReportContent {
                    category: Category::ALL[1],
                    lat: 24.97,
                    lon: 102.74,
                    text: "pothole".into(),
                    address: None,
                    grid: Some("g01".into()),
                    reporter: None,
                },
                photos: vec!["/tmp/p.jpg".into()],
                voices: vec![],
                loaded: None,
            }),
        ),
        ("blob", None, Request::Blob(BlobHash::of(b"a photo"))),
        (
            "join",
            Some("0f1e2d3c"),
            Request::Join {
                token: f.community.credential.to_token().unwrap(),
            },
        ),
        (
            "admit",
            Some("request-1"),
            Request::Admit {
                peer: f.community.peer.clone(),
                role: node::Role::Community,
                place: crdt_model::PlaceId::parse("guandu/yiliu/xinyazhou").unwrap(),
                may_admit: false,
                expires_days: Some(365),
            },
        ),
        (
            "revoke",
            Some("request-2"),
            Request::Revoke {
                peer: f.community.peer.clone(),
                reason: Some("lost device".into()),
            },
        ),
        (
            "workflow-event",
            Some("request-3"),
            Request::Workflow(WorkflowRequest::Report(ReportRequest::Event {
                report,
                action: ReportAction::Verify,
                note: Some("seen it".into()),
            })),
        ),
        (
            "workflow-stats",
            None,
            Request::Workflow(WorkflowRequest::Stats {
                place: None,
                from: Some(f.issued.date_naive()),
                to: None,
            }),
        ),
    ];
    calls
        .into_iter()
        .map(|(name, id, request)| {
            let call = Call {
                id: id.map(String::from),
                request,
            };
            (name, serde_json::to_vec(&call).unwrap())
        })
        .collect()
}
