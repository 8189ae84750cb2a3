//! End-to-end chat over real processes: membership pushes, private and group messages,
//! and what survives a tracker crash or a peer restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use util::{Peer, Tracker, has_member, names, temp};

#[tokio::test]
async fn member_lists_follow_join_leave_offline_and_online() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;

    alice.join("g").await;
    // The joiner gets the full list, with everyone already there.
    let list = bob.join("g").await;
    let members = list["members"].as_array().unwrap();
    assert!(has_member(members, "alice", true), "{list}");
    assert_eq!(list["version"].as_u64().map(|v| v > 0), Some(true));
    // The others get the change.
    let pushed = alice
        .wait_members("g", "bob joined", |m| has_member(m, "bob", true))
        .await;
    assert_eq!(pushed["change"]["kind"], "joined", "{pushed}");
    // Both carry the group's version after bob's join.
    assert_eq!(pushed["version"], list["version"]);
    // Addresses handed out are the real ones, never 0.0.0.0.
    let bob_entry = pushed["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(bob_entry["addr"], bob.listen.to_string());

    // A member whose process dies goes offline but stays a member.
    let mut carol = Peer::start(dir.path(), "carol", tracker.addr).await;
    carol.join("g").await;
    alice
        .wait_members("g", "carol online", |m| has_member(m, "carol", true))
        .await;
    carol.kill9().await;
    let offline = alice
        .wait_members("g", "carol offline", |m| has_member(m, "carol", false))
        .await;
    assert_eq!(offline["change"]["kind"], "offline", "{offline}");

    // Back from its cache, carol re-announces its groups and comes online again.
    let carol = Peer::start(dir.path(), "carol", tracker.addr).await;
    let online = alice
        .wait_members("g", "carol back online", |m| has_member(m, "carol", true))
        .await;
    assert_eq!(online["change"]["kind"], "online", "{online}");
    assert_eq!(
        online["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "carol")
            .unwrap()["addr"],
        carol.listen.to_string()
    );

    // A leave removes the member for everyone.
    bob.cmd("/leave #g").await;
    bob.wait_for("left", |v| v["event"] == "left" && v["group"] == "g")
        .await;
    let left = alice
        .wait_members("g", "bob gone", |m| !m.iter().any(|x| x["name"] == "bob"))
        .await;
    assert_eq!(left["change"]["kind"], "left", "{left}");

    bob.cmd("/groups").await;
    let groups = bob.wait_event("groups").await;
    assert_eq!(groups["groups"], serde_json::json!([]));
    alice.cmd("/groups").await;
    let groups = alice.wait_event("groups").await;
    assert_eq!(groups["groups"], serde_json::json!(["g"]));
    alice.cmd("/members #g").await;
    let members = alice.wait_event("members").await;
    assert!(has_member(
        members["members"].as_array().unwrap(),
        "carol",
        true
    ));
}

#[tokio::test]
async fn private_messages_by_name_and_by_address() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    // Bob must be registered before the tracker can tell alice where he is.
    bob.wait_tracker("connected").await;

    // No shared group: the name is resolved by asking the tracker.
    let sent = alice.msg("bob", "hello bob").await;
    assert_eq!(names(&sent["delivered"]), ["bob"], "{sent}");
    assert_eq!(names(&sent["failed"]), Vec::<String>::new());
    let got = bob.wait_message("hello bob").await;
    assert_eq!(got["from"], "alice");
    assert!(got["group"].is_null());
    assert_eq!(got["id"], sent["id"]);
    assert!(got["sent_at"].as_u64().is_some());

    // By bare address.
    let sent = bob.msg(&alice.listen.to_string(), "hi by address").await;
    assert_eq!(names(&sent["delivered"]), ["alice"], "{sent}");
    let got = alice.wait_message("hi by address").await;
    assert_eq!(got["from"], "bob");

    // Several in a row reuse the pooled connection and arrive in order.
    for i in 0..20 {
        alice.cmd(&format!("/msg bob n{i}")).await;
    }
    for i in 0..20 {
        bob.wait_message(&format!("n{i}")).await;
    }

    // Multi-byte text survives the trip.
    alice.msg("bob", "héllo 世界 🎉").await;
    bob.wait_message("héllo 世界 🎉").await;
}

