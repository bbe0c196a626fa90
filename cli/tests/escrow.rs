//! Offline redemption with escrow at stations (docs/escrow.md), through
//! real processes on loopback: a community grants two station nodes
//! allowances, both stations lose the community and never meet each other,
//! riders redeem at both until the allowances are spent (the office spends
//! the rest of the balance meanwhile), further redemptions are refused at
//! the stations, and after the community comes back every node agrees on
//! balances and escrow, with no balance negative and every granted point
//! accounted for exactly once.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

const PLACE: &str = "guandu/yiliu/xinyazhou";

/// A station node of the community, initialised under `root` and admitted
/// by the street in `street`. Returns its directory and peer id.
fn station(root: &Path, name: &str, street: &Path) -> (PathBuf, String) {
    let dir = root.join(name);
    init(&dir, "station", PLACE);
    admit(street, &dir, "station", PLACE, false);
    let id = peer_id(&dir);
    (dir, id)
}

/// Every member's (balance, escrowed) on the node in `dir`.
fn balances(dir: &Path) -> BTreeMap<String, (i64, i64)> {
    json(dir, &["points", "balance"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["member"].as_str().unwrap().to_owned(),
                (
                    r["balance"].as_i64().unwrap(),
                    r["escrowed"].as_i64().unwrap(),
                ),
            )
        })
        .collect()
}

/// The escrow rows on the node in `dir`.
fn escrow(dir: &Path) -> Vec<Value> {
    json(dir, &["points", "escrow", "show"])["rows"]
        .as_array()
        .unwrap()
        .clone()
}

/// What `station` holds for `member`, as the node in `dir` sees it.
fn held(dir: &Path, station: &str, member: &str) -> i64 {
    escrow(dir)
        .iter()
        .find(|r| r["station"] == station && r["member"] == member)
        .map_or(0, |r| r["held"].as_i64().unwrap())
}

