//! Render tests: draw the app into ratatui's `TestBackend` and read the buffer back.

use natter_protocol::peer::MessageId;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::*;
use crate::node::Event;
use crate::tui::app::Action;
use crate::tui::app::tests::{info, joined, message};
use crate::tui::input::EditOp;
use crate::tui::rows::hanging_indent;

pub(super) fn screen(app: &App, w: u16, h: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    terminal.draw(|f| draw(f, app)).expect("draw");
    let buf = terminal.backend().buffer();
    (0..h)
        .map(|y| {
            let mut row = String::new();
            let mut skip = 0;
            for x in 0..w {
                // A wide character fills its cell and leaves the next one as padding.
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let sym = buf[(x, y)].symbol();
                skip = sym.width().saturating_sub(1);
                row.push_str(sym);
            }
            row
        })
        .collect()
}

pub(super) fn contains(rows: &[String], needle: &str) -> bool {
    rows.iter().any(|r| r.contains(needle))
}

pub(super) fn show(rows: &[String]) -> String {
    rows.join("\n")
}

#[test]
fn first_start_shows_the_welcome() {
    let mut i = info();
    i.join_hint = Some(crate::tui::JoinHint {
        command: "natter --tracker 10.0.0.5:7000 --name NAME".into(),
        local_only: None,
    });
    let app = App::new(&i, 0);
    let rows = screen(&app, 100, 20);
    for needle in [
        "Welcome to natter, alice!",
        "/join #room",
        "/msg NAME text",
        "/help",
        "natter --tracker 10.0.0.5:7000 --name NAME",
        "1 natter",
    ] {
        assert!(
            contains(&rows, needle),
            "{needle:?} missing:\n{}",
            show(&rows)
        );
    }
}

#[test]
fn sidebar_shows_unread_counts_and_mentions() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", &[("alice", true), ("bob", true)]);
    joined(&mut app, "ops", &[("alice", true), ("bob", true)]);
    app.update(Action::SelectConv(0));
    app.update(message("bob", Some("rust"), "one"));
    app.update(message("bob", Some("rust"), "two"));
    app.update(message("bob", Some("ops"), "alice: ping"));
    let rows = screen(&app, 80, 12);
    assert!(rows[0].starts_with("1 natter"), "{}", show(&rows));
    assert!(rows[1].starts_with("2 #rust (2) "), "{}", show(&rows));
    assert!(rows[2].starts_with("3 #ops (1)! "), "{}", show(&rows));
}

#[test]
fn messages_wrap_with_time_sender_and_delivery_marks() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", &[("alice", true), ("bob", true)]);
    app.update(Action::SelectConv(1));
    app.update(message(
        "bob",
        Some("rust"),
        "the quick brown fox jumps over the lazy dog and keeps running far away",
    ));
    let id = MessageId {
        sender: "alice".parse().expect("name"),
        seq: 7,
    };
    app.update(Action::Node(Event::Sending {
        id: id.clone(),
        to: None,
        group: Some("rust".parse().expect("group")),
        text: "hi bob".into(),
        sent_at: 0,
        reply_to: None,
    }));
    let rows = screen(&app, 60, 12);
    let time = clock(0);
    let first = format!("{time} <bob> the quick brown");
    assert!(contains(&rows, &first), "{}", show(&rows));
    assert!(contains(&rows, "running far away"), "{}", show(&rows));
    assert!(contains(&rows, "<alice> hi bob …"), "{}", show(&rows));
    app.update(Action::Node(Event::Sent {
        id,
        delivered: vec!["bob".into()],
        failed: vec![],
        pending: vec![],
    }));
    let rows = screen(&app, 60, 12);
    assert!(contains(&rows, "<alice> hi bob ✓"), "{}", show(&rows));
    assert!(
        contains(&rows, "#rust: 2 members, 2 online"),
        "{}",
        show(&rows)
    );
}

