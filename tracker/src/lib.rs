//! natter's tracker: membership only (who is in which group, who is online, where).
//!
//! The tracker never sees a chat message. Peers keep one connection to it, say hello,
//! join and leave groups and look each other up; it pushes full member lists on join and
//! deltas after that, each stamped with the group's version, and keeps membership in a
//! state file so a restart (even after `kill -9`) forgets nobody.
//!
//! Every connection is a Noise session ([`natter_protocol::secure::accept`]) before any
//! frame: the tracker has a long-term identity key, and a peer is the key that completed
//! the handshake. A name is bound to the first key that registers it.
//!
//! Layers: [`registry`] is the pure state machine ([`govern`] holds its rules for groups
//! with owners: roles, admission, signed actions), [`state_file`] the durable copy,
//! `hub` the task that owns both, `connection` one task per peer (fed by its `outbox`)
//! and `server` the accept loop; `rates` keeps the per-key and per-address budgets and
//! `localize` fixes the addresses of peers on the tracker's own machine for each
//! recipient; `probe` dials a peer back when it asks whether it can be reached;
//! [`limits`] holds every limit's default. [`run`] wires them together; the peer
//! binary embeds it for `--host-tracker`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use natter_protocol::Identity;

pub mod confusable;
mod connection;
pub mod govern;
mod hub;
pub mod limits;
mod localize;
mod outbox;
mod probe;
mod queued;
mod rates;
pub mod registry;
mod server;
pub mod state_file;

pub use server::run;

/// How the tracker runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where membership is kept across restarts.
    pub state_file: PathBuf,
    /// How often the tracker pings each peer; a peer silent for three of these is dropped.
    pub heartbeat: Duration,
    /// The largest frame accepted or sent, in bytes.
    pub max_frame: usize,
    /// Registered peers served at once; past it a new peer is refused (`rate_limited`)
    /// after its handshake.
    pub max_connections: usize,
    /// Connections at once still in their handshake or before their hello; a newcomer
    /// past it evicts the oldest of them (see [`limits::MAX_UNAUTHENTICATED`]).
    pub max_unauthenticated: usize,
    /// Connections served at once from one remote IP address; more are closed at once.
    pub max_connections_per_ip: usize,
    /// Reachability probes dialling at once, for every connection together; past it a
    /// probe is refused (`rate_limited`) until one ends.
    pub max_probes: usize,
    /// Apply the per-address limits (connections, join/leave and new names per address)
    /// to loopback connections too. Off by default: those limits are against remote abuse,
    /// while the tracker's own machine runs the host's client (`--host-tracker`) and the
    /// scripts, bots and tests that drive many peers at once.
    pub limit_loopback: bool,
    /// How long a connection gets to finish its Noise handshake.
    pub handshake_timeout: Duration,
    /// How long a presence-only change may wait before the state file is written.
    pub presence_save_delay: Duration,
    /// The tracker's long-term identity key file, loaded (or created, mode 0600) by [`run`]
    /// unless `identity` is set.
    pub key_file: PathBuf,
    /// The tracker's identity, if the caller already loaded it (takes precedence over
    /// `key_file`).
    pub identity: Option<Arc<Identity>>,
}

impl Config {
    /// Defaults: 10 s heartbeat and the other limits in [`limits`]; the key file beside the
    /// state file, with extension `.key` (`tracker.json` → `tracker.key`).
    pub fn new(state_file: PathBuf) -> Self {
        Self {
            key_file: default_key_file(&state_file),
            state_file,
            heartbeat: Duration::from_secs(10),
            max_frame: limits::MAX_FRAME,
            max_connections: limits::MAX_CONNECTIONS,
            max_unauthenticated: limits::MAX_UNAUTHENTICATED,
            max_connections_per_ip: limits::MAX_CONNECTIONS_PER_IP,
            max_probes: limits::MAX_PROBES_IN_FLIGHT,
            limit_loopback: false,
            handshake_timeout: limits::HANDSHAKE_TIMEOUT,
            presence_save_delay: limits::PRESENCE_SAVE_DELAY,
            identity: None,
        }
    }
}

/// Where the tracker keeps its identity key by default: the state file's path with the
/// extension `.key`.
pub fn default_key_file(state_file: &std::path::Path) -> PathBuf {
    state_file.with_extension("key")
}

/// Loads the tracker's identity from `path`, creating it (mode 0600) on first run.
pub fn load_identity(path: &std::path::Path) -> anyhow::Result<Identity> {
    use anyhow::Context as _;
    let (identity, created) = Identity::load_or_create(path)
        .with_context(|| format!("cannot load the tracker key {}", path.display()))?;
    if created {
        tracing::info!(path = %path.display(), key = %identity.public_key(), "created the tracker key");
    }
    Ok(identity)
}

/// Binds a listener through the shared [`natter_protocol::net::bind`]: `SO_REUSEADDR` (a
/// restarted tracker gets its port back at once) and a backlog of 1024, so hundreds of
/// peers connecting together are queued rather than refused.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    natter_protocol::net::bind(addr)
}
