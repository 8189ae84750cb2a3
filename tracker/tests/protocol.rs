//! In-process tests: start `run` on 127.0.0.1:0 and speak the protocol with raw clients,
//! each through the Noise handshake with its own identity.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures::SinkExt;
use natter_protocol::govern::{Act, GroupAction, Role};
use natter_protocol::secure::{self, HandshakeError};
use natter_protocol::testkit::{TrackerClient as Client, identity_for as identity};
use natter_protocol::tracker::{Member, MemberChange, PeerToTracker, TrackerToPeer};
use natter_protocol::{ErrorCode, Identity, PROTOCOL_VERSION, PublicKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

struct Tracker {
    addr: SocketAddr,
    key: PublicKey,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Tracker {
    async fn start(dir: &Path, heartbeat: Duration) -> Tracker {
        Tracker::start_with(dir, |config| config.heartbeat = heartbeat).await
    }

    /// Starts a tracker with its state and (default) key file in `dir`, after `tweak`.
    async fn start_with(dir: &Path, tweak: impl FnOnce(&mut natter_tracker::Config)) -> Tracker {
        Tracker::start_on(dir, "127.0.0.1:0".parse().unwrap(), tweak).await
    }

    /// Like [`Tracker::start_with`], listening on `listen`.
    async fn start_on(
        dir: &Path,
        listen: SocketAddr,
        tweak: impl FnOnce(&mut natter_tracker::Config),
    ) -> Tracker {
        let listener = natter_tracker::bind(listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = natter_tracker::Config::new(dir.join("tracker.json"));
        // Everything here runs on loopback; test the per-address limits as remote peers meet them.
        config.limit_loopback = true;
        tweak(&mut config);
        assert_eq!(config.key_file, dir.join("tracker.key"));
        // The same file `run` loads: created here on first start, so the test knows the key.
        let key = natter_tracker::load_identity(&config.key_file)
            .unwrap()
            .public_key();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(natter_tracker::run(listener, config, shutdown.clone()));
        Tracker {
            addr,
            key,
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

/// The same key every time for `name` (see [`identity`]).
fn key(name: &str) -> PublicKey {
    identity(name).public_key()
}

/// Connects to `tracker` and runs the initiator's handshake as `me`, pinning the tracker's
/// key.
async fn secure_connect(tracker: &Tracker, me: &Identity) -> Result<Client, HandshakeError> {
    secure_connect_to(tracker, tracker.addr, me).await
}

/// Like [`secure_connect`], to `tracker` at the address `to`.
async fn secure_connect_to(
    tracker: &Tracker,
    to: SocketAddr,
    me: &Identity,
) -> Result<Client, HandshakeError> {
    Client::try_connect(to, me, Some(&tracker.key)).await
}

/// Connects with the identity `me`.
async fn connect_as(tracker: &Tracker, me: &Identity) -> Client {
    secure_connect(tracker, me).await.unwrap()
}

/// Connects with a fresh identity.
async fn connect(tracker: &Tracker) -> Client {
    connect_as(tracker, &Identity::generate().unwrap()).await
}

/// Connects with `name`'s own identity and says hello as `name` (listening on `port`) with
/// `groups`; returns the welcome.
async fn hello(
    tracker: &Tracker,
    name: &str,
    port: u16,
    groups: &[&str],
) -> (Client, TrackerToPeer) {
    hello_as(tracker, &identity(name), name, port, groups).await
}

/// Like [`hello`], authenticated as `me`.
async fn hello_as(
    tracker: &Tracker,
    me: &Identity,
    name: &str,
    port: u16,
    groups: &[&str],
) -> (Client, TrackerToPeer) {
    Client::register(tracker.addr, me, Some(&tracker.key), name, port, groups).await
}

fn member(name: &str, addr: SocketAddr) -> Member {
    Member {
        name: name.parse().unwrap(),
        addr,
        online: true,
        key: key(name),
        last_seen: None,
        status: None,
        role: Role::Member,
    }
}

/// [`member`] as the owner of its group.
fn owner(name: &str, addr: SocketAddr) -> Member {
    Member {
        role: Role::Owner,
        ..member(name, addr)
    }
}

/// The full list of `group` at `version`, owned by `owner`, open and without a topic.
fn members(group: &str, version: u64, owner: &str, members: Vec<Member>) -> TrackerToPeer {
    TrackerToPeer::Members {
        req: None,
        group: group.parse().unwrap(),
        version,
        members,
        owner: Some(owner.parse().unwrap()),
        topic: None,
        private: false,
        by: Default::default(),
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
    let (_alice, welcome) = hello(&tracker, "alice", 4000, &[]).await;
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
    let (mut alice, _) = hello(&tracker, "alice", 4000, &[]).await;
    alice
        .send(PeerToTracker::Join {
            req: None,
            group: "rust".parse().unwrap(),
        })
        .await;
    assert_eq!(
        alice.recv().await,
        members("rust", 1, "alice", vec![owner("alice", local(4000))])
    );
    // The join is on disk before the reply went out.
    let saved = std::fs::read_to_string(dir.path().join("tracker.json")).unwrap();
    assert!(saved.contains("alice"), "{saved}");

    let (mut bob, _) = hello(&tracker, "bob", 5000, &["rust"]).await;
    assert_eq!(
        bob.recv().await,
        members(
            "rust",
            2,
            "alice",
            vec![owner("alice", local(4000)), member("bob", local(5000))]
        )
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
        req: None,
        group: "rust".parse().unwrap(),
    })
    .await;
    assert_eq!(
        bob.recv().await,
        TrackerToPeer::Left {
            req: None,
            group: "rust".parse().unwrap(),
            by: None,
            reason: None,
            disbanded: false,
            action: None,
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
        req: None,
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
        req: None,
        name: "alice".parse().unwrap(),
    })
    .await;
    assert_eq!(
        bob.recv().await,
        TrackerToPeer::LookupResult {
            req: None,
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
    let (mut alice, _) = hello(&tracker, "alice", 4000, &["g"]).await;
    alice.recv().await; // members
    let (mut bob, _) = hello(&tracker, "bob", 5000, &["g"]).await;
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
    let (mut bob, _) = hello(&tracker, "bob", 5001, &[]).await;
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

    let mut wrong = connect(&tracker).await;
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

    let mut early = connect(&tracker).await;
    early
        .send(PeerToTracker::Join {
            req: None,
            group: "g".parse().unwrap(),
        })
        .await;
    assert_eq!(
        error_code(&early.until_closed().await),
        Some(ErrorCode::HelloExpected)
    );

    let (mut alice, _) = hello(&tracker, "alice", 4000, &[]).await;
    let (mut imposter, refused) = hello(&tracker, "alice", 4001, &[]).await;
    assert_eq!(
        refused,
        TrackerToPeer::Error {
            req: None,
            code: ErrorCode::NameTaken,
            message: "name 'alice' is already in use".into(),
        }
    );
    assert!(imposter.until_closed().await.is_empty());
    // The first alice still holds the name and is served.
    alice
        .send(PeerToTracker::Lookup {
            req: None,
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

/// Writes raw bytes, then reads until the tracker closes; returns what came back.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_until_closed(&mut stream).await
}

async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut back = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut back))
        .await
        .expect("tracker did not close the connection")
        .ok();
    back
}

/// Asserts the tracker still serves honest peers: a fresh one is welcomed and an existing
/// one gets an answer.
async fn still_serving(tracker: &Tracker, existing: &mut Client, fresh: &str) -> Client {
    existing
        .send(PeerToTracker::Snapshot {
            req: None,
            group: "none".parse().unwrap(),
        })
        .await;
    assert!(matches!(
        existing.recv().await,
        TrackerToPeer::Error {
            code: ErrorCode::NotMember,
            ..
        }
    ));
    let (client, welcome) = hello(tracker, fresh, 6000, &[]).await;
    assert!(
        matches!(welcome, TrackerToPeer::Welcome { .. }),
        "{welcome:?}"
    );
    client
}

#[tokio::test]
async fn garbage_before_the_handshake_closes_only_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (mut alice, _) = hello(&tracker, "alice", 4000, &[]).await;

    // A plaintext hello as version 1 spoke it: refused now, nothing in the clear comes back.
    let body = br#"{"type":"hello","version":1,"name":"bob","listen_port":1,"groups":[]}"#;
    let mut plaintext = (body.len() as u32).to_be_bytes().to_vec();
    plaintext.extend_from_slice(body);
    let mut short = 8u32.to_be_bytes().to_vec();
    short.extend_from_slice(b"not a key");
    let junk: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &u32::MAX.to_be_bytes(),
        &short,
        &plaintext,
    ];
    for bytes in junk {
        let back = raw_exchange(tracker.addr, bytes).await;
        assert!(back.is_empty(), "{bytes:?} got {back:?}");
    }
    still_serving(&tracker, &mut alice, "carol").await;
    tracker.stop().await;
}

#[tokio::test]
async fn truncated_and_slow_handshakes_time_out_while_honest_peers_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_secs(2);
    let tracker = Tracker::start_with(dir.path(), |c| c.handshake_timeout = timeout).await;

    // Connects and sends nothing.
    let mut silent = TcpStream::connect(tracker.addr).await.unwrap();
    // Sends a valid first message (any 32 bytes are an ephemeral key), then stops: the
    // tracker answers with its second message and waits for a third that never comes.
    let mut stalled = TcpStream::connect(tracker.addr).await.unwrap();
    let mut first = 32u32.to_be_bytes().to_vec();
    first.extend_from_slice(&[9u8; 32]);
    stalled.write_all(&first).await.unwrap();
    // Announces a message, sends half of it, stops.
    let mut truncated = TcpStream::connect(tracker.addr).await.unwrap();
    truncated.write_all(&32u32.to_be_bytes()).await.unwrap();
    truncated.write_all(&[1u8; 16]).await.unwrap();

    // Meanwhile honest peers are served at once.
    let started = tokio::time::Instant::now();
    let (mut alice, welcome) = hello(&tracker, "alice", 4000, &[]).await;
    assert!(matches!(welcome, TrackerToPeer::Welcome { .. }));
    assert!(
        started.elapsed() < timeout,
        "an honest peer waited behind slow ones"
    );

    assert!(read_until_closed(&mut silent).await.is_empty());
    let back = read_until_closed(&mut stalled).await;
    assert!(!back.is_empty(), "the tracker's second handshake message");
    assert!(read_until_closed(&mut truncated).await.is_empty());
    still_serving(&tracker, &mut alice, "carol").await;
    tracker.stop().await;
}

#[tokio::test]
async fn garbage_and_oversize_after_the_handshake_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (mut alice, _) = hello(&tracker, "alice", 4000, &[]).await;

    // Bytes that are no Noise transport message, right after the handshake.
    let mut forged = connect(&tracker).await;
    let mut junk = 40u32.to_be_bytes().to_vec();
    junk.extend_from_slice(&[0xAB; 40]);
    forged.link.get_mut().write_all(&junk).await.unwrap();
    let frames = forged.until_closed().await;
    assert!(
        matches!(error_code(&frames), None | Some(ErrorCode::BadFrame)),
        "{frames:?}"
    );

    // A message length past the Noise limit after a good hello: closed, bob goes offline.
    let (mut bob, _) = hello(&tracker, "bob", 5000, &[]).await;
    bob.link
        .get_mut()
        .write_all(&(2u32 << 20).to_be_bytes())
        .await
        .unwrap();
    let frames = bob.until_closed().await;
    assert!(
        matches!(error_code(&frames), None | Some(ErrorCode::BadFrame)),
        "{frames:?}"
    );
    alice
        .send(PeerToTracker::Lookup {
            req: None,
            name: "bob".parse().unwrap(),
        })
        .await;
    // Bob is in no group, so offline he is unknown to lookups by address but keeps his key.
    match alice.recv().await {
        TrackerToPeer::LookupResult { member, .. } => {
            assert!(member.is_none_or(|m| !m.online));
        }
        other => panic!("unexpected {other:?}"),
    }
    still_serving(&tracker, &mut alice, "carol").await;
    tracker.stop().await;
}

#[tokio::test]
async fn another_key_claiming_a_registered_name_is_refused_even_offline() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (mut alice, _) = hello(&tracker, "alice", 4000, &["g"]).await;
    alice.recv().await; // members
    let (mut bob, _) = hello(&tracker, "bob", 5000, &["g"]).await;
    bob.recv().await;
    alice.recv().await; // bob joined
    drop(alice);
    assert!(matches!(
        bob.recv().await,
        TrackerToPeer::MemberUpdate {
            change: MemberChange::Offline { .. },
            ..
        }
    ));

    let mallory = Identity::generate().unwrap();
    let owned = TrackerToPeer::Error {
        req: None,
        code: ErrorCode::NameOwned,
        message: "name 'alice' belongs to another key".into(),
    };
    let (mut imposter, refused) = hello_as(&tracker, &mallory, "alice", 6666, &["g"]).await;
    assert_eq!(refused, owned);
    assert!(imposter.until_closed().await.is_empty());
    // Bob saw nothing: no alice online, no join. His next frame answers his own lookup.
    bob.send(PeerToTracker::Lookup {
        req: None,
        name: "alice".parse().unwrap(),
    })
    .await;
    // Alice is offline, last seen when her connection went (the tracker's clock).
    let TrackerToPeer::LookupResult {
        member: Some(found),
        ..
    } = bob.recv().await
    else {
        panic!("expected a look-up result");
    };
    assert!(found.last_seen.is_some(), "{found:?}");
    assert_eq!(
        found,
        Member {
            online: false,
            last_seen: found.last_seen,
            ..member("alice", local(4000))
        }
    );
    drop(bob);
    tracker.stop().await;

    // The binding survives a restart.
    let saved = std::fs::read_to_string(dir.path().join("tracker.json")).unwrap();
    assert!(saved.contains(&key("alice").to_string()), "{saved}");
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (mut imposter, refused) = hello_as(&tracker, &mallory, "alice", 6666, &[]).await;
    assert_eq!(refused, owned);
    assert!(imposter.until_closed().await.is_empty());
    // The owner's key still gets the name.
    let (_alice, welcome) = hello(&tracker, "alice", 4001, &[]).await;
    assert!(
        matches!(welcome, TrackerToPeer::Welcome { .. }),
        "{welcome:?}"
    );
    tracker.stop().await;
}

#[tokio::test]
async fn a_look_alike_of_a_registered_name_is_refused_and_its_own_spelling_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (bob, welcome) = hello(&tracker, "bob", 4000, &[]).await;
    assert!(
        matches!(welcome, TrackerToPeer::Welcome { .. }),
        "{welcome:?}"
    );

    let mallory = Identity::generate().unwrap();
    let (mut imposter, refused) = hello_as(&tracker, &mallory, "B0b", 6666, &[]).await;
    let TrackerToPeer::Error { code, message, .. } = refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert_eq!(code, ErrorCode::NameOwned);
    assert!(message.contains("'bob'"), "{message}");
    assert!(imposter.until_closed().await.is_empty());

    // Bob comes back spelling his name in capitals: it is his, under its first spelling.
    drop(bob);
    let (_bob, welcome) = hello_as(&tracker, &identity("bob"), "BOB", 4001, &[]).await;
    let TrackerToPeer::Welcome { name, .. } = welcome else {
        panic!("expected a welcome, got {welcome:?}");
    };
    assert_eq!(name.as_str(), "bob");
    tracker.stop().await;
}

#[tokio::test]
async fn join_leave_flood_is_rate_limited_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (mut alice, _) = hello(&tracker, "alice", 4000, &[]).await;
    let (mut flood, _) = hello(&tracker, "mallory", 6000, &[]).await;
    let burst = natter_tracker::limits::JOIN_LEAVE_BURST as usize;
    for i in 0..burst * 3 {
        let group = format!("g{}", i % 4).parse().unwrap();
        let frame = if i % 2 == 0 {
            PeerToTracker::Join { req: None, group }
        } else {
            PeerToTracker::Leave { req: None, group }
        };
        if flood.link.feed(frame).await.is_err() {
            break;
        }
    }
    let _ = flood.link.flush().await;
    let frames = flood.until_closed().await;
    // The requests within the budget were answered; the last frame is the refusal.
    assert!(
        matches!(
            frames.last(),
            Some(TrackerToPeer::Error {
                code: ErrorCode::RateLimited,
                ..
            })
        ),
        "{frames:?}"
    );
    still_serving(&tracker, &mut alice, "carol").await;
    tracker.stop().await;
}

