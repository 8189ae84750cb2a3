//! [`FakeTracker`]: a scripted tracker for testing a peer's tracker link. It listens on
//! 127.0.0.1:0; each [`FakeTracker::accept`] takes the peer's next connection, runs the
//! handshake, reads the hello and answers with a welcome, and hands the test a
//! [`TrackerConn`] to push frames on and read the peer's requests from.
//!
//! Nothing runs in the background: a connection the test does not accept waits in the
//! listener's queue, so the test decides exactly when the peer gets through.

use std::net::SocketAddr;

use futures::SinkExt as _;
use tokio::net::{TcpListener, TcpStream};

use crate::secure::{self, HandshakeError, SecureFramed};
use crate::tracker::{PeerToTracker, TrackerToPeer};
use crate::{GroupName, Identity, Name, PROTOCOL_VERSION, PublicKey};

use super::link::{expect_frame, until_closed};
use super::{HANDSHAKE, within};

/// The tracker's end of a link, as the fake sees it.
pub type TrackerSide = SecureFramed<TcpStream, PeerToTracker, TrackerToPeer>;

/// A listener that plays the tracker, one scripted connection at a time.
pub struct FakeTracker {
    listener: TcpListener,
    /// Where the peer should connect (`127.0.0.1:<port>`).
    pub addr: SocketAddr,
    /// The identity the fake answers handshakes with (see [`FakeTracker::key`]).
    pub identity: Identity,
}

/// One accepted and welcomed peer connection.
pub struct TrackerConn {
    /// The raw link, for anything the helpers below do not cover.
    pub link: TrackerSide,
    /// The key the peer authenticated with.
    pub peer_key: PublicKey,
    /// The name, listen address (connection IP, announced port) and groups of its hello.
    pub name: Name,
    pub addr: SocketAddr,
    pub groups: Vec<GroupName>,
}

impl FakeTracker {
    /// Binds 127.0.0.1:0 with a fresh identity.
    pub async fn bind() -> Self {
        Self::bind_as(super::build::identity()).await
    }

    /// Binds 127.0.0.1:0, answering handshakes as `identity`.
    pub async fn bind_as(identity: Identity) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        Self {
            listener,
            addr,
            identity,
        }
    }

    /// The key peers see (and pin) for this tracker.
    pub fn key(&self) -> PublicKey {
        self.identity.public_key()
    }

    /// Accepts the peer's next connection within [`super::WAIT`], checks its hello is of the
    /// current version, and welcomes it with `heartbeat_secs`.
    pub async fn accept(&self, heartbeat_secs: u64) -> TrackerConn {
        self.accept_as(&self.identity, heartbeat_secs).await
    }

    /// Like [`FakeTracker::accept`], answering the handshake as `identity` instead (an
    /// impostor at the same address, or a tracker whose key changed).
    pub async fn accept_as(&self, identity: &Identity, heartbeat_secs: u64) -> TrackerConn {
        let (mut link, peer_key, remote) = match self.handshake_as(identity).await {
            Ok(accepted) => accepted,
            Err(e) => panic!("the fake tracker's handshake: {e}"),
        };
        let hello = expect_frame(&mut link).await;
        let PeerToTracker::Hello {
            version,
            name,
            listen_port,
            groups,
        } = hello
        else {
            panic!("expected a hello, got {hello:?}")
        };
        assert_eq!(version, PROTOCOL_VERSION, "the hello's protocol version");
        let addr = SocketAddr::new(remote.ip(), listen_port);
        let welcome = TrackerToPeer::Welcome {
            version,
            name: name.clone(),
            addr,
            heartbeat_secs,
        };
        link.send(welcome)
            .await
            .unwrap_or_else(|e| panic!("sending the welcome: {e}"));
        TrackerConn {
            link,
            peer_key,
            name,
            addr,
            groups,
        }
    }

    /// Accepts the next connection and runs only the handshake as `identity`; returns the
    /// link, the peer's key and the connection's remote address, or why the handshake
    /// failed (a peer that refuses a changed key closes it). Panics if no one connects
    /// within [`super::WAIT`].
    pub async fn handshake_as(
        &self,
        identity: &Identity,
    ) -> Result<(TrackerSide, PublicKey, SocketAddr), HandshakeError> {
        let (stream, remote) = within("the peer to connect to the tracker", self.listener.accept())
            .await
            .expect("accept");
        let (link, key) = secure::accept(stream, identity, HANDSHAKE).await?;
        Ok((link, key, remote))
    }
}

impl TrackerConn {
    /// Sends `frame` to the peer; panics if the link is broken.
    pub async fn push(&mut self, frame: TrackerToPeer) {
        self.link
            .send(frame)
            .await
            .unwrap_or_else(|e| panic!("pushing to the peer: {e}"));
    }

    /// The peer's next request; panics (saying why) when it closed the link, sent
    /// something undecodable or stayed silent for [`super::WAIT`].
    pub async fn expect_request(&mut self) -> PeerToTracker {
        expect_frame(&mut self.link).await
    }

    /// Waits until the peer closes the link; returns what it sent before.
    pub async fn until_closed(&mut self) -> Vec<PeerToTracker> {
        until_closed(&mut self.link).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::build::{group, identity, member};
    use crate::testkit::{TrackerClient, within};

    #[tokio::test]
    async fn a_peer_is_welcomed_then_the_script_pushes_and_reads_requests() {
        let fake = FakeTracker::bind().await;
        let me = identity();
        let addr = fake.addr;
        let key = fake.key();
        let peer = tokio::spawn(async move {
            let (mut client, welcome) =
                TrackerClient::register(addr, &me, Some(&key), "alice", 4000, &["g"]).await;
            assert!(
                matches!(
                    welcome,
                    TrackerToPeer::Welcome {
                        heartbeat_secs: 7,
                        ..
                    }
                ),
                "{welcome:?}"
            );
            let pushed = client.recv().await;
            client
                .send(PeerToTracker::Join {
                    group: group("h"),
                    req: Some(1),
                })
                .await;
            pushed
        });
        let mut conn = fake.accept(7).await;
        assert_eq!(conn.name.as_str(), "alice");
        assert_eq!(conn.addr.port(), 4000);
        assert_eq!(conn.groups, vec![group("g")]);
        conn.push(TrackerToPeer::Ping { nonce: 1 }).await;
        let members = TrackerToPeer::Members {
            group: group("g"),
            version: 1,
            members: vec![member("alice", conn.peer_key, true)],
            req: None,
            owner: None,
            topic: None,
            private: false,
            by: Default::default(),
        };
        conn.push(members.clone()).await;
        // The client answered the ping while waiting for the member list.
        assert_eq!(
            conn.expect_request().await,
            PeerToTracker::Pong { nonce: 1 }
        );
        assert_eq!(
            conn.expect_request().await,
            PeerToTracker::Join {
                group: group("h"),
                req: Some(1)
            }
        );
        assert_eq!(within("the client", peer).await.expect("client"), members);
        assert!(conn.until_closed().await.is_empty());
    }
}
