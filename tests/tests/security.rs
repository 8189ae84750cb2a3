//! Encrypted, authenticated links and identities, attacked from outside: names claimed
//! with other keys, spoofed and forged frames, replays, changed keys, and a recording
//! relay that must see nothing readable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::SinkExt;
use natter_protocol::ErrorCode;
use natter_protocol::peer::PeerFrame;
use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use util::{Peer, PeerOptions, Tracker, WAIT, has_member, names, raw, temp};

/// The peer's next `message` event must be `text`: anything dropped before it never shows.
async fn next_message_is(peer: &mut Peer, text: &str) {
    let got = peer.wait_event("message").await;
    assert_eq!(got["text"], text, "an earlier message got through: {got}");
}

#[tokio::test]
async fn a_name_belongs_to_the_first_key_even_while_its_owner_is_offline() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    // Registered (the name bound to alice's key) before she goes.
    alice.wait_tracker("connected").await;
    assert!(alice.quit().await.success());

    let mut impostor = Peer::start_with(
        "alice",
        PeerOptions {
            tracker: tracker.addr.to_string(),
            data_dir: dir.path().join("impostor"),
            extra: vec![],
        },
    )
    .await;
    let refused = impostor.wait_error_code("tracker_refused").await;
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("another key")),
        "{refused}"
    );

    // The owner, with its own key, is welcome back.
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.wait_tracker("connected").await;
    alice.join("mine").await;
}

#[tokio::test]
async fn nobody_leaves_or_registers_in_someone_elses_name() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    alice.join("g").await;
    bob.join("g").await;

    // Mallory cannot be bob...
    let mallory = raw::identity();
    let (_, answer) = raw::register(tracker.addr, &mallory, "bob", 9, &[]).await;
    match answer {
        TrackerToPeer::Error { code, .. } => assert_eq!(code, ErrorCode::NameOwned),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // ...and as herself, her leave acts for herself only.
    let (mut link, welcome) = raw::register(tracker.addr, &mallory, "mallory", 9, &[]).await;
    assert!(
        matches!(welcome, TrackerToPeer::Welcome { .. }),
        "{welcome:?}"
    );
    link.send(PeerToTracker::Leave {
        req: None,
        group: "g".parse().unwrap(),
    })
    .await
    .unwrap();
    match raw::next(&mut link).await {
        Some(TrackerToPeer::Error { code, .. }) => assert_eq!(code, ErrorCode::NotMember),
        other => panic!("expected not-a-member, got {other:?}"),
    }
    alice.cmd("/members g").await;
    let list = alice.wait_event("members").await;
    assert!(
        has_member(list["members"].as_array().unwrap(), "bob", true),
        "{list}"
    );
    // Bob is still a member: a group message reaches him.
    let sent = alice.msg("#g", "still with us").await;
    assert_eq!(names(&sent["delivered"]), ["bob"], "{sent}");
}

/// Mallory, a peer the tracker knows, tries to get messages into a group she is not in,
/// to forge signatures and to speak for others; bob shows none of it.
#[tokio::test]
async fn forged_spoofed_and_non_member_messages_are_dropped() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    alice.join("g").await;
    bob.join("g").await;
    alice
        .wait_members("g", "bob", |m| has_member(m, "bob", true))
        .await;

    let mallory = raw::identity();
    let (_tracker_link, _) = raw::register(tracker.addr, &mallory, "mallory", 9, &[]).await;
    let mut link = raw::peer_link(bob.listen, &mallory, "mallory").await;
    // Not a member of #g.
    raw::send_chat(
        &mut link,
        raw::chat(&mallory, "mallory", 1, Some("g"), "not a member"),
    )
    .await;
    alice.msg("#g", "first real message").await;
    next_message_is(&mut bob, "first real message").await;

    // A message in her name but with some other key (and signed by it): not her link's.
    let mut link = raw::peer_link(bob.listen, &mallory, "mallory").await;
    let stranger = raw::identity();
    raw::send_chat(
        &mut link,
        raw::chat(&stranger, "mallory", 2, None, "forged signature"),
    )
    .await;
    // A message that claims to come from alice, over mallory's link.
    let mut link = raw::peer_link(bob.listen, &mallory, "mallory").await;
    raw::send_chat(
        &mut link,
        raw::chat(&mallory, "alice", 3, Some("g"), "i am alice"),
    )
    .await;
    // A hello that claims to be alice, with mallory's key, is refused outright.
    match raw::try_peer_link(bob.listen, &mallory, "alice").await {
        Err(Some(PeerFrame::Error { code, .. })) => assert_eq!(code, ErrorCode::Unauthorized),
        Err(None) => {}
        Err(Some(other)) => panic!("unexpected answer {other:?}"),
        Ok(_) => panic!("bob accepted mallory as alice"),
    }
    alice.msg("bob", "second real message").await;
    next_message_is(&mut bob, "second real message").await;
}

