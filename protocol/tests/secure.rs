//! The encrypted link end to end: handshakes and frames over in-memory pipes and real TCP
//! sockets on 127.0.0.1, pinned keys, hostile or stalled handshakes, and what the wire shows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use natter_protocol::CodecError;
use natter_protocol::identity::{Identity, PublicKey};
use natter_protocol::peer::PeerFrame;
use natter_protocol::secure::{self, HandshakeError, SecureFramed};
use natter_protocol::testkit::{self, WAIT, handshake_pair, peer_hello as hello, tcp_pair, within};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

const HANDSHAKE: Duration = Duration::from_secs(5);

type Link<T> = SecureFramed<T, PeerFrame, PeerFrame>;

/// A group chat message from `from` (signed by a stranger: these tests never verify it).
fn chat(from: &str, text: &str) -> PeerFrame {
    let message = testkit::chat_message(from, 1, Some("secretclub"), text);
    testkit::chat_frame(&testkit::identity(), message)
}

/// Handshakes `client_io` (initiator, pinning the server's key) with `server_io`.
async fn connect<C, S>(
    client_io: C,
    server_io: S,
    client: &Identity,
    server: &Identity,
) -> (Link<C>, Link<S>)
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    handshake_pair(client_io, server_io, client, server).await
}

async fn exchange<C, S>(client: &mut Link<C>, server: &mut Link<S>)
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let big = "ab".repeat(150 * 1024);
    let sent = [hello("alice"), chat("alice", "hi bob"), chat("alice", &big)];
    // Send and receive at once: a 300 KiB frame does not fit in a small pipe's buffer.
    let send = async {
        for frame in &sent {
            client.feed(frame.clone()).await.expect("send");
        }
        client.flush().await.expect("flush");
    };
    let receive = async {
        let mut got = Vec::new();
        for _ in &sent {
            got.push(server.next().await.expect("open").expect("frame"));
        }
        got
    };
    let ((), got) = within("frames at server", futures::future::join(send, receive)).await;
    assert_eq!(got, sent);
    server.send(hello("bob")).await.expect("send back");
    let got = within("frame at client", client.next())
        .await
        .expect("open")
        .expect("frame");
    assert_eq!(got, hello("bob"));
}

#[tokio::test]
async fn handshake_and_frames_over_duplex() {
    let (alice, bob) = (
        Identity::generate().expect("id"),
        Identity::generate().expect("id"),
    );
    let (c, s) = tokio::io::duplex(64 * 1024);
    let (mut c, mut s) = connect(c, s, &alice, &bob).await;
    exchange(&mut c, &mut s).await;
}

#[tokio::test]
async fn handshake_and_frames_over_tcp() {
    let (alice, bob) = (
        Identity::generate().expect("id"),
        Identity::generate().expect("id"),
    );
    let (c, s) = tcp_pair().await;
    let (mut c, mut s) = connect(c, s, &alice, &bob).await;
    exchange(&mut c, &mut s).await;
    // Closing one side ends the other's stream cleanly.
    drop(c);
    assert!(within("close", s.next()).await.is_none());
}

#[tokio::test]
async fn unpinned_initiator_learns_the_responder_key() {
    let (alice, bob) = (
        Identity::generate().expect("id"),
        Identity::generate().expect("id"),
    );
    let (c, s) = tokio::io::duplex(4096);
    let (c, s) = within(
        "handshake",
        futures::future::join(
            secure::initiate::<_, PeerFrame, PeerFrame>(c, &alice, None, HANDSHAKE),
            secure::accept::<_, PeerFrame, PeerFrame>(s, &bob, HANDSHAKE),
        ),
    )
    .await;
    assert_eq!(c.expect("initiator").1, bob.public_key());
    assert_eq!(s.expect("responder").1, alice.public_key());
}

