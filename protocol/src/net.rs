//! The network shell the tracker and the peer share: binding a listener, the timeouts every
//! link uses, who may connect ([`Admission`]), the accept loop ([`serve`]) and the parting
//! error frame ([`part`]).
//!
//! A connection's life under [`serve`]: it is admitted with a [`Ticket`] (unauthenticated,
//! evictable), its handler runs the Noise handshake and reads the hello, then calls
//! [`Ticket::authenticated`] to take an established place; it ends when the handler returns,
//! which gives the place back. Every wait of a handler has one of the timeouts below.

mod admission;
pub mod buffers;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{Sink, SinkExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use admission::{
    Admission, Admitted, Book, Counts, Limits, Refusal, Ticket, address_key, is_loopback,
};

/// Pending connections the kernel queues per listener. tokio's `TcpListener::bind` queues
/// only 128, which hundreds of peers connecting at once overflow.
pub const LISTEN_BACKLOG: u32 = 1024;
/// How long a TCP connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a new connection may take to finish the Noise handshake.
pub const HANDSHAKE_TIMEOUT: Duration = crate::secure::DEFAULT_HANDSHAKE_TIMEOUT;
/// How long a connection may take to send its hello after the handshake.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a parting error frame may take to write before the connection is closed
/// anyway.
pub const PARTING_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause after a failed accept (out of file descriptors, say): retrying at once would spin
/// on the same error.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Binds `addr` through `TcpSocket`: `SO_REUSEADDR` (a restarted process gets its port back
/// at once) and a backlog of [`LISTEN_BACKLOG`]. Must be called inside a tokio runtime.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Connects to `addr` within [`CONNECT_TIMEOUT`], with `TCP_NODELAY` set (frames are
/// small and latency matters more than packet count).
pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Waits until `stream` has something to read (or is closed), at most `timeout`. A
/// connection that has sent nothing then costs its socket and a small task, not a
/// handshake's state and buffers: call it before starting the handshake.
pub async fn readable_within(stream: &TcpStream, timeout: Duration) -> io::Result<()> {
    tokio::time::timeout(timeout, stream.readable())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "nothing received"))?
}

/// Accepts connections on `listener` until `cancel` is cancelled, admitting each through
/// `admission` and spawning `handler(stream, ticket)` on `tasks`.
///
/// The loop never waits for a place: a connection refused by the per-address cap is closed
/// at once, and one that finds the unauthenticated budget full evicts the oldest
/// unauthenticated connection (whose ticket token is cancelled). The handler must end
/// promptly when `ticket.token()` is cancelled (eviction or shutdown; the ticket's token
/// is a child of `cancel`), and should call [`Ticket::authenticated`] once its peer proved
/// who it is. An accept error pauses the loop for [`ACCEPT_BACKOFF`]; one connection's
/// failure never ends it. `TCP_NODELAY` is set on every accepted stream.
///
/// Returns when `cancel` is cancelled; the caller then closes and drains `tasks`.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    admission: Admission,
    tasks: &TaskTracker,
    cancel: CancellationToken,
    mut handler: F,
) where
    F: FnMut(TcpStream, Ticket) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = cancel.cancelled() => return,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    () = cancel.cancelled() => return,
                }
            }
        };
        match admission.admit(remote, cancel.child_token()) {
            Ok(ticket) => {
                let _ = stream.set_nodelay(true);
                tracing::trace!(conn = ticket.id(), peer = %remote, "accepted");
                tasks.spawn(handler(stream, ticket));
            }
            Err(refusal) => {
                tracing::info!(peer = %remote, %refusal, "connection refused on accept");
            }
        }
    }
}

/// Sends one parting frame (an error, say) on `sink` within [`PARTING_TIMEOUT`], best
/// effort: a peer that does not read must not hold the connection open. True if it went
/// out. Close the connection after it.
pub async fn part<S, T>(sink: &mut S, frame: T) -> bool
where
    S: Sink<T> + Unpin,
{
    matches!(
        tokio::time::timeout(PARTING_TIMEOUT, sink.send(frame)).await,
        Ok(Ok(()))
    )
}
