//! Open311 GeoReport v2 over HTTPS against a running community node, with
//! a certificate `yizhan http self-signed` made and the client trusting it.
//! A rider's access code files a report with a photo; the report is the
//! rider's in `yizhan report list`, reaches the street over libp2p, and
//! reads `open`, then `closed` once the community closes it. A resend with
//! the same Idempotency-Key files nothing new. Missing, revoked, staff and
//! other communities' codes, a bad service code, coordinates out of range,
//! an oversized photo, a malformed body and a cross-site post each get the
//! spec's error and change nothing.

mod common;

use std::path::Path;

use common::*;
use reqwest::StatusCode;
use reqwest::blocking::multipart::{Form, Part};
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::Value;

/// A client that trusts only the node's self-signed certificate.
fn client(cert: &Path) -> Client {
    let pem = std::fs::read(cert).unwrap();
    Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The port the node logged it serves HTTP on.
fn http_port(node: &NodeProc) -> u16 {
    let address = node.logged_address("serving HTTP");
    address.rsplit(':').next().unwrap().parse().unwrap()
}

/// A fresh access code for `member`, from `yizhan roster code`.
fn code(dir: &Path, member: &str) -> String {
    let out = json(
        dir,
        &["roster", "code", member, "--url", "https://localhost:8443"],
    );
    assert!(
        out["link"]
            .as_str()
            .unwrap()
            .starts_with("https://localhost:8443/#code=")
    );
    out["code"].as_str().unwrap().to_owned()
}

fn reports(dir: &Path) -> Vec<Value> {
    json(dir, &["report", "list"]).as_array().unwrap().clone()
}

/// A JPEG-looking photo of `n` bytes.
fn photo(n: usize) -> Vec<u8> {
    let mut b = vec![0xff, 0xd8, 0xff, 0xe0];
    b.extend((0..n.saturating_sub(4)).map(|i| (i * 31 % 251) as u8));
    b
}

/// A request form with the usual fields, with the photo as `media`.
fn form(api_key: Option<&str>, service: &str, lat: &str, bytes: Vec<u8>) -> Form {
    let mut f = Form::new()
        .text("service_code", service.to_owned())
        .text("lat", lat.to_owned())
        .text("long", "102.74")
        .text("description", "井盖翘起，电动车易摔")
        .text("address_string", "新亚洲体育城北门");
    if let Some(k) = api_key {
        f = f.text("api_key", k.to_owned());
    }
    f.part(
        "media",
        Part::bytes(bytes)
            .file_name("hazard.jpg")
            .mime_str("image/jpeg")
            .unwrap(),
    )
}

/// Sends `req`; asserts the spec's error (a list of one `{code,
/// description}` whose code is the HTTP status) and that the community
/// holds as many reports as before.
fn refused(req: RequestBuilder, status: StatusCode, needle: &str, dir: &Path, held: usize) {
    let res = req.send().unwrap();
    assert_eq!(res.status(), status);
    let body: Value = res.json().unwrap();
    let errors = body.as_array().expect("a list of errors");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["code"], status.as_u16(), "{body}");
    let description = errors[0]["description"].as_str().unwrap();
    assert!(
        description.contains(needle),
        "{description:?} should say {needle:?}"
    );
    assert_eq!(
        reports(dir).len(),
        held,
        "a refused request changed the store"
    );
}

