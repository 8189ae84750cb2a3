//! Hand-driven protocol clients for tests that must do what the real binaries never do:
//! claim other names, forge signatures, replay frames, go silent. All of it is the shared
//! test kit (`natter_protocol::testkit`); this module keeps the short names the suites use
//! and the multi-process tests' longer wait.

use std::net::SocketAddr;

use natter_protocol::Identity;
use natter_protocol::peer::{PeerFrame, SignedChat};
use natter_protocol::secure::SecureFramed;
use natter_protocol::testkit::{self, TrackerClient, peer};
use natter_protocol::tracker::TrackerToPeer;
use tokio::net::TcpStream;

use super::WAIT;

// Not every suite uses every helper (util is compiled into each suite).
#[allow(unused_imports)]
pub use natter_protocol::testkit::{PeerLink, TrackerLink, chat, identity, seal, stall};

/// An encrypted link to the tracker, before any hello.
pub async fn tracker_link(addr: SocketAddr, me: &Identity) -> TrackerLink {
    TrackerClient::connect(addr, me, None).await.link
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
    testkit::send(&mut link, testkit::tracker_hello(name, listen_port, groups)).await;
    let answer = next(&mut link).await.expect("tracker answer");
    (link, answer)
}

/// The next frame, or `None` when the link closed or failed; panics after [`WAIT`].
pub async fn next<In>(link: &mut SecureFramed<TcpStream, In, impl serde::Serialize>) -> Option<In>
where
    In: serde::de::DeserializeOwned,
{
    testkit::recv_within(link, WAIT).await
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
    let (mut link, _) = peer::hello(addr, me, name).await;
    match next(&mut link).await {
        Some(PeerFrame::Hello { .. }) => Ok(link),
        other => Err(other),
    }
}

/// Sends one chat frame. The receiver may drop it without a word, so this does not wait
/// for an answer.
pub async fn send_chat(link: &mut PeerLink, chat: SignedChat) {
    testkit::send(link, PeerFrame::Chat(chat)).await;
}