#[test]
fn status_bar_shows_name_address_tracker_and_peers() {
    let mut app = App::new(&info(), 0);
    app.update(Action::Node(Event::Ready {
        name: "alice".parse().expect("name"),
        listen: "127.0.0.1:4000".parse().expect("addr"),
        tracker: "127.0.0.1:7000".into(),
        key: natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key(),
        contract: crate::node::api::CONTRACT_VERSION,
        protocol: natter_protocol::PROTOCOL_VERSION,
    }));
    joined(
        &mut app,
        "rust",
        &[("alice", true), ("bob", true), ("carol", true)],
    );
    app.update(Action::Node(Event::Tracker {
        status: TrackerStatus::Connected,
        tracker: "127.0.0.1:7000".into(),
    }));
    let rows = screen(&app, 120, 10);
    let expected =
        " alice @ 127.0.0.1:4000 | tracker: connected | 2 peers reachable | F2: members | /help";
    assert!(rows[8].starts_with(expected), "{}", show(&rows));
    app.update(Action::Node(Event::Tracker {
        status: TrackerStatus::Disconnected,
        tracker: "127.0.0.1:7000".into(),
    }));
    app.update(Action::Tick(65_000));
    let rows = screen(&app, 120, 10);
    assert!(
        rows[8].contains("tracker: DOWN for 1m05s"),
        "{}",
        show(&rows)
    );
}

#[test]
fn status_bar_shows_where_peers_reach_an_address_bound_to_every_interface() {
    let mut app = App::new(&info(), 0);
    let rows = screen(&app, 120, 10);
    assert!(
        rows[8].starts_with(" alice @ starting… |"),
        "{}",
        show(&rows)
    );
    app.update(Action::Node(Event::Ready {
        name: "alice".parse().expect("name"),
        listen: "0.0.0.0:4000".parse().expect("addr"),
        tracker: "127.0.0.1:7000".into(),
        key: natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key(),
        contract: crate::node::api::CONTRACT_VERSION,
        protocol: natter_protocol::PROTOCOL_VERSION,
    }));
    let rows = screen(&app, 120, 10);
    // `info()` says others name this machine 192.168.1.5.
    assert!(
        rows[8].starts_with(" alice @ 192.168.1.5:4000 | tracker: connecting…"),
        "{}",
        show(&rows)
    );
    assert!(!contains(&rows[8..9], "0.0.0.0"), "{}", show(&rows));
}

#[test]
fn member_pane_lists_members_and_toggles() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", &[("alice", true), ("zed", false)]);
    app.update(Action::SelectConv(1));
    let rows = screen(&app, 100, 10);
    assert!(contains(&rows, "● alice"), "{}", show(&rows));
    assert!(contains(&rows, "○ zed"), "{}", show(&rows));
    app.update(Action::ToggleMembers);
    let rows = screen(&app, 100, 10);
    assert!(!contains(&rows, "○ zed"), "{}", show(&rows));
}

#[test]
fn input_line_shows_prompt_text_and_cursor() {
    let mut app = App::new(&info(), 0);
    for c in "héllo 漢字".chars() {
        app.update(Action::Edit(EditOp::Insert(c)));
    }
    let mut terminal = Terminal::new(TestBackend::new(40, 6)).expect("terminal");
    terminal.draw(|f| draw(f, &app)).expect("draw");
    let rows = screen(&app, 40, 6);
    assert!(
        rows[5].starts_with("[natter] héllo 漢字"),
        "{}",
        show(&rows)
    );
    // "[natter] " is 9 columns, "héllo " 6, "漢字" 4.
    let pos = terminal.get_cursor_position().expect("cursor");
    assert_eq!((pos.x, pos.y), (19, 5));
}

#[test]
fn tiny_terminals_degrade_without_panicking() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "rust", &[("alice", true), ("bob", true)]);
    app.update(Action::SelectConv(1));
    app.update(message(
        "bob",
        Some("rust"),
        "a message far longer than twenty columns",
    ));
    for c in "typing something long".chars() {
        app.update(Action::Edit(EditOp::Insert(c)));
    }
    let rows = screen(&app, 20, 5);
    assert!(
        !contains(&rows, "1 natter"),
        "sidebar hides:\n{}",
        show(&rows)
    );
    assert!(contains(&rows, "columns"), "{}", show(&rows));
    for (w, h) in [
        (1, 1),
        (2, 2),
        (5, 3),
        (20, 1),
        (39, 4),
        (41, 5),
        (61, 7),
        (72, 8),
    ] {
        screen(&app, w, h);
    }
}

