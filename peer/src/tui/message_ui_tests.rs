//! Render tests of what happens to messages: reply quotes, edits, tombstones, reactions,
//! delivered and read marks, typing, the selection, the picker, and presence in the
//! member pane.

use natter_protocol::Name;
use natter_protocol::peer::MessageId;
use natter_protocol::tracker::Member;

use super::tests::{contains, screen, show};
use crate::node::api::ReceiptState;
use crate::node::{About, Event};
use crate::tui::app::tests::{info, joined};
use crate::tui::app::{Action, App};
use crate::tui::input::EditOp;

fn name(s: &str) -> Name {
    s.parse().expect("name")
}

fn id(sender: &str, seq: u64) -> MessageId {
    MessageId {
        sender: name(sender),
        seq,
    }
}

fn incoming(
    from: &str,
    seq: u64,
    g: Option<&str>,
    text: &str,
    reply_to: Option<MessageId>,
) -> Action {
    Action::Node(Event::Message {
        id: id(from, seq),
        from: name(from),
        group: g.map(|g| g.parse().expect("group")),
        text: text.into(),
        sent_at: 0,
        verified: true,
        reply_to,
    })
}

fn sending(seq: u64, to: Option<&str>, g: Option<&str>, text: &str) -> Action {
    Action::Node(Event::Sending {
        id: id("alice", seq),
        to: to.map(str::to_owned),
        group: g.map(|g| g.parse().expect("group")),
        text: text.into(),
        sent_at: 0,
        reply_to: None,
    })
}

fn sent(seq: u64, delivered: &[&str]) -> Action {
    Action::Node(Event::Sent {
        id: id("alice", seq),
        delivered: delivered.iter().map(|s| (*s).to_owned()).collect(),
        failed: vec![],
        pending: vec![],
    })
}

fn read(seq: u64, from: &str, target: About) -> Action {
    Action::Node(Event::Receipt {
        id: id("alice", seq),
        from: name(from),
        state: ReceiptState::Read,
        target: Some(target),
    })
}

fn in_rust(members: &[(&str, bool)]) -> App {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", members);
    app.update(Action::SelectConv(1));
    app
}

fn row_with<'a>(rows: &'a [String], needle: &str) -> &'a str {
    rows.iter().find(|r| r.contains(needle)).map_or_else(
        || panic!("{needle:?} missing:\n{}", show(rows)),
        |r| r.as_str(),
    )
}

#[test]
fn a_reply_shows_a_quote_of_its_original_above_it() {
    let mut app = in_rust(&[("alice", true), ("bob", true)]);
    app.update(incoming(
        "bob",
        1,
        Some("rust"),
        "shall we meet at noon tomorrow?",
        None,
    ));
    app.update(incoming(
        "carol",
        1,
        Some("rust"),
        "yes",
        Some(id("bob", 1)),
    ));
    app.update(incoming(
        "carol",
        2,
        Some("rust"),
        "what?",
        Some(id("dave", 7)),
    ));
    let rows = screen(&app, 80, 12);
    let quote = rows
        .iter()
        .position(|r| r.contains("↳ bob: shall we meet at noon"))
        .unwrap_or_else(|| panic!("no quote:\n{}", show(&rows)));
    assert!(rows[quote + 1].contains("<carol> yes"), "{}", show(&rows));
    assert!(
        contains(&rows, "↳ original not available"),
        "{}",
        show(&rows)
    );
}

#[test]
fn edited_text_is_marked_and_a_deleted_message_leaves_a_tombstone() {
    let mut app = in_rust(&[("alice", true), ("bob", true)]);
    app.update(incoming("bob", 1, Some("rust"), "helo", None));
    app.update(incoming("bob", 2, Some("rust"), "a secret", None));
    app.update(Action::Node(Event::Edited {
        id: id("bob", 1),
        from: name("bob"),
        text: "hello".into(),
        edited_at: 1,
    }));
    app.update(Action::Node(Event::Deleted {
        id: id("bob", 2),
        from: name("bob"),
    }));
    let rows = screen(&app, 80, 12);
    assert!(contains(&rows, "<bob> hello (edited)"), "{}", show(&rows));
    assert!(contains(&rows, "<bob> message deleted"), "{}", show(&rows));
    assert!(!contains(&rows, "secret"), "{}", show(&rows));
}

#[test]
fn reactions_show_under_the_message_with_counts() {
    let mut app = in_rust(&[("alice", true), ("bob", true)]);
    app.update(incoming("bob", 1, Some("rust"), "shipped!", None));
    for (who, emoji) in [("carol", "👍"), ("alice", "🎉"), ("dave", "👍")] {
        app.update(Action::Node(Event::Reaction {
            id: id("bob", 1),
            from: name(who),
            emoji: emoji.into(),
            on: true,
        }));
    }
    let rows = screen(&app, 80, 12);
    let at = rows
        .iter()
        .position(|r| r.contains("<bob> shipped!"))
        .unwrap_or_else(|| panic!("{}", show(&rows)));
    assert!(rows[at + 1].contains("👍 2  🎉 1"), "{}", show(&rows));
}

