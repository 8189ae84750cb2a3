//! Bad input from users, the command line and the network: a clear error, and everyone
//! else keeps being served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use futures::{SinkExt, StreamExt};
use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use natter_protocol::{ErrorCode, PROTOCOL_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use util::{Peer, Tracker, WAIT, bin, has_member, names, raw, temp};

#[tokio::test]
async fn bad_commands_get_clear_errors_and_the_peer_keeps_running() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    bob.join("g").await;
    alice.join("mine").await;

    let cases = [
        ("/dance", "bad_command", None),
        ("/join", "bad_command", None),
        ("/msg bob", "bad_command", None),
        ("just text", "bad_command", None),
        // A group that exists but that alice is not in, and one that does not exist at all.
        ("/msg #g hello", "not_member", Some("#g")),
        ("/msg #nowhere hello", "not_member", Some("#nowhere")),
        ("/leave #g", "not_member", Some("#g")),
        ("/members #g", "not_member", Some("#g")),
        ("/msg nobody hello", "unknown_peer", Some("nobody")),
        ("/msg 300.0.0.1:80 hello", "bad_command", None),
        ("/join #bad/name", "bad_command", None),
    ];
    for (line, code, about) in cases {
        let req = alice.cmd(line).await;
        let error = alice.wait_error_for(req, code).await;
        if let Some(about) = about {
            assert_eq!(error["about"], about, "{line}: {error}");
        }
    }

    // An address where nobody listens: the error names it, and nothing was stored (there
    // is nobody known there to keep it for).
    let dead = closed_port().await;
    let req = alice.cmd(&format!("/msg {dead} anyone there?")).await;
    let error = alice.wait_error_for(req, "undeliverable").await;
    assert_eq!(error["about"], dead.to_string(), "{error}");

    // A member who went offline: the message waits for it, and `sent` says so.
    alice.join("g").await;
    bob.quit().await;
    alice
        .wait_members("g", "bob offline", |m| has_member(m, "bob", false))
        .await;
    let req = alice.cmd("/msg bob are you there").await;
    let sent = alice.wait_event("sent").await;
    assert_eq!(sent["req"], req, "{sent}");
    assert_eq!(names(&sent["pending"]), ["bob"], "{sent}");
    assert!(names(&sent["failed"]).is_empty(), "{sent}");

    // Still alive and answering.
    alice.cmd("/groups").await;
    alice.wait_event("groups").await;
    assert!(alice.quit().await.success());
}

#[tokio::test]
async fn a_tracker_that_is_down_is_a_clear_error() {
    let dir = temp();
    let mut tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.wait_tracker("connected").await;
    tracker.kill9().await;
    alice.wait_tracker("disconnected").await;
    let req = alice.cmd("/join #later").await;
    alice.wait_error_for(req, "tracker_unavailable").await;
    let req = alice.cmd("/msg stranger hi").await;
    let error = alice.wait_error_for(req, "unknown_peer").await;
    assert_eq!(error["about"], "stranger", "{error}");
    alice.cmd("/groups").await;
    alice.wait_event("groups").await;
}

#[tokio::test]
async fn a_peer_starts_without_a_tracker_and_connects_when_it_appears() {
    let dir = temp();
    let port = closed_port().await.port();
    let mut alice = Peer::start_with(
        "alice",
        util::PeerOptions {
            tracker: format!("127.0.0.1:{port}"),
            data_dir: dir.path().join("alice"),
            extra: vec![],
        },
    )
    .await;
    let _tracker = Tracker::start_with(dir.path(), &format!("127.0.0.1:{port}"), &[]).await;
    alice.wait_tracker("connected").await;
    alice.join("late").await;
}

#[tokio::test]
async fn a_name_is_held_by_one_live_peer() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.wait_tracker("connected").await;
    // A second copy of alice, with alice's own key (another key is refused outright: see
    // the security tests).
    let twin_dir = dir.path().join("twin");
    std::fs::create_dir_all(&twin_dir).unwrap();
    std::fs::copy(
        dir.path().join("alice/identity.json"),
        twin_dir.join("identity.json"),
    )
    .unwrap();
    let mut twin = Peer::start_with(
        "alice",
        util::PeerOptions {
            tracker: tracker.addr.to_string(),
            data_dir: twin_dir,
            extra: vec![],
        },
    )
    .await;
    twin.wait_error_code("tracker_refused").await;
    // The owner is unaffected.
    alice.join("g").await;
}

