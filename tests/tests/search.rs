//! `/search` and `/mentions` (issue 12) through the real binaries and the headless
//! contract: after alice, bob and carol talk in a group and privately, alice finds
//! messages by their words (in one conversation or all, not after an edit took the word
//! away or a delete erased it), and `/mentions` lists what named her or came to her
//! privately since she last read it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use serde_json::Value;

use util::{Peer, Tracker, temp, three_in_a_group};

/// Sends `text` to `target` from `p` and returns its id once the recipients have it.
async fn say(p: &mut Peer, target: &str, text: &str) -> String {
    let sent = p.msg(target, text).await;
    assert_eq!(sent["pending"], serde_json::json!([]), "{sent}");
    sent["id"].as_str().unwrap().to_owned()
}

/// The answer (`event`) to `line` from `p`.
async fn ask(p: &mut Peer, line: &str, event: &str) -> Value {
    let req = p.cmd(line).await;
    p.wait_for(line, |v| v["event"] == event && v["req"] == req)
        .await
}

fn ids(answer: &Value) -> Vec<&str> {
    answer["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {answer}"))
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn search_finds_stored_messages_by_their_words_and_mentions_what_is_unread() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let [mut alice, mut bob, mut carol] = three_in_a_group(dir.path(), &tracker).await;

    let plan = say(&mut bob, "#g", "the deploy is at noon, alice").await;
    let lunch = say(&mut carol, "#g", "lunch after the deployment?").await;
    let typo = say(&mut bob, "#g", "the zanzibar release").await;
    let secret = say(&mut carol, "#g", "the password is hunter2").await;
    let dm = say(&mut bob, "alice", "can you deploy tonight?").await;
    let own = say(&mut alice, "#g", "deploy it").await;

    // Every word is a prefix, ignoring case; newest first; ours too.
    let found = ask(&mut alice, "/search DEPLOY", "search").await;
    assert_eq!(
        ids(&found),
        [own.as_str(), dm.as_str(), lunch.as_str(), plan.as_str()],
        "{found}"
    );
    assert_eq!(found["text"], "DEPLOY");
    assert_eq!(found["target"], Value::Null);
    let first = &found["messages"][1];
    assert_eq!(
        (&first["from"], &first["conversation"], &first["group"]),
        (&Value::from("bob"), &Value::from("bob"), &Value::Null),
        "{found}"
    );
    let plan_item = &found["messages"][3];
    assert_eq!(plan_item["conversation"], "#g", "{found}");
    assert_eq!(plan_item["group"], "g", "{found}");
    assert_eq!(plan_item["text"], "the deploy is at noon, alice");
    assert!(plan_item["sent_at"].as_u64().is_some(), "{found}");

    // `in TARGET` narrows it; a phrase keeps its order.
    let found = ask(&mut alice, "/search deploy in bob", "search").await;
    assert_eq!(ids(&found), [dm.as_str()], "{found}");
    assert_eq!(found["target"], "bob");
    let found = ask(&mut alice, "/search deploy noon in #g", "search").await;
    assert_eq!(ids(&found), [plan.as_str()], "{found}");
    let found = ask(&mut alice, "/search \"noon the\"", "search").await;
    assert_eq!(ids(&found), Vec::<&str>::new(), "{found}");
    // What the user types is never query syntax.
    let found = ask(&mut alice, "/search NEAR(deploy OR \"x", "search").await;
    assert_eq!(ids(&found), Vec::<&str>::new(), "{found}");
    let req = alice.cmd("/search ***").await;
    alice.wait_error_for(req, "bad_command").await;

    // An edit replaces the words found; a delete takes them out.
    bob.cmd(&format!("/edit {typo} the zebra release")).await;
    alice
        .wait_for("the edit", |v| v["event"] == "edited" && v["id"] == typo)
        .await;
    assert!(ids(&ask(&mut alice, "/search zanzibar", "search").await).is_empty());
    assert_eq!(
        ids(&ask(&mut alice, "/search zebra", "search").await),
        [typo.as_str()]
    );
    carol.cmd(&format!("/delete {secret}")).await;
    alice
        .wait_for("the delete", |v| {
            v["event"] == "deleted" && v["id"] == secret
        })
        .await;
    assert!(ids(&ask(&mut alice, "/search hunter2", "search").await).is_empty());

    // Mentions: named (as a word) or private, not read yet, newest first.
    let mentions = ask(&mut alice, "/mentions", "mentions").await;
    assert_eq!(ids(&mentions), [dm.as_str(), plan.as_str()], "{mentions}");
    alice.cmd("/read #g").await;
    let mentions = ask(&mut alice, "/mentions", "mentions").await;
    assert_eq!(ids(&mentions), [dm.as_str()], "{mentions}");
    alice.cmd("/read bob").await;
    assert!(ids(&ask(&mut alice, "/mentions", "mentions").await).is_empty());
    let again = say(&mut carol, "#g", "@alice one more thing").await;
    alice.wait_message("@alice one more thing").await;
    let mentions = ask(&mut alice, "/mentions", "mentions").await;
    assert_eq!(ids(&mentions), [again.as_str()], "{mentions}");

    // The read position is kept across a restart.
    alice.quit().await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mentions = ask(&mut alice, "/mentions", "mentions").await;
    assert_eq!(ids(&mentions), [again.as_str()], "{mentions}");
}
