//! Issue 14, item 4, the last of it: the reasons of a refusal read in the
//! operator's language, not as English inside a Chinese frame (an award,
//! a redemption, a rule of the model or of a revocation, a file the CLI
//! cannot read), and so do the rows of a refused `roster import` and
//! `report import`; under `LANG=C` they are the English of before.

mod common;
mod i18n_env;

use std::path::Path;

use common::{fails, init, json, ok};
use i18n_env::{ZH, community, has_english_words, refused_with, run_with};

#[test]
fn a_refused_award_and_redemption_say_their_reason_in_chinese() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let member = common::active_rider(&d, "13800000009");
    let report = common::submit_report(&d, "井盖翘起");
    let award = ["points", "award", "--rule", "report", "--report", &report];
    let err = refused_with(&d, ZH, &award);
    assert_eq!(
        err,
        format!(
            "错误：未发放积分：报告 {report} 状态为「已上报」，尚未核实；积分只发给已核实的报告\n"
        )
    );
    fails(
        &d,
        &award,
        "has not been verified; points are for verified reports",
    );
    let v: serde_json::Value =
        serde_json::from_slice(&run_with(&d, ZH, &[&["--json"], &award[..]].concat()).stderr)
            .unwrap();
    assert_eq!(v["error"]["code"], "award_not_verified", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("no award: report")
    );

    let redeem = [
        "points",
        "redeem",
        "--member",
        &member,
        "--at",
        "无此驿站",
        "--item",
        "午餐",
        "--points",
        "5",
    ];
    let err = refused_with(&d, ZH, &redeem);
    assert!(
        err.starts_with("错误：未兑换：无此驿站 既不是本社区的驿站"),
        "{err}"
    );
    assert!(
        !has_english_words(
            &err,
            &[
                "yizhan directory station list",
                "yizhan directory merchant list"
            ]
        ),
        "{err}"
    );
    fails(
        &d,
        &redeem,
        "is neither a station nor a merchant of this community",
    );
}

#[test]
fn a_refused_roster_import_names_each_row_in_the_language_in_force() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let file = tmp.path().join("roster.csv");
    let path = file.to_str().unwrap();
    // Found by the node: a phone with letters, and a phone given twice.
    std::fs::write(
        &file,
        "display_name,name,phone\n小张,张伟,13800000001\n小刘,刘洋,138-abc\n小陈,陈静,13800000001\n",
    )
    .unwrap();
    let err = refused_with(&d, ZH, &["roster", "import", path]);
    assert_eq!(
        err,
        "错误：未导入任何内容：2 行有误：第 3 行：电话 138-abc 含有数字、'+'、'-' 和空格以外的字符；\
         第 4 行：该电话也出现在第 2 行\n"
    );
    let err = fails(
        &d,
        &["roster", "import", path],
        "line 4: the phone is also on line 2",
    );
    assert!(
        err.contains("line 3: phone \"138-abc\" holds characters"),
        "{err}"
    );
    // Found by the command: an unknown kind and an empty name.
    std::fs::write(
        &file,
        "display_name,name,phone,kind\n小张,张伟,13800000001,bicycle\n小刘,,13800000002,rider\n",
    )
    .unwrap();
    let err = refused_with(&d, ZH, &["roster", "import", path]);
    assert!(
        err.starts_with("错误：未导入任何内容：第 2 行：未知"),
        "{err}"
    );
    assert!(err.contains("第 3 行："), "{err}");
    assert!(
        !has_english_words(
            &err,
            &["bicycle", "rider", "courier", "driver", "other", "name"]
        ),
        "{err}"
    );
    let err = fails(
        &d,
        &["roster", "import", path],
        "line 2: unknown member kind",
    );
    assert!(err.contains("line 3: name is empty"), "{err}");
    let err = refused_with(&d, ZH, &["--json", "roster", "import", path]);
    let v: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("line 2: unknown member kind"), "{v}");
    assert!(ok(&d, &["--json", "roster", "list"]).trim() == "[]");
}