#[tokio::test]
async fn a_hello_naming_too_many_groups_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let groups: Vec<String> = (0..=natter_tracker::limits::MAX_HELLO_GROUPS)
        .map(|i| format!("g{i}"))
        .collect();
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    let (mut greedy, refused) = hello(&tracker, "greedy", 4000, &groups).await;
    assert!(
        matches!(
            refused,
            TrackerToPeer::Error {
                code: ErrorCode::RateLimited,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(greedy.until_closed().await.is_empty());
    tracker.stop().await;
}

#[tokio::test]
async fn connections_past_the_per_address_cap_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start_with(dir.path(), |c| c.max_connections_per_ip = 2).await;
    let (alice, _) = hello(&tracker, "alice", 4000, &[]).await;
    let (mut bob, _) = hello(&tracker, "bob", 5000, &[]).await;
    let third = secure_connect(&tracker, &identity("carol")).await;
    assert!(
        third.is_err(),
        "a third connection from 127.0.0.1 must be closed"
    );
    // Bob is still served; once alice leaves, there is room again.
    still_serving_without_fresh(&mut bob).await;
    drop(alice);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(framed) = secure_connect(&tracker, &identity("carol")).await {
            drop(framed);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no room after a close"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracker.stop().await;
}

async fn still_serving_without_fresh(existing: &mut Client) {
    existing
        .send(PeerToTracker::Lookup {
            req: None,
            name: "nobody".parse().unwrap(),
        })
        .await;
    assert!(matches!(
        existing.recv().await,
        TrackerToPeer::LookupResult { member: None, .. }
    ));
}

#[tokio::test]
async fn tracker_key_is_created_beside_the_state_file_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let first = tracker.key;
    tracker.stop().await;
    let path = dir.path().join("tracker.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    assert_eq!(tracker.key, first);
    // A client pinning another key refuses this tracker.
    let stream = TcpStream::connect(tracker.addr).await.unwrap();
    let other = Identity::generate().unwrap().public_key();
    let result = secure::initiate::<_, TrackerToPeer, PeerToTracker>(
        stream,
        &identity("alice"),
        Some(&other),
        WAIT,
    )
    .await;
    assert!(matches!(
        result,
        Err(secure::HandshakeError::KeyMismatch { .. })
    ));
    tracker.stop().await;
}

#[tokio::test]
async fn silent_peer_is_dropped_by_heartbeat_and_others_see_offline() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_millis(200)).await;
    let (mut alice, _) = hello(&tracker, "alice", 4000, &["g"]).await;
    alice.recv().await;
    let (mut bob, _) = hello(&tracker, "bob", 5000, &["g"]).await;
    bob.answers_pings = false;
    assert!(matches!(
        alice.recv().await,
        TrackerToPeer::MemberUpdate {
            change: MemberChange::Joined { .. },
            ..
        }
    ));
    // Bob's link stays open but he never answers: alice (who answers pings) sees him go.
    let offline = alice.recv().await;
    assert!(
        matches!(
            &offline,
            TrackerToPeer::MemberUpdate {
                version: 3,
                change: MemberChange::Offline {
                    name,
                    last_seen: Some(_),
                },
                ..
            } if name.as_str() == "bob"
        ),
        "{offline:?}"
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
    let (mut alice, _) = hello(&tracker, "alice", 4000, &["g"]).await;
    alice.recv().await;
    let (mut bob, _) = hello(&tracker, "bob", 5000, &["g"]).await;
    bob.recv().await;
    tracker.stop().await;

    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (mut alice, _) = hello(&tracker, "alice", 4000, &[]).await;
    match alice.recv().await {
        TrackerToPeer::Members {
            version, members, ..
        } => {
            // Versions moved up by the margin on load: never backwards for peers.
            assert!(
                version > natter_tracker::limits::VERSION_MARGIN + 2,
                "version {version}"
            );
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

/// Says hello on an open client as `name` with `groups`; returns the answer.
async fn say_hello(client: &mut Client, name: &str, port: u16, groups: &[String]) -> TrackerToPeer {
    client.hello(name, port, groups).await
}

fn group_names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn is_rate_limited(frame: &TrackerToPeer) -> bool {
    matches!(
        frame,
        TrackerToPeer::Error {
            code: ErrorCode::RateLimited,
            ..
        }
    )
}

#[tokio::test]
async fn a_hellos_groups_are_charged_and_reconnecting_does_not_refill_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    // A hello re-joining 100 groups passes once (a tracker that lost its state must be
    // rebuilt) but leaves the key's budget deep in debt.
    let groups = group_names("g", 100);
    let mut greedy = connect_as(&tracker, &identity("greedy")).await;
    let welcome = say_hello(&mut greedy, "greedy", 4000, &groups).await;
    assert!(
        matches!(welcome, TrackerToPeer::Welcome { .. }),
        "{welcome:?}"
    );
    greedy
        .send(PeerToTracker::Join {
            req: None,
            group: "more".parse().unwrap(),
        })
        .await;
    let frames = greedy.until_closed().await;
    assert!(frames.last().is_some_and(is_rate_limited), "{frames:?}");
    // Reconnecting with the same key does not reset it.
    let (mut again, refused) = hello(&tracker, "greedy", 4000, &[]).await;
    assert!(is_rate_limited(&refused), "{refused:?}");
    assert!(again.until_closed().await.is_empty());
    // Other keys from the same address are still served.
    let (_alice, welcome) = hello(&tracker, "alice", 5000, &["g1"]).await;
    assert!(
        matches!(welcome, TrackerToPeer::Welcome { .. }),
        "{welcome:?}"
    );
    tracker.stop().await;
}

#[tokio::test]
async fn cycling_keys_does_not_refill_the_address_budget() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let mut refused = None;
    for round in 0..4 {
        // A fresh key and name each time, every hello creating 200 groups.
        let name = format!("cycle{round}");
        let groups = group_names(&format!("r{round}x"), 200);
        let mut client = connect(&tracker).await;
        let answer = say_hello(&mut client, &name, 4000, &groups).await;
        if is_rate_limited(&answer) {
            refused = Some(round);
            break;
        }
        assert!(
            matches!(answer, TrackerToPeer::Welcome { .. }),
            "{answer:?}"
        );
    }
    let per_ip = natter_tracker::limits::JOIN_LEAVE_PER_IP_BURST;
    // 256 tokens: two hellos of 201 pass (the second into debt), the third is refused.
    assert_eq!(per_ip, 256);
    assert_eq!(refused, Some(2));
    tracker.stop().await;
}

#[tokio::test]
async fn new_names_from_one_address_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let burst = natter_tracker::limits::NEW_NAMES_PER_IP_BURST;
    let mut clients = Vec::new();
    for i in 0..burst {
        let name = format!("n{i}");
        let (client, welcome) = hello(&tracker, &name, 4000, &[]).await;
        assert!(
            matches!(welcome, TrackerToPeer::Welcome { .. }),
            "{name}: {welcome:?}"
        );
        clients.push(client);
    }
    let (mut late, refused) = hello(&tracker, "onetoomany", 4000, &[]).await;
    match &refused {
        TrackerToPeer::Error {
            code: ErrorCode::RateLimited,
            message,
            ..
        } => assert!(message.contains("new names"), "{message}"),
        other => panic!("expected rate_limited, got {other:?}"),
    }
    assert!(late.until_closed().await.is_empty());
    // A name bound before still comes back from that address.
    drop(clients.remove(0));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_client, answer) = hello(&tracker, "n0", 4000, &[]).await;
        match answer {
            TrackerToPeer::Welcome { .. } => break,
            TrackerToPeer::Error {
                code: ErrorCode::NameTaken,
                ..
            } if tokio::time::Instant::now() < deadline => {
                // The old connection's end is still on its way to the hub.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    tracker.stop().await;
}

#[tokio::test]
async fn before_the_welcome_frames_are_small_and_after_it_the_full_limit_applies() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let max = natter_tracker::limits::MAX_HELLO_FRAME;
    assert!(max < 64 * 1024, "{max}");
    // 2000 long group names: about 70 KB of JSON, past the pre-hello limit.
    let big: Vec<String> = (0..2000).map(|i| format!("{i:0>32}")).collect();
    let mut early = connect(&tracker).await;
    early
        .send(PeerToTracker::Hello {
            version: PROTOCOL_VERSION,
            name: "early".parse().unwrap(),
            listen_port: 1,
            groups: big.iter().map(|g| g.parse().unwrap()).collect(),
        })
        .await;
    let frames = early.until_closed().await;
    assert!(
        matches!(error_code(&frames), None | Some(ErrorCode::BadFrame)),
        "{frames:?}"
    );
    // After the welcome the same frame is read (and refused for what it says: a second
    // hello), not for its size.
    let (mut alice, _) = hello(&tracker, "alice", 4000, &[]).await;
    alice
        .send(PeerToTracker::Hello {
            version: PROTOCOL_VERSION,
            name: "alice".parse().unwrap(),
            listen_port: 1,
            groups: big.iter().map(|g| g.parse().unwrap()).collect(),
        })
        .await;
    assert_eq!(
        error_code(&alice.until_closed().await),
        Some(ErrorCode::HelloExpected)
    );
    tracker.stop().await;
}

#[tokio::test]
async fn presence_changes_are_saved_late_and_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start_with(dir.path(), |c| {
        c.presence_save_delay = Duration::from_secs(3600);
    })
    .await;
    let saved_version = || {
        let text = std::fs::read_to_string(dir.path().join("tracker.json")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["groups"]["g"]["version"].as_u64().unwrap()
    };
    let (mut alice, _) = hello(&tracker, "alice", 4000, &["g"]).await;
    alice.recv().await;
    let (mut bob, _) = hello(&tracker, "bob", 5000, &["g"]).await;
    bob.recv().await;
    alice.recv().await; // bob joined
    // Joins are on disk before their pushes.
    assert_eq!(saved_version(), 2);
    drop(bob);
    assert!(matches!(
        alice.recv().await,
        TrackerToPeer::MemberUpdate {
            version: 3,
            change: MemberChange::Offline { .. },
            ..
        }
    ));
    // Going offline is not written at once (the push went out after any write)...
    assert_eq!(saved_version(), 2);
    // ...but a join is, with the versions before it.
    let (mut carol, _) = hello(&tracker, "carol", 6000, &["g"]).await;
    carol.recv().await;
    assert_eq!(saved_version(), 4);
    alice.recv().await; // carol joined
    // Carol's going offline is saved at shutdown.
    drop(carol);
    assert!(matches!(
        alice.recv().await,
        TrackerToPeer::MemberUpdate {
            version: 5,
            change: MemberChange::Offline { .. },
            ..
        }
    ));
    tracker.stop().await;
    assert_eq!(saved_version(), 5);
}

/// This machine's address on its way out to the world, if it has one.
fn outward_ip() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn peers_on_the_trackers_machine_are_listed_at_the_address_others_reached_it_at() {
    let Some(lan) = outward_ip() else {
        eprintln!("skipped: this machine has no address besides loopback");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start_on(dir.path(), "0.0.0.0:0".parse().unwrap(), |_| {}).await;
    let port = tracker.addr.port();
    // The host reaches its tracker over loopback, the friend over the LAN address.
    let via_loopback = SocketAddr::from(([127, 0, 0, 1], port));
    let via_lan = SocketAddr::new(lan, port);
    let mut host = secure_connect_to(&tracker, via_loopback, &identity("host"))
        .await
        .unwrap();
    let welcome = say_hello(&mut host, "host", 4000, &["g".to_owned()]).await;
    assert!(matches!(welcome, TrackerToPeer::Welcome { addr, .. } if addr == local(4000)));
    host.recv().await; // members
    let mut friend = secure_connect_to(&tracker, via_lan, &identity("friend"))
        .await
        .unwrap();
    say_hello(&mut friend, "friend", 5000, &["g".to_owned()]).await;
    // The friend sees the host at the LAN address, with the host's port.
    assert_eq!(
        friend.recv().await,
        members(
            "g",
            2,
            "host",
            vec![
                member("friend", SocketAddr::new(lan, 5000)),
                owner("host", SocketAddr::new(lan, 4000)),
            ]
        )
    );
    friend
        .send(PeerToTracker::Lookup {
            req: None,
            name: "host".parse().unwrap(),
        })
        .await;
    assert_eq!(
        friend.recv().await,
        TrackerToPeer::LookupResult {
            req: None,
            name: "host".parse().unwrap(),
            member: Some(member("host", SocketAddr::new(lan, 4000))),
        }
    );
    // The host, on loopback, sees the friend where the friend came from.
    assert_eq!(
        host.recv().await,
        TrackerToPeer::MemberUpdate {
            group: "g".parse().unwrap(),
            version: 2,
            change: MemberChange::Joined {
                member: member("friend", SocketAddr::new(lan, 5000)),
            },
        }
    );
    // The host going offline and coming back online: the friend sees the LAN address.
    drop(host);
    friend.recv().await; // offline
    let mut host = secure_connect_to(&tracker, via_loopback, &identity("host"))
        .await
        .unwrap();
    say_hello(&mut host, "host", 4001, &[]).await;
    assert_eq!(
        friend.recv().await,
        TrackerToPeer::MemberUpdate {
            group: "g".parse().unwrap(),
            version: 4,
            change: MemberChange::Online {
                member: owner("host", SocketAddr::new(lan, 4001)),
            },
        }
    );
    // And a loopback recipient sees loopback addresses as they are.
    match host.recv().await {
        TrackerToPeer::Members { members, .. } => {
            assert!(members.contains(&owner("host", local(4001))), "{members:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    tracker.stop().await;
}

#[tokio::test]
async fn a_flood_of_silent_connections_does_not_lock_honest_peers_out() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start_with(dir.path(), |c| {
        c.max_unauthenticated = 8;
        c.max_connections_per_ip = 1024;
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..256 {
        silent.push(TcpStream::connect(tracker.addr).await.unwrap());
    }
    let (mut alice, welcome) = tokio::time::timeout(WAIT, hello(&tracker, "alice", 4000, &[]))
        .await
        .expect("an honest peer is served through the flood");
    assert!(matches!(welcome, TrackerToPeer::Welcome { .. }));
    still_serving(&tracker, &mut alice, "carol").await;
    drop(silent);
    tracker.stop().await;
}

#[tokio::test]
async fn past_max_connections_a_new_peer_is_refused_after_its_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start_with(dir.path(), |c| c.max_connections = 1).await;
    let (mut alice, _) = hello(&tracker, "alice", 4000, &[]).await;
    let (_bob, refused) = hello(&tracker, "bob", 5000, &[]).await;
    assert!(
        matches!(
            refused,
            TrackerToPeer::Error {
                code: ErrorCode::RateLimited,
                ..
            }
        ),
        "got {refused:?}"
    );
    still_serving_without_fresh(&mut alice).await;
    tracker.stop().await;
}

/// A tracker on a runtime of its own, so the test can kill it as `kill -9` would: every
/// task dropped where it stands, nothing written on the way out.
struct Doomed {
    addr: SocketAddr,
    key: PublicKey,
    runtime: tokio::runtime::Runtime,
}

impl Doomed {
    /// Starts a tracker with its state and key file in `dir`.
    async fn start(dir: &Path) -> Doomed {
        let mut config = natter_tracker::Config::new(dir.join("tracker.json"));
        config.limit_loopback = true;
        let key = natter_tracker::load_identity(&config.key_file)
            .unwrap()
            .public_key();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (bound, addr) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            let listener = natter_tracker::bind("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            bound.send(listener.local_addr().unwrap()).unwrap();
            natter_tracker::run(listener, config, CancellationToken::new()).await
        });
        let addr = tokio::time::timeout(WAIT, addr).await.unwrap().unwrap();
        Doomed { addr, key, runtime }
    }

    fn kill(self) {
        self.runtime.shutdown_background();
    }
}

/// Registers `name` with its own identity at the doomed `tracker`.
async fn doomed_hello(tracker: &Doomed, name: &str, port: u16) -> (Client, TrackerToPeer) {
    let me = identity(name);
    Client::register(
        tracker.addr,
        &me,
        Some(&tracker.key),
        name,
        port,
        &[] as &[&str],
    )
    .await
}

/// `actor`'s signed `act` on `group` at `version`, as a govern request with `req`.
fn govern(actor: &str, group: &str, version: u64, act: Act, req: u64) -> PeerToTracker {
    let me = identity(actor);
    let action = GroupAction {
        group: group.parse().unwrap(),
        version,
        by: actor.parse().unwrap(),
        key: me.public_key(),
        act,
    };
    PeerToTracker::Govern {
        action: Box::new(natter_protocol::govern::sign(&me, action)),
        req: Some(req),
    }
}

/// Reads frames until one `keep` returns something for; panics on an error frame.
async fn until<T>(client: &mut Client, mut keep: impl FnMut(TrackerToPeer) -> Option<T>) -> T {
    loop {
        let frame = client.recv().await;
        if let TrackerToPeer::Error { .. } = frame {
            panic!("unexpected {frame:?}");
        }
        if let Some(found) = keep(frame) {
            return found;
        }
    }
}

fn roles_of(frame: &TrackerToPeer) -> Option<Vec<(String, Role)>> {
    match frame {
        TrackerToPeer::Members { members, .. } => Some(
            members
                .iter()
                .map(|m| (m.name.to_string(), m.role))
                .collect(),
        ),
        _ => None,
    }
}

#[tokio::test]
async fn a_created_group_and_a_kick_survive_a_crash_of_the_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Doomed::start(dir.path()).await;
    let (mut alice, _) = doomed_hello(&tracker, "alice", 4000).await;
    let (mut bob, _) = doomed_hello(&tracker, "bob", 5000).await;
    let (mut carol, _) = doomed_hello(&tracker, "carol", 6000).await;

    let participants = vec!["bob".parse().unwrap(), "carol".parse().unwrap()];
    alice
        .send(govern("alice", "team", 0, Act::Create { participants }, 1))
        .await;
    until(&mut alice, |f| {
        matches!(f, TrackerToPeer::Governed { req: Some(1), .. }).then_some(())
    })
    .await;
    let list = until(&mut carol, |f| roles_of(&f)).await;
    assert_eq!(
        list,
        vec![
            ("alice".into(), Role::Owner),
            ("bob".into(), Role::Member),
            ("carol".into(), Role::Member)
        ]
    );

    let kick = Act::Kick {
        name: "carol".parse().unwrap(),
        reason: Some("spam".into()),
    };
    alice.send(govern("alice", "team", 3, kick, 2)).await;
    let (by, reason) = until(&mut carol, |f| match f {
        TrackerToPeer::Left {
            by,
            reason,
            action: Some(_),
            ..
        } => Some((by, reason)),
        _ => None,
    })
    .await;
    assert_eq!(by, Some("alice".parse().unwrap()));
    assert_eq!(reason.as_deref(), Some("spam"));
    let kicked = until(&mut bob, |f| match f {
        TrackerToPeer::MemberUpdate {
            change: MemberChange::Kicked { name, .. },
            ..
        } => Some(name),
        _ => None,
    })
    .await;
    assert_eq!(kicked, "carol".parse().unwrap());
    until(&mut alice, |f| {
        matches!(f, TrackerToPeer::Governed { req: Some(2), .. }).then_some(())
    })
    .await;

    let rejoin = PeerToTracker::Join {
        group: "team".parse().unwrap(),
        req: Some(3),
    };
    carol.send(rejoin.clone()).await;
    match carol.recv().await {
        TrackerToPeer::Error { code, message, req } => {
            assert_eq!((code, req), (ErrorCode::Refused, Some(3)));
            assert!(message.contains("removed from #team by alice"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }

    // Killed, not stopped: what survives is what was written before each answer.
    tracker.kill();
    drop((alice, bob, carol));
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (mut alice, _) = hello(&tracker, "alice", 4000, &[]).await;
    let frame = alice.recv().await;
    assert!(
        matches!(&frame, TrackerToPeer::Members { owner: Some(o), .. } if *o == "alice".parse().unwrap()),
        "{frame:?}"
    );
    assert_eq!(
        roles_of(&frame),
        Some(vec![
            ("alice".into(), Role::Owner),
            ("bob".into(), Role::Member)
        ])
    );
    let (mut carol, _) = hello(&tracker, "carol", 6000, &[]).await;
    carol.send(rejoin).await;
    assert!(matches!(
        carol.recv().await,
        TrackerToPeer::Error {
            code: ErrorCode::Refused,
            req: Some(3),
            ..
        }
    ));
    tracker.stop().await;
}

/// A peer's listener for probes: accepts connections and runs the Noise handshake as `me`,
/// counting the handshakes that finished.
async fn probe_listener(me: Identity) -> (u16, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (done, handshakes) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            type Link = secure::SecureFramed<
                TcpStream,
                natter_protocol::peer::PeerFrame,
                natter_protocol::peer::PeerFrame,
            >;
            let shaken: Result<(Link, _), _> = secure::accept(stream, &me, WAIT).await;
            if shaken.is_ok() {
                let _ = done.send(());
            }
        }
    });
    (port, handshakes)
}

/// A port nothing listens on (bound, then let go).
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

async fn probe(client: &mut Client, req: u64) -> TrackerToPeer {
    client.send(PeerToTracker::Probe { req: Some(req) }).await;
    client.recv().await
}

fn unix_millis() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    u64::try_from(now.unwrap().as_millis()).unwrap()
}

#[tokio::test]
async fn a_probe_dials_the_peer_back_at_its_own_address_and_port() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let (port, mut handshakes) = probe_listener(identity("alice")).await;
    let (mut alice, _) = hello(&tracker, "alice", port, &[]).await;
    let before = unix_millis();
    let answer = probe(&mut alice, 7).await;
    let TrackerToPeer::ProbeResult {
        addr,
        reachable,
        error,
        clock,
        req,
    } = answer
    else {
        panic!("not a probe result: {answer:?}");
    };
    assert_eq!(
        (addr, reachable, error, req),
        (local(port), true, None, Some(7))
    );
    assert!(
        (before..=unix_millis()).contains(&clock),
        "the tracker's clock: {clock}"
    );
    // It really was the tracker that completed a handshake with alice's listener.
    tokio::time::timeout(WAIT, handshakes.recv())
        .await
        .unwrap()
        .unwrap();
    tracker.stop().await;
}

#[tokio::test]
async fn a_probe_reports_nothing_listening_and_someone_else_listening_as_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let port = closed_port().await;
    let (mut alice, _) = hello(&tracker, "alice", port, &[]).await;
    let answer = probe(&mut alice, 1).await;
    assert!(
        matches!(&answer, TrackerToPeer::ProbeResult { addr, reachable: false, error: Some(_), req: Some(1), .. } if *addr == local(port)),
        "{answer:?}"
    );
    // Another key at bob's port is not bob.
    let (port, _) = probe_listener(identity("mallory")).await;
    let (mut bob, _) = hello(&tracker, "bob", port, &[]).await;
    let answer = probe(&mut bob, 2).await;
    let TrackerToPeer::ProbeResult {
        reachable: false,
        error: Some(error),
        ..
    } = &answer
    else {
        panic!("{answer:?}");
    };
    assert!(error.contains("not you"), "{error}");
    // The link stays up after either answer.
    still_serving(&tracker, &mut bob, "carol").await;
    tracker.stop().await;
}

