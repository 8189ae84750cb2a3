//! In-process tests of the node: two nodes on 127.0.0.1 with no tracker, talking directly.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use natter_protocol::peer::PeerFrame;
use natter_protocol::{ErrorCode, FrameCodec, GroupName, PROTOCOL_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use super::*;

const WAIT: Duration = Duration::from_secs(10);

/// A port nothing listens on: the tracker stays down in these tests.
async fn dead_addr() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    l.local_addr().expect("addr")
}

async fn node(name: &str, dir: &tempfile::TempDir) -> Node {
    let tracker = dead_addr().await.to_string();
    let config = NodeConfig::new(
        name.parse().expect("name"),
        tracker,
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join(name),
    );
    let mut node = start(config).await.expect("start");
    let first = next(&mut node, |_| true).await;
    assert!(matches!(first, Event::Ready { .. }), "{first:?}");
    node
}

/// The next event matching `want`, skipping others; panics with the skipped ones on timeout.
async fn next(node: &mut Node, want: impl Fn(&Event) -> bool) -> Event {
    let mut skipped = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(ev) = node.events.recv().await {
            if want(&ev) {
                return Some(ev);
            }
            skipped.push(ev);
        }
        None
    })
    .await;
    match found {
        Ok(Some(ev)) => ev,
        _ => panic!("no matching event; saw {skipped:?}"),
    }
}

async fn send(node: &Node, target: Target, text: &str) {
    let text = text.to_owned();
    node.handle
        .send(Command::Send { target, text })
        .await
        .expect("node running");
}

#[tokio::test]
async fn private_messages_by_address_over_one_pooled_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = node("alice", &dir).await;
    let mut b = node("bob", &dir).await;
    for text in ["one", "two", "three"] {
        send(&a, Target::Addr(b.listen), text).await;
        let sending = next(&mut a, |e| matches!(e, Event::Sending { .. })).await;
        let Event::Sending { id, to, .. } = sending else {
            unreachable!()
        };
        assert_eq!(to, Some(b.listen.to_string()));
        let sent = next(&mut a, |e| matches!(e, Event::Sent { .. })).await;
        assert_eq!(
            sent,
            Event::Sent {
                id: id.clone(),
                delivered: vec!["bob".into()],
                failed: vec![]
            }
        );
        let got = next(&mut b, |e| matches!(e, Event::Message { .. })).await;
        let Event::Message {
            id: got_id,
            from,
            group,
            text: got_text,
            ..
        } = got
        else {
            unreachable!()
        };
        assert_eq!(
            (got_id, from.as_str(), group, got_text.as_str()),
            (id, "alice", None, text)
        );
    }
    a.handle.send(Command::Quit).await.expect("quit");
    tokio::time::timeout(WAIT, &mut a.task)
        .await
        .expect("quits")
        .expect("no panic");
    assert!(a.events.recv().await.is_none() || a.events.recv().await.is_none());
}

#[tokio::test]
async fn unreachable_peer_is_an_error_and_a_failed_send() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = node("alice", &dir).await;
    let nowhere = dead_addr().await;
    send(&a, Target::Addr(nowhere), "hello?").await;
    let err = next(&mut a, |e| matches!(e, Event::Error { .. })).await;
    let Event::Error { message } = err else {
        unreachable!()
    };
    assert!(message.contains(&nowhere.to_string()), "{message}");
    let sent = next(&mut a, |e| matches!(e, Event::Sent { .. })).await;
    let Event::Sent {
        delivered, failed, ..
    } = sent
    else {
        unreachable!()
    };
    assert!(delivered.is_empty());
    assert_eq!(failed, vec![nowhere.to_string()]);
}

#[tokio::test]
async fn commands_that_need_the_tracker_or_a_group_fail_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = node("alice", &dir).await;
    let cases = [
        (Command::Join("g".parse().expect("group")), "not connected"),
        (Command::Leave("g".parse().expect("group")), "not in #g"),
        (Command::Members("g".parse().expect("group")), "not in #g"),
        (
            Command::Send {
                target: Target::Group("g".parse().expect("group")),
                text: "x".into(),
            },
            "not in #g",
        ),
        (
            Command::Send {
                target: Target::Peer("zed".parse().expect("name")),
                text: "x".into(),
            },
            "unknown peer zed",
        ),
    ];
    for (cmd, want) in cases {
        a.handle.send(cmd).await.expect("running");
        let err = next(&mut a, |e| matches!(e, Event::Error { .. })).await;
        assert!(format!("{err:?}").contains(want), "{err:?} lacks {want}");
    }
    a.handle.send(Command::Groups).await.expect("running");
    let groups = next(&mut a, |e| matches!(e, Event::Groups { .. })).await;
    assert_eq!(groups, Event::Groups { groups: vec![] });
}

