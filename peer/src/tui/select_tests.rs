//! Tests of selecting a message and acting on it: each key's command, the delete question,
//! the picker, replies and edits typed on the input line.

use super::select::{Compose, Mode};
use super::tests::{info, joined};
use super::*;
use crate::node::api::Action as Act;
use crate::tui::picker::EMOJIS;

fn name(s: &str) -> Name {
    s.parse().expect("name")
}

fn id(sender: &str, seq: u64) -> MessageId {
    MessageId {
        sender: name(sender),
        seq,
    }
}

fn incoming(from: &str, seq: u64, text: &str) -> Action {
    Action::Node(Event::Message {
        id: id(from, seq),
        from: name(from),
        group: Some("rust".parse().expect("group")),
        text: text.into(),
        sent_at: 0,
        verified: true,
        reply_to: None,
    })
}

fn own(seq: u64, text: &str) -> Action {
    Action::Node(Event::Sending {
        id: id("alice", seq),
        to: None,
        group: Some("rust".parse().expect("group")),
        text: text.into(),
        sent_at: 0,
        reply_to: None,
    })
}

/// Alice in #rust (selected) with bob's 1 and 2 and her own 1 between them.
fn chat() -> App {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", &[("alice", true), ("bob", true)]);
    app.update(Action::SelectConv(1));
    app.update(incoming("bob", 1, "first from bob"));
    app.update(own(1, "mine"));
    app.update(incoming("bob", 2, "second from bob"));
    app
}

fn key(app: &mut App, c: char) -> Vec<Effect> {
    app.update(Action::Edit(EditOp::Insert(c)))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        app.update(Action::Edit(EditOp::Insert(c)));
    }
}

/// The `Act` commands among `effects`.
fn acts(effects: Vec<Effect>) -> Vec<(MessageId, Act)> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Node(Request {
                command: Command::Act { id, action },
                ..
            }) => Some((id, action)),
            _ => None,
        })
        .collect()
}

#[test]
fn up_on_an_empty_line_selects_the_newest_message_and_moves() {
    let mut app = chat();
    app.update(Action::Up);
    assert_eq!(app.mode, Mode::Select(id("bob", 2)));
    app.update(Action::Up);
    assert_eq!(app.mode, Mode::Select(id("alice", 1)));
    app.update(Action::Up);
    app.update(Action::Up);
    assert_eq!(app.mode, Mode::Select(id("bob", 1)), "stays at the oldest");
    app.update(Action::Down);
    assert_eq!(app.mode, Mode::Select(id("alice", 1)));
    app.update(Action::Escape);
    assert_eq!(app.mode, Mode::Normal);
    // Past the newest, Down leaves the selection.
    app.update(Action::Up);
    app.update(Action::Down);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn up_while_typing_or_with_nothing_to_select_recalls_input() {
    let mut app = chat();
    typed(&mut app, "hello");
    app.update(Action::Submit);
    typed(&mut app, "draft");
    app.update(Action::Up);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.input.text(), "hello");
    // The status window has no messages: Up recalls.
    let mut app = App::new(&info(), 0);
    typed(&mut app, "/groups");
    app.update(Action::Submit);
    app.update(Action::Up);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.input.text(), "/groups");
}

#[test]
fn a_key_that_is_not_an_action_leaves_the_selection_and_is_typed() {
    // As after /search or /mentions jumped to a message: typing a command must type it,
    // not act on the message (its "e", "a" and Enter were an edit refusal and a 👍).
    let mut app = chat();
    app.update(Action::Up);
    assert_eq!(app.mode, Mode::Select(id("bob", 2)));
    let mut effects = key(&mut app, '/');
    assert_eq!(app.mode, Mode::Normal);
    for c in "search hello".chars() {
        effects.extend(key(&mut app, c));
    }
    assert_eq!(app.input.text(), "/search hello");
    effects.extend(app.update(Action::Submit));
    assert!(acts(effects).is_empty());
}