#[tokio::test]
async fn probes_are_rate_limited_and_the_link_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(dir.path(), Duration::from_secs(10)).await;
    let port = closed_port().await;
    let (mut mallory, _) = hello(&tracker, "mallory", port, &[]).await;
    let burst = u64::from(natter_tracker::limits::JOIN_LEAVE_BURST);
    let mut refused = None;
    for req in 1..=burst * 3 {
        let answer = probe(&mut mallory, req).await;
        if is_rate_limited(&answer) {
            refused = Some((req, answer));
            break;
        }
        assert!(
            matches!(
                answer,
                TrackerToPeer::ProbeResult {
                    reachable: false,
                    ..
                }
            ),
            "{answer:?}"
        );
    }
    let (req, answer) = refused.expect("never rate limited");
    assert!(req > burst / 2, "refused too early, at probe {req}");
    assert!(
        matches!(answer, TrackerToPeer::Error { req: Some(r), .. } if r == req),
        "{answer:?}"
    );
    // Refused, not dropped: the link still answers.
    mallory.send(PeerToTracker::Ping { nonce: 5 }).await;
    assert_eq!(mallory.recv().await, TrackerToPeer::Pong { nonce: 5 });
    tracker.stop().await;
}

#[tokio::test]
async fn probes_past_the_trackers_limit_at_once_are_refused_and_the_link_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    // No probe may dial: the limit across connections is reached before any budget.
    let tracker = Tracker::start_with(dir.path(), |config| config.max_probes = 0).await;
    let port = closed_port().await;
    let (mut alice, _) = hello(&tracker, "alice", port, &[]).await;
    let answer = probe(&mut alice, 1).await;
    assert!(is_rate_limited(&answer), "{answer:?}");
    assert!(
        matches!(&answer, TrackerToPeer::Error { message, req: Some(1), .. } if message.contains("too many peers at once")),
        "{answer:?}"
    );
    alice.send(PeerToTracker::Ping { nonce: 9 }).await;
    assert_eq!(alice.recv().await, TrackerToPeer::Pong { nonce: 9 });
    tracker.stop().await;
}
