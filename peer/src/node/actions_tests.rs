use natter_protocol::testkit::build::identity_for;
use proptest::prelude::*;

use super::*;

fn name(s: &str) -> Name {
    s.parse().expect("name")
}

fn id(s: &str) -> MessageId {
    s.parse().expect("id")
}

struct Action {
    author: PublicKey,
    name: Name,
    seq: u64,
    body: Body,
}

fn bob() -> (PublicKey, Name) {
    (identity_for("bob").public_key(), name("bob"))
}

fn carol() -> (PublicKey, Name) {
    (identity_for("carol").public_key(), name("carol"))
}

fn edit(seq: u64, text: &str) -> Action {
    let (author, name) = bob();
    let body = Body::Edit {
        target: id("bob/1"),
        text: text.into(),
    };
    Action {
        author,
        name,
        seq,
        body,
    }
}

fn delete(seq: u64) -> Action {
    let (author, name) = bob();
    let body = Body::Delete {
        target: id("bob/1"),
    };
    Action {
        author,
        name,
        seq,
        body,
    }
}

fn react(who: (PublicKey, Name), seq: u64, emoji: &str, on: bool) -> Action {
    let body = Body::React {
        target: id("bob/1"),
        emoji: emoji.into(),
        on,
    };
    Action {
        author: who.0,
        name: who.1,
        seq,
        body,
    }
}

/// The state of bob/1 ("hello") after `actions`, in that order.
fn run(actions: &[&Action]) -> (MessageState, Vec<Effect>) {
    let mut state = MessageState {
        text: "hello".into(),
        ..MessageState::default()
    };
    let mut effects = Vec::new();
    for a in actions {
        let act = Act {
            author: &a.author,
            name: &a.name,
            seq: a.seq,
            sent_at: 1000 + a.seq,
            body: &a.body,
        };
        effects.extend(apply(&mut state, &id("bob/1"), &bob().0, act));
    }
    (state, effects)
}

#[test]
fn the_later_edit_wins_in_either_order() {
    let (first, second) = (edit(2, "one"), edit(3, "two"));
    let (in_order, effects) = run(&[&first, &second]);
    assert_eq!(in_order.text, "two");
    assert_eq!(in_order.edited_at, Some(1003));
    assert_eq!(effects.len(), 2);
    let (reversed, effects) = run(&[&second, &first]);
    assert_eq!(reversed, in_order);
    assert_eq!(
        effects.len(),
        1,
        "the stale edit changes nothing: {effects:?}"
    );
}

#[test]
fn nothing_edits_a_deleted_message_back_to_life() {
    let (state, effects) = run(&[&delete(3), &edit(4, "back")]);
    assert!(state.deleted);
    assert_eq!(state.text, "");
    assert_eq!(
        effects,
        vec![Effect::Deleted {
            id: id("bob/1"),
            from: name("bob")
        }]
    );
    let (state, _) = run(&[&edit(2, "before"), &delete(3)]);
    assert!(state.deleted);
    assert_eq!(state.text, "", "the delete erases the edited text too");
}

#[test]
fn only_the_author_edits_or_deletes() {
    let (author, who) = carol();
    let forged_edit = Action {
        author,
        name: who.clone(),
        seq: 9,
        body: Body::Edit {
            target: id("bob/1"),
            text: "forged".into(),
        },
    };
    let forged_delete = Action {
        author,
        name: who,
        seq: 10,
        body: Body::Delete {
            target: id("bob/1"),
        },
    };
    let (state, effects) = run(&[&forged_edit, &forged_delete]);
    assert_eq!(state.text, "hello");
    assert!(!state.deleted);
    assert!(effects.is_empty());
}

#[test]
fn a_reaction_toggles_by_its_latest_seq() {
    let on = react(carol(), 5, "👍", true);
    let off = react(carol(), 6, "👍", false);
    let (state, effects) = run(&[&on, &off]);
    let key = ("👍".to_owned(), carol().0);
    assert!(!state.reactions[&key].on);
    assert_eq!(effects.len(), 2);
    let (reversed, effects) = run(&[&off, &on]);
    assert_eq!(
        reversed, state,
        "the older 'on' does not undo the newer 'off'"
    );
    assert_eq!(effects.len(), 1);
}

fn check(from: &str, seq: u64, body: &Body) -> Result<(), String> {
    let mut message = natter_protocol::testkit::build::chat_message(from, seq, None, "");
    message.body = body.clone();
    check_body(&message)
}

#[test]
fn the_body_checks_refuse_what_no_author_could_mean() {
    let edit_other = Body::Edit {
        target: id("carol/1"),
        text: "x".into(),
    };
    assert!(check("bob", 5, &edit_other).is_err());
    let edit_later = Body::Delete {
        target: id("bob/5"),
    };
    assert!(check("bob", 5, &edit_later).is_err());
    assert!(check("bob", 6, &edit_later).is_ok());
    let long = Body::React {
        target: id("carol/1"),
        emoji: "👍".repeat(20),
        on: true,
    };
    assert!(check("bob", 5, &long).is_err());
    let spaced = Body::React {
        target: id("carol/1"),
        emoji: "a b".into(),
        on: true,
    };
    assert!(check("bob", 5, &spaced).is_err());
    let read_nothing = Body::Read {
        group: None,
        up_to: 0,
    };
    assert!(check("bob", 5, &read_nothing).is_err());
    let mut in_group = natter_protocol::testkit::build::chat_message("bob", 5, Some("g"), "");
    in_group.body = Body::Read {
        group: None,
        up_to: 3,
    };
    assert!(check_body(&in_group).is_err(), "a receipt to a whole group");
}

proptest! {
    /// Whatever order the actions arrive in, every receiver ends in the same state.
    #[test]
    fn the_outcome_does_not_depend_on_arrival_order(
        order in Just((0..8usize).collect::<Vec<_>>()).prop_shuffle(),
        with_delete in any::<bool>(),
    ) {
        let mut actions = vec![
            edit(2, "two"),
            edit(4, "four"),
            edit(7, "seven"),
            react(carol(), 3, "👍", true),
            react(carol(), 8, "👍", false),
            react(bob(), 5, "🎉", true),
            react(carol(), 9, "🎉", true),
        ];
        if with_delete {
            actions.push(delete(6));
        } else {
            actions.push(edit(6, "six"));
        }
        let sorted: Vec<&Action> = actions.iter().collect();
        let shuffled: Vec<&Action> = order.iter().map(|&i| &actions[i]).collect();
        prop_assert_eq!(run(&sorted).0, run(&shuffled).0);
    }
}
