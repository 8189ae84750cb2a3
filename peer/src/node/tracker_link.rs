//! The tracker link: one task that keeps a connection to the tracker, forever.
//!
//! It connects, runs the Noise handshake (demanding the tracker's pinned key; on first
//! contact it pins the key it met, by the address the tracker's name resolved to), says
//! hello with the groups the node believes it is in (so a tracker that lost its state
//! rebuilds it), answers pings, forwards pushes to the node and sends the
//! node's requests. When the connection fails, or the tracker stays silent for three
//! heartbeats (a half-open connection), it reconnects with exponential backoff and jitter.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use natter_protocol::secure::{self, HandshakeError, SecureFramed};
use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use natter_protocol::{GroupName, Identity, Name, PROTOCOL_VERSION, PublicKey};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

use super::core::TrackerInput;
use super::keys::TrackerPins;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const WELCOME_TIMEOUT: Duration = Duration::from_secs(5);
const HANDSHAKE_TIMEOUT: Duration = secure::DEFAULT_HANDSHAKE_TIMEOUT;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

type Conn = SecureFramed<TcpStream, TrackerToPeer, PeerToTracker>;

/// Who we are to the tracker, and whom we expect.
#[derive(Debug, Clone)]
pub struct LinkSetup {
    pub tracker: String,
    pub name: Name,
    pub listen_port: u16,
    pub identity: Arc<Identity>,
    /// The pinned tracker keys, by resolved address (`addr:port` text).
    pub pins: TrackerPins,
    /// The key given with `--tracker-key`: demanded whatever the pin says, and pinned.
    pub forced_key: Option<PublicKey>,
}

/// Why a session ended.
enum End {
    Stop,
    Failed {
        reason: String,
        was_up: bool,
        /// The request that was being sent when the link dropped.
        unsent: Option<PeerToTracker>,
    },
}

