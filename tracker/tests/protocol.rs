//! In-process tests: start `run` on 127.0.0.1:0 and speak the protocol with raw clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use natter_protocol::tracker::{Member, MemberChange, PeerToTracker, TrackerToPeer};
use natter_protocol::{ErrorCode, FrameCodec, PROTOCOL_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

struct Tracker {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Tracker {
    async fn start(dir: &Path, heartbeat: Duration) -> Tracker {
        let listener = natter_tracker::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = natter_tracker::Config::new(dir.join("tracker.json"));
        config.heartbeat = heartbeat;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(natter_tracker::run(listener, config, shutdown.clone()));
        Tracker {
            addr,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("tracker did not stop")
            .expect("tracker task")
            .expect("tracker run");
    }
}

struct Client {
    framed: Framed<TcpStream, FrameCodec<TrackerToPeer, PeerToTracker>>,
    /// Whether to answer the tracker's pings while waiting.
    answers_pings: bool,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        Client {
            framed: Framed::new(stream, FrameCodec::default()),
            answers_pings: true,
        }
    }

    /// Connects and says hello as `name` (listening on `port`) with `groups`; returns the
    /// welcome.
    async fn hello(
        addr: SocketAddr,
        name: &str,
        port: u16,
        groups: &[&str],
    ) -> (Client, TrackerToPeer) {
        let mut client = Client::connect(addr).await;
        client
            .send(PeerToTracker::Hello {
                version: PROTOCOL_VERSION,
                name: name.parse().unwrap(),
                listen_port: port,
                groups: groups.iter().map(|g| g.parse().unwrap()).collect(),
            })
            .await;
        let welcome = client.recv().await;
        (client, welcome)
    }

    async fn send(&mut self, frame: PeerToTracker) {
        self.framed.send(frame).await.unwrap();
    }

    /// The next frame that is not a ping (answering pings if this client does).
    async fn recv(&mut self) -> TrackerToPeer {
        loop {
            let frame = tokio::time::timeout(WAIT, self.framed.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("connection closed")
                .expect("bad frame from tracker");
            match frame {
                TrackerToPeer::Ping { nonce } => {
                    if self.answers_pings {
                        self.send(PeerToTracker::Pong { nonce }).await;
                    }
                }
                other => return other,
            }
        }
    }

    /// Waits until the tracker closes this connection; returns the frames sent before.
    async fn until_closed(&mut self) -> Vec<TrackerToPeer> {
        let mut got = Vec::new();
        loop {
            match tokio::time::timeout(WAIT, self.framed.next())
                .await
                .expect("tracker did not close the connection")
            {
                None | Some(Err(_)) => return got,
                Some(Ok(frame)) => got.push(frame),
            }
        }
    }
}

fn member(name: &str, addr: SocketAddr) -> Member {
    Member {
        name: name.parse().unwrap(),
        addr,
        online: true,
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn error_code(frames: &[TrackerToPeer]) -> Option<ErrorCode> {
    frames.iter().find_map(|f| match f {
        TrackerToPeer::Error { code, .. } => Some(*code),
        _ => None,
    })
}

#[tokio::test]
async fn hello_gets_welcome_at_connection_ip_and_announced_port() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (_alice, welcome) = Client::hello(tracker.addr, "alice", 4000, &[]).await;
    assert_eq!(
        welcome,
        TrackerToPeer::Welcome {
            version: PROTOCOL_VERSION,
            name: "alice".parse().unwrap(),
            addr: local(4000),
            heartbeat_secs: 10,
        }
    );
    tracker.stop().await;
}

#[tokio::test]
async fn join_pushes_snapshot_and_deltas_and_is_saved_first() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (mut alice, _) = Client::hello(tracker.addr, "alice", 4000, &[]).await;
    alice
        .send(PeerToTracker::Join {
            group: "rust".parse().unwrap(),
        })
        .await;
    assert_eq!(
        alice.recv().await,
        TrackerToPeer::Members {
            group: "rust".parse().unwrap(),
            version: 1,
            members: vec![member("alice", local(4000))],
        }
    );
    // The join is on disk before the reply went out.
    let saved = std::fs::read_to_string(dir.path().join("tracker.json")).unwrap();
    assert!(saved.contains("alice"), "{saved}");

    let (mut bob, _) = Client::hello(tracker.addr, "bob", 5000, &["rust"]).await;
    assert_eq!(
        bob.recv().await,
        TrackerToPeer::Members {
            group: "rust".parse().unwrap(),
            version: 2,
            members: vec![member("alice", local(4000)), member("bob", local(5000))],
        }
    );
    assert_eq!(
        alice.recv().await,
        TrackerToPeer::MemberUpdate {
            group: "rust".parse().unwrap(),
            version: 2,
            change: MemberChange::Joined {
                member: member("bob", local(5000)),
            },
        }
    );

    bob.send(PeerToTracker::Leave {
        group: "rust".parse().unwrap(),
    })
    .await;
    assert_eq!(
        bob.recv().await,
        TrackerToPeer::Left {
            group: "rust".parse().unwrap(),
        }
    );
    assert!(matches!(
        alice.recv().await,
        TrackerToPeer::MemberUpdate {
            version: 3,
            change: MemberChange::Left { .. },
            ..
        }
    ));
    // A second leave is refused, and the link stays up.
    bob.send(PeerToTracker::Leave {
        group: "rust".parse().unwrap(),
    })
    .await;
    assert!(matches!(
        bob.recv().await,
        TrackerToPeer::Error {
            code: ErrorCode::NotMember,
            ..
        }
    ));
    bob.send(PeerToTracker::Lookup {
        name: "alice".parse().unwrap(),
    })
    .await;
    assert_eq!(
        bob.recv().await,
        TrackerToPeer::LookupResult {
            name: "alice".parse().unwrap(),
            member: Some(member("alice", local(4000))),
        }
    );
    tracker.stop().await;
}

#[tokio::test]
async fn closing_goes_offline_and_hello_comes_back_online() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (mut alice, _) = Client::hello(tracker.addr, "alice", 4000, &["g"]).await;
    alice.recv().await; // members
    let (mut bob, _) = Client::hello(tracker.addr, "bob", 5000, &["g"]).await;
    bob.recv().await;
    alice.recv().await; // bob joined
    drop(bob);
    assert!(matches!(
        alice.recv().await,
        TrackerToPeer::MemberUpdate {
            version: 3,
            change: MemberChange::Offline { .. },
            ..
        }
    ));
    // Bob comes back without naming the group: still a member, at his new port.
    let (mut bob, _) = Client::hello(tracker.addr, "bob", 5001, &[]).await;
    assert!(matches!(
        bob.recv().await,
        TrackerToPeer::Members { version: 4, .. }
    ));
    assert_eq!(
        alice.recv().await,
        TrackerToPeer::MemberUpdate {
            group: "g".parse().unwrap(),
            version: 4,
            change: MemberChange::Online {
                member: member("bob", local(5001)),
            },
        }
    );
    tracker.stop().await;
}

#[tokio::test]
async fn bad_hellos_are_refused_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;

    let mut wrong = Client::connect(tracker.addr).await;
    wrong
        .send(PeerToTracker::Hello {
            version: 99,
            name: "x".parse().unwrap(),
            listen_port: 1,
            groups: vec![],
        })
        .await;
    let frames = wrong.until_closed().await;
    assert_eq!(error_code(&frames), Some(ErrorCode::VersionMismatch));
    match &frames[0] {
        TrackerToPeer::Error { message, .. } => {
            assert!(message.contains("99") && message.contains(&PROTOCOL_VERSION.to_string()));
        }
        other => panic!("unexpected {other:?}"),
    }

    let mut early = Client::connect(tracker.addr).await;
    early
        .send(PeerToTracker::Join {
            group: "g".parse().unwrap(),
        })
        .await;
    assert_eq!(
        error_code(&early.until_closed().await),
        Some(ErrorCode::HelloExpected)
    );

    let (mut alice, _) = Client::hello(tracker.addr, "alice", 4000, &[]).await;
    let (mut imposter, refused) = Client::hello(tracker.addr, "alice", 4001, &[]).await;
    assert_eq!(
        refused,
        TrackerToPeer::Error {
            code: ErrorCode::NameTaken,
            message: "name 'alice' is already in use".into(),
        }
    );
    assert!(imposter.until_closed().await.is_empty());
    // The first alice still holds the name and is served.
    alice
        .send(PeerToTracker::Lookup {
            name: "alice".parse().unwrap(),
        })
        .await;
    assert!(matches!(
        alice.recv().await,
        TrackerToPeer::LookupResult {
            member: Some(Member { online: true, .. }),
            ..
        }
    ));
    tracker.stop().await;
}

/// Writes raw bytes and returns everything read back until the tracker closes.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut back = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut back))
        .await
        .expect("tracker did not close the connection")
        .ok();
    back
}