#[test]
fn scrollback_renders_only_what_shows() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "flood", &[]);
    app.update(Action::SelectConv(1));
    for i in 0..20_000 {
        app.update(message("bob", Some("flood"), &format!("line {i}")));
    }
    let rows = screen(&app, 80, 24);
    assert!(contains(&rows, "line 19999"), "{}", show(&rows));
    app.update(Action::ScrollTop);
    let rows = screen(&app, 80, 24);
    assert!(contains(&rows, "line 10000"), "{}", show(&rows));
    assert!(contains(&rows, "scrolled up"), "{}", show(&rows));
}

#[test]
fn sidebar_scrolls_to_keep_the_selection_visible() {
    let mut app = App::new(&info(), 0);
    for i in 0..30 {
        joined(&mut app, &format!("g{i}"), &[]);
    }
    app.update(Action::SelectConv(0));
    app.update(Action::PrevConv);
    let rows = screen(&app, 80, 10);
    assert!(contains(&rows, "31 #g29"), "{}", show(&rows));
    assert!(!contains(&rows, "1 natter"), "{}", show(&rows));
}

#[test]
fn help_lines_hang_under_their_description() {
    assert_eq!(hanging_indent("  /join GROUP        join a group"), 21);
    assert_eq!(hanging_indent("Commands:"), 0);
    assert_eq!(hanging_indent("  natter --name X"), 2);
}

/// The message view's rows on a 60x12 screen: sidebar 18 + gap 1, header row 0.
fn view_rows(app: &App) -> Vec<String> {
    screen(app, 60, 12)[1..10]
        .iter()
        .map(|r| r.chars().skip(19).collect::<String>().trim_end().to_owned())
        .collect()
}

/// A group full of messages that each wrap to several rows, every row unique.
fn wrapped_flood(n: usize) -> App {
    let mut app = App::new(&info(), 0);
    app.update(Action::Resize(60, 12));
    joined(&mut app, "flood", &[]);
    app.update(Action::SelectConv(1));
    for k in 0..n {
        let words: Vec<String> = (0..12).map(|j| format!("k{k}w{j}")).collect();
        app.update(message("bob", Some("flood"), &words.join(" ")));
    }
    app
}

#[test]
fn page_keys_move_by_screen_rows_through_wrapped_messages() {
    let mut app = wrapped_flood(30);
    let bottom = view_rows(&app);
    assert!(bottom[8].contains("k29w11"), "{}", show(&bottom));
    let mut pages = vec![bottom];
    for _ in 0..4 {
        app.update(Action::PageUp);
        pages.push(view_rows(&app));
    }
    // Each page ends with the row that began the page below it: nothing skipped.
    for pair in pages.windows(2) {
        let (below, above) = (&pair[0], &pair[1]);
        assert_eq!(above[8], below[0], "\n{}\n--\n{}", show(above), show(below));
        assert_ne!(above, below);
    }
    for page in pages.iter().rev().skip(1) {
        app.update(Action::PageDown);
        assert_eq!(&view_rows(&app), page);
    }
    assert_eq!(app.selected().scroll, None, "back at the bottom: following");
}

#[test]
fn a_scrolled_view_holds_still_while_the_cap_drops_lines() {
    let mut app = wrapped_flood(crate::tui::conversation::SCROLLBACK);
    app.update(Action::PageUp);
    app.update(Action::PageUp);
    let before = view_rows(&app);
    for k in 0..100 {
        app.update(message("bob", Some("flood"), &format!("new {k}")));
    }
    assert_eq!(view_rows(&app), before);
    let header = &screen(&app, 60, 12)[0];
    assert!(header.contains("[scrolled u"), "{header}");
}

