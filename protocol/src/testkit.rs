//! The dev-only test kit (feature `test-util`): every scripted counterpart natter's tests
//! and fuzz targets need, written once.
//!
//! Enable it only from `[dev-dependencies]` (and the fuzz crate):
//!
//! ```toml
//! [dev-dependencies]
//! natter-protocol = { workspace = true, features = ["test-util"] }
//! ```
//!
//! It does I/O (sockets on 127.0.0.1, in-memory pipes) and panics with a readable message
//! when a step fails, which is what a test wants and what product code must never do; it
//! also enables the plain [`crate::FrameCodec`].
//!
//! | module | what it gives |
//! |---|---|
//! | [`build`] | identities, names, signed chat messages, members, hello frames |
//! | [`pair`] | both ends of a handshaken Noise link, over a `duplex` pipe or TCP |
//! | [`link`] | waits on any link with a timeout: next frame, expect a frame, until closed; raw sealed bytes and a slow sender |
//! | [`peer`] | a scripted raw peer: connect to a peer's listener, handshake, hello, chat, expect acks and errors; or accept one |
//! | [`tracker_client`] | a raw tracker client: handshake, hello, wait for the welcome, requests, answers (pings handled) |
//! | [`fake_tracker`] | [`FakeTracker`]: a scripted tracker a peer connects to; the test pushes frames and reads the peer's requests |
//! | [`auto_tracker`] | [`AutoTracker`]: a background tracker that welcomes everyone and answers look-ups from a directory |
//! | [`noise`] | sans-IO Noise pieces: a transport pair with fixed keys, sealing chunks, scripted handshake counterparts |
//!
//! Every wait is bounded by [`WAIT`] unless a function takes its own timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod auto_tracker;
pub mod build;
pub mod fake_tracker;
pub mod link;
pub mod noise;
pub mod pair;
pub mod peer;
pub mod tracker_client;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

pub use auto_tracker::AutoTracker;
pub use build::{
    chat, chat_frame, chat_message, group, identity, identity_for, invalid_point_key, member,
    member_at, name, peer_hello, signed_chat, tracker_hello,
};
pub use fake_tracker::{FakeTracker, TrackerConn};
pub use link::{expect_frame, recv, recv_within, seal, send, stall, until_closed};
pub use pair::{duplex_pair, handshake_pair, tcp_pair};
pub use peer::PeerLink;
pub use tracker_client::{TrackerClient, TrackerLink, numbered_member, stay_idle};

/// The bound on every wait in the kit: long enough for a loaded 2-core machine, short
/// enough that a hung test fails instead of hanging.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long handshakes the kit runs may take.
pub const HANDSHAKE: Duration = Duration::from_secs(5);

/// A listen address no one answers on: `127.0.0.1:9` (discard), for members whose address
/// a test never dials.
pub const NOWHERE: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9);

/// Awaits `f` for at most [`WAIT`]; panics with "timed out waiting for {what}" otherwise.
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(WAIT, f).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// An address on 127.0.0.1 where nothing listens (a port just bound and released): a
/// connection to it is refused at once.
pub async fn dead_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address")
}
