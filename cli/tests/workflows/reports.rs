//! Reports through community and street: lifecycle, "me too", overdue cases.

use super::*;

#[test]
fn report_lifecycle_runs_through_community_and_street() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let st = street(tmp.path());
    let r = s(&submit(&d, "manhole_cover", "24.97", None)["report"]["id"]);

    fails(
        &d,
        &["report", "handle", &r],
        "cannot handle a case that is submitted",
    );
    assert_eq!(json(&d, &["report", "verify", &r])["status"], "verified");
    let due = (Utc::now() + chrono::Duration::hours(6)).to_rfc3339();
    let dispatched = json(
        &d,
        &[
            "report",
            "dispatch",
            &r,
            "--to",
            "municipal team",
            "--due",
            &due,
        ],
    );
    assert_eq!(dispatched["status"], "dispatched");
    assert_eq!(dispatched["state"]["handler"], "municipal team");
    let photo = tmp.path().join("fixed.jpg");
    std::fs::write(&photo, [0xd8u8; 300]).unwrap();
    let handled = json(
        &d,
        &[
            "report",
            "handle",
            &r,
            "--photo",
            photo.to_str().unwrap(),
            "--note",
            "cover reseated",
        ],
    );
    assert_eq!(handled["status"], "handled");
    let ev = handled["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(ev["photo"]["size"], 300);
    assert_eq!(ev["note"], "cover reseated");
    let closed = json(&d, &["report", "close", &r, "--reason", "fixed"]);
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["state"]["closed_on_time"], true);
    assert_eq!(json(&d, &["report", "reopen", &r])["status"], "reopened");

    // Escalated to the street, which accepts, dispatches and handles it.
    let esc = json(
        &d,
        &["report", "escalate", &r, "--note", "needs the street"],
    );
    assert_eq!(esc["status"], "escalated");
    assert_eq!(esc["state"]["level"], "street");
    fails(&d, &["report", "accept", &r], "the street's step");
    fails(
        &d,
        &["report", "dispatch", &r, "--to", "x", "--due", &due],
        "cannot dispatch a case that is escalated",
    );
    replicate(&d, &st, &report_doc(&r));
    fails(&st, &["report", "verify", &r], "the community's step");
    fails(
        &st,
        &["report", "handle", &r],
        "cannot handle a case that is escalated",
    );
    assert_eq!(json(&st, &["report", "accept", &r])["status"], "accepted");
    let d2 = json(
        &st,
        &[
            "report",
            "dispatch",
            &r,
            "--to",
            "street works",
            "--due",
            "2099-01-01 09:00",
        ],
    );
    assert_eq!(d2["status"], "dispatched");
    assert_eq!(json(&st, &["report", "handle", &r])["status"], "handled");
    fails(
        &st,
        &["report", "close", &r, "--reason", "fixed"],
        "the community's step",
    );
    let by_street = json(&st, &["report", "show", &r]);
    assert!(
        by_street["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["by_level"] == "street" && e["kind"] == "accept")
    );

    // Back at the community, which closes the case.
    replicate(&st, &d, &report_doc(&r));
    assert_eq!(json(&d, &["report", "show", &r])["status"], "handled");
    assert_eq!(
        json(&d, &["report", "close", &r, "--reason", "fixed"])["status"],
        "closed"
    );

    // Voiding and closing for other reasons, with typed reasons.
    let v = s(&submit(&d, "sanitation", "24.90", None)["report"]["id"]);
    let voided = json(&d, &["report", "void", &v, "--reason", "duplicate"]);
    assert_eq!(voided["status"], "voided");
    assert_eq!(voided["state"]["void_reason"], "duplicate");
    fails(
        &d,
        &["report", "verify", &v],
        "cannot verify a case that is voided",
    );
    assert_eq!(json(&d, &["report", "reopen", &v])["status"], "reopened");
    let c = json(&d, &["report", "close", &v, "--reason", "not_responsible"]);
    assert_eq!(c["state"]["close_reason"], "not_responsible");
    fails(
        &d,
        &["report", "void", &v, "--reason", "lazy"],
        "unknown void reason \"lazy\"",
    );

    let shown = ok(&d, &["report", "show", &r]);
    assert!(
        shown.contains("accept") && shown.contains("street"),
        "{shown}"
    );
}

#[test]
fn me_too_confirms_an_open_case_instead_of_a_second_report() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let rider = active_member(&d, "小李");
    let first = s(&submit(&d, "manhole_cover", "24.9700", None)["report"]["id"]);
    // 22 m away, same category: suggested.
    let near = submit(&d, "manhole_cover", "24.9702", None);
    assert_eq!(near["nearby"][0][0], first.as_str());
    let second = s(&near["report"]["id"]);
    assert_eq!(json(&d, &["report", "list"]).as_array().unwrap().len(), 2);

    let conf = json(
        &d,
        &[
            "report",
            "submit",
            "--me-too",
            &first,
            "--reporter",
            &rider,
            "--text",
            "still open",
        ],
    );
    assert_eq!(conf["id"], first.as_str());
    assert_eq!(conf["state"]["confirmations"], 1);
    let ev = conf["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(ev["kind"], "confirm");
    assert_eq!(ev["member"], rider.as_str());
    assert_eq!(
        json(&d, &["report", "list"]).as_array().unwrap().len(),
        2,
        "a confirmation is not a new report"
    );

    fails(
        &d,
        &[
            "report",
            "submit",
            "--me-too",
            &first,
            "--category",
            "sanitation",
        ],
        "is a manhole_cover case",
    );
    fails(
        &d,
        &[
            "report",
            "submit",
            "--me-too",
            &first,
            "--reporter",
            "m-nobody",
        ],
        "m-nobody",
    );
    ok(&d, &["report", "close", &second, "--reason", "duplicate"]);
    fails(
        &d,
        &["report", "submit", "--me-too", &second],
        "cannot confirm a case that is closed",
    );
    // A closed case is no longer suggested.
    let third = submit(&d, "manhole_cover", "24.9701", None);
    let nearby: Vec<String> = third["nearby"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(&n[0]))
        .collect();
    assert_eq!(nearby, vec![first]);
}

#[test]
fn overdue_cases_are_listed_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let r = s(&submit(&d, "electrical_fire", "24.97", None)["report"]["id"]);
    submit(&d, "sanitation", "24.98", None);
    ok(&d, &["report", "verify", &r]);
    let due = (Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    ok(
        &d,
        &[
            "report",
            "dispatch",
            &r,
            "--to",
            "power company",
            "--due",
            &due,
        ],
    );
    assert!(
        json(&d, &["report", "list", "--overdue"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The due time is a second away: poll until it has passed.
    common::wait_for("the case to pass its due time", 10, || {
        !json(&d, &["report", "list", "--overdue"])
            .as_array()
            .unwrap()
            .is_empty()
    });
    let overdue = json(&d, &["report", "list", "--overdue"]);
    let ids: Vec<String> = overdue
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(&r["id"]))
        .collect();
    assert_eq!(ids, vec![r.clone()]);
    assert!(ok(&d, &["report", "list", "--overdue"]).contains("OVERDUE"));
    assert_eq!(json(&d, &["stats"])["overdue"], 1);
}
