//! Nodes for the node-API measurements, in this process or a child: a tracker in process,
//! nodes in temporary data directories with a durable or an in-memory store, and the few
//! moves the measurements make with them (send and wait for `sent`, wait for an event,
//! quit, or just keep reading their events).

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use natter::node::{
    Command, Event, Node, NodeConfig, NodeHandle, Notice, Target, TrackerStatus, start,
};
use natter_protocol::Name;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::stats::WAIT;

/// Where a node keeps its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// `natter.db` in the data directory: WAL, `synchronous=FULL`, group commit.
    Durable,
    /// The same store in an in-memory database (`NodeConfig::ephemeral`): no disk.
    Ephemeral,
}

impl Store {
    pub fn label(self) -> &'static str {
        match self {
            Self::Durable => "durable",
            Self::Ephemeral => "ephemeral",
        }
    }
}

impl FromStr for Store {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "durable" => Ok(Self::Durable),
            "ephemeral" => Ok(Self::Ephemeral),
            other => Err(format!("durable|ephemeral, not {other:?}")),
        }
    }
}

/// Starts a tracker in this process that lets one address hold many connections; returns
/// its address and the token that stops it.
pub async fn start_tracker(dir: &tempfile::TempDir) -> (SocketAddr, CancellationToken) {
    let listener = natter_tracker::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = natter_tracker::Config::new(dir.path().join("tracker.json"));
    config.max_connections_per_ip = 4096;
    let token = CancellationToken::new();
    let stop = token.clone();
    tokio::spawn(async move {
        if let Err(e) = natter_tracker::run(listener, config, stop).await {
            eprintln!("tracker failed: {e:#}");
        }
    });
    (addr, token)
}

/// A node in its own temporary data directory. Its events are read by whoever holds it:
/// a node whose events nobody reads stalls once its queue fills, so one that is only
/// there to be talked to goes to [`BenchNode::drain`].
pub struct BenchNode {
    /// Unique in the run.
    pub name: Name,
    pub handle: NodeHandle,
    pub listen: SocketAddr,
    pub events: mpsc::Receiver<Notice>,
    task: JoinHandle<()>,
    /// Removed once the node has stopped.
    dir: tempfile::TempDir,
}

/// Starts a node named `base-N` and waits until the tracker has welcomed it; a failure
/// stops the bench. N counts the nodes this process started (the tracker binds a name to
/// the first key it sees, so a name is never used twice in a run; a child puts its pid
/// in `base`).
pub async fn start_node(base: &str, tracker: &str, store: Store) -> BenchNode {
    let node = try_start_node(base, tracker, store).await;
    node.unwrap_or_else(|e| panic!("{e}"))
}

/// [`start_node`], or why not.
pub async fn try_start_node(base: &str, tracker: &str, store: Store) -> Result<BenchNode, String> {
    try_start_node_with(base, tracker, store, |_| {}).await
}

/// [`try_start_node`] with `configure` applied to its config last.
pub async fn try_start_node_with(
    base: &str,
    tracker: &str,
    store: Store,
    configure: impl FnOnce(&mut NodeConfig),
) -> Result<BenchNode, String> {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let n = STARTED.fetch_add(1, Ordering::Relaxed);
    let name: Name = format!("{base}-{n}").parse().unwrap();
    let dir = tempfile::tempdir().map_err(|e| format!("{name}: a temporary directory: {e}"))?;
    let mut config = NodeConfig::new(
        name.clone(),
        tracker.to_owned(),
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("data"),
    );
    config.ephemeral = store == Store::Ephemeral;
    configure(&mut config);
    let started = start(config).await;
    let Node {
        handle,
        events,
        listen,
        task,
        ..
    } = started.map_err(|e| format!("{name} cannot start: {e:#}"))?;
    let mut node = BenchNode {
        name,
        handle,
        listen,
        events,
        task,
        dir,
    };
    node.registered().await?;
    Ok(node)
}

