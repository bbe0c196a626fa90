//! Idempotent writes through the admin socket: a report submission whose
//! answer is lost (the client closes the connection before the reply) and
//! is asked again with the same request id creates one report, not two,
//! and the retry gets the first answer.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use common::*;
use crdt_model::Category;
use node::admin::{Call, Request, Response, socket_path};
use node::api::{ReportContent, ReportSubmission};

fn call(id: &str) -> Call {
    Call {
        id: Some(id.to_owned()),
        request: Request::SubmitReport(ReportSubmission {
            content: ReportContent {
                category: Category::Traffic,
                lat: 24.9,
                lon: 102.7,
                text: "信号灯不亮".into(),
                address: None,
                grid: None,
                reporter: None,
            },
            photos: Vec::new(),
            voices: Vec::new(),
            loaded: None,
        }),
    }
}

fn line(c: &Call) -> Vec<u8> {
    let mut l = serde_json::to_vec(c).unwrap();
    l.push(b'\n');
    l
}

fn count(dir: &std::path::Path) -> usize {
    json(dir, &["report", "list"]).as_array().unwrap().len()
}

#[test]
fn a_write_whose_answer_was_lost_is_not_done_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _s, _d) = chain(tmp.path());
    let node = NodeProc::start(&c, &[]);
    let sock = socket_path(&c);

    // The first attempt: the request goes out, the client hangs up at once.
    {
        let mut stream = UnixStream::connect(&sock).unwrap();
        stream.write_all(&line(&call("retry-1"))).unwrap();
        stream.shutdown(std::net::Shutdown::Both).unwrap();
    }
    wait_for("the first attempt to be carried out", 30, || count(&c) == 1);
    let first_id = json(&c, &["report", "list"])[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The retry, with the same id: the first answer, nothing new.
    let stream = UnixStream::connect(&sock).unwrap();
    (&stream).write_all(&line(&call("retry-1"))).unwrap();
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).unwrap();
    match serde_json::from_str::<Response>(&answer).unwrap() {
        Response::Submitted(s) => assert_eq!(s.report.id.to_string(), first_id),
        other => panic!("unexpected answer {other:?}"),
    }
    assert_eq!(count(&c), 1, "the retry wrote a second report");

    // Another id is another report; a malformed id is refused.
    let stream = UnixStream::connect(&sock).unwrap();
    (&stream).write_all(&line(&call("retry-2"))).unwrap();
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).unwrap();
    assert!(answer.contains("submitted"), "{answer}");
    assert_eq!(count(&c), 2);
    let stream = UnixStream::connect(&sock).unwrap();
    (&stream).write_all(&line(&call("not an id!"))).unwrap();
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).unwrap();
    assert!(answer.contains("is not 1 to 64 letters"), "{answer}");
    assert_eq!(count(&c), 2);
    node.stop();

    // With no node running, the same id against the store directly: still once.
    let mut store_node = node::Node::open(&c).unwrap();
    let again = node::admin::execute_call(&mut store_node, call("retry-2"), chrono::Utc::now());
    assert!(matches!(again, Ok(Response::Submitted(_))), "{again:?}");
    drop(store_node);
    assert_eq!(count(&c), 2);
}

#[test]
fn idle_admin_clients_give_their_slots_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _s, _d) = chain(tmp.path());
    let node = NodeProc::start(&c, &[]);
    // More idle connections than the node serves at once, saying nothing.
    let idle: Vec<UnixStream> = (0..24)
        .map(|_| UnixStream::connect(socket_path(&c)).unwrap())
        .collect();
    // The node still answers once the idle ones time out, and a write goes through.
    let started = std::time::Instant::now();
    let out = yizhan(&c, &["--json", "status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(json(&c, &["status"])["running"], true);
    drop(idle);
    assert!(!node.logged().contains("panicked"));
    node.stop();
}
