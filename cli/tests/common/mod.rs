// Running `yizhan` as an operator would: commands and node processes.
#![allow(dead_code)]

pub mod hostile;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn yizhan(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_yizhan"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("RUST_LOG");
    english(&mut cmd).output().expect("run yizhan")
}

/// Makes `cmd` speak English with no width limit, whatever the locale and
/// terminal the tests run under: many tests match English output.
pub fn english(cmd: &mut Command) -> &mut Command {
    cmd.env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("COLUMNS")
}

pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = yizhan(dir, args);
    assert!(
        out.status.success(),
        "yizhan {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail: non-zero exit, one line on stderr that
/// names `needle`, no panic. Returns the line.
pub fn fails(dir: &Path, args: &[&str], needle: &str) -> String {
    let out = yizhan(dir, args);
    let err = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    assert!(!out.status.success(), "yizhan {args:?} should fail");
    assert!(!err.contains("panicked"), "yizhan {args:?} panicked: {err}");
    assert_eq!(
        err.lines().count(),
        1,
        "yizhan {args:?} should print one line, got: {err}"
    );
    assert!(
        err.contains(needle),
        "yizhan {args:?}: {err:?} should mention {needle:?}"
    );
    err
}

pub fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(dir, &all)).unwrap()
}

pub fn init(dir: &Path, role: &str, place: &str) {
    ok(dir, &["init", "--role", role, "--place", place]);
}