#[tokio::test]
async fn a_replayed_message_is_dropped_even_after_a_restart() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    bob.join("g").await;
    let mallory = raw::identity();
    let (_tracker_link, _) = raw::register(tracker.addr, &mallory, "mallory", 9, &["g"]).await;
    bob.wait_members("g", "mallory", |m| m.iter().any(|x| x["name"] == "mallory"))
        .await;

    let original = raw::chat(&mallory, "mallory", 1000, Some("g"), "only once");
    let mut link = raw::peer_link(bob.listen, &mallory, "mallory").await;
    raw::send_chat(&mut link, original.clone()).await;
    next_message_is(&mut bob, "only once").await;
    raw::send_chat(&mut link, original.clone()).await;
    raw::send_chat(
        &mut link,
        raw::chat(&mallory, "mallory", 1001, Some("g"), "fresh"),
    )
    .await;
    next_message_is(&mut bob, "fresh").await;

    // Bob restarts; the replay is still a replay.
    assert!(bob.quit().await.success());
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    bob.wait_tracker("connected").await;
    let mut link = raw::peer_link(bob.listen, &mallory, "mallory").await;
    raw::send_chat(&mut link, original).await;
    raw::send_chat(
        &mut link,
        raw::chat(&mallory, "mallory", 1002, Some("g"), "fresher"),
    )
    .await;
    next_message_is(&mut bob, "fresher").await;
}

#[tokio::test]
async fn a_changed_tracker_key_is_refused_until_accepted_on_purpose() {
    let dir = temp();
    let mut tracker = Tracker::start(dir.path()).await;
    let port = tracker.addr.port();
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.wait_tracker("connected").await;
    tracker.kill9().await;
    alice.wait_tracker("disconnected").await;

    // Same address, same state, new key.
    std::fs::remove_file(dir.path().join("tracker.key")).unwrap();
    let tracker = Tracker::start_with(dir.path(), &format!("127.0.0.1:{port}"), &[]).await;
    let err = alice.wait_error_code("tracker_key_changed").await;
    assert!(
        err["message"].as_str().unwrap().contains("--tracker-key"),
        "{err}"
    );
    assert!(alice.quit().await.success());

    let mut alice = Peer::start_with(
        "alice",
        PeerOptions {
            tracker: tracker.addr.to_string(),
            data_dir: dir.path().join("alice"),
            extra: vec!["--tracker-key", &tracker.key],
        },
    )
    .await;
    // Taken on purpose, and still said: the key pinned before is replaced.
    let warning = alice.wait_error_code("tracker_key_replaced").await;
    let message = warning["message"].as_str().unwrap();
    assert!(message.contains(&tracker.key), "{warning}");
    alice.wait_tracker("connected").await;
    assert!(alice.quit().await.success());
    let pins = std::fs::read_to_string(dir.path().join("alice").join("trackers.json")).unwrap();
    assert!(pins.contains(&tracker.key), "{pins}");
}

#[tokio::test]
async fn a_stranger_claiming_a_members_name_is_refused_and_locks_nobody_out() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    alice.join("g").await;
    bob.join("g").await;
    bob.msg("alice", "with my real key").await;
    alice.wait_message("with my real key").await;

    // Someone (bob on a new machine, or not) shows up as bob with another key.
    let mut new_bob = Peer::start_with(
        "bob",
        PeerOptions {
            tracker: "127.0.0.1:9".into(),
            data_dir: dir.path().join("new-bob"),
            extra: vec![],
        },
    )
    .await;
    new_bob
        .cmd(&format!("/msg {} trust me", alice.listen))
        .await;
    // Refused and reported, but a hello's word is no key change: nothing waits for /trust.
    let refused = alice.wait_error_code("wrong_key").await;
    assert_eq!(refused["about"], "bob", "{refused}");
    assert!(
        !alice.seen.iter().any(|e| e["event"] == "key_changed"),
        "{:?}",
        alice.seen
    );
    // The real bob still gets through, both ways; the impostor's text never showed.
    bob.msg("alice", "real bob again").await;
    next_message_is(&mut alice, "real bob again").await;
    let sent = alice.msg("bob", "and back").await;
    assert_eq!(names(&sent["delivered"]), ["bob"], "{sent}");
}