/// Reads one error frame (or nothing) and then the close.
async fn error_then_close(stream: &mut TcpStream) -> Option<ErrorCode> {
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut buf))
        .await
        .expect("closed in time")
        .ok()?;
    let body = buf.get(4..)?;
    match serde_json::from_slice::<PeerFrame>(body).ok()? {
        PeerFrame::Error { code, .. } => Some(code),
        _ => None,
    }
}

#[tokio::test]
async fn listener_survives_garbage_oversize_and_wrong_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = node("alice", &dir).await;
    let mut b = node("bob", &dir).await;

    let mut garbage = TcpStream::connect(b.listen).await.expect("connect");
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(
        error_then_close(&mut garbage).await,
        Some(ErrorCode::BadFrame)
    );

    let mut oversize = TcpStream::connect(b.listen).await.expect("connect");
    oversize
        .write_all(&u32::MAX.to_be_bytes())
        .await
        .expect("write");
    assert_eq!(
        error_then_close(&mut oversize).await,
        Some(ErrorCode::BadFrame)
    );

    let stream = TcpStream::connect(b.listen).await.expect("connect");
    let mut framed = Framed::new(stream, FrameCodec::<PeerFrame, PeerFrame>::default());
    let hello = PeerFrame::Hello {
        version: PROTOCOL_VERSION + 1,
        name: "mallory".parse().expect("name"),
    };
    framed.send(hello).await.expect("send");
    let reply = tokio::time::timeout(WAIT, framed.next())
        .await
        .expect("reply");
    assert!(matches!(
        reply,
        Some(Ok(PeerFrame::Error {
            code: ErrorCode::VersionMismatch,
            ..
        }))
    ));

    // A connection claiming another sender's messages gets them refused, not delivered.
    let stream = TcpStream::connect(b.listen).await.expect("connect");
    let mut framed = Framed::new(stream, FrameCodec::<PeerFrame, PeerFrame>::default());
    let hello = PeerFrame::Hello {
        version: PROTOCOL_VERSION,
        name: "mallory".parse().expect("name"),
    };
    framed.send(hello).await.expect("send");
    let forged = PeerFrame::Chat(natter_protocol::peer::ChatMessage {
        id: "alice/1".parse().expect("id"),
        from: "alice".parse().expect("name"),
        group: None,
        text: "forged".into(),
        sent_at: 0,
    });
    framed.send(forged).await.expect("send");
    let _hello = framed.next().await;
    let reply = tokio::time::timeout(WAIT, framed.next())
        .await
        .expect("reply");
    assert!(matches!(
        reply,
        Some(Ok(PeerFrame::Error {
            code: ErrorCode::Refused,
            ..
        }))
    ));

    // Still serving.
    send(&a, Target::Addr(b.listen), "still there?").await;
    let sent = next(&mut a, |e| matches!(e, Event::Sent { .. })).await;
    assert!(matches!(sent, Event::Sent { ref delivered, .. } if delivered == &["bob".to_string()]));
    let got = next(&mut b, |e| matches!(e, Event::Message { .. })).await;
    assert!(matches!(got, Event::Message { ref text, .. } if text == "still there?"));
}

type FakeConn = Framed<
    TcpStream,
    FrameCodec<natter_protocol::tracker::PeerToTracker, natter_protocol::tracker::TrackerToPeer>,
>;

/// Accepts the node's next tracker connection, checks its hello and welcomes it.
async fn accept_hello(
    tracker: &tokio::net::TcpListener,
    heartbeat_secs: u64,
) -> (FakeConn, Vec<GroupName>) {
    use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
    let (stream, remote) = tokio::time::timeout(WAIT, tracker.accept())
        .await
        .expect("the node reconnects")
        .expect("accept");
    let mut conn = Framed::new(stream, FrameCodec::default());
    let hello = tokio::time::timeout(WAIT, conn.next())
        .await
        .expect("hello");
    let Some(Ok(PeerToTracker::Hello {
        version,
        name,
        listen_port,
        groups,
    })) = hello
    else {
        panic!("expected a hello, got {hello:?}")
    };
    assert_eq!(version, PROTOCOL_VERSION);
    let welcome = TrackerToPeer::Welcome {
        version,
        name,
        addr: SocketAddr::new(remote.ip(), listen_port),
        heartbeat_secs,
    };
    conn.send(welcome).await.expect("welcome");
    (conn, groups)
}

async fn expect_frame(conn: &mut FakeConn) -> natter_protocol::tracker::PeerToTracker {
    match tokio::time::timeout(WAIT, conn.next()).await {
        Ok(Some(Ok(frame))) => frame,
        other => panic!("expected a frame from the node, got {other:?}"),
    }
}

