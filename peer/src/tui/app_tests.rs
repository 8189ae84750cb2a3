//! Unit tests of the app state: actions in, effects and state out.

use std::path::PathBuf;

use natter_protocol::tracker::Member;

use super::*;
use crate::tui::conversation::{Delivery, SCROLLBACK};

pub(crate) fn info() -> UiInfo {
    UiInfo {
        name: name("alice"),
        tracker: "127.0.0.1:7000".into(),
        join_hint: None,
        host: "192.168.1.5".into(),
        log_dir: PathBuf::from("/tmp/natter-logs"),
        notify: crate::tui::notify::NotifyMode::Auto,
        invite: None,
    }
}

fn name(s: &str) -> Name {
    s.parse().expect("name")
}

fn group(s: &str) -> GroupName {
    s.parse().expect("group")
}

fn member(n: &str, online: bool) -> Member {
    Member {
        name: name(n),
        addr: "127.0.0.1:4000".parse().expect("addr"),
        online,
        key: natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key(),
        last_seen: None,
        status: None,
        role: Default::default(),
    }
}

/// An error event from the node, about a conversation.
fn error_about(about: About, message: &str) -> Event {
    Event::Error {
        code: crate::node::ErrorCode::Undeliverable,
        message: message.into(),
        about: Some(about),
    }
}

/// The request id of the one command among `effects`.
fn req_of(effects: &[Effect]) -> RequestId {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Node(Request { req, .. }) => *req,
            _ => None,
        })
        .expect("a request")
}

/// The commands among `effects`, without their request ids.
fn commands(effects: Vec<Effect>) -> Vec<Option<Command>> {
    effects
        .into_iter()
        .map(|e| match e {
            Effect::Node(Request { command, .. }) => Some(command),
            _ => None,
        })
        .collect()
}

fn id(sender: &str, seq: u64) -> MessageId {
    MessageId {
        sender: name(sender),
        seq,
    }
}

pub(crate) fn joined(app: &mut App, g: &str, members: &[(&str, bool)]) {
    app.update(Action::Node(Event::Members {
        group: group(g),
        version: 1,
        members: Some(members.iter().map(|(n, o)| member(n, *o)).collect()),
        change: None,
        owner: None,
        topic: None,
        private: false,
        by: None,
    }));
}

pub(crate) fn message(from: &str, g: Option<&str>, text: &str) -> Action {
    Action::Node(Event::Message {
        id: id(from, 1),
        from: name(from),
        group: g.map(group),
        text: text.into(),
        sent_at: 0,
        verified: true,
        reply_to: None,
    })
}

fn type_line(app: &mut App, s: &str) -> Vec<Effect> {
    for c in s.chars() {
        app.update(Action::Edit(EditOp::Insert(c)));
    }
    app.update(Action::Submit)
}

fn conv<'a>(app: &'a App, id: &ConvId) -> &'a Conversation {
    app.convs
        .iter()
        .find(|c| &c.id == id)
        .expect("conversation")
}

#[test]
fn starts_with_a_welcome_in_the_status_conversation() {
    let mut i = info();
    i.join_hint = Some(crate::tui::JoinHint {
        command: "natter --tracker 10.0.0.5:7000 --name NAME".into(),
        local_only: None,
    });
    let app = App::new(&i, 0);
    assert_eq!(app.convs.len(), 1);
    let texts: Vec<&str> = app.convs[0]
        .lines()
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    let all = texts.join("\n");
    assert!(all.contains("/join #room"), "{all}");
    assert!(all.contains("/msg NAME text"), "{all}");
    assert!(all.contains("/help"), "{all}");
    assert!(
        all.contains("natter --tracker 10.0.0.5:7000 --name NAME"),
        "{all}"
    );
}

