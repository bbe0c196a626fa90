//! Operators' housekeeping: `yizhan check`, `yizhan config show` and
//! `yizhan doc export`.

use std::path::Path;

use clap::CommandFactory as _;
use clap::parser::ValueSource;
use node::admin::{Request, Response, dispatch};
use node::api::files;
use node::check::CheckReport;
use serde::Serialize;
use serde_json::{Value, json};

use crate::args::{Cli, StartArgs};
use crate::i18n::{tr, tr_args};
use crate::output::{Output, print_json, table};
use crate::report::unexpected;
use crate::table::printable;

/// The logging flags given, for `config show`.
pub struct LogFlags {
    /// `-v`, counted.
    pub verbose: u8,
    /// `-q`.
    pub quiet: bool,
}

/// `yizhan check [--deep]`: prints what was checked and every problem; a
/// store with problems exits 1.
pub fn check(dir: &Path, deep: bool, out: &Output) -> anyhow::Result<()> {
    let report = node::check::check_dir(dir, deep)?;
    if out.json {
        print_json(&report)?;
    } else {
        print_check(&report);
    }
    let (key, args) = match report.problems.as_slice() {
        [] => return Ok(()),
        [one] => ("check.failed_one", vec![("problem", one.to_string())]),
        [first, rest @ ..] => (
            "check.failed_many",
            vec![
                ("n", (rest.len() + 1).to_string()),
                ("problem", first.to_string()),
            ],
        ),
    };
    Err(crate::error_out::Refusal {
        code: "check_failed",
        key,
        args,
    }
    .into())
}

fn print_check(r: &CheckReport) {
    if r.running {
        println!("{}", tr("check.running"));
    }
    if r.unverified {
        println!("{}", tr("check.unverified"));
    }
    let count = |n: usize, one: &str, many: &str| {
        tr_args(if n == 1 { one } else { many }, &[("n", n.to_string())])
    };
    let changes = if r.deep {
        format!(", {}", count(r.changes, "check.change", "check.changes"))
    } else {
        String::new()
    };
    println!(
        "{}",
        tr_args(
            "check.checked",
            &[
                (
                    "documents",
                    count(r.documents, "check.document", "check.documents")
                ),
                ("changes", changes),
                ("blobs", count(r.blobs, "check.blob", "check.blobs")),
            ],
        )
    );
    for p in &r.problems {
        println!(
            "{}",
            tr_args("check.problem", &[("problem", printable(&p.to_string()))])
        );
    }
    for hash in &r.blobs_missing {
        println!(
            "{}",
            tr_args("check.blob_missing", &[("hash", printable(hash))])
        );
    }
    if r.problems.is_empty() {
        println!("{}", tr("empty.problems"));
        if !r.deep {
            println!("{}", tr("check.not_deep"));
        }
    }
}

/// Where a value in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Source {
    Default,
    File,
    Environment,
    /// The machine's own setting (its time zone, `/etc/localtime`).
    System,
    Flag,
    /// A list: the file's entries and the flags' together.
    FileAndFlag,
}

impl Source {
    /// As people read it, in the language in force.
    fn shown(self) -> String {
        tr(&format!("config.source.{}", self.as_str()))
    }

    fn as_str(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::File => "file",
            Source::Environment => "environment",
            Source::System => "system",
            Source::Flag => "flag",
            Source::FileAndFlag => "file_and_flag",
        }
    }
}

#[derive(Serialize)]
struct Setting {
    key: &'static str,
    value: Value,
    source: Source,
}