fn redeem(member: &str, points: i64) -> Vec<String> {
    [
        "points",
        "redeem",
        "--member",
        member,
        "--at",
        "新亚洲驿站",
        "--item",
        "热饭",
        "--points",
        &points.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn grant_args(station: &str, member: &str, points: &str) -> Vec<String> {
    [
        "points",
        "escrow",
        "grant",
        "--station",
        station,
        "--member",
        member,
        "--points",
        points,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn connected(dir: &Path) -> usize {
    json(dir, &["peers"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["connected"] == true)
        .count()
}

#[test]
fn stations_redeem_within_escrow_while_cut_off_and_agree_after_heal() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, _d) = chain(tmp.path());
    let (a, sta) = station(tmp.path(), "a", &s);
    let (b, stb) = station(tmp.path(), "b", &s);
    submit_report(&c, "路口井盖松动");
    let r1 = active_rider(&c, "13800000001");
    let r2 = active_rider(&c, "13800000002");
    for (m, p) in [(&r1, "20"), (&r2, "10")] {
        ok(
            &c,
            &[
                "points",
                "award",
                "--member",
                m,
                "--points",
                p,
                "--reason",
                "夜间巡逻",
            ],
        );
    }
    ok(
        &c,
        &[
            "directory",
            "station",
            "add",
            "--name",
            "新亚洲驿站",
            "--lat",
            "24.97",
            "--lon",
            "102.74",
            "--hours",
            "08:00-21:00",
            "--service",
            "meals",
        ],
    );
    // Before the stations' admissions reach the community with the
    // charter, it does not know them as stations and grants nothing.
    let grant = |dir: &Path, station: &str, m: &str, p: &str| {
        yizhan(dir, &args(&grant_args(station, m, p)))
    };
    fails(
        &c,
        &args(&grant_args(&sta, &r1, "8")),
        "is not a station of this community",
    );
    let street = NodeProc::start(&s, &[]);
    let community = NodeProc::start(&c, &[street.addr()]);
    wait_for(
        "the stations' admissions to reach the community",
        60,
        || grant(&c, &sta, &r1, "8").status.success(),
    );
    assert!(grant(&c, &stb, &r1, "6").status.success());
    assert!(grant(&c, &sta, &r2, "5").status.success());
    // r1 has 20 − 8 − 6 = 6 left: the office grants no more than that.
    fails(&c, &args(&grant_args(&stb, &r1, "7")), "would overdraw");
    // Only a station writes its returns, and a station grants nothing.
    fails(
        &c,
        &["points", "escrow", "return", "--member", &r1],
        "run it on the station",
    );
    let port = community.port();
    let station_a = NodeProc::start(&a, &[community.addr()]);
    let station_b = NodeProc::start(&b, &[community.addr()]);
    fails(&a, &args(&grant_args(&sta, &r1, "1")), "community");
    wait_for("the grants to reach both stations", 60, || {
        held(&a, &sta, &r1) == 8 && held(&a, &sta, &r2) == 5 && held(&b, &stb, &r1) == 6
    });

    // A station holds what it redeems with, never its community's reports.
    let held_docs: Vec<String> = json(&a, &["doc", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        held_docs.iter().any(|d| d.contains("/ledger/")),
        "{held_docs:?}"
    );
    assert!(
        !held_docs.iter().any(|d| d.contains("/reports/")),
        "{held_docs:?}"
    );
    // The cut: the community goes down; the stations only ever dialled it.
    community.stop();
    wait_for("both stations to be cut off", 30, || {
        connected(&a) == 0 && connected(&b) == 0
    });
    for (dir, m, p) in [(&a, &r1, 3), (&a, &r1, 5), (&a, &r2, 5), (&b, &r1, 4)] {
        let v = json(dir, &args(&redeem(m, p)));
        assert_eq!(v["written"]["kind"], "redeem", "{v}");
    }
    let refused = fails(&a, &args(&redeem(&r1, 1)), "holds 0 points in escrow");
    assert!(refused.contains(&r1), "{refused}");
    fails(&b, &args(&redeem(&r1, 3)), "holds 2 points in escrow");
    fails(&b, &args(&redeem(&r2, 1)), "holds 0 points in escrow");
    // The same refusal under Chinese names the allowance left.
    let mut zh = vec!["--lang", "zh"];
    let again = redeem(&r1, 3);
    zh.extend(args(&again));
    let out = yizhan(&b, &zh);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("托管 2 积分"),
        "{err}"
    );
    // Meanwhile the office, on its own, spends the rest of r1's balance.
    ok(&c, &args(&redeem(&r1, 6)));

    // Heal: the community comes back where the stations keep dialling it.
    let community = NodeProc::start_on(&c, &format!("/ip4/127.0.0.1/tcp/{port}"), &[street.addr()]);
    let nodes = [&c, &s, &a, &b];
    let expected: BTreeMap<String, (i64, i64)> =
        [(r1.clone(), (0, 2)), (r2.clone(), (5, 0))].into();
    wait_for("every node to agree on balances and escrow", 90, || {
        nodes.iter().all(|n| balances(n) == expected)
            && nodes.iter().all(|n| escrow(n) == escrow(&c))
    });
    // Station b gives back what it still holds, with its node stopped (the
    // command writes to its store); the balance gets it back once b runs.
    station_b.stop();
    let back = json(&b, &["points", "escrow", "return", "--member", &r1]);
    assert_eq!(back["written"]["points"], 2, "{back}");
    let station_b = NodeProc::start(&b, &[community.addr()]);
    let expected: BTreeMap<String, (i64, i64)> =
        [(r1.clone(), (2, 0)), (r2.clone(), (5, 0))].into();
    wait_for("the return to reach every node", 90, || {
        nodes.iter().all(|n| balances(n) == expected)
            && nodes.iter().all(|n| escrow(n) == escrow(&c))
    });
    for n in nodes {
        assert!(
            balances(n)
                .values()
                .all(|(bal, held)| *bal >= 0 && *held >= 0)
        );
    }
    // Every granted point is redeemed, returned or still held, once.
    let rows = escrow(&c);
    let sum = |k: &str| rows.iter().map(|r| r[k].as_i64().unwrap()).sum::<i64>();
    for r in &rows {
        let n = |k: &str| r[k].as_i64().unwrap();
        assert_eq!(
            n("granted"),
            n("redeemed") + n("returned") + n("held"),
            "{r}"
        );
    }
    assert_eq!(
        (
            sum("granted"),
            sum("redeemed"),
            sum("returned"),
            sum("held")
        ),
        (19, 17, 2, 0)
    );
    // A statement shows the moves, with balances that match.
    let st = json(&c, &["points", "statement", &r1]);
    assert_eq!(st["balance"], 2, "{st}");
    assert_eq!(st["escrow"].as_array().unwrap().len(), 6, "{st}");
    // The ledger export replays the same moves, per member.
    let export: Value =
        serde_json::from_str(&ok(&c, &["export", "ledger", "--format", "json"])).unwrap();
    let last = export[0]["escrow"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|l| l["member"] == r1.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (last["kind"].clone(), last["balance"].clone()),
        ("return".into(), 2.into())
    );
    drop((station_a, station_b, community, street));
}
