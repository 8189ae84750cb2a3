//! Messages people can act on (issue 9), through the real binaries and the headless
//! contract: replies, edits, deletes, reactions and read receipts between three peers,
//! while a member is away (from the author's outbox, or backfilled by a third member),
//! and against a hand-driven peer that forges or sends an edit before its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use futures::SinkExt as _;
use natter_protocol::peer::{Body, PeerFrame};
use natter_protocol::testkit::{TrackerClient, build, peer as raw_peer};
use natter_protocol::tracker::TrackerToPeer;
use serde_json::Value;

use util::{Peer, Tracker, has_member, stay_online, temp, three_in_a_group};

/// Sends `/msg #g TEXT` from `p` and returns its id once every member has it.
async fn say(p: &mut Peer, text: &str) -> String {
    let sent = p.msg("#g", text).await;
    assert_eq!(sent["pending"], serde_json::json!([]), "{sent}");
    sent["id"].as_str().unwrap().to_owned()
}

async fn wait_kind(p: &mut Peer, event: &str, id: &str) -> Value {
    p.wait_for(&format!("{event} of {id}"), |v| {
        v["event"] == event && v["id"] == id
    })
    .await
}

/// `/history #g` as `p` sees it.
async fn history(p: &mut Peer) -> Vec<Value> {
    let req = p.cmd("/history #g 50").await;
    let answer = p
        .wait_for("history", |v| v["event"] == "history" && v["req"] == req)
        .await;
    answer["messages"].as_array().unwrap().clone()
}

fn item<'a>(history: &'a [Value], id: &str) -> &'a Value {
    history
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {history:?}"))
}

#[tokio::test]
async fn reply_edit_react_and_delete_reach_every_member_and_history_keeps_the_result() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let [mut alice, mut bob, mut carol] = three_in_a_group(dir.path(), &tracker).await;

    let first = say(&mut bob, "helo all").await;
    alice.wait_message("helo all").await;
    carol.wait_message("helo all").await;

    // A reply carries the id it answers, to everyone.
    alice.cmd(&format!("/reply {first} hi bob")).await;
    for p in [&mut bob, &mut carol] {
        let reply = p.wait_message("hi bob").await;
        assert_eq!(reply["reply_to"], first.as_str(), "{reply}");
    }

    // The author edits: every member, the author included, hears the new text.
    let req = bob.cmd(&format!("/edit {first} hello all")).await;
    let own = wait_kind(&mut bob, "edited", &first).await;
    assert_eq!(
        (own["req"].as_u64(), &own["text"]),
        (Some(req), &Value::from("hello all"))
    );
    for p in [&mut alice, &mut carol] {
        let edited = wait_kind(p, "edited", &first).await;
        assert_eq!(edited["text"], "hello all", "{edited}");
        assert_eq!(edited["from"], "bob", "{edited}");
        assert!(edited["edited_at"].as_u64().is_some(), "{edited}");
    }

    // A reaction, and the same again to take it back.
    carol.cmd(&format!("/react {first} :thumbsup:")).await;
    for p in [&mut alice, &mut bob] {
        let r = wait_kind(p, "reaction", &first).await;
        assert_eq!(
            (&r["from"], &r["emoji"], &r["on"]),
            (&"carol".into(), &"👍".into(), &true.into())
        );
    }
    carol.cmd(&format!("/react {first} 👍")).await;
    let off = alice
        .wait_for("the reaction taken back", |v| {
            v["event"] == "reaction" && v["on"] == false
        })
        .await;
    assert_eq!(off["emoji"], "👍", "{off}");
    carol.cmd(&format!("/react {first} 🎉")).await;
    alice
        .wait_for("🎉", |v| v["event"] == "reaction" && v["emoji"] == "🎉")
        .await;

    let seen = history(&mut alice).await;
    let h = item(&seen, &first);
    assert_eq!(h["text"], "hello all", "{h}");
    assert!(h["edited_at"].as_u64().is_some(), "{h}");
    assert_eq!(
        h["reactions"],
        serde_json::json!([{"emoji":"🎉","from":["carol"]}]),
        "{h}"
    );

    // Nobody but the author edits or deletes; an unknown id is an error too.
    let req = alice.cmd(&format!("/edit {first} mine now")).await;
    let error = alice.wait_error_for(req, "not_author").await;
    assert_eq!(error["about"], "#g", "{error}");
    let req = alice.cmd(&format!("/delete {first}")).await;
    alice.wait_error_for(req, "not_author").await;
    let req = alice.cmd("/react bob/999 👍").await;
    alice.wait_error_for(req, "unknown_message").await;

    // The author deletes: a tombstone everywhere, the text gone from every store.
    bob.cmd(&format!("/delete {first}")).await;
    for p in [&mut alice, &mut carol, &mut bob] {
        wait_kind(p, "deleted", &first).await;
    }
    for p in [&mut alice, &mut carol] {
        let seen = history(p).await;
        let h = item(&seen, &first);
        assert_eq!(
            (&h["deleted"], &h["text"]),
            (&true.into(), &"".into()),
            "{h}"
        );
        assert_eq!(h["reactions"], serde_json::json!([]), "{h}");
    }
    let req = bob.cmd(&format!("/edit {first} back to life")).await;
    bob.wait_error_for(req, "message_deleted").await;
}

