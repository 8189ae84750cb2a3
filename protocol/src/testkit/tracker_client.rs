//! A raw tracker client: what a peer's tracker link does, driven by hand, so a test can do
//! what the real peer never does (claim names, flood, go silent, write garbage).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;

use crate::secure::{self, HandshakeError, SecureFramed};
use crate::tracker::{PeerToTracker, TrackerToPeer};
use crate::{Identity, PublicKey};

use super::build::tracker_hello;
use super::{HANDSHAKE, WAIT, within};

/// An encrypted link to a tracker over TCP, as a peer sees it.
pub type TrackerLink = SecureFramed<TcpStream, TrackerToPeer, PeerToTracker>;

/// A hand-driven peer on a tracker. `link` is public for raw writes
/// (`client.link.get_mut().write_all(..)`) and for [`super::link::seal`] / [`super::stall`].
pub struct TrackerClient {
    pub link: TrackerLink,
    /// The tracker's key, as the handshake authenticated it.
    pub tracker_key: PublicKey,
    /// Whether [`TrackerClient::recv`] answers the tracker's pings (default: yes). A
    /// client that does not is dropped after three heartbeats.
    pub answers_pings: bool,
}

impl TrackerClient {
    /// Connects to `addr` as `me` and runs the handshake, demanding the tracker's key be
    /// `expect` when given. No hello yet.
    pub async fn try_connect(
        addr: SocketAddr,
        me: &Identity,
        expect: Option<&PublicKey>,
    ) -> Result<Self, HandshakeError> {
        let stream = within("a TCP connection", TcpStream::connect(addr)).await?;
        let (link, tracker_key) = secure::initiate(stream, me, expect, HANDSHAKE).await?;
        Ok(Self {
            link,
            tracker_key,
            answers_pings: true,
        })
    }

    /// [`TrackerClient::try_connect`], panicking (with the address and reason) on failure.
    pub async fn connect(addr: SocketAddr, me: &Identity, expect: Option<&PublicKey>) -> Self {
        Self::try_connect(addr, me, expect)
            .await
            .unwrap_or_else(|e| panic!("connecting to the tracker at {addr}: {e}"))
    }

    /// Connects, handshakes and says hello as `name` listening on `port`, in `groups`;
    /// returns the client and the tracker's answer (a welcome, or an error).
    pub async fn register<G: AsRef<str>>(
        addr: SocketAddr,
        me: &Identity,
        expect: Option<&PublicKey>,
        name: &str,
        port: u16,
        groups: &[G],
    ) -> (Self, TrackerToPeer) {
        let mut client = Self::connect(addr, me, expect).await;
        let answer = client.hello(name, port, groups).await;
        (client, answer)
    }

    /// Says hello on this link; returns the tracker's answer.
    pub async fn hello<G: AsRef<str>>(
        &mut self,
        name: &str,
        port: u16,
        groups: &[G],
    ) -> TrackerToPeer {
        self.send(tracker_hello(name, port, groups)).await;
        self.recv().await
    }

    /// Waits for the welcome; returns the address the tracker will hand out for this
    /// peer. Panics on anything else.
    pub async fn expect_welcome(&mut self) -> SocketAddr {
        match self.recv().await {
            TrackerToPeer::Welcome { addr, .. } => addr,
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    /// Sends `frame`; panics if the link is broken.
    pub async fn send(&mut self, frame: PeerToTracker) {
        self.link
            .send(frame)
            .await
            .unwrap_or_else(|e| panic!("sending to the tracker: {e}"));
    }

    /// The next frame that is not a ping (answering pings if [`Self::answers_pings`]), or
    /// `None` when the tracker closed the link or it failed. Panics when no frame at all
    /// (pings included) comes for [`WAIT`].
    pub async fn try_recv(&mut self) -> Option<TrackerToPeer> {
        loop {
            let frame = match tokio::time::timeout(WAIT, self.link.next()).await {
                Err(_) => panic!("no frame from the tracker within {WAIT:?}"),
                Ok(Some(Ok(frame))) => frame,
                Ok(_) => return None,
            };
            match frame {
                TrackerToPeer::Ping { nonce } => {
                    if self.answers_pings {
                        self.send(PeerToTracker::Pong { nonce }).await;
                    }
                }
                other => return Some(other),
            }
        }
    }

    /// [`TrackerClient::try_recv`], panicking if the tracker closed the link.
    pub async fn recv(&mut self) -> TrackerToPeer {
        match self.try_recv().await {
            Some(frame) => frame,
            None => panic!("the tracker closed the link (or it failed) before answering"),
        }
    }

    /// Waits until the tracker closes this link; returns every frame sent before (pings
    /// included, none answered). Panics if it stays open for [`WAIT`].
    pub async fn until_closed(&mut self) -> Vec<TrackerToPeer> {
        super::link::until_closed(&mut self.link).await
    }
}

/// Peer number `i` (`t{i}`, listening on port 10000 + `i`, a fresh key) registered and
/// joined to group `g{i / group_size}`: the idle online peers memory is measured with.
pub async fn numbered_member(addr: SocketAddr, i: usize, group_size: usize) -> TrackerLink {
    let me = super::identity();
    let port = u16::try_from(10_000 + i).unwrap_or_else(|_| panic!("peer number {i} is too high"));
    let (mut client, welcome) =
        TrackerClient::register(addr, &me, None, &format!("t{i}"), port, &[] as &[&str]).await;
    assert!(
        matches!(welcome, TrackerToPeer::Welcome { .. }),
        "t{i}: {welcome:?}"
    );
    let group = super::group(&format!("g{}", i / group_size));
    client
        .send(PeerToTracker::Join {
            group,
            req: Some(1),
        })
        .await;
    client.link
}

/// Reads what the tracker pushes (counting frames into `frames`) and answers its pings,
/// until the link closes: an idle online peer.
pub async fn stay_idle(mut link: TrackerLink, frames: Arc<AtomicU64>) {
    while let Some(Ok(frame)) = link.next().await {
        frames.fetch_add(1, Ordering::Relaxed);
        if let TrackerToPeer::Ping { nonce } = frame
            && link.send(PeerToTracker::Pong { nonce }).await.is_err()
        {
            return;
        }
    }
}
