//! Exports of reports and the ledger, and shell completions.

use super::*;

#[test]
fn exports_write_reports_as_json_csv_and_geojson_and_the_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let a = active_member(&d, "小王");
    let r = s(&submit(&d, "manhole_cover", "24.97", Some(&a))["report"]["id"]);
    submit(&d, "dispute", "24.975", None);
    ok(&d, &["report", "verify", &r]);
    ok(&d, &["points", "award", "--rule", "report", "--report", &r]);

    let geo_path = tmp.path().join("reports.geojson");
    let summary = json(
        &d,
        &[
            "export",
            "reports",
            "--format",
            "geojson",
            "--out",
            geo_path.to_str().unwrap(),
        ],
    );
    assert_eq!(summary["count"], 2);
    let geo: Value = serde_json::from_slice(&std::fs::read(&geo_path).unwrap()).unwrap();
    assert_eq!(geo["type"], "FeatureCollection");
    let features = geo["features"].as_array().unwrap();
    assert_eq!(features.len(), 2);
    let f = features.iter().find(|f| f["id"] == r.as_str()).unwrap();
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["geometry"]["type"], "Point");
    assert_eq!(
        f["geometry"]["coordinates"],
        serde_json::json!([102.74, 24.97])
    );
    assert_eq!(f["properties"]["status"], "verified");
    assert!(f["properties"].get("reporter").is_none());

    let csv = ok(&d, &["export", "reports", "--format", "csv"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(
        rows[0].starts_with("\u{feff}id,place,category,status,lat,lon"),
        "{}",
        rows[0]
    );
    assert!(csv.contains(&r));
    let js: Value =
        serde_json::from_str(&ok(&d, &["export", "reports", "--format", "json"])).unwrap();
    assert_eq!(js.as_array().unwrap().len(), 2);
    let none = ok(
        &d,
        &["export", "reports", "--format", "csv", "--to", "2000-01-01"],
    );
    assert_eq!(none.lines().count(), 1, "header only");

    let ledger = ok(&d, &["export", "ledger", "--format", "csv"]);
    let lines: Vec<&str> = ledger.lines().collect();
    assert_eq!(lines.len(), 2, "{ledger}");
    assert!(lines[0].starts_with("\u{feff}at,entry,place,member,amount,balance,kind"));
    assert!(
        lines[1].contains(&a) && lines[1].contains(",5,5,report,"),
        "{}",
        lines[1]
    );
    let lj: Value =
        serde_json::from_str(&ok(&d, &["export", "ledger", "--format", "json"])).unwrap();
    assert_eq!(lj[0]["entries"][0]["reference"], r.as_str());

    fails(
        &d,
        &["export", "roster", "--format", "geojson"],
        "exports reports only",
    );
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("none");
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&d, &["completions", shell]);
        assert!(script.contains("yizhan"), "{shell}");
        assert!(
            script.contains("roster") && script.contains("sign-off"),
            "{shell}"
        );
    }
    assert!(!d.exists(), "completions touched the data directory");
}
