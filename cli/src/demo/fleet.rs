//! The demo's federation: four data directories set up as an operator would
//! (`init`, `admit`, `join`), four `yizhan node start` processes on
//! 127.0.0.1, and the admin calls that drive them. Dropping the fleet stops
//! every node it started, on success and on error alike.

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use crdt_model::PlaceId;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use node::admin::{Call, Request, Response, call_running, dispatch};
use node::api::NodeStatus;
use node::workflow::{WorkflowRequest, WorkflowResponse};
use node::{Node, Role};

/// How long a node may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the street may take to connect to the other three.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a node may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);
/// Where every demo node listens: loopback, a port the OS picks.
const LISTEN: &str = "/ip4/127.0.0.1/tcp/0";

/// One of the four nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Who {
    /// The community where most of the morning happens.
    Xinyazhou,
    /// Its sibling community.
    Guanshuo,
    /// The street both belong to.
    Street,
    /// The district, root of the federation.
    District,
}

impl Who {
    /// Every node, communities first: the order of table columns.
    pub(super) const ALL: [Who; 4] = [Who::Xinyazhou, Who::Guanshuo, Who::Street, Who::District];

    /// Its short name: the last segment of its place, also its directory.
    pub(super) fn name(self) -> &'static str {
        match self {
            Who::Xinyazhou => "xinyazhou",
            Who::Guanshuo => "guanshuo",
            Who::Street => "yiliu",
            Who::District => "guandu",
        }
    }

    /// Its place.
    pub(super) fn place(self) -> &'static str {
        match self {
            Who::Xinyazhou => "guandu/yiliu/xinyazhou",
            Who::Guanshuo => "guandu/yiliu/guanshuo",
            Who::Street => "guandu/yiliu",
            Who::District => "guandu",
        }
    }

    /// Its role.
    pub(super) fn role(self) -> Role {
        match self {
            Who::Xinyazhou | Who::Guanshuo => Role::Community,
            Who::Street => Role::Street,
            Who::District => Role::District,
        }
    }

    /// Its place, parsed.
    pub(super) fn place_id(self) -> anyhow::Result<PlaceId> {
        Ok(PlaceId::parse(self.place())?)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One node of the fleet: where it lives, and its process while it runs.
pub(super) struct DemoNode {
    /// Which node.
    pub who: Who,
    /// Its data directory.
    pub dir: PathBuf,
    /// Its log file (stdout and stderr of `yizhan node start`).
    pub log: PathBuf,
    /// Its peer id.
    pub peer_id: String,
    /// The addresses it listened on, with its peer id.
    pub listen: Vec<String>,
    /// The process id of its `yizhan node start`, once started.
    pub pid: Option<u32>,
    /// The nodes it was told to dial (`--peer`).
    pub dials: Vec<Who>,
    /// How its process ended, once stopped.
    pub exit: Option<ExitStatus>,
    child: Option<Child>,
}

impl DemoNode {
    /// The last line it logged, for error messages.
    fn last_logged(&self) -> String {
        let Ok(f) = File::open(&self.log) else {
            return String::new();
        };
        BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.trim().is_empty())
            .last()
            .unwrap_or_default()
    }

    /// "the NAME node HAPPENED", with its last log line and where its log
    /// is: one line for error messages.
    fn says(&self, happened: &str) -> String {
        let last = self.last_logged();
        let last = if last.is_empty() {
            String::new()
        } else {
            format!(" (it last logged: {})", last.trim())
        };
        format!(
            "the {} node {happened}{last}; its log is {}",
            self.who.name(),
            self.log.display()
        )
    }
}

/// The four nodes.
pub(super) struct Fleet {
    nodes: Vec<DemoNode>,
    /// Process ids of the nodes running and not yet reaped. A process is
    /// signalled and reaped only while this is locked, so a signal never
    /// reaches a process id the system has given to someone else.
    running: Running,
    /// The demo's directory, named when the demo is interrupted.
    root: PathBuf,
}

/// The process ids of running nodes.
type Running = Arc<Mutex<Vec<u32>>>;