#[tokio::test]
async fn blocked_peers_are_not_heard() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    let mut carol = Peer::start(dir.path(), "carol", tracker.addr).await;
    for p in [&mut alice, &mut bob, &mut carol] {
        p.join("g").await;
    }
    alice
        .wait_members("g", "everyone", |m| {
            has_member(m, "bob", true) && has_member(m, "carol", true)
        })
        .await;
    alice.cmd("/block bob").await;
    let blocked = alice.wait_event("blocked").await;
    assert_eq!(blocked["name"], "bob");
    assert_eq!(blocked["blocked"], true);
    bob.msg("#g", "can you hear me").await;
    bob.msg("alice", "hello?").await;
    carol.msg("#g", "carol speaking").await;
    next_message_is(&mut alice, "carol speaking").await;

    // Kept across a restart.
    assert!(alice.quit().await.success());
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.wait_tracker("connected").await;
    bob.msg("alice", "still blocked?").await;
    carol.msg("alice", "carol again").await;
    next_message_is(&mut alice, "carol again").await;
    alice.cmd("/unblock bob").await;
    alice
        .wait_for("unblocked", |v| {
            v["event"] == "blocked" && v["blocked"] == false
        })
        .await;
    bob.msg("alice", "unblocked now").await;
    next_message_is(&mut alice, "unblocked now").await;
}

/// A TCP relay that forwards to `target` and records every byte in both directions.
async fn recording_relay(target: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let record = Arc::new(Mutex::new(Vec::new()));
    let rec = record.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(target).await else {
                continue;
            };
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            tokio::spawn(pipe(ri, wo, rec.clone()));
            tokio::spawn(pipe(ro, wi, rec.clone()));
        }
    });
    (addr, record)
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    record: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        record.lock().unwrap().extend_from_slice(&buf[..n]);
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn a_recording_relay_sees_no_text_names_or_groups() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let (tracker_relay, tracker_bytes) = recording_relay(tracker.addr).await;
    let mut alicegrey = Peer::start(dir.path(), "alicegrey", tracker_relay).await;
    let mut bobwhite = Peer::start(dir.path(), "bobwhite", tracker_relay).await;
    alicegrey.join("hushgroup").await;
    bobwhite.join("hushgroup").await;
    let (peer_relay, peer_bytes) = recording_relay(bobwhite.listen).await;

    let sent = alicegrey
        .msg(&peer_relay.to_string(), "the eagle lands at noon")
        .await;
    assert_eq!(names(&sent["delivered"]), ["bobwhite"], "{sent}");
    bobwhite.wait_message("the eagle lands at noon").await;

    let tracker_bytes = tracker_bytes.lock().unwrap().clone();
    let peer_bytes = peer_bytes.lock().unwrap().clone();
    assert!(tracker_bytes.len() > 100 && peer_bytes.len() > 100);
    for secret in ["eagle lands", "alicegrey", "bobwhite", "hushgroup"] {
        assert!(
            !contains(&tracker_bytes, secret),
            "{secret} in tracker traffic"
        );
        assert!(!contains(&peer_bytes, secret), "{secret} in peer traffic");
    }
}

/// Connections that never finish a handshake, or send half of one, are closed on time and
/// do not stop honest peers from being served meanwhile.
#[tokio::test]
async fn silent_and_truncated_handshakes_do_not_block_honest_peers() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    let mut stalled = Vec::new();
    for target in [tracker.addr, bob.listen] {
        for i in 0..10u8 {
            let mut s = TcpStream::connect(target).await.unwrap();
            if i % 2 == 1 {
                // The start of a length-prefixed handshake message that never completes.
                s.write_all(&[0, 32, 1, 2, 3]).await.unwrap();
            }
            stalled.push(s);
        }
    }
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.join("g").await;
    let sent = alice.msg("bob", "served meanwhile").await;
    assert_eq!(names(&sent["delivered"]), ["bob"], "{sent}");
    bob.wait_message("served meanwhile").await;
    for mut s in stalled {
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(WAIT, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a stalled handshake was never closed");
    }
}

/// More silent sockets from one address than a peer's handshake budget (128): the
/// newcomer evicts the oldest unauthenticated connection instead of queueing behind them,
/// so an honest peer's message still gets through at once.
#[tokio::test]
async fn a_flood_of_silent_sockets_does_not_lock_honest_peers_out_of_a_peer() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    bob.join("g").await;
    alice.join("g").await;
    let mut silent = Vec::new();
    for _ in 0..256 {
        silent.push(TcpStream::connect(bob.listen).await.unwrap());
    }
    // A connect can complete before the far side accepts it. Once bob has accepted all
    // 256, the newest 128 (his budget) evicted the oldest 128: alice's connection is then
    // the newest, which the flood must not push out.
    let deadline = tokio::time::Instant::now() + WAIT;
    while closed_by_far_side(&silent) < 128 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob never took in the whole flood"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let sent = alice.msg("bob", "through the flood").await;
    assert_eq!(names(&sent["delivered"]), ["bob"], "{sent}");
    bob.wait_message("through the flood").await;
    drop(silent);
}

