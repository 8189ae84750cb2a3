//! The reachability probe: can the tracker connect back to a peer where it says it listens?
//!
//! The address is never one the peer names: it is the IP its tracker connection came from
//! and the listen port of its hello, so the probe cannot be used to make the tracker dial
//! anyone else. The tracker connects within [`PROBE_TIMEOUT`], runs the Noise handshake
//! demanding the peer's own key (something else listening there is not the peer), and
//! hangs up before any frame: the peer's listener sees a connection that never says hello.
//! One probe at a time per connection; each is charged to the join and leave budgets by
//! the hub.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use natter_protocol::peer::PeerFrame;
use natter_protocol::secure::{self, SecureFramed};
use natter_protocol::{Identity, PublicKey};
use tokio::net::TcpStream;

pub use crate::limits::PROBE_TIMEOUT;

/// Dials `addr` and checks that `expected` answers there, all within `timeout`. The error
/// says in plain words what went wrong.
pub async fn reach(
    addr: SocketAddr,
    identity: &Identity,
    expected: &PublicKey,
    timeout: Duration,
) -> Result<(), String> {
    if addr.port() == 0 {
        return Err("your hello announced no listen port".into());
    }
    let started = Instant::now();
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => {
            return Err(format!(
                "no answer within {} s (a firewall or a NAT router drops the connection)",
                timeout.as_secs()
            ));
        }
        Ok(Err(e)) => return Err(format!("cannot connect: {e}")),
        Ok(Ok(stream)) => stream,
    };
    let left = timeout.saturating_sub(started.elapsed());
    let handshake: Result<(SecureFramed<TcpStream, PeerFrame, PeerFrame>, _), _> =
        secure::initiate(stream, identity, Some(expected), left).await;
    match handshake {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("something answered but it is not you: {e}")),
    }
}
