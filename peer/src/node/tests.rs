//! End-to-end tests of the node through real sockets: its shell, connection tasks, tracker
//! link and data files, with nodes on 127.0.0.1 talking over Noise links, a scripted or
//! automatic fake tracker, and hand-driven raw links for hostile input. The decisions
//! themselves are unit-tested without sockets in `core/tests.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::api::ErrorCode as NodeErrorCode;
use futures::SinkExt;
use natter_protocol::peer::PeerFrame;
use natter_protocol::testkit::{self, AutoTracker, FakeTracker, WAIT, peer};
use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use natter_protocol::{ErrorCode, GroupName, PROTOCOL_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

// The raw links, fake trackers and message builders are the shared test kit's
// (`natter_protocol::testkit`); these short names keep the tests below as they were.
use natter_protocol::testkit::chat_frame as signed;
use natter_protocol::testkit::chat_message as message;
use natter_protocol::testkit::dead_addr;
use natter_protocol::testkit::member as a_member;
use natter_protocol::testkit::peer::expect_acks as acks;
use natter_protocol::testkit::peer::hello as raw_link;
use natter_protocol::testkit::peer::next_non_hello as next_frame;

mod acks;

/// The fake tracker's end of a node's tracker link.
type FakeConn = testkit::fake_tracker::TrackerSide;

/// Accepts the node's next tracker connection on `tracker`, handshaking as `identity`,
/// checks its hello and welcomes it; returns the link and the groups the hello named.
async fn accept_hello(
    tracker: &FakeTracker,
    identity: &Identity,
    heartbeat_secs: u64,
) -> (FakeConn, Vec<GroupName>) {
    let conn = tracker.accept_as(identity, heartbeat_secs).await;
    (conn.link, conn.groups)
}

/// A node on `tracker`, once it is connected to it.
async fn node(name: &str, dir: &tempfile::TempDir, tracker: &AutoTracker) -> Node {
    node_on(name, dir, &tracker.addr.to_string(), true).await
}

/// A node whose tracker is down.
async fn lone_node(name: &str, dir: &tempfile::TempDir) -> Node {
    node_on(name, dir, &dead_addr().await.to_string(), false).await
}

async fn node_on(name: &str, dir: &tempfile::TempDir, tracker: &str, connected: bool) -> Node {
    let config = NodeConfig::new(
        name.parse().expect("name"),
        tracker.to_owned(),
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join(name),
    );
    let mut node = start(config).await.expect("start");
    let first = next(&mut node, |_| true).await;
    assert!(matches!(first, Event::Ready { .. }), "{first:?}");
    if connected {
        next(&mut node, |e| {
            matches!(
                e,
                Event::Tracker {
                    status: TrackerStatus::Connected,
                    ..
                }
            )
        })
        .await;
    }
    node
}

/// The next event matching `want`, skipping others; panics with the skipped ones on timeout.
async fn next(node: &mut Node, want: impl Fn(&Event) -> bool) -> Event {
    let mut skipped = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(notice) = node.events.recv().await {
            if want(&notice.event) {
                return Some(notice.event);
            }
            skipped.push(notice.event);
        }
        None
    })
    .await;
    match found {
        Ok(Some(ev)) => ev,
        _ => panic!("no matching event; saw {skipped:?}"),
    }
}

