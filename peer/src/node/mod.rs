//! The node: one peer's networking and state, driven through [`api`].
//!
//! The decisions live in [`core`], a plain state machine; [`actor`] is the thin shell
//! that feeds it and carries out what it asks. Around them: one [`connection`] task per
//! peer connection (dialled by the shell, accepted by the [`listener`]), the
//! [`tracker_link`] task, and the [`data_files`] writer thread. [`start`] loads the
//! identity (`identity.json`), the member cache and the trust files, binds the listener
//! and spawns them all. Every link is a Noise session (see `natter_protocol::secure`).

pub mod api;
pub mod core;

pub mod actions;
mod actor;
mod cache_file;
mod connection;
mod data_files;
pub mod diagnosis;
mod disk_thread;
mod error;
mod json_file;
mod keys;
mod listener;
mod member_list;
#[cfg(test)]
mod member_list_tests;
pub mod members;
pub mod store;
mod tracker_link;
mod trust;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use natter_protocol::{Identity, Name, PublicKey};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use api::{
    About, Action, Command, ErrorCode, Event, NodeError, NodeHandle, NodeStopped, Notice,
    ReceiptState, Request, Target, TrackerStatus,
};
pub use cache_file::FILE_NAME as CACHE_FILE_NAME;
pub use core::outbox::Limits as OutboxLimits;
pub use keys::{BLOCKED_FILE, PEER_PINS_FILE, TRACKER_PINS_FILE};
pub use store::FILE_NAME as STORE_FILE;

/// The peer's identity key file in its data directory.
pub const IDENTITY_FILE: &str = "identity.json";

/// Creates the data directory (and any missing parents), readable by its owner only.
fn create_data_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub name: Name,
    /// The tracker's address, `host:port`.
    pub tracker: String,
    /// Where to listen for other peers (`0.0.0.0:0`: every interface, any port).
    pub listen: SocketAddr,
    /// Holds `identity.json`, `natter.db`, `members.json` and the trust files.
    pub data_dir: PathBuf,
    /// How long a connection may leave a message unacknowledged before it is presumed
    /// dead, dropped, and its messages retried on a new one.
    pub ack_timeout: Duration,
    /// The tracker's expected key (`--tracker-key`): replaces the pin for this tracker.
    pub tracker_key: Option<PublicKey>,
    /// How often, at most, `members.json` is written. Member lists change in bursts (a
    /// join in a big group reaches every member at once; a reconnect brings every
    /// snapshot) and each write is a synced file, so the actor writes once per burst. A
    /// crash loses at most this much of the cache, which the next tracker push restores.
    pub cache_save_every: Duration,
    /// How many messages may wait for their recipients.
    pub outbox: OutboxLimits,
    /// How long a message waits for a recipient before it is given up (30 days).
    pub expire_after: Duration,
    /// Keep messages in memory only (no `natter.db`): for measuring what the store costs.
    pub ephemeral: bool,
    /// A wait before each store commit: for tests that kill a node while a write is on
    /// its way. Zero in use.
    pub store_delay: Duration,
    /// Send read receipts (`--no-receipts` turns them off; so does `/receipts off`).
    pub receipts: bool,
    /// Send typing notices (`--no-typing-notices`; `/typing-notices off`).
    pub typing_notices: bool,
}

impl NodeConfig {
    pub fn new(name: Name, tracker: String, listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            name,
            tracker,
            listen,
            data_dir,
            ack_timeout: Duration::from_secs(10),
            tracker_key: None,
            cache_save_every: Duration::from_millis(500),
            outbox: OutboxLimits::default(),
            expire_after: Duration::from_secs(30 * 24 * 3600),
            ephemeral: false,
            store_delay: Duration::ZERO,
            receipts: true,
            typing_notices: true,
        }
    }
}

/// A running node.
pub struct Node {
    pub handle: NodeHandle,
    /// The node's events; the first is always [`Event::Ready`]. Ends after `/quit`.
    pub events: mpsc::Receiver<Notice>,
    /// The address actually bound.
    pub listen: SocketAddr,
    /// This node's identity key.
    pub key: PublicKey,
    /// The node's shell; finishes after `/quit`, once every connection is closed.
    pub task: JoinHandle<()>,
}

const COMMAND_QUEUE: usize = 256;
const EVENT_QUEUE: usize = 1024;
const REPORT_QUEUE: usize = 1024;