fn decode_all(bytes: &[u8]) -> Vec<TrackerToPeer> {
    use tokio_util::codec::Decoder;
    let mut codec = FrameCodec::<TrackerToPeer, PeerToTracker>::default();
    let mut buf = bytes::BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        frames.push(frame);
    }
    frames
}

#[tokio::test]
async fn garbage_and_oversize_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (mut alice, _) = Client::hello(tracker.addr, "alice", 4000, &[]).await;

    let mut not_json = 8u32.to_be_bytes().to_vec();
    not_json.extend_from_slice(b"not json");
    let mut unknown = Vec::new();
    let body = br#"{"type":"launch"}"#;
    unknown.extend_from_slice(&(body.len() as u32).to_be_bytes());
    unknown.extend_from_slice(body);
    let junk: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &u32::MAX.to_be_bytes(),
        &not_json,
        &unknown,
    ];
    for bytes in junk {
        let back = decode_all(&raw_exchange(tracker.addr, bytes).await);
        assert_eq!(error_code(&back), Some(ErrorCode::BadFrame), "{bytes:?}");
    }

    // An oversize frame after a good hello also closes that link, and the peer goes offline.
    let (mut bob, _) = Client::hello(tracker.addr, "bob", 5000, &[]).await;
    bob.framed
        .get_mut()
        .write_all(&(2u32 << 20).to_be_bytes())
        .await
        .unwrap();
    assert_eq!(
        error_code(&bob.until_closed().await),
        Some(ErrorCode::BadFrame)
    );

    // Everyone else is still served, and a fresh honest client too.
    alice
        .send(PeerToTracker::Snapshot {
            group: "none".parse().unwrap(),
        })
        .await;
    assert!(matches!(
        alice.recv().await,
        TrackerToPeer::Error {
            code: ErrorCode::NotMember,
            ..
        }
    ));
    let (_carol, welcome) = Client::hello(tracker.addr, "carol", 6000, &[]).await;
    assert!(matches!(welcome, TrackerToPeer::Welcome { .. }));
    tracker.stop().await;
}

