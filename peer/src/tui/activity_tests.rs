//! Tests of read marks, typing notices both ways, and what edits, deletes, reactions,
//! receipts and history do to the lines shown.

use super::activity::{TYPING_EVERY_MS, TYPING_SHOWN_MS};
use super::tests::{info, joined};
use super::*;
use crate::node::api::{HistoryItem, Reactions, ReceiptState};

fn name(s: &str) -> Name {
    s.parse().expect("name")
}

fn group(s: &str) -> GroupName {
    s.parse().expect("group")
}

fn id(sender: &str, seq: u64) -> MessageId {
    MessageId {
        sender: name(sender),
        seq,
    }
}

fn incoming(from: &str, seq: u64, g: Option<&str>, text: &str) -> Action {
    Action::Node(Event::Message {
        id: id(from, seq),
        from: name(from),
        group: g.map(group),
        text: text.into(),
        sent_at: 0,
        verified: true,
        reply_to: None,
    })
}

fn reads(effects: &[Effect]) -> Vec<Target> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Node(Request {
                command: Command::Read(target),
                ..
            }) => Some(target.clone()),
            _ => None,
        })
        .collect()
}

fn typings(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::Node(Request {
                    command: Command::Typing(_),
                    ..
                })
            )
        })
        .count()
}

fn rust() -> Target {
    Target::Group(group("rust"))
}

/// Alice in #rust, selected.
fn in_rust() -> App {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", &[("alice", true), ("bob", true)]);
    app.update(Action::SelectConv(1));
    app
}

fn message_line<'a>(app: &'a App, msg: &MessageId) -> &'a Line {
    app.convs
        .iter()
        .find_map(|c| c.position(msg).map(|i| &c.lines()[i]))
        .expect("the message")
}

fn extra<'a>(app: &'a App, msg: &MessageId) -> &'a super::Extra {
    match &message_line(app, msg).kind {
        LineKind::Message { extra, .. } => extra,
        other => panic!("not a message: {other:?}"),
    }
}

fn own_of<'a>(app: &'a App, msg: &MessageId) -> &'a Own {
    match &message_line(app, msg).kind {
        LineKind::Message { own: Some(own), .. } => own,
        other => panic!("not our message: {other:?}"),
    }
}

#[test]
fn a_message_on_screen_is_marked_read_once() {
    let mut app = in_rust();
    let effects = app.update(incoming("bob", 1, Some("rust"), "hi"));
    assert_eq!(reads(&effects), vec![rust()]);
    // Nothing new: no second mark.
    assert!(reads(&app.update(Action::Tick(10))).is_empty());
    let effects = app.update(incoming("bob", 2, Some("rust"), "again"));
    assert_eq!(reads(&effects), vec![rust()]);
}

#[test]
fn an_unfocused_terminal_marks_read_when_focus_comes_back() {
    let mut app = in_rust();
    app.update(Action::Focus(false));
    let effects = app.update(incoming("bob", 1, Some("rust"), "hi"));
    assert!(reads(&effects).is_empty());
    assert_eq!(reads(&app.update(Action::Focus(true))), vec![rust()]);
    assert!(reads(&app.update(Action::Focus(true))).is_empty());
}

#[test]
fn switching_to_a_conversation_with_news_marks_it_read() {
    let mut app = in_rust();
    app.update(Action::SelectConv(0));
    let effects = app.update(incoming("bob", 1, Some("rust"), "hi"));
    assert!(reads(&effects).is_empty(), "not on screen");
    assert!(reads(&app.update(incoming("bob", 1, None, "psst"))).is_empty());
    assert_eq!(reads(&app.update(Action::SelectConv(1))), vec![rust()]);
    let bob = Target::Peer(name("bob"));
    assert_eq!(reads(&app.update(Action::SelectConv(2))), vec![bob]);
    // The status window is never marked.
    app.update(Action::SelectConv(0));
    app.update(Action::Node(Event::Groups { groups: vec![] }));
    assert!(reads(&app.update(Action::Tick(5))).is_empty());
}

