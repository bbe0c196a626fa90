//! Process-level partition and heal: real `yizhan` processes on loopback,
//! the street's link to the district running through a fault-injecting TCP
//! proxy. The proxy is cut, both sides write, the proxy heals, and the
//! federation converges.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::*;
use serde_json::Value;

/// A TCP forwarder that can cut every connection and refuse new ones.
struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl Proxy {
    fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (c, o) = (cut.clone(), open.clone());
        thread::spawn(move || {
            for incoming in listener.incoming() {
                let Ok(client) = incoming else { continue };
                if c.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let mut open = o.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                thread::spawn(move || pump(client, server));
                thread::spawn(move || pump(s2, c2));
            }
        });
        Proxy { addr, cut, open }
    }

    /// Cuts every forwarded connection and refuses new ones until healed.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

fn texts(dir: &std::path::Path) -> Vec<String> {
    let mut t: Vec<String> = json(dir, &["report", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

fn charter_heads(dir: &std::path::Path) -> Option<Value> {
    json(dir, &["doc", "list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "guandu/charter")
        .map(|d| d["heads"].clone())
}

#[test]
fn a_partitioned_district_converges_after_the_heal() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, s, c) = (
        tmp.path().join("d"),
        tmp.path().join("s"),
        tmp.path().join("c"),
    );
    let newcomer = tmp.path().join("n");
    init(&d, "district", "guandu");
    init(&s, "street", "guandu/yiliu");
    init(&c, "community", "guandu/yiliu/xinyazhou");
    init(&newcomer, "street", "guandu/dongfeng");
    admit(&d, &s, "street", "guandu/yiliu", true);
    admit(&s, &c, "community", "guandu/yiliu/xinyazhou", false);
    // The street and the district must meet only through the proxy: neither
    // may dial the other at the address it announces.
    for dir in [&d, &s] {
        let config = dir.join("config.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(text.contains("learn_addresses = true"), "{text}");
        std::fs::write(
            &config,
            text.replace("learn_addresses = true", "learn_addresses = false"),
        )
        .unwrap();
    }

    let district = NodeProc::start(&d, &[]);
    let community = NodeProc::start(&c, &[]);
    // The street reaches the district only through the proxy.
    let district_addr = district.addr();
    let (tcp, p2p) = district_addr.split_once("/p2p/").unwrap();
    let port: u16 = tcp.rsplit('/').next().unwrap().parse().unwrap();
    let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], port)));
    let via_proxy = format!("/ip4/127.0.0.1/tcp/{}/p2p/{p2p}", proxy.addr.port());
    let street = NodeProc::start(&s, &[via_proxy, community.addr()]);

    submit_report(&c, "before the cut");
    wait_for("the first report at the district", 60, || {
        texts(&d) == ["before the cut"]
    });

    // Cut the district off from the street.
    proxy.cut();
    let district_id = p2p.to_owned();
    wait_for("the street to notice the cut", 60, || {
        !street.status()["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == district_id.as_str())
    });

    // Both sides keep working: reports at the community, an admission at the district.
    submit_report(&c, "during the cut 1");
    submit_report(&c, "during the cut 2");
    wait_for("the street to hold the new reports", 60, || {
        texts(&s).len() == 3
    });
    let token = admit_token(&d, &peer_id(&newcomer), "street", "guandu/dongfeng", false);
    assert!(token.starts_with("yz1."));
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        texts(&d),
        ["before the cut"],
        "a report crossed the partition"
    );
    assert_ne!(
        charter_heads(&s),
        charter_heads(&d),
        "the charter crossed the partition"
    );

    // Heal: everything converges.
    proxy.heal();
    wait_for(
        "the reports written during the cut at the district",
        90,
        || texts(&d).len() == 3,
    );
    wait_for(
        "the district's charter at the street and the community",
        90,
        || {
            let heads = charter_heads(&d);
            charter_heads(&s) == heads && charter_heads(&c) == heads
        },
    );
    assert_eq!(texts(&d), texts(&c));

    street.stop();
    community.stop();
    district.stop();
}