#[tokio::test]
async fn group_messages_reach_every_member() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut peers = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        let mut p = Peer::start(dir.path(), name, tracker.addr).await;
        p.join("team").await;
        peers.push(p);
    }
    let (alice, others) = peers.split_first_mut().unwrap();
    alice
        .wait_members("team", "all four", |m| {
            ["bob", "carol", "dave"]
                .iter()
                .all(|n| has_member(m, n, true))
        })
        .await;
    let sent = alice.msg("#team", "hello team").await;
    assert_eq!(
        names(&sent["delivered"]),
        ["bob", "carol", "dave"],
        "{sent}"
    );
    for p in others.iter_mut() {
        let got = p.wait_message("hello team").await;
        assert_eq!(got["from"], "alice");
        assert_eq!(got["group"], "team");
    }
    // The sender does not receive its own message.
    let bob = &mut others[0];
    let sent = bob.msg("#team", "from bob").await;
    assert_eq!(
        names(&sent["delivered"]),
        ["alice", "carol", "dave"],
        "{sent}"
    );
    alice.wait_message("from bob").await;
}

#[tokio::test]
async fn tracker_killed_and_restarted_keeps_membership() {
    let dir = temp();
    let mut tracker = Tracker::start(dir.path()).await;
    let port = tracker.addr.port();
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    alice.join("keep").await;
    bob.join("keep").await;
    tracker.kill9().await;
    alice.wait_tracker("disconnected").await;
    // Bob is gone for good before the tracker returns: only the state file knows him.
    bob.quit().await;

    let tracker = Tracker::start_with(dir.path(), &format!("127.0.0.1:{port}"), &[]).await;
    alice.wait_tracker("connected").await;
    let mut carol = Peer::start(dir.path(), "carol", tracker.addr).await;
    let list = carol.join("keep").await;
    let members = list["members"].as_array().unwrap();
    assert!(has_member(members, "bob", false), "{list}");
    assert!(members.iter().any(|m| m["name"] == "alice"), "{list}");
    // Alice reconnected and re-announced herself (before or after carol's join).
    if !has_member(members, "alice", true) {
        carol
            .wait_members("keep", "alice online", |m| has_member(m, "alice", true))
            .await;
    }
}

#[tokio::test]
async fn group_chat_goes_on_while_the_tracker_is_down() {
    let dir = temp();
    let mut tracker = Tracker::start(dir.path()).await;
    let mut peers = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let mut p = Peer::start(dir.path(), name, tracker.addr).await;
        p.join("lan").await;
        peers.push(p);
    }
    peers[0]
        .wait_members("lan", "all three", |m| {
            has_member(m, "bob", true) && has_member(m, "carol", true)
        })
        .await;
    tracker.kill9().await;
    for p in peers.iter_mut() {
        p.wait_tracker("disconnected").await;
    }
    let sent = peers[0].msg("#lan", "still here").await;
    assert_eq!(names(&sent["delivered"]), ["bob", "carol"], "{sent}");
    peers[1].wait_message("still here").await;
    peers[2].wait_message("still here").await;
    // Private messages to cached members work too.
    let sent = peers[2].msg("alice", "psst").await;
    assert_eq!(names(&sent["delivered"]), ["alice"], "{sent}");
}

#[tokio::test]
async fn restarted_peer_chats_from_its_cache_with_the_tracker_down() {
    let dir = temp();
    let mut tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    alice.join("home").await;
    bob.join("home").await;
    alice
        .wait_members("home", "bob", |m| has_member(m, "bob", true))
        .await;
    tracker.kill9().await;
    assert!(alice.quit().await.success());
    assert!(alice_cache_exists(dir.path()));

    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.cmd("/groups").await;
    assert_eq!(
        alice.wait_event("groups").await["groups"],
        serde_json::json!(["home"])
    );
    alice.cmd("/members home").await;
    let list = alice.wait_event("members").await;
    assert!(
        list["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "bob"),
        "{list}"
    );
    let sent = alice.msg("#home", "back from cache").await;
    assert_eq!(names(&sent["delivered"]), ["bob"], "{sent}");
    bob.wait_message("back from cache").await;
}

fn alice_cache_exists(root: &std::path::Path) -> bool {
    root.join("alice").join("members.json").is_file()
}