#[test]
fn switching_conversations_leaves_the_selection() {
    let mut app = chat();
    app.update(Action::Up);
    app.update(Action::NextConv);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn r_replies_to_the_selected_message() {
    let mut app = chat();
    app.update(Action::Up);
    key(&mut app, 'r');
    assert_eq!(app.mode, Mode::Normal);
    let Some(Compose::Reply(quote)) = &app.compose else {
        panic!("a reply is being composed: {:?}", app.compose);
    };
    assert_eq!(quote.to, id("bob", 2));
    assert_eq!(
        quote.original,
        Some(("bob".to_owned(), "second from bob".to_owned()))
    );
    typed(&mut app, "agreed");
    let effects = app.update(Action::Submit);
    assert_eq!(
        acts(effects),
        vec![(id("bob", 2), Act::Reply("agreed".into()))]
    );
    assert_eq!(app.compose, None);
    // The reply shows at once with its quote.
    let last = app.selected().lines().back().expect("a line");
    assert_eq!(last.text, "agreed");
    let LineKind::Message { extra, .. } = &last.kind else {
        panic!("a message");
    };
    assert_eq!(
        extra.reply.as_ref().map(|q| q.to.clone()),
        Some(id("bob", 2))
    );
}

#[test]
fn e_edits_own_messages_only() {
    let mut app = chat();
    app.update(Action::Up);
    key(&mut app, 'e');
    assert_eq!(app.compose, None, "bob's message is not ours");
    assert_eq!(app.input.text(), "");
    app.update(Action::Up);
    assert_eq!(app.mode, Mode::Select(id("alice", 1)));
    key(&mut app, 'e');
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.compose, Some(Compose::Edit(id("alice", 1))));
    assert_eq!(app.input.text(), "mine");
    typed(&mut app, " (fixed)");
    let effects = app.update(Action::Submit);
    assert_eq!(
        acts(effects),
        vec![(id("alice", 1), Act::Edit("mine (fixed)".into()))]
    );
}

#[test]
fn esc_gives_up_an_edit_and_its_text() {
    let mut app = chat();
    app.update(Action::Up);
    app.update(Action::Up);
    key(&mut app, 'e');
    app.update(Action::Escape);
    assert_eq!(app.compose, None);
    assert_eq!(app.input.text(), "");
}

#[test]
fn d_asks_before_deleting() {
    let mut app = chat();
    app.update(Action::Up);
    app.update(Action::Up);
    assert!(acts(key(&mut app, 'd')).is_empty());
    assert_eq!(app.mode, Mode::ConfirmDelete(id("alice", 1)));
    // n: nothing deleted, still selected.
    assert!(acts(key(&mut app, 'n')).is_empty());
    assert_eq!(app.mode, Mode::Select(id("alice", 1)));
    key(&mut app, 'd');
    assert_eq!(
        acts(key(&mut app, 'y')),
        vec![(id("alice", 1), Act::Delete)]
    );
    assert_eq!(app.mode, Mode::Normal);
    // Someone else's message cannot be deleted.
    app.update(Action::Up);
    key(&mut app, 'd');
    assert_eq!(app.mode, Mode::Select(id("bob", 2)));
}

#[test]
fn the_picker_reacts_with_arrows_and_enter_or_a_digit() {
    let mut app = chat();
    app.update(Action::Up);
    key(&mut app, '+');
    assert_eq!(
        app.mode,
        Mode::Pick {
            id: id("bob", 2),
            at: 0
        }
    );
    app.update(Action::Edit(EditOp::Right));
    app.update(Action::Edit(EditOp::Right));
    app.update(Action::Edit(EditOp::Left));
    let effects = app.update(Action::Submit);
    assert_eq!(
        acts(effects),
        vec![(id("bob", 2), Act::React(EMOJIS[1].into()))]
    );
    assert_eq!(app.mode, Mode::Normal);
    app.update(Action::Up);
    key(&mut app, 'a');
    assert_eq!(
        acts(key(&mut app, '4')),
        vec![(id("bob", 2), Act::React("🎉".into()))]
    );
    // Esc closes the picker and keeps the selection.
    app.update(Action::Up);
    key(&mut app, '+');
    app.update(Action::Escape);
    assert_eq!(app.mode, Mode::Select(id("bob", 2)));
}

#[test]
fn typed_react_takes_shortcodes() {
    let mut app = chat();
    typed(&mut app, "/react bob/2 :tada:");
    let effects = app.update(Action::Submit);
    assert_eq!(acts(effects), vec![(id("bob", 2), Act::React("🎉".into()))]);
}

#[test]
fn a_deleted_selected_message_ends_the_selection() {
    let mut app = chat();
    app.update(Action::Up);
    app.update(Action::Node(Event::Deleted {
        id: id("bob", 2),
        from: name("bob"),
    }));
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn moving_the_selection_scrolls_it_into_view() {
    let mut app = chat();
    for seq in 3..60 {
        app.update(incoming("bob", seq, &format!("line {seq}")));
    }
    let (_, height) = crate::tui::ui::message_view(&app);
    for _ in 0..40 {
        app.update(Action::Up);
    }
    let Mode::Select(selected) = app.mode.clone() else {
        panic!("selecting: {:?}", app.mode);
    };
    let at = app.selected().position(&selected).expect("in scrollback");
    let (bottom, _) = app.selected().bottom().expect("scrolled up");
    assert!(
        bottom >= at && bottom - at < height,
        "{at} not in view of {bottom}"
    );
    // Back down to the newest: following again.
    for _ in 0..40 {
        app.update(Action::Down);
    }
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.selected().bottom(), None);
}
