//! Hand-driven protocol clients for tests that must do what the real binaries never do:
//! claim other names, forge signatures, replay frames, go silent.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use natter_protocol::identity::sign_chat;
use natter_protocol::peer::{ChatMessage, MessageId, PeerFrame, SignedChat};
use natter_protocol::secure::{self, SecureFramed};
use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use natter_protocol::{GroupName, Identity, PROTOCOL_VERSION};
use tokio::net::TcpStream;

use super::WAIT;

const HANDSHAKE: Duration = Duration::from_secs(5);

pub type TrackerLink = SecureFramed<TcpStream, TrackerToPeer, PeerToTracker>;
pub type PeerLink = SecureFramed<TcpStream, PeerFrame, PeerFrame>;

pub fn identity() -> Identity {
    Identity::generate().expect("identity")
}

/// An encrypted link to the tracker, before any hello.
pub async fn tracker_link(addr: SocketAddr, me: &Identity) -> TrackerLink {
    let stream = TcpStream::connect(addr).await.expect("connect tracker");
    secure::initiate(stream, me, None, HANDSHAKE)
        .await
        .expect("tracker handshake")
        .0
}

/// Registers `name` with `groups` and returns the link and the tracker's first answer.
pub async fn register(
    addr: SocketAddr,
    me: &Identity,
    name: &str,
    listen_port: u16,
    groups: &[&str],
) -> (TrackerLink, TrackerToPeer) {
    let mut link = tracker_link(addr, me).await;
    link.send(PeerToTracker::Hello {
        version: PROTOCOL_VERSION,
        name: name.parse().expect("name"),
        listen_port,
        groups: groups.iter().map(|g| g.parse().expect("group")).collect(),
    })
    .await
    .expect("send hello");
    let answer = next(&mut link).await.expect("tracker answer");
    (link, answer)
}

/// The next frame, or `None` when the link closed or failed.
pub async fn next<In>(link: &mut SecureFramed<TcpStream, In, impl serde::Serialize>) -> Option<In>
where
    In: serde::de::DeserializeOwned,
{
    match tokio::time::timeout(WAIT, link.next()).await {
        Ok(Some(Ok(frame))) => Some(frame),
        Ok(_) => None,
        Err(_) => panic!("no frame within {WAIT:?}"),
    }
}

/// An encrypted link to a peer's listener, after the hello exchange.
pub async fn peer_link(addr: SocketAddr, me: &Identity, name: &str) -> PeerLink {
    match try_peer_link(addr, me, name).await {
        Ok(link) => link,
        Err(other) => panic!("expected the peer's hello, got {other:?}"),
    }
}

/// Like [`peer_link`], but returns what the peer answered instead of its hello (an error
/// frame, or `None` when it closed the link).
pub async fn try_peer_link(
    addr: SocketAddr,
    me: &Identity,
    name: &str,
) -> Result<PeerLink, Option<PeerFrame>> {
    let stream = TcpStream::connect(addr).await.expect("connect peer");
    let (mut link, _) = secure::initiate(stream, me, None, HANDSHAKE)
        .await
        .expect("peer handshake");
    link.send(PeerFrame::Hello {
        version: PROTOCOL_VERSION,
        name: name.parse().expect("name"),
    })
    .await
    .expect("send hello");
    match next(&mut link).await {
        Some(PeerFrame::Hello { .. }) => Ok(link),
        other => Err(other),
    }
}

/// A chat message from `from`, signed by `signer`.
pub fn chat(
    signer: &Identity,
    from: &str,
    seq: u64,
    group: Option<&str>,
    text: &str,
) -> SignedChat {
    let from_name = from.parse().expect("name");
    let message = ChatMessage {
        id: MessageId {
            sender: from.parse().expect("name"),
            seq,
        },
        from: from_name,
        group: group.map(|g| g.parse::<GroupName>().expect("group")),
        body: natter_protocol::peer::Body::Text { text: text.into() },
        sent_at: natter_protocol::unix_millis(),
    };
    let sig = sign_chat(signer, &message);
    SignedChat { message, sig }
}

/// Sends one chat frame. The receiver may drop it without a word, so this does not wait
/// for an answer.
pub async fn send_chat(link: &mut PeerLink, chat: SignedChat) {
    link.send(PeerFrame::Chat(chat)).await.expect("send chat");
}

/// The bytes `frame` makes on `link`'s session, without sending them, so a test can write
/// them under the codec itself: slowly, or only in part. Nothing else may then be sent
/// through the link (the session's nonce has moved on).
pub fn seal<In, Out: serde::Serialize>(
    link: &mut SecureFramed<TcpStream, In, Out>,
    frame: Out,
) -> Vec<u8> {
    use tokio_util::codec::Encoder;
    let mut buf = bytes::BytesMut::new();
    link.codec_mut()
        .encode(frame, &mut buf)
        .expect("seal frame");
    buf.to_vec()
}

/// A slow sender: writes `bytes` under `link`'s codec one byte every `pace` (all at once
/// when `pace` is zero), then sends nothing more, reading and ignoring whatever the remote
/// sends meanwhile. Returns how long after the start the remote closed the link; runs
/// until then (callers bound it with a timeout or abort it).
pub async fn stall<In, Out>(
    mut link: SecureFramed<TcpStream, In, Out>,
    bytes: Vec<u8>,
    pace: Duration,
) -> Duration
where
    In: serde::de::DeserializeOwned,
    Out: serde::Serialize,
{
    use tokio::io::AsyncWriteExt;
    let started = tokio::time::Instant::now();
    if pace.is_zero() && link.get_mut().write_all(&bytes).await.is_err() {
        return started.elapsed();
    }
    let mut unsent: &[u8] = if pace.is_zero() { &[] } else { &bytes };
    let mut next_write = started + pace;
    loop {
        if unsent.is_empty() {
            // Everything (or all we meant to) is sent: wait for the remote to give up.
            next_write = started + Duration::from_secs(3600);
        }
        tokio::select! {
            frame = link.next() => match frame {
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return started.elapsed(),
            },
            () = tokio::time::sleep_until(next_write) => {}
        }
        if let Some((first, rest)) = unsent.split_first() {
            if link.get_mut().write_all(&[*first]).await.is_err() {
                return started.elapsed();
            }
            unsent = rest;
            next_write += pace;
        }
    }
}
