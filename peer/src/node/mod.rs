//! The node: one peer's networking and state, driven through [`api`].
//!
//! [`start`] loads the identity (`identity.json`), binds the listener, loads the member
//! cache and the trust files (pinned keys, tracker pins, blocked keys, seen sequence
//! numbers) and spawns the tasks: the node actor (all state), the tracker link, the inbound
//! listener and, on demand, one pooled outbound link per peer address. Every link is a
//! Noise session (see `natter_protocol::secure`).

pub mod api;

mod actor;
mod cache_file;
mod ids;
mod json_file;
mod keys;
mod link;
mod listener;
mod members;
mod outbox;
mod replay;
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

pub use api::{Command, Event, NodeHandle, NodeStopped, Target, TrackerStatus};
pub use cache_file::FILE_NAME as CACHE_FILE_NAME;
pub use keys::{BLOCKED_FILE, PEER_PINS_FILE, TRACKER_PINS_FILE};
pub use replay::FILE_NAME as SEEN_FILE;

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
    /// Holds `identity.json`, `members.json` and the trust files.
    pub data_dir: PathBuf,
    /// How long a recipient has to acknowledge a message before it counts as failed.
    pub ack_timeout: Duration,
    /// The tracker's expected key (`--tracker-key`): replaces the pin for this tracker.
    pub tracker_key: Option<PublicKey>,
    /// How often, at most, `members.json` is written. Member lists change in bursts (a
    /// join in a big group reaches every member at once; a reconnect brings every
    /// snapshot) and each write is a synced file, so the actor writes once per burst. A
    /// crash loses at most this much of the cache, which the next tracker push restores.
    pub cache_save_every: Duration,
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
        }
    }
}

/// A running node.
pub struct Node {
    pub handle: NodeHandle,
    /// The node's events; the first is always [`Event::Ready`]. Ends after `/quit`.
    pub events: mpsc::Receiver<Event>,
    /// The address actually bound.
    pub listen: SocketAddr,
    /// This node's identity key.
    pub key: PublicKey,
    /// The node actor; finishes after `/quit`, once every connection is closed.
    pub task: JoinHandle<()>,
}

const COMMAND_QUEUE: usize = 256;
const EVENT_QUEUE: usize = 1024;
const REPORT_QUEUE: usize = 1024;

/// Starts a node. Fails when the data directory, a trust file in it (`keys.json`,
/// `blocked.json`, `trackers.json`) or the listen address is unusable; an unreachable
/// tracker is retried in the background.
pub async fn start(config: NodeConfig) -> anyhow::Result<Node> {
    create_data_dir(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let identity_path = config.data_dir.join(IDENTITY_FILE);
    let (identity, created) = Identity::load_or_create(&identity_path)
        .with_context(|| format!("cannot load the identity {}", identity_path.display()))?;
    if created {
        tracing::info!(path = %identity_path.display(), key = %identity.public_key(), "created a new identity");
    }
    let identity = Arc::new(identity);
    let stores = actor::Stores::load(&config.data_dir).map_err(anyhow::Error::msg)?;
    let listener = listener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let listen = listener.local_addr().context("no local address")?;
    let cache_path = config.data_dir.join(cache_file::FILE_NAME);
    let (file, cache_warning) = cache_file::load(&cache_path);
    if !file.tracker.is_empty() && file.tracker != config.tracker {
        tracing::info!(
            cached = %file.tracker,
            tracker = %config.tracker,
            "member cache came from another tracker; re-announcing its groups here"
        );
    }
    let cache = members::MemberCache::from_groups(file.groups);
    let mut warnings: Vec<String> = cache_warning.into_iter().collect();
    warnings.extend(stores.warnings.iter().cloned());
    let mut tracker_pins = stores.tracker_pins.clone();
    // Tracker pins are kept by resolved address. A literal address is pinned at once (the
    // pin is what the user asked for, whatever happens next); a host name is pinned by the
    // tracker link once it has resolved and reached it.
    if let Some(key) = config.tracker_key
        && let Ok(addr) = config.tracker.parse::<SocketAddr>()
        && tracker_pins.set(addr.to_string(), key)
        && let Err(e) = json_file::save(&stores.tracker_pins_path, &tracker_pins)
    {
        warnings.push(format!(
            "cannot save {}: {e}",
            stores.tracker_pins_path.display()
        ));
    }

    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE);
    let (tracker_req_tx, tracker_req_rx) = mpsc::channel(REPORT_QUEUE);
    let (tracker_rep_tx, tracker_rep_rx) = mpsc::channel(REPORT_QUEUE);
    let (link_tx, link_rx) = mpsc::channel(REPORT_QUEUE);
    let (inbound_tx, inbound_rx) = mpsc::channel(REPORT_QUEUE);
    let (groups_tx, groups_rx) = watch::channel(cache.group_names());

    let me = tracker_link::Me {
        tracker: config.tracker.clone(),
        name: config.name.clone(),
        listen_port: listen.port(),
        identity: identity.clone(),
        pins: tracker_pins.clone(),
        forced_key: config.tracker_key,
    };
    tasks.spawn(tracker_link::run(
        me,
        groups_rx,
        tracker_req_rx,
        tracker_rep_tx,
        cancel.child_token(),
    ));
    tasks.spawn(listener::run(
        listener,
        config.name.clone(),
        identity.clone(),
        inbound_tx,
        cancel.child_token(),
    ));

    let key = identity.public_key();
    let actor = actor::Actor::new(actor::Setup {
        name: config.name.clone(),
        identity,
        tracker_addr: config.tracker,
        listen,
        ack_timeout: config.ack_timeout,
        cache_save_every: config.cache_save_every,
        cache_path,
        cache,
        stores: stores.with_tracker_pins(tracker_pins),
        warnings,
        events: event_tx,
        to_tracker: tracker_req_tx,
        groups: groups_tx,
        link_reports: link_tx,
        cancel,
        tasks,
    });
    let inputs = actor::Inputs {
        commands: command_rx,
        tracker: tracker_rep_rx,
        links: link_rx,
        inbound: inbound_rx,
    };
    let task = tokio::spawn(actor.run(inputs));
    Ok(Node {
        handle: NodeHandle::new(command_tx),
        events: event_rx,
        listen,
        key,
        task,
    })
}

#[cfg(test)]
mod tests;