#[tokio::test]
async fn bad_command_lines_exit_non_zero() {
    for args in [
        &["--bogus"][..],
        &["--headless"][..],
        &["--name", "bad name", "--headless"][..],
        &["--name", "x", "--tracker", "not-an-address", "--headless"][..],
        &["--name", "x", "--listen", "nope", "--headless"][..],
    ] {
        let out = std::process::Command::new(bin("natter"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "natter {args:?} succeeded");
        assert!(!out.stderr.is_empty(), "natter {args:?} said nothing");
    }
    for args in [&["--bogus"][..], &["--listen", "nonsense"][..]] {
        let out = std::process::Command::new(bin("natter-tracker"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "natter-tracker {args:?} succeeded");
    }
}

/// Garbage that is not our protocol, a frame that is JSON but not ours, and a length
/// prefix far over the limit: each gets its connection closed, and the tracker goes on
/// serving an honest peer.
#[tokio::test]
async fn tracker_survives_garbage_and_oversize_frames() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    for junk in junk_inputs() {
        assert_closed_after(tracker.addr, &junk).await;
    }
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.join("ok").await;
}

#[tokio::test]
async fn peer_survives_garbage_and_oversize_frames() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    // alice finds bob by asking the tracker: he must be registered first.
    bob.wait_tracker("connected").await;
    for junk in junk_inputs() {
        assert_closed_after(bob.listen, &junk).await;
    }
    let sent = alice.msg("bob", "still listening?").await;
    assert_eq!(names(&sent["delivered"]), ["bob"], "{sent}");
    bob.wait_message("still listening?").await;
}

#[tokio::test]
async fn tracker_refuses_another_protocol_version() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut link = raw::tracker_link(tracker.addr, &raw::identity()).await;
    link.send(PeerToTracker::Hello {
        version: PROTOCOL_VERSION + 98,
        name: "future".parse().unwrap(),
        listen_port: 1,
        groups: vec![],
    })
    .await
    .unwrap();
    let reply = tokio::time::timeout(WAIT, link.next()).await.unwrap();
    match reply {
        Some(Ok(TrackerToPeer::Error { code, message, .. })) => {
            assert_eq!(code, ErrorCode::VersionMismatch);
            assert!(
                message.contains(&(PROTOCOL_VERSION + 98).to_string()),
                "{message}"
            );
        }
        other => panic!("expected a version error, got {other:?}"),
    }
    let end = tokio::time::timeout(WAIT, link.next()).await.unwrap();
    assert!(end.is_none() || end.unwrap().is_err(), "link not closed");
}

/// A peer whose TCP connection stays open but which never answers (a half-open link) is
/// marked offline by the tracker's heartbeat, and stays a member.
#[tokio::test]
async fn heartbeat_marks_a_silent_peer_offline() {
    let dir = temp();
    let tracker = Tracker::start_with(dir.path(), "127.0.0.1:0", &["--heartbeat-secs", "1"]).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.join("hb").await;

    let (ghost, welcome) = raw::register(tracker.addr, &raw::identity(), "ghost", 9, &["hb"]).await;
    assert!(
        matches!(welcome, TrackerToPeer::Welcome { .. }),
        "{welcome:?}"
    );
    alice
        .wait_members("hb", "ghost online", |m| has_member(m, "ghost", true))
        .await;
    // The ghost keeps its socket open and never reads or writes again.
    let went = alice
        .wait_members("hb", "ghost offline", |m| has_member(m, "ghost", false))
        .await;
    assert_eq!(went["change"]["kind"], "offline");
    // Alice, who answers pings, stays connected throughout.
    alice.cmd("/members hb").await;
    let list = alice.wait_event("members").await;
    assert!(has_member(
        list["members"].as_array().unwrap(),
        "alice",
        true
    ));
    drop(ghost);
}

#[tokio::test]
async fn tracker_shuts_down_cleanly_on_sigterm() {
    let dir = temp();
    let mut tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.join("bye").await;
    let status = tracker.terminate().await;
    assert!(status.success(), "exit status {status:?}");
    alice.wait_tracker("disconnected").await;
}

/// Byte strings that are neither a Noise handshake nor natter frames.
fn junk_inputs() -> Vec<Vec<u8>> {
    let framed = |body: &[u8]| {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    };
    vec![
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        framed(b"this is not json"),
        framed(br#"{"type":"launch_missiles"}"#),
        framed(br#"{"type":"hello","version":1,"name":"bad name","listen_port":1}"#),
        // Claims a 4 GiB frame; must be refused without allocating it.
        vec![0xff, 0xff, 0xff, 0xff, b'{'],
        // Just over the 1 MiB limit.
        ((1u32 << 20) + 1).to_be_bytes().to_vec(),
    ]
}

/// Sends `junk` and expects the other side to close the connection (after an optional
/// error frame) within the wait limit.
async fn assert_closed_after(addr: std::net::SocketAddr, junk: &[u8]) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(junk).await.unwrap();
    let mut sink = Vec::new();
    let read = tokio::time::timeout(WAIT, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) if sink.len() < 1 << 16 => sink.extend_from_slice(&buf[..n]),
                Ok(_) => panic!("server keeps talking to a garbage sender"),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "connection not closed after junk {:?}",
        String::from_utf8_lossy(&junk[..junk.len().min(40)])
    );
}

/// A local port with nothing listening on it.
async fn closed_port() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}