#[test]
fn a_refused_report_import_names_each_row_in_the_language_in_force() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let file = tmp.path().join("reports.jsonl");
    let path = file.to_str().unwrap();
    // Found by the node: a reporter not on the roster.
    std::fs::write(
        &file,
        "{\"category\":\"traffic\",\"lat\":24.9,\"lon\":102.7}\n\
         {\"category\":\"traffic\",\"lat\":24.9,\"lon\":102.7,\"reporter\":\"m-0badc0de\"}\n",
    )
    .unwrap();
    let err = refused_with(&d, ZH, &["report", "import", path]);
    let first = err.lines().next().unwrap();
    assert_eq!(
        first,
        format!("{path}: 第 2 行：成员 m-0badc0de 不在本社区花名册上")
    );
    let c = &[("LANG", "C")];
    let err = refused_with(&d, c, &["report", "import", path]);
    assert!(err.contains("line 2: member m-0badc0de is not on"), "{err}");
    assert!(err.contains("nothing imported: 1 rows refused"), "{err}");
    // Found by the command: a latitude out of range.
    std::fs::write(
        &file,
        "{\"category\":\"traffic\",\"lat\":95,\"lon\":102.7}\n",
    )
    .unwrap();
    let err = refused_with(&d, ZH, &["report", "import", path]);
    assert!(
        err.starts_with(&format!("{path}: 第 1 行：纬度 95 超出范围")),
        "{err}"
    );
    // With --json the one error object is English, its rows too.
    let json_err = refused_with(&d, ZH, &["--json", "report", "import", path]);
    let v: serde_json::Value = serde_json::from_str(json_err.trim()).unwrap();
    assert_eq!(v["error"]["code"], "report_import_refused", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 1: latitude 95 is out of range"),
        "{v}"
    );
    assert!(!has_english_words(&err, &[path]), "{err}");
    let err = refused_with(&d, c, &["report", "import", path]);
    assert!(err.contains("line 1: latitude 95 is out of range"), "{err}");
    assert_eq!(report_count(&d), 0);
}

fn report_count(d: &Path) -> usize {
    json(d, &["report", "list"]).as_array().map_or(0, Vec::len)
}

#[test]
fn a_rule_of_the_model_reads_in_chinese_with_its_own_code() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let add = [
        "directory",
        "station",
        "add",
        "--name",
        "暖新驿站",
        "--lat",
        "24.9",
        "--lon",
        "102.7",
        "--hours",
        "8点到9点",
    ];
    let err = refused_with(&d, ZH, &add);
    assert_eq!(
        err,
        "错误：营业时间 8点到9点 无法识别：请写成 HH:MM-HH:MM，例如 08:00-21:00\n"
    );
    fails(
        &d,
        &add,
        "opening hours \"8点到9点\": write them as HH:MM-HH:MM",
    );
    let out = run_with(&d, ZH, &[&["--json"], &add[..]].concat());
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "opening_hours", "{v}");

    // A revocation the charter's rules refuse: the root revoking itself.
    let root = tmp.path().join("d");
    init(&root, "district", "guandu");
    let me = common::peer_id(&root);
    let err = refused_with(&root, ZH, &["revoke", &me]);
    assert_eq!(
        err,
        format!("错误：不能撤销 {me}：联盟的根节点永远不能被撤销\n")
    );
    fails(
        &root,
        &["revoke", &me],
        "the federation's root can never be revoked",
    );
}

#[test]
fn a_file_the_cli_cannot_read_has_a_code_and_a_chinese_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let missing = tmp.path().join("missing.csv");
    let path = missing.to_str().unwrap();
    let err = refused_with(&d, ZH, &["roster", "import", path]);
    assert!(
        err.starts_with(&format!("错误：无法读取 {path}：")),
        "{err}"
    );
    fails(
        &d,
        &["roster", "import", path],
        &format!("cannot read {path}: "),
    );
    let out = run_with(&d, ZH, &["--json", "roster", "import", path]);
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "cannot_read", "{v}");
}
