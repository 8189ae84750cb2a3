//! One full-duplex connection to another peer, dialled or accepted: the only task that
//! touches its socket.
//!
//! It runs the Noise handshake (a dialled one demands the key the core expects, when it
//! knows one), exchanges hellos (the dialler speaks first; the acceptor answers only once
//! the core has let the far side on), then moves frames: every frame read goes to the core
//! in order, every frame the core queues is written (fed in batches, flushed once per
//! batch). It decides nothing: the core answers each frame and says when to close. When
//! reading ends it reports why and keeps writing what the core still queues (the acks of
//! the frames before a bad one, then the parting error) until the core closes it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use natter_protocol::net::buffers;
use natter_protocol::net::{self, HANDSHAKE_TIMEOUT, HELLO_TIMEOUT, Ticket};
use natter_protocol::peer::PeerFrame;
use natter_protocol::secure::{self, HandshakeError, SecureFramed};
use natter_protocol::{CodecError, ErrorCode, Identity, Name, PROTOCOL_VERSION, PublicKey};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::core::{ConnEvent, ConnId, Parting};

/// Frames queued on one connection before its peer counts as too slow.
pub const QUEUE: usize = 1024;
/// Frames fed before one flush.
const BATCH: usize = 256;
/// How long one write may wait for the far side to read: a peer that reads nothing for
/// this long while we have frames for it is dropped (its task never hangs on a full
/// socket).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection waits for the core to let its far side on (the core answers
/// within its key-check deadline; this is the second line of defence).
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Frames go out behind an `Arc`: one group message is shared by every recipient's queue,
/// not copied into each.
type Framed = SecureFramed<TcpStream, PeerFrame, Arc<PeerFrame>>;

/// What the core queues on a connection, in order.
#[derive(Debug)]
pub enum Outgoing {
    /// The far side is let on (an accepted connection answers with our hello).
    Accept,
    Frame(Arc<PeerFrame>),
    /// Write what is queued before this, then the parting error (if any), and close.
    Close(Option<Parting>),
}

/// What a connection tells the node's shell.
#[derive(Debug)]
// Nearly every value is the large variant (a frame); boxing it would cost an allocation
// per frame for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Report {
    /// An accepted connection finished its handshake: here is its queue.
    Opened {
        conn: ConnId,
        handle: ConnHandle,
    },
    Event {
        conn: ConnId,
        event: ConnEvent,
    },
}

/// The shell's end of one connection.
#[derive(Debug)]
pub struct ConnHandle {
    pub queue: mpsc::Sender<Outgoing>,
    pub cancel: CancellationToken,
}

/// Who we are on every connection.
#[derive(Clone)]
pub struct Local {
    pub name: Name,
    pub identity: Arc<Identity>,
    /// The port we listen on, told in every hello.
    pub listen_port: u16,
}

impl Local {
    fn hello(&self) -> Arc<PeerFrame> {
        Arc::new(PeerFrame::Hello {
            version: PROTOCOL_VERSION,
            name: self.name.clone(),
            listen_port: Some(self.listen_port),
        })
    }
}

/// Where the far side says it listens: its address's IP with the port its hello gave.
fn listening_at(peer: Option<SocketAddr>, port: Option<u16>) -> Option<SocketAddr> {
    Some(SocketAddr::new(peer?.ip(), port?))
}

fn handle(cancel: &CancellationToken) -> (ConnHandle, mpsc::Receiver<Outgoing>) {
    let (queue, rx) = mpsc::channel(QUEUE);
    let handle = ConnHandle {
        queue,
        cancel: cancel.clone(),
    };
    (handle, rx)
}

/// Dials `addr` (demanding `expect` in the handshake) and runs the connection `conn`.
pub fn dial(
    conn: ConnId,
    addr: SocketAddr,
    expect: Option<PublicKey>,
    local: Local,
    reports: mpsc::Sender<Report>,
    cancel: CancellationToken,
) -> (ConnHandle, impl Future<Output = ()> + Send + 'static) {
    let (handle, rx) = handle(&cancel);
    let task = async move {
        let run = dialled(conn, addr, expect, &local, &reports, rx);
        let ended = tokio::select! {
            _ = cancel.cancelled() => return,
            ended = run => ended,
        };
        report_end(conn, ended, &reports).await;
    };
    (handle, task)
}