/// Starts a node. Fails when the data directory is used by another natter, or it, a trust
/// file in it (`keys.json`, `blocked.json`, `trackers.json`), the store (`natter.db`) or the
/// listen address is unusable; an unreachable tracker is retried in the background.
pub async fn start(config: NodeConfig) -> anyhow::Result<Node> {
    create_data_dir(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    // Before anything in the directory is read: one process per data directory.
    let lock = store::DirLock::acquire(&config.data_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let identity_path = config.data_dir.join(IDENTITY_FILE);
    let (identity, created) = Identity::load_or_create(&identity_path)
        .with_context(|| format!("cannot load the identity {}", identity_path.display()))?;
    if created {
        tracing::info!(path = %identity_path.display(), key = %identity.public_key(), "created a new identity");
    }
    let identity = Arc::new(identity);
    let mut loaded = data_files::load(&config.data_dir).map_err(anyhow::Error::msg)?;
    let (store, stored) = if config.ephemeral {
        store::Store::in_memory(identity.public_key())
    } else {
        store::Store::open(&config.data_dir, identity.public_key())
    }
    .map_err(anyhow::Error::msg)?;
    let listener = bind_listener(config.listen, stored.listen_port, &mut loaded.warnings)?;
    let listen = listener.local_addr().context("no local address")?;
    if !loaded.cache.tracker.is_empty() && loaded.cache.tracker != config.tracker {
        tracing::info!(
            cached = %loaded.cache.tracker,
            tracker = %config.tracker,
            "member cache came from another tracker; re-announcing its groups here"
        );
    }
    let cache = members::MemberCache::from_groups(loaded.cache.groups);
    let mut tracker_pins = loaded.tracker_pins;
    // Tracker pins are kept by resolved address. A literal address with nothing else
    // pinned is pinned at once (the pin is what the user asked for, whatever happens
    // next). A host name, or a key that replaces another pin, is pinned by the tracker
    // link once it has reached the tracker and the tracker proved the key; the core then
    // warns of the replaced key (`tracker_key_replaced`).
    let mut pinned_now = false;
    if let Some(key) = config.tracker_key
        && let Ok(addr) = config.tracker.parse::<SocketAddr>()
    {
        let addr = addr.to_string();
        if tracker_pins.get(&addr).is_none_or(|pinned| pinned == key) {
            pinned_now = tracker_pins.set(addr, key);
        }
    }

    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE);
    let (tracker_req_tx, tracker_req_rx) = mpsc::channel(REPORT_QUEUE);
    let (tracker_rep_tx, tracker_rep_rx) = mpsc::channel(REPORT_QUEUE);
    let (conn_tx, conn_rx) = mpsc::channel(REPORT_QUEUE);
    let (saved_tx, saved_rx) = mpsc::unbounded_channel();
    let (groups_tx, groups_rx) = watch::channel(cache.group_names());
    let writer = data_files::spawn_writer(config.data_dir.clone(), saved_tx)
        .context("cannot start the writer thread")?;
    let (stored_tx, stored_rx) = mpsc::unbounded_channel();
    let store = store::spawn_thread(store, stored_tx, config.store_delay)
        .context("cannot start the store thread")?;
    if stored.listen_port != Some(listen.port()) {
        // Token 0: the core numbers its jobs from 1, so nothing waits on this one.
        store.submit(store::Job::Write(
            0,
            store::Write::ListenPort(listen.port()),
        ));
    }

    let link = tracker_link::LinkSetup {
        tracker: config.tracker.clone(),
        name: config.name.clone(),
        listen_port: listen.port(),
        identity: identity.clone(),
        pins: tracker_pins.clone(),
        forced_key: config.tracker_key,
    };
    tasks.spawn(tracker_link::run(
        link,
        groups_rx,
        tracker_req_rx,
        tracker_rep_tx,
        cancel.child_token(),
    ));
    let local = connection::Local {
        name: config.name.clone(),
        identity: identity.clone(),
        listen_port: listen.port(),
    };
    tasks.spawn(listener::run(
        listener,
        local.clone(),
        conn_tx.clone(),
        tasks.clone(),
        cancel.child_token(),
    ));

    let key = identity.public_key();
    let setup = core::Setup {
        name: config.name,
        identity,
        tracker_addr: config.tracker,
        listen,
        ack_timeout: config.ack_timeout,
        cache_save_every: config.cache_save_every,
        cache,
        trust: loaded.trust,
        tracker_pins,
        tracker_key: config.tracker_key,
        stored,
        limits: config.outbox,
        expire_after: config.expire_after,
        seed: random_seed(),
        warnings: loaded.warnings,
        receipts: config.receipts,
        typing_notices: config.typing_notices,
    };
    let core = core::Core::new(setup, actor::now());
    if pinned_now {
        writer.submit(core::Save::TrackerPins(core.tracker_pins().clone()));
    }
    let inputs = actor::Inputs {
        commands: command_rx,
        commands_open: true,
        tracker: tracker_rep_rx,
        conns: conn_rx,
        saved: saved_rx,
        stored: stored_rx,
    };
    let wiring = actor::Wiring {
        events: event_tx,
        to_tracker: tracker_req_tx,
        groups: groups_tx,
        conn_reports: conn_tx,
        local,
        writer,
        store,
        lock,
        cancel,
        tasks,
    };
    let task = tokio::spawn(actor::run(core, inputs, wiring));
    Ok(Node {
        handle: NodeHandle::new(command_tx),
        events: event_rx,
        listen,
        key,
        task,
    })
}

/// Binds the listener. With no port asked for (`:0`), the port of the last run is tried
/// first, so members who know our address keep it; if it is taken, a fresh one (and a
/// warning).
fn bind_listener(
    asked: SocketAddr,
    last_port: Option<u16>,
    warnings: &mut Vec<String>,
) -> anyhow::Result<tokio::net::TcpListener> {
    if asked.port() == 0
        && let Some(port) = last_port
    {
        let again = SocketAddr::new(asked.ip(), port);
        match listener::bind(again) {
            Ok(bound) => return Ok(bound),
            Err(e) => warnings.push(format!(
                "cannot listen on port {port} again ({e}); listening on a new port, which \
                 members learn from the tracker or from us"
            )),
        }
    }
    listener::bind(asked).with_context(|| format!("cannot listen on {asked}"))
}

/// A seed for the core's jitter: random per process.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

#[cfg(test)]
mod tests;
