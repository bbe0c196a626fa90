//! `yizhan demo`: a small federation on loopback, played for a newcomer.

use clap::Args;

use crate::output::Output;

/// `yizhan demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's data directories here instead of a temporary directory.
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
}

/// Runs the demo.
pub fn run(_args: DemoArgs, _out: &Output) -> anyhow::Result<()> {
    anyhow::bail!("the demo is being built")
}
