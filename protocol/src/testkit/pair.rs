//! Both ends of a handshaken Noise link, typed, over an in-memory pipe or TCP.

use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::net::{TcpListener, TcpStream};

use crate::Identity;
use crate::secure::{self, SecureFramed};

use super::{HANDSHAKE, within};

/// Handshakes `client_io` (the initiator, as `client`, pinning `server`'s key) with
/// `server_io` (the responder, as `server`) and checks each side learned the other's key.
/// The client sends `Up` and receives `Down`; the server the other way round.
pub async fn handshake_pair<C, S, Up, Down>(
    client_io: C,
    server_io: S,
    client: &Identity,
    server: &Identity,
) -> (SecureFramed<C, Down, Up>, SecureFramed<S, Up, Down>)
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
    Up: Serialize + DeserializeOwned,
    Down: Serialize + DeserializeOwned,
{
    let server_key = server.public_key();
    let (c, s) = within(
        "the handshake",
        futures::future::join(
            secure::initiate(client_io, client, Some(&server_key), HANDSHAKE),
            secure::accept(server_io, server, HANDSHAKE),
        ),
    )
    .await;
    let (c, seen_server) = c.unwrap_or_else(|e| panic!("initiator's handshake: {e}"));
    let (s, seen_client) = s.unwrap_or_else(|e| panic!("responder's handshake: {e}"));
    assert_eq!(seen_server, server_key, "the key the initiator saw");
    assert_eq!(
        seen_client,
        client.public_key(),
        "the key the responder saw"
    );
    (c, s)
}

/// [`handshake_pair`] over a fresh 64 KiB `tokio::io::duplex` pipe: an in-memory link for
/// tests that need no socket. For example `duplex_pair::<PeerToTracker, TrackerToPeer>`
/// gives a peer's end of a tracker link and the tracker's end.
pub async fn duplex_pair<Up, Down>(
    client: &Identity,
    server: &Identity,
) -> (
    SecureFramed<DuplexStream, Down, Up>,
    SecureFramed<DuplexStream, Up, Down>,
)
where
    Up: Serialize + DeserializeOwned,
    Down: Serialize + DeserializeOwned,
{
    let (c, s) = tokio::io::duplex(64 * 1024);
    handshake_pair(c, s, client, server).await
}

/// Two ends of a TCP connection on 127.0.0.1: (the connecting side, the accepted side).
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let (client, server) = within(
        "a TCP connection on 127.0.0.1",
        futures::future::join(TcpStream::connect(addr), listener.accept()),
    )
    .await;
    (client.expect("connect"), server.expect("accept").0)
}

#[cfg(test)]
mod tests {
    use futures::{SinkExt as _, StreamExt as _};

    use super::*;
    use crate::testkit::build::{identity, tracker_hello};
    use crate::tracker::{PeerToTracker, TrackerToPeer};

    #[tokio::test]
    async fn a_duplex_pair_carries_frames_both_ways() {
        let (peer, tracker) = (identity(), identity());
        let (mut up, mut down) = duplex_pair::<PeerToTracker, TrackerToPeer>(&peer, &tracker).await;
        up.send(tracker_hello("alice", 1, &["g"]))
            .await
            .expect("send");
        let got = within("the hello", down.next()).await;
        assert!(
            matches!(got, Some(Ok(PeerToTracker::Hello { .. }))),
            "{got:?}"
        );
        down.send(TrackerToPeer::Pong { nonce: 1 })
            .await
            .expect("send");
        let got = within("the pong", up.next()).await;
        assert!(
            matches!(got, Some(Ok(TrackerToPeer::Pong { nonce: 1 }))),
            "{got:?}"
        );
    }
}
