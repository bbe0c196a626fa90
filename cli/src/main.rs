//! `yizhan`: the operators' tool of a Yizhan node.
//!
//! Exit codes: 0 success; 1 the operation failed (the one-line message says
//! why); 2 the command line was malformed.

// Every string people read, in English and Chinese (`cli/locales/`;
// docs/localisation.md says how to add one).
rust_i18n::i18n!("locales", fallback = "en");

mod access;
mod args;
mod backup;
mod case_view;
mod certificate;
mod demo;
mod error_out;
mod file_error;
mod help_zh;
mod i18n;
mod ops;
mod output;
mod privacy;
mod qr;
mod rebuild;
mod report;
mod report_import;
mod start;
mod table;
mod terminal;
mod text_file;
mod usage_error;
mod watch;
mod workflow;

use crate::file_error::FileContext as _;
use std::process::ExitCode;

use args::{BlobCommand, Cli, Command, ConfigCommand, DocCommand, NodeCommand, SyncCommand};
use clap::{CommandFactory as _, FromArgMatches as _};
use node::admin::{Request, Response, dispatch};
use node::{Node, Role};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // The language first, so that even a malformed command line and
    // `--help` are answered in it.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    i18n::set(
        help_zh::lang_flag(&argv)
            .unwrap_or_else(|| i18n::Lang::from_env(|k| std::env::var(k).ok())),
    );
    let parsed = help_zh::localise(Cli::command())
        .try_get_matches_from(&argv)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: clap's first line names the argument and the problem.
            if std::env::args_os().any(|a| a == "--json") {
                let line = usage_error::english(&e);
                let message = line.strip_prefix("error: ").unwrap_or(&line);
                eprintln!("{}", error_out::json_line("usage", message));
            } else {
                eprintln!("{}", usage_error::line(&e));
            }
            return ExitCode::from(2);
        }
    };
    // `yizhan report list | head` should end quietly, not panic on a closed
    // pipe. Processes that run nodes keep ignoring SIGPIPE: a command that
    // hangs up on the admin socket must not kill the node.
    if !matches!(
        cli.command,
        Command::Node(_) | Command::Demo(_) | Command::Rebuild(_)
    ) {
        sigpipe::reset();
    }
    if let Some(lang) = cli.lang {
        i18n::set(lang);
    }
    install_tracing(&cli);
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error_out::print(&e, json);
            ExitCode::from(1)
        }
    }
}

