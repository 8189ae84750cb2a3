//! Render tests of the search and mentions views and of the hotlist in the status bar.

use super::tests::{contains, screen, show};
use super::*;
use crate::node::Event;
use crate::tui::app::Action;
use crate::tui::app::found_tests::{found, msg, search_answer};
use crate::tui::app::tests::{info, joined};

#[test]
fn the_search_view_lists_conversation_time_sender_and_text() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "ops", &[("alice", true), ("bob", true)]);
    let mut long = found("carol/4", Some("ops"), "a very long text");
    long.snippet = Some("…the deploy part…".into());
    app.update(search_answer(vec![
        found("bob/3", Some("ops"), "deploy now\nplease"),
        long,
        found("dan/2", None, "deploy?"),
    ]));
    app.update(Action::Down);
    let rows = screen(&app, 100, 16);
    let text = show(&rows);
    assert!(
        contains(&rows, "search deploy (3): ↑↓ Enter jumps, Esc closes"),
        "{text}"
    );
    let row_of = |needle: &str| {
        rows.iter()
            .position(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} missing:\n{text}"))
    };
    let bob = row_of("bob: deploy now please");
    let carol = row_of("carol: …the deploy part…");
    let dan = row_of("dan: deploy?");
    assert!(bob < carol && carol < dan, "{text}");
    // Each row starts with the conversation: `#ops`, or the peer of a private one.
    let time = crate::tui::rows::clock(0);
    assert!(rows[bob].contains(&format!("#ops {time} bob:")), "{text}");
    assert!(rows[dan].contains(&format!("dan  {time} dan:")), "{text}");
    // Padded to the widest conversation, so the times line up.
    let at = |row: usize, needle: &str| rows[row].find(needle).expect("time");
    assert_eq!(at(bob, &time), at(dan, &time), "{text}");
    // The highlighted row is reversed.
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 16)).expect("terminal");
    terminal.draw(|f| draw(f, &app)).expect("draw");
    let buf = terminal.backend().buffer();
    let x = u16::try_from(rows[carol].find("carol").expect("carol")).expect("x");
    let y = u16::try_from(carol).expect("y");
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
    let y = u16::try_from(bob).expect("y");
    let x = u16::try_from(rows[bob].find("bob:").expect("bob")).expect("x");
    assert!(!buf[(x, y)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn the_mentions_view_keeps_the_highlight_in_sight() {
    let mut app = App::new(&info(), 0);
    let items = (1..=30)
        .map(|i| found(&format!("bob/{i}"), Some("ops"), &format!("alice #{i}")))
        .collect();
    app.update(Action::Node(Event::Mentions { messages: items }));
    for _ in 0..25 {
        app.update(Action::Down);
    }
    let rows = screen(&app, 80, 14);
    let text = show(&rows);
    assert!(
        contains(&rows, "unread mentions and private messages (30)"),
        "{text}"
    );
    assert!(contains(&rows, "bob: alice #26"), "{text}");
    assert!(!contains(&rows, "bob: alice #1 "), "{text}");
    app.update(Action::Escape);
    let rows = screen(&app, 80, 14);
    assert!(!contains(&rows, "unread mentions"), "{}", show(&rows));
}

#[test]
fn the_status_bar_shows_the_hotlist_mentions_first() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "a", &[("alice", true), ("bob", true)]);
    joined(&mut app, "b", &[("alice", true), ("bob", true)]);
    app.update(Action::SelectConv(0));
    app.update(msg("bob/1", Some("b"), "hi @alice", 10));
    app.update(msg("bob/2", Some("a"), "later news", 20));
    let rows = screen(&app, 120, 12);
    assert!(contains(&rows, "[Act: 3!,2]"), "{}", show(&rows));
}