/// Runs an accepted connection `conn` on `stream`, admitted with `ticket` (whose token
/// ends it when it is evicted or the node stops).
pub async fn accepted(
    conn: ConnId,
    stream: TcpStream,
    mut ticket: Ticket,
    local: Local,
    reports: mpsc::Sender<Report>,
) {
    let cancel = ticket.token().clone();
    let run = async {
        // Nothing is allocated for a connection that stays silent.
        net::readable_within(&stream, HANDSHAKE_TIMEOUT)
            .await
            .map_err(|e| end(format!("no handshake: {e}")))?;
        let peer_addr = stream.peer_addr().ok();
        let (mut framed, key) = secure::accept(stream, &local.identity, HANDSHAKE_TIMEOUT)
            .await
            .map_err(|e| end(format!("handshake failed: {e}")))?;
        let (name, port) = match read_hello(&mut framed).await {
            Ok(hello) => hello,
            Err((reason, parting)) => {
                if let Some(parting) = parting {
                    send_parting(&mut framed, parting).await;
                }
                return Err(end(reason));
            }
        };
        if let Err(refusal) = ticket.authenticated() {
            let message = format!("this peer takes no more connections: {refusal}");
            send_parting(&mut framed, (ErrorCode::RateLimited, message.clone())).await;
            return Err(end(message));
        }
        // Only an authenticated connection (no longer evictable) reaches the core.
        let (handle, rx) = handle(&cancel);
        let opened = Report::Opened { conn, handle };
        reports.send(opened).await.map_err(|_| Ended::Gone)?;
        let listen = listening_at(peer_addr, port);
        let hello = ConnEvent::Hello { name, key, listen };
        let event = Report::Event { conn, event: hello };
        reports.send(event).await.map_err(|_| Ended::Gone)?;
        session(conn, framed, rx, &reports, Some(&local)).await
    };
    let ended = tokio::select! {
        _ = cancel.cancelled() => return,
        ended = run => ended,
    };
    report_end(conn, ended, &reports).await;
}

/// How a connection task ended.
enum Ended {
    /// The connection failed (connect, handshake, hello, a write, a full early queue):
    /// the core hears why (and ignores it for a connection it never knew).
    Failed(String),
    /// The core closed it, or the node is gone: nothing to report.
    Gone,
}

fn end(reason: impl Into<String>) -> Ended {
    Ended::Failed(reason.into())
}

async fn report_end(conn: ConnId, ended: Result<(), Ended>, reports: &mpsc::Sender<Report>) {
    if let Err(Ended::Failed(reason)) = ended {
        tracing::debug!(%conn, %reason, "peer connection failed");
        let event = ConnEvent::Ended {
            reason,
            parting: None,
        };
        let _ = reports.send(Report::Event { conn, event }).await;
    }
}

async fn dialled(
    conn: ConnId,
    addr: SocketAddr,
    expect: Option<PublicKey>,
    local: &Local,
    reports: &mpsc::Sender<Report>,
    rx: mpsc::Receiver<Outgoing>,
) -> Result<(), Ended> {
    let stream = net::connect(addr).await.map_err(|e| end(e.to_string()))?;
    let handshake = secure::initiate(stream, &local.identity, expect.as_ref(), HANDSHAKE_TIMEOUT);
    let (mut framed, key) = match handshake.await {
        Ok(done) => done,
        Err(HandshakeError::KeyMismatch { got, .. }) => {
            let event = ConnEvent::KeyMismatch { presented: got };
            reports
                .send(Report::Event { conn, event })
                .await
                .map_err(|_| Ended::Gone)?;
            return Err(end("the peer presented another key"));
        }
        Err(e) => return Err(end(format!("handshake failed: {e}"))),
    };
    framed
        .send(local.hello())
        .await
        .map_err(|e| end(e.to_string()))?;
    let (name, port) = read_hello(&mut framed)
        .await
        .map_err(|(reason, _)| end(reason))?;
    let listen = listening_at(Some(addr), port);
    let event = ConnEvent::Hello { name, key, listen };
    reports
        .send(Report::Event { conn, event })
        .await
        .map_err(|_| Ended::Gone)?;
    session(conn, framed, rx, reports, None).await
}

/// Reads the far side's hello: its name and the port it listens on. An error carries the
/// parting frame to send, if any.
async fn read_hello(framed: &mut Framed) -> Result<(Name, Option<u16>), (String, Option<Parting>)> {
    match timeout(HELLO_TIMEOUT, framed.next()).await {
        Err(_) => Err(("no hello from the peer".into(), None)),
        Ok(None) => Err(("the peer closed the connection".into(), None)),
        Ok(Some(Err(e))) => Err((e.to_string(), parting_for(&e))),
        Ok(Some(Ok(PeerFrame::Hello {
            version,
            name,
            listen_port,
        }))) if version == PROTOCOL_VERSION => Ok((name, listen_port)),
        Ok(Some(Ok(PeerFrame::Hello { version, .. }))) => {
            let message = format!(
                "protocol version {version} is not spoken here (we speak {PROTOCOL_VERSION})"
            );
            Err((message.clone(), Some((ErrorCode::VersionMismatch, message))))
        }
        Ok(Some(Ok(PeerFrame::Error { message, .. }))) => {
            Err((format!("the peer refused us: {message}"), None))
        }
        Ok(Some(Ok(_))) => {
            let message = "the first frame must be a hello".to_owned();
            Err((message.clone(), Some((ErrorCode::HelloExpected, message))))
        }
    }
}

