//! Alerts through real processes: the `[alerts]` command appends what it
//! reads on stdin to a file, and the file is the evidence. Also
//! `yizhan watch --json` following a running node.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;
use common::*;
use serde_json::Value;

/// Configures `dir`'s node to append every alert to `file`.
fn alert_to_file(dir: &Path, file: &Path) {
    alert_with(dir, &format!("cat >> '{}'", file.display()), 10, 3);
}

/// Configures `dir`'s node to run `script` with `sh -c` for every alert.
fn alert_with(dir: &Path, script: &str, timeout_s: u64, retries: u32) {
    let config = dir.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[alerts]\ncommand = [\"sh\", \"-c\", {script:?}]\ntimeout_s = {timeout_s}\nretries = {retries}\n"
    ));
    std::fs::write(&config, text).unwrap();
}

/// The alerts appended to `file` so far, one JSON object a line.
fn alerts(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("an alert is one JSON line"))
        .collect()
}

/// How many alerts in `file` are for `report` under `condition`.
fn count(file: &Path, report: &str, condition: &str) -> usize {
    alerts(file)
        .iter()
        .filter(|a| a["report_id"] == report && a["condition"] == condition)
        .count()
}

/// How many times the node logged that its alert index was built: once
/// per start, after which a start's alerts of what it found are queued.
fn indexed(node: &NodeProc) -> usize {
    node.logged().matches("alerts: open cases indexed").count()
}

#[test]
fn urgent_report_alerts_once_at_the_community_and_once_at_the_street() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, _d) = chain(tmp.path());
    let (c_file, s_file): (PathBuf, PathBuf) =
        (tmp.path().join("c-alerts"), tmp.path().join("s-alerts"));
    alert_to_file(&c, &c_file);
    alert_to_file(&s, &s_file);
    let street = NodeProc::start(&s, &[]);
    let community = NodeProc::start(&c, &[street.addr()]);
    wait_for("the alert indexes", 30, || {
        indexed(&street) >= 1 && indexed(&community) >= 1
    });

    let fire = submit_category(&c, "electrical_fire", "配电箱冒烟");
    let pothole = submit_category(&c, "traffic", "路面塌陷");
    wait_for("the community's alert", 30, || {
        count(&c_file, &fire, "urgent") == 1
    });
    wait_for("the street's alert after sync", 60, || {
        count(&s_file, &fire, "urgent") == 1
    });
    let alert = &alerts(&s_file)[0];
    assert_eq!(alert["category"], "electrical_fire");
    assert_eq!(alert["text"], "配电箱冒烟");
    assert_eq!(alert["place"], "guandu/yiliu/xinyazhou");
    assert_eq!(alert["node"]["place"], "guandu/yiliu");
    assert_eq!(alert["node"]["role"], "street");
    assert_eq!(alert["location"]["lat"], 24.9);
    assert!(alert["deadline"].is_string() && alert["submitted_at"].is_string());
    assert!(alert.get("reporter").is_none(), "{alert}");

    // Restarted, the community does not alert the fire again; a second
    // fire, queued after anything the start found, shows it had the chance.
    community.stop();
    let community = NodeProc::start(&c, &[street.addr()]);
    wait_for("the restarted node's index", 30, || {
        indexed(&community) >= 2
    });
    let second = submit_category(&c, "lost_person", "老人走失");
    wait_for("the second alert", 30, || {
        count(&c_file, &second, "urgent") == 1
    });
    wait_for("the second report at the street", 60, || {
        holds_all(&s, &["老人走失".to_owned()])
    });
    wait_for("the street's second alert", 30, || {
        count(&s_file, &second, "urgent") == 1
    });
    for file in [&c_file, &s_file] {
        assert_eq!(count(file, &fire, "urgent"), 1, "{}", file.display());
        assert_eq!(count(file, &pothole, "urgent"), 0, "traffic is not urgent");
        assert_eq!(alerts(file).len(), 2, "{:?}", alerts(file));
    }
    community.stop();
    street.stop();
}

#[test]
fn a_case_past_its_deadline_alerts_once_also_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _s, _d) = chain(tmp.path());
    let file = tmp.path().join("alerts");
    alert_to_file(&c, &file);
    let node = NodeProc::start(&c, &[]);
    wait_for("the node's alert index", 30, || indexed(&node) >= 1);
    let dispatch_due_in = |id: &str, secs: i64| {
        json(&c, &["report", "verify", id]);
        let due = (Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339();
        json(
            &c,
            &["report", "dispatch", id, "--to", "市政班组", "--due", &due],
        );
    };
    let late = submit_category(&c, "sanitation", "垃圾堆积");
    dispatch_due_in(&late, 3);
    wait_for("the overdue alert", 30, || {
        count(&file, &late, "overdue") == 1
    });
    let shown = json(&c, &["report", "show", &late]);
    assert_eq!(shown["overdue"], true);

    node.stop();
    let node = NodeProc::start(&c, &[]);
    wait_for("the restarted node's index", 30, || indexed(&node) >= 2);
    // A second case going overdue after the restart: its alert comes after
    // whatever the start would have sent.
    let later = submit_category(&c, "sanitation", "又一处垃圾");
    dispatch_due_in(&later, 2);
    wait_for("the second overdue alert", 30, || {
        count(&file, &later, "overdue") == 1
    });
    assert_eq!(count(&file, &late, "overdue"), 1, "{:?}", alerts(&file));
    assert_eq!(alerts(&file).len(), 2, "{:?}", alerts(&file));
    node.stop();
}

