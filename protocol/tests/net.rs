//! The shared accept loop under a flood of silent connections: an honest client that
//! completes a Noise handshake is still served promptly, because newcomers evict the
//! oldest unfinished handshakes instead of waiting for a place.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use natter_protocol::net::{self, Admission, Limits, Refusal, Ticket};
use natter_protocol::secure;
use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use natter_protocol::{ErrorCode, Identity};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Generous: the point is "not locked out for the handshake timeout", which is far longer.
const WAIT: Duration = Duration::from_secs(20);
const SILENT: usize = 256;

/// A toy server: handshake (with a timeout far longer than the test's wait, so that only
/// eviction can free a place), then answers every ping until the peer closes.
async fn handle(stream: TcpStream, mut ticket: Ticket, identity: Arc<Identity>) {
    let token = ticket.token().clone();
    let handshake = secure::accept::<_, PeerToTracker, TrackerToPeer>(
        stream,
        &identity,
        Duration::from_secs(600),
    );
    let mut link = tokio::select! {
        done = handshake => match done {
            Ok((link, _key)) => link,
            Err(_) => return,
        },
        () = token.cancelled() => return,
    };
    if let Err(refusal) = ticket.authenticated() {
        let error = TrackerToPeer::Error {
            code: ErrorCode::RateLimited,
            message: refusal.to_string(),
            req: None,
        };
        net::part(&mut link, error).await;
        return;
    }
    loop {
        let frame = tokio::select! {
            frame = link.next() => frame,
            () = token.cancelled() => return,
        };
        match frame {
            Some(Ok(PeerToTracker::Ping { nonce })) => {
                if link.send(TrackerToPeer::Pong { nonce }).await.is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

struct Server {
    addr: std::net::SocketAddr,
    admission: Admission,
    cancel: CancellationToken,
    tasks: TaskTracker,
    accept: tokio::task::JoinHandle<()>,
}

async fn start(limits: Limits) -> Server {
    let listener = net::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let identity = Arc::new(Identity::generate().expect("identity"));
    let admission = Admission::new(limits);
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let accept = tokio::spawn({
        let (admission, cancel, tasks) = (admission.clone(), cancel.clone(), tasks.clone());
        async move {
            net::serve(
                listener,
                admission,
                &tasks,
                cancel,
                move |stream, ticket| handle(stream, ticket, identity.clone()),
            )
            .await;
        }
    });
    Server {
        addr,
        admission,
        cancel,
        tasks,
        accept,
    }
}

impl Server {
    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(WAIT, self.accept)
            .await
            .expect("the accept loop stops")
            .expect("no panic");
        self.tasks.close();
        tokio::time::timeout(WAIT, self.tasks.wait())
            .await
            .expect("every connection ends at shutdown");
    }
}

/// Connects, handshakes and gets a pong back.
async fn honest_round_trip(addr: std::net::SocketAddr) -> Result<(), String> {
    let identity = Identity::generate().map_err(|e| e.to_string())?;
    let stream = net::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut link, _) = secure::initiate::<_, TrackerToPeer, PeerToTracker>(
        stream,
        &identity,
        None,
        net::HANDSHAKE_TIMEOUT,
    )
    .await
    .map_err(|e| e.to_string())?;
    link.send(PeerToTracker::Ping { nonce: 7 })
        .await
        .map_err(|e| e.to_string())?;
    match link.next().await {
        Some(Ok(TrackerToPeer::Pong { nonce: 7 })) => Ok(()),
        other => Err(format!("expected a pong, got {other:?}")),
    }
}

#[tokio::test]
async fn an_honest_client_is_served_through_a_flood_of_silent_connections() {
    // Loopback is limited here, like a remote flood, but with room for the whole flood.
    let limits = Limits::new(64, 16, SILENT + 8);
    let server = start(limits).await;
    let mut silent = Vec::with_capacity(SILENT);
    for _ in 0..SILENT {
        silent.push(net::connect(server.addr).await.expect("connect"));
    }
    let served = tokio::time::timeout(WAIT, honest_round_trip(server.addr)).await;
    assert_eq!(
        served,
        Ok(Ok(())),
        "an honest client must get through the flood"
    );
    let counts = server.admission.counts();
    assert!(counts.unauthenticated <= limits.unauthenticated);
    // The flood's survivors still wait in their handshake; the honest one left.
    drop(silent);
    server.stop().await;
}

#[tokio::test]
async fn past_the_per_address_cap_a_connection_is_closed_at_once() {
    let server = start(Limits::new(8, 8, 2)).await;
    let _a = net::connect(server.addr).await.expect("connect");
    let _b = net::connect(server.addr).await.expect("connect");
    let refused = tokio::time::timeout(WAIT, honest_round_trip(server.addr))
        .await
        .expect("refused promptly, not left hanging");
    assert!(refused.is_err(), "a third connection from one address");
    server.stop().await;
}

#[tokio::test]
async fn past_the_established_cap_the_handler_is_refused_its_place() {
    let server = start(Limits::new(1, 8, 8)).await;
    let identity = Identity::generate().expect("identity");
    let stream = net::connect(server.addr).await.expect("connect");
    let (mut first, _) = secure::initiate::<_, TrackerToPeer, PeerToTracker>(
        stream,
        &identity,
        None,
        net::HANDSHAKE_TIMEOUT,
    )
    .await
    .expect("handshake");
    first
        .send(PeerToTracker::Ping { nonce: 1 })
        .await
        .expect("send");
    assert!(matches!(
        tokio::time::timeout(WAIT, first.next()).await,
        Ok(Some(Ok(TrackerToPeer::Pong { nonce: 1 })))
    ));
    let stream = net::connect(server.addr).await.expect("connect");
    let (mut second, _) = secure::initiate::<_, TrackerToPeer, PeerToTracker>(
        stream,
        &identity,
        None,
        net::HANDSHAKE_TIMEOUT,
    )
    .await
    .expect("handshake");
    match tokio::time::timeout(WAIT, second.next()).await {
        Ok(Some(Ok(TrackerToPeer::Error { message, .. }))) => {
            assert_eq!(message, Refusal::Full.to_string());
        }
        other => panic!("expected the parting error, got {other:?}"),
    }
    server.stop().await;
}
