//! Points awarded by rule, redeemed, corrected, stated and carried into a new year.

use super::*;

#[test]
fn points_are_awarded_by_rule_redeemed_corrected_and_stated() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let a = active_member(&d, "小王");
    let b = active_member(&d, "小李");
    let r = s(&submit(&d, "fire_lane_blocked", "24.97", Some(&a))["report"]["id"]);

    fails(
        &d,
        &["points", "award", "--rule", "report", "--report", &r],
        "has not been verified",
    );
    ok(&d, &["report", "verify", &r]);
    fails(
        &d,
        &[
            "points", "award", "--rule", "report", "--report", &r, "--member", &b,
        ],
        "only the reporter",
    );
    let award = json(&d, &["points", "award", "--rule", "report", "--report", &r]);
    assert_eq!(award["entries"][0]["member"], a.as_str());
    assert_eq!(award["entries"][0]["amount"], 5);
    assert_eq!(award["entries"][0]["kind"], "report");
    fails(
        &d,
        &["points", "award", "--rule", "report", "--report", &r],
        "already awarded",
    );
    // A bulk patrol award and a discretionary one.
    let patrol = json(
        &d,
        &[
            "points",
            "award",
            "--rule",
            "patrol",
            "--member",
            &a,
            "--member",
            &b,
            "--reason",
            "night market",
        ],
    );
    assert_eq!(patrol["entries"].as_array().unwrap().len(), 2);
    ok(
        &d,
        &[
            "points",
            "award",
            "--member",
            &b,
            "--points",
            "20",
            "--reason",
            "found a lost elderly man",
        ],
    );
    fails(
        &d,
        &["points", "award", "--member", &b, "--points", "20"],
        "needs --reason",
    );

    // Redemption at a merchant's listed price and at a station.
    let shop = json(
        &d,
        &[
            "directory",
            "merchant",
            "add",
            "--name",
            "老张面馆",
            "--reward",
            "lunch=8",
            "--reward",
            "drink=3",
        ],
    );
    let station = json(
        &d,
        &[
            "directory",
            "station",
            "add",
            "--name",
            "暖新驿站",
            "--lat",
            "24.971",
            "--lon",
            "102.741",
            "--hours",
            "08:00-21:00",
            "--service",
            "water",
        ],
    );
    let red = json(
        &d,
        &[
            "points",
            "redeem",
            "--member",
            &a,
            "--at",
            "老张面馆",
            "--item",
            "lunch",
        ],
    );
    assert_eq!(red["entries"][0]["amount"], -8);
    assert_eq!(red["entries"][0]["redeemed_at"], shop["id"]);
    assert_eq!(red["balances"][0]["balance"], 0, "5 + 3 - 8");
    fails(
        &d,
        &[
            "points",
            "redeem",
            "--member",
            &a,
            "--at",
            "老张面馆",
            "--item",
            "drink",
        ],
        "would overdraw",
    );
    fails(
        &d,
        &[
            "points",
            "redeem",
            "--member",
            &b,
            "--at",
            "老张面馆",
            "--item",
            "beer",
        ],
        "does not offer \"beer\"",
    );
    let st = s(&station["id"]);
    fails(
        &d,
        &[
            "points", "redeem", "--member", &b, "--at", &st, "--item", "water",
        ],
        "--points",
    );
    ok(
        &d,
        &[
            "points", "redeem", "--member", &b, "--at", &st, "--item", "water", "--points", "1",
        ],
    );
    // A correction is a new entry; the corrected one stays.
    let first = patrol["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["member"] == b.as_str())
        .map(|e| s(&e["id"]))
        .unwrap();
    let fix = json(
        &d,
        &[
            "points",
            "correct",
            "--member",
            &b,
            "--points",
            "-2",
            "--reason",
            "patrol counted twice",
            "--entry",
            &first,
        ],
    );
    assert_eq!(fix["entries"][0]["kind"], "correction");
    let stmt = json(&d, &["points", "statement", &b]);
    let lines = stmt["entries"].as_array().unwrap();
    let kinds: Vec<String> = lines.iter().map(|l| s(&l["kind"])).collect();
    assert_eq!(kinds, ["patrol", "award", "redeem", "correction"]);
    let balances: Vec<i64> = lines
        .iter()
        .map(|l| l["balance"].as_i64().unwrap())
        .collect();
    assert_eq!(balances, [3, 23, 22, 20]);
    assert_eq!(stmt["balance"], 20);
    assert_eq!(lines[1]["reason"], "found a lost elderly man");
    assert_eq!(lines[2]["item"], "water");
    assert_eq!(lines[3]["reference"], first.as_str());
    let text = ok(&d, &["points", "statement", &b]);
    assert!(
        text.contains("patrol counted twice") && text.contains("water at"),
        "{text}"
    );
    let all = json(&d, &["points", "balance"]);
    assert_eq!(all.as_array().unwrap().len(), 2);
    fails(
        &d,
        &[
            "points", "correct", "--member", &a, "--points", "-1", "--reason", "x",
        ],
        "would overdraw",
    );
}

#[test]
fn a_new_year_opens_with_the_balances_carried_forward() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let a = active_member(&d, "小王");
    // Last year's ledger, as an earlier version of this node would have left it.
    let last = Utc::now().year() - 1;
    {
        use crdt_model::ledger::{self, Entry, EntryKind};
        let roster = Store::open_read_only(&d.join("store.redb"))
            .unwrap()
            .load_document(&format!("{COMMUNITY}/roster"))
            .unwrap()
            .unwrap();
        let member_id = crdt_model::MemberId::parse(&a).unwrap();
        let member = crdt_model::roster::require(&roster, &member_id).unwrap();
        let mut doc = automerge::AutoCommit::new();
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, last, 6, 1, 8, 0, 0).unwrap();
        let entry = Entry {
            id: "e-lastyear".parse().unwrap(),
            member: member_id,
            amount: 42,
            kind: EntryKind::Patrol,
            at,
            by: "earlier".into(),
            reason: None,
            reference: None,
            redeemed_at: None,
            item: None,
        };
        ledger::credit(&mut doc, &member, &entry).unwrap();
        let store = Store::open(&d.join("store.redb")).unwrap();
        let mut batch = store.batch().unwrap();
        let id = format!("{COMMUNITY}/ledger/{last}");
        batch
            .put_snapshot(&id, &doc.save(), &doc.get_heads())
            .unwrap();
        batch.commit().unwrap();
    }
    // Before any entry this year, the balance is what carries forward.
    assert_eq!(json(&d, &["points", "balance", &a])[0]["balance"], 42);
    assert_eq!(json(&d, &["points", "statement", &a])["carried"], 42);
    ok(&d, &["points", "award", "--rule", "patrol", "--member", &a]);
    let stmt = json(&d, &["points", "statement", &a]);
    let kinds: Vec<String> = stmt["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| s(&l["kind"]))
        .collect();
    assert_eq!(kinds, ["opening", "patrol"]);
    assert_eq!(stmt["balance"], 45);
    assert_eq!(stmt["carried"], 0);
    let old = json(
        &d,
        &["points", "statement", &a, "--year", &last.to_string()],
    );
    assert_eq!(old["balance"], 42);
}
