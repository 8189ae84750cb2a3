//! The listener: accepts connections from other peers and runs each as a
//! [`connection`](super::connection) task, tracked so shutdown waits for it.
//!
//! The accept loop never dies of one connection's trouble. Limits: [`MAX_CONNECTIONS`] in
//! total and [`MAX_CONNECTIONS_PER_IP`] from one address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::{self, Local, Report};
use super::core::ConnId;

/// How long a connect may take before the peer counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the Noise handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = natter_protocol::secure::DEFAULT_HANDSHAKE_TIMEOUT;
/// How long the far side may take to say hello after the handshake.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long we wait to get a parting error frame out before closing.
pub const PARTING_TIMEOUT: Duration = Duration::from_secs(1);
/// Pending connections the kernel queues (tokio's default of 128 overflows when hundreds
/// of peers connect at once).
const BACKLOG: u32 = 1024;
/// Inbound connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Inbound connections served at once from one remote IP address (tests run many peers on
/// 127.0.0.1, so it is generous); past it a new connection is closed at once.
pub const MAX_CONNECTIONS_PER_IP: usize = 256;

/// Binds `addr` with a large backlog.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Connections per remote IP; a [`PerIpSlot`] gives its place back when dropped.
#[derive(Debug, Default, Clone)]
struct PerIp(Arc<Mutex<HashMap<IpAddr, usize>>>);

struct PerIpSlot {
    ip: IpAddr,
    counts: PerIp,
}

impl PerIp {
    fn take(&self, ip: IpAddr) -> Option<PerIpSlot> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_default();
        if *n >= MAX_CONNECTIONS_PER_IP {
            return None;
        }
        *n += 1;
        Some(PerIpSlot {
            ip,
            counts: self.clone(),
        })
    }
}

impl Drop for PerIpSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Accepts connections until cancelled; each reports to `reports`.
pub async fn run(
    listener: TcpListener,
    local: Local,
    reports: mpsc::Sender<Report>,
    tasks: TaskTracker,
    cancel: CancellationToken,
) {
    let next_id = AtomicU64::new(0);
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_ip = PerIp::default();
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, remote) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = per_ip.take(remote.ip()) else {
            tracing::warn!(peer = %remote, "too many connections from this address; closing");
            continue;
        };
        let conn = ConnId::Accepted(next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let local = local.clone();
        let reports = reports.clone();
        let cancel = cancel.child_token();
        tasks.spawn(async move {
            let _ = stream.set_nodelay(true);
            tracing::debug!(peer = %remote, %conn, "accepted");
            connection::accepted(conn, stream, local, reports, cancel).await;
            drop((permit, slot));
        });
    }
}
