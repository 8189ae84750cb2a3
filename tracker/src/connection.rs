//! One peer's connection: the Noise handshake first (within the handshake timeout; a
//! failed or slow one just closes the socket), then its hello (within the hello timeout),
//! then one `select!` over the encrypted framed socket, the frames the hub queued for it,
//! one timer (pings and the silence limit, see [`heartbeat`]) and the connection's token.
//!
//! Until its hello is accepted the connection holds an unauthenticated place of the shared
//! accept loop ([`Ticket`]) and may be evicted by newer connections; then it takes an
//! established place (or is refused `rate_limited` when the tracker is full). Nothing is
//! allocated for the handshake until the first bytes arrive, so a silent connection costs
//! little more than its socket.
//!
//! The key the handshake authenticated goes to the hub with the hello: the registration is
//! that key's, and every later request acts for it alone. Joins and leaves are rate limited
//! by the hub (per key and per address, across connections). Until the hello is accepted a
//! frame may be at most [`MAX_HELLO_FRAME`] bytes; after the welcome, the configured
//! maximum. Every frame written goes through [`localize`], so member addresses on the
//! tracker's own machine read as the address this peer reached it at.
//!
//! A `probe` is the connection's own business too: it asks the hub to charge it to the
//! rates, then dials the peer back (`crate::probe`) while the loop goes on, one at a time.
//!
//! Clean-up is in one place: whatever ends the loop, the hub is told the connection is gone
//! (so the peer goes offline). Bad input gets an error frame, then the link closes.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use natter_protocol::net::{self, Refusal, Ticket};
use natter_protocol::secure::{self, SecureFramed};
use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use natter_protocol::{
    CodecError, ErrorCode, GroupName, Identity, Name, PROTOCOL_VERSION, PublicKey, RequestId,
};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::hub::{HubCommand, HubHandle, unix_millis};
use crate::limits::{HELLO_TIMEOUT, MAX_HELLO_FRAME, MAX_HELLO_GROUPS};
use crate::localize::rewrite_ip;
use crate::outbox::{self, outbox};
use crate::probe;
use crate::queued::{Queued, Wire};
use crate::registry::ConnId;
use natter_protocol::net::buffers;

#[path = "connection_heartbeat.rs"]
mod heartbeat;
use heartbeat::{Due, Heartbeat};

/// Frames queued for one peer before it counts as too slow and is dropped.
const OUTGOING_QUEUE: usize = 1024;
/// Frames written per flush.
const WRITE_BATCH: usize = 256;

/// Frames go out as [`Queued`] ones: a member-list change is one frame shared by the queues
/// of every member it goes to, serialised once for all of them.
type Transport = SecureFramed<TcpStream, PeerToTracker, Wire>;

/// Settings every connection shares.
#[derive(Debug, Clone)]
pub struct Settings {
    pub heartbeat: Duration,
    pub max_frame: usize,
    pub handshake_timeout: Duration,
    /// The tracker's identity, which every handshake proves.
    pub identity: Arc<Identity>,
    /// The probes dialling now, for every connection (at most `MAX_PROBES_IN_FLIGHT`).
    pub probes: Arc<tokio::sync::Semaphore>,
    /// The tracker's shutdown, the parent of every connection's token: tells a peer the
    /// hub dropped from one the tracker's end took with it.
    pub shutdown: CancellationToken,
}

impl Settings {
    /// A peer silent for this long is dropped.
    fn silence_limit(&self) -> Duration {
        self.heartbeat.saturating_mul(3)
    }

    /// How long a peer may take to say hello after its handshake.
    fn hello_limit(&self) -> Duration {
        self.silence_limit().min(HELLO_TIMEOUT)
    }
}

