//! The rider's page, the staff console and their JSON endpoints against a
//! running community node serving plain HTTP on loopback: the pages and
//! the service worker come with their security headers and types; riders'
//! and staff codes each open only their own endpoints; a voice note is
//! filed beside the photo and served as audio; a "me too" confirms the
//! case; and the console's steps follow the command line's rules, with
//! every refusal in Open311's error format and nothing changed; a
//! street's console accepts and dispatches what a community escalated.
//! `tests/python/test_web.py` drives the same pages in a real Chromium.

mod common;

use std::path::Path;

use common::*;
use reqwest::StatusCode;
use reqwest::blocking::multipart::{Form, Part};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json as j};

/// An active rider and their access code.
fn rider(dir: &Path) -> (String, String) {
    let id = active_rider(dir, "13800000001");
    let out = json(dir, &["roster", "code", &id, "--url", "http://127.0.0.1"]);
    (id, out["code"].as_str().unwrap().to_owned())
}

/// Starts the node of `dir` serving plain HTTP on loopback; with the root
/// URL of its HTTP server.
fn serving(dir: &Path) -> (NodeProc, String) {
    serving_with(dir, &[])
}

/// [`serving`] dialling `peers`.
fn serving_with(dir: &Path, peers: &[String]) -> (NodeProc, String) {
    let config = dir.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[http]\nlisten = \"127.0.0.1:0\"\nplain = true\n");
    std::fs::write(&config, text).unwrap();
    let node = NodeProc::start(dir, peers);
    let root = format!("http://{}", node.logged_address("serving HTTP"));
    (node, root)
}