#[tokio::test]
async fn an_edit_and_a_delete_made_while_a_member_is_away_reach_it_when_it_returns() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let [mut alice, mut bob, mut carol] = three_in_a_group(dir.path(), &tracker).await;
    let keep = say(&mut bob, "keep me").await;
    let drop = say(&mut bob, "drop me").await;
    carol.wait_message("drop me").await;
    assert_eq!(carol.quit().await.code(), Some(0));
    alice
        .wait_members("g", "carol away", |m| has_member(m, "carol", false))
        .await;

    bob.cmd(&format!("/edit {keep} kept, edited")).await;
    bob.cmd(&format!("/delete {drop}")).await;
    wait_kind(&mut alice, "deleted", &drop).await;

    // From bob's outbox, when carol is back.
    let mut carol = Peer::start(dir.path(), "carol", tracker.addr).await;
    let edited = wait_kind(&mut carol, "edited", &keep).await;
    assert_eq!(edited["text"], "kept, edited", "{edited}");
    wait_kind(&mut carol, "deleted", &drop).await;
    let seen = history(&mut carol).await;
    assert_eq!(item(&seen, &keep)["text"], "kept, edited");
    assert_eq!(item(&seen, &drop)["deleted"], true);
}

#[tokio::test]
async fn a_third_member_backfills_an_edit_and_a_delete_when_the_author_is_gone() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let [mut alice, mut bob, mut carol] = three_in_a_group(dir.path(), &tracker).await;
    let keep = say(&mut bob, "first draft").await;
    let drop = say(&mut bob, "regrettable").await;
    carol.wait_message("regrettable").await;
    // carol goes, bob acts and goes too (killed: his outbox cannot help carol now).
    carol.kill9().await;
    bob.wait_members("g", "carol away", |m| has_member(m, "carol", false))
        .await;
    bob.cmd(&format!("/edit {keep} final draft")).await;
    bob.cmd(&format!("/delete {drop}")).await;
    wait_kind(&mut alice, "edited", &keep).await;
    wait_kind(&mut alice, "deleted", &drop).await;
    bob.kill9().await;
    alice
        .wait_members("g", "bob away", |m| has_member(m, "bob", false))
        .await;

    // carol returns; only alice is there, and she has it all.
    let mut carol = Peer::start(dir.path(), "carol", tracker.addr).await;
    let edited = wait_kind(&mut carol, "edited", &keep).await;
    assert_eq!(edited["text"], "final draft", "{edited}");
    wait_kind(&mut carol, "deleted", &drop).await;
    let seen = history(&mut carol).await;
    assert_eq!(item(&seen, &keep)["text"], "final draft");
    assert_eq!(item(&seen, &drop)["text"], "");
}

