//! A scripted raw peer: what a hand-driven client (or a hostile one) does on a peer's
//! listener, and the accepting side for a test that plays the remote peer.
//!
//! A [`PeerLink`] is a plain `SecureFramed`, so `futures::SinkExt` (`send`, `feed`,
//! `flush`) and the [`super::link`] helpers work on it directly.

use std::net::SocketAddr;

use futures::SinkExt as _;
use tokio::net::{TcpListener, TcpStream};

use crate::peer::PeerFrame;
use crate::secure::{self, HandshakeError, SecureFramed};
use crate::{ErrorCode, Identity, Name, PublicKey};

use super::build::peer_hello;
use super::link::{expect_frame, recv};
use super::{HANDSHAKE, WAIT, within};

/// An encrypted peer-to-peer link over TCP.
pub type PeerLink = SecureFramed<TcpStream, PeerFrame, PeerFrame>;

/// Connects to a peer's listener at `addr` as `me` and runs the handshake, demanding the
/// peer's key be `expect` when given. No hello yet. Returns the link and the peer's key.
pub async fn try_connect(
    addr: SocketAddr,
    me: &Identity,
    expect: Option<&PublicKey>,
) -> Result<(PeerLink, PublicKey), HandshakeError> {
    let stream = within("a TCP connection", TcpStream::connect(addr)).await?;
    secure::initiate(stream, me, expect, HANDSHAKE).await
}

/// [`try_connect`], panicking (with the address and the reason) when it fails.
pub async fn connect(
    addr: SocketAddr,
    me: &Identity,
    expect: Option<&PublicKey>,
) -> (PeerLink, PublicKey) {
    try_connect(addr, me, expect)
        .await
        .unwrap_or_else(|e| panic!("connecting to the peer at {addr}: {e}"))
}

/// Connects as `me`, handshakes, and says hello as `name` without waiting for the answer
/// (which a test then reads: the peer's hello, or an error). Returns the link and the
/// peer's key.
pub async fn hello(addr: SocketAddr, me: &Identity, name: &str) -> (PeerLink, PublicKey) {
    let (mut link, key) = connect(addr, me, None).await;
    super::link::send(&mut link, peer_hello(name)).await;
    (link, key)
}

/// Like [`hello`], then waits for the peer's answer: the link once the peer said hello
/// back, or what it said instead (an error frame, or `None` when it closed the link).
pub async fn greeted(
    addr: SocketAddr,
    me: &Identity,
    name: &str,
) -> Result<PeerLink, Option<PeerFrame>> {
    let (mut link, _) = hello(addr, me, name).await;
    match recv(&mut link).await {
        Some(PeerFrame::Hello { .. }) => Ok(link),
        other => Err(other),
    }
}

/// Accepts the next connection on `listener` as the peer `me` (named `name`): the
/// handshake, the initiator's hello, and a hello back. Returns the link, the initiator's
/// key and the name it said hello with. Panics (saying which step) on any failure.
pub async fn accept(
    listener: &TcpListener,
    me: &Identity,
    name: &str,
) -> (PeerLink, PublicKey, Name) {
    let (stream, _) = within("a connection to the raw peer", listener.accept())
        .await
        .expect("accept");
    let (mut link, key) = secure::accept(stream, me, HANDSHAKE)
        .await
        .unwrap_or_else(|e| panic!("the raw peer's handshake: {e}"));
    let their_name = match expect_frame(&mut link).await {
        PeerFrame::Hello { name, .. } => name,
        other => panic!("expected a hello, got {other:?}"),
    };
    link.send(peer_hello(name))
        .await
        .unwrap_or_else(|e| panic!("sending the raw peer's hello: {e}"));
    (link, key, their_name)
}

/// The next frame other than a hello, or `None` when the link closed or failed. Panics
/// when nothing came within [`WAIT`].
pub async fn next_non_hello(link: &mut PeerLink) -> Option<PeerFrame> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match super::link::recv_within(link, left).await {
            Some(PeerFrame::Hello { .. }) => {}
            other => return other,
        }
    }
}