/// A community node set up in `tmp` (not started) with an active rider;
/// its directory, the rider's member id and code, and a staff code.
fn community(tmp: &Path) -> (std::path::PathBuf, String, String, String) {
    let c = tmp.join("community");
    init(&c, "community", "guandu/yiliu/xinyazhou");
    let (member, code) = rider(&c);
    let staff = json(
        &c,
        &[
            "staff",
            "code",
            "--name",
            "王敏",
            "--url",
            "http://127.0.0.1",
        ],
    );
    assert!(
        staff["link"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1/console#code=")
    );
    let staff = staff["code"].as_str().unwrap().to_owned();
    (c, member, code, staff)
}

fn reports(dir: &Path) -> Vec<Value> {
    json(dir, &["report", "list"]).as_array().unwrap().clone()
}

/// A WebM-looking voice note of `n` bytes.
fn webm(n: usize) -> Vec<u8> {
    let mut b = vec![0x1a, 0x45, 0xdf, 0xa3];
    b.extend((0..n.saturating_sub(4)).map(|i| (i * 7 % 253) as u8));
    b
}

fn report_form(code: &str, voice: Vec<u8>) -> Form {
    let photo = [&[0xff, 0xd8, 0xff, 0xe0][..], &[7; 4000][..]].concat();
    Form::new()
        .text("api_key", code.to_owned())
        .text("service_code", "manhole_cover")
        .text("lat", "24.9712")
        .text("long", "102.7401")
        .text("description", "井盖翘起")
        .part(
            "media",
            Part::bytes(photo)
                .file_name("a.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        )
        .part(
            "voice_note",
            Part::bytes(voice)
                .file_name("voice")
                .mime_str("audio/webm")
                .unwrap(),
        )
}

/// Files a report with a photo and a voice note of `voice_bytes` through
/// Open311 at `root`; its id.
fn filed(http: &Client, root: &str, code: &str, voice_bytes: usize) -> String {
    let res = http
        .post(format!("{root}/open311/v2/requests.json"))
        .multipart(report_form(code, webm(voice_bytes)))
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().unwrap()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Asserts Open311's error: `status`, one `{code, description}` saying
/// `needle`; and that the community holds `held` reports still.
fn refused(res: Response, status: StatusCode, needle: &str, dir: &Path, held: usize) {
    assert_eq!(res.status(), status);
    let body: Value = res.json().unwrap();
    assert_eq!(body[0]["code"], status.as_u16(), "{body}");
    let d = body[0]["description"].as_str().unwrap();
    assert!(d.contains(needle), "{d:?} should say {needle:?}");
    assert_eq!(reports(dir).len(), held, "a refusal changed the store");
}

fn bearer(req: RequestBuilder, code: &str) -> RequestBuilder {
    req.header("authorization", format!("Bearer {code}"))
}

#[test]
fn pages_come_with_their_security_headers_and_the_worker_as_javascript() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("community");
    init(&c, "community", "guandu/yiliu/xinyazhou");
    let (node, root) = serving(&c);
    let http = Client::new();

    for (path, script) in [
        ("/", "/static/rider.js"),
        ("/console", "/static/console.js"),
    ] {
        let res = http.get(format!("{root}{path}")).send().unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let h = res.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(h.get("set-cookie").is_none());
        let body = res.text().unwrap();
        assert!(body.contains(script) && body.contains("lang=\"zh-CN\""));
        let js = http.get(format!("{root}{script}")).send().unwrap();
        assert_eq!(
            js.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
    }
    let sw = http.get(format!("{root}/sw.js")).send().unwrap();
    assert_eq!(sw.status(), StatusCode::OK);
    assert_eq!(
        sw.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(sw.headers().contains_key("content-security-policy"));
    assert!(sw.text().unwrap().contains("caches.open"));
    let css = http.get(format!("{root}/static/style.css")).send().unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    node.stop();
}

#[test]
fn riders_and_staff_each_reach_only_their_endpoints_and_steps_follow_the_cli_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, member, code, staff) = community(tmp.path());
    let (node, root) = serving(&c);
    let http = Client::new();
    let post = format!("{root}/open311/v2/requests.json");

    // A voice note that is not audio is refused; a real one is filed.
    let html = b"<html><script>alert(1)</script>".to_vec();
    let res = http
        .post(&post)
        .multipart(report_form(&code, html))
        .send()
        .unwrap();
    refused(
        res,
        StatusCode::BAD_REQUEST,
        "voice_note is not audio",
        &c,
        0,
    );
    let id = filed(&http, &root, &code, 3000);
    let held = reports(&c);
    assert_eq!(held.len(), 1);
    let voice = held[0]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "voice")
        .expect("a voice note")
        .clone();
    assert_eq!(voice["mime"], "audio/webm");
    let media = http
        .get(format!(
            "{root}/open311/v2/media/{}?api_key={staff}",
            voice["hash"].as_str().unwrap()
        ))
        .send()
        .unwrap();
    assert_eq!(media.headers()["content-type"], "audio/webm");
    assert_eq!(media.bytes().unwrap().len(), 3000);

    // Each code opens only its own side.
    let mine = format!("{root}/api/rider/mine");
    let cases = format!("{root}/api/staff/reports");
    refused(
        http.get(&mine).send().unwrap(),
        StatusCode::FORBIDDEN,
        "access code",
        &c,
        1,
    );
    refused(
        bearer(http.get(&mine), &staff).send().unwrap(),
        StatusCode::FORBIDDEN,
        "staff code",
        &c,
        1,
    );
    refused(
        bearer(http.get(&cases), &code).send().unwrap(),
        StatusCode::FORBIDDEN,
        "rider's access code",
        &c,
        1,
    );
    let list: Value = bearer(http.get(&mine), &code)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "submitted");
    let list: Value = bearer(http.get(&cases), &staff)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list[0]["reporter"], member.as_str());

    // "Me too" from a rider near the case.
    let near: Value = bearer(
        http.get(format!(
            "{root}/api/rider/nearby?service_code=manhole_cover&lat=24.97125&long=102.7401&accuracy=10"
        )),
        &code,
    )
    .send()
    .unwrap()
    .json()
    .unwrap();
    assert_eq!(near[0]["id"], id.as_str());
    let confirmed: Value = bearer(http.post(format!("{root}/api/rider/confirm")), &code)
        .json(&j!({ "id": id, "service_code": "manhole_cover" }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(confirmed["confirmations"], 1);

    // Steps: refused as the command line refuses them, then carried out.
    let step = |verb: &str| format!("{root}/api/staff/reports/{id}/{verb}");
    let res = bearer(http.post(step("close")), &staff)
        .json(&j!({ "reason": "fixed" }))
        .send()
        .unwrap();
    refused(res, StatusCode::BAD_REQUEST, "submitted", &c, 1);
    let res = bearer(http.post(step("dispatch")), &staff)
        .json(&j!({ "to": "物业", "due": "2020-01-01T00:00:00+08:00" }))
        .send()
        .unwrap();
    refused(res, StatusCode::BAD_REQUEST, "in the past", &c, 1);
    let res = bearer(http.post(step("verify")), &staff)
        .header("origin", "https://evil.example")
        .json(&j!({}))
        .send()
        .unwrap();
    refused(res, StatusCode::FORBIDDEN, "cross-site", &c, 1);
    let res = bearer(http.post(step("verify")), &code)
        .json(&j!({}))
        .send()
        .unwrap();
    refused(res, StatusCode::FORBIDDEN, "rider's access code", &c, 1);
    let shown = json(&c, &["report", "show", &id]);
    assert_eq!(
        shown["status"], "submitted",
        "refused steps changed the case"
    );

    let res = bearer(http.post(step("verify")), &staff)
        .json(&j!({ "note": "现场确认" }))
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().unwrap()["status"], "verified");
    let shown = json(&c, &["report", "show", &id]);
    assert_eq!(shown["status"], "verified");
    let last = shown["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["note"], "现场确认（王敏）");

    // Handled with an evidence photo, uploaded from the console.
    let due = (chrono::Utc::now() + chrono::Duration::hours(4)).to_rfc3339();
    let res = bearer(http.post(step("dispatch")), &staff)
        .json(&j!({ "to": "物业", "due": due }))
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let evidence = |bytes: Vec<u8>| {
        Form::new()
            .text("note", "已盖好")
            .part("photo", Part::bytes(bytes).file_name("done.jpg"))
    };
    let res = bearer(http.post(step("handle")), &staff)
        .multipart(evidence(b"GIF89a not a photo we take".to_vec()))
        .send()
        .unwrap();
    refused(res, StatusCode::BAD_REQUEST, "not a JPEG", &c, 1);
    assert_eq!(json(&c, &["report", "show", &id])["status"], "dispatched");
    let png = [&b"\x89PNG\r\n\x1a\n"[..], &[3; 2000][..]].concat();
    let res = bearer(http.post(step("handle")), &staff)
        .multipart(evidence(png))
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let shown = json(&c, &["report", "show", &id]);
    assert_eq!(shown["status"], "handled");
    let last = shown["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["photo"]["mime"], "image/png", "{last}");
    assert_eq!(last["photo"]["size"], 2008);
    node.stop();
}

#[test]
fn the_console_lists_applications_without_personal_data_and_approves_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, _, code, staff) = community(tmp.path());
    let applicant = json(
        &c,
        &[
            "roster",
            "add",
            "--display-name",
            "新骑手",
            "--name",
            "李四",
            "--phone",
            "13800000009",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &c,
        &["task", "post", "--title", "夜间巡查菜市场", "--points", "5"],
    );
    let (node, root) = serving(&c);
    let http = Client::new();

    let apps = format!("{root}/api/staff/applications");
    refused(
        bearer(http.get(&apps), &code).send().unwrap(),
        StatusCode::FORBIDDEN,
        "rider's access code",
        &c,
        0,
    );
    let list = bearer(http.get(&apps), &staff)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        list.contains(&applicant) && list.contains("新骑手"),
        "{list}"
    );
    assert!(
        !list.contains("13800000009") && !list.contains("李四"),
        "personal data on the web: {list}"
    );
    let approve = format!("{apps}/{applicant}/approve");
    let res = bearer(http.post(&approve), &code).send().unwrap();
    refused(res, StatusCode::FORBIDDEN, "rider's access code", &c, 0);
    let res = bearer(http.post(&approve), &staff).send().unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        json(&c, &["roster", "show", &applicant])["status"],
        "active"
    );
    let res = bearer(http.post(&approve), &staff).send().unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "approved twice");
    let list: Value = bearer(http.get(&apps), &staff)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list, j!([]));

    let tasks: Value = bearer(http.get(format!("{root}/api/staff/tasks")), &staff)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(tasks[0]["title"], "夜间巡查菜市场");
    assert_eq!(tasks[0]["status"], "open");
    node.stop();
}