/// `author`'s private message `seq`, said as `from`, for the peer whose key is `to`.
fn private(author: &Identity, from: &str, seq: u64, to: PublicKey, text: &str) -> PeerFrame {
    PeerFrame::Chat(testkit::build::private_chat(author, from, seq, to, text))
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
    let t = AutoTracker::start().await;
    let mut a = node("alice", &dir, &t).await;
    let mut b = node("bob", &dir, &t).await;
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
                failed: vec![],
                pending: vec![],
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

/// What a node received is in its store: after a restart `/history` still has it, and
/// the sender's own copy says whom it went to.
#[tokio::test]
async fn history_is_kept_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = AutoTracker::start().await;
    let mut a = node("alice", &dir, &t).await;
    let mut b = node("bob", &dir, &t).await;
    send(&a, Target::Addr(b.listen), "remember me").await;
    next(&mut a, |e| matches!(e, Event::Sent { .. })).await;
    next(&mut b, |e| matches!(e, Event::Message { .. })).await;
    quit(b).await;
    let mut b = node("bob", &dir, &t).await;
    let history = |name: &str| Command::History {
        target: Target::Peer(name.parse().expect("name")),
        limit: 10,
    };
    b.handle.send(history("alice")).await.expect("running");
    let Event::History { messages, .. } =
        next(&mut b, |e| matches!(e, Event::History { .. })).await
    else {
        unreachable!()
    };
    let got: Vec<(&str, &str, bool)> = messages
        .iter()
        .map(|m| (m.from.as_str(), m.text.as_str(), m.delivery.is_none()))
        .collect();
    assert_eq!(got, [("alice", "remember me", true)]);
    a.handle.send(history("bob")).await.expect("running");
    let Event::History { messages, .. } =
        next(&mut a, |e| matches!(e, Event::History { .. })).await
    else {
        unreachable!()
    };
    let [own] = &messages[..] else {
        panic!("{messages:?}")
    };
    assert_eq!(own.to.as_deref(), Some("bob"));
    // Delivered (or, within the moment its record is held back, still pending: see
    // core `durable::history_right_after_an_ack_shows_it_delivered`).
    let state = own.delivery.as_ref().expect("own");
    assert!(state.failed.is_empty(), "{state:?}");
    assert_eq!(state.delivered.len() + state.pending.len(), 1, "{state:?}");
}

/// Reads until the node closes the connection.
async fn closed(stream: &mut TcpStream) {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut buf))
        .await
        .expect("closed in time");
}

#[tokio::test]
async fn listener_survives_garbage_oversize_and_wrong_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = AutoTracker::start().await;
    let mut a = node("alice", &dir, &t).await;
    let mut b = node("bob", &dir, &t).await;

    let mut garbage = TcpStream::connect(b.listen).await.expect("connect");
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    closed(&mut garbage).await;

    let mut oversize = TcpStream::connect(b.listen).await.expect("connect");
    oversize
        .write_all(&u32::MAX.to_be_bytes())
        .await
        .expect("write");
    closed(&mut oversize).await;

    // A truncated handshake: a length prefix, then silence, then a close.
    let mut truncated = TcpStream::connect(b.listen).await.expect("connect");
    truncated
        .write_all(&[0, 0, 0, 32, 1, 2])
        .await
        .expect("write");
    drop(truncated);

    let mallory = Identity::generate().expect("identity");
    t.register("mallory", mallory.public_key(), dead_addr().await);
    let (mut link, key) = peer::connect(b.listen, &mallory, None).await;
    assert_eq!(key, b.key);
    let hello = PeerFrame::Hello {
        version: PROTOCOL_VERSION + 1,
        name: "mallory".parse().expect("name"),
        listen_port: None,
    };
    link.send(hello).await.expect("send");
    assert!(matches!(
        next_frame(&mut link).await,
        Some(PeerFrame::Error {
            code: ErrorCode::VersionMismatch,
            ..
        })
    ));

    // A connection claiming another sender's messages gets them refused, not delivered.
    let (mut link, _) = raw_link(b.listen, &mallory, "mallory").await;
    let forged = signed(&mallory, message("alice", 1, None, "forged"));
    link.send(forged).await.expect("send");
    assert!(matches!(
        next_frame(&mut link).await,
        Some(PeerFrame::Nack {
            code: ErrorCode::Unauthorized,
            ..
        })
    ));

    // Still serving.
    send(&a, Target::Addr(b.listen), "still there?").await;
    let sent = next(&mut a, |e| matches!(e, Event::Sent { .. })).await;
    assert!(matches!(sent, Event::Sent { ref delivered, .. } if delivered == &["bob".to_string()]));
    let got = next(&mut b, |e| matches!(e, Event::Message { .. })).await;
    assert!(matches!(got, Event::Message { ref text, .. } if text == "still there?"));
}

