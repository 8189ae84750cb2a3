//! The search and mentions views and the hotlist, as app state: actions in, effects out.

use super::tests::{info, joined};
use super::*;
use crate::node::api::{FoundItem, HistoryItem};

fn name(s: &str) -> Name {
    s.parse().expect("name")
}

fn id(s: &str) -> MessageId {
    s.parse().expect("id")
}

/// Message `id` (`from/seq`) in `#g`, or privately when `g` is `None`, sent at `at`.
pub(crate) fn msg(id_: &str, g: Option<&str>, text: &str, at: u64) -> Action {
    let id = id(id_);
    Action::Node(Event::Message {
        from: id.sender.clone(),
        id,
        group: g.map(|g| g.parse().expect("group")),
        text: text.into(),
        sent_at: at,
        verified: true,
        reply_to: None,
    })
}

pub(crate) fn found(id_: &str, g: Option<&str>, text: &str) -> FoundItem {
    let id = id(id_);
    let conversation = match g {
        Some(g) => About::Group(g.parse().expect("group")),
        None => About::Peer(id.sender.clone()),
    };
    FoundItem {
        from: id.sender.clone(),
        id,
        conversation,
        group: g.map(|g| g.parse().expect("group")),
        sent_at: 0,
        text: text.into(),
        snippet: None,
    }
}

pub(crate) fn search_answer(items: Vec<FoundItem>) -> Action {
    Action::Node(Event::Search {
        text: "deploy".into(),
        target: None,
        messages: items,
    })
}

fn history_requests(effects: &[Effect]) -> Vec<(Target, usize)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Node(Request {
                command: Command::History { target, limit },
                ..
            }) => Some((target.clone(), *limit)),
            _ => None,
        })
        .collect()
}

#[test]
fn search_and_mentions_are_sent_to_the_node() {
    let mut app = App::new(&info(), 0);
    for c in "/search deploy in #ops".chars() {
        app.update(Action::Edit(EditOp::Insert(c)));
    }
    let effects = app.update(Action::Submit);
    assert!(matches!(
        effects.as_slice(),
        [Effect::Node(Request {
            command: Command::Search {
                target: Some(Target::Group(_)),
                ..
            },
            ..
        })]
    ));
}

#[test]
fn nothing_found_is_a_line_not_a_view() {
    let mut app = App::new(&info(), 0);
    app.update(search_answer(Vec::new()));
    assert_eq!(app.found, None);
    let last = app.selected().lines().back().expect("a line");
    assert!(
        last.text.contains("no stored message has deploy"),
        "{}",
        last.text
    );
    app.update(Action::Node(Event::Mentions {
        messages: Vec::new(),
    }));
    let last = app.selected().lines().back().expect("a line");
    assert!(last.text.contains("no unread mentions"), "{}", last.text);
}

#[test]
fn up_down_move_esc_closes_and_typing_waits() {
    let mut app = App::new(&info(), 0);
    let items = vec![
        found("bob/3", Some("ops"), "deploy now"),
        found("carol/1", Some("ops"), "deploy later"),
        found("dan/2", None, "deploy?"),
    ];
    app.update(search_answer(items));
    let at = |app: &App| app.found.as_ref().map(|v| v.at);
    assert_eq!(at(&app), Some(0));
    app.update(Action::Up);
    assert_eq!(at(&app), Some(0));
    app.update(Action::Down);
    app.update(Action::Down);
    app.update(Action::Down);
    assert_eq!(at(&app), Some(2));
    app.update(Action::Home);
    assert_eq!(at(&app), Some(0));
    // Keys meant for the input line do nothing while the view is open.
    app.update(Action::Edit(EditOp::Insert('x')));
    assert!(app.input.is_empty());
    // News goes on underneath.
    app.update(msg("bob/9", Some("ops"), "hi", 5));
    assert!(app.found.is_some());
    app.update(Action::Escape);
    assert_eq!(app.found, None);
    app.update(Action::Edit(EditOp::Insert('x')));
    assert!(!app.input.is_empty());
}

