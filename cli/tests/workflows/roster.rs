//! The roster from application to suspension, and personal data kept home.

use super::*;

#[test]
fn roster_runs_from_application_to_suspension_and_keeps_personal_data_home() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let added = json(
        &d,
        &[
            "roster",
            "add",
            "--display-name",
            "小王",
            "--name",
            "王小明",
            "--phone",
            "+86 138 0000 0000",
            "--id-number",
            "530102199001011234",
            "--kind",
            "courier",
            "--platform",
            "sf",
            "--grid",
            "g01",
            "--role",
            "part_time_grid_worker",
        ],
    );
    let m = s(&added["id"]);
    assert!(m.starts_with("m-"), "{m}");
    assert_eq!(added["status"], "applied");
    assert_eq!(added["private"]["real_name"], "王小明");

    // Certification needs an active member.
    fails(
        &d,
        &[
            "roster",
            "certify",
            &m,
            "--number",
            "GO-1",
            "--issued",
            "2026-01-05",
            "--expires",
            "2027-01-04",
        ],
        "needs an active member",
    );
    assert_eq!(json(&d, &["roster", "approve", &m])["status"], "active");
    let cert = json(
        &d,
        &[
            "roster",
            "certify",
            &m,
            "--number",
            "GO-2026-017",
            "--issued",
            "2026-01-05",
            "--expires",
            "2027-01-04",
        ],
    );
    assert_eq!(cert["certificate"]["number"], "GO-2026-017");
    assert_eq!(cert["certificate"]["expires"], "2027-01-04");
    assert!(
        cert["roles"]
            .as_array()
            .unwrap()
            .contains(&"governance_observer".into())
    );
    assert_eq!(
        json(&d, &["roster", "move", &m, "--grid", "g03"])["grid"],
        "g03"
    );
    let trained = json(
        &d,
        &[
            "roster",
            "train",
            &m,
            "--topic",
            "grid duties",
            "--date",
            "2026-01-06",
            "--hours",
            "2.5",
            "--trainer",
            "street centre",
        ],
    );
    assert_eq!(trained["training"][0]["topic"], "grid duties");
    assert_eq!(trained["training"][0]["hours"], 2.5);
    assert_eq!(json(&d, &["roster", "suspend", &m])["status"], "suspended");
    fails(&d, &["roster", "suspend", &m], "cannot go from suspended");

    // The member's own node shows name and phone; lists and exports never do.
    let shown = json(&d, &["roster", "show", &m]);
    assert_eq!(shown["private"]["phone"], "+86 138 0000 0000");
    let text = ok(&d, &["roster", "show", &m]);
    assert!(text.contains("王小明") && text.contains("g03"), "{text}");
    // The ID number is masked in every display, whole only when asked for.
    assert_eq!(shown["private"]["id_number"], "5301**********1234");
    assert!(
        text.contains("5301**********1234") && !text.contains("530102199001011234"),
        "{text}"
    );
    assert_eq!(added["private"]["id_number"], "5301**********1234");
    let revealed = json(&d, &["roster", "show", &m, "--reveal"]);
    assert_eq!(revealed["private"]["id_number"], "530102199001011234");
    let list = json(&d, &["roster", "list", "--status", "suspended"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("private").is_none());
    for format in ["json", "csv"] {
        let out = ok(&d, &["export", "roster", "--format", format]);
        assert!(out.contains(&m), "{out}");
        assert!(
            !out.contains("王小明") && !out.contains("0000 0000") && !out.contains("530102"),
            "personal data in the {format} export: {out}"
        );
    }

    // The street holds the roster (not roster-private) and shows no personal data.
    let st = street(tmp.path());
    replicate(&d, &st, &format!("{COMMUNITY}/roster"));
    let there = json(&st, &["roster", "show", &m]);
    assert_eq!(there["display_name"], "小王");
    assert_eq!(there["place"], COMMUNITY);
    assert!(there.get("private").is_none(), "{there}");
    assert!(!ok(&st, &["roster", "show", &m]).contains("王小明"));
    fails(&st, &["roster", "show", &m, "--reveal"], "community");
    fails(
        &st,
        &[
            "roster",
            "add",
            "--display-name",
            "x",
            "--name",
            "x",
            "--phone",
            "1",
        ],
        "kept by community nodes",
    );
}