#[test]
fn a_loopback_tracker_is_not_offered_to_others() {
    let mut i = info();
    i.join_hint = Some(crate::tui::JoinHint {
        command: "natter --name <THEIR-NAME> --tracker 127.0.0.1:7700 --tracker-key K".into(),
        local_only: Some("127.0.0.1".into()),
    });
    let app = App::new(&i, 0);
    let all: Vec<&str> = app.convs[0]
        .lines()
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    let all = all.join("\n");
    assert!(all.contains("other machines cannot reach it"), "{all}");
    assert!(all.contains("--tracker 0.0.0.0:PORT"), "{all}");
    assert!(!all.contains("Others join you with"), "{all}");
    assert!(all.contains("--tracker-key K"), "{all}");
}

#[test]
fn unread_counts_grow_off_screen_and_clear_on_select() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", &[("alice", true), ("bob", true)]);
    app.update(Action::SelectConv(0));
    app.update(message("bob", Some("rust"), "one"));
    app.update(message("bob", Some("rust"), "two"));
    let rust = ConvId::Group(group("rust"));
    assert_eq!(conv(&app, &rust).unread, 2);
    assert!(!conv(&app, &rust).mention);
    app.update(Action::NextConv);
    assert_eq!(app.selected().id, rust);
    assert_eq!(conv(&app, &rust).unread, 0);
    app.update(message("bob", Some("rust"), "three"));
    assert_eq!(conv(&app, &rust).unread, 0);
}

#[test]
fn mentions_ring_the_bell_and_mark_the_conversation() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", &[("alice", true), ("bob", true)]);
    app.update(Action::SelectConv(0));
    assert_eq!(
        app.update(message("bob", Some("rust"), "malice aforethought")),
        vec![]
    );
    assert_eq!(
        app.update(message("bob", Some("rust"), "hey ALICE, look")),
        vec![Effect::Bell]
    );
    assert!(conv(&app, &ConvId::Group(group("rust"))).mention);
    assert!(mentions("alice.", "alice"));
    assert!(!mentions("alice_b", "alice"));
}

#[test]
fn private_messages_open_a_conversation_and_ring() {
    let mut app = App::new(&info(), 0);
    let effects = app.update(message("bob", None, "psst"));
    // The new window also asks for its history (see history_tests.rs).
    assert_eq!(effects[0], Effect::Bell);
    let bob = conv(&app, &ConvId::Peer("bob".into()));
    assert_eq!((bob.unread, bob.mention), (1, true));
    assert_eq!(app.selected().id, ConvId::Status);
}

#[test]
fn text_goes_to_the_selected_conversation() {
    let mut app = App::new(&info(), 0);
    assert!(
        type_line(&mut app, "hello").is_empty(),
        "status window sends nothing"
    );
    joined(&mut app, "rust", &[("alice", true)]);
    app.update(Action::SelectConv(1));
    assert_eq!(
        commands(type_line(&mut app, "hi all")),
        vec![Some(Command::Send {
            target: Target::Group(group("rust")),
            text: "hi all".into()
        })]
    );
    type_line(&mut app, "/query bob");
    assert_eq!(app.selected().id, ConvId::Peer("bob".into()));
    assert_eq!(
        commands(type_line(&mut app, "yo")),
        vec![Some(Command::Send {
            target: Target::Peer(name("bob")),
            text: "yo".into()
        })]
    );
}

#[test]
fn slash_commands_reach_the_node_or_the_screen() {
    let mut app = App::new(&info(), 0);
    assert_eq!(
        commands(type_line(&mut app, "/join #rust")),
        vec![Some(Command::Join(group("rust")))]
    );
    // The conversation opens, selected, when the node confirms the join.
    assert_eq!(app.convs.len(), 1);
    joined(&mut app, "rust", &[("alice", true)]);
    assert_eq!(app.selected().id, ConvId::Group(group("rust")));
    assert!(type_line(&mut app, "/bogus").is_empty());
    let last = app.selected().lines().back().expect("line");
    assert_eq!(last.kind, LineKind::Error);
    // /help opens a popup of its own; the conversation gets no lines from it.
    let before = app.selected().lines().len();
    type_line(&mut app, "/help");
    assert!(app.help.is_some());
    assert_eq!(app.selected().lines().len(), before);
    app.update(Action::Escape);
    assert!(app.help.is_none());
    type_line(&mut app, "/clear");
    assert!(app.selected().lines().is_empty());
    assert_eq!(
        commands(type_line(&mut app, "/quit")),
        vec![Some(Command::Quit), None]
    );
    assert_eq!(
        commands(app.update(Action::Quit)),
        vec![Some(Command::Quit), None]
    );
}

