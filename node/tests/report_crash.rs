//! Crash test through the node's public write path: a child process submits
//! reports (with photos) in a loop, singly and in batches, printing each id
//! only after the write was acknowledged. The parent kills it with SIGKILL at
//! random moments, reopens the node, and checks that every acknowledged report
//! is there, the photo of every report held (acknowledged or not) is there
//! and verifies, and every document loads.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;
use crdt_model::report::AttachmentKind;
use crdt_model::{Category, ReportId};
use node::api::{NewAttachment, ReportContent, ReportFilter, SubmitReport};
use node::store::BlobHash;
use node::{Node, Role};

const CHILD_ENV: &str = "YIZHAN_REPORT_CRASH_CHILD";
const ROUNDS: usize = 24;

fn request(n: u64) -> SubmitReport {
    SubmitReport {
        content: ReportContent {
            category: Category::ALL[(n % 12) as usize],
            lat: 24.9 + (n % 100) as f64 * 1e-3,
            lon: 102.7,
            text: format!("hazard number {n}"),
            address: None,
            grid: Some(format!("g{:02}", n % 8)),
            reporter: None,
        },
        attachments: vec![NewAttachment {
            bytes: format!("photo bytes of report {n} ")
                .repeat(40)
                .into_bytes(),
            mime: "image/jpeg".into(),
            kind: AttachmentKind::Photo,
        }],
    }
}

/// The child: runs only when the parent sets the environment variable.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut node = Node::open(Path::new(&dir)).expect("child opens node");
    let start: u64 = std::env::var("YIZHAN_CRASH_START")
        .unwrap()
        .parse()
        .unwrap();
    let mut n = start;
    loop {
        // Alternate single writes with batches of five in one commit.
        let ids = if n.is_multiple_of(2) {
            vec![
                node.submit_report(request(n), Utc::now())
                    .expect("submit")
                    .report
                    .id,
            ]
        } else {
            node.submit_reports((n..n + 5).map(request).collect(), Utc::now())
                .expect("batch")
        };
        n += ids.len() as u64;
        for id in ids {
            println!("ack {id}");
        }
    }
}

/// A small deterministic generator: the test's kill times vary, reproducibly.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn acknowledged_reports_survive_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    Node::init(
        &dir,
        Role::Community,
        "guandu/yiliu/xinyazhou".parse().unwrap(),
        None,
    )
    .unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeSet<ReportId> = BTreeSet::new();
    let mut rng = Lcg(0x5eed_2026);
    let mut next = 0u64;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &dir)
            .env("YIZHAN_CRASH_START", next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(id) = line.strip_prefix("ack ") {
                    let _ = tx.send(id.to_owned());
                }
            }
        });
        // Let it write for a random while, then kill it without warning.
        let wait = Duration::from_millis(60 + rng.next() % 450);
        let started = Instant::now();
        let mut this_round = 0;
        while started.elapsed() < wait {
            if let Ok(id) = rx.recv_timeout(Duration::from_millis(5)) {
                acked.insert(ReportId::parse(&id).unwrap());
                this_round += 1;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        // Lines read before the kill landed were acknowledged too.
        for id in rx.try_iter() {
            acked.insert(ReportId::parse(&id).unwrap());
            this_round += 1;
        }
        next += 1000;

        let mut node = Node::open(&dir)
            .unwrap_or_else(|e| panic!("round {round}: store does not reopen: {e}"));
        for doc in node.repo().store().document_ids().unwrap() {
            node.repo()
                .store()
                .load_document(&doc)
                .unwrap_or_else(|e| panic!("round {round}: document {doc} does not load: {e}"));
        }
        let held: BTreeSet<ReportId> = node
            .reports(&ReportFilter::default(), Utc::now())
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        let lost: Vec<_> = acked.difference(&held).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged reports lost: {lost:?}"
        );
        // Every report the store holds, acknowledged or not: a photo is
        // durable before the report naming it commits, so no kill leaves a
        // report whose photo is missing.
        for id in &held {
            let r = node.report(id, Utc::now()).unwrap();
            let hash: BlobHash = r.attachments[0].hash.parse().unwrap();
            let bytes = node.blob(&hash).unwrap();
            assert_eq!(BlobHash::of(&bytes), hash);
        }
        eprintln!(
            "round {round}: killed after {wait:?}, {this_round} acked this round, {} in all",
            acked.len()
        );
    }
    assert!(
        acked.len() >= ROUNDS,
        "the child acknowledged too little to test anything: {}",
        acked.len()
    );
}
