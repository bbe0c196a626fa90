//! Issue 14, items 4 and 5: the CLI speaks Chinese under a Chinese locale
//! and English otherwise, its tables fit the terminal's width in display
//! columns, user text never reaches the terminal raw, and `--json` errors
//! are JSON objects with a stable code.

mod common;
mod i18n_env;

use std::path::Path;
use std::process::Command;

use common::{english, fails, json, ok, submit_category as submit};
use i18n_env::{ZH, community, refused_with, run_with};
use unicode_width::UnicodeWidthStr as _;

/// stdout of a command that must succeed.
fn out_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = run_with(dir, env, args);
    assert!(
        out.status.success(),
        "yizhan {args:?} with {env:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const ZH_80: &[(&str, &str)] = &[("LANG", "zh_CN.UTF-8"), ("COLUMNS", "80")];
const C_80: &[(&str, &str)] = &[("LANG", "C"), ("COLUMNS", "80")];
const ZH_120: &[(&str, &str)] = &[("LANG", "zh_CN.UTF-8"), ("COLUMNS", "120")];
const C_120: &[(&str, &str)] = &[("LANG", "C"), ("COLUMNS", "120")];

/// A report text with a colour escape, a terminal-title escape ending in
/// BEL, and a newline: each would act on a terminal if printed raw.
const HOSTILE_TEXT: &str = "井盖翘起\u{1b}[31m红色\u{1b}]0;title\u{7}\n第二行";
fn assert_fits(out: &str, columns: usize) {
    for line in out.lines() {
        assert!(
            line.width() <= columns,
            "{} display columns, more than {columns}: {line}\n{out}",
            line.width()
        );
    }
}

fn assert_nothing_raw(out: &str) {
    for c in ['\u{1b}', '\u{7}'] {
        assert!(!out.contains(c), "{c:?} reached the output raw: {out:?}");
    }
}

#[test]
fn status_and_report_list_speak_chinese_under_a_chinese_locale() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    submit(&d, "manhole_cover", "井盖翘起");

    let status = out_with(&d, ZH, &["status"]);
    for label in ["节点标识", "角色", "社区", "辖区", "联盟", "未加入"] {
        assert!(status.contains(label), "{label} missing: {status}");
    }
    assert!(!status.contains("peer id"), "{status}");

    let list = out_with(&d, ZH, &["report", "list"]);
    for label in ["编号", "类别", "状态", "井盖问题", "已上报"] {
        assert!(list.contains(label), "{label} missing: {list}");
    }
    assert!(!list.contains("manhole_cover"), "{list}");

    let id = submit(&d, "traffic", "路口信号灯坏了");
    let step = out_with(&d, ZH, &["report", "verify", &id]);
    assert!(
        step.contains("已记录「核实」") && step.contains("已核实"),
        "{step}"
    );
    let stats = out_with(&d, ZH, &["stats"]);
    for label in ["共 2 件事件报告", "类别", "件数", "交通隐患"] {
        assert!(stats.contains(label), "{label} missing: {stats}");
    }

    ok(
        &d,
        &[
            "roster",
            "add",
            "--display-name",
            "小王",
            "--name",
            "王五",
            "--phone",
            "13800000000",
        ],
    );
    let roster = out_with(&d, ZH, &["roster", "list"]);
    for label in ["显示名称", "外卖骑手", "已申请"] {
        assert!(roster.contains(label), "{label} missing: {roster}");
    }

    let check = out_with(&d, ZH, &["check"]);
    assert!(
        check.contains("已校验") && check.contains("未发现问题"),
        "{check}"
    );

    // --json stays English and stable under a Chinese locale.
    let j = out_with(&d, ZH, &["--json", "report", "list"]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    let mut got: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["category"].to_string(), r["status"].to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (r#""manhole_cover""#.to_owned(), r#""submitted""#.to_owned()),
            (r#""traffic""#.to_owned(), r#""verified""#.to_owned())
        ]
    );
}

#[test]
fn english_under_c_and_the_flag_overrides_the_locale() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    submit(&d, "manhole_cover", "井盖翘起");

    let c = out_with(&d, &[("LANG", "C")], &["report", "list"]);
    assert!(c.contains("category") && c.contains("manhole_cover"), "{c}");
    let status = ok(&d, &["status"]);
    assert!(
        status.contains("peer id") && status.contains("community"),
        "{status}"
    );

    let flag_zh = out_with(&d, &[("LANG", "C")], &["--lang", "zh", "status"]);
    assert!(flag_zh.contains("节点标识"), "{flag_zh}");
    let flag_en = out_with(&d, ZH, &["status", "--lang", "en"]);
    assert!(flag_en.contains("peer id"), "{flag_en}");

    // LC_ALL outranks LANG; LC_MESSAGES outranks LANG.
    let all = out_with(&d, &[("LANG", "C"), ("LC_ALL", "zh_CN.UTF-8")], &["status"]);
    assert!(all.contains("节点标识"), "{all}");
    let messages = out_with(
        &d,
        &[("LANG", "zh_CN.UTF-8"), ("LC_MESSAGES", "C")],
        &["status"],
    );
    assert!(messages.contains("peer id"), "{messages}");
}