/// The node's next frame to the tracker, with its request id taken out (so tests compare
/// what was asked, not how it was numbered).
async fn expect_frame(conn: &mut FakeConn) -> natter_protocol::tracker::PeerToTracker {
    use natter_protocol::tracker::PeerToTracker as P;
    match testkit::expect_frame(conn).await {
        P::Join { group, .. } => P::Join { group, req: None },
        P::Leave { group, .. } => P::Leave { group, req: None },
        P::Lookup { name, .. } => P::Lookup { name, req: None },
        P::Snapshot { group, .. } => P::Snapshot { group, req: None },
        other => other,
    }
}

/// The file at `path` once `ready` holds for its text (files are written by the node's
/// writer thread, a moment after the change).
async fn file_when(path: &std::path::Path, ready: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    loop {
        tick.tick().await;
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if ready(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never became ready: {text}",
            path.display()
        );
    }
}

#[tokio::test]
async fn tracker_link_pushes_gaps_pings_lookups_reconnects_and_heartbeats() {
    use natter_protocol::tracker::{Member, MemberChange, PeerToTracker, TrackerToPeer};
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeTracker::bind().await;
    let tracker_id = Identity::generate().expect("identity");
    let mut config = NodeConfig::new(
        "alice".parse().expect("name"),
        fake.addr.to_string(),
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join("alice"),
    );
    config.ack_timeout = Duration::from_secs(5);
    // Write the cache at once, so the test can read it right after each event.
    config.cache_save_every = Duration::ZERO;
    let mut a = start(config).await.expect("start");
    let (mut conn, groups) = accept_hello(&fake, &tracker_id, 1).await;
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
    let (alice_key, bob_key) = (a.key, Identity::generate().expect("id").public_key());
    let member = |name: &str, online| Member {
        name: name.parse().expect("name"),
        addr: "127.0.0.1:9".parse().expect("addr"),
        online,
        key: if name == "alice" { alice_key } else { bob_key },
        last_seen: None,
        status: None,
        role: Default::default(),
    };
    a.handle
        .send(Command::Join(g.clone()))
        .await
        .expect("running");
    assert_eq!(
        expect_frame(&mut conn).await,
        PeerToTracker::Join {
            req: None,
            group: g.clone()
        }
    );
    let full = TrackerToPeer::Members {
        req: None,
        group: g.clone(),
        version: 1,
        members: vec![member("alice", true), member("bob", true)],
        owner: None,
        topic: None,
        private: false,
        by: Default::default(),
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
        last_seen: None,
    };
    let gap = TrackerToPeer::MemberUpdate {
        group: g.clone(),
        version: 3,
        change: offline.clone(),
    };
    conn.send(gap).await.expect("push");
    assert_eq!(
        expect_frame(&mut conn).await,
        PeerToTracker::Snapshot {
            req: None,
            group: g.clone()
        }
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
            members: None,
            change: Some(offline),
            owner: None,
            topic: None,
            private: false,
            by: None,
        }
    );

    // bob is offline in the cache: his message waits for him (pending), nobody is asked.
    send(&a, Target::Peer("bob".parse().expect("name")), "hi").await;
    let sent = next(&mut a, |e| matches!(e, Event::Sent { .. })).await;
    assert!(
        matches!(sent, Event::Sent { ref pending, .. } if pending == &["bob".to_string()]),
        "{sent:?}"
    );
    // A name no list holds is looked up; the tracker does not know it.
    let dave: natter_protocol::Name = "dave".parse().expect("name");
    send(&a, Target::Peer(dave.clone()), "hi").await;
    assert_eq!(
        expect_frame(&mut conn).await,
        PeerToTracker::Lookup {
            req: None,
            name: dave.clone()
        }
    );
    let result = TrackerToPeer::LookupResult {
        req: None,
        name: dave,
        member: None,
    };
    conn.send(result).await.expect("answer");
    let err = next(&mut a, |e| matches!(e, Event::Error { .. })).await;
    assert!(format!("{err:?}").contains("unknown peer dave"), "{err:?}");

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
    let (mut conn, groups) = accept_hello(&fake, &tracker_id, 1).await;
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
        PeerToTracker::Leave {
            req: None,
            group: g.clone()
        }
    );
    conn.send(TrackerToPeer::Left {
        req: None,
        group: g.clone(),
        by: None,
        reason: None,
        disbanded: false,
        action: None,
    })
    .await
    .expect("left");
    next(&mut a, |e| matches!(e, Event::Left { .. })).await;
    a.handle.send(Command::Groups).await.expect("running");
    let groups = next(&mut a, |e| matches!(e, Event::Groups { .. })).await;
    assert_eq!(groups, Event::Groups { groups: vec![] });
    file_when(&dir.path().join("alice").join(CACHE_FILE_NAME), |cache| {
        cache.contains("groups") && !cache.contains("\"g\"")
    })
    .await;

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
    let (_conn, groups) = accept_hello(&fake, &tracker_id, 1).await;
    assert!(groups.is_empty());
}