#[test]
fn a_street_console_accepts_and_dispatches_a_case_its_community_escalated() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d) = chain(tmp.path());
    let (_, code) = rider(&c);
    let staff_code = |dir: &Path| {
        json(
            dir,
            &[
                "staff",
                "code",
                "--name",
                "街道李明",
                "--url",
                "http://127.0.0.1",
            ],
        )["code"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (community_staff, street_staff) = (staff_code(&c), staff_code(&s));
    let dn = NodeProc::start(&d, &[]);
    let (sn, street) = serving_with(&s, &[dn.addr()]);
    let (cn, community) = serving_with(&c, &[sn.addr()]);
    let http = Client::new();

    let id = filed(&http, &community, &code, 2000);
    let step = |root: &str, verb: &str| format!("{root}/api/staff/reports/{id}/{verb}");
    let res = bearer(http.post(step(&community, "escalate")), &community_staff)
        .json(&j!({ "note": "需要街道协调" }))
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let case = |root: &str, staff: &str| -> Option<Value> {
        let res = bearer(http.get(format!("{root}/api/staff/reports/{id}")), staff)
            .send()
            .ok()?;
        (res.status() == StatusCode::OK).then(|| res.json().ok())?
    };
    wait_for("the escalated case at the street", 60, || {
        case(&street, &street_staff).is_some_and(|r| r["status"] == "escalated")
    });
    // Verifying is the community's step; the street is refused as the CLI is.
    let res = bearer(http.post(step(&street, "verify")), &street_staff)
        .json(&j!({}))
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(case(&street, &street_staff).unwrap()["status"], "escalated");
    let res = bearer(http.post(step(&street, "accept")), &street_staff)
        .json(&j!({}))
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let due = (chrono::Utc::now() + chrono::Duration::hours(8)).to_rfc3339();
    let res = bearer(http.post(step(&street, "dispatch")), &street_staff)
        .json(&j!({ "to": "街道城管中队", "due": due }))
        .send()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    wait_for("the street's dispatch at the community", 60, || {
        case(&community, &community_staff).is_some_and(|r| r["status"] == "dispatched")
    });
    let shown = json(&c, &["report", "show", &id]);
    assert_eq!(shown["state"]["handler"], "街道城管中队");
    cn.stop();
    sn.stop();
    dn.stop();
}
