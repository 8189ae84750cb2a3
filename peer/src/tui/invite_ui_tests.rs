//! Render tests of the invite band: the link on a row of its own, the full width of the
//! screen, above the sidebar; `/invite-link` shows it anywhere and copies it.

use natter_protocol::PublicKey;

use super::tests::{contains, screen, show};
use crate::invite::Invite;
use crate::tui::app::tests::{info, joined};
use crate::tui::app::{Action, App, Effect};
use crate::tui::input::EditOp;
use crate::tui::invite_band::LABEL;

fn key() -> PublicKey {
    natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key()
}

fn with_invite() -> App {
    let mut i = info();
    i.join_hint = Some(crate::tui::JoinHint {
        command: "natter --name <THEIR-NAME> --tracker 192.168.1.5:7700 --tracker-key K".into(),
        local_only: None,
    });
    i.invite = Some(Invite {
        tracker: "192.168.1.5:7700".into(),
        key: key(),
        group: None,
    });
    App::new(&i, 0)
}

/// Types and submits `s`; the clipboard effects it caused.
fn type_line(app: &mut App, s: &str) -> Vec<Effect> {
    for c in s.chars() {
        app.update(Action::Edit(EditOp::Insert(c)));
    }
    app.update(Action::Submit)
        .into_iter()
        .filter(|e| matches!(e, Effect::Clipboard(_)))
        .collect()
}

#[test]
fn the_welcome_shows_the_invite_alone_on_a_full_width_row() {
    let app = with_invite();
    let link = format!("natter://192.168.1.5:7700?key={}", key());
    let rows = screen(&app, 100, 24);
    // Its own row, from the first column, nothing else on it: no sidebar border, no wrap.
    assert_eq!(rows[1].trim_end(), link, "{}", show(&rows));
    assert!(
        rows[0].starts_with("Invite: a friend runs"),
        "{}",
        show(&rows)
    );
    // The sidebar and the welcome start below it.
    assert!(rows[2].contains("1 natter"), "{}", show(&rows));
    assert!(contains(&rows, "natter --join INVITE"), "{}", show(&rows));
    // The long command, which wraps in the message view, gives way to the invite.
    assert!(!contains(&rows, "--tracker-key"), "{}", show(&rows));

    // Narrower than the link: cut at the full width, still nothing else on those rows.
    let rows = screen(&app, 60, 24);
    let joined_rows: String = rows[1..3].concat();
    assert!(joined_rows.starts_with(&link), "{}", show(&rows));
    assert!(
        !rows[1].contains('│') && !rows[2].contains('│'),
        "{}",
        show(&rows)
    );
}

#[test]
fn at_80_columns_the_label_is_whole_words() {
    // The full label is 87 columns: at 80 it gives way to a shorter one, never cut.
    let app = with_invite();
    for width in [80, 40, 20] {
        let rows = screen(&app, width, 24);
        let label = rows[0].trim_end();
        assert!(label.starts_with("Invite"), "{}", show(&rows));
        assert!(
            label.ends_with("(/invite-link copies it)")
                || label.ends_with("copies it):")
                || label == "Invite:",
            "{}",
            show(&rows)
        );
    }
    let rows = screen(&app, 80, 24);
    assert!(rows[0].contains("natter --join INVITE"), "{}", show(&rows));
}

#[test]
fn without_a_known_key_there_is_no_band() {
    let app = App::new(&info(), 0);
    let rows = screen(&app, 100, 24);
    assert!(!contains(&rows, "natter://"), "{}", show(&rows));
    assert!(!contains(&rows, LABEL), "{}", show(&rows));
}

#[test]
fn the_band_leaves_a_conversation_and_invite_link_brings_it_back_with_the_group() {
    let mut app = with_invite();
    joined(&mut app, "room", &[("alice", true)]);
    app.update(Action::SelectConv(1));
    let rows = screen(&app, 100, 24);
    assert!(!contains(&rows, "natter://"), "{}", show(&rows));

    let effects = type_line(&mut app, "/invite-link");
    let link = format!("natter://192.168.1.5:7700?key={}&group=room", key());
    assert_eq!(effects, vec![Effect::Clipboard(link.clone())]);
    let rows = screen(&app, 100, 24);
    assert_eq!(rows[1].trim_end(), link, "{}", show(&rows));
    assert!(contains(&rows, "copied the invite"), "{}", show(&rows));

    // Esc puts it away.
    app.update(Action::Escape);
    let rows = screen(&app, 100, 24);
    assert!(!contains(&rows, "natter://"), "{}", show(&rows));
}

#[test]
fn invite_link_without_a_key_says_why() {
    let mut app = App::new(&info(), 0);
    let effects = type_line(&mut app, "/invite-link");
    assert!(effects.is_empty(), "{effects:?}");
    let rows = screen(&app, 100, 24);
    assert!(contains(&rows, "no invite"), "{}", show(&rows));
}

#[test]
fn the_screen_never_shows_the_bound_any_address() {
    let mut app = App::new(&info(), 0);
    app.update(Action::Node(crate::node::Event::Ready {
        name: "alice".parse().expect("name"),
        listen: "0.0.0.0:4000".parse().expect("addr"),
        tracker: "127.0.0.1:7000".into(),
        key: key(),
        contract: crate::node::api::CONTRACT_VERSION,
        protocol: natter_protocol::PROTOCOL_VERSION,
    }));
    let rows = screen(&app, 120, 12);
    assert!(!contains(&rows, "0.0.0.0"), "{}", show(&rows));
    assert!(
        contains(&rows, "reached at 192.168.1.5:4000"),
        "{}",
        show(&rows)
    );
}