#[test]
fn a_message_to_nobody_is_marked_apart_and_one_member_is_singular() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "solo", &[("alice", true)]);
    app.update(Action::SelectConv(1));
    let id = MessageId {
        sender: "alice".parse().expect("name"),
        seq: 1,
    };
    app.update(Action::Node(Event::Sending {
        id: id.clone(),
        to: None,
        group: Some("solo".parse().expect("group")),
        text: "anyone?".into(),
        sent_at: 0,
        reply_to: None,
    }));
    app.update(Action::Node(Event::Sent {
        id,
        delivered: vec![],
        failed: vec![],
        pending: vec![],
    }));
    let rows = screen(&app, 80, 12);
    assert!(
        contains(&rows, "<alice> anyone? – nobody else here"),
        "{}",
        show(&rows)
    );
    assert!(!contains(&rows, "✓"), "{}", show(&rows));
    assert!(
        contains(&rows, "#solo: 1 member, 1 online"),
        "{}",
        show(&rows)
    );
}

#[test]
fn help_is_a_popup_that_scrolls_and_closes() {
    let mut app = App::new(&info(), 0);
    app.update(Action::Resize(100, 20));
    type_line(&mut app, "/help");
    let rows = screen(&app, 100, 20);
    assert!(contains(&rows, "help: Esc closes"), "{}", show(&rows));
    assert!(contains(&rows, "Commands:"), "{}", show(&rows));
    assert!(contains(&rows, "/join GROUP"), "{}", show(&rows));
    assert!(contains(&rows, "↓ more"), "{}", show(&rows));
    // PgDn reads on, a page at a time, to the end of the help.
    let mut pages_to = |text: &str| {
        (0..20).find(|_| {
            app.update(Action::PageDown);
            contains(&screen(&app, 100, 20), text)
        })
    };
    assert!(pages_to("Delete, Ctrl-D").is_some(), "the keys");
    assert!(pages_to("Plain text goes").is_some(), "the end");
    // Esc closes it, and the conversation underneath is as it was.
    app.update(Action::Escape);
    let rows = screen(&app, 100, 20);
    assert!(!contains(&rows, "help: Esc closes"), "{}", show(&rows));
    assert!(contains(&rows, "Welcome to natter"), "{}", show(&rows));
    assert!(!contains(&rows, "Commands:"), "{}", show(&rows));
}

#[test]
fn the_help_popup_wraps_long_descriptions_rather_than_cutting_them() {
    // At 80x24 most descriptions are wider than the popup: each goes on under its start.
    let mut app = App::new(&info(), 0);
    app.update(Action::Resize(80, 24));
    type_line(&mut app, "/help");
    let area = crate::tui::app::help_popup::popup_area(ratatui::layout::Rect::new(0, 0, 80, 24));
    let (x, w) = (usize::from(area.x) + 1, usize::from(area.width) - 2);
    let (top, bottom) = (usize::from(area.y) + 1, usize::from(area.bottom()) - 1);
    let inside = |app: &App| -> Vec<String> {
        let rows = screen(app, 80, 24);
        for row in &rows[top..bottom] {
            assert!(
                !row.chars().skip(x).take(w).any(|c| c == '…'),
                "cut: {}",
                show(&rows)
            );
        }
        rows[top..bottom]
            .iter()
            .map(|r| r.chars().skip(x).take(w).collect())
            .collect()
    };
    // The first page, then the row each Down brings in, to the end.
    let mut seen = inside(&app).join(" ");
    for _ in 0..500 {
        let before = app.help.clone();
        app.update(Action::Down);
        if app.help == before {
            break;
        }
        seen.push(' ');
        seen.push_str(inside(&app).last().map_or("", String::as_str));
    }
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let seen = words(&seen).join(" ");
    for (_, what) in crate::command::COMMANDS {
        assert!(seen.contains(&words(what).join(" ")), "{what:?} not whole");
    }
    assert!(seen.contains("Plain text goes"), "the end");
}

#[test]
fn a_multi_line_message_is_indented_under_its_sender() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "g", &[("alice", true), ("bob", true)]);
    app.update(Action::SelectConv(1));
    app.update(message(
        "bob",
        Some("g"),
        "first line\nsecond\n\u{1b}[2Jthird",
    ));
    let rows = view_rows(&app);
    let at = rows
        .iter()
        .position(|r| r.ends_with("<bob> first line"))
        .unwrap_or_else(|| panic!("{}", show(&rows)));
    let indent = rows[at].find("first").expect("text");
    assert_eq!(rows[at + 1], format!("{}second", " ".repeat(indent)));
    // The escape is shown as a space, never sent to the terminal.
    assert_eq!(rows[at + 2], format!("{} [2Jthird", " ".repeat(indent)));
    drawn_as_fresh(&app, 60, 12);
}

