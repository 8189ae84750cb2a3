//! The node: one peer's networking and state, driven through [`api`].
//!
//! [`start`] binds the listener, loads the member cache and spawns the tasks: the node
//! actor (all state), the tracker link, the inbound listener and, on demand, one pooled
//! outbound link per peer address.

pub mod api;

mod actor;
mod cache_file;
mod ids;
mod link;
mod listener;
mod members;
mod outbox;
mod tracker_link;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use natter_protocol::Name;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use api::{Command, Event, NodeHandle, NodeStopped, Target, TrackerStatus};
pub use cache_file::FILE_NAME as CACHE_FILE_NAME;

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub name: Name,
    /// The tracker's address, `host:port`.
    pub tracker: String,
    /// Where to listen for other peers (`0.0.0.0:0`: every interface, any port).
    pub listen: SocketAddr,
    /// Holds `members.json`.
    pub data_dir: PathBuf,
    /// How long a recipient has to acknowledge a message before it counts as failed.
    pub ack_timeout: Duration,
}

impl NodeConfig {
    pub fn new(name: Name, tracker: String, listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            name,
            tracker,
            listen,
            data_dir,
            ack_timeout: Duration::from_secs(10),
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
    /// The node actor; finishes after `/quit`, once every connection is closed.
    pub task: JoinHandle<()>,
}

const COMMAND_QUEUE: usize = 256;
const EVENT_QUEUE: usize = 1024;
const REPORT_QUEUE: usize = 1024;

/// Starts a node. Fails only when the data directory or the listen address is unusable;
/// an unreachable tracker is retried in the background.
pub async fn start(config: NodeConfig) -> anyhow::Result<Node> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let listener = listener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let listen = listener.local_addr().context("no local address")?;
    let cache_path = config.data_dir.join(cache_file::FILE_NAME);
    let (file, startup_warning) = cache_file::load(&cache_path);
    if !file.tracker.is_empty() && file.tracker != config.tracker {
        tracing::info!(
            cached = %file.tracker,
            tracker = %config.tracker,
            "member cache came from another tracker; re-announcing its groups here"
        );
    }
    let cache = members::MemberCache::from_groups(file.groups);

    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE);
    let (tracker_req_tx, tracker_req_rx) = mpsc::channel(REPORT_QUEUE);
    let (tracker_rep_tx, tracker_rep_rx) = mpsc::channel(REPORT_QUEUE);
    let (link_tx, link_rx) = mpsc::channel(REPORT_QUEUE);
    let (inbound_tx, inbound_rx) = mpsc::channel(REPORT_QUEUE);
    let (groups_tx, groups_rx) = watch::channel(cache.group_names());

    let me = tracker_link::Identity {
        tracker: config.tracker.clone(),
        name: config.name.clone(),
        listen_port: listen.port(),
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
        inbound_tx,
        cancel.child_token(),
    ));

    let actor = actor::Actor::new(actor::Setup {
        name: config.name.clone(),
        tracker_addr: config.tracker,
        listen,
        ack_timeout: config.ack_timeout,
        cache_path,
        cache,
        startup_warning,
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
        task,
    })
}

#[cfg(test)]
mod tests;
