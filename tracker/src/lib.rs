//! natter's tracker: membership only (who is in which group, who is online, where).
//!
//! The tracker never sees a chat message. Peers keep one connection to it, say hello,
//! join and leave groups and look each other up; it pushes full member lists on join and
//! deltas after that, each stamped with the group's version, and keeps membership in a
//! state file so a restart (even after `kill -9`) forgets nobody.
//!
//! Layers: [`registry`] is the pure state machine, [`state_file`] the durable copy,
//! `hub` the task that owns both, `connection` one task per peer and `server` the accept
//! loop. [`run`] wires them together; the peer binary embeds it for `--host-tracker`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod connection;
mod hub;
pub mod registry;
mod server;
pub mod state_file;

pub use server::run;

/// How many pending connections the listener queues (tokio's `bind` queues only 128).
const LISTEN_BACKLOG: u32 = 1024;

/// How the tracker runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where membership is kept across restarts.
    pub state_file: PathBuf,
    /// How often the tracker pings each peer; a peer silent for three of these is dropped.
    pub heartbeat: Duration,
    /// The largest frame accepted or sent, in bytes.
    pub max_frame: usize,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Config {
    /// Defaults: 10 s heartbeat, the protocol's frame limit, 4096 connections.
    pub fn new(state_file: PathBuf) -> Self {
        Self {
            state_file,
            heartbeat: Duration::from_secs(10),
            max_frame: natter_protocol::DEFAULT_MAX_FRAME,
            max_connections: 4096,
        }
    }
}

/// Binds a listener through `TcpSocket`, with `SO_REUSEADDR` (a restarted tracker gets its
/// port back at once) and a backlog of 1024, so hundreds of peers connecting together are
/// queued rather than refused.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