/// The peer id of the node in `dir`.
pub fn peer_id(dir: &Path) -> String {
    json(dir, &["status"])["peer_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Has `admitter` admit `peer` and returns the token.
pub fn admit_token(
    admitter: &Path,
    peer: &str,
    role: &str,
    place: &str,
    may_admit: bool,
) -> String {
    let mut args = vec!["admit", peer, "--role", role, "--place", place];
    if may_admit {
        args.push("--may-admit");
    }
    json(admitter, &args)["token"].as_str().unwrap().to_owned()
}

/// Has `admitter` admit the node in `node`, which joins with the token.
pub fn admit(admitter: &Path, node: &Path, role: &str, place: &str, may_admit: bool) {
    let token = admit_token(admitter, &peer_id(node), role, place, may_admit);
    ok(node, &["join", &token]);
}

/// The community `xinyazhou`, its street `yiliu` and the district
/// `guandu`, initialised under `root` and admitted into one federation (the
/// street may admit). Returns their directories: community, street, district.
pub fn chain(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (c, s, d) = (root.join("c"), root.join("s"), root.join("d"));
    init(&c, "community", "guandu/yiliu/xinyazhou");
    init(&s, "street", "guandu/yiliu");
    init(&d, "district", "guandu");
    admit(&d, &s, "street", "guandu/yiliu", true);
    admit(&s, &c, "community", "guandu/yiliu/xinyazhou", false);
    (c, s, d)
}

/// Submits a loose-manhole-cover report with the photo file `photo` at the
/// community in `dir` and returns its id.
pub fn submit_photo_report(dir: &Path, photo: &Path) -> String {
    submit_photo_report_by(dir, photo, &[])
}

/// [`submit_photo_report`] with more `report submit` arguments, such as
/// `--reporter MEMBER`.
pub fn submit_photo_report_by(dir: &Path, photo: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "report",
        "submit",
        "--category",
        "manhole_cover",
        "--lat",
        "24.97",
        "--lon",
        "102.74",
        "--text",
        "井盖翘起",
        "--photo",
        photo.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    json(dir, &args)["report"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Submits a traffic report saying `text` at the community in `dir` and
/// returns its id.
pub fn submit_report(dir: &Path, text: &str) -> String {
    submit_category(dir, "traffic", text)
}

/// Submits a report of `category` saying `text` at the community in `dir`
/// and returns its id.
pub fn submit_category(dir: &Path, category: &str, text: &str) -> String {
    json(
        dir,
        &[
            "report",
            "submit",
            "--category",
            category,
            "--lat",
            "24.9",
            "--lon",
            "102.7",
            "--text",
            text,
        ],
    )["report"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Report texts held at `dir`, sorted.
pub fn report_texts(dir: &Path) -> Vec<String> {
    let mut t: Vec<String> = json(dir, &["report", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    t.sort();
    t
}

/// True when `dir` holds a report saying each of `wanted`.
pub fn holds_all(dir: &Path, wanted: &[String]) -> bool {
    let held = report_texts(dir);
    wanted.iter().all(|w| held.contains(w))
}

/// An active rider on the roster of the community in `dir`: their member id.
pub fn active_rider(dir: &Path, phone: &str) -> String {
    let m = json(
        dir,
        &[
            "roster",
            "add",
            "--display-name",
            "骑手",
            "--name",
            "张三",
            "--phone",
            phone,
        ],
    );
    let id = m["id"].as_str().unwrap().to_owned();
    ok(dir, &["roster", "approve", &id]);
    id
}

/// Polls `check` every 100 ms until it returns true or `secs` pass.
pub fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `yizhan node start` process, stopped with SIGTERM when dropped.
pub struct NodeProc {
    pub dir: PathBuf,
    child: Option<Child>,
    pub log: PathBuf,
}

impl NodeProc {
    /// Starts a node listening on 127.0.0.1 with an OS-chosen port, dialling
    /// `peers`, and waits until it answers on its admin socket.
    pub fn start(dir: &Path, peers: &[String]) -> NodeProc {
        NodeProc::start_on(dir, "/ip4/127.0.0.1/tcp/0", peers)
    }

    /// Starts a node listening on `listen` (port 0: OS-chosen), dialling `peers`.
    pub fn start_on(dir: &Path, listen: &str, peers: &[String]) -> NodeProc {
        NodeProc::start_with(dir, listen, peers, &[])
    }

    /// [`NodeProc::start_on`] with more `node start` arguments.
    pub fn start_with(dir: &Path, listen: &str, peers: &[String], extra: &[&str]) -> NodeProc {
        let log = dir.with_extension(format!("log{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_yizhan"));
        english(&mut cmd);
        cmd.arg("--data-dir")
            .arg(dir)
            .args(["node", "start", "--listen", listen, "--no-mdns"])
            .env(
                "RUST_LOG",
                std::env::var("YIZHAN_TEST_LOG").unwrap_or_else(|_| "warn,node=info".into()),
            )
            .stdout(Stdio::null())
            .stderr(file);
        for p in peers {
            cmd.args(["--peer", p]);
        }
        cmd.args(extra);
        let child = cmd.spawn().unwrap();
        let mut node = NodeProc {
            dir: dir.to_owned(),
            child: Some(child),
            log,
        };
        wait_for("the node to listen", 30, || {
            if let Some(Ok(Some(status))) = node.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "node in {} exited with {status}: {}",
                    dir.display(),
                    node.logged()
                );
            }
            let out = yizhan(dir, &["--json", "status"]);
            out.status.success()
                && serde_json::from_slice::<Value>(&out.stdout)
                    .map(|v| v["running"] == true && !v["listen"].as_array().unwrap().is_empty())
                    .unwrap_or(false)
        });
        node
    }

    /// The first address it listens on, with its peer id.
    pub fn addr(&self) -> String {
        json(&self.dir, &["status"])["listen"][0]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn status(&self) -> Value {
        json(&self.dir, &["status"])
    }

    /// The `address=` of the first log line that says `what` (such as
    /// "serving HTTP"), waiting for it to be logged.
    pub fn logged_address(&self, what: &str) -> String {
        let mut found = None;
        wait_for(what, 20, || {
            found = self
                .logged()
                .lines()
                .find(|l| l.contains(what))
                .and_then(|l| l.split("address=").nth(1))
                .and_then(|a| a.split_whitespace().next())
                .map(str::to_owned);
            found.is_some()
        });
        found.unwrap()
    }

    /// What the node logged so far.
    pub fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: the process dies where it stands.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Its resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().unwrap().id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// The TCP port it listens on first.
    pub fn port(&self) -> u16 {
        let addr = self.addr();
        let after = addr.split("/tcp/").nth(1).unwrap();
        after.split('/').next().unwrap().parse().unwrap()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                assert!(
                    status.success(),
                    "node in {} exited with {status}",
                    self.dir.display()
                );
                return;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node in {} did not stop on SIGTERM", self.dir.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Plain HTTP/1.1 for the metrics endpoint, which serves no TLS.
pub mod http {
    use std::io::{Read as _, Write as _};
    use std::time::Duration;

    /// `GET path` on `addr`: the status code and the body.
    pub fn get(addr: &str, path: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// The value of the sample `series` (name and labels exactly as exported).
    pub fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }
}