/// `yizhan config show [--listen A]... [--peer A]... [--no-mdns] [--metrics ADDR]`: every
/// setting in force and where it comes from. The start flags are shown as
/// `node start` would apply them.
pub fn config_show(
    flags: &LogFlags,
    dir: &Path,
    a: &StartArgs,
    out: &Output,
) -> anyhow::Result<()> {
    let path = dir.join(files::CONFIG);
    if !path.exists() {
        return Err(node::NodeError::NotInitialised {
            dir: dir.to_owned(),
        }
        .into());
    }
    let (config, in_file) = node::Config::load_with_keys(&path)?;
    // Flags are checked as `node start` checks them.
    crate::start::addrs(&a.listen, "--listen")?;
    crate::start::addrs(&a.peer, "--peer")?;
    let file = |key: &str| {
        if in_file.iter().any(|k| k == key) {
            Source::File
        } else {
            Source::Default
        }
    };
    let list = |key: &str, from_flags: &[String]| match (file(key), from_flags.is_empty()) {
        (s, true) => s,
        (Source::File, false) => Source::FileAndFlag,
        (_, false) => Source::Flag,
    };
    let joined = |file: &[String], flags: &[String]| {
        json!(file.iter().chain(flags).cloned().collect::<Vec<_>>())
    };
    let (log, log_source) = log_filter(flags);
    let zone = config.zone()?;
    let settings = vec![
        Setting {
            key: "data_dir",
            value: json!(dir.display().to_string()),
            source: data_dir_source(),
        },
        Setting {
            key: "role",
            value: json!(config.role),
            source: file("role"),
        },
        Setting {
            key: "place",
            value: json!(config.place),
            source: file("place"),
        },
        Setting {
            key: "name",
            value: json!(config.name),
            source: file("name"),
        },
        Setting {
            key: "listen",
            value: joined(&config.listen, &a.listen),
            source: list("listen", &a.listen),
        },
        Setting {
            key: "peers",
            value: joined(&config.peers, &a.peer),
            source: list("peers", &a.peer),
        },
        Setting {
            key: "mdns",
            value: json!(config.mdns && !a.no_mdns),
            source: if a.no_mdns {
                Source::Flag
            } else {
                file("mdns")
            },
        },
        Setting {
            key: "learn_addresses",
            value: json!(config.learn_addresses),
            source: file("learn_addresses"),
        },
        Setting {
            key: "duplicate_radius_m",
            value: json!(config.duplicate_radius_m),
            source: file("duplicate_radius_m"),
        },
        Setting {
            key: "timezone",
            value: json!(zone.tz.name()),
            source: match zone.source {
                node::timezone::ZoneSource::File => Source::File,
                node::timezone::ZoneSource::Environment => Source::Environment,
                node::timezone::ZoneSource::System => Source::System,
                node::timezone::ZoneSource::Default => Source::Default,
            },
        },
        Setting {
            key: "replicate",
            value: json!(config.replicate),
            source: file("replicate"),
        },
        Setting {
            key: "summaries",
            value: json!(config.summaries),
            source: file("summaries"),
        },
        Setting {
            key: "metrics.listen",
            value: json!(
                a.metrics
                    .map(|m| m.to_string())
                    .or_else(|| config.metrics.listen.clone())
            ),
            source: match a.metrics {
                Some(_) => Source::Flag,
                None if config.metrics.listen.is_some() => Source::File,
                None => Source::Default,
            },
        },
        Setting {
            key: "http.listen",
            value: json!(
                a.http
                    .map(|m| m.to_string())
                    .or_else(|| config.http.listen.clone())
            ),
            source: match a.http {
                Some(_) => Source::Flag,
                None if config.http.listen.is_some() => Source::File,
                None => Source::Default,
            },
        },
        Setting {
            key: "http",
            value: json!(config.http),
            source: file("http"),
        },
        Setting {
            key: "alerts",
            value: json!(config.alerts),
            source: file("alerts"),
        },
        Setting {
            key: "escrow.return_on_reconnect",
            value: json!(config.escrow.return_on_reconnect),
            source: file("escrow"),
        },
        Setting {
            key: "log",
            value: json!(log),
            source: log_source,
        },
    ];
    if out.json {
        return print_json(&settings);
    }
    println!("{}", path.display());
    let mut t = table(&["key", "value", "source"]);
    for s in &settings {
        let value = match &s.value {
            Value::String(role) if s.key == "role" => crate::i18n::role(role),
            Value::String(text) => text.clone(),
            Value::Null => tr("config.none"),
            Value::Bool(b) => tr(if *b { "config.true" } else { "config.false" }),
            Value::Array(items) if items.is_empty() => "[]".to_owned(),
            other => other.to_string(),
        };
        t.add_row(vec![s.key.to_owned(), value, s.source.shown()]);
    }
    crate::table::print(t);
    Ok(())
}

/// Whether `--data-dir` or `YIZHAN_DATA_DIR` named the data directory:
/// clap knows, from the command line this process was given.
fn data_dir_source() -> Source {
    let Ok(top) = Cli::command().try_get_matches_from(std::env::args_os()) else {
        return Source::Default;
    };
    let mut matches = &top;
    loop {
        match matches.value_source("data_dir") {
            Some(ValueSource::CommandLine) => return Source::Flag,
            Some(ValueSource::EnvVariable) => return Source::Environment,
            Some(_) => return Source::Default,
            None => match matches.subcommand() {
                Some((_, sub)) => matches = sub,
                None => return Source::Default,
            },
        }
    }
}

/// The log filter in force, as `main` installs it: `RUST_LOG`, else `-q` /
/// `-v`, else warnings.
fn log_filter(flags: &LogFlags) -> (String, Source) {
    if let Ok(filter) = std::env::var("RUST_LOG")
        && tracing_subscriber::EnvFilter::try_new(&filter).is_ok()
    {
        return (filter, Source::Environment);
    }
    match (flags.quiet, flags.verbose) {
        (true, _) => ("error".into(), Source::Flag),
        (_, 0) => ("warn".into(), Source::Default),
        (_, 1) => ("info".into(), Source::Flag),
        _ => ("debug".into(), Source::Flag),
    }
}

/// `yizhan doc export ID --out FILE`.
pub fn export(dir: &Path, id: String, file: &Path, out: &Output) -> anyhow::Result<()> {
    let bytes = match dispatch(dir, Request::ExportDocument { id: id.clone() })? {
        Response::Document(body) => body.bytes,
        other => return unexpected(other),
    };
    crate::workflow::write_file(file, &bytes)?;
    if out.json {
        println!(
            "{}",
            json!({ "document": id, "bytes": bytes.len(), "out": file.display().to_string() })
        );
    } else {
        let args = [
            ("id", id.clone()),
            ("bytes", bytes.len().to_string()),
            ("file", file.display().to_string()),
        ];
        println!("{}", printable(&tr_args("doc.exported", &args)));
    }
    Ok(())
}