#[test]
fn an_open311_client_files_a_photo_report_that_reaches_the_street_and_closes() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d) = chain(tmp.path());
    let other = tmp.path().join("other");
    init(&other, "community", "guandu/yiliu/shuangfeng");
    admit(&s, &other, "community", "guandu/yiliu/shuangfeng", false);

    // Certificates and codes, made before the node runs.
    let certs = tmp.path().join("certs");
    ok(
        &c,
        &[
            "http",
            "self-signed",
            "--host",
            "localhost",
            "--out",
            certs.to_str().unwrap(),
        ],
    );
    let config = c.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[http]\nlisten = \"127.0.0.1:0\"\ncert = {:?}\nkey = {:?}\n",
        certs.join("http-cert.pem").to_str().unwrap(),
        certs.join("http-key.pem").to_str().unwrap()
    ));
    std::fs::write(&config, text).unwrap();
    let member = active_rider(&c, "13800000001");
    let key = code(&c, &member);
    let gone = active_rider(&c, "13800000002");
    let revoked = code(&c, &gone);
    ok(&c, &["roster", "code", &gone, "--revoke"]);
    let applied = json(
        &c,
        &[
            "roster",
            "add",
            "--display-name",
            "新人",
            "--name",
            "李四",
            "--phone",
            "13800000003",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    fails(
        &c,
        &[
            "roster",
            "code",
            &applied,
            "--url",
            "https://localhost:8443",
        ],
        "not active",
    );
    let staff = json(
        &c,
        &[
            "staff",
            "code",
            "--name",
            "王敏 网格长",
            "--url",
            "https://localhost:8443",
        ],
    )["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let stranger = code(&other, &active_rider(&other, "13900000001"));

    let dn = NodeProc::start(&d, &[]);
    // The street serves plain HTTP on loopback, turned on by the flag.
    let street_config = s.join("config.toml");
    let mut text = std::fs::read_to_string(&street_config).unwrap();
    text.push_str("\n[http]\nplain = true\n");
    std::fs::write(&street_config, text).unwrap();
    let sn = NodeProc::start_with(
        &s,
        "/ip4/127.0.0.1/tcp/0",
        &[dn.addr()],
        &["--http", "127.0.0.1:0"],
    );
    let street = format!("http://127.0.0.1:{}/open311/v2", http_port(&sn));
    let cn = NodeProc::start(&c, &[sn.addr()]);
    let base = format!("https://localhost:{}/open311/v2", http_port(&cn));
    let http = client(&certs.join("http-cert.pem"));

    let services: Value = http
        .get(format!("{base}/services.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let services = services.as_array().unwrap();
    assert_eq!(services.len(), 12);
    let manhole = services
        .iter()
        .find(|s| s["service_code"] == "manhole_cover")
        .unwrap();
    assert_eq!(manhole["service_name"], "井盖问题");
    let definition: Value = http
        .get(format!("{base}/services/manhole_cover.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(definition["attributes"], serde_json::json!([]));

    // The rider's phone submits, loses the answer, and sends again.
    let picture = photo(200_000);
    let submit = || {
        http.post(format!("{base}/requests.json"))
            .header("Idempotency-Key", "phone-queue-1")
            .multipart(form(Some(&key), "manhole_cover", "24.97", picture.clone()))
            .send()
            .unwrap()
    };
    let first = submit();
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().unwrap();
    let id = first[0]["service_request_id"].as_str().unwrap().to_owned();
    let again: Value = submit().json().unwrap();
    assert_eq!(again[0]["service_request_id"], id.as_str());
    let held = reports(&c);
    assert_eq!(held.len(), 1, "the resend filed a second report");
    assert_eq!(held[0]["id"], id.as_str());
    assert_eq!(held[0]["reporter"], member.as_str());
    assert_eq!(held[0]["address"], "新亚洲体育城北门");
    let attachments = held[0]["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0]["size"], picture.len() as u64);
    let hash = attachments[0]["hash"].as_str().unwrap().to_owned();

    wait_for("the report at the street", 60, || {
        reports(&s).iter().any(|r| r["id"] == id.as_str())
    });
    let got = tmp.path().join("from-street.jpg");
    wait_for("the photo at the street", 60, || {
        yizhan(&s, &["blob", "get", &hash, "--out", got.to_str().unwrap()])
            .status
            .success()
    });
    assert_eq!(std::fs::read(&got).unwrap(), picture);

    let one = |id: &str| -> Value {
        http.get(format!("{base}/requests/{id}.json"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let open = one(&id);
    assert_eq!(open[0]["status"], "open");
    assert_eq!(open[0]["service_code"], "manhole_cover");
    assert_eq!(open[0]["agency_responsible"], "guandu/yiliu/xinyazhou");
    assert_eq!(open[0]["jurisdiction_id"], "guandu/yiliu/xinyazhou");
    assert!(open[0].get("reporter").is_none());
    let media = open[0]["media_url"].as_str().unwrap().to_owned();
    assert!(media.ends_with(&hash), "{media}");
    let photo_back = http.get(format!("{media}?api_key={key}")).send().unwrap();
    assert_eq!(photo_back.status(), StatusCode::OK);
    assert_eq!(photo_back.bytes().unwrap().as_ref(), picture.as_slice());
    // The photo's file damaged on disk: refused with a clear error, not
    // served, and served again once it is whole.
    let file = c.join("blobs").join(&hash);
    let mut flipped = picture.clone();
    flipped[123_456] ^= 0x04;
    std::fs::write(&file, &flipped).unwrap();
    let damaged = http.get(format!("{media}?api_key={key}")).send().unwrap();
    assert_eq!(damaged.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = damaged.text().unwrap();
    assert!(
        body.contains("damaged") && !body.contains("panicked"),
        "{body}"
    );
    std::fs::write(&file, &picture).unwrap();
    let whole = http.get(format!("{media}?api_key={key}")).send().unwrap();
    assert_eq!(whole.bytes().unwrap().as_ref(), picture.as_slice());

    // Refusals: each gets the spec's error and files nothing.
    let post = || http.post(format!("{base}/requests.json"));
    let small = photo(1_000);
    refused(
        post().multipart(form(None, "manhole_cover", "24.97", small.clone())),
        StatusCode::FORBIDDEN,
        "api_key is missing",
        &c,
        1,
    );
    for (code, who) in [(&revoked, "revoked"), (&stranger, "another community's")] {
        let res = post()
            .multipart(form(Some(code), "manhole_cover", "24.97", small.clone()))
            .send()
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who} code");
    }
    refused(
        post().multipart(form(Some(&staff), "manhole_cover", "24.97", small.clone())),
        StatusCode::FORBIDDEN,
        "staff codes do not file reports",
        &c,
        1,
    );
    refused(
        post().multipart(form(Some(&key), "pothole", "24.97", small.clone())),
        StatusCode::BAD_REQUEST,
        "pothole",
        &c,
        1,
    );
    refused(
        post().multipart(form(Some(&key), "manhole_cover", "91.5", small.clone())),
        StatusCode::BAD_REQUEST,
        "out of range",
        &c,
        1,
    );
    refused(
        post().multipart(form(Some(&key), "manhole_cover", "24.97", photo(11 << 20))),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too large",
        &c,
        1,
    );
    refused(
        post()
            .header("Content-Type", "multipart/form-data; boundary=zz")
            .body(format!(
                "--zz\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\n{key}"
            )),
        StatusCode::BAD_REQUEST,
        "malformed",
        &c,
        1,
    );
    refused(
        post()
            .header("Origin", "https://elsewhere.example")
            .multipart(form(Some(&key), "manhole_cover", "24.97", small.clone())),
        StatusCode::FORBIDDEN,
        "cross-site",
        &c,
        1,
    );
    refused(
        http.get(format!("{base}/requests/202611-00000000.json")),
        StatusCode::NOT_FOUND,
        "not a request",
        &c,
        1,
    );

    // The list with the spec's filters.
    let list = |query: &str| -> Vec<Value> {
        http.get(format!("{base}/requests.json?{query}"))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    assert_eq!(list("status=open").len(), 1);
    assert_eq!(list("status=closed").len(), 0);
    assert_eq!(list("service_code=traffic").len(), 0);
    assert_eq!(list(&format!("service_request_id={id}")).len(), 1);
    assert_eq!(
        list("start_date=2000-01-01T00:00:00Z&end_date=2000-02-01T00:00:00Z").len(),
        0
    );

    ok(
        &c,
        &[
            "report",
            "close",
            &id,
            "--reason",
            "no_further_action",
            "--note",
            "已加固",
        ],
    );
    let closed = one(&id);
    assert_eq!(closed[0]["status"], "closed");
    let notes = closed[0]["status_notes"].as_str().unwrap();
    assert!(
        notes.contains("close") && notes.contains("已加固"),
        "{notes}"
    );
    assert_eq!(list("status=closed").len(), 1);
    let at_street = |id: &str| -> Value {
        reqwest::blocking::get(format!("{street}/requests/{id}.json"))
            .unwrap()
            .json()
            .unwrap()
    };
    wait_for("the closing at the street", 60, || {
        at_street(&id)[0]["status"] == "closed"
    });
    assert_eq!(
        at_street(&id)[0]["jurisdiction_id"],
        "guandu/yiliu/xinyazhou"
    );

    // A lost person's whereabouts are listed to code holders only.
    // Its photo is the one already uploaded, named by its media_url.
    let lost: Value = post()
        .form(&[
            ("api_key", key.as_str()),
            ("service_code", "lost_person"),
            ("lat", "24.98"),
            ("long", "102.75"),
            ("description", "老人在桥头徘徊"),
            ("media_url", media.as_str()),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let lost = lost[0]["service_request_id"].as_str().unwrap().to_owned();
    let held = reports(&c);
    let again = held.iter().find(|r| r["id"] == lost.as_str()).unwrap();
    assert_eq!(again["attachments"][0]["hash"], hash.as_str());
    assert_eq!(list("").len(), 1, "listed without a code");
    assert_eq!(list(&format!("api_key={key}")).len(), 2);
    refused(
        http.get(format!("{base}/requests/{lost}.json")),
        StatusCode::FORBIDDEN,
        "access code",
        &c,
        2,
    );
    let shown: Value = http
        .get(format!("{base}/requests/{lost}.json?api_key={key}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(shown[0]["service_code"], "lost_person");

    cn.stop();
    sn.stop();
    dn.stop();
}

#[test]
fn the_server_starts_only_with_a_certificate_or_plain_http_said_outright() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, d) = chain(tmp.path());
    fails(
        &c,
        &["node", "start", "--no-mdns", "--http", "127.0.0.1:0"],
        "needs [http] cert and key",
    );
    ok(&c, &["http", "self-signed"]);
    fails(&c, &["http", "self-signed"], "--force");
    let config = c.join("config.toml");
    let head = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{head}\n[http]\ncert = \"http-cert.pem\"\n"),
    )
    .unwrap();
    fails(&c, &["status"], "cert and key go together");
    std::fs::write(
        &config,
        format!("{head}\n[http]\ncert = \"http-cert.pem\"\nkey = \"missing.pem\"\n"),
    )
    .unwrap();
    fails(
        &c,
        &["node", "start", "--no-mdns", "--http", "127.0.0.1:0"],
        "missing.pem",
    );
    std::fs::write(
        &config,
        format!("{head}\n[http]\nlisten = \"127.0.0.1:0\"\nplain = true\n"),
    )
    .unwrap();
    let node = NodeProc::start(&c, &[]);
    let port = http_port(&node);
    let services: serde_json::Value =
        reqwest::blocking::get(format!("http://127.0.0.1:{port}/open311/v2/services.json"))
            .unwrap()
            .json()
            .unwrap();
    assert_eq!(services.as_array().unwrap().len(), 12);
    node.stop();

    // A rider's code on the terminal and as a PNG.
    let member = active_rider(&c, "13800000005");
    let png = tmp.path().join("card.png");
    let printed = ok(
        &c,
        &[
            "roster",
            "code",
            &member,
            "--url",
            "https://yizhan.example.cn:8443",
            "--png",
            png.to_str().unwrap(),
        ],
    );
    assert!(printed.contains("sign-in link: https://yizhan.example.cn:8443/#code="));
    assert!(
        printed.contains('█') || printed.contains('▀'),
        "no QR code printed"
    );
    assert!(
        std::fs::read(&png)
            .unwrap()
            .starts_with(b"\x89PNG\r\n\x1a\n")
    );
    fails(&c, &["roster", "code", &member], "--url");

    // Staff codes on community and street nodes; never on the district.
    let url = ["--url", "https://localhost:8443"];
    for dir in [&c, &s] {
        let args = [&["staff", "code", "--name", "王敏"][..], &url[..]].concat();
        assert_eq!(json(dir, &args)["holder"]["name"], "王敏");
    }
    let args = [&["staff", "code", "--name", "王敏"][..], &url[..]].concat();
    fails(&d, &args, "district");
    fails(
        &c,
        &["staff", "code", "--name", "nobody", "--revoke"],
        "no access code",
    );
    ok(&c, &["staff", "code", "--name", "王敏", "--revoke"]);
    fails(
        &s,
        &["roster", "code", "m-00000000", "--url", "https://x"],
        "community",
    );
}