#[test]
fn private_messages_show_delivered_then_read() {
    let mut app = App::new(&info(), 0);
    app.update(sending(1, Some("bob"), None, "are you there"));
    app.update(Action::SelectConv(1));
    app.update(sent(1, &["bob"]));
    let rows = screen(&app, 80, 12);
    let row = row_with(&rows, "<alice> are you there");
    assert!(
        row.contains("there ✓") && !row.contains("✓✓"),
        "{}",
        show(&rows)
    );
    app.update(read(1, "bob", About::Peer(name("bob"))));
    let rows = screen(&app, 80, 12);
    assert!(
        contains(&rows, "<alice> are you there ✓✓"),
        "{}",
        show(&rows)
    );
}

#[test]
fn group_messages_show_how_many_read_and_who_when_selected() {
    let members = [
        ("alice", true),
        ("bob", true),
        ("carol", true),
        ("dave", true),
    ];
    let mut app = in_rust(&members);
    app.update(sending(1, None, Some("rust"), "standup now"));
    app.update(sent(1, &["bob", "carol", "dave"]));
    let rust = || About::Group("rust".parse().expect("group"));
    app.update(read(1, "bob", rust()));
    app.update(read(1, "dave", rust()));
    let rows = screen(&app, 100, 12);
    assert!(
        contains(&rows, "<alice> standup now ✓ read by 2 of 3"),
        "{}",
        show(&rows)
    );
    // Selected: the status bar names the readers.
    app.update(Action::Up);
    let rows = screen(&app, 100, 12);
    assert!(
        rows[10].starts_with(" read by bob, dave |"),
        "{}",
        show(&rows)
    );
}

#[test]
fn typing_shows_in_the_status_bar_of_its_conversation_only() {
    let mut app = in_rust(&[("alice", true), ("bob", true)]);
    app.update(Action::Node(Event::Typing {
        from: name("bob"),
        target: About::Group("rust".parse().expect("group")),
    }));
    let rows = screen(&app, 100, 12);
    assert!(rows[10].starts_with(" bob is typing… |"), "{}", show(&rows));
    app.update(Action::SelectConv(0));
    let rows = screen(&app, 100, 12);
    assert!(!contains(&rows, "typing"), "{}", show(&rows));
}

#[test]
fn the_selected_message_is_highlighted_and_the_picker_and_question_show() {
    let mut app = in_rust(&[("alice", true), ("bob", true)]);
    app.update(incoming("bob", 1, Some("rust"), "pick me", None));
    app.update(Action::Up);
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 12)).expect("terminal");
    terminal.draw(|f| super::draw(f, &app)).expect("draw");
    let rows = screen(&app, 80, 12);
    let y = rows
        .iter()
        .position(|r| r.contains("<bob> pick me"))
        .unwrap_or_else(|| panic!("{}", show(&rows)));
    let buf = terminal.backend().buffer();
    let x = rows[y].find("pick").expect("text") as u16;
    let style = buf[(x, y as u16)].style();
    assert!(
        style
            .add_modifier
            .contains(ratatui::style::Modifier::REVERSED),
        "not highlighted: {style:?}"
    );
    assert!(contains(&rows, "r reply"), "{}", show(&rows));
    app.update(Action::Edit(EditOp::Insert('+')));
    let rows = screen(&app, 80, 12);
    assert!(contains(&rows, "1👍"), "{}", show(&rows));
    assert!(contains(&rows, "8✅"), "{}", show(&rows));
    app.update(Action::Escape);
    app.update(Action::Escape);
    app.update(sending(1, None, Some("rust"), "mine"));
    app.update(Action::Up);
    app.update(Action::Edit(EditOp::Insert('d')));
    let rows = screen(&app, 80, 12);
    assert!(
        contains(&rows, "delete this message? y/n"),
        "{}",
        show(&rows)
    );
}

#[test]
fn replying_shows_on_the_input_line() {
    let mut app = in_rust(&[("alice", true), ("bob", true)]);
    app.update(incoming("bob", 1, Some("rust"), "coffee?", None));
    app.update(Action::Up);
    app.update(Action::Edit(EditOp::Insert('r')));
    let rows = screen(&app, 80, 12);
    assert!(
        rows[11].contains("replying to bob: coffee?"),
        "{}",
        show(&rows)
    );
}

#[test]
fn member_pane_puts_online_first_with_last_seen_and_status() {
    let now = 10 * 3_600_000;
    let key = natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key();
    let member = |n: &str, online: bool, last_seen: Option<u64>, status: Option<&str>| Member {
        name: name(n),
        addr: "127.0.0.1:4000".parse().expect("addr"),
        online,
        key,
        last_seen,
        status: status.map(str::to_owned),
        role: Default::default(),
    };
    let mut app = App::new(&info(), now);
    app.update(Action::Node(Event::Members {
        group: "rust".parse().expect("group"),
        version: 1,
        members: Some(vec![
            member("anna", false, Some(now - 5 * 60_000), None),
            member("zed", true, None, Some("in a meeting until three")),
            member("bob", false, Some(now - 3 * 3_600_000), None),
        ]),
        change: None,
        owner: None,
        topic: None,
        private: false,
        by: None,
    }));
    app.update(Action::SelectConv(1));
    let rows = screen(&app, 100, 12);
    let pane: Vec<String> = rows
        .iter()
        .map(|r| r.chars().skip(83).collect::<String>().trim().to_owned())
        .collect();
    let zed = pane.iter().position(|r| r == "● zed").expect("zed");
    assert!(pane[zed + 1].starts_with("in a meeting"), "{pane:?}");
    let anna = pane
        .iter()
        .position(|r| r == "○ anna 5m ago")
        .unwrap_or_else(|| panic!("{pane:?}"));
    let bob = pane
        .iter()
        .position(|r| r == "○ bob 3h ago")
        .unwrap_or_else(|| panic!("{pane:?}"));
    assert!(zed < anna && anna < bob, "{pane:?}");
}