#[tokio::test]
async fn tracker_link_pushes_gaps_pings_lookups_reconnects_and_heartbeats() {
    use natter_protocol::tracker::{Member, MemberChange, PeerToTracker, TrackerToPeer};
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut config = NodeConfig::new(
        "alice".parse().expect("name"),
        fake.local_addr().expect("addr").to_string(),
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join("alice"),
    );
    config.ack_timeout = Duration::from_secs(5);
    let mut a = start(config).await.expect("start");
    let (mut conn, groups) = accept_hello(&fake, 1).await;
    assert!(groups.is_empty());
    next(&mut a, |e| {
        matches!(
            e,
            Event::Tracker {
                status: TrackerStatus::Connected,
                ..
            }
        )
    })
    .await;

    let g: GroupName = "g".parse().expect("group");
    let member = |name: &str, online| Member {
        name: name.parse().expect("name"),
        addr: "127.0.0.1:9".parse().expect("addr"),
        online,
    };
    a.handle
        .send(Command::Join(g.clone()))
        .await
        .expect("running");
    assert_eq!(
        expect_frame(&mut conn).await,
        PeerToTracker::Join { group: g.clone() }
    );
    let full = TrackerToPeer::Members {
        group: g.clone(),
        version: 1,
        members: vec![member("alice", true), member("bob", true)],
    };
    conn.send(full).await.expect("push");
    let ev = next(&mut a, |e| matches!(e, Event::Members { .. })).await;
    assert!(
        matches!(
            ev,
            Event::Members {
                version: 1,
                change: None,
                ..
            }
        ),
        "{ev:?}"
    );

    conn.send(TrackerToPeer::Ping { nonce: 7 })
        .await
        .expect("ping");
    assert_eq!(
        expect_frame(&mut conn).await,
        PeerToTracker::Pong { nonce: 7 }
    );

    let offline = MemberChange::Offline {
        name: "bob".parse().expect("name"),
    };
    let gap = TrackerToPeer::MemberUpdate {
        group: g.clone(),
        version: 3,
        change: offline.clone(),
    };
    conn.send(gap).await.expect("push");
    assert_eq!(
        expect_frame(&mut conn).await,
        PeerToTracker::Snapshot { group: g.clone() }
    );
    let next_one = TrackerToPeer::MemberUpdate {
        group: g.clone(),
        version: 2,
        change: offline.clone(),
    };
    conn.send(next_one).await.expect("push");
    let ev = next(&mut a, |e| matches!(e, Event::Members { .. })).await;
    assert_eq!(
        ev,
        Event::Members {
            group: g.clone(),
            version: 2,
            members: vec![member("alice", true), member("bob", false)],
            change: Some(offline),
        }
    );

    // bob is offline in the cache, so the tracker is asked; it does not know him.
    send(&a, Target::Peer("bob".parse().expect("name")), "hi").await;
    let bob: natter_protocol::Name = "bob".parse().expect("name");
    assert_eq!(
        expect_frame(&mut conn).await,
        PeerToTracker::Lookup { name: bob.clone() }
    );
    let result = TrackerToPeer::LookupResult {
        name: bob,
        member: None,
    };
    conn.send(result).await.expect("answer");
    let err = next(&mut a, |e| matches!(e, Event::Error { .. })).await;
    assert!(format!("{err:?}").contains("unknown peer bob"), "{err:?}");

    // The tracker goes away: the node notices, comes back and re-announces its groups.
    drop(conn);
    next(&mut a, |e| {
        matches!(
            e,
            Event::Tracker {
                status: TrackerStatus::Disconnected,
                ..
            }
        )
    })
    .await;
    let (mut conn, groups) = accept_hello(&fake, 1).await;
    assert_eq!(groups, vec![g.clone()]);
    next(&mut a, |e| {
        matches!(
            e,
            Event::Tracker {
                status: TrackerStatus::Connected,
                ..
            }
        )
    })
    .await;

    a.handle
        .send(Command::Leave(g.clone()))
        .await
        .expect("running");
    assert_eq!(
        expect_frame(&mut conn).await,
        PeerToTracker::Leave { group: g.clone() }
    );
    conn.send(TrackerToPeer::Left { group: g.clone() })
        .await
        .expect("left");
    next(&mut a, |e| matches!(e, Event::Left { .. })).await;
    a.handle.send(Command::Groups).await.expect("running");
    let groups = next(&mut a, |e| matches!(e, Event::Groups { .. })).await;
    assert_eq!(groups, Event::Groups { groups: vec![] });
    let cache = std::fs::read_to_string(dir.path().join("alice").join(CACHE_FILE_NAME))
        .expect("cache file");
    assert!(!cache.contains("\"g\""), "{cache}");

    // A tracker that stays silent (a half-open connection) is dropped after 3 heartbeats.
    next(&mut a, |e| {
        matches!(
            e,
            Event::Tracker {
                status: TrackerStatus::Disconnected,
                ..
            }
        )
    })
    .await;
    let (_conn, groups) = accept_hello(&fake, 1).await;
    assert!(groups.is_empty());
}