#[tokio::test]
async fn pinned_key_mismatch_is_refused_before_the_initiator_reveals_itself() {
    let (alice, bob, mallory) = (
        Identity::generate().expect("id"),
        Identity::generate().expect("id"),
        Identity::generate().expect("id"),
    );
    let (c, s) = tokio::io::duplex(4096);
    let bob_key = bob.public_key();
    let (c, s) = within(
        "handshake",
        futures::future::join(
            secure::initiate::<_, PeerFrame, PeerFrame>(c, &alice, Some(&bob_key), HANDSHAKE),
            secure::accept::<_, PeerFrame, PeerFrame>(s, &mallory, HANDSHAKE),
        ),
    )
    .await;
    match c {
        Err(HandshakeError::KeyMismatch { expected, got }) => {
            assert_eq!(expected, bob.public_key());
            assert_eq!(got, mallory.public_key());
        }
        other => panic!("expected a key mismatch, got {:?}", other.map(|(_, k)| k)),
    }
    // The impostor never learns who connected: its handshake just ends.
    assert!(matches!(
        s,
        Err(HandshakeError::Closed | HandshakeError::Io(_))
    ));
}

#[tokio::test]
async fn expecting_an_invalid_point_key_fails_the_handshake_cleanly() {
    // A member record may carry a key that is not an Ed25519 point (decoding keeps it):
    // dialling that member must fail, since no identity can prove it holds such a key.
    let (alice, bob) = (
        Identity::generate().expect("id"),
        Identity::generate().expect("id"),
    );
    let bogus = testkit::invalid_point_key();
    let (c, s) = tokio::io::duplex(4096);
    let (c, _s) = within(
        "handshake",
        futures::future::join(
            secure::initiate::<_, PeerFrame, PeerFrame>(c, &alice, Some(&bogus), HANDSHAKE),
            secure::accept::<_, PeerFrame, PeerFrame>(s, &bob, HANDSHAKE),
        ),
    )
    .await;
    match c {
        Err(HandshakeError::KeyMismatch { expected, got }) => {
            assert_eq!(expected, bogus);
            assert_eq!(got, bob.public_key());
        }
        other => panic!("expected a key mismatch, got {:?}", other.map(|(_, k)| k)),
    }
}

/// Runs `accept` against bytes a hostile client writes, then closes its side.
async fn accept_bytes(
    bytes: &[u8],
    keep_open: bool,
    timeout: Duration,
) -> Result<PublicKey, HandshakeError> {
    let server = Identity::from_secrets(&[9; 32], &[10; 32]);
    let (mut c, s) = tokio::io::duplex(64 * 1024);
    c.write_all(bytes).await.expect("write");
    let _held = if keep_open {
        Some(c)
    } else {
        drop(c);
        None
    };
    secure::accept::<_, PeerFrame, PeerFrame>(s, &server, timeout)
        .await
        .map(|(_, key)| key)
}

#[tokio::test]
async fn garbage_instead_of_a_handshake_fails_fast() {
    let mut first = vec![0, 0, 0, 32];
    first.extend_from_slice(&[7; 32]);
    let mut second = first.clone();
    second.extend_from_slice(&[0, 0, 0, 160]);
    second.extend_from_slice(&[1; 160]);
    let cases: Vec<(&[u8], &str)> = vec![
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "http"),
        (&[0xff; 64], "huge length"),
        (&[0, 0, 0, 5, 1, 2, 3, 4, 5], "short first message"),
        (&first, "first message then close"),
        (&second, "garbage third message"),
        (&[], "nothing"),
    ];
    for (bytes, what) in cases {
        let result = within(what, accept_bytes(bytes, false, HANDSHAKE)).await;
        assert!(
            matches!(
                result,
                Err(HandshakeError::BadMessage(_)
                    | HandshakeError::Noise(_)
                    | HandshakeError::Closed
                    | HandshakeError::Io(_))
            ),
            "{what}: {result:?}"
        );
    }
}

#[tokio::test]
async fn garbage_from_the_responder_fails_the_initiator() {
    let alice = Identity::generate().expect("id");
    let (c, mut s) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move {
        let mut first = [0u8; 36];
        s.read_exact(&mut first).await.expect("first message");
        s.write_all(&[0, 0, 0, 192]).await.expect("write");
        s.write_all(&[3; 192]).await.expect("write");
        s
    });
    let result = within(
        "initiator",
        secure::initiate::<_, PeerFrame, PeerFrame>(c, &alice, None, HANDSHAKE),
    )
    .await;
    assert!(
        matches!(result, Err(HandshakeError::Noise(_))),
        "{:?}",
        result.map(|(_, k)| k)
    );
    drop(server.await.expect("server task"));
}