#[test]
fn errors_are_one_chinese_line_under_a_chinese_locale() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("nothing-here");
    let out = run_with(&empty, ZH, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("错误：") && err.contains("没有驿站节点"),
        "{err}"
    );

    // The same failure in English, for scripts and the existing tests.
    fails(&empty, &["status"], "no yizhan node in");

    let d = community(tmp.path());
    let out = run_with(
        &d,
        ZH,
        &[
            "report",
            "submit",
            "--category",
            "spaceship",
            "--lat",
            "1",
            "--lon",
            "1",
        ],
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success());
    assert!(
        err.contains("未知类别") && err.contains("manhole_cover（井盖问题）"),
        "{err}"
    );
}

#[test]
fn report_list_and_status_fit_80_and_120_columns_in_both_languages() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    submit(
        &d,
        "public_facility_damage",
        "护栏损坏，桥上的护栏断了一大段，很危险，请尽快处理",
    );
    submit(&d, "fire_lane_blocked", &"消防通道被杂物堵住".repeat(8));
    submit(&d, "other", HOSTILE_TEXT);
    for (env, columns) in [(ZH_80, 80), (C_80, 80), (ZH_120, 120), (C_120, 120)] {
        for args in [&["report", "list"][..], &["status"][..]] {
            let out = out_with(&d, env, args);
            assert!(out.lines().count() > 3, "{out}");
            assert_fits(&out, columns);
            assert_nothing_raw(&out);
        }
    }
}

#[test]
fn escape_sequences_in_report_text_are_stored_as_given_and_shown_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let id = submit(&d, "other", HOSTILE_TEXT);
    // Stored as given: --json gives back the exact text.
    assert_eq!(json(&d, &["report", "show", &id])["text"], HOSTILE_TEXT);

    let wide = &[("LANG", "C"), ("COLUMNS", "400")];
    let shown = out_with(&d, wide, &["report", "show", &id]);
    assert_nothing_raw(&shown);
    assert!(
        shown.contains("井盖翘起\\u{1b}[31m红色\\u{1b}]0;title\\u{7}\\n第二行"),
        "{shown}"
    );
    // The newline does not split the row: the text's row is one line.
    let row = shown.lines().find(|l| l.contains("井盖翘起")).unwrap();
    assert!(row.contains("text"), "{shown}");

    let list = out_with(&d, wide, &["report", "list"]);
    assert_nothing_raw(&list);
    assert_eq!(
        list.lines().filter(|l| l.contains("井盖翘起")).count(),
        1,
        "{list}"
    );
}

#[test]
fn a_display_name_with_a_control_character_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let before = ok(&d, &["--json", "roster", "list"]);
    for name in ["王\u{1b}[31m师傅", "王师傅\n李师傅", "王\u{7}"] {
        fails(
            &d,
            &[
                "roster",
                "add",
                "--display-name",
                name,
                "--name",
                "王五",
                "--phone",
                "13800000000",
            ],
            "display name holds a control character",
        );
    }
    assert_eq!(ok(&d, &["--json", "roster", "list"]), before);
    let out = run_with(
        &d,
        ZH,
        &[
            "roster",
            "add",
            "--display-name",
            "王\u{1b}",
            "--name",
            "王五",
            "--phone",
            "138",
        ],
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("显示名称含有控制字符"), "{err}");
    assert_nothing_raw(&err);
}

