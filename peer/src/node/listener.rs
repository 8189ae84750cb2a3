//! Inbound peer connections: Noise handshake, hello exchange, then each signed chat frame
//! is checked, handed to the node with the link's authenticated key and, if the node takes
//! it (or has it already), acknowledged.
//!
//! The accept loop never dies of one connection's trouble: garbage, a failed or slow
//! handshake, an oversize frame or a wrong version closes that connection (with an error
//! frame where the session allows one). Limits: [`MAX_CONNECTIONS`] in total,
//! [`MAX_CONNECTIONS_PER_IP`] from one address, [`HANDSHAKE_TIMEOUT`] for the handshake,
//! [`HELLO_TIMEOUT`] for the hello and [`IDLE_TIMEOUT`] without a frame after it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use natter_protocol::peer::{ChatMessage, PeerFrame};
use natter_protocol::secure::{self, SecureFramed};
use natter_protocol::{CodecError, ErrorCode, Identity, Name, PROTOCOL_VERSION, PublicKey};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::trust::{Verdict, check_signed};

/// Pending connections the kernel queues (tokio's default of 128 overflows when hundreds
/// of peers connect at once).
const BACKLOG: u32 = 1024;
/// Inbound connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Inbound connections served at once from one remote IP address (tests run many peers on
/// 127.0.0.1, so it is generous); past it a new connection is closed at once.
pub const MAX_CONNECTIONS_PER_IP: usize = 256;
/// How long a new connection may take to finish the Noise handshake.
pub const HANDSHAKE_TIMEOUT: Duration = secure::DEFAULT_HANDSHAKE_TIMEOUT;
/// How long a connection may take to say hello after the handshake.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// An inbound link with no frame for this long is closed (the sender reconnects on its
/// next message).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long we wait to get an error frame out before closing.
const ERROR_TIMEOUT: Duration = Duration::from_secs(1);
/// Frames handled before the acks are flushed.
const BATCH: usize = 256;

type Conn = SecureFramed<TcpStream, PeerFrame, PeerFrame>;

/// What an inbound link asks the node.
#[derive(Debug)]
pub enum Inbound {
    /// May the key that completed the handshake speak as `name`? An error refuses the link.
    Hello {
        name: Name,
        key: PublicKey,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// A chat message whose signature by `key` (the link's key) was checked.
    Chat {
        key: PublicKey,
        message: ChatMessage,
        reply: oneshot::Sender<Verdict>,
    },
}

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

/// Accepts connections until cancelled. Each hello and message goes to `inbound`.
pub async fn run(
    listener: TcpListener,
    own_name: Name,
    identity: Arc<Identity>,
    inbound: mpsc::Sender<Inbound>,
    cancel: CancellationToken,
) {
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
        let own_name = own_name.clone();
        let identity = identity.clone();
        let inbound = inbound.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            tokio::select! {
                _ = cancel.cancelled() => {}
                r = serve(stream, own_name, &identity, inbound) => {
                    if let Err(e) = r {
                        tracing::debug!(peer = %remote, error = %e, "inbound connection closed");
                    }
                }
            }
            drop((permit, slot));
        });
    }
}