#[tokio::test]
async fn truncated_handshake_times_out() {
    let timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    // A length prefix promising 32 bytes, then only ten of them, and the connection stays open.
    let result = accept_bytes(&[0, 0, 0, 32, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], true, timeout).await;
    assert!(
        matches!(result, Err(HandshakeError::Timeout(t)) if t == timeout),
        "{result:?}"
    );
    assert!(started.elapsed() < WAIT);
}

#[tokio::test]
async fn silent_tcp_client_times_out() {
    let bob = Identity::generate().expect("id");
    let (_c, s) = tcp_pair().await;
    let timeout = Duration::from_millis(300);
    let result = secure::accept::<_, PeerFrame, PeerFrame>(s, &bob, timeout).await;
    assert!(matches!(result, Err(HandshakeError::Timeout(_))));
}

/// Bytes that crossed a relay, per direction.
struct Capture {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

/// Copies `from` to `to` until `from` ends, returning every byte copied. With `coalesce`,
/// holds the sender's second length-delimited message back until the third has arrived,
/// then writes both at once, so the receiver reads past the end of the handshake in one go.
async fn pump<R, W>(mut from: R, mut to: W, coalesce: bool) -> Vec<u8>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut seen = Vec::new();
    let mut sent = 0;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        seen.extend_from_slice(&buf[..n]);
        let ready = if coalesce {
            // Forward whole messages; message 2 only together with message 3.
            let ends = message_ends(&seen);
            match ends.len() {
                0 => sent,
                1 => ends[0],
                2 => ends[0],
                _ => *ends.last().unwrap_or(&sent),
            }
        } else {
            seen.len()
        };
        if ready > sent {
            if to.write_all(&seen[sent..ready]).await.is_err() {
                break;
            }
            sent = ready;
        }
    }
    let _ = to.write_all(&seen[sent..]).await;
    let _ = to.shutdown().await;
    seen
}

/// Offsets just past each complete length-delimited message in `bytes`.
fn message_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    while let Some(len) = natter_protocol::codec::peek_length(&bytes[at..]) {
        let end = at + 4 + len as usize;
        if end > bytes.len() {
            break;
        }
        ends.push(end);
        at = end;
    }
    ends
}

