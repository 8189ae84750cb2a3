//! An outbound link to one peer address: the pooled connection all our messages to that
//! address share.
//!
//! One task per remote address owns the framed connection. It says hello, checks the hello
//! it gets back, then writes queued chat frames (feeding a batch, flushing once) and reports
//! acknowledgements. Any failure ends the task with a [`LinkReport::Down`]; the node then
//! fails whatever was still waiting on this link and opens a new one on the next message.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use natter_protocol::peer::{ChatMessage, MessageId, PeerFrame};
use natter_protocol::{FrameCodec, Name, PROTOCOL_VERSION};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a connect may take before the peer counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the far side may take to answer our hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages queued on one link before a sender is told the peer is too slow.
pub const QUEUE: usize = 1024;
/// Frames fed before one flush.
const BATCH: usize = 256;

/// What a link tells the node. `generation` tells links to the same address apart.
#[derive(Debug)]
pub enum LinkReport {
    Named {
        addr: SocketAddr,
        generation: u64,
        name: Name,
    },
    Acked {
        addr: SocketAddr,
        generation: u64,
        id: MessageId,
    },
    Down {
        addr: SocketAddr,
        generation: u64,
        error: String,
    },
}

/// The node's end of one link.
#[derive(Debug)]
pub struct LinkHandle {
    pub generation: u64,
    pub queue: mpsc::Sender<ChatMessage>,
    /// The name the far side gave in its hello, once it has.
    pub name: Option<Name>,
}

/// Starts the link task for `addr`.
pub fn spawn(
    addr: SocketAddr,
    generation: u64,
    own_name: Name,
    reports: mpsc::Sender<LinkReport>,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> LinkHandle {
    let (queue, rx) = mpsc::channel(QUEUE);
    tasks.spawn(async move {
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = run(addr, generation, own_name, rx, &reports) => r,
        };
        let error = match result {
            Ok(()) => "link closed".to_owned(),
            Err(e) => e,
        };
        tracing::debug!(peer = %addr, %error, "link down");
        let _ = reports
            .send(LinkReport::Down {
                addr,
                generation,
                error,
            })
            .await;
    });
    LinkHandle {
        generation,
        queue,
        name: None,
    }
}

async fn run(
    addr: SocketAddr,
    generation: u64,
    own_name: Name,
    mut rx: mpsc::Receiver<ChatMessage>,
    reports: &mpsc::Sender<LinkReport>,
) -> Result<(), String> {
    let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Err(_) => return Err("connection timed out".into()),
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(stream)) => stream,
    };
    let _ = stream.set_nodelay(true);
    let mut framed = Framed::new(stream, FrameCodec::<PeerFrame, PeerFrame>::default());
    let hello = PeerFrame::Hello {
        version: PROTOCOL_VERSION,
        name: own_name,
    };
    framed.send(hello).await.map_err(|e| e.to_string())?;
    let name = match timeout(HELLO_TIMEOUT, framed.next()).await {
        Err(_) => return Err("no hello from the peer".into()),
        Ok(None) => return Err("the peer closed the connection".into()),
        Ok(Some(Err(e))) => return Err(e.to_string()),
        Ok(Some(Ok(PeerFrame::Hello { version, name }))) if version == PROTOCOL_VERSION => name,
        Ok(Some(Ok(PeerFrame::Hello { version, .. }))) => {
            return Err(format!(
                "the peer speaks protocol version {version}, we speak {PROTOCOL_VERSION}"
            ));
        }
        Ok(Some(Ok(PeerFrame::Error { message, .. }))) => {
            return Err(format!("the peer refused us: {message}"));
        }
        Ok(Some(Ok(_))) => return Err("the peer did not start with a hello".into()),
    };
    let named = LinkReport::Named {
        addr,
        generation,
        name,
    };
    reports.send(named).await.map_err(|_| "node stopped")?;
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { return Ok(()) };
                framed.feed(PeerFrame::Chat(msg)).await.map_err(|e| e.to_string())?;
                for _ in 1..BATCH {
                    let Ok(msg) = rx.try_recv() else { break };
                    framed.feed(PeerFrame::Chat(msg)).await.map_err(|e| e.to_string())?;
                }
                framed.flush().await.map_err(|e| e.to_string())?;
            }
            frame = framed.next() => match frame {
                Some(Ok(PeerFrame::Ack { id })) => {
                    let acked = LinkReport::Acked { addr, generation, id };
                    reports.send(acked).await.map_err(|_| "node stopped")?;
                }
                Some(Ok(PeerFrame::Error { message, .. })) => {
                    tracing::warn!(peer = %addr, %message, "peer sent an error");
                }
                Some(Ok(_)) => return Err("the peer sent an unexpected frame".into()),
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the peer closed the connection".into()),
            },
        }
    }
}