#[test]
fn enter_jumps_to_a_loaded_message_and_selects_it() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "ops", &[("alice", true), ("bob", true)]);
    joined(&mut app, "dev", &[("alice", true), ("bob", true)]);
    app.update(msg("bob/1", Some("ops"), "deploy at noon", 1));
    app.update(msg("bob/2", Some("ops"), "lunch", 2));
    app.update(Action::SelectConv(2));
    assert_eq!(
        app.selected().id,
        ConvId::Group("dev".parse().expect("group"))
    );
    app.update(Action::Node(Event::Mentions {
        messages: vec![found("bob/1", Some("ops"), "deploy at noon")],
    }));
    let effects = app.update(Action::Submit);
    assert!(history_requests(&effects).is_empty(), "{effects:?}");
    assert_eq!(app.found, None);
    assert_eq!(
        app.selected().id,
        ConvId::Group("ops".parse().expect("group"))
    );
    assert_eq!(app.mode.selected(), Some(&id("bob/1")));
}

#[test]
fn enter_on_a_message_not_loaded_asks_for_more_history_then_selects_it() {
    let mut app = App::new(&info(), 0);
    app.update(search_answer(vec![found("dan/2", None, "deploy?")]));
    let effects = app.update(Action::Submit);
    let dan = Target::Peer(name("dan"));
    let asked = history_requests(&effects);
    assert!(
        asked.contains(&(dan.clone(), crate::command::MAX_HISTORY)),
        "{asked:?}"
    );
    assert_eq!(app.selected().id, ConvId::Peer("dan".into()));
    assert_eq!(app.mode.selected(), None);
    let req = effects
        .iter()
        .find_map(|e| match e {
            Effect::Node(Request {
                req,
                command: Command::History { limit, .. },
            }) if *limit == crate::command::MAX_HISTORY => *req,
            _ => None,
        })
        .expect("the request");
    let item = |seq: u64, text: &str| HistoryItem {
        id: id(&format!("dan/{seq}")),
        from: name("dan"),
        group: None,
        text: text.into(),
        sent_at: seq,
        verified: true,
        reply_to: None,
        edited_at: None,
        deleted: false,
        reactions: Vec::new(),
        to: None,
        delivery: None,
    };
    app.update(Action::Notice(Notice {
        req: Some(req),
        event: Event::History {
            target: About::Peer(name("dan")),
            messages: vec![item(1, "hello"), item(2, "deploy?"), item(3, "later")],
        },
    }));
    assert_eq!(app.mode.selected(), Some(&id("dan/2")));
}

#[test]
fn a_message_history_does_not_hold_is_said_to_be_too_old() {
    let mut app = App::new(&info(), 0);
    app.update(search_answer(vec![found("dan/2", None, "deploy?")]));
    let effects = app.update(Action::Submit);
    for e in effects {
        if let Effect::Node(Request {
            req,
            command: Command::History { .. },
        }) = e
        {
            app.update(Action::Notice(Notice {
                req,
                event: Event::History {
                    target: About::Peer(name("dan")),
                    messages: Vec::new(),
                },
            }));
        }
    }
    let last = app.selected().lines().back().expect("a line");
    assert!(last.text.contains("dan/2 is older than"), "{}", last.text);
}

#[test]
fn the_hotlist_puts_mentions_first_then_the_latest_activity() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "a", &[("alice", true), ("bob", true)]);
    joined(&mut app, "b", &[("alice", true), ("bob", true)]);
    joined(&mut app, "c", &[("alice", true), ("bob", true)]);
    app.update(Action::SelectConv(0));
    app.update(msg("bob/1", Some("a"), "old news", 10));
    app.update(msg("bob/2", Some("b"), "hey alice", 20));
    app.update(msg("bob/3", Some("c"), "newest", 30));
    // Sidebar numbers: 1 status, 2 #a, 3 #b, 4 #c.
    assert_eq!(crate::tui::hotlist::hotlist(&app), vec![2, 3, 1]);
    assert_eq!(
        crate::tui::hotlist::hotlist_text(&app).as_deref(),
        Some("Act: 3!,4,2")
    );
    app.update(msg("dan/1", None, "psst", 5));
    assert_eq!(
        crate::tui::hotlist::hotlist_text(&app).as_deref(),
        Some("Act: 3!,5!,4,2")
    );
    app.update(Action::SelectConv(2));
    assert_eq!(
        crate::tui::hotlist::hotlist_text(&app).as_deref(),
        Some("Act: 5!,4,2")
    );
    // Alt-A goes down the hotlist, mentions first.
    app.update(Action::NextActive);
    assert_eq!(app.selected, 4);
    app.update(Action::NextActive);
    assert_eq!(app.selected, 3);
    app.update(Action::NextActive);
    assert_eq!(app.selected, 1);
    app.update(Action::NextActive);
    assert_eq!(app.selected, 1);
}