/// Why a connection ended, for the log.
#[derive(Debug)]
enum End {
    Closed,
    Shutdown,
    Silent,
    Dropped,
    Refused(&'static str),
    Io(CodecError),
}

struct Hello {
    name: Name,
    listen_port: u16,
    groups: Vec<GroupName>,
}

/// Serves one accepted connection to its end. `ticket` is its place in the accept loop;
/// its token is cancelled at shutdown or when the connection is evicted before its hello.
///
/// The returned future is the connection's task, what every idle peer costs the tracker
/// for as long as it is online, so it is kept small. The socket, the ticket and
/// everything the handshake, the hello and the registration need live in an allocation
/// of their own ([`open`]), let go once the peer is online; the established link lives in
/// a `Box` this future only points to; the settings are shared. (Not an `async fn`: one
/// keeps a copy of each argument for its whole life.)
pub fn serve(
    stream: TcpStream,
    ticket: Ticket,
    hub: HubHandle,
    settings: Arc<Settings>,
) -> impl Future<Output = ()> + Send + 'static {
    let opening = Box::pin(open(stream, ticket, hub.clone(), settings.clone()));
    async move {
        let (ticket, mut opened) = opening.await;
        // Borrowed where it lies, not moved into locals: each would be more room in this
        // future.
        let end = match &mut opened {
            Err(end) => match end.take() {
                None => return,
                Some(end) => end,
            },
            Ok(online) => {
                let link = Link {
                    settings: &settings,
                    kill: ticket.token(),
                    peer: &online.peer,
                };
                let (transport, outgoing) = (&mut online.transport, &mut online.outgoing);
                let end = serve_peer(transport, outgoing, &hub, ticket.id(), &link).await;
                Box::pin(hub.send(HubCommand::Gone { conn: ticket.id() })).await;
                end
            }
        };
        log_end(&ticket, end);
    }
}

fn log_end(ticket: &Ticket, end: End) {
    let (conn, remote) = (ticket.id(), ticket.remote());
    match end {
        End::Refused(why) => {
            tracing::warn!(conn, peer = %remote, reason = why, "connection refused")
        }
        End::Io(e) if e.is_protocol_violation() => {
            tracing::warn!(conn, peer = %remote, error = %e, "bad frame, connection closed");
        }
        End::Io(e @ CodecError::TooLarge { .. }) => {
            tracing::warn!(conn, peer = %remote, error = %e, "frame too large to send, connection closed");
        }
        End::Silent => {
            tracing::info!(conn, peer = %remote, "heartbeat timeout, connection dropped")
        }
        End::Dropped => tracing::info!(conn, peer = %remote, "connection dropped by the tracker"),
        other => tracing::debug!(conn, peer = %remote, end = ?other, "connection ended"),
    }
}

/// What [`open`] hands over.
struct Online {
    /// The link, boxed: the task holds a pointer to it, not a copy.
    transport: Box<Transport>,
    /// The peer's queue at the hub.
    outgoing: outbox::Receiver,
    peer: Peer,
}

/// The handshake, the hello, an established place and the registration at the hub; or how
/// the connection ended (`None`: before the handshake, already logged). The ticket comes
/// back either way.
async fn open(
    stream: TcpStream,
    mut ticket: Ticket,
    hub: HubHandle,
    settings: Arc<Settings>,
) -> (Ticket, Result<Online, Option<End>>) {
    let opened = register(stream, &mut ticket, &hub, &settings).await;
    (ticket, opened)
}

async fn register(
    stream: TcpStream,
    ticket: &mut Ticket,
    hub: &HubHandle,
    settings: &Settings,
) -> Result<Online, Option<End>> {
    // The address this peer reached us at: where it can reach peers on this machine.
    let host = stream.local_addr().ok().and_then(rewrite_ip);
    let (transport, key, hello) = handshake_and_hello(stream, ticket, settings).await?;
    let peer = Peer {
        host,
        listen: SocketAddr::new(ticket.remote().ip().to_canonical(), hello.listen_port),
        key,
    };
    let (queue, outgoing) = outbox(OUTGOING_QUEUE);
    // Once the hello is accepted the ticket's token can no longer be evicted: it is the
    // one the hub cancels to drop this peer (no second token to keep).
    let registered = hub
        .send(HubCommand::Hello {
            conn: ticket.id(),
            name: hello.name,
            key,
            addr: peer.listen,
            groups: hello.groups,
            queue,
            kill: ticket.token().clone(),
        })
        .await;
    if registered {
        Ok(Online {
            transport,
            outgoing,
            peer,
        })
    } else {
        Err(Some(End::Shutdown))
    }
}

