//! An outbound link to one peer address: the pooled connection all our messages to that
//! address share.
//!
//! One task per remote address owns the connection. It runs the Noise handshake (demanding
//! the key the node expects for the peer, when it knows one), says hello, checks the hello
//! it gets back, lets the node vet the name and key, then writes queued signed chat frames
//! (feeding a batch, flushing once) and reports acknowledgements. Any failure ends the task
//! with a [`LinkReport::Down`]; the node then fails whatever was still waiting on this link
//! and opens a new one on the next message.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use natter_protocol::peer::{MessageId, PeerFrame, SignedChat};
use natter_protocol::secure::{self, HandshakeError};
use natter_protocol::{Identity, Name, PROTOCOL_VERSION, PublicKey};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a connect may take before the peer counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the far side may take to answer our hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the Noise handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = secure::DEFAULT_HANDSHAKE_TIMEOUT;
/// How long the node may take to vet the far side's name and key.
const VET_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages queued on one link before a sender is told the peer is too slow.
pub const QUEUE: usize = 1024;
/// Frames fed before one flush.
const BATCH: usize = 256;
/// Written messages remembered while waiting for their answer (older ones are forgotten;
/// the node fails them at their deadline anyway).
const MAX_UNANSWERED: usize = 4 * QUEUE;

/// Remembers that `msg` was written and awaits an answer.
fn written(unanswered: &mut VecDeque<MessageId>, msg: &SignedChat) {
    if unanswered.len() >= MAX_UNANSWERED {
        unanswered.pop_front();
    }
    unanswered.push_back(msg.message.id.clone());
}

/// What a link tells the node. `generation` tells links to the same address apart.
#[derive(Debug)]
pub enum LinkReport {
    /// The far side said hello as `name` over a session authenticated as `key`. The link
    /// writes nothing until the node answers on `vet` (an error refuses the link).
    Named {
        addr: SocketAddr,
        generation: u64,
        name: Name,
        key: PublicKey,
        /// The name the link was opened for (its key was demanded in the handshake).
        expected: Option<Name>,
        vet: oneshot::Sender<Result<(), String>>,
    },
    /// The handshake showed another key than the one expected for `name`.
    KeyChanged {
        name: Name,
        expected: PublicKey,
        presented: PublicKey,
    },
    Acked {
        addr: SocketAddr,
        generation: u64,
        id: MessageId,
    },
    /// The far side refused message `id` with an error frame (`reason` is its text).
    Refused {
        addr: SocketAddr,
        generation: u64,
        id: MessageId,
        reason: String,
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
    pub queue: mpsc::Sender<SignedChat>,
    /// The name the far side gave in its hello, once it has.
    pub name: Option<Name>,
    /// The key the link was opened to demand, or (once vetted) the key it authenticated.
    pub key: Option<PublicKey>,
}

/// Who we are and whom we expect on a new link.
pub struct Ends {
    pub own_name: Name,
    pub identity: Arc<Identity>,
    /// The peer we mean to reach and the key it must present, if we know them.
    pub expect: Option<(Name, PublicKey)>,
}

/// Starts the link task for `addr`.
pub fn spawn(
    addr: SocketAddr,
    generation: u64,
    ends: Ends,
    reports: mpsc::Sender<LinkReport>,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> LinkHandle {
    let (queue, rx) = mpsc::channel(QUEUE);
    let key = ends.expect.as_ref().map(|(_, key)| *key);
    tasks.spawn(async move {
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = run(addr, generation, ends, rx, &reports) => r,
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
        key,
    }
}

async fn run(
    addr: SocketAddr,
    generation: u64,
    ends: Ends,
    mut rx: mpsc::Receiver<SignedChat>,
    reports: &mpsc::Sender<LinkReport>,
) -> Result<(), String> {
    let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Err(_) => return Err("connection timed out".into()),
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(stream)) => stream,
    };
    let _ = stream.set_nodelay(true);
    let expected = ends.expect.as_ref().map(|(_, key)| key);
    let expected_name = ends.expect.as_ref().map(|(name, _)| name.clone());
    let handshake = secure::initiate::<_, PeerFrame, PeerFrame>(
        stream,
        &ends.identity,
        expected,
        HANDSHAKE_TIMEOUT,
    );
    let (mut framed, key) = match handshake.await {
        Ok(done) => done,
        Err(HandshakeError::KeyMismatch { expected, got }) => {
            let Some((name, _)) = ends.expect else {
                return Err("handshake failed: unexpected key".into());
            };
            let change = LinkReport::KeyChanged {
                name: name.clone(),
                expected,
                presented: got,
            };
            reports.send(change).await.map_err(|_| "node stopped")?;
            return Err(format!(
                "{name}'s key changed (pinned {expected}, presented {got}); /trust {name} to accept it"
            ));
        }
        Err(e) => return Err(e.to_string()),
    };
    let hello = PeerFrame::Hello {
        version: PROTOCOL_VERSION,
        name: ends.own_name,
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
    let (vet, verdict) = oneshot::channel();
    let named = LinkReport::Named {
        addr,
        generation,
        name,
        key,
        expected: expected_name,
        vet,
    };
    reports.send(named).await.map_err(|_| "node stopped")?;
    match timeout(VET_TIMEOUT, verdict).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(reason))) => return Err(reason),
        Ok(Err(_)) | Err(_) => return Err("node stopped".into()),
    }
    // The messages written and not yet answered, oldest first: the far side answers each
    // chat frame in order, with an ack or an error frame (which carries no id).
    let mut unanswered: VecDeque<MessageId> = VecDeque::new();
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { return Ok(()) };
                written(&mut unanswered, &msg);
                framed.feed(PeerFrame::Chat(msg)).await.map_err(|e| e.to_string())?;
                for _ in 1..BATCH {
                    let Ok(msg) = rx.try_recv() else { break };
                    written(&mut unanswered, &msg);
                    framed.feed(PeerFrame::Chat(msg)).await.map_err(|e| e.to_string())?;
                }
                framed.flush().await.map_err(|e| e.to_string())?;
            }
            frame = framed.next() => match frame {
                Some(Ok(PeerFrame::Ack { id })) => {
                    if let Some(at) = unanswered.iter().position(|u| u == &id) {
                        unanswered.drain(..=at);
                    }
                    let acked = LinkReport::Acked { addr, generation, id };
                    reports.send(acked).await.map_err(|_| "node stopped")?;
                }
                Some(Ok(PeerFrame::Error { message, .. })) => {
                    tracing::warn!(peer = %addr, %message, "peer sent an error");
                    if let Some(id) = unanswered.pop_front() {
                        let refused = LinkReport::Refused { addr, generation, id, reason: message };
                        reports.send(refused).await.map_err(|_| "node stopped")?;
                    }
                }
                Some(Ok(_)) => return Err("the peer sent an unexpected frame".into()),
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the peer closed the connection".into()),
            },
        }
    }
}