#[tokio::test]
async fn receipts_say_delivered_then_read_privately_and_in_a_group() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let [mut alice, mut bob, mut carol] = three_in_a_group(dir.path(), &tracker).await;

    let sent = alice.msg("bob", "private hello").await;
    let id = sent["id"].as_str().unwrap().to_owned();
    let delivered = wait_kind(&mut alice, "receipt", &id).await;
    assert_eq!(
        (&delivered["from"], &delivered["state"]),
        (&"bob".into(), &"delivered".into())
    );
    bob.wait_message("private hello").await;
    bob.cmd("/read alice").await;
    let read = alice
        .wait_for("bob's read receipt", |v| {
            v["event"] == "receipt" && v["state"] == "read"
        })
        .await;
    assert_eq!(
        (&read["from"], &read["id"], &read["target"]),
        (&"bob".into(), &id.as_str().into(), &"bob".into())
    );

    // Actions work in a private conversation too.
    alice.cmd(&format!("/edit {id} private hello!")).await;
    let edited = wait_kind(&mut bob, "edited", &id).await;
    assert_eq!(edited["text"], "private hello!", "{edited}");
    bob.cmd(&format!("/react {id} ❤️")).await;
    let r = wait_kind(&mut alice, "reaction", &id).await;
    assert_eq!((&r["from"], &r["on"]), (&"bob".into(), &true.into()), "{r}");

    let group_id = say(&mut alice, "group hello").await;
    carol.wait_message("group hello").await;
    carol.cmd("/read #g").await;
    let read = alice
        .wait_for("carol's read receipt", |v| {
            v["event"] == "receipt" && v["state"] == "read" && v["from"] == "carol"
        })
        .await;
    assert_eq!(
        (&read["id"], &read["target"]),
        (&group_id.as_str().into(), &"#g".into())
    );
    let seen = history(&mut alice).await;
    let delivery = &item(&seen, &group_id)["delivery"];
    assert_eq!(delivery["read"], serde_json::json!(["carol"]), "{delivery}");

    // Receipts off: bob reads and says nothing.
    bob.cmd("/receipts off").await;
    bob.wait_for("setting", |v| v["event"] == "setting" && v["on"] == false)
        .await;
    say(&mut alice, "unseen").await;
    bob.wait_message("unseen").await;
    bob.cmd("/read #g").await;
    let sneaky = alice
        .follow(std::time::Duration::from_millis(1500), |v| {
            v["event"] == "receipt"
                && v["state"] == "read"
                && v["from"] == "bob"
                && v["target"] == "#g"
        })
        .await;
    assert!(!sneaky, "bob said he read #g with receipts off");
}

/// mallory, driven by hand: registered in #g at the tracker (answering its pings) and
/// dialling carol directly.
#[tokio::test]
async fn a_hand_driven_peer_cannot_forge_edits_and_its_early_edit_waits_for_its_message() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let [_alice, mut bob, mut carol] = three_in_a_group(dir.path(), &tracker).await;
    let target = say(&mut bob, "bob's words").await;
    carol.wait_message("bob's words").await;

    let mallory = build::identity();
    let (client, welcome) =
        TrackerClient::register(tracker.addr, &mallory, None, "mallory", 9, &["g"]).await;
    assert!(
        matches!(welcome, TrackerToPeer::Welcome { .. }),
        "{welcome:?}"
    );
    tokio::spawn(stay_online(client));
    carol
        .wait_list("g", "mallory in", |m| has_member(m, "mallory", true))
        .await;
    let mut link = raw_peer::greeted(carol.listen, &mallory, "mallory")
        .await
        .unwrap_or_else(|e| panic!("carol did not greet mallory: {e:?}"));
    let chat = |seq: u64, body: Body| {
        let mut m = build::chat_message("mallory", seq, Some("g"), "");
        m.key = mallory.public_key();
        m.body = body;
        PeerFrame::Chat(build::signed_chat(&mallory, m))
    };
    // Her edit of bob's message, and a delete claiming to be bob's.
    let forged_edit = chat(
        1,
        Body::Edit {
            target: target.parse().unwrap(),
            text: "bob was wrong".into(),
        },
    );
    link.send(forged_edit).await.expect("send");
    let (id, why) =
        raw_peer::expect_nack(&mut link, natter_protocol::ErrorCode::Unauthorized).await;
    assert_eq!(id, "mallory/1", "{why}");
    let mut claimed = build::chat_message("bob", 2, Some("g"), "");
    claimed.key = mallory.public_key();
    claimed.body = Body::Delete {
        target: target.parse().unwrap(),
    };
    link.send(PeerFrame::Chat(build::signed_chat(&mallory, claimed)))
        .await
        .expect("send");
    raw_peer::expect_nack(&mut link, natter_protocol::ErrorCode::Unauthorized).await;

    // Her own edit, before the message it edits.
    let early = chat(
        3,
        Body::Edit {
            target: "mallory/2".parse().unwrap(),
            text: "what I meant".into(),
        },
    );
    link.send(early).await.expect("send");
    link.send(chat(2, Body::text_only("what I said")))
        .await
        .expect("send");
    raw_peer::expect_acks(&mut link, 2).await;
    let said = carol.wait_message("what I said").await;
    assert_eq!(said["id"], "mallory/2");
    let edited = wait_kind(&mut carol, "edited", "mallory/2").await;
    assert_eq!(edited["text"], "what I meant", "{edited}");

    // bob's message is as bob left it.
    let seen = history(&mut carol).await;
    let h = item(&seen, &target);
    assert_eq!(
        (&h["text"], &h["deleted"]),
        (&"bob's words".into(), &false.into()),
        "{h}"
    );
}