#[tokio::test]
async fn group_messages_reach_cached_members_with_the_tracker_down_even_after_a_restart() {
    use natter_protocol::tracker::{Member, TrackerToPeer};
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeTracker::bind().await;
    let tracker_id = Identity::generate().expect("identity");
    let tracker = fake.addr.to_string();
    let config_for = |name: &str| {
        NodeConfig::new(
            name.parse().expect("name"),
            tracker.clone(),
            "127.0.0.1:0".parse().expect("addr"),
            dir.path().join(name),
        )
    };
    let config = config_for("alice");
    let mut a = start(config.clone()).await.expect("start");
    let (mut conn, _) = accept_hello(&fake, &tracker_id, 30).await;
    let mut bob = start(config_for("bob")).await.expect("start");
    let (mut bob_conn, _) = accept_hello(&fake, &tracker_id, 30).await;
    let g: GroupName = "g".parse().expect("group");
    let keys = [
        ("alice", a.key),
        ("bob", bob.key),
        ("carol", Identity::generate().expect("id").public_key()),
    ];
    let member = |name: &str, addr: SocketAddr, online| Member {
        name: name.parse().expect("name"),
        addr,
        online,
        key: keys
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .expect("key"),
        last_seen: None,
        status: None,
        role: Default::default(),
    };
    let members = vec![
        member("alice", a.listen, true),
        member("bob", bob.listen, true),
        member("carol", "127.0.0.1:9".parse().expect("addr"), false),
    ];
    let full = TrackerToPeer::Members {
        req: None,
        group: g.clone(),
        version: 1,
        members,
        owner: None,
        topic: None,
        private: false,
        by: Default::default(),
    };
    // bob first: alice asks him for the group's history as soon as she has the list, and
    // he must know her by then (this fake tracker answers no look-ups).
    bob_conn.send(full.clone()).await.expect("push");
    next(&mut bob, |e| matches!(e, Event::Members { .. })).await;
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
            delivered,
            failed,
            pending,
            ..
        } = sent
        else {
            unreachable!()
        };
        assert_eq!(
            (delivered, failed, pending),
            (vec!["bob".into()], vec![], vec!["carol".into()])
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

async fn quit(mut node: Node) {
    node.handle.send(Command::Quit).await.expect("quit");
    tokio::time::timeout(WAIT, &mut node.task)
        .await
        .expect("quits")
        .expect("no panic");
}

#[tokio::test]
async fn a_replayed_message_is_acked_but_shown_once_even_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = AutoTracker::start().await;
    let mut b = node("bob", &dir, &t).await;
    let mallory = Identity::generate().expect("identity");
    t.register("mallory", mallory.public_key(), dead_addr().await);
    let (mut link, _) = raw_link(b.listen, &mallory, "mallory").await;
    let msg = private(&mallory, "mallory", 1, b.key, "once");
    link.feed(msg.clone()).await.expect("feed");
    link.feed(msg.clone()).await.expect("feed");
    link.flush().await.expect("flush");
    assert_eq!(acks(&mut link, 2).await, ["mallory/1", "mallory/1"]);
    next(&mut b, |e| matches!(e, Event::Message { .. })).await;
    drop(link);
    quit(b).await;

    // Restarted (same data directory): the replay is still a duplicate; a new one is not.
    let mut b = node("bob", &dir, &t).await;
    let (mut link, _) = raw_link(b.listen, &mallory, "mallory").await;
    link.send(msg).await.expect("replay");
    assert_eq!(acks(&mut link, 1).await, ["mallory/1"]);
    let fresh = private(&mallory, "mallory", 2, b.key, "fresh");
    link.send(fresh).await.expect("send");
    assert_eq!(acks(&mut link, 1).await, ["mallory/2"]);
    let got = next(&mut b, |e| matches!(e, Event::Message { .. })).await;
    assert!(
        matches!(got, Event::Message { ref text, .. } if text == "fresh"),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_changed_tracker_key_is_refused_and_reported_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeTracker::bind().await;
    let tracker = fake.addr.to_string();
    let tracker_id = Identity::generate().expect("identity");
    let config = NodeConfig::new(
        "alice".parse().expect("name"),
        tracker.clone(),
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join("alice"),
    );
    let a = start(config.clone()).await.expect("start");
    let (_conn, _) = accept_hello(&fake, &tracker_id, 30).await;
    let key = tracker_id.public_key().to_string();
    file_when(&dir.path().join("alice").join(TRACKER_PINS_FILE), |pins| {
        pins.contains(&key)
    })
    .await;
    quit(a).await;

    // Another tracker (another key) at the same address.
    let impostor = Identity::generate().expect("identity");
    let mut a = start(config.clone()).await.expect("restart");
    let accept_twice = async {
        for _ in 0..2 {
            let _ = fake.handshake_as(&impostor).await;
        }
    };
    let watch = async {
        let err = next(&mut a, |e| matches!(e, Event::Error { .. })).await;
        let Event::Error { message, .. } = err else {
            unreachable!()
        };
        assert!(
            message.contains("tracker") && message.contains("key changed"),
            "{message}"
        );
        assert!(
            message.contains(&format!("--tracker-key {}", impostor.public_key())),
            "{message}"
        );
    };
    tokio::join!(accept_twice, watch);
    quit(a).await;

    // Accepting it on purpose.
    let mut config = config;
    config.tracker_key = Some(impostor.public_key());
    let mut a = start(config).await.expect("restart");
    let (_conn, _) = accept_hello(&fake, &impostor, 30).await;
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
}

/// The review's repro: mallory runs her own tracker, names herself "alice" and messages bob
/// by address. Bob's tracker binds "alice" to the real alice's key, so bob refuses the link,
/// shows nothing and pins nothing; the real alice still gets through.
/// A scripted tracker connection for `name`: the node, the fake's end and its listener.
async fn scripted(name: &str, dir: &tempfile::TempDir) -> (Node, FakeConn, NodeConfig) {
    let fake = FakeTracker::bind().await;
    let tracker_id = Identity::generate().expect("identity");
    let mut config = NodeConfig::new(
        name.parse().expect("name"),
        fake.addr.to_string(),
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join(name),
    );
    // Write the cache at once, so a test can check it right after an event.
    config.cache_save_every = Duration::ZERO;
    let mut node = start(config.clone()).await.expect("start");
    let (conn, _) = accept_hello(&fake, &tracker_id, 30).await;
    next(&mut node, |e| {
        matches!(
            e,
            Event::Tracker {
                status: TrackerStatus::Connected,
                ..
            }
        )
    })
    .await;
    // Keep the listener open (the node does not reconnect while the link is up).
    std::mem::forget(fake);
    (node, conn, config)
}

/// A key change seen on the send path (a look-up) is reported like any other, and /trust
/// then takes the key the tracker binds.
#[tokio::test]
async fn a_changed_key_in_a_lookup_is_reported_and_can_be_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut a, mut conn, _) = scripted("alice", &dir).await;
    let (bob1, bob2) = (
        Identity::generate().expect("id").public_key(),
        Identity::generate().expect("id").public_key(),
    );
    let g: GroupName = "g".parse().expect("group");
    let full = TrackerToPeer::Members {
        req: None,
        group: g.clone(),
        version: 1,
        members: vec![a_member("alice", a.key, true), a_member("bob", bob1, false)],
        owner: None,
        topic: None,
        private: false,
        by: Default::default(),
    };
    conn.send(full).await.expect("push");
    next(&mut a, |e| matches!(e, Event::Members { .. })).await;
    // bob (pinned from the list) leaves: no list holds him any more.
    let left = TrackerToPeer::MemberUpdate {
        group: g.clone(),
        version: 2,
        change: MemberChangeOf::Left {
            name: "bob".parse().expect("name"),
        },
    };
    conn.send(left).await.expect("push");
    next(&mut a, |e| matches!(e, Event::Members { version: 2, .. })).await;
    // So the tracker is asked, and binds him to another key now.
    send(&a, Target::Peer("bob".parse().expect("name")), "hi").await;
    let bob: Name = "bob".parse().expect("name");
    assert_eq!(
        expect_frame(&mut conn).await,
        PeerToTracker::Lookup {
            req: None,
            name: bob.clone()
        }
    );
    let answer = TrackerToPeer::LookupResult {
        req: None,
        name: bob.clone(),
        member: Some(a_member("bob", bob2, true)),
    };
    conn.send(answer.clone()).await.expect("answer");
    let changed = next(&mut a, |e| matches!(e, Event::KeyChanged { .. })).await;
    assert_eq!(
        changed,
        Event::KeyChanged {
            name: bob.clone(),
            pinned: bob1,
            presented: bob2
        }
    );
    // Reported as an error too, and the message is refused with one.
    for _ in 0..2 {
        let err = next(&mut a, |e| matches!(e, Event::Error { .. })).await;
        assert!(format!("{err:?}").contains("key changed"), "{err:?}");
    }

    // /trust asks the tracker (no list holds bob) and takes bob2.
    a.handle
        .send(Command::Trust(bob.clone()))
        .await
        .expect("running");
    assert_eq!(
        expect_frame(&mut conn).await,
        PeerToTracker::Lookup {
            req: None,
            name: bob.clone()
        }
    );
    conn.send(answer).await.expect("answer");
    let trusted = next(&mut a, |e| {
        matches!(e, Event::Trusted { .. } | Event::Error { .. })
    })
    .await;
    assert_eq!(
        trusted,
        Event::Trusted {
            name: bob,
            key: bob2
        }
    );
}

