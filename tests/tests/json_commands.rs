//! The headless JSON form of commands, over real processes: a message with line breaks
//! arrives intact, and every event a JSON command causes carries the `req` it gave.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use serde_json::json;
use util::{Peer, Tracker, temp};

#[tokio::test]
async fn a_json_message_keeps_its_line_breaks_and_its_req() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;

    // A JSON join is answered under the req it gave, not its line number.
    alice
        .cmd(r##"{"cmd":"join","group":"#g","req":1000}"##)
        .await;
    let members = alice
        .wait_for("the members of the JSON join", |v| v["event"] == "members")
        .await;
    assert_eq!(members["req"], 1000, "{members}");
    bob.join("g").await;
    alice
        .wait_members("g", "bob joined", |m| util::has_member(m, "bob", true))
        .await;

    let text = "first line\nsecond line\n\n  indented, with \"quotes\" and a tab\tend";
    let command = json!({"cmd": "msg", "target": "#g", "text": text, "req": 7});
    alice.cmd(&command.to_string()).await;
    let sending = alice.wait_for("sending", |v| v["event"] == "sending").await;
    assert_eq!(sending["req"], 7, "{sending}");
    assert_eq!(sending["text"], text, "{sending}");
    let sent = alice.wait_sent(&sending["id"]).await;
    assert_eq!(sent["req"], 7, "{sent}");
    assert_eq!(sent["delivered"], json!(["bob"]), "{sent}");

    let got = bob.wait_message(text).await;
    assert_eq!(got["from"], "alice", "{got}");
    assert_eq!(got["group"], "g", "{got}");

    // And it is stored as it was sent.
    bob.cmd(r##"{"cmd":"history","target":"#g","req":8}"##)
        .await;
    let history = bob.wait_event("history").await;
    assert_eq!(history["req"], 8, "{history}");
    assert_eq!(history["messages"][0]["text"], text, "{history}");

    // A bad JSON command is a bad_command error under its req; a broken line under its
    // line number.
    alice
        .cmd(r#"{"cmd":"msg","to":"bob","text":"x","req":9}"#)
        .await;
    let error = alice.wait_error_for(9, "bad_command").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"to\""),
        "{error}"
    );
    let line = alice.cmd("{not json").await;
    alice.wait_error_for(line, "bad_command").await;

    assert!(alice.quit().await.success());
    assert!(bob.quit().await.success());
}