#[test]
fn delivery_marks_follow_sent_events_by_id() {
    let mut app = App::new(&info(), 0);
    for seq in [1, 2] {
        app.update(Action::Node(Event::Sending {
            id: id("alice", seq),
            to: Some("bob".into()),
            group: None,
            text: format!("m{seq}"),
            sent_at: 0,
            reply_to: None,
        }));
    }
    app.update(Action::Node(Event::Sent {
        id: id("alice", 2),
        delivered: vec![],
        failed: vec!["bob".into()],
        pending: vec![],
    }));
    app.update(Action::Node(Event::Sent {
        id: id("alice", 1),
        delivered: vec!["bob".into()],
        failed: vec![],
        pending: vec![],
    }));
    let marks: Vec<Delivery> = conv(&app, &ConvId::Peer("bob".into()))
        .lines()
        .iter()
        .filter_map(|l| match &l.kind {
            LineKind::Message { own: Some(own), .. } => Some(own.delivery.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        marks,
        vec![Delivery::Delivered, Delivery::Failed(vec!["bob".into()])]
    );
}

#[test]
fn member_changes_become_system_lines_and_count_reachable_peers() {
    let mut app = App::new(&info(), 0);
    joined(
        &mut app,
        "a",
        &[("alice", true), ("bob", true), ("carol", false)],
    );
    joined(
        &mut app,
        "b",
        &[("alice", true), ("bob", true), ("dave", true)],
    );
    assert_eq!(app.reachable(), 2);
    app.update(Action::Node(Event::Members {
        group: group("a"),
        version: 2,
        members: None,
        change: Some(MemberChange::Offline {
            name: name("bob"),
            last_seen: None,
        }),
        owner: None,
        topic: None,
        private: false,
        by: None,
    }));
    let last = conv(&app, &ConvId::Group(group("a")))
        .lines()
        .back()
        .expect("line");
    assert_eq!(last.text, "bob went offline");
    assert_eq!(app.reachable(), 2, "bob is still online in #b");
    app.update(Action::Node(Event::Left {
        group: group("b"),
        by: None,
        reason: None,
        disbanded: false,
    }));
    assert_eq!(app.reachable(), 0);
    assert_eq!(app.convs.len(), 2);
}

#[test]
fn conversation_switching_wraps_and_alt_numbers_select() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "a", &[]);
    joined(&mut app, "b", &[]);
    app.update(Action::PrevConv);
    assert_eq!(app.selected, 2);
    app.update(Action::NextConv);
    assert_eq!(app.selected, 0);
    app.update(Action::SelectConv(1));
    assert_eq!(app.selected, 1);
    app.update(Action::SelectConv(8));
    assert_eq!(app.selected, 1);
}

#[test]
fn scrollback_cap_holds_under_a_flood() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "flood", &[]);
    for i in 0..SCROLLBACK * 2 {
        app.update(message("bob", Some("flood"), &i.to_string()));
    }
    let c = conv(&app, &ConvId::Group(group("flood")));
    assert_eq!(c.lines().len(), SCROLLBACK);
    assert_eq!(c.unread, SCROLLBACK * 2);
}

#[test]
fn home_and_end_scroll_only_when_the_input_is_empty() {
    let mut app = App::new(&info(), 0);
    for i in 0..100 {
        app.update(Action::CommandFailed(i.to_string()));
    }
    app.update(Action::Home);
    // 21 rows of one-row lines from the top.
    assert_eq!(app.selected().bottom().map(|(i, _)| i), Some(20));
    app.update(Action::End);
    assert_eq!(app.selected().scroll, None);
    app.update(Action::Edit(EditOp::Insert('x')));
    app.update(Action::Home);
    assert_eq!((app.selected().scroll, app.input.cursor()), (None, 0));
    app.update(Action::ScrollTop);
    assert!(app.selected().scroll.is_some());
    app.update(Action::ScrollBottom);
    assert_eq!(app.selected().scroll, None);
}