/// Nothing about a blocked key reaches the user: not its comings and goings, not a key
/// change when it claims another's name, not its messages.
#[tokio::test]
async fn a_blocked_key_is_quiet_everywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut b, mut conn, _) = scripted("bob", &dir).await;
    let mallory = Identity::generate().expect("identity");
    let carol = Identity::generate().expect("identity");
    let g: GroupName = "g".parse().expect("group");
    let full = TrackerToPeer::Members {
        req: None,
        group: g.clone(),
        version: 1,
        members: vec![
            a_member("bob", b.key, true),
            a_member("carol", carol.public_key(), true),
            a_member("mallory", mallory.public_key(), true),
        ],
        owner: None,
        topic: None,
        private: false,
        by: Default::default(),
    };
    conn.send(full).await.expect("push");
    next(&mut b, |e| matches!(e, Event::Members { .. })).await;
    b.handle
        .send(Command::Block("mallory".parse().expect("name")))
        .await
        .expect("running");
    next(&mut b, |e| matches!(e, Event::Blocked { .. })).await;

    let offline = MemberChangeOf::Offline {
        name: "mallory".parse().expect("name"),
        last_seen: None,
    };
    let update = |version, change| TrackerToPeer::MemberUpdate {
        group: g.clone(),
        version,
        change,
    };
    conn.send(update(2, offline)).await.expect("push");
    // mallory's key saying hello as carol: let on quietly, her message acked, not shown.
    let (mut link, _) = raw_link(b.listen, &mallory, "carol").await;
    let its_me = testkit::build::chat(&mallory, "carol", 1, Some("g"), "it's me");
    link.send(PeerFrame::Chat(its_me)).await.expect("send");
    assert_eq!(acks(&mut link, 1).await, ["carol/1"]);
    let joined = MemberChangeOf::Joined {
        member: a_member("dave", Identity::generate().expect("id").public_key(), true),
    };
    conn.send(update(3, joined)).await.expect("push");
    // The blocked member's changes come as silent full lists (no `change` to announce).
    let ev = next(&mut b, |e| {
        matches!(
            e,
            Event::Members {
                change: Some(_),
                ..
            } | Event::KeyChanged { .. }
                | Event::Message { .. }
                | Event::Error { .. }
        )
    })
    .await;
    assert!(
        matches!(ev, Event::Members { version: 3, .. }),
        "the first thing shown is dave joining, not {ev:?}"
    );
}