#[test]
fn a_hanging_command_is_killed_retried_a_bounded_number_of_times_and_logged_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _s, _d) = chain(tmp.path());
    let runs = tmp.path().join("runs");
    // Counts its runs, then hangs past the time limit.
    alert_with(
        &c,
        &format!("echo run >> '{}'; sleep 600", runs.display()),
        1,
        1,
    );
    let node = NodeProc::start(&c, &[]);
    wait_for("the node's alert index", 30, || indexed(&node) >= 1);
    let fire = submit_category(&c, "electrical_fire", "电缆起火");
    wait_for("the node to give up on the alert", 30, || {
        node.logged().contains("giving up on this alert")
    });
    // The node answered throughout, and writes on.
    submit_category(&c, "traffic", "红绿灯故障");
    let log = node.logged();
    assert_eq!(
        std::fs::read_to_string(&runs).unwrap().lines().count(),
        2,
        "one run and one retry"
    );
    assert_eq!(log.matches("alert command failed; trying again").count(), 1);
    assert_eq!(log.matches("giving up on this alert").count(), 1);
    assert!(log.contains(&fire), "{log}");
    assert!(log.contains("was killed"), "{log}");

    // Given up is recorded: a restart does not run it again for this case.
    node.stop();
    let node = NodeProc::start(&c, &[]);
    wait_for("the restarted node's index", 30, || indexed(&node) >= 2);
    let second = submit_category(&c, "child_safety", "小孩落水");
    wait_for("the second case's first run", 30, || {
        std::fs::read_to_string(&runs).unwrap().lines().count() >= 3
    });
    wait_for("the node to give up on the second", 30, || {
        node.logged().contains(&second) && node.logged().matches("giving up").count() >= 2
    });
    assert_eq!(
        std::fs::read_to_string(&runs).unwrap().lines().count(),
        4,
        "two runs for the second case, none more for the first"
    );
    node.stop();
}

#[test]
fn alert_settings_out_of_range_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    init(&dir, "community", "guandu/yiliu/xinyazhou");
    let config = dir.join("config.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{good}\n[alerts]\ntimeout_s = 0\n")).unwrap();
    fails(&dir, &["status"], "timeout_s");
    std::fs::write(&config, format!("{good}\n[alerts]\nretries = 1000\n")).unwrap();
    fails(&dir, &["status"], "retries");
    std::fs::write(&config, format!("{good}\n[alerts]\nurgent = [\"fire\"]\n")).unwrap();
    fails(&dir, &["status"], "fire");
    std::fs::write(&config, format!("{good}\n[alerts]\ncomand = [\"true\"]\n")).unwrap();
    fails(&dir, &["status"], "comand");
    std::fs::write(&config, &good).unwrap();
    fails(&dir, &["watch"], "no node is running");
}

/// A `yizhan watch` process whose stdout lines arrive on a channel.
struct Watcher {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    errors: mpsc::Receiver<String>,
}

/// The lines `from` yields, on a channel, read by a thread of their own.
fn lines_of(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Watcher {
    /// Starts `yizhan --json watch` and waits until it follows the node
    /// (it says so on stderr once it holds its cursor).
    fn start(dir: &Path) -> Watcher {
        let mut child = Command::new(env!("CARGO_BIN_EXE_yizhan"))
            .arg("--data-dir")
            .arg(dir)
            .args(["--json", "watch"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = lines_of(child.stdout.take().unwrap());
        let errors = lines_of(child.stderr.take().unwrap());
        let first = errors
            .recv_timeout(Duration::from_secs(30))
            .expect("watch says it follows the node");
        assert!(first.starts_with("watching"), "{first}");
        Watcher {
            child,
            lines,
            errors,
        }
    }

    /// Waits for a case about `report` with `condition`.
    fn expect(&self, report: &str, condition: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("watch showed no {condition} case {report}"));
            let v: Value = serde_json::from_str(&line).expect("watch --json prints JSON lines");
            if v["report_id"] == report && v["condition"] == condition {
                return v;
            }
        }
    }

    /// Waits for the process to end; its status and stderr.
    fn ended(mut self) -> (std::process::ExitStatus, String) {
        let mut status = None;
        wait_for("watch to end", 30, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        let err: Vec<String> = self.errors.try_iter().collect();
        (status.unwrap(), err.join("\n"))
    }
}

#[test]
fn watch_json_follows_new_and_urgent_cases_and_ends_with_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _s, _d) = chain(tmp.path());
    let node = NodeProc::start(&c, &[]);
    wait_for("the node's alert index", 30, || indexed(&node) >= 1);
    let interrupted = Watcher::start(&c);
    let follower = Watcher::start(&c);
    let id = submit_category(&c, "child_safety", "小孩攀爬桥栏");
    let new = follower.expect(&id, "new");
    assert_eq!(new["text"], "小孩攀爬桥栏");
    assert_eq!(new["status"], "submitted");
    let urgent = follower.expect(&id, "urgent");
    assert_eq!(urgent["category"], "child_safety");
    assert_eq!(urgent["node"]["role"], "community");
    interrupted.expect(&id, "new");
    // Later writes to the same month reach the alerts from what they
    // touched, not by a fresh read of the month: still new, still urgent.
    let second = submit_category(&c, "lost_person", "老人走失");
    assert_eq!(follower.expect(&second, "new")["text"], "老人走失");
    assert_eq!(
        follower.expect(&second, "urgent")["category"],
        "lost_person"
    );

    // Ctrl-C ends a watcher quietly.
    let _ = Command::new("kill")
        .args(["-INT", &interrupted.child.id().to_string()])
        .status();
    let (status, _) = interrupted.ended();
    assert!(status.success(), "{status}");

    // The node stopping ends the other, saying so.
    node.stop();
    let (status, err) = follower.ended();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("stopped"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