/// Sends SIGTERM to every running node.
fn terminate(running: &Running) {
    let pids = running.lock().unwrap_or_else(PoisonError::into_inner);
    for &pid in pids.iter() {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
}

/// Polls `child` without blocking; reaps it and forgets its id once it has exited.
fn reap(running: &Running, child: &mut Child) -> std::io::Result<Option<ExitStatus>> {
    let mut pids = running.lock().unwrap_or_else(PoisonError::into_inner);
    let status = child.try_wait()?;
    if status.is_some() {
        pids.retain(|p| *p != child.id());
    }
    Ok(status)
}

/// Kills `child` and reaps it.
fn kill_and_reap(running: &Running, child: &mut Child) {
    let mut pids = running.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = child.kill();
    let _ = child.wait();
    pids.retain(|p| *p != child.id());
}

/// Stops the nodes when the demo itself is told to stop (Ctrl-C, SIGTERM,
/// SIGHUP) and exits: otherwise they would outlive it.
fn watch_signals(running: Running, root: PathBuf) -> anyhow::Result<()> {
    use tokio::signal::unix::{Signal as Watched, SignalKind, signal};
    async fn next(s: &mut Option<Watched>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal watcher")?;
    std::thread::Builder::new()
        .name("demo-signals".into())
        .spawn(move || {
            rt.block_on(async {
                let mut int = signal(SignalKind::interrupt()).ok();
                let mut term = signal(SignalKind::terminate()).ok();
                let mut hup = signal(SignalKind::hangup()).ok();
                let code = tokio::select! {
                    () = next(&mut int) => 130,
                    () = next(&mut term) => 143,
                    () = next(&mut hup) => 129,
                };
                terminate(&running);
                eprintln!(
                    "error: interrupted; the nodes were told to stop; the demo's data and logs are in {}",
                    root.display()
                );
                std::process::exit(code);
            })
        })
        .context("cannot start the signal watcher")?;
    Ok(())
}

impl Fleet {
    /// Creates the four data directories under `root` and admits the nodes
    /// into one federation, as `init`, `admit` and `join` do: the district
    /// founds it, admits the street (which may admit), and the street admits
    /// both communities.
    pub(super) fn set_up(root: &Path) -> anyhow::Result<Fleet> {
        let logs = root.join("logs");
        std::fs::create_dir_all(&logs)
            .with_context(|| format!("cannot create {}", logs.display()))?;
        let mut nodes = Vec::new();
        for who in Who::ALL {
            let dir = root.join(who.name());
            let node = Node::init(&dir, who.role(), who.place_id()?, None)
                .with_context(|| format!("cannot set up the {} node", who.name()))?;
            nodes.push(DemoNode {
                who,
                dir: node.status()?.data_dir,
                log: logs.join(format!("{}.log", who.name())),
                peer_id: node.identity().peer_id().to_string(),
                listen: Vec::new(),
                pid: None,
                dials: Vec::new(),
                exit: None,
                child: None,
            });
            // The node closes its store here, before anyone else opens it.
        }
        let fleet = Fleet {
            nodes,
            running: Arc::default(),
            root: root.to_owned(),
        };
        fleet.admit(Who::District, Who::Street, true)?;
        fleet.admit(Who::Street, Who::Xinyazhou, false)?;
        fleet.admit(Who::Street, Who::Guanshuo, false)?;
        Ok(fleet)
    }

    /// `yizhan admit` at `admitter`, then `yizhan join` with its token at `node`.
    fn admit(&self, admitter: Who, node: Who, may_admit: bool) -> anyhow::Result<()> {
        let req = Request::Admit {
            peer: self.node(node).peer_id.clone(),
            role: node.role(),
            place: node.place_id()?,
            may_admit,
            expires_days: None,
        };
        let token = match dispatch(&self.node(admitter).dir, req)? {
            Response::Token(t) => t,
            other => bail!("admit gave an unexpected answer: {other:?}"),
        };
        match dispatch(&self.node(node).dir, Request::Join { token })? {
            Response::Joined(_) => Ok(()),
            other => bail!("join gave an unexpected answer: {other:?}"),
        }
    }

    /// The node `who`.
    pub(super) fn node(&self, who: Who) -> &DemoNode {
        &self.nodes[who.index()]
    }

    /// Every node, in [`Who::ALL`] order.
    pub(super) fn nodes(&self) -> &[DemoNode] {
        &self.nodes
    }

    /// Starts the district and both communities, then the street dialling
    /// all three, and waits until the street is connected to each.
    pub(super) fn start(&mut self) -> anyhow::Result<()> {
        watch_signals(self.running.clone(), self.root.clone())?;
        let others = [Who::District, Who::Xinyazhou, Who::Guanshuo];
        for who in others {
            self.spawn(who, &[])?;
        }
        let mut peers = Vec::new();
        for who in others {
            self.wait_listening(who)?;
            let addr = self
                .node(who)
                .listen
                .first()
                .cloned()
                .with_context(|| format!("the {} node listens on no address", who.name()))?;
            peers.push(addr);
        }
        self.spawn(Who::Street, &peers)?;
        self.nodes[Who::Street.index()].dials = others.to_vec();
        self.wait_listening(Who::Street)?;
        let others: Vec<String> = others
            .iter()
            .map(|w| self.node(*w).peer_id.clone())
            .collect();
        self.wait(
            "the street to connect to the district and both communities",
            CONNECT_TIMEOUT,
            |f| {
                let s = f.status(Who::Street)?;
                Ok(others.iter().all(|p| s.peers.contains(p)))
            },
        )?;
        Ok(())
    }

    /// Starts `yizhan node start` for `who`, logging to its log file.
    fn spawn(&mut self, who: Who, peers: &[String]) -> anyhow::Result<()> {
        let exe = std::env::current_exe()
            .context("cannot find the yizhan executable to start the nodes with")?;
        let running = self.running.clone();
        let n = &mut self.nodes[who.index()];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)
            .with_context(|| format!("cannot open {}", n.log.display()))?;
        let out = log
            .try_clone()
            .with_context(|| format!("cannot open {}", n.log.display()))?;
        let mut cmd = Command::new(exe);
        cmd.arg("--data-dir")
            .arg(&n.dir)
            .args(["node", "start", "--listen", LISTEN, "--no-mdns"])
            .env("RUST_LOG", "warn,node=info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log);
        for p in peers {
            cmd.args(["--peer", p]);
        }
        let mut pids = running.lock().unwrap_or_else(PoisonError::into_inner);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start the {} node", who.name()))?;
        pids.push(child.id());
        n.pid = Some(child.id());
        n.child = Some(child);
        Ok(())
    }

    /// Waits until `who` answers on its admin socket and listens.
    fn wait_listening(&mut self, who: Who) -> anyhow::Result<()> {
        let what = format!("the {} node to listen", who.name());
        let mut listen = Vec::new();
        self.wait(&what, START_TIMEOUT, |f| {
            let Some(resp) = f.call(who, &Request::Status)? else {
                return Ok(false);
            };
            match resp {
                Response::Status(s) if s.running && !s.listen.is_empty() => {
                    listen = s.listen;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })?;
        self.nodes[who.index()].listen = listen;
        Ok(())
    }

    /// Fails when a started node has exited, naming it and its log.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        for n in &mut self.nodes {
            let Some(child) = n.child.as_mut() else {
                continue;
            };
            if let Some(status) =
                reap(&self.running, child).context("cannot watch a node process")?
            {
                n.child = None;
                n.exit = Some(status);
                bail!("{}", n.says(&format!("stopped unexpectedly ({status})")));
            }
        }
        Ok(())
    }

    /// Polls `check` until it says yes, failing after `timeout` or as soon as
    /// a node process has died. Returns how long it took.
    pub(super) fn wait(
        &mut self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Fleet) -> anyhow::Result<bool>,
    ) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            self.check_alive()?;
            if check(self)? {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                bail!("timed out after {} s waiting for {what}", timeout.as_secs());
            }
            std::thread::sleep(POLL);
        }
    }

    /// Sends `req` to the running node `who`; `None` while it does not answer yet.
    fn call(&self, who: Who, req: &Request) -> anyhow::Result<Option<Response>> {
        let n = self.node(who);
        call_running(&n.dir, &Call::new(req.clone())).with_context(|| n.says("cannot be reached"))
    }

    /// Sends `req` to the running node `who` and returns its answer; a
    /// refusal becomes an error naming the node.
    pub(super) fn ask(&self, who: Who, req: Request) -> anyhow::Result<Response> {
        match self.try_ask(who, req)? {
            Ok(resp) => Ok(resp),
            Err(msg) => bail!("{}: {msg}", who.name()),
        }
    }

    /// Like [`Fleet::ask`], but a refusal is returned as `Ok(Err(message))`:
    /// for questions such as "do you hold this blob?".
    pub(super) fn try_ask(
        &self,
        who: Who,
        req: Request,
    ) -> anyhow::Result<Result<Response, String>> {
        match self.call(who, &req)? {
            None => bail!(
                "{}",
                self.node(who).says("does not answer on its admin socket")
            ),
            Some(Response::Failed(body)) => Ok(Err(body.message)),
            Some(other) => Ok(Ok(other)),
        }
    }

    /// Runs a workflow request on `who`.
    pub(super) fn flow(&self, who: Who, req: WorkflowRequest) -> anyhow::Result<WorkflowResponse> {
        match self.ask(who, Request::Workflow(req))? {
            Response::Workflow(w) => Ok(*w),
            other => bail!("{} gave an unexpected answer: {other:?}", who.name()),
        }
    }

    /// The running node's status.
    pub(super) fn status(&self, who: Who) -> anyhow::Result<NodeStatus> {
        match self.ask(who, Request::Status)? {
            Response::Status(s) => Ok(s),
            other => bail!("{} gave an unexpected answer: {other:?}", who.name()),
        }
    }

    /// Stops every node that runs: SIGTERM to all, then waits for each to
    /// exit, killing any that has not after a while. Fails when a node did
    /// not exit cleanly.
    pub(super) fn stop(&mut self) -> anyhow::Result<()> {
        // A node that already exited is reaped below.
        terminate(&self.running);
        let start = Instant::now();
        let mut problems = Vec::new();
        for n in &mut self.nodes {
            let Some(mut child) = n.child.take() else {
                continue;
            };
            let status = loop {
                match reap(&self.running, &mut child) {
                    Ok(Some(status)) => break Some(status),
                    Ok(None) if start.elapsed() < STOP_TIMEOUT => std::thread::sleep(POLL),
                    _ => {
                        kill_and_reap(&self.running, &mut child);
                        break None;
                    }
                }
            };
            n.exit = status;
            match status {
                Some(s) if s.success() => {}
                Some(s) => problems.push(n.says(&format!("exited with {s}"))),
                None => problems.push(n.says("did not stop on SIGTERM and was killed")),
            }
        }
        match problems.first() {
            None => Ok(()),
            Some(p) => bail!("{p}"),
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
