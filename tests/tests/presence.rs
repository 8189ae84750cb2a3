//! Presence end to end over real processes: a status line set with `/status` reaches the
//! other members' lists and `/whois`; a member that quits is listed offline with when the
//! tracker last saw it; `/whois` of a peer we share no group with asks the tracker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use util::{Peer, Tracker, has_member, temp};

/// The wall clock as Unix milliseconds: the tracker stamps `last_seen` with the same clock.
fn unix_millis() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

/// The key `peer` announced in its `ready` event.
fn key_of(peer: &Peer) -> Value {
    let ready = peer.seen.iter().find(|v| v["event"] == "ready").unwrap();
    ready["key"].clone()
}

/// `line` as a command, and the event of kind `event` answering it.
async fn ask(peer: &mut Peer, line: &str, event: &str) -> Value {
    let req = peer.cmd(line).await;
    peer.wait_for(&format!("the {event} answering {line:?}"), |v| {
        v["req"] == req && (v["event"] == event || v["event"] == "error")
    })
    .await
}

/// The entry of `name` in a member list.
fn entry<'a>(members: &'a [Value], name: &str) -> &'a Value {
    members.iter().find(|m| m["name"] == name).unwrap()
}

#[tokio::test]
async fn status_and_last_seen_reach_the_other_members() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    alice.join("g").await;
    bob.join("g").await;
    alice
        .wait_list("g", "bob joined", |m| has_member(m, "bob", true))
        .await;

    let set = ask(&mut bob, "/status at lunch", "status").await;
    assert_eq!(set["event"], "status", "{set}");
    assert_eq!(set["status"], "at lunch", "{set}");

    // Alice hears of it as a change of her list...
    let pushed = alice
        .wait_members("g", "bob's status", |m| {
            m.iter()
                .any(|x| x["name"] == "bob" && x["status"] == "at lunch")
        })
        .await;
    assert_eq!(pushed["change"]["kind"], "updated", "{pushed}");
    // ...her `/members` shows it...
    let list = ask(&mut alice, "/members #g", "members").await;
    let members = list["members"].as_array().unwrap();
    assert_eq!(entry(members, "bob")["status"], "at lunch", "{list}");
    assert!(entry(members, "bob")["last_seen"].is_null(), "{list}");
    // ...and so does `/whois`.
    let whois = ask(&mut alice, "/whois bob", "whois").await;
    assert_eq!(whois["event"], "whois", "{whois}");
    assert_eq!(whois["key"], key_of(&bob), "{whois}");
    assert_eq!(whois["online"], true, "{whois}");
    assert_eq!(whois["status"], "at lunch", "{whois}");
    assert_eq!(whois["groups"], serde_json::json!(["g"]), "{whois}");
    assert!(whois["last_seen"].is_null(), "{whois}");

    // Bob quits: alice sees him offline, last seen between now and when she hears of it.
    let before = unix_millis();
    assert!(bob.quit().await.success());
    let offline = alice
        .wait_members("g", "bob offline", |m| has_member(m, "bob", false))
        .await;
    let after = unix_millis();
    assert_eq!(offline["change"]["kind"], "offline", "{offline}");
    let last_seen = offline["change"]["last_seen"].as_u64().unwrap_or_else(|| {
        panic!("no last_seen in {offline}");
    });
    assert!(
        (before..=after).contains(&last_seen),
        "last_seen {last_seen} outside [{before}, {after}]"
    );
    let whois = ask(&mut alice, "/whois bob", "whois").await;
    assert_eq!(whois["online"], false, "{whois}");
    assert_eq!(whois["last_seen"], last_seen, "{whois}");
    assert_eq!(whois["status"], "at lunch", "{whois}");
    let list = ask(&mut alice, "/members #g", "members").await;
    let members = list["members"].as_array().unwrap();
    assert_eq!(entry(members, "bob")["last_seen"], last_seen, "{list}");
}

#[tokio::test]
async fn whois_of_a_peer_in_no_shared_group_asks_the_tracker() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut carol = Peer::start(dir.path(), "carol", tracker.addr).await;
    alice.wait_tracker("connected").await;
    carol.wait_tracker("connected").await;
    let set = ask(&mut carol, "/status reviewing", "status").await;
    assert_eq!(set["status"], "reviewing", "{set}");

    let whois = ask(&mut alice, "/whois carol", "whois").await;
    assert_eq!(whois["event"], "whois", "{whois}");
    assert_eq!(whois["key"], key_of(&carol), "{whois}");
    assert_eq!(whois["online"], true, "{whois}");
    assert_eq!(whois["status"], "reviewing", "{whois}");
    assert_eq!(whois["groups"], serde_json::json!([]), "{whois}");

    let req = alice.cmd("/whois nobody").await;
    alice.wait_error_for(req, "unknown_peer").await;

    // Cleared with an empty `/status`.
    let cleared = ask(&mut carol, "/status", "status").await;
    assert!(cleared["status"].is_null(), "{cleared}");
    let whois = ask(&mut alice, "/whois carol", "whois").await;
    assert!(whois["status"].is_null(), "{whois}");
}