use natter_protocol::tracker::MemberChange as MemberChangeOf;

#[tokio::test]
async fn unusable_trust_files_stop_the_start_other_files_are_set_aside() {
    for file in [PEER_PINS_FILE, BLOCKED_FILE, TRACKER_PINS_FILE] {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("alice");
        std::fs::create_dir_all(&data).expect("mkdir");
        std::fs::write(data.join(file), b"{not json").expect("write");
        let config = NodeConfig::new(
            "alice".parse().expect("name"),
            dead_addr().await.to_string(),
            "127.0.0.1:0".parse().expect("addr"),
            data.clone(),
        );
        let Err(err) = start(config).await else {
            panic!("started with a corrupt {file}")
        };
        let text = format!("{err:#}");
        assert!(
            text.contains(file) && text.contains("fix it or remove it"),
            "{text}"
        );
        assert_eq!(std::fs::read(data.join(file)).expect("kept"), b"{not json");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("alice");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join(CACHE_FILE_NAME), b"{not json").expect("write");
    let mut a = lone_node("alice", &dir).await;
    let err = next(&mut a, |e| matches!(e, Event::Error { .. })).await;
    assert!(format!("{err:?}").contains("unusable"), "{err:?}");
}

/// One natter per data directory: a second start on it fails at once saying who holds it,
/// and the first goes on; once the first quit, it starts.
#[tokio::test]
async fn a_second_node_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = lone_node("alice", &dir).await;
    let config = NodeConfig::new(
        "alice".parse().expect("name"),
        dead_addr().await.to_string(),
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join("alice"),
    );
    let Err(err) = start(config.clone()).await else {
        panic!("two nodes on one data directory")
    };
    let text = format!("{err:#}");
    let pid = format!("pid {}", std::process::id());
    assert!(
        text.contains("another natter") && text.contains(&pid),
        "{text}"
    );
    a.handle.send(Command::Groups).await.expect("running");
    next(&mut a, |e| matches!(e, Event::Groups { .. })).await;
    quit(a).await;
    let again = start(config).await.expect("starts once the first quit");
    quit(again).await;
}