/// Waits for `n` acks (skipping hellos) and returns their ids as text (`sender/seq`);
/// panics on anything else.
pub async fn expect_acks(link: &mut PeerLink, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    while ids.len() < n {
        match next_non_hello(link).await {
            Some(PeerFrame::Ack { id }) => ids.push(id.to_string()),
            other => panic!("expected ack {} of {n}, got {other:?}", ids.len() + 1),
        }
    }
    ids
}

/// Waits for an error frame with `code` (skipping hellos) and returns its message; panics
/// on anything else.
pub async fn expect_error(link: &mut PeerLink, code: ErrorCode) -> String {
    match next_non_hello(link).await {
        Some(PeerFrame::Error { code: got, message }) if got == code => message,
        other => panic!("expected an error frame with {code:?}, got {other:?}"),
    }
}

/// Waits for a nack of any id with `code` (skipping hellos); returns the id (`sender/seq`)
/// and the message. Panics on anything else.
pub async fn expect_nack(link: &mut PeerLink, code: ErrorCode) -> (String, String) {
    match next_non_hello(link).await {
        Some(PeerFrame::Nack {
            id,
            code: got,
            message,
        }) if got == code => (id.to_string(), message),
        other => panic!("expected a nack with {code:?}, got {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::build::{chat, identity};
    use crate::testkit::{AutoTracker, TrackerClient};

    #[tokio::test]
    async fn a_raw_peer_greets_chats_and_reads_acks_and_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (alice, bob) = (identity(), identity());
        let bob_key = bob.public_key();
        let server = tokio::spawn(async move {
            let (mut link, key, name) = accept(&listener, &bob, "bob").await;
            assert_eq!(name.as_str(), "alice");
            let PeerFrame::Chat(signed) = expect_frame(&mut link).await else {
                panic!("expected a chat")
            };
            link.send(PeerFrame::Ack {
                id: signed.message.id,
            })
            .await
            .expect("ack");
            link.send(PeerFrame::Error {
                code: ErrorCode::Refused,
                message: "enough".into(),
            })
            .await
            .expect("error");
            key
        });
        let mut link = greeted(addr, &alice, "alice").await.expect("bob's hello");
        link.send(PeerFrame::Chat(chat(&alice, "alice", 1, None, "hi")))
            .await
            .expect("chat");
        assert_eq!(expect_acks(&mut link, 1).await, ["alice/1"]);
        assert_eq!(expect_error(&mut link, ErrorCode::Refused).await, "enough");
        assert_eq!(server.await.expect("server"), alice.public_key());
        // A pinned key that does not match is refused before any hello.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let impostor = identity();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let _ = secure::accept::<_, PeerFrame, PeerFrame>(stream, &impostor, HANDSHAKE).await;
        });
        let refused = try_connect(addr, &alice, Some(&bob_key)).await;
        assert!(matches!(refused, Err(HandshakeError::KeyMismatch { .. })));
    }

    #[tokio::test]
    async fn the_auto_tracker_welcomes_and_answers_lookups() {
        let tracker = AutoTracker::start().await;
        let (alice, carol) = (identity(), identity());
        tracker.register("carol", carol.public_key(), super::super::NOWHERE);
        let (mut client, welcome) = TrackerClient::register(
            tracker.addr,
            &alice,
            Some(&tracker.key),
            "alice",
            4000,
            &[] as &[&str],
        )
        .await;
        assert!(matches!(
            welcome,
            crate::tracker::TrackerToPeer::Welcome { .. }
        ));
        assert_eq!(
            tracker.lookup("alice").map(|m| m.key),
            Some(alice.public_key())
        );
        client
            .send(crate::tracker::PeerToTracker::Lookup {
                name: "carol".parse().expect("name"),
                req: Some(9),
            })
            .await;
        match client.recv().await {
            crate::tracker::TrackerToPeer::LookupResult {
                member: Some(m),
                req: Some(9),
                ..
            } => assert_eq!(m.key, carol.public_key()),
            other => panic!("expected carol, got {other:?}"),
        }
    }
}