#[test]
fn typing_notices_go_at_most_every_three_seconds_and_not_for_commands() {
    let mut app = in_rust();
    app.update(Action::Tick(1_000));
    assert_eq!(typings(&app.update(Action::Edit(EditOp::Insert('h')))), 1);
    assert_eq!(typings(&app.update(Action::Edit(EditOp::Insert('i')))), 0);
    app.update(Action::Tick(1_000 + TYPING_EVERY_MS - 1));
    assert_eq!(typings(&app.update(Action::Edit(EditOp::Insert('!')))), 0);
    app.update(Action::Tick(1_000 + TYPING_EVERY_MS));
    assert_eq!(typings(&app.update(Action::Edit(EditOp::Insert('!')))), 1);
    app.update(Action::Submit);
    // A command is not typing a message.
    app.update(Action::Tick(100_000));
    assert_eq!(typings(&app.update(Action::Edit(EditOp::Insert('/')))), 0);
    assert_eq!(typings(&app.update(Action::Edit(EditOp::Insert('j')))), 0);
    // Nor is the status window.
    let mut status = App::new(&info(), 0);
    assert_eq!(
        typings(&status.update(Action::Edit(EditOp::Insert('x')))),
        0
    );
}

#[test]
fn others_typing_shows_for_five_seconds_or_until_their_message() {
    let mut app = in_rust();
    app.update(Action::Tick(1_000));
    let typing = |from: &str| {
        Action::Node(Event::Typing {
            from: name(from),
            target: About::Group(group("rust")),
        })
    };
    app.update(typing("bob"));
    assert_eq!(app.typing_text().as_deref(), Some("bob is typing…"));
    app.update(typing("carol"));
    assert_eq!(
        app.typing_text().as_deref(),
        Some("bob and carol are typing…")
    );
    app.update(incoming("carol", 1, Some("rust"), "done"));
    assert_eq!(app.typing_text().as_deref(), Some("bob is typing…"));
    app.update(Action::Tick(1_000 + TYPING_SHOWN_MS));
    assert_eq!(app.typing_text(), None);
}

#[test]
fn edits_deletes_and_reactions_change_the_line() {
    let mut app = in_rust();
    app.update(incoming("bob", 1, Some("rust"), "helo"));
    let msg = id("bob", 1);
    app.update(Action::Node(Event::Edited {
        id: msg.clone(),
        from: name("bob"),
        text: "hello".into(),
        edited_at: 5,
    }));
    assert_eq!(message_line(&app, &msg).text, "hello");
    assert!(extra(&app, &msg).edited);
    for (who, on) in [("carol", true), ("alice", true), ("carol", false)] {
        app.update(Action::Node(Event::Reaction {
            id: msg.clone(),
            from: name(who),
            emoji: "👍".into(),
            on,
        }));
    }
    assert_eq!(
        extra(&app, &msg).reactions,
        vec![Reactions {
            emoji: "👍".into(),
            from: vec![name("alice")]
        }]
    );
    app.update(Action::Node(Event::Deleted {
        id: msg.clone(),
        from: name("bob"),
    }));
    assert_eq!(message_line(&app, &msg).text, "");
    assert!(extra(&app, &msg).deleted);
}

#[test]
fn a_reply_quotes_its_original_and_follows_its_edit() {
    let mut app = in_rust();
    app.update(incoming("bob", 1, Some("rust"), "lunch?"));
    app.update(Action::Node(Event::Message {
        id: id("carol", 1),
        from: name("carol"),
        group: Some(group("rust")),
        text: "yes".into(),
        sent_at: 0,
        verified: true,
        reply_to: Some(id("bob", 1)),
    }));
    let quote = |app: &App| {
        extra(app, &id("carol", 1))
            .reply
            .as_ref()
            .and_then(|q| q.original.clone())
    };
    assert_eq!(quote(&app), Some(("bob".into(), "lunch?".into())));
    app.update(Action::Node(Event::Edited {
        id: id("bob", 1),
        from: name("bob"),
        text: "lunch at 1?".into(),
        edited_at: 5,
    }));
    assert_eq!(quote(&app), Some(("bob".into(), "lunch at 1?".into())));
}

#[test]
fn read_receipts_mark_our_messages_up_to_the_one_read() {
    let mut app = in_rust();
    for seq in 1..=3 {
        app.update(Action::Node(Event::Sending {
            id: id("alice", seq),
            to: None,
            group: Some(group("rust")),
            text: format!("m{seq}"),
            sent_at: 0,
            reply_to: None,
        }));
        app.update(Action::Node(Event::Sent {
            id: id("alice", seq),
            delivered: vec!["bob".into(), "carol".into()],
            failed: vec![],
            pending: vec![],
        }));
    }
    app.update(Action::Node(Event::Receipt {
        id: id("alice", 2),
        from: name("bob"),
        state: ReceiptState::Read,
        target: Some(About::Group(group("rust"))),
    }));
    assert_eq!(own_of(&app, &id("alice", 1)).read, vec!["bob".to_owned()]);
    assert_eq!(own_of(&app, &id("alice", 2)).read, vec!["bob".to_owned()]);
    assert!(own_of(&app, &id("alice", 3)).read.is_empty());
    assert_eq!(own_of(&app, &id("alice", 3)).recipients, 2);
}