#[tokio::test]
async fn group_messages_reach_cached_members_with_the_tracker_down_even_after_a_restart() {
    use natter_protocol::tracker::{Member, TrackerToPeer};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bob = node("bob", &dir).await;
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let tracker = fake.local_addr().expect("addr").to_string();
    let config = NodeConfig::new(
        "alice".parse().expect("name"),
        tracker,
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join("alice"),
    );
    let mut a = start(config.clone()).await.expect("start");
    let (mut conn, _) = accept_hello(&fake, 30).await;
    let g: GroupName = "g".parse().expect("group");
    let member = |name: &str, addr: SocketAddr, online| Member {
        name: name.parse().expect("name"),
        addr,
        online,
    };
    let members = vec![
        member("alice", a.listen, true),
        member("bob", bob.listen, true),
        member("carol", "127.0.0.1:9".parse().expect("addr"), false),
    ];
    let full = TrackerToPeer::Members {
        group: g.clone(),
        version: 1,
        members,
    };
    conn.send(full).await.expect("push");
    next(&mut a, |e| matches!(e, Event::Members { .. })).await;
    drop((conn, fake));
    next(&mut a, |e| {
        matches!(
            e,
            Event::Tracker {
                status: TrackerStatus::Disconnected,
                ..
            }
        )
    })
    .await;

    for round in 0..2 {
        send(&a, Target::Group(g.clone()), "to the group").await;
        let sent = next(&mut a, |e| matches!(e, Event::Sent { .. })).await;
        let Event::Sent {
            delivered, failed, ..
        } = sent
        else {
            unreachable!()
        };
        assert_eq!(
            (delivered, failed),
            (vec!["bob".into()], vec!["carol".into()])
        );
        let got = next(&mut bob, |e| matches!(e, Event::Message { .. })).await;
        assert!(
            matches!(got, Event::Message { group: Some(ref gg), .. } if gg == &g),
            "{got:?}"
        );
        if round == 0 {
            // Restart alice: her cache comes back from members.json.
            a.handle.send(Command::Quit).await.expect("quit");
            tokio::time::timeout(WAIT, &mut a.task)
                .await
                .expect("quits")
                .expect("no panic");
            a = start(config.clone()).await.expect("restart");
            a.handle.send(Command::Groups).await.expect("running");
            let groups = next(&mut a, |e| matches!(e, Event::Groups { .. })).await;
            assert_eq!(
                groups,
                Event::Groups {
                    groups: vec![g.clone()]
                }
            );
        }
    }
}

#[tokio::test]
async fn a_message_sent_twice_is_shown_once_and_acked_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = node("bob", &dir).await;
    let stream = TcpStream::connect(b.listen).await.expect("connect");
    let mut framed = Framed::new(stream, FrameCodec::<PeerFrame, PeerFrame>::default());
    let hello = PeerFrame::Hello {
        version: PROTOCOL_VERSION,
        name: "mallory".parse().expect("name"),
    };
    framed.send(hello).await.expect("send");
    let msg = natter_protocol::peer::ChatMessage {
        id: "mallory/1".parse().expect("id"),
        from: "mallory".parse().expect("name"),
        group: None,
        text: "once".into(),
        sent_at: 0,
    };
    framed
        .feed(PeerFrame::Chat(msg.clone()))
        .await
        .expect("feed");
    framed.feed(PeerFrame::Chat(msg)).await.expect("feed");
    framed.flush().await.expect("flush");
    let mut acks = 0;
    while acks < 2 {
        match tokio::time::timeout(WAIT, framed.next()).await {
            Ok(Some(Ok(PeerFrame::Ack { id }))) => {
                assert_eq!(id.to_string(), "mallory/1");
                acks += 1;
            }
            Ok(Some(Ok(PeerFrame::Hello { .. }))) => {}
            other => panic!("expected acks, got {other:?}"),
        }
    }
    next(&mut b, |e| matches!(e, Event::Message { .. })).await;
    b.handle.send(Command::Quit).await.expect("quit");
    while let Some(ev) = tokio::time::timeout(WAIT, b.events.recv())
        .await
        .expect("the stream ends")
    {
        assert!(!matches!(ev, Event::Message { .. }), "shown twice: {ev:?}");
    }
}