async fn serve(
    stream: TcpStream,
    own_name: Name,
    identity: &Identity,
    inbound: mpsc::Sender<Inbound>,
) -> Result<(), String> {
    let (mut conn, key): (Conn, PublicKey) = secure::accept(stream, identity, HANDSHAKE_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let peer = match timeout(HELLO_TIMEOUT, conn.next()).await {
        Err(_) => return Err("no hello".into()),
        Ok(None) => return Ok(()),
        Ok(Some(Err(e))) => return refuse_bad_frame(&mut conn, e).await,
        Ok(Some(Ok(PeerFrame::Hello { version, name }))) => {
            if version != PROTOCOL_VERSION {
                let message = format!(
                    "protocol version {version} is not spoken here (we speak {PROTOCOL_VERSION})"
                );
                return refuse(&mut conn, ErrorCode::VersionMismatch, message).await;
            }
            name
        }
        Ok(Some(Ok(_))) => {
            let message = "the first frame must be a hello".to_owned();
            return refuse(&mut conn, ErrorCode::HelloExpected, message).await;
        }
    };
    let (reply, verdict) = oneshot::channel();
    let hello = Inbound::Hello {
        name: peer.clone(),
        key,
        reply,
    };
    inbound.send(hello).await.map_err(|_| "node stopped")?;
    match verdict.await {
        Ok(Ok(())) => {}
        Ok(Err(message)) => return refuse(&mut conn, ErrorCode::Unauthorized, message).await,
        Err(_) => return Err("node stopped".into()),
    }
    let hello = PeerFrame::Hello {
        version: PROTOCOL_VERSION,
        name: own_name,
    };
    conn.send(hello).await.map_err(|e| e.to_string())?;
    let link = Link { peer, key };
    let mut verdicts = Vec::new();
    loop {
        let frame = match timeout(IDLE_TIMEOUT, conn.next()).await {
            Err(_) => return Err("idle".into()),
            Ok(None) => return Ok(()),
            Ok(Some(frame)) => frame,
        };
        link.handle(&mut conn, &inbound, frame, &mut verdicts)
            .await?;
        // Take whatever else is already buffered, then send all the acks at once.
        let mut closed = false;
        for _ in 1..BATCH {
            match conn.next().now_or_never() {
                Some(Some(frame)) => {
                    link.handle(&mut conn, &inbound, frame, &mut verdicts)
                        .await?
                }
                Some(None) => {
                    closed = true;
                    break;
                }
                None => break,
            }
        }
        for (id, verdict) in verdicts.drain(..) {
            match verdict.await {
                Ok(v) if v.acks() => {
                    conn.feed(PeerFrame::Ack { id })
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(Verdict::Refused(message)) => {
                    let error = PeerFrame::Error {
                        code: ErrorCode::Unauthorized,
                        message,
                    };
                    conn.feed(error).await.map_err(|e| e.to_string())?;
                }
                Ok(Verdict::KeyChanged(change)) => {
                    let error = PeerFrame::Error {
                        code: ErrorCode::Unauthorized,
                        message: format!("{}'s key changed; refused until trusted", change.name),
                    };
                    conn.feed(error).await.map_err(|e| e.to_string())?;
                }
                Ok(_) => {}
                Err(_) => return Err("node stopped".into()),
            }
        }
        conn.flush().await.map_err(|e| e.to_string())?;
        if closed {
            return Ok(());
        }
    }
}

/// The far side of an inbound link, as the handshake and hello established it.
struct Link {
    peer: Name,
    key: PublicKey,
}

type Pending = Vec<(natter_protocol::peer::MessageId, oneshot::Receiver<Verdict>)>;

impl Link {
    async fn handle(
        &self,
        conn: &mut Conn,
        inbound: &mpsc::Sender<Inbound>,
        frame: Result<PeerFrame, CodecError>,
        verdicts: &mut Pending,
    ) -> Result<(), String> {
        match frame {
            Err(e) => {
                refuse_bad_frame(conn, e).await?;
                Err("bad frame".into())
            }
            Ok(PeerFrame::Chat(chat)) => {
                if let Err(message) = check_signed(&self.peer, &self.key, &chat) {
                    tracing::warn!(peer = %self.peer, %message, "dropped a message");
                    let error = PeerFrame::Error {
                        code: ErrorCode::Unauthorized,
                        message,
                    };
                    return conn.feed(error).await.map_err(|e| e.to_string());
                }
                let (reply, verdict) = oneshot::channel();
                let id = chat.message.id.clone();
                let ask = Inbound::Chat {
                    key: self.key,
                    message: chat.message,
                    reply,
                };
                inbound.send(ask).await.map_err(|_| "node stopped")?;
                verdicts.push((id, verdict));
                Ok(())
            }
            Ok(PeerFrame::Hello { .. }) => {
                let message = "hello came twice".to_owned();
                refuse(conn, ErrorCode::HelloExpected, message).await?;
                Err("second hello".into())
            }
            // Acks and errors mean nothing on an inbound link; ignore them.
            Ok(PeerFrame::Ack { .. } | PeerFrame::Nack { .. } | PeerFrame::Error { .. }) => Ok(()),
        }
    }
}

async fn refuse_bad_frame(conn: &mut Conn, e: CodecError) -> Result<(), String> {
    // After a decryption failure the session is broken: nothing more can be sent.
    if e.is_protocol_violation() && !matches!(e, CodecError::Crypto(_)) {
        let message = e.to_string();
        refuse(conn, ErrorCode::BadFrame, message).await?;
    }
    Err(e.to_string())
}

/// Sends an error frame (best effort, briefly) before the connection closes.
async fn refuse(conn: &mut Conn, code: ErrorCode, message: String) -> Result<(), String> {
    let frame = PeerFrame::Error {
        code,
        message: message.clone(),
    };
    let _ = timeout(ERROR_TIMEOUT, conn.send(frame)).await;
    Err(message)
}