/// Keeps the link until cancelled or the node goes away.
pub async fn run(
    mut me: LinkSetup,
    groups: watch::Receiver<Vec<GroupName>>,
    mut requests: mpsc::Receiver<PeerToTracker>,
    reports: mpsc::Sender<TrackerInput>,
    cancel: CancellationToken,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let end = tokio::select! {
            _ = cancel.cancelled() => End::Stop,
            end = session(&mut me, &groups, &mut requests, &reports) => end,
        };
        let End::Failed {
            reason,
            was_up,
            unsent,
        } = end
        else {
            return;
        };
        tracing::info!(tracker = %me.tracker, %reason, "tracker link down");
        if let Some(request) = unsent {
            let reason = reason.clone();
            if reports
                .send(TrackerInput::Unsent { request, reason })
                .await
                .is_err()
            {
                return;
            }
        }
        if reports
            .send(TrackerInput::Disconnected { reason })
            .await
            .is_err()
        {
            return;
        }
        if was_up {
            backoff = FIRST_BACKOFF;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(with_jitter(backoff)) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Adds up to a quarter of `d` at random, so peers that lost the tracker together do not
/// all knock at the same instant.
fn with_jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let quarter = (d.as_millis() / 4).max(1);
    d + Duration::from_millis(u64::try_from(u128::from(nanos) % quarter).unwrap_or(0))
}

fn failed(reason: impl Into<String>, was_up: bool) -> End {
    End::Failed {
        reason: reason.into(),
        was_up,
        unsent: None,
    }
}

async fn session(
    me: &mut LinkSetup,
    groups: &watch::Receiver<Vec<GroupName>>,
    requests: &mut mpsc::Receiver<PeerToTracker>,
    reports: &mpsc::Sender<TrackerInput>,
) -> End {
    let mut conn = match connect(me, groups, reports).await {
        Ok(Some(c)) => c,
        Ok(None) => return End::Stop,
        Err(reason) => return failed(reason, false),
    };
    let heartbeat = conn.1;
    let conn = &mut conn.0;
    let silence = heartbeat.saturating_mul(3);
    let mut deadline = Instant::now() + silence;
    loop {
        tokio::select! {
            req = requests.recv() => {
                let Some(req) = req else { return End::Stop };
                if let Err(e) = conn.send(req.clone()).await {
                    return End::Failed { reason: e.to_string(), was_up: true, unsent: Some(req) };
                }
            }
            frame = conn.next() => {
                deadline = Instant::now() + silence;
                let frame = match frame {
                    None => return failed("the tracker closed the connection", true),
                    Some(Err(e)) => return failed(e.to_string(), true),
                    Some(Ok(frame)) => frame,
                };
                match frame {
                    TrackerToPeer::Ping { nonce } => {
                        if let Err(e) = conn.send(PeerToTracker::Pong { nonce }).await {
                            return failed(e.to_string(), true);
                        }
                    }
                    TrackerToPeer::Pong { .. } => {}
                    push => {
                        if reports.send(TrackerInput::Push(push)).await.is_err() {
                            return End::Stop;
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                let reason = format!("no word from the tracker for {}s", silence.as_secs());
                return failed(reason, true);
            }
        }
    }
}

/// Connects and says hello. `Ok(None)`: the node is gone. Returns the connection and the
/// heartbeat interval.
async fn connect(
    me: &mut LinkSetup,
    groups: &watch::Receiver<Vec<GroupName>>,
    reports: &mpsc::Sender<TrackerInput>,
) -> Result<Option<(Conn, Duration)>, String> {
    let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(me.tracker.as_str())).await {
        Err(_) => return Err("connection timed out".into()),
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    // Pins are kept by the address the name resolved to, not by how it was written.
    let addr = stream.peer_addr().map_err(|e| e.to_string())?.to_string();
    let expected = me.forced_key.or_else(|| me.pins.get(&addr));
    let handshake = secure::initiate(stream, &me.identity, expected.as_ref(), HANDSHAKE_TIMEOUT);
    let mut conn = match handshake.await {
        Ok((conn, key)) => {
            if me.pins.set(addr.clone(), key)
                && reports
                    .send(TrackerInput::Pinned { addr, key })
                    .await
                    .is_err()
            {
                return Ok(None);
            }
            conn
        }
        Err(HandshakeError::KeyMismatch { expected, got }) => {
            // A key the user gave (`--tracker-key`, an invite) is not a pin that changed:
            // the tracker is not the one the user was told about.
            let given = me.forced_key.is_some();
            let report = if given {
                TrackerInput::KeyMismatch {
                    given: expected,
                    presented: got,
                }
            } else {
                TrackerInput::KeyChanged {
                    pinned: expected,
                    presented: got,
                }
            };
            if reports.send(report).await.is_err() {
                return Ok(None);
            }
            return Err(if given {
                format!("the tracker's key is not the one you were given (it presented {got})")
            } else {
                format!("the tracker's key changed (it presented {got})")
            });
        }
        Err(e) => return Err(e.to_string()),
    };
    let hello = PeerToTracker::Hello {
        version: PROTOCOL_VERSION,
        name: me.name.clone(),
        listen_port: me.listen_port,
        groups: groups.borrow().clone(),
    };
    conn.send(hello).await.map_err(|e| e.to_string())?;
    match timeout(WELCOME_TIMEOUT, conn.next()).await {
        Err(_) => Err("no welcome from the tracker".into()),
        Ok(None) => Err("the tracker closed the connection".into()),
        Ok(Some(Err(e))) => Err(e.to_string()),
        Ok(Some(Ok(TrackerToPeer::Welcome { heartbeat_secs, .. }))) => {
            if reports.send(TrackerInput::Connected).await.is_err() {
                return Ok(None);
            }
            Ok(Some((
                conn,
                Duration::from_secs(heartbeat_secs.clamp(1, 3600)),
            )))
        }
        Ok(Some(Ok(TrackerToPeer::Error { code, message, .. }))) => {
            let refused = TrackerInput::Refused {
                code,
                message: message.clone(),
            };
            if reports.send(refused).await.is_err() {
                return Ok(None);
            }
            Err(format!("the tracker refused us: {message}"))
        }
        Ok(Some(Ok(_))) => Err("the tracker did not answer with a welcome".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_adds_at_most_a_quarter() {
        for ms in [1, 250, 10_000] {
            let d = Duration::from_millis(ms);
            let j = with_jitter(d);
            assert!(j >= d && j <= d + d / 4 + Duration::from_millis(1));
        }
    }
}
