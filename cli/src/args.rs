//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use node::Role;

/// Yizhan (驿站): federated, peer-to-peer sync for community grassroots governance.
#[derive(Debug, Parser)]
#[command(name = "yizhan", version, about, propagate_version = true)]
pub struct Cli {
    /// The node's data directory [default: $XDG_DATA_HOME/yizhan or ~/.local/share/yizhan]
    #[arg(long, global = true, env = "YIZHAN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The language of labels and messages (zh: 中文) [default: from
    /// LC_ALL, LC_MESSAGES or LANG]. --json output is English either way.
    #[arg(long, global = true, value_enum)]
    pub lang: Option<crate::i18n::Lang>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The data directory in force.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(node::api::default_data_dir)
    }
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up a node in the data directory: identity key, store, config file.
    Init(InitArgs),
    /// Show the node's identity, role, place and store.
    Status,
    /// Hazard reports: submit, list, show, and their lifecycle (verify, void, dispatch, handle, escalate, accept, close, reopen).
    #[command(subcommand)]
    Report(crate::report::ReportCommand),
    /// Run the node.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Known peers and whether they are connected.
    Peers,
    /// Sync state per peer and document.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Photos and voice notes by hash.
    #[command(subcommand)]
    Blob(BlobCommand),
    /// The documents this node holds.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Start a small federation on loopback (district, street, two communities),
    /// play a morning of reports, tasks and points through it, and show where
    /// everything arrived.
    Demo(crate::demo::DemoArgs),
    /// Admit a node into this federation; prints the token it joins with.
    Admit(AdmitArgs),
    /// Install an admission token on this node.
    Join {
        /// The token `yizhan admit` printed.
        token: String,
    },
    /// Revoke a node: once the charter reaches a node, the revoked one loses access there.
    Revoke {
        /// The node's peer id.
        peer_id: String,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Undo a mistaken revocation (the root, or the node that revoked):
    /// the node may then reconnect with its existing token.
    Reinstate {
        /// The revoked node's peer id.
        peer_id: String,
    },
    /// Service certificates: verify one offline, with no data directory
    /// (issue one with `yizhan points certificate`).
    #[command(subcommand)]
    Certificate(crate::certificate::CertificateCommand),
    /// Follow the running node's new, urgent and overdue cases live, one
    /// line each (JSON lines with --json), until Ctrl-C or the node stops.
    Watch,
    /// Governance workflows: roster, tasks and needs, points, directory, statistics, export.
    #[command(flatten)]
    Workflow(crate::workflow::WorkflowCommand),
    /// Verify the store: every document loads, every blob matches its hash,
    /// the credential and charter hold; exits 1 naming each problem.
    Check {
        /// Also verify every change's signature and its author's admission
        /// chain and write right (an Ed25519 check per change: slower).
        #[arg(long)]
        deep: bool,
    },
    /// The node's configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write the node's store, identity key and configuration to one file,
    /// consistent even while the node runs, and verify it.
    Backup(crate::backup::BackupArgs),
    /// Members' personal data: purge it once they have left long enough.
    #[command(subcommand)]
    Privacy(crate::privacy::PrivacyCommand),
    /// The HTTP server: certificates for trials.
    #[command(subcommand)]
    Http(crate::access::HttpCommand),
    /// Community and street staff: access codes for the HTTP server.
    #[command(subcommand)]
    Staff(crate::access::StaffCommand),
    /// Install a backup as a new node in --data-dir (which must hold none);
    /// it writes under a fresh actor and gets the rest back from its peers.
    Restore(crate::backup::RestoreArgs),
    /// Move a lost or damaged store aside and make a fresh one with the
    /// node's identity and admission, under a fresh actor; then run the node
    /// until its peers have refilled it (unless --no-wait).
    Rebuild(crate::rebuild::RebuildArgs),
}

/// `yizhan config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The effective configuration, and where each value comes from
    /// (default, file, environment, flag). Takes `node start`'s flags, to
    /// show what a start with them would use.
    Show(StartArgs),
}

/// `yizhan doc ...`
#[derive(Debug, Subcommand)]
pub enum DocCommand {
    /// Every document with its heads and storage sizes.
    List,
    /// Write a document's Automerge bytes (`AutoCommit::save`, whole history)
    /// to a file other Automerge tools can open; roster-private is never exported.
    Export {
        /// The document id, as `yizhan doc list` shows it.
        id: String,
        /// The file to write (written whole, then moved into place).
        #[arg(long)]
        out: PathBuf,
    },
}

/// `yizhan node ...`
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Run the node in the foreground until SIGINT or SIGTERM.
    Start(StartArgs),
}

/// `yizhan node start`
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Address to listen on, such as /ip4/0.0.0.0/tcp/4001 (repeatable; adds to the config file's).
    #[arg(long)]
    pub listen: Vec<String>,
    /// A peer to dial and keep dialling, such as /ip4/10.0.0.2/tcp/4001 (repeatable; adds to the config file's).
    #[arg(long)]
    pub peer: Vec<String>,
    /// Do not discover peers on the LAN with mDNS.
    #[arg(long)]
    pub no_mdns: bool,
    /// Serve Prometheus metrics at /metrics and a health check at /healthz
    /// on this address, such as 127.0.0.1:9464 (overrides `[metrics] listen`).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Serve HTTP (Open311, riders' phones) on this address, such as
    /// 0.0.0.0:8443 (overrides `[http] listen`); TLS with `[http] cert`
    /// and `key`, plain only with `[http] plain = true`.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
}

/// `yizhan sync ...`
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Per peer and document: in sync or not, and when last synced.
    Status,
}

/// `yizhan blob ...`
#[derive(Debug, Subcommand)]
pub enum BlobCommand {
    /// Write a blob's verified bytes to a file (or stdout).
    Get {
        /// The BLAKE3 hash, 64 hex digits.
        hash: String,
        /// Where to write the bytes.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The role of a node, on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// District (区): root of a federation.
    District,
    /// Street (街道): coordinates its communities.
    Street,
    /// Community (社区): where riders report.
    Community,
    /// Station (服务站): a community's station or caring merchant, at the
    /// community's place, redeeming points held in escrow.
    Station,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::District => Role::District,
            RoleArg::Street => Role::Street,
            RoleArg::Community => Role::Community,
            RoleArg::Station => Role::Station,
        }
    }
}

/// `yizhan init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The node's role.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// The place it owns, such as guandu/yiliu/xinyazhou.
    #[arg(long)]
    pub place: String,
    /// A human name for the node.
    #[arg(long)]
    pub name: Option<String>,
}

/// `yizhan admit`
#[derive(Debug, Args)]
pub struct AdmitArgs {
    /// The new node's peer id (`yizhan status` on it prints it).
    pub peer_id: String,
    /// Its role.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// The place it owns.
    #[arg(long)]
    pub place: String,
    /// Let it admit nodes below its place.
    #[arg(long)]
    pub may_admit: bool,
    /// Days until the admission lapses (default: never).
    #[arg(long)]
    pub expires_days: Option<u32>,
}
