//! The federation scenario as real processes on loopback, set up only with
//! `init`, `admit`, `join` and `node start`: district `guandu`, street
//! `guandu/yiliu`, communities `guandu/yiliu/xinyazhou` and
//! `guandu/yiliu/guanshuo`, plus a node that was never admitted.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;

const C1: &str = "guandu/yiliu/xinyazhou";
const C2: &str = "guandu/yiliu/guanshuo";

/// Every document id in a stopped node's store.
fn docs_in(dir: &Path) -> BTreeSet<String> {
    let store = node::store::Store::open_read_only(&dir.join("store.redb")).unwrap();
    store.document_ids().unwrap().into_iter().collect()
}

fn report_texts(dir: &Path) -> BTreeSet<String> {
    json(dir, &["report", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect()
}

fn submit(dir: &Path, text: &str) {
    ok(
        dir,
        &[
            "report",
            "submit",
            "--category",
            "fire_lane_blocked",
            "--lat",
            "24.96",
            "--lon",
            "102.73",
            "--text",
            text,
        ],
    );
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_federation_shares_by_role_and_place_and_keeps_private_data_home() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("district");
    let s = tmp.path().join("street");
    let c1 = tmp.path().join("xinyazhou");
    let c2 = tmp.path().join("guanshuo");
    let rogue = tmp.path().join("rogue");
    init(&d, "district", "guandu");
    init(&s, "street", "guandu/yiliu");
    init(&c1, "community", C1);
    init(&c2, "community", C2);
    init(&rogue, "community", "guandu/yiliu/rogue");

    // A street or community is inert until it joins.
    assert!(json(&s, &["status"])["membership"].is_null());
    admit(&d, &s, "street", "guandu/yiliu", true);
    admit(&s, &c1, "community", C1, false);
    admit(&s, &c2, "community", C2, false);
    assert_eq!(json(&c1, &["status"])["membership"]["place"], C1);

    // Private data and a roster at each community.
    for (c, name) in [(&c1, "张三"), (&c2, "李四")] {
        ok(
            c,
            &[
                "roster",
                "add",
                "--display-name",
                "rider",
                "--kind",
                "rider",
                "--name",
                name,
                "--phone",
                "13800000000",
            ],
        );
    }

    // The district follows guanshuo only through the street's summary.
    let cfg = std::fs::read_to_string(d.join("config.toml")).unwrap();
    assert!(cfg.contains("summaries = []"), "{cfg}");
    let cfg = cfg.replace("summaries = []", &format!("summaries = [\"{C2}\"]"));
    std::fs::write(d.join("config.toml"), cfg).unwrap();

    let district = NodeProc::start(&d, &[]);
    let comm1 = NodeProc::start(&c1, &[]);
    let comm2 = NodeProc::start(&c2, &[]);
    let street = NodeProc::start(&s, &[district.addr(), comm1.addr(), comm2.addr()]);
    // The rogue knows where the street is; nobody admitted it.
    let rogue_node = NodeProc::start(&rogue, &[street.addr()]);

    submit(&c1, "at xinyazhou");
    submit(&c2, "at guanshuo");
    let both = set(&["at xinyazhou", "at guanshuo"]);
    wait_for("both reports at the street", 60, || {
        report_texts(&s) == both
    });
    wait_for("xinyazhou's report at the district", 60, || {
        report_texts(&d) == set(&["at xinyazhou"])
    });
    // Guanshuo's outcomes reach the district as the street's summary.
    wait_for("both communities counted at the district", 60, || {
        let st = json(&d, &["stats"]);
        st["total"] == 2 && st["by_place"][C2] == 1
    });
    // The rosters reach the street.
    wait_for("both rosters at the street", 60, || {
        let docs: Vec<String> = json(&s, &["doc", "list"])
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        docs.contains(&format!("{C1}/roster")) && docs.contains(&format!("{C2}/roster"))
    });
    // Give stray traffic time to happen if it would.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        report_texts(&c1),
        set(&["at xinyazhou"]),
        "a community holds its sibling's reports"
    );
    assert_eq!(report_texts(&c2), set(&["at guanshuo"]));
    assert!(
        rogue_node.logged().contains("not a member of a federation"),
        "{}",
        rogue_node.logged()
    );

    rogue_node.stop();
    street.stop();
    comm1.stop();
    comm2.stop();
    district.stop();

    let (dd, sd, c1d, c2d, rd) = (
        docs_in(&d),
        docs_in(&s),
        docs_in(&c1),
        docs_in(&c2),
        docs_in(&rogue),
    );
    let private1 = format!("{C1}/roster-private");
    let private2 = format!("{C2}/roster-private");
    assert!(
        c1d.contains(&private1) && c2d.contains(&private2),
        "each community keeps its private roster"
    );
    for (name, docs) in [
        ("district", &dd),
        ("street", &sd),
        ("sibling", &c2d),
        ("rogue", &rd),
    ] {
        assert!(!docs.contains(&private1), "{name} holds {private1}");
    }
    for (name, docs) in [
        ("district", &dd),
        ("street", &sd),
        ("sibling", &c1d),
        ("rogue", &rd),
    ] {
        assert!(!docs.contains(&private2), "{name} holds {private2}");
    }
    assert!(sd.contains(&format!("{C1}/roster")) && sd.contains(&format!("{C2}/roster")));
    assert!(
        !dd.iter().any(|id| id.ends_with("/roster")),
        "the district holds a roster: {dd:?}"
    );
    assert!(
        !c1d.iter().any(|id| id.starts_with(C2)),
        "xinyazhou holds guanshuo's documents: {c1d:?}"
    );
    assert!(
        !c2d.iter().any(|id| id.starts_with(C1)),
        "guanshuo holds xinyazhou's documents: {c2d:?}"
    );
    assert!(
        rd.is_empty(),
        "the node nobody admitted holds federation documents: {rd:?}"
    );
    assert!(
        !dd.iter().any(|id| id.starts_with(&format!("{C2}/reports"))),
        "the district replicates guanshuo's reports though configured for summaries only: {dd:?}"
    );
    assert!(dd.contains("guandu/yiliu/summary"), "{dd:?}");
}