#[test]
fn history_items_show_their_current_state() {
    let mut app = App::new(&info(), 0);
    let effects = app.update(incoming("bob", 9, None, "live"));
    let req = effects
        .iter()
        .find_map(|e| match e {
            Effect::Node(Request {
                req,
                command: Command::History { .. },
            }) => *req,
            _ => None,
        })
        .expect("a history request");
    let item = |seq: u64, text: &str| HistoryItem {
        id: id("bob", seq),
        from: name("bob"),
        group: None,
        text: text.into(),
        sent_at: 0,
        verified: true,
        reply_to: None,
        edited_at: None,
        deleted: false,
        reactions: Vec::new(),
        to: None,
        delivery: None,
    };
    let mut own = item(1, "mine");
    own.id = id("alice", 1);
    own.from = name("alice");
    own.delivery = Some(crate::node::api::DeliveryState {
        delivered: vec!["bob".into()],
        read: vec!["bob".into()],
        ..Default::default()
    });
    let messages = vec![
        item(1, "first"),
        HistoryItem {
            edited_at: Some(3),
            reply_to: Some(id("bob", 1)),
            reactions: vec![Reactions {
                emoji: "🎉".into(),
                from: vec![name("alice")],
            }],
            ..item(2, "second, edited")
        },
        HistoryItem {
            deleted: true,
            ..item(3, "")
        },
        own,
    ];
    app.update(Action::Notice(Notice {
        req: Some(req),
        event: Event::History {
            target: About::Peer(name("bob")),
            messages,
        },
    }));
    let second = extra(&app, &id("bob", 2));
    assert!(second.edited);
    assert_eq!(second.reactions.len(), 1);
    assert_eq!(
        second.reply.as_ref().and_then(|q| q.original.clone()),
        Some(("bob".into(), "first".into()))
    );
    assert!(extra(&app, &id("bob", 3)).deleted);
    assert_eq!(own_of(&app, &id("alice", 1)).read, vec!["bob".to_owned()]);
}

#[test]
fn errors_of_our_read_marks_and_typing_notices_stay_off_the_screen() {
    let mut app = in_rust();
    let effects = app.update(incoming("bob", 1, Some("rust"), "hi"));
    let req = effects
        .iter()
        .find_map(|e| match e {
            Effect::Node(Request {
                req,
                command: Command::Read(_),
            }) => *req,
            _ => None,
        })
        .expect("a read mark");
    let lines = app.selected().lines().len();
    app.update(Action::Notice(Notice {
        req: Some(req),
        event: Event::Error {
            code: crate::node::ErrorCode::BadCommand,
            message: "not yet".into(),
            about: None,
        },
    }));
    assert_eq!(app.selected().lines().len(), lines);
}

#[test]
fn whois_status_and_settings_answer_as_system_lines() {
    let mut app = in_rust();
    app.update(Action::Tick(10 * 60_000));
    let key = natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key();
    app.update(Action::Node(Event::Whois {
        name: name("bob"),
        key,
        online: false,
        last_seen: Some(5 * 60_000),
        status: Some("away".into()),
        groups: vec![group("rust")],
    }));
    app.update(Action::Node(Event::Status {
        status: Some("busy".into()),
    }));
    app.update(Action::Node(Event::Setting {
        name: "receipts".into(),
        on: false,
    }));
    let texts: Vec<&str> = app
        .selected()
        .lines()
        .iter()
        .rev()
        .take(3)
        .map(|l| l.text.as_str())
        .collect();
    let fingerprint = key.fingerprint();
    assert_eq!(
        texts,
        vec![
            "read receipts: off".to_owned(),
            "your status is now \"busy\"".to_owned(),
            format!(
                "bob: offline, last seen 5m ago, key fingerprint {fingerprint}, status \"away\", groups in common: #rust"
            ),
        ]
    );
}
