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

/// Two active riders of the community with 20 and 10 points, and the
/// station they redeem at in its directory.
fn riders_with_points(c: &Path) -> (String, String) {
    let r1 = active_rider(c, "13800000001");
    let r2 = active_rider(c, "13800000002");
    for (m, p) in [(&r1, "20"), (&r2, "10")] {
        ok(
            c,
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
    list_station(c);
    (r1, r2)
}

/// Lists the station riders redeem at in the community's directory.
fn list_station(c: &Path) {
    ok(
        c,
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
    let (r1, r2) = riders_with_points(&c);
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

/// Sets `[escrow] return_on_reconnect = true` in the station's config.
fn return_on_reconnect(dir: &Path) {
    let path = dir.join("config.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[escrow]\nreturn_on_reconnect = true\n");
    std::fs::write(&path, text).unwrap();
}

/// The moves a `return --all --json` on `dir` wrote, as (member, points).
fn returned_all(dir: &Path) -> Vec<(String, i64)> {
    let v = json(dir, &["points", "escrow", "return", "--all"]);
    assert!(v["written"].is_null(), "{v}");
    v["returned"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|m| {
            assert_eq!(m["kind"], "return", "{m}");
            (
                m["member"].as_str().unwrap().to_owned(),
                m["points"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_station_returns_its_unused_escrow_on_reconnecting_and_return_all_empties_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, _d) = chain(tmp.path());
    let (a, sta) = station(tmp.path(), "a", &s);
    let (b, stb) = station(tmp.path(), "b", &s);
    // Only a returns by itself; b keeps what it holds until told.
    return_on_reconnect(&a);
    let shown = json(&a, &["config", "show"]);
    let row = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "escrow.return_on_reconnect")
        .unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(
        (&row["value"], &row["source"]),
        (&true.into(), &"file".into())
    );
    // The setting is a station's: a community refuses to load it.
    return_on_reconnect(&c);
    fails(
        &c,
        &["points", "balance"],
        "return_on_reconnect is for station nodes",
    );
    let text = std::fs::read_to_string(c.join("config.toml")).unwrap();
    let head = text.split("\n[escrow]").next().unwrap().to_owned();
    std::fs::write(c.join("config.toml"), head).unwrap();
    let (r1, r2) = riders_with_points(&c);
    let street = NodeProc::start(&s, &[]);
    let community = NodeProc::start(&c, &[street.addr()]);
    wait_for(
        "the stations' admissions to reach the community",
        60,
        || {
            yizhan(&c, &args(&grant_args(&sta, &r1, "8")))
                .status
                .success()
        },
    );
    ok(&c, &args(&grant_args(&stb, &r1, "6")));
    ok(&c, &args(&grant_args(&sta, &r2, "5")));
    let port = community.port();
    let station_a = NodeProc::start_with(
        &a,
        "/ip4/127.0.0.1/tcp/0",
        &[community.addr()],
        &["--metrics", "127.0.0.1:0"],
    );
    let station_b = NodeProc::start(&b, &[community.addr()]);
    // Grants that reach a station while it is connected stay there: a
    // held nothing when it connected, so nothing came due.
    wait_for("the grants to reach both stations", 60, || {
        held(&a, &sta, &r1) == 8 && held(&a, &sta, &r2) == 5 && held(&b, &stb, &r1) == 6
    });

    community.stop();
    wait_for("both stations to be cut off", 30, || {
        connected(&a) == 0 && connected(&b) == 0
    });
    for (dir, m, p) in [(&a, &r1, 3), (&b, &r1, 4)] {
        let v = json(dir, &args(&redeem(m, p)));
        assert_eq!(v["written"]["kind"], "redeem", "{v}");
    }

    // Heal: a gives back its unused 5 + 5 by itself once the ledgers are in
    // step; b, left at the default, still holds its 2.
    let community = NodeProc::start_on(&c, &format!("/ip4/127.0.0.1/tcp/{port}"), &[street.addr()]);
    let nodes = [&c, &s, &a, &b];
    // r1: 20 − 8 − 6 + 5 returned; r2: 10 − 5 + 5 returned.
    let expected: BTreeMap<String, (i64, i64)> =
        [(r1.clone(), (11, 2)), (r2.clone(), (10, 0))].into();
    wait_for("station a's return to reach every node", 90, || {
        nodes
            .iter()
            .all(|n| held(n, &sta, &r1) == 0 && held(n, &sta, &r2) == 0 && balances(n) == expected)
    });
    let rows = escrow(&c);
    let a_returned: i64 = rows
        .iter()
        .filter(|r| r["station"] == sta.as_str())
        .map(|r| r["returned"].as_i64().unwrap())
        .sum();
    // Exactly what it held unused, in one return per member.
    assert_eq!(a_returned, 10, "{rows:?}");
    assert!(
        station_a
            .logged()
            .contains("returned unused escrow on reconnecting"),
        "{}",
        station_a.logged()
    );
    assert!(held(&b, &stb, &r1) == 2);
    // The operator's dashboard sees the same 10 points come back.
    let at = station_a.logged_address("serving metrics at /metrics");
    let scraped = common::http::get(&at, "/metrics").1;
    assert_eq!(
        common::http::sample(&scraped, "yizhan_escrow_returned_on_reconnect_points_total"),
        Some(10.0),
        "{scraped}"
    );

    // return --all on b, written to its store with its node stopped: one
    // return per member it holds points for, in one command.
    ok(&c, &args(&grant_args(&stb, &r2, "2")));
    wait_for("the grant to reach b", 60, || held(&b, &stb, &r2) == 2);
    station_b.stop();
    let mut back = returned_all(&b);
    back.sort();
    let mut want = vec![(r1.clone(), 2), (r2.clone(), 2)];
    want.sort();
    assert_eq!(back, want);
    // Nothing left: the same command writes nothing and says so.
    assert!(returned_all(&b).is_empty());
    let none = ok(&b, &["points", "escrow", "return", "--all"]);
    assert!(none.contains("holds nothing in escrow"), "{none}");
    // Through the running node, with the table and total in either language.
    let station_b = NodeProc::start(&b, &[community.addr()]);
    ok(&c, &args(&grant_args(&stb, &r1, "1")));
    wait_for("the second grant to reach b", 60, || {
        held(&b, &stb, &r1) == 1
    });
    let out = ok(&b, &["--lang", "zh", "points", "escrow", "return", "--all"]);
    assert!(
        out.contains(&r1) && out.contains("已为 1 位成员退回共 1 积分"),
        "{out}"
    );
    // A return names this station or none; --all takes no member.
    fails(
        &b,
        &["points", "escrow", "return", "--all", "--station", &sta],
        "run it on",
    );
    fails(
        &b,
        &["points", "escrow", "return", "--all", "--member", &r1],
        "cannot be used with",
    );
    fails(
        &c,
        &["points", "escrow", "return", "--all"],
        "run it on the station",
    );

    // r1: 20 − 3 − 4 redeemed at stations; r2 untouched; nothing held.
    let expected: BTreeMap<String, (i64, i64)> =
        [(r1.clone(), (13, 0)), (r2.clone(), (10, 0))].into();
    wait_for("every node to agree that nothing is held", 90, || {
        nodes.iter().all(|n| balances(n) == expected)
            && nodes.iter().all(|n| escrow(n) == escrow(&c))
    });

    // A station returns what it held when it came back, not grants that
    // reach it with the heal: those were written for it to spend. A restart
    // counts as a reconnect.
    ok(&c, &args(&grant_args(&sta, &r2, "3")));
    wait_for("the grant to reach a", 60, || held(&a, &sta, &r2) == 3);
    station_a.stop();
    ok(&c, &args(&grant_args(&sta, &r2, "4")));
    let station_a = NodeProc::start(&a, &[community.addr()]);
    // r2: 10 − 3 − 4 + 3 returned; a keeps the 4 granted while it was away.
    let expected: BTreeMap<String, (i64, i64)> =
        [(r1.clone(), (13, 0)), (r2.clone(), (6, 4))].into();
    wait_for("a's return of what it held to reach every node", 90, || {
        nodes
            .iter()
            .all(|n| held(n, &sta, &r2) == 4 && balances(n) == expected)
    });
    drop((station_a, station_b, community, street));
}