#[test]
fn a_refused_reply_says_it_was_not_sent() {
    let mut app = in_rust(&[("alice", true), ("bob", true)]);
    app.update(incoming("bob", 1, Some("rust"), "coffee?", None));
    app.update(Action::Up);
    app.update(Action::Edit(EditOp::Insert('r')));
    for c in "yes".chars() {
        app.update(Action::Edit(EditOp::Insert(c)));
    }
    let effects = app.update(Action::Submit);
    let req = effects
        .iter()
        .find_map(|e| match e {
            crate::tui::app::Effect::Node(crate::node::Request {
                req,
                command: crate::node::Command::Act { .. },
            }) => *req,
            _ => None,
        })
        .expect("the reply");
    app.update(Action::Notice(crate::node::Notice {
        req: Some(req),
        event: Event::Error {
            code: crate::node::ErrorCode::BadCommand,
            message: "no such message".into(),
            about: None,
        },
    }));
    let rows = screen(&app, 80, 12);
    assert!(contains(&rows, "↳ bob: coffee?"), "{}", show(&rows));
    assert!(contains(&rows, "<alice> yes ✗ not sent"), "{}", show(&rows));
}

#[test]
fn a_member_who_goes_offline_was_last_seen_when_the_tracker_says() {
    let mut app = in_rust(&[("alice", true), ("bob", true), ("carol", true)]);
    app.update(Action::Tick(1_000_000));
    let offline = |who: &str, last_seen| Event::Members {
        group: "rust".parse().expect("group"),
        version: 2,
        members: None,
        change: Some(natter_protocol::tracker::MemberChange::Offline {
            name: name(who),
            last_seen,
        }),
        owner: None,
        topic: None,
        private: false,
        by: None,
    };
    app.update(Action::Node(offline("bob", Some(1_000_000 - 60_000))));
    // A tracker that does not say when: now.
    app.update(Action::Node(offline("carol", None)));
    app.update(Action::Tick(1_000_000 + 2 * 60_000));
    let rows = screen(&app, 100, 12);
    assert!(contains(&rows, "○ bob 3m ago"), "{}", show(&rows));
    assert!(contains(&rows, "○ carol 2m ago"), "{}", show(&rows));
}

#[test]
fn roles_topic_and_who_did_what_show_in_a_governed_group() {
    use natter_protocol::govern::Role;
    use natter_protocol::tracker::{ActedBy, MemberChange};
    let key = natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key();
    let member = |n: &str, role| Member {
        name: name(n),
        addr: "127.0.0.1:4000".parse().expect("addr"),
        online: true,
        key,
        last_seen: None,
        status: None,
        role,
    };
    let mut app = App::new(&info(), 0);
    let group: natter_protocol::GroupName = "rust".parse().expect("group");
    app.update(Action::Node(Event::Members {
        group: group.clone(),
        version: 1,
        members: Some(vec![
            member("carol", Role::Member),
            member("bob", Role::Admin),
            member("alice", Role::Owner),
        ]),
        change: None,
        owner: Some(name("alice")),
        topic: Some("shipping friday".into()),
        private: true,
        by: None,
    }));
    app.update(Action::SelectConv(1));
    let kicked = MemberChange::Kicked {
        name: name("carol"),
        reason: Some("spam".into()),
        by: ActedBy {
            by: Some(name("bob")),
            action: None,
        },
    };
    app.update(Action::Node(Event::Members {
        group,
        version: 2,
        members: None,
        change: Some(kicked),
        owner: Some(name("alice")),
        topic: Some("shipping friday".into()),
        private: true,
        by: None,
    }));
    let rows = screen(&app, 100, 12);
    assert!(
        contains(&rows, "#rust — shipping friday"),
        "{}",
        show(&rows)
    );
    assert!(contains(&rows, "invite-only"), "{}", show(&rows));
    assert!(contains(&rows, "● ~alice"), "{}", show(&rows));
    assert!(contains(&rows, "● @bob"), "{}", show(&rows));
    assert!(
        contains(&rows, "carol was removed from #rust by bob: spam"),
        "{}",
        show(&rows)
    );
    let alice = rows.iter().position(|r| r.contains("~alice"));
    let bob = rows.iter().position(|r| r.contains("@bob"));
    assert!(alice < bob, "the owner first: {}", show(&rows));
}