/// The handshake, the hello and an established place: the link, the key the handshake
/// authenticated and the hello; or how the connection ended (`None`: before the
/// handshake, already logged).
async fn handshake_and_hello(
    stream: TcpStream,
    ticket: &mut Ticket,
    settings: &Settings,
) -> Result<(Box<Transport>, PublicKey, Hello), Option<End>> {
    let (conn, remote) = (ticket.id(), ticket.remote());
    // Cancelled at shutdown, or when a newer connection evicts this one before its hello.
    let shutdown = &ticket.token().clone();
    let started = tokio::time::Instant::now();
    // No handshake state nor buffers until the peer has sent something.
    let first_bytes = tokio::select! {
        result = net::readable_within(&stream, settings.handshake_timeout) => result,
        () = shutdown.cancelled() => return Err(None),
    };
    if let Err(e) = first_bytes {
        tracing::info!(conn, peer = %remote, error = %e, "no handshake, connection closed");
        return Err(None);
    }
    let left = settings.handshake_timeout.saturating_sub(started.elapsed());
    let handshake = tokio::select! {
        result = secure::accept(stream, &settings.identity, left) => result,
        () = shutdown.cancelled() => return Err(None),
    };
    let (transport, key) = match handshake {
        Ok(done) => done,
        Err(e) => {
            tracing::info!(conn, peer = %remote, error = %e, "handshake failed, connection closed");
            return Err(None);
        }
    };
    let mut transport = Box::new(transport);
    // Little memory for a peer that has not said who it is yet; the full limit after the
    // welcome (see `write`).
    transport
        .codec_mut()
        .set_max_frame(settings.max_frame.min(MAX_HELLO_FRAME));
    tracing::debug!(conn, peer = %remote, key = %key, "handshake done");
    let hello = await_hello(&mut transport, settings, shutdown)
        .await
        .map_err(Some)?;
    match ticket.authenticated() {
        Ok(()) => Ok((transport, key, hello)),
        Err(refusal) => Err(Some(refuse_place(&mut transport, refusal).await)),
    }
}

/// Reads the first frame: it must be a hello of our version.
async fn await_hello(
    transport: &mut Transport,
    settings: &Settings,
    shutdown: &CancellationToken,
) -> Result<Hello, End> {
    let frame = tokio::select! {
        frame = transport.next() => frame,
        () = tokio::time::sleep(settings.hello_limit()) => return Err(End::Silent),
        () = shutdown.cancelled() => return Err(End::Shutdown),
    };
    match frame {
        None => Err(End::Closed),
        Some(Err(e)) => Err(refuse_bad_frame(transport, e).await),
        Some(Ok(PeerToTracker::Hello {
            version,
            name,
            listen_port,
            groups,
        })) => {
            if version != PROTOCOL_VERSION {
                let message = format!(
                    "protocol version {version} is not supported: this tracker speaks version {PROTOCOL_VERSION}"
                );
                part(transport, ErrorCode::VersionMismatch, message).await;
                return Err(End::Refused("version mismatch"));
            }
            if groups.len() > MAX_HELLO_GROUPS {
                let message = format!("a hello may name at most {MAX_HELLO_GROUPS} groups");
                part(transport, ErrorCode::RateLimited, message).await;
                return Err(End::Refused("too many groups in the hello"));
            }
            Ok(Hello {
                name,
                listen_port,
                groups,
            })
        }
        Some(Ok(_)) => {
            let message = "the first frame must be a hello".to_owned();
            part(transport, ErrorCode::HelloExpected, message).await;
            Err(End::Refused("no hello"))
        }
    }
}

/// Who the registered peer is, for its writes and its probes.
struct Peer {
    /// This machine's address as the peer sees it, if not loopback (see [`rewrite_ip`]).
    host: Option<IpAddr>,
    /// Where the peer listens: its connection's IP and its hello's port (what a probe
    /// dials, and nothing else).
    listen: SocketAddr,
    /// The key its handshake authenticated (what a probe demands).
    key: PublicKey,
}

/// What the registered peer's loop and its writes need.
struct Link<'a> {
    settings: &'a Settings,
    /// Cancelled by the hub to drop this peer at once, and at shutdown (the ticket's
    /// token).
    kill: &'a CancellationToken,
    peer: &'a Peer,
}

impl Link<'_> {
    /// How the connection ended when its token was cancelled.
    fn killed(&self) -> End {
        if self.settings.shutdown.is_cancelled() {
            End::Shutdown
        } else {
            End::Dropped
        }
    }
}

/// A probe on its way: resolves to the frame that answers it (queued already: a frame is
/// large, and the loop's future would keep room for one).
type ProbeRun = Pin<Box<dyn Future<Output = Arc<Queued>> + Send>>;

