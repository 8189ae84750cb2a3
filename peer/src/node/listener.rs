//! Inbound peer connections: hello exchange, then each chat frame is checked, handed to
//! the node and acknowledged.
//!
//! The accept loop never dies of one connection's trouble: garbage, an oversize frame or a
//! wrong version gets an error frame where possible and that connection closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use natter_protocol::peer::{ChatMessage, PeerFrame};
use natter_protocol::{CodecError, ErrorCode, FrameCodec, Name, PROTOCOL_VERSION};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::timeout;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// Pending connections the kernel queues (tokio's default of 128 overflows when hundreds
/// of peers connect at once).
const BACKLOG: u32 = 1024;
/// Inbound connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a new connection may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long we wait to get an error frame out before closing.
const ERROR_TIMEOUT: Duration = Duration::from_secs(1);
/// Frames handled before the acks are flushed.
const BATCH: usize = 256;

type Conn = Framed<TcpStream, FrameCodec<PeerFrame, PeerFrame>>;

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

/// Accepts connections until cancelled. Each message received goes to `inbound`.
pub async fn run(
    listener: TcpListener,
    own_name: Name,
    inbound: mpsc::Sender<ChatMessage>,
    cancel: CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
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
        let own_name = own_name.clone();
        let inbound = inbound.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let framed = Framed::new(stream, FrameCodec::default());
            tokio::select! {
                _ = cancel.cancelled() => {}
                r = serve(framed, own_name, inbound) => {
                    if let Err(e) = r {
                        tracing::debug!(peer = %remote, error = %e, "inbound connection closed");
                    }
                }
            }
            drop(permit);
        });
    }
}

async fn serve(
    mut conn: Conn,
    own_name: Name,
    inbound: mpsc::Sender<ChatMessage>,
) -> Result<(), String> {
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
    let hello = PeerFrame::Hello {
        version: PROTOCOL_VERSION,
        name: own_name,
    };
    conn.send(hello).await.map_err(|e| e.to_string())?;
    loop {
        let Some(frame) = conn.next().await else {
            return Ok(());
        };
        handle(&mut conn, &peer, &inbound, frame).await?;
        // Take whatever else is already buffered, then flush all the acks at once.
        for _ in 1..BATCH {
            match conn.next().now_or_never() {
                Some(Some(frame)) => handle(&mut conn, &peer, &inbound, frame).await?,
                Some(None) => {
                    conn.flush().await.map_err(|e| e.to_string())?;
                    return Ok(());
                }
                None => break,
            }
        }
        conn.flush().await.map_err(|e| e.to_string())?;
    }
}

async fn handle(
    conn: &mut Conn,
    peer: &Name,
    inbound: &mpsc::Sender<ChatMessage>,
    frame: Result<PeerFrame, CodecError>,
) -> Result<(), String> {
    match frame {
        Err(e) => {
            refuse_bad_frame(conn, e).await?;
            Err("bad frame".into())
        }
        Ok(PeerFrame::Chat(msg)) => {
            if &msg.from != peer || &msg.id.sender != peer {
                let message = format!("this connection speaks for {peer}, not {}", msg.from);
                let error = PeerFrame::Error {
                    code: ErrorCode::Refused,
                    message,
                };
                return conn.feed(error).await.map_err(|e| e.to_string());
            }
            let id = msg.id.clone();
            inbound.send(msg).await.map_err(|_| "node stopped")?;
            conn.feed(PeerFrame::Ack { id })
                .await
                .map_err(|e| e.to_string())
        }
        Ok(PeerFrame::Hello { .. }) => {
            let message = "hello came twice".to_owned();
            refuse(conn, ErrorCode::HelloExpected, message).await?;
            Err("second hello".into())
        }
        // Acks and errors mean nothing on an inbound link; ignore them.
        Ok(PeerFrame::Ack { .. } | PeerFrame::Error { .. }) => Ok(()),
    }
}

async fn refuse_bad_frame(conn: &mut Conn, e: CodecError) -> Result<(), String> {
    if e.is_protocol_violation() {
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