#[test]
fn the_input_box_grows_with_its_lines_then_scrolls() {
    let mut app = App::new(&info(), 0);
    joined(&mut app, "g", &[("alice", true)]);
    app.update(Action::SelectConv(1));
    app.update(Action::Edit(EditOp::Paste("one\ntwo\nthree".into())));
    let rows = screen(&app, 60, 20);
    assert_eq!(rows[17].trim_end(), "[#g] one", "{}", show(&rows));
    assert_eq!(rows[18].trim_end(), "     two", "{}", show(&rows));
    assert_eq!(rows[19].trim_end(), "     three", "{}", show(&rows));
    assert!(
        rows[16].contains("tracker:"),
        "the status bar moved up: {}",
        show(&rows)
    );
    // More lines than the box holds: it keeps the cursor's line in sight.
    app.update(Action::Edit(EditOp::Paste(
        "\nfour\nfive\nsix\nseven".into(),
    )));
    let rows = screen(&app, 60, 20);
    let input = &rows[20 - crate::tui::input::MAX_INPUT_ROWS..];
    assert_eq!(
        input.last().map(|r| r.trim_end()),
        Some("     seven"),
        "{}",
        show(&rows)
    );
    assert!(!contains(input, "one"), "{}", show(&rows));
}

/// The screen as the same app with nothing memoised draws it.
fn fresh_screen(app: &App, w: u16, h: u16) -> Vec<String> {
    let mut fresh = app.clone();
    fresh.rows = crate::tui::memo::RowMemo::default();
    screen(&fresh, w, h)
}

/// Draws `app` and checks the screen against a drawing from nothing memoised.
fn drawn_as_fresh(app: &App, w: u16, h: u16) {
    let rows = screen(app, w, h);
    assert_eq!(rows, fresh_screen(app, w, h), "\n{}", show(&rows));
}

fn type_line(app: &mut App, s: &str) {
    for c in s.chars() {
        app.update(Action::Edit(EditOp::Insert(c)));
    }
    app.update(Action::Submit);
}

#[test]
fn memoised_rows_never_go_stale() {
    let mut app = wrapped_flood(40);
    drawn_as_fresh(&app, 60, 12);
    assert!(!app.rows.is_empty(), "the view memoises its rows");
    // A resize lays every line out again.
    app.update(Action::Resize(45, 12));
    drawn_as_fresh(&app, 45, 12);
    app.update(Action::Resize(60, 12));
    drawn_as_fresh(&app, 60, 12);
    // New lines, and one of ours whose mark changes after it was drawn.
    let id = MessageId {
        sender: "alice".parse().expect("name"),
        seq: 7,
    };
    app.update(Action::Node(Event::Sending {
        id: id.clone(),
        to: None,
        group: Some("flood".parse().expect("group")),
        text: "mine".into(),
        sent_at: 0,
        reply_to: None,
    }));
    drawn_as_fresh(&app, 60, 12);
    app.update(Action::Node(Event::Sent {
        id,
        delivered: vec!["bob".into()],
        failed: vec![],
        pending: vec![],
    }));
    drawn_as_fresh(&app, 60, 12);
    assert!(contains(&screen(&app, 60, 12), "mine ✓"));
    app.update(Action::PageUp);
    drawn_as_fresh(&app, 60, 12);
    app.update(Action::ScrollBottom);
    // Another conversation's lines have the same sequence numbers.
    joined(&mut app, "other", &[]);
    app.update(message("carol", Some("other"), "hello from the other side"));
    app.update(Action::SelectConv(2));
    drawn_as_fresh(&app, 60, 12);
    app.update(Action::SelectConv(1));
    drawn_as_fresh(&app, 60, 12);
    // Cleared: new lines take numbers the memo has seen.
    type_line(&mut app, "/clear");
    app.update(message("bob", Some("flood"), "after the clear"));
    drawn_as_fresh(&app, 60, 12);
    // Drawn twice the same: the memo holds the lines of one screen and no more.
    screen(&app, 60, 12);
    assert!(app.rows.len() <= 9, "{:?}", app.rows);
}