/// A TCP relay between a client and a server socket that records what it carries.
async fn tcp_relay(coalesce: bool) -> (TcpStream, TcpStream, tokio::task::JoinHandle<Capture>) {
    let (client, relay_front) = tcp_pair().await;
    let (relay_back, server) = tcp_pair().await;
    let relay = tokio::spawn(async move {
        let (front_r, front_w) = relay_front.into_split();
        let (back_r, back_w) = relay_back.into_split();
        let (to_server, to_client) = futures::future::join(
            pump(front_r, back_w, coalesce),
            pump(back_r, front_w, false),
        )
        .await;
        Capture {
            to_server,
            to_client,
        }
    });
    (client, server, relay)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn captured_bytes_hold_no_plaintext() {
    let (alice, bob) = (
        Identity::generate().expect("id"),
        Identity::generate().expect("id"),
    );
    let (c, s, relay) = tcp_relay(false).await;
    let (mut c, mut s) = connect(c, s, &alice, &bob).await;
    c.send(chat("alice", "the eagle lands at midnight"))
        .await
        .expect("send");
    assert!(within("chat", s.next()).await.is_some());
    s.send(chat("bob", "roger that")).await.expect("send");
    assert!(within("reply", c.next()).await.is_some());
    drop((c, s));
    let capture = within("relay", relay).await.expect("relay task");
    assert!(capture.to_server.len() > 100 && capture.to_client.len() > 100);
    for wire in [&capture.to_server, &capture.to_client] {
        for needle in [
            &b"eagle"[..],
            b"roger",
            b"alice",
            b"bob",
            b"secretclub",
            b"chat",
            b"type",
            alice.public_key().as_bytes(),
            bob.public_key().as_bytes(),
            alice.public_key().to_string().as_bytes(),
            alice.noise_public(),
            bob.noise_public(),
        ] {
            assert!(
                !contains(wire, needle),
                "{:?} in the clear",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

#[tokio::test]
async fn bytes_read_past_the_handshake_are_kept() {
    let (alice, bob) = (
        Identity::generate().expect("id"),
        Identity::generate().expect("id"),
    );
    let (c, s, _relay) = tcp_relay(true).await;
    let bob_key = bob.public_key();
    let client = async {
        let (mut link, _) =
            secure::initiate::<_, PeerFrame, PeerFrame>(c, &alice, Some(&bob_key), HANDSHAKE)
                .await
                .expect("initiator");
        // Sent right behind the last handshake message; the relay delivers both at once.
        link.send(hello("alice")).await.expect("send");
        link
    };
    let server = async {
        let (mut link, _) = secure::accept::<_, PeerFrame, PeerFrame>(s, &bob, HANDSHAKE)
            .await
            .expect("responder");
        let first = link.next().await.expect("open").expect("frame");
        (link, first)
    };
    let (_client, (_server, first)) = within("both", futures::future::join(client, server)).await;
    assert_eq!(first, hello("alice"));
}

#[tokio::test]
async fn tampered_traffic_closes_the_link() {
    let (alice, bob) = (
        Identity::generate().expect("id"),
        Identity::generate().expect("id"),
    );
    let (c, s) = tokio::io::duplex(64 * 1024);
    let (c, mut s) = connect(c, s, &alice, &bob).await;
    // Write a well-framed but forged Noise message underneath the codec.
    let mut raw = c.into_inner();
    raw.write_all(&[0, 0, 0, 40]).await.expect("write");
    raw.write_all(&[5; 40]).await.expect("write");
    let got = within("error", s.next()).await.expect("an item");
    assert!(matches!(got, Err(CodecError::Crypto(_))), "{got:?}");
    assert!(
        within("end", s.next()).await.is_none(),
        "the stream ends after the error"
    );
}

mod fuzzish {
    use super::*;
    use proptest::prelude::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// A real initiator whose bytes to the responder are altered in flight.
    async fn mutated_handshake(at: usize, xor: u8) -> Result<PublicKey, HandshakeError> {
        let (alice, bob) = (
            Identity::from_secrets(&[1; 32], &[2; 32]),
            Identity::from_secrets(&[3; 32], &[4; 32]),
        );
        let (c, relay_front) = tokio::io::duplex(4096);
        let (relay_back, s) = tokio::io::duplex(4096);
        let relay = async move {
            let (mut fr, mut fw) = tokio::io::split(relay_front);
            let (mut br, mut bw) = tokio::io::split(relay_back);
            let up = async {
                let mut seen = 0usize;
                let mut buf = [0u8; 1024];
                while let Ok(n) = fr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if (seen..seen + n).contains(&at) {
                        buf[at - seen] ^= xor;
                    }
                    seen += n;
                    if bw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = bw.shutdown().await;
            };
            let down = async {
                let _ = tokio::io::copy(&mut br, &mut fw).await;
                let _ = fw.shutdown().await;
            };
            futures::future::join(up, down).await;
        };
        let timeout = Duration::from_secs(1);
        let client = async {
            let result =
                secure::initiate::<_, PeerFrame, PeerFrame>(c, &alice, None, timeout).await;
            drop(result);
        };
        let server = secure::accept::<_, PeerFrame, PeerFrame>(s, &bob, timeout);
        let ((), (), accepted) = futures::future::join3(relay, client, server).await;
        accepted.map(|(_, key)| key)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_bytes_to_the_responder_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let result = runtime().block_on(accept_bytes(&bytes, false, Duration::from_secs(2)));
            prop_assert!(result.is_err());
        }

        #[test]
        fn mutated_handshakes_never_panic_or_authenticate_wrongly(at in 0usize..200, bit in 0u8..8) {
            // The initiator sends 36 + 164 bytes; every byte is covered by Noise or framing.
            let result = runtime().block_on(mutated_handshake(at, 1 << bit));
            prop_assert!(result.is_err(), "a flipped bit at {} still authenticated", at);
        }
    }
}