/// The registered peer's loop.
///
/// Its future is what an idle peer costs, so it holds only what waiting needs: the one
/// timer of [`Heartbeat`], and the select over socket, queue, probe and kill. Whatever
/// is awaited in answer (a write, a request to the hub, a parting error) is boxed for as
/// long as it runs, so its state takes no room while the peer is idle.
async fn serve_peer(
    transport: &mut Transport,
    outgoing: &mut outbox::Receiver,
    hub: &HubHandle,
    conn: ConnId,
    link: &Link<'_>,
) -> End {
    let (settings, kill) = (link.settings, link.kill);
    let mut heartbeat =
        Heartbeat::new(Instant::now(), settings.heartbeat, settings.silence_limit());
    let timer = tokio::time::sleep_until(heartbeat.next_wake());
    tokio::pin!(timer);
    let mut nonce: u64 = 0;
    // At most one probe at a time.
    let mut probe: Option<ProbeRun> = None;
    loop {
        // Whatever the last frames needed is not kept while waiting for the next.
        transport.codec_mut().release_scratch();
        let step = tokio::select! {
            () = kill.cancelled() => return link.killed(),
            answer = probe_done(&mut probe) => {
                probe = None;
                Step::Write(answer)
            }
            // No read buffer while the socket has nothing (see `buffers::next`).
            frame = buffers::next(transport) => {
                heartbeat.heard(Instant::now());
                match frame {
                    None => return End::Closed,
                    Some(Err(e)) => return Box::pin(refuse_bad_frame(transport, e)).await,
                    Some(Ok(PeerToTracker::Ping { nonce })) => {
                        Step::Write(Queued::new(TrackerToPeer::Pong { nonce }))
                    }
                    Some(Ok(PeerToTracker::Pong { .. })) => Step::Nothing,
                    Some(Ok(PeerToTracker::Probe { req })) => {
                        if probe.is_some() {
                            Step::Write(Queued::new(TrackerToPeer::Error {
                                code: ErrorCode::RateLimited,
                                message: "a probe is already running: one at a time".into(),
                                req,
                            }))
                        } else {
                            probe = Some(start_probe(hub.clone(), conn, req, link));
                            Step::Nothing
                        }
                    }
                    Some(Ok(request)) => {
                        let command = HubCommand::Request { conn, request };
                        if !Box::pin(hub.send(command)).await {
                            return End::Shutdown;
                        }
                        Step::Nothing
                    }
                }
            }
            frame = outgoing.recv() => match frame {
                // The hub let go of this connection (refused hello, shutdown): queue drained.
                None => return End::Dropped,
                Some(frame) => Step::Queued(frame),
            },
            () = &mut timer => {
                let due = heartbeat.fired(Instant::now());
                timer.as_mut().reset(heartbeat.next_wake());
                match due {
                    Due::Silent => return End::Silent,
                    Due::Nothing => Step::Nothing,
                    Due::Ping => {
                        nonce = nonce.wrapping_add(1);
                        Step::Write(Queued::new(TrackerToPeer::Ping { nonce }))
                    }
                }
            }
        };
        let written = match step {
            Step::Nothing => Ok(()),
            Step::Write(frame) => Box::pin(write(transport, frame, None, link)).await,
            Step::Queued(frame) => {
                Box::pin(write(transport, frame, Some(&mut *outgoing), link)).await
            }
        };
        if let Err(end) = written {
            return end;
        }
    }
}

/// What the loop does once its select has picked.
enum Step {
    Nothing,
    /// Writes a frame of the connection's own.
    Write(Arc<Queued>),
    /// Writes a frame from the queue, and whatever else is queued behind it.
    Queued(Arc<Queued>),
}

/// Asks the hub whether the probe fits the budgets, then dials the peer back; the future
/// resolves to the answer (or the refusal).
fn start_probe(hub: HubHandle, conn: ConnId, req: Option<RequestId>, link: &Link<'_>) -> ProbeRun {
    let (addr, key, identity) = (
        link.peer.listen,
        link.peer.key,
        link.settings.identity.clone(),
    );
    let probes = link.settings.probes.clone();
    Box::pin(async move {
        let (reply, refusal) = oneshot::channel();
        let refused = if hub.send(HubCommand::Probe { conn, reply }).await {
            refusal
                .await
                .unwrap_or_else(|_| Some("the tracker is shutting down".into()))
        } else {
            Some("the tracker is shutting down".into())
        };
        let permit = match refused {
            Some(message) => Err(message),
            None => probes.try_acquire_owned().map_err(|_| {
                "the tracker is checking too many peers at once; try again in a few seconds".into()
            }),
        };
        let _permit = match permit {
            Ok(permit) => permit,
            Err(message) => {
                return Queued::new(TrackerToPeer::Error {
                    code: ErrorCode::RateLimited,
                    message,
                    req,
                });
            }
        };
        let result = probe::reach(addr, &identity, &key, probe::PROBE_TIMEOUT).await;
        tracing::debug!(conn, %addr, reachable = result.is_ok(), "probe");
        Queued::new(TrackerToPeer::ProbeResult {
            addr,
            reachable: result.is_ok(),
            error: result.err(),
            clock: unix_millis(),
            req,
        })
    })
}

