//! What the localisation tests share: running `yizhan` under a locale, a
//! community to run it in, and a check that a Chinese message holds no
//! English sentence.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{english, init};

pub const ZH: &[(&str, &str)] = &[("LANG", "zh_CN.UTF-8")];

/// Runs `yizhan` in `dir` with the test helper's English environment,
/// then `env` on top of it.
pub fn run_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_yizhan"));
    english(&mut cmd)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run yizhan")
}

/// A community node's data directory under `root`.
pub fn community(root: &Path) -> PathBuf {
    let d = root.join("c");
    init(&d, "community", "guandu/yiliu/xinyazhou");
    d
}

/// stderr of a command that must fail with status 1.
pub fn refused_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = run_with(dir, env, args);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "yizhan {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// True when `s` holds an English word of three letters or more, outside
/// the ids, file names and command lines a Chinese message quotes.
pub fn has_english_words(s: &str, allowed: &[&str]) -> bool {
    let mut rest = s.to_owned();
    for a in allowed {
        rest = rest.replace(a, " ");
    }
    rest.split(|c: char| !c.is_ascii_alphabetic())
        .any(|w| w.len() >= 3)
}
