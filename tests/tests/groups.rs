//! Groups with owners (issue 10), through the real binaries and the headless contract:
//! create with participants, roles, topic, invite-only and invites, kicks that stick,
//! ownership that passes on, disband, each by an allowed and a refused actor, and all of
//! it surviving a kill -9 of the tracker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use serde_json::Value;

use util::{Peer, Tracker, has_member, temp};

/// The role of `name` in a members list.
fn role_of(members: &[Value], name: &str) -> Option<String> {
    members
        .iter()
        .find(|m| m["name"] == name)
        .and_then(|m| m["role"].as_str().map(str::to_owned))
}

/// Waits for the members event that settles after `pred` holds on the list.
async fn wait_roles(p: &mut Peer, group: &str, what: &str, pred: impl Fn(&[Value]) -> bool) {
    p.wait_list(group, what, pred).await;
}

/// Sends `line` and waits for its `governed` answer.
async fn govern(p: &mut Peer, line: &str) -> Value {
    let req = p.cmd(line).await;
    let answer = p
        .wait_for(&format!("the answer to {line:?}"), |v| {
            v["req"] == req && (v["event"] == "governed" || v["event"] == "error")
        })
        .await;
    assert_eq!(answer["event"], "governed", "{line}: {answer}");
    answer
}

/// Sends `line` and returns its error.
async fn refused(p: &mut Peer, line: &str) -> Value {
    let req = p.cmd(line).await;
    p.wait_for(&format!("the refusal of {line:?}"), |v| {
        v["req"] == req && (v["event"] == "error" || v["event"] == "governed")
    })
    .await
}

#[tokio::test]
async fn an_owner_creates_adds_makes_admins_and_hands_over_and_members_cannot() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    let mut carol = Peer::start(dir.path(), "carol", tracker.addr).await;
    for p in [&mut alice, &mut bob, &mut carol] {
        p.wait_tracker("connected").await;
    }

    // Create with a participant: bob sees the group appear, alice owns it.
    govern(&mut alice, "/create #team bob").await;
    let list = bob
        .wait_for("#team appears", |v| {
            v["event"] == "members" && v["group"] == "team"
        })
        .await;
    assert_eq!(list["owner"], "alice", "{list}");
    assert_eq!(list["by"], "alice", "bob sees who added him: {list}");
    let members = list["members"].as_array().unwrap();
    assert_eq!(role_of(members, "alice").as_deref(), Some("owner"));
    assert_eq!(role_of(members, "bob").as_deref(), Some("member"));

    // A member cannot govern; the owner can.
    let error = refused(&mut bob, "/add #team carol").await;
    assert_eq!(error["event"], "error", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("admin"),
        "says why: {error}"
    );
    govern(&mut alice, "/add #team carol").await;
    let change = bob
        .wait_for("carol added", |v| {
            v["event"] == "members" && v["change"]["kind"] == "added"
        })
        .await;
    assert_eq!(
        change["change"]["by"], "alice",
        "verified and shown: {change}"
    );
    assert!(change["change"].get("action").is_none(), "{change}");

    // A member governs nothing.
    for line in [
        "/kick #team carol",
        "/topic #team mine now",
        "/private #team on",
        "/owner #team bob",
        "/deop #team alice",
    ] {
        let error = refused(&mut bob, line).await;
        assert_eq!(error["event"], "error", "{line}: {error}");
    }
    // Only the owner makes admins; an admin adds and sets the topic.
    let error = refused(&mut bob, "/op #team carol").await;
    assert_eq!(error["event"], "error", "{error}");
    govern(&mut alice, "/op #team bob").await;
    wait_roles(&mut carol, "team", "bob is an admin", |m| {
        role_of(m, "bob").as_deref() == Some("admin")
    })
    .await;
    govern(&mut bob, "/topic #team shipping on friday").await;
    let topic = carol
        .wait_for("the topic", |v| {
            v["event"] == "members" && v["change"]["kind"] == "topic"
        })
        .await;
    assert_eq!(topic["topic"], "shipping on friday", "{topic}");
    assert_eq!(topic["change"]["by"], "bob", "{topic}");

    // An admin neither disbands nor kicks the owner; the owner hands the group over.
    let error = refused(&mut bob, "/disband #team").await;
    assert_eq!(error["event"], "error", "{error}");
    let error = refused(&mut bob, "/kick #team alice").await;
    assert_eq!(error["event"], "error", "{error}");
    govern(&mut alice, "/owner #team carol").await;
    wait_roles(&mut bob, "team", "carol owns it, alice is an admin", |m| {
        role_of(m, "carol").as_deref() == Some("owner")
            && role_of(m, "alice").as_deref() == Some("admin")
    })
    .await;
    let error = refused(&mut alice, "/op #team bob").await;
    assert_eq!(error["event"], "error", "no longer the owner: {error}");

    // The owner leaves: the longest-standing admin takes over.
    carol.cmd("/leave #team").await;
    carol.wait_event("left").await;
    wait_roles(&mut bob, "team", "alice owns it again", |m| {
        role_of(m, "alice").as_deref() == Some("owner") && !has_member(m, "carol", true)
    })
    .await;
}

