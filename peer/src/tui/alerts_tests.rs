//! A private message or a mention rings the bell, and raises a desktop notification only
//! while the terminal does not have focus, as `--notify` allows.

use super::super::tests::{info, joined, message};
use super::super::{Action, App, Effect};
use crate::tui::notify::{Note, NotifyMode};

fn notes(effects: &[Effect]) -> Vec<&Note> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify(note) => Some(note),
            _ => None,
        })
        .collect()
}

fn bells(effects: &[Effect]) -> usize {
    effects.iter().filter(|e| **e == Effect::Bell).count()
}

fn app_in_rust() -> App {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", &[("alice", true), ("bob", true)]);
    app
}

#[test]
fn an_unfocused_private_message_notifies_and_a_focused_one_only_rings() {
    let mut app = app_in_rust();
    let effects = app.update(message("bob", None, "psst"));
    assert_eq!((bells(&effects), notes(&effects).len()), (1, 0));

    app.update(Action::Focus(false));
    let effects = app.update(message("bob", None, "still there?"));
    assert_eq!(bells(&effects), 1);
    assert_eq!(
        notes(&effects),
        vec![&Note {
            title: "bob (private)".into(),
            body: "still there?".into()
        }]
    );

    app.update(Action::Focus(true));
    let effects = app.update(message("bob", None, "back"));
    assert_eq!((bells(&effects), notes(&effects).len()), (1, 0));
}

#[test]
fn an_unfocused_mention_notifies_with_its_group_and_other_talk_does_not() {
    let mut app = app_in_rust();
    app.update(Action::Focus(false));
    let effects = app.update(message("bob", Some("rust"), "lunch, anyone?"));
    assert_eq!((bells(&effects), notes(&effects).len()), (0, 0));
    let effects = app.update(message("bob", Some("rust"), "alice: lunch?"));
    assert_eq!(bells(&effects), 1);
    assert_eq!(
        notes(&effects),
        vec![&Note {
            title: "bob in #rust".into(),
            body: "alice: lunch?".into()
        }]
    );
    app.update(Action::Focus(true));
    let effects = app.update(message("bob", Some("rust"), "alice?"));
    assert_eq!((bells(&effects), notes(&effects).len()), (1, 0));
}

#[test]
fn the_mode_can_keep_the_bell_only_or_silence_both() {
    let mut app = app_in_rust();
    app.update(Action::Focus(false));
    app.notify = NotifyMode::Bell;
    let effects = app.update(message("bob", None, "one"));
    assert_eq!((bells(&effects), notes(&effects).len()), (1, 0));
    app.notify = NotifyMode::Off;
    let effects = app.update(message("bob", None, "two"));
    assert_eq!((bells(&effects), notes(&effects).len()), (0, 0));
    app.notify = NotifyMode::NotifySend;
    let effects = app.update(message("bob", None, "three"));
    assert_eq!((bells(&effects), notes(&effects).len()), (1, 1));
}