/// How many of `sockets` the far side has closed.
fn closed_by_far_side(sockets: &[TcpStream]) -> usize {
    let mut buf = [0u8; 16];
    let mut closed = |s: &TcpStream| match s.try_read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    sockets.iter().filter(|s| closed(s)).count()
}

/// Slow senders after the handshake and hello: one dribbles a frame a byte at a time, one
/// sends half a frame and goes quiet, each at the tracker and at a peer. Honest peers are
/// served promptly meanwhile (a new peer registers and joins, and its message is
/// delivered), and the tracker drops the slow ones on its heartbeat.
#[tokio::test]
async fn slow_senders_after_the_hello_do_not_block_honest_peers() {
    use std::time::Duration;
    use tokio::time::Instant;

    let dir = temp();
    let tracker = Tracker::start_with(dir.path(), "127.0.0.1:0", &["--heartbeat-secs", "1"]).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    bob.join("g").await;

    let pace = Duration::from_millis(200);
    let mut at_tracker = Vec::new();
    let mut at_bob = Vec::new();
    for (name, pace) in [("dribbler", pace), ("halfway", Duration::ZERO)] {
        let me = raw::identity();
        let (mut link, welcome) = raw::register(tracker.addr, &me, name, 9, &[]).await;
        assert!(
            matches!(welcome, TrackerToPeer::Welcome { .. }),
            "{welcome:?}"
        );
        let mut frame = raw::seal(
            &mut link,
            PeerToTracker::Join {
                req: None,
                group: "g".parse().unwrap(),
            },
        );
        if pace.is_zero() {
            frame.truncate(frame.len() / 2);
        }
        at_tracker.push(tokio::spawn(raw::stall(link, frame, pace)));

        let mut link = raw::peer_link(bob.listen, &me, name).await;
        let chat = raw::chat(&me, name, 1, None, "very slowly");
        let mut frame = raw::seal(&mut link, PeerFrame::Chat(chat));
        if pace.is_zero() {
            frame.truncate(frame.len() / 2);
        }
        at_bob.push(tokio::spawn(raw::stall(link, frame, pace)));
    }

    let started = Instant::now();
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let list = alice.join("g").await;
    assert!(
        has_member(list["members"].as_array().unwrap(), "bob", true),
        "{list}"
    );
    let sent = alice.msg("#g", "served meanwhile").await;
    assert_eq!(names(&sent["delivered"]), ["bob"], "{sent}");
    bob.wait_message("served meanwhile").await;
    bob.msg("alice", "and back").await;
    alice.wait_message("and back").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "honest peers waited {:?} behind slow senders",
        started.elapsed()
    );

    // The tracker hears no whole frame from the slow senders and drops them after three
    // heartbeats of silence.
    for stalled in at_tracker {
        let closed_after = tokio::time::timeout(WAIT, stalled)
            .await
            .expect("the tracker never closed a slow sender")
            .unwrap();
        assert!(
            closed_after < Duration::from_secs(10),
            "closed after {closed_after:?}"
        );
    }
    for stalled in at_bob {
        stalled.abort();
    }
    assert!(alice.quit().await.success());
}

/// A client that completes the handshake and never sends its hello is closed by the
/// tracker within its heartbeat window (three heartbeats of silence), and honest peers are
/// served meanwhile.
#[tokio::test]
async fn a_client_that_never_says_hello_is_closed_by_the_tracker() {
    use std::time::Duration;
    use tokio::time::Instant;

    let dir = temp();
    let tracker = Tracker::start_with(dir.path(), "127.0.0.1:0", &["--heartbeat-secs", "1"]).await;
    let started = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..4 {
        let link = raw::tracker_link(tracker.addr, &raw::identity()).await;
        silent.push(tokio::spawn(raw::stall(link, Vec::new(), Duration::ZERO)));
    }
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.join("g").await;
    for link in silent {
        let closed = tokio::time::timeout(WAIT, link)
            .await
            .expect("the tracker never closed a client without a hello")
            .unwrap();
        assert!(closed < Duration::from_secs(8), "closed after {closed:?}");
    }
    // Three heartbeats of one second, give or take: not at once, not much later.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    // The tracker still serves.
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    let list = bob.join("g").await;
    assert!(
        has_member(list["members"].as_array().unwrap(), "alice", true),
        "{list}"
    );
}