#[tokio::test]
async fn a_kick_sticks_invite_only_needs_an_invite_and_it_all_survives_a_tracker_crash() {
    let dir = temp();
    let mut tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    let mut carol = Peer::start(dir.path(), "carol", tracker.addr).await;
    for p in [&mut alice, &mut bob, &mut carol] {
        p.wait_tracker("connected").await;
    }
    alice.join("den").await;
    bob.join("den").await;
    alice
        .wait_list("den", "bob in", |m| has_member(m, "bob", true))
        .await;

    // Kicked: bob is told by whom and why, cannot send, cannot rejoin.
    govern(&mut alice, "/kick #den bob too loud").await;
    let left = bob
        .wait_for("bob's left", |v| {
            v["event"] == "left" && v["group"] == "den"
        })
        .await;
    assert_eq!(
        (&left["by"], &left["reason"]),
        (&"alice".into(), &"too loud".into()),
        "{left}"
    );
    let req = bob.cmd("/msg #den let me in").await;
    bob.wait_error_for(req, "not_member").await;
    let req = bob.cmd("/join #den").await;
    let error = bob
        .wait_for("the refused rejoin", |v| {
            v["event"] == "error" && v["req"] == req
        })
        .await;
    assert!(
        error["message"].as_str().unwrap().contains("alice"),
        "says who: {error}"
    );

    // Invite-only: carol is refused, then invited, then in.
    govern(&mut alice, "/private #den on").await;
    let req = carol.cmd("/join #den").await;
    let error = carol
        .wait_for("the refused join", |v| {
            v["event"] == "error" && v["req"] == req
        })
        .await;
    assert!(
        error["message"].as_str().unwrap().contains("invite-only"),
        "{error}"
    );
    govern(&mut alice, "/invite #den carol").await;
    let invited = carol.wait_event("invited").await;
    assert_eq!(
        (&invited["group"], &invited["by"]),
        (&"den".into(), &"alice".into())
    );
    carol.join("den").await;

    // kill -9 the tracker and bring it back on the same files: roles, bans, invite-only.
    tracker.kill9().await;
    let tracker = Tracker::start_with(dir.path(), &tracker.addr.to_string(), &[]).await;
    for p in [&mut alice, &mut carol] {
        p.wait_for("the tracker back", |v| {
            v["event"] == "tracker" && v["status"] == "connected"
        })
        .await;
    }
    let req = alice.cmd("/members #den").await;
    let list = alice
        .wait_for("the list", |v| v["event"] == "members" && v["req"] == req)
        .await;
    assert_eq!(
        (&list["owner"], &list["private"]),
        (&"alice".into(), &true.into()),
        "{list}"
    );
    let req = bob.cmd("/join #den").await;
    let error = bob
        .wait_for("refused after the crash too", |v| {
            v["event"] == "error" && v["req"] == req
        })
        .await;
    assert_eq!(error["event"], "error");

    // Disband: everyone is told.
    govern(&mut alice, "/disband #den").await;
    let left = carol
        .wait_for("disbanded", |v| v["event"] == "left" && v["group"] == "den")
        .await;
    assert_eq!(
        (&left["disbanded"], &left["by"]),
        (&true.into(), &"alice".into()),
        "{left}"
    );
    drop(tracker);
}