#[test]
fn json_errors_are_objects_with_a_stable_code() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    for env in [&[("LANG", "C")][..], ZH] {
        let out = run_with(&d, env, &["--json", "report", "show", "202611-0000abcd"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(v["error"]["code"], "report_not_found", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("is not held on this node"),
            "English under any locale: {v}"
        );
    }
    let out = run_with(&d, &[], &["--json", "report", "list", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "usage", "{v}");
    let out = run_with(&tmp.path().join("none"), &[], &["--json", "status"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "not_initialised", "{v}");
}

#[test]
fn blob_get_writes_the_bytes_into_a_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let photo = tmp.path().join("cover.jpg");
    let bytes: Vec<u8> = (0..4000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&photo, &bytes).unwrap();
    let hash = common::submit_photo_report(&d, &photo);
    let hash = json(&d, &["report", "show", &hash])["attachments"][0]["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    // Tests run without a terminal: stdout is a pipe, so the bytes flow.
    let out = run_with(&d, &[], &["blob", "get", &hash]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, bytes);

    // On a terminal (a pseudo-terminal here) it refuses, and names the fix.
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_yizhan"));
    english(&mut cmd)
        .arg("--data-dir")
        .arg(&d)
        .args(["blob", "get", &hash])
        .stdout(std::process::Stdio::from(pty.slave));
    let out = cmd.output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("stdout is a terminal; give --out FILE"),
        "{err}"
    );
    drop(pty.master);
}

#[test]
fn a_running_node_s_refusal_keeps_its_code_and_reads_in_chinese() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let node = common::NodeProc::start(&d, &[]);
    let out = run_with(&d, &[], &["--json", "report", "show", "202611-0000abcd"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "report_not_found", "{v}");
    let out = run_with(&d, ZH, &["report", "show", "202611-0000abcd"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("本节点没有事件报告 202611-0000abcd"), "{err}");
    let id = submit(&d, "manhole_cover", "井盖翘起");
    let out = run_with(&d, ZH, &["report", "accept", &id]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success());
    assert!(err.starts_with("错误："), "{err}");
    node.stop();
}

#[test]
fn help_reads_in_chinese_under_a_chinese_locale() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("none");
    let zh = out_with(&d, ZH, &["--help"]);
    for label in ["用法", "命令", "选项", "事件报告", "节点的数据目录"] {
        assert!(zh.contains(label), "{label} missing: {zh}");
    }
    let list = out_with(
        &d,
        &[("LANG", "C")],
        &["--lang", "zh", "report", "list", "--help"],
    );
    assert!(list.contains("只列出已超期的未办结案件"), "{list}");
    let en = out_with(&d, &[("LANG", "C")], &["--help"]);
    assert!(en.contains("Usage:") && en.contains("Commands:"), "{en}");
    assert!(!en.contains("用法"), "{en}");
}

#[test]
fn usage_errors_of_any_command_are_one_chinese_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("none");
    let out = run_with(&d, ZH, &["roster", "list", "--colour"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err, "错误：未知参数 '--colour'\n");

    let out = run_with(&d, ZH, &["init", "--role", "mayor", "--place", "guandu"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("'mayor' 无效") && err.contains("可选值：district、street、community"),
        "{err}"
    );
    let out = run_with(&d, ZH, &["backup"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("错误：缺少必需的参数：<FILE>"), "{err}");

    // English under C, as clap says it; --json stays English and stable.
    let out = run_with(&d, &[("LANG", "C")], &["roster", "list", "--colour"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err, "error: unexpected argument '--colour' found\n");
    let out = run_with(&d, ZH, &["--json", "roster", "list", "--colour"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "usage");
    assert_eq!(
        v["error"]["message"],
        "unexpected argument '--colour' found"
    );
}

#[test]
fn every_subcommand_s_help_reads_in_chinese() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("none");
    let zh = out_with(&d, ZH, &["points", "redeem", "--help"]);
    for label in ["用法", "选项", "服务驿站或商户", "兑换的物品", "显示帮助"] {
        assert!(zh.contains(label), "{label} missing: {zh}");
    }
    assert!(!zh.contains("The station or merchant"), "{zh}");
    let rebuild = out_with(&d, ZH, &["rebuild", "-h"]);
    assert!(
        rebuild.contains("等待补齐的最长秒数") && rebuild.contains("［默认：1800］"),
        "{rebuild}"
    );
    assert!(!rebuild.contains("[default"), "{rebuild}");
    let join = out_with(&d, ZH, &["help", "join"]);
    assert!(
        join.contains("参数") && join.contains("`yizhan admit` 输出的令牌"),
        "{join}"
    );

    let en = out_with(&d, &[("LANG", "C")], &["points", "redeem", "--help"]);
    assert!(
        en.contains("The station or merchant, by id or exact name"),
        "{en}"
    );
    assert!(!en.contains("兑换"), "{en}");
}

#[test]
fn rebuild_restore_and_config_show_speak_chinese() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let id = submit(&d, "manhole_cover", "井盖翘起");

    let zh = out_with(&d, ZH, &["config", "show"]);
    for label in ["配置项", "值", "来源", "配置文件", "社区", "（无）", "默认"] {
        assert!(zh.contains(label), "{label} missing: {zh}");
    }
    let c = out_with(&d, &[("LANG", "C")], &["config", "show"]);
    for label in ["key", "source", "community", "(none)", "default"] {
        assert!(c.contains(label), "{label} missing: {c}");
    }

    let backup = tmp.path().join("c.yizhan-backup");
    ok(&d, &["backup", backup.to_str().unwrap()]);
    let restored = tmp.path().join("restored");
    let said = out_with(&restored, ZH, &["restore", backup.to_str().unwrap()]);
    assert!(
        said.contains("已从") && said.contains("恢复到") && said.contains("恢复纪元"),
        "{said}"
    );
    assert!(!said.contains("restored node"), "{said}");
    let again = tmp.path().join("again");
    let said = out_with(
        &again,
        &[("LANG", "C")],
        &["restore", backup.to_str().unwrap()],
    );
    assert!(said.starts_with("restored node"), "{said}");

    // The community was never admitted, so the rebuild also says how it
    // gets an admission again.
    let said = out_with(&restored, ZH, &["rebuild", "--no-wait"]);
    for part in [
        "已把旧存储移到",
        "社区节点）新建存储",
        "准入未找到",
        "须重新接纳",
    ] {
        assert!(said.contains(part), "{part} missing: {said}");
    }
    let said = out_with(&again, &[("LANG", "C")], &["rebuild", "--no-wait"]);
    assert!(said.starts_with("moved the old store aside to"), "{said}");
    // The report is still where it was written.
    assert_eq!(json(&d, &["report", "show", &id])["id"], id.as_str());
}

#[test]
fn store_and_config_errors_of_the_node_read_in_chinese() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let config = d.join("config.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{good}\ncolour = \"red\"\n")).unwrap();
    let out = run_with(&d, ZH, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("错误：") && err.contains("未知配置项 `colour`"),
        "{err}"
    );
    fails(&d, &["status"], "unknown key `colour`");
    let out = run_with(&d, ZH, &["--json", "status"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "config_unknown_key", "{v}");
    // A value that breaks a rule of its own: said whole in Chinese.
    let with_cert = if good.contains("[http]") {
        good.replace(
            "[http]",
            "[http]\nplain = true\ncert = \"c.pem\"\nkey = \"k.pem\"",
        )
    } else {
        format!("{good}\n[http]\nplain = true\ncert = \"c.pem\"\nkey = \"k.pem\"\n")
    };
    std::fs::write(&config, with_cert).unwrap();
    let err = refused_with(&d, ZH, &["status"]);
    assert_eq!(
        err,
        "错误：配置有误：[http] plain = true 与证书互相矛盾：请删去其中之一\n"
    );
    fails(
        &d,
        &["status"],
        "plain = true and a cert contradict each other",
    );
    std::fs::write(&config, good).unwrap();

    // A store file that is not a store: damaged, and said so in Chinese.
    std::fs::write(d.join("store.redb"), b"not a database at all").unwrap();
    let out = run_with(&d, ZH, &["report", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("错误：")
            && err.contains("不是驿站存储或已损坏")
            && err.contains("yizhan rebuild"),
        "{err}"
    );
    fails(
        &d,
        &["report", "list"],
        "is not a yizhan store or is damaged",
    );
    let out = run_with(&d, ZH, &["--json", "report", "list"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "store_damaged", "{v}");
}

#[test]
fn what_a_node_says_it_did_reads_in_chinese() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, s, _d) = common::chain(tmp.path());
    let community = common::peer_id(&c);
    let said = out_with(&s, ZH, &["revoke", &community, "--reason", "测试"]);
    assert_eq!(
        said.trim_end(),
        format!("已撤销 {community}；撤销随联盟章程传播")
    );
    let said = out_with(&s, &[("LANG", "C")], &["reinstate", &community]);
    assert!(
        said.starts_with(&format!("reinstated {community} (1 revocation undone)")),
        "{said}"
    );
    // --json keeps the node's English sentence under any locale.
    ok(&s, &["revoke", &community]);
    let v: serde_json::Value =
        serde_json::from_str(&out_with(&s, ZH, &["--json", "reinstate", &community])).unwrap();
    assert!(v["done"].as_str().unwrap().starts_with("reinstated"), "{v}");
}

#[test]
fn empty_and_overlong_texts_are_refused_in_chinese_with_their_own_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let before = ok(&d, &["--json", "task", "list"]);
    let long = "长".repeat(300);
    let out = run_with(&d, ZH, &["task", "post", "--title", &long, "--points", "5"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("任务标题有 300 个字，最多"), "{err}");
    let out = run_with(
        &d,
        ZH,
        &["--json", "task", "post", "--title", " ", "--points", "5"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "empty_text", "{v}");
    assert_eq!(v["error"]["message"], "task title is empty", "{v}");
    fails(
        &d,
        &["task", "post", "--title", &long, "--points", "5"],
        "characters; at most",
    );
    assert_eq!(ok(&d, &["--json", "task", "list"]), before);
}

#[test]
fn the_demo_tells_its_morning_in_chinese_and_its_json_in_english() {
    let tmp = tempfile::tempdir().unwrap();
    let none = tmp.path().join("none");
    let zh = out_with(
        &none,
        &[
            ("LANG", "zh_CN.UTF-8"),
            ("TMPDIR", tmp.path().to_str().unwrap()),
        ],
        &["demo"],
    );
    for part in [
        "这一上午",
        "申请加入花名册并获批准",
        "上报井盖问题«井盖翘起»，附照片",
        "xinyazhou 的花名册",
        "办结率",
        "四个节点均已停止。",
    ] {
        assert!(zh.contains(part), "{part} missing:\n{zh}");
    }
    assert!(!zh.contains("applies to the roster"), "{zh}");
    let json = out_with(
        &none,
        &[
            ("LANG", "zh_CN.UTF-8"),
            ("TMPDIR", tmp.path().to_str().unwrap()),
        ],
        &["--json", "demo"],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let first = v["morning"][0]["what"].as_str().unwrap();
    assert!(
        first.ends_with("applies to the roster and is approved"),
        "{first}"
    );
    assert_eq!(v["documents"][0]["what"], "roster of xinyazhou", "{v}");
}

#[test]
fn a_task_s_refusal_names_its_reason_in_chinese() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let task = json(&d, &["task", "post", "--title", "巡查", "--points", "5"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = run_with(&d, ZH, &["task", "sign-off", &task]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        format!("错误：任务 {task} 状态为「待认领」，尚未完成\n")
    );
    fails(&d, &["task", "sign-off", &task], "is open, not completed");
    let out = run_with(&d, ZH, &["--json", "task", "sign-off", &task]);
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "task_not_completed", "{v}");
}