#[tokio::test]
async fn silent_peer_is_dropped_by_heartbeat_and_others_see_offline() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_millis(200)).await;
    let (mut alice, _) = Client::hello(tracker.addr, "alice", 4000, &["g"]).await;
    alice.recv().await;
    let (mut bob, _) = Client::hello(tracker.addr, "bob", 5000, &["g"]).await;
    bob.answers_pings = false;
    assert!(matches!(
        alice.recv().await,
        TrackerToPeer::MemberUpdate {
            change: MemberChange::Joined { .. },
            ..
        }
    ));
    // Bob's link stays open but he never answers: alice (who answers pings) sees him go.
    assert_eq!(
        alice.recv().await,
        TrackerToPeer::MemberUpdate {
            group: "g".parse().unwrap(),
            version: 3,
            change: MemberChange::Offline {
                name: "bob".parse().unwrap(),
            },
        }
    );
    let frames = bob.until_closed().await;
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, TrackerToPeer::Ping { .. }))
    );
    tracker.stop().await;
}

#[tokio::test]
async fn membership_survives_restart_everyone_offline() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (mut alice, _) = Client::hello(tracker.addr, "alice", 4000, &["g"]).await;
    alice.recv().await;
    let (mut bob, _) = Client::hello(tracker.addr, "bob", 5000, &["g"]).await;
    bob.recv().await;
    tracker.stop().await;

    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (mut alice, _) = Client::hello(tracker.addr, "alice", 4000, &[]).await;
    match alice.recv().await {
        TrackerToPeer::Members {
            version, members, ..
        } => {
            assert!(version >= 3, "version {version}");
            let states: Vec<_> = members
                .iter()
                .map(|m| (m.name.to_string(), m.online))
                .collect();
            assert_eq!(states, vec![("alice".into(), true), ("bob".into(), false)]);
        }
        other => panic!("unexpected {other:?}"),
    }
    tracker.stop().await;
}

#[tokio::test]
async fn corrupt_state_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tracker.json"), b"{oops").unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let result = tokio::time::timeout(WAIT, tracker.task)
        .await
        .unwrap()
        .unwrap();
    let err = result.expect_err("corrupt state must fail");
    assert!(err.to_string().contains("corrupt"), "{err}");
}