fn install_tracing(cli: &Cli) {
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // `certificate verify` reports a charter file Automerge cannot load in
    // its own one-line error, which carries Automerge's reason; the
    // library's log line of the same failure would be a second line.
    if matches!(cli.command, Command::Certificate(_))
        && let Ok(quiet) = "automerge=off".parse()
    {
        filter = filter.add_directive(quiet);
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let dir = cli.data_dir();
    let out = output::Output { json: cli.json };
    let cli_sources = ops::LogFlags {
        verbose: cli.verbose,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Init(a) => {
            let role: Role = a.role.into();
            let place = crdt_model::PlaceId::parse(&a.place)?;
            let mut node = Node::init(&dir, role, place, a.name)?;
            let mut status = node.status()?;
            // A district founds its federation at init: say so, rather than
            // send its operator looking for a token it will never need.
            status.membership = node.membership(chrono::Utc::now())?;
            out.status(&status, "show.initialised")
        }
        Command::Status => match dispatch(&dir, Request::Status)? {
            Response::Status(s) => out.status(&s, ""),
            other => report::unexpected(other),
        },
        Command::Report(cmd) => report::run(&dir, cmd, &out),
        Command::Node(NodeCommand::Start(a)) => start::run(&dir, a),
        Command::Doc(DocCommand::List) => match dispatch(&dir, Request::Documents)? {
            Response::Documents(rows) => out.documents(&rows),
            other => report::unexpected(other),
        },
        Command::Doc(DocCommand::Export { id, out: file }) => ops::export(&dir, id, &file, &out),
        Command::Check { deep } => ops::check(&dir, deep, &out),
        Command::Config(ConfigCommand::Show(a)) => ops::config_show(&cli_sources, &dir, &a, &out),
        Command::Workflow(cmd) => workflow::run(&dir, cmd, &out),
        Command::Backup(a) => backup::backup(&dir, a, &out),
        Command::Restore(a) => backup::restore(&dir, a, &out),
        Command::Rebuild(a) => rebuild::rebuild(&dir, a, &out),
        Command::Privacy(c) => privacy::run(&dir, c, &out),
        Command::Http(c) => access::http(&dir, c, &out),
        Command::Staff(c) => access::staff(&dir, c, &out),
        Command::Demo(a) => demo::run(a, &out),
        Command::Watch => watch::run(&dir, &out),
        Command::Certificate(c) => certificate::run(c, &out),
        Command::Admit(a) => {
            let place = crdt_model::PlaceId::parse(&a.place)?;
            let req = Request::Admit {
                peer: a.peer_id,
                role: a.role.into(),
                place,
                may_admit: a.may_admit,
                expires_days: a.expires_days,
            };
            match dispatch(&dir, req)? {
                Response::Token(t) => {
                    if out.json {
                        println!("{}", serde_json::json!({ "token": t }));
                    } else {
                        println!("{t}");
                    }
                    Ok(())
                }
                other => report::unexpected(other),
            }
        }
        Command::Join { token } => match dispatch(&dir, Request::Join { token })? {
            Response::Joined(m) => {
                if out.json {
                    println!("{}", serde_json::to_string_pretty(&m)?);
                } else {
                    let args = [
                        ("federation", m.federation.to_string()),
                        ("role", i18n::role(m.role.as_str())),
                        ("place", m.place.to_string()),
                    ];
                    println!("{}", i18n::tr_args("joined", &args));
                }
                Ok(())
            }
            other => report::unexpected(other),
        },
        Command::Revoke { peer_id, reason } => done(
            &out,
            dispatch(
                &dir,
                Request::Revoke {
                    peer: peer_id,
                    reason,
                },
            )?,
        ),
        Command::Reinstate { peer_id } => {
            done(&out, dispatch(&dir, Request::Reinstate { peer: peer_id })?)
        }
        Command::Peers => match dispatch(&dir, Request::Peers)? {
            Response::Peers(rows) => out.peers(&rows),
            other => report::unexpected(other),
        },
        Command::Sync(SyncCommand::Status) => match dispatch(&dir, Request::SyncStatus)? {
            Response::SyncStatus(rows) => out.sync_status(&rows),
            other => report::unexpected(other),
        },
        Command::Blob(BlobCommand::Get { hash, out: file }) => {
            let hash: node::store::BlobHash = hash.parse().map_err(|_| {
                error_out::refuse(
                    "bad_value",
                    "input.bad_hash",
                    &[("hash", format!("{hash:?}"))],
                )
            })?;
            match dispatch(&dir, Request::Blob(hash))? {
                Response::Blob(body) => {
                    let bytes = body.bytes;
                    match file {
                        Some(path) => std::fs::write(&path, &bytes).writing(&path)?,
                        None => {
                            use std::io::Write as _;
                            if !terminal::Terminal::detect().may_write_binary() {
                                return Err(error_out::Refusal {
                                    code: "binary_to_terminal",
                                    key: "blob.refuse_terminal",
                                    args: vec![("hash", hash.to_string())],
                                }
                                .into());
                            }
                            std::io::stdout().write_all(&bytes)?;
                        }
                    }
                    Ok(())
                }
                other => report::unexpected(other),
            }
        }
    }
}

/// Prints what a node says it did.
fn done(out: &output::Output, response: Response) -> anyhow::Result<()> {
    match response {
        Response::Done(said) => {
            if out.json {
                println!("{}", serde_json::json!({ "done": said.message }));
            } else {
                println!("{}", table::printable(&output::done(&said)));
            }
            Ok(())
        }
        other => report::unexpected(other),
    }
}