impl BenchNode {
    /// Waits, within [`WAIT`], until the tracker has welcomed the node: then a peer that
    /// asks the tracker about its name finds it.
    async fn registered(&mut self) -> Result<(), String> {
        let welcome = async {
            while let Some(notice) = self.events.recv().await {
                match notice.event {
                    Event::Tracker {
                        status: TrackerStatus::Connected,
                        ..
                    } => return Ok(()),
                    Event::Error { message, .. } => return Err(message),
                    _ => {}
                }
            }
            Err("stopped".to_owned())
        };
        let welcomed = tokio::time::timeout(WAIT, welcome).await;
        let welcomed = welcomed.unwrap_or_else(|_| Err("no welcome from the tracker".into()));
        welcomed.map_err(|e| format!("{}: {e}", self.name))
    }

    /// The next event matching `want` within [`WAIT`], skipping the others; an error event
    /// stops the bench.
    pub async fn next(&mut self, want: impl Fn(&Event) -> bool) -> Event {
        let name = &self.name;
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let ev = self.events.recv().await.expect("node stopped").event;
                if let Event::Error { message, .. } = &ev {
                    panic!("{name} reported an error: {message}");
                }
                if want(&ev) {
                    return ev;
                }
            }
        });
        found
            .await
            .unwrap_or_else(|_| panic!("{name}: no awaited event in time"))
    }

    pub async fn send(&self, target: Target, text: String) {
        let command = Command::Send { target, text };
        self.handle.send(command).await.expect("node stopped");
    }

    /// Sends `text` to `target` and waits for its `sent`; returns (delivered, failed,
    /// pending). Sends must be sequential, so the next `sent` is this message's.
    pub async fn send_and_wait(&mut self, target: Target, text: String) -> (usize, usize, usize) {
        self.send(target, text).await;
        match self.next(|e| matches!(e, Event::Sent { .. })).await {
            Event::Sent {
                delivered,
                failed,
                pending,
                ..
            } => (delivered.len(), failed.len(), pending.len()),
            _ => unreachable!(),
        }
    }

    /// Stops the node and waits (bounded) until it has, store included.
    pub async fn quit(self) {
        let Self {
            handle,
            events,
            task,
            dir,
            ..
        } = self;
        drop(events);
        let _ = handle.send(Command::Quit).await;
        if tokio::time::timeout(WAIT, task).await.is_err() {
            eprintln!("  (a node did not stop in time)");
        }
        drop(dir);
    }

    /// Reads and drops every event in the background (showing the first errors) until the node
    /// stops; returns its handle and the task that ends once it has stopped.
    pub fn drain(self) -> (NodeHandle, JoinHandle<()>) {
        let Self {
            name,
            handle,
            mut events,
            task,
            dir,
            ..
        } = self;
        let drained = tokio::spawn(async move {
            while let Some(notice) = events.recv().await {
                if let Event::Error { message, .. } = notice.event {
                    show_error(&name, &message);
                }
            }
            let _ = tokio::time::timeout(WAIT, task).await;
            drop(dir);
        });
        (handle, drained)
    }
}

/// Bytes of text in each measured message.
pub const TEXT_BYTES: usize = 100;

/// The text of message `i`: its number, padded to [`TEXT_BYTES`].
pub fn numbered(i: usize) -> String {
    format!("{i:0width$}", width = TEXT_BYTES)
}

/// Shows the first few errors of drained nodes (many nodes failing alike would flood the
/// output).
fn show_error(name: &Name, message: &str) {
    const SHOWN: usize = 5;
    static ERRORS: AtomicUsize = AtomicUsize::new(0);
    match ERRORS.fetch_add(1, Ordering::Relaxed) {
        n if n < SHOWN => eprintln!("  ({name}: {message})"),
        SHOWN => eprintln!("  (more errors of drained nodes not shown)"),
        _ => {}
    }
}