/// A `natter.db` that is not a database stops the start with an error naming it; the
/// file is left as it was.
#[tokio::test]
async fn a_damaged_store_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("alice");
    std::fs::create_dir_all(&data).expect("mkdir");
    let junk = vec![0x5a_u8; 8192];
    std::fs::write(data.join(STORE_FILE), &junk).expect("write");
    let config = NodeConfig::new(
        "alice".parse().expect("name"),
        dead_addr().await.to_string(),
        "127.0.0.1:0".parse().expect("addr"),
        data.clone(),
    );
    let Err(err) = start(config).await else {
        panic!("started on a damaged store")
    };
    let text = format!("{err:#}");
    assert!(
        text.contains(STORE_FILE) && text.contains("not a database"),
        "{text}"
    );
    assert_eq!(std::fs::read(data.join(STORE_FILE)).expect("kept"), junk);
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = AutoTracker::start().await;
    let mut a = node("alice", &dir, &t).await;
    let b = node("bob", &dir, &t).await;
    send(&a, Target::Addr(b.listen), "hi").await;
    next(&mut a, |e| matches!(e, Event::Sent { .. })).await;
    quit(a).await;
    let data = dir.path().join("alice");
    assert_eq!(mode(&data), 0o700);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&data).expect("dir") {
        let path = entry.expect("entry").path();
        let file = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(!file.ends_with(".tmp"), "{}", path.display());
        // The store's files are checked below.
        if !file.starts_with(STORE_FILE) {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        files.push(file);
    }
    assert!(data.join(PEER_PINS_FILE).exists());
    assert!(files.contains(&STORE_FILE.to_owned()), "{files:?}");
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
}