/// The parting error for a frame that could not be read, when the session can still
/// carry one (not after a decryption failure).
fn parting_for(e: &CodecError) -> Option<Parting> {
    (e.is_protocol_violation() && !matches!(e, CodecError::Crypto(_)))
        .then(|| (ErrorCode::BadFrame, e.to_string()))
}

async fn send_parting(framed: &mut Framed, (code, message): Parting) {
    net::part(framed, Arc::new(PeerFrame::Error { code, message })).await;
}

/// After the hellos: waits for the core to let the far side on (an accepted connection
/// then says its own hello), then moves frames both ways until the core closes it.
async fn session(
    conn: ConnId,
    mut framed: Framed,
    mut rx: mpsc::Receiver<Outgoing>,
    reports: &mpsc::Sender<Report>,
    answer_hello: Option<&Local>,
) -> Result<(), Ended> {
    // Frames the core queued before letting the far side on (our first messages on a
    // connection we dialled), in order.
    let mut early = VecDeque::new();
    let accepted = timeout(ACCEPT_TIMEOUT, async {
        loop {
            match rx.recv().await {
                None => return Err(Ended::Gone),
                Some(Outgoing::Accept) => return Ok(()),
                Some(Outgoing::Frame(frame)) => {
                    if early.len() >= QUEUE {
                        return Err(end("the peer is too slow (its queue is full)"));
                    }
                    early.push_back(frame);
                }
                Some(Outgoing::Close(parting)) => {
                    if let Some(parting) = parting {
                        send_parting(&mut framed, parting).await;
                    }
                    return Err(Ended::Gone);
                }
            }
        }
    });
    match accepted.await {
        Ok(result) => result?,
        Err(_) => return Err(end("the peer was never let on")),
    }
    if let Some(local) = answer_hello {
        write_in_time(framed.feed(local.hello())).await?;
    }
    for frame in early {
        write_in_time(framed.feed(frame)).await?;
    }
    write_in_time(framed.flush()).await?;
    let mut reading = true;
    loop {
        tokio::select! {
            item = rx.recv() => {
                let Some(item) = item else { return Err(Ended::Gone) };
                if write_batch(&mut framed, item, &mut rx).await? {
                    return Err(Ended::Gone);
                }
            }
            frame = framed.next(), if reading => {
                buffers::read(&mut framed);
                let event = match frame {
                    Some(Ok(frame)) => ConnEvent::Frame(frame),
                    Some(Err(e)) => {
                        reading = false;
                        ConnEvent::Ended { reason: e.to_string(), parting: parting_for(&e) }
                    }
                    None => {
                        reading = false;
                        let reason = "the peer closed the connection".to_owned();
                        ConnEvent::Ended { reason, parting: None }
                    }
                };
                reports.send(Report::Event { conn, event }).await.map_err(|_| Ended::Gone)?;
            }
        }
    }
}

/// Writes `first` and whatever else is queued (up to a batch), then flushes. Returns true
/// when the core closed the connection.
async fn write_batch(
    framed: &mut Framed,
    first: Outgoing,
    rx: &mut mpsc::Receiver<Outgoing>,
) -> Result<bool, Ended> {
    let mut next = Some(first);
    let mut written = 0;
    while let Some(item) = next.take() {
        match item {
            Outgoing::Frame(frame) => write_in_time(framed.feed(frame)).await?,
            Outgoing::Accept => {}
            Outgoing::Close(parting) => {
                let _ = timeout(net::PARTING_TIMEOUT, framed.flush()).await;
                if let Some(parting) = parting {
                    send_parting(framed, parting).await;
                }
                return Ok(true);
            }
        }
        written += 1;
        if written < BATCH {
            next = rx.try_recv().ok();
        }
    }
    write_in_time(framed.flush()).await?;
    buffers::written(framed);
    Ok(false)
}

/// One write, within [`WRITE_TIMEOUT`].
async fn write_in_time(write: impl Future<Output = Result<(), CodecError>>) -> Result<(), Ended> {
    match timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(end(e.to_string())),
        Err(_) => Err(end("the peer is not reading")),
    }
}