#[test]
fn tracker_status_is_tracked_with_its_time() {
    let mut app = App::new(&info(), 0);
    app.update(Action::Tick(5_000));
    app.update(Action::Node(Event::Tracker {
        status: TrackerStatus::Disconnected,
        tracker: "t".into(),
    }));
    app.update(Action::Tick(9_000));
    app.update(Action::Node(Event::Tracker {
        status: TrackerStatus::Disconnected,
        tracker: "t".into(),
    }));
    assert_eq!(app.tracker, Some((TrackerStatus::Disconnected, 5_000)));
}

#[test]
fn leaving_the_selected_group_keeps_a_valid_selection() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "a", &[]);
    joined(&mut app, "b", &[]);
    app.update(Action::SelectConv(2));
    app.update(Action::Node(Event::Left {
        group: group("b"),
        by: None,
        reason: None,
        disbanded: false,
    }));
    assert_eq!(app.selected().id, ConvId::Group(group("a")));
    app.update(Action::Node(Event::Left {
        group: group("a"),
        by: None,
        reason: None,
        disbanded: false,
    }));
    assert_eq!(app.selected().id, ConvId::Status);
    assert_eq!(app.update(Action::Redraw), vec![Effect::Redraw]);
}

#[test]
fn the_ui_quits_when_the_node_is_gone() {
    let mut app = App::new(&info(), 0);
    assert_eq!(app.update(Action::NodeGone), vec![Effect::Quit]);
}

#[test]
fn a_failed_join_leaves_no_conversation_behind() {
    let mut app = App::new(&info(), 0);
    type_line(&mut app, "/join #x");
    app.update(Action::Node(error_about(
        About::Group(group("x")),
        "the tracker is not connected; cannot join #x now",
    )));
    assert_eq!(app.convs.len(), 1);
    let last = app.selected().lines().back().expect("line");
    assert_eq!(last.kind, LineKind::Error);
    // A list that comes anyway (the join went through later) opens it, unselected.
    joined(&mut app, "x", &[("alice", true)]);
    assert_eq!(app.convs.len(), 2);
    assert_eq!(app.selected().id, ConvId::Status);
}

#[test]
fn status_lines_count_as_unread_and_a_key_change_rings() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", &[("alice", true)]);
    app.update(Action::SelectConv(1));
    app.update(Action::Node(Event::Tracker {
        status: TrackerStatus::Disconnected,
        tracker: "t".into(),
    }));
    assert_eq!(conv(&app, &ConvId::Status).unread, 1);
    assert!(!conv(&app, &ConvId::Status).mention);
    let key = |n| natter_protocol::Identity::from_secrets(&[n; 32], &[2; 32]).public_key();
    let effects = app.update(Action::Node(Event::KeyChanged {
        name: name("bob"),
        pinned: key(1),
        presented: key(3),
    }));
    assert_eq!(effects, vec![Effect::Bell]);
    let status = conv(&app, &ConvId::Status);
    assert_eq!((status.unread, status.mention), (2, true));
    app.update(Action::SelectConv(0));
    let status = conv(&app, &ConvId::Status);
    assert_eq!((status.unread, status.mention), (0, false));
}

/// Our private message `seq` (`alice/seq`) to `to`, as the node announces it.
fn sending(seq: u64, to: &str, text: &str) -> Event {
    Event::Sending {
        id: id("alice", seq),
        to: Some(to.into()),
        group: None,
        text: text.into(),
        sent_at: 0,
        reply_to: None,
    }
}

/// Our message `seq` reached bob.
fn delivered_to_bob(seq: u64) -> Event {
    Event::Sent {
        id: id("alice", seq),
        delivered: vec!["bob".into()],
        failed: vec![],
        pending: vec![],
    }
}