/// `natter.db` holds every message: only its owner may read it, like the other files.
#[cfg(unix)]
#[tokio::test]
async fn the_store_is_private_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = AutoTracker::start().await;
    let mut a = node("alice", &dir, &t).await;
    let b = node("bob", &dir, &t).await;
    send(&a, Target::Addr(b.listen), "hi").await;
    next(&mut a, |e| matches!(e, Event::Sent { .. })).await;
    let data = dir.path().join("alice");
    // While it runs (with its WAL beside it) and after it quit.
    let check = || {
        for entry in std::fs::read_dir(&data).expect("dir") {
            let path = entry.expect("entry").path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    };
    check();
    quit(a).await;
    check();
}

#[tokio::test]
async fn tracker_pins_are_kept_by_resolved_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeTracker::bind().await;
    let port = fake.addr.port();
    let tracker_id = Identity::generate().expect("identity");
    let config = NodeConfig::new(
        "alice".parse().expect("name"),
        format!("localhost:{port}"),
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join("alice"),
    );
    let mut a = start(config).await.expect("start");
    let (_conn, _) = accept_hello(&fake, &tracker_id, 30).await;
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
    quit(a).await;
    let pins =
        std::fs::read_to_string(dir.path().join("alice").join(TRACKER_PINS_FILE)).expect("pins");
    let pins: HashMap<String, String> = serde_json::from_str(&pins).expect("json");
    assert_eq!(
        pins,
        HashMap::from([(
            format!("127.0.0.1:{port}"),
            tracker_id.public_key().to_string()
        )])
    );
}

/// A member cache that cannot be saved is reported once, not on every save.
#[tokio::test]
async fn an_unsaveable_member_cache_is_reported_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut a, mut conn, config) = scripted("alice", &dir).await;
    // A directory where the file should be: every save fails.
    std::fs::create_dir_all(config.data_dir.join(CACHE_FILE_NAME).join("x")).expect("mkdir");
    let g: GroupName = "g".parse().expect("group");
    let me = a_member("alice", a.key, true);
    let full = |version| TrackerToPeer::Members {
        req: None,
        group: g.clone(),
        version,
        members: vec![me.clone()],
        owner: None,
        topic: None,
        private: false,
        by: Default::default(),
    };
    for version in 1..=3 {
        conn.send(full(version)).await.expect("push");
    }
    // The first failed save is reported, naming the file.
    let first = next(&mut a, |e| matches!(e, Event::Error { .. })).await;
    let Event::Error { code, message, .. } = first else {
        unreachable!()
    };
    assert_eq!(code, NodeErrorCode::Io);
    assert!(message.contains(CACHE_FILE_NAME), "{message}");
    // More changes fail to save too, quietly: nothing else is reported up to the end.
    for version in 4..=6 {
        conn.send(full(version)).await.expect("push");
        next(
            &mut a,
            |e| matches!(e, Event::Members { version: v, .. } if *v == version),
        )
        .await;
    }
    a.handle.send(Command::Quit).await.expect("quit");
    let mut rest = Vec::new();
    while let Ok(Some(notice)) = tokio::time::timeout(WAIT, a.events.recv()).await {
        rest.push(notice.event);
    }
    let errors: Vec<&Event> = rest
        .iter()
        .filter(|e| matches!(e, Event::Error { .. }))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}
