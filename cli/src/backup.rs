//! `yizhan backup FILE` and `yizhan restore FILE`: one file holding the
//! node's store (as one read transaction saw it), identity key and
//! configuration; and a new data directory made from it.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use node::Node;
use node::admin::{Call, Request, Response, call_running};
use node::store::BackupSummary;

use crate::output::{Output, print_json};

/// `yizhan backup FILE [--force]`
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write.
    pub file: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `yizhan restore FILE`
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file `yizhan backup` wrote. The node is installed in --data-dir,
    /// which must not hold a node yet.
    pub file: PathBuf,
}

/// A bar on stderr when it is a terminal and output is for people; hidden
/// otherwise.
fn bar(out: &Output, what: &str) -> ProgressBar {
    if out.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let entries = crate::i18n::tr("backup.entries");
    let template =
        format!("{{spinner}} {{msg}} [{{bar:30}}] {{pos}}/{{len}} {entries} {{elapsed}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn advance(bar: &ProgressBar) -> impl FnMut(u64, u64) + '_ {
    move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }
}

/// Writes a backup: through the running node when there is one (it reads
/// its store off its loop), else straight from the store.
pub fn backup(dir: &Path, args: BackupArgs, out: &Output) -> anyhow::Result<()> {
    let path = std::path::absolute(&args.file)
        .with_context(|| format!("backup file {}", args.file.display()))?;
    let call = Call::new(Request::Backup {
        path: path.clone(),
        force: args.force,
    });
    let bar = bar(out, &crate::i18n::tr("backup.backing_up"));
    let summary = match call_running(dir, &call)? {
        Some(Response::BackedUp(s)) => *s,
        Some(Response::Failed(body)) => {
            bar.finish_and_clear();
            return Err(node::NodeError::Remote(body).into());
        }
        Some(other) => {
            bar.finish_and_clear();
            return crate::report::unexpected(other);
        }
        None => {
            let node = Node::open_read_only(dir)?;
            let written = node.backup(&path, args.force, &mut advance(&bar));
            bar.finish_and_clear();
            written?
        }
    };
    bar.finish_and_clear();
    if out.json {
        return print_json(&summary);
    }
    println!(
        "{}",
        crate::i18n::tr_args(
            "backup.written",
            &[
                ("path", summary.path.display().to_string()),
                ("what", describe(&summary)),
            ],
        )
    );
    Ok(())
}

fn describe(s: &BackupSummary) -> String {
    crate::i18n::tr_args(
        "backup.holds",
        &[
            ("documents", s.entries("doc_info").to_string()),
            ("chunks", s.entries("doc_changes").to_string()),
            ("blobs", s.entries("blobs").to_string()),
            ("signatures", s.entries("signatures").to_string()),
            ("bytes", s.bytes.to_string()),
            ("files", s.files.join(&crate::i18n::tr("backup.and"))),
        ],
    )
}

/// Installs a backup as a new node in `dir`.
pub fn restore(dir: &Path, args: RestoreArgs, out: &Output) -> anyhow::Result<()> {
    let bar = bar(out, &crate::i18n::tr("restore.restoring"));
    let restored = node::backup::restore(&args.file, dir, &mut advance(&bar));
    bar.finish_and_clear();
    let restored = restored?;
    if out.json {
        return print_json(&restored);
    }
    let done = crate::i18n::tr_args(
        "restore.done",
        &[
            ("peer", restored.peer_id.to_string()),
            ("dir", restored.data_dir.display().to_string()),
            ("file", args.file.display().to_string()),
            ("what", describe(&restored.backup)),
        ],
    );
    println!("{}", crate::table::printable(&done));
    let epoch = [("epoch", restored.actor_epoch.to_string())];
    println!("{}", crate::i18n::tr_args("restore.epoch", &epoch));
    Ok(())
}
