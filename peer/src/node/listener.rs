//! The listener: admits connections from other peers through the shared network shell
//! (`natter_protocol::net`) and runs each as a [`connection`](super::connection) task on
//! the node's `TaskTracker`, so shutdown waits for it.
//!
//! Connections still in their handshake have a budget of their own
//! ([`MAX_UNAUTHENTICATED`]): when it is full, a newcomer evicts the oldest of them rather
//! than wait, so a flood of silent sockets cannot lock honest peers out. Established ones
//! are capped at [`MAX_CONNECTIONS`], and one address (an IPv6 /64) holds at most
//! [`MAX_PER_ADDRESS`]; loopback is exempt from that last cap, since scripts and tests run
//! many peers on one machine.

use natter_protocol::net::{self, Admission, Limits};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::{self, Local, Report};
use super::core::ConnId;

/// Peer connections served at once, after their handshake.
pub const MAX_CONNECTIONS: usize = 1024;
/// Connections still in their handshake (or before their hello) at once.
pub const MAX_UNAUTHENTICATED: usize = 128;
/// Connections from one address (an IPv6 /64) at once.
pub const MAX_PER_ADDRESS: usize = 64;

/// Binds `addr` with a large backlog.
pub use natter_protocol::net::bind;

/// Accepts connections until cancelled; each reports to `reports`.
pub async fn run(
    listener: TcpListener,
    local: Local,
    reports: mpsc::Sender<Report>,
    tasks: TaskTracker,
    cancel: CancellationToken,
) {
    let limits =
        Limits::new(MAX_CONNECTIONS, MAX_UNAUTHENTICATED, MAX_PER_ADDRESS).exempting_loopback(true);
    net::serve(
        listener,
        Admission::new(limits),
        &tasks,
        cancel,
        |stream, ticket| {
            let conn = ConnId::Accepted(ticket.id());
            connection::accepted(conn, stream, ticket, local.clone(), reports.clone())
        },
    )
    .await;
}