/// The answer of the probe under way; never, while none is.
async fn probe_done(probe: &mut Option<ProbeRun>) -> Arc<Queued> {
    match probe {
        Some(run) => run.await,
        None => std::future::pending().await,
    }
}

/// Writes `first` and whatever else is queued, then flushes once. A peer that does not
/// read for the silence limit (or that the hub drops meanwhile) ends the connection.
async fn write(
    transport: &mut Transport,
    first: Arc<Queued>,
    more: Option<&mut outbox::Receiver>,
    link: &Link<'_>,
) -> Result<(), End> {
    let batch = async {
        feed(transport, first, link).await?;
        if let Some(more) = more {
            for _ in 1..WRITE_BATCH {
                match more.try_recv() {
                    Some(frame) => feed(transport, frame, link).await?,
                    None => break,
                }
            }
        }
        transport.flush().await
    };
    let (limit, kill) = (link.settings.silence_limit(), link.kill);
    tokio::select! {
        result = tokio::time::timeout(limit, batch) => match result {
            Ok(Ok(())) => {
                buffers::written(transport);
                Ok(())
            }
            Ok(Err(e)) => Err(End::Io(e)),
            Err(_) => Err(End::Silent),
        },
        () = kill.cancelled() => Err(link.killed()),
    }
}

/// Queues one frame as this peer should see it. The welcome means the hello was accepted:
/// from then on the full frame limit applies, both ways.
async fn feed(
    transport: &mut Transport,
    frame: Arc<Queued>,
    link: &Link<'_>,
) -> Result<(), CodecError> {
    if matches!(frame.frame(), TrackerToPeer::Welcome { .. }) {
        transport.codec_mut().set_max_frame(link.settings.max_frame);
    }
    transport.feed(frame.for_recipient(link.peer.host)).await
}

/// Answers a frame that could not be read: an error frame if it was not our protocol
/// (the socket still works), nothing if the socket itself failed.
async fn refuse_bad_frame(transport: &mut Transport, e: CodecError) -> End {
    if e.is_protocol_violation() {
        part(transport, ErrorCode::BadFrame, e.to_string()).await;
    }
    End::Io(e)
}

/// Sends a parting error frame, best effort and briefly ([`net::part`]).
async fn part(transport: &mut Transport, code: ErrorCode, message: String) {
    let frame = TrackerToPeer::Error {
        code,
        message,
        req: None,
    };
    net::part(transport, Wire::Frame(Arc::new(frame))).await;
}

/// A good hello that found no established place (the tracker is full), or whose
/// connection was evicted meanwhile.
async fn refuse_place(transport: &mut Transport, refusal: Refusal) -> End {
    match refusal {
        Refusal::Evicted => End::Shutdown,
        other => {
            let message =
                format!("the tracker cannot take another peer now ({other}); try again later");
            part(transport, ErrorCode::RateLimited, message).await;
            End::Refused("the tracker is full")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `f` returns, without calling it.
    fn size_of_output<A, B, C, D, R>(_: fn(A, B, C, D) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    /// Every connection's task holds this future for as long as the peer is online: a
    /// regression guard on what an idle peer costs.
    #[test]
    fn a_connection_task_stays_small() {
        let size = size_of_output::<TcpStream, Ticket, HubHandle, Arc<Settings>, _>(serve);
        println!("connection future: {size} B");
        // 1,960 B with a `Sleep`, an `Interval` and every write's state inline; 1,448 B after;
        // 1,336 B with nothing copied out of the ticket; 832 B with the socket, the ticket's
        // and the hello's copies and the probe's answer out of it. tokio puts about 100
        // bytes of its own around the future (and the task tracker 8) and rounds a task up
        // to 128 bytes: with this future it is in jemalloc's 1,024-byte size class, where
        // some 80 bytes more put it in the 1,280-byte one.
        assert!(size <= 896, "{size} B");
    }
}