fn own_marks(app: &App, id: &ConvId) -> Vec<(String, Delivery)> {
    conv(app, id)
        .lines()
        .iter()
        .filter_map(|l| match &l.kind {
            LineKind::Message { own: Some(own), .. } => {
                Some((l.text.clone(), own.delivery.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn typed_text_shows_at_once_and_takes_the_nodes_verdict() {
    let mut app = App::new(&info(), 0);
    type_line(&mut app, "/query zed");
    let req = req_of(&type_line(&mut app, "hello?"));
    let zed = ConvId::Peer("zed".into());
    assert_eq!(
        own_marks(&app, &zed),
        vec![("hello?".into(), Delivery::Pending)]
    );
    // An unknown peer: the node refuses at once, with no `sending`.
    let event = error_about(
        About::Peer(name("zed")),
        "unknown peer zed (not in any cached member list, and tracker t is not connected)",
    );
    app.update(Action::Notice(Notice {
        req: Some(req),
        event,
    }));
    assert_eq!(
        own_marks(&app, &zed),
        vec![("hello?".into(), Delivery::Failed(vec!["zed".into()]))]
    );
    // A known one: `sending` claims the typed line (no second copy), `sent` marks it.
    type_line(&mut app, "/query bob");
    let req = req_of(&type_line(&mut app, "hi bob"));
    let event = sending(5, "bob", "hi bob");
    app.update(Action::Notice(Notice {
        req: Some(req),
        event,
    }));
    app.update(Action::Node(delivered_to_bob(5)));
    let bob = ConvId::Peer("bob".into());
    assert_eq!(
        own_marks(&app, &bob),
        vec![("hi bob".into(), Delivery::Delivered)]
    );
    // Offline peers are refused the same way.
    let req = req_of(&type_line(&mut app, "still there?"));
    let event = error_about(About::Peer(name("bob")), "bob is offline");
    app.update(Action::Notice(Notice {
        req: Some(req),
        event,
    }));
    assert_eq!(
        own_marks(&app, &bob)[1],
        ("still there?".into(), Delivery::Failed(vec!["bob".into()]))
    );
}

#[test]
fn text_typed_to_an_address_that_is_a_member_is_marked_where_it_was_typed() {
    let mut app = App::new(&info(), 0);
    // A stranger messaged by address earlier: the conversation is the address's.
    let at = ConvId::Peer("127.0.0.1:4050".into());
    app.update(Action::Node(sending(6, "127.0.0.1:4050", "hello?")));
    let i = app.find(&at).expect("the address's conversation");
    app.select(i);
    let req = req_of(&type_line(&mut app, "hi there"));
    // The node found bob at that address: it announces the message as bob's.
    let event = sending(7, "bob", "hi there");
    app.update(Action::Notice(Notice {
        req: Some(req),
        event,
    }));
    app.update(Action::Node(delivered_to_bob(7)));
    // The typed line took the announcement and the delivery mark; no second copy.
    assert_eq!(
        own_marks(&app, &at),
        vec![
            ("hello?".into(), Delivery::Pending),
            ("hi there".into(), Delivery::Delivered)
        ]
    );
    assert!(app.find(&ConvId::Peer("bob".into())).is_none());
}

#[test]
fn an_error_shows_in_the_conversation_it_is_about() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "g", &[("alice", true)]);
    let status = app.find(&ConvId::Status).expect("status");
    app.select(status);
    app.update(Action::Node(error_about(
        About::Group(group("g")),
        "you are not in #g",
    )));
    let g = app
        .find(&ConvId::Group("g".parse().expect("group")))
        .expect("#g");
    let last = app.convs[g].lines().back().expect("line");
    assert_eq!(last.kind, LineKind::Error);
    assert!(
        app.convs[status]
            .lines()
            .iter()
            .all(|l| l.kind != LineKind::Error)
    );
    // Without a conversation to go to, the selected one shows it.
    app.update(Action::Node(Event::Error {
        code: crate::node::ErrorCode::Io,
        message: "something else".into(),
        about: None,
    }));
    let last = app.selected().lines().back().expect("line");
    assert_eq!(last.text, "something else");
}

#[test]
fn messages_keep_their_ids_ours_once_the_node_announces_them() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "g", &[("alice", true), ("bob", true)]);
    app.update(message("bob", Some("g"), "hello"));
    let g = ConvId::Group(group("g"));
    let ids = |app: &App| -> Vec<Option<MessageId>> {
        conv(app, &g)
            .lines()
            .iter()
            .filter_map(|l| match &l.kind {
                LineKind::Message { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(ids(&app), vec![Some(id("bob", 1))]);
    app.update(Action::SelectConv(1));
    let req = req_of(&type_line(&mut app, "hi bob"));
    assert_eq!(ids(&app)[1], None, "typed, not yet announced");
    let event = Event::Sending {
        id: id("alice", 7),
        to: None,
        group: Some(group("g")),
        text: "hi bob".into(),
        sent_at: 0,
        reply_to: None,
    };
    app.update(Action::Notice(Notice {
        req: Some(req),
        event,
    }));
    assert_eq!(ids(&app), vec![Some(id("bob", 1)), Some(id("alice", 7))]);
}

#[test]
fn the_help_popup_scrolls_and_closes() {
    let mut app = App::new(&info(), 0);
    app.update(Action::Resize(80, 20));
    type_line(&mut app, "/help");
    let scroll = |app: &App| app.help.as_ref().map(|h| h.scroll);
    assert_eq!(scroll(&app), Some(0));
    app.update(Action::Down);
    assert_eq!(scroll(&app), Some(1));
    app.update(Action::Up);
    app.update(Action::Up);
    assert_eq!(scroll(&app), Some(0));
    app.update(Action::PageDown);
    let page = scroll(&app).unwrap_or_default();
    assert!(page > 1, "{page}");
    app.update(Action::End);
    let last = scroll(&app).unwrap_or_default();
    app.update(Action::PageDown);
    assert_eq!(scroll(&app), Some(last), "no further than the end");
    app.update(Action::Home);
    assert_eq!(scroll(&app), Some(0));
    // Typing and news go on under it; Enter closes it without sending anything.
    app.update(Action::Edit(EditOp::Insert('x')));
    assert_eq!(app.input.text(), "x");
    assert!(app.update(Action::Submit).is_empty());
    assert!(app.help.is_none());
    assert_eq!(app.input.text(), "x");
}

#[test]
fn multi_line_input_is_sent_as_one_message() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", &[("alice", true), ("bob", true)]);
    app.update(Action::SelectConv(1));
    for c in "one".chars() {
        app.update(Action::Edit(EditOp::Insert(c)));
    }
    app.update(Action::Edit(EditOp::Newline));
    app.update(Action::Edit(EditOp::Paste("two\r\nthree".into())));
    // Up and Down move between its lines, not through history.
    app.update(Action::Up);
    assert_eq!(app.input.cursor(), "one\ntwo".len());
    app.update(Action::Down);
    let sent = commands(app.update(Action::Submit));
    assert_eq!(
        sent,
        vec![Some(Command::Send {
            target: Target::Group(group("rust")),
            text: "one\ntwo\nthree".into(),
        })]
    );
}

#[test]
fn the_editor_fills_the_input_and_sends_nothing() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", &[("alice", true)]);
    app.update(Action::Edit(EditOp::Insert('a')));
    assert_eq!(
        app.update(Action::OpenEditor),
        vec![Effect::OpenEditor("a".into())]
    );
    assert!(
        app.update(Action::EditorDone(Ok("from\nthe editor".into())))
            .is_empty()
    );
    assert_eq!(app.input.text(), "from\nthe editor");
    // A failed editor leaves the input as it was and says why.
    app.update(Action::EditorDone(
        Err("the editor \"false\" failed".into()),
    ));
    assert_eq!(app.input.text(), "from\nthe editor");
    let last = app.selected().lines().back().expect("line");
    assert_eq!(last.kind, LineKind::Error);
}
