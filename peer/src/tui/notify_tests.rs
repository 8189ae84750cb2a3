//! The notification decisions and the cleaning of what senders chose.

use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn note(title: &str, body: &str) -> Note {
    Note {
        title: title.to_owned(),
        body: body.to_owned(),
    }
}

/// Environment variables, and the escape the terminal they describe shows.
type Case = (&'static [(&'static str, &'static str)], Option<Osc>);

#[test]
fn terminals_are_found_from_their_variables() {
    let cases: &[Case] = &[
        (&[("TERM", "foot")], Some(Osc::Osc777)),
        (&[("TERM", "foot-extra")], Some(Osc::Osc777)),
        (&[("TERM", "rxvt-unicode-256color")], Some(Osc::Osc777)),
        (&[("TERM_PROGRAM", "WezTerm")], Some(Osc::Osc777)),
        (
            &[("WEZTERM_EXECUTABLE", "/usr/bin/wezterm-gui")],
            Some(Osc::Osc777),
        ),
        (&[("TERM_PROGRAM", "ghostty")], Some(Osc::Osc777)),
        (&[("TERM", "xterm-kitty")], Some(Osc::Osc9)),
        (&[("KITTY_WINDOW_ID", "1")], Some(Osc::Osc9)),
        (&[("TERM_PROGRAM", "iTerm.app")], Some(Osc::Osc9)),
        (&[("LC_TERMINAL", "iTerm2")], Some(Osc::Osc9)),
        (&[("WT_SESSION", "abc")], Some(Osc::Osc9)),
        (&[("TERM", "xterm-256color")], None),
        (&[("TERM", "alacritty")], None),
        (&[("KITTY_WINDOW_ID", "")], None),
        (&[], None),
    ];
    for (vars, want) in cases {
        assert_eq!(detect(env(vars), false).osc, *want, "{vars:?}");
    }
}

#[test]
fn tmux_keeps_the_outer_terminal_and_screen_is_marked() {
    let t = detect(
        env(&[
            ("TERM", "tmux-256color"),
            ("TERM_PROGRAM", "tmux"),
            ("TMUX", "/tmp/tmux-1000/default,1,0"),
            ("KITTY_WINDOW_ID", "3"),
        ]),
        true,
    );
    assert_eq!(
        t,
        Terminal {
            osc: Some(Osc::Osc9),
            tmux: true,
            screen: false,
            notify_send: true
        }
    );
    let s = detect(env(&[("TERM", "screen.xterm-256color")]), false);
    assert!(s.screen && !s.tmux);
}

#[test]
fn the_bell_rings_unless_off_and_a_notification_only_without_focus() {
    use NotifyMode::*;
    for mode in [Auto, Osc777, Osc9, NotifySend] {
        assert_eq!(
            alert(mode, false),
            Alert {
                bell: true,
                desktop: true
            }
        );
        assert_eq!(
            alert(mode, true),
            Alert {
                bell: true,
                desktop: false
            }
        );
    }
    for focused in [true, false] {
        assert_eq!(
            alert(Bell, focused),
            Alert {
                bell: true,
                desktop: false
            }
        );
        assert_eq!(
            alert(Off, focused),
            Alert {
                bell: false,
                desktop: false
            }
        );
    }
}

#[test]
fn auto_picks_the_terminal_escape_then_notify_send_then_nothing() {
    let n = note("bob (private)", "hi");
    let kitty = Terminal {
        osc: Some(Osc::Osc9),
        notify_send: true,
        ..Terminal::default()
    };
    assert_eq!(
        delivery(&n, NotifyMode::Auto, &kitty),
        Some(Delivery::Escape("\x1b]9;bob (private): hi\x07".to_owned()))
    );
    let foot = Terminal {
        osc: Some(Osc::Osc777),
        ..Terminal::default()
    };
    assert_eq!(
        delivery(&n, NotifyMode::Auto, &foot),
        Some(Delivery::Escape(
            "\x1b]777;notify;bob (private);hi\x07".to_owned()
        ))
    );
    let plain_with_daemon = Terminal {
        notify_send: true,
        ..Terminal::default()
    };
    assert!(matches!(
        delivery(&n, NotifyMode::Auto, &plain_with_daemon),
        Some(Delivery::NotifySend(_))
    ));
    assert_eq!(delivery(&n, NotifyMode::Auto, &Terminal::default()), None);
}

#[test]
fn explicit_modes_are_followed() {
    let n = note("bob", "hi");
    let plain = Terminal::default();
    assert_eq!(
        delivery(&n, NotifyMode::Osc777, &plain),
        Some(Delivery::Escape("\x1b]777;notify;bob;hi\x07".to_owned()))
    );
    assert_eq!(
        delivery(&n, NotifyMode::Osc9, &plain),
        Some(Delivery::Escape("\x1b]9;bob: hi\x07".to_owned()))
    );
    // notify-send is tried even when it was not found (it fails in the log then).
    assert!(matches!(
        delivery(&n, NotifyMode::NotifySend, &plain),
        Some(Delivery::NotifySend(_))
    ));
    for mode in [NotifyMode::Bell, NotifyMode::Off] {
        let all = Terminal {
            osc: Some(Osc::Osc9),
            notify_send: true,
            ..Terminal::default()
        };
        assert_eq!(delivery(&n, mode, &all), None);
    }
}

#[test]
fn screen_gets_no_escape_but_auto_falls_back_to_notify_send() {
    let n = note("bob", "hi");
    let screen = Terminal {
        osc: Some(Osc::Osc9),
        screen: true,
        notify_send: true,
        ..Terminal::default()
    };
    assert_eq!(delivery(&n, NotifyMode::Osc9, &screen), None);
    assert!(matches!(
        delivery(&n, NotifyMode::Auto, &screen),
        Some(Delivery::NotifySend(_))
    ));
}

#[test]
fn tmux_gets_the_passthrough_with_escapes_doubled() {
    let n = note("bob", "hi");
    assert_eq!(
        escape(&n, Osc::Osc9, true),
        "\x1bPtmux;\x1b\x1b]9;bob: hi\x07\x1b\\"
    );
}

/// The sequence holds exactly one `ESC` (its start) and one `BEL` (its end), whatever
/// the sender wrote.
fn assert_one_sequence(seq: &str) {
    assert_eq!(seq.matches('\x1b').count(), 1, "{seq:?}");
    assert_eq!(seq.matches('\x07').count(), 1, "{seq:?}");
    assert!(seq.starts_with("\x1b]") && seq.ends_with('\x07'), "{seq:?}");
    assert!(
        !seq.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)),
        "{seq:?}"
    );
}

#[test]
fn a_message_cannot_break_out_of_the_sequence() {
    let evil = [
        "\x1b]777;notify;fake;pwned\x07",
        "\x07\x1b]0;title\x07",
        "hi\x1b\\\x1b[2J",
        "\u{9b}2J\u{9d}0;x\u{9c}",
        "a;b;c",
    ];
    for text in evil {
        let n = note(&format!("eve{text}"), text);
        for osc in [Osc::Osc777, Osc::Osc9] {
            assert_one_sequence(&escape(&n, osc, false));
        }
        // OSC 777: exactly the four fields it is made of.
        let seq = escape(&n, Osc::Osc777, false);
        assert_eq!(seq.matches(';').count(), 3, "{seq:?}");
        // In tmux: still one wrapped sequence (every inner ESC doubled).
        let wrapped = escape(&n, Osc::Osc9, true);
        let inner = wrapped
            .strip_prefix("\x1bPtmux;")
            .and_then(|s| s.strip_suffix("\x1b\\"))
            .unwrap_or_else(|| panic!("{wrapped:?}"));
        assert_one_sequence(&inner.replace("\x1b\x1b", "\x1b"));
    }
}

#[test]
fn cleaning_keeps_text_and_drops_controls_and_overrides() {
    assert_eq!(clean("héllo 👋", 100, false), "héllo 👋");
    assert_eq!(clean("a\nb\tc\r", 100, false), "a b c ");
    assert_eq!(clean("a\x1b[31mb\x07\x7f\u{85}c", 100, false), "a[31mbc");
    assert_eq!(clean("evil\u{202e}gnp.exe", 100, false), "evilgnp.exe");
    assert_eq!(clean("a;b", 100, true), "a,b");
    assert_eq!(clean("a;b", 100, false), "a;b");
}

#[test]
fn long_text_is_cut_with_an_ellipsis() {
    let long = "x".repeat(1000);
    let cut = clean(&long, MAX_BODY, false);
    assert_eq!(cut.chars().count(), MAX_BODY);
    assert!(cut.ends_with('…'));
    assert_eq!(
        clean(&"y".repeat(MAX_BODY), MAX_BODY, false),
        "y".repeat(MAX_BODY)
    );
    let n = note(&"t".repeat(500), &long);
    let Delivery::Escape(seq) = delivery(&n, NotifyMode::Osc777, &Terminal::default())
        .unwrap_or_else(|| panic!("no delivery"))
    else {
        panic!("not an escape")
    };
    assert!(
        seq.chars().count() < MAX_TITLE + MAX_BODY + 20,
        "{}",
        seq.len()
    );
}

#[test]
fn notify_send_gets_plain_arguments_after_a_double_dash() {
    let args = notify_send_args(&note("-bob", "<a href=\"x\">click</a> & \x1b]0;x"));
    let dash = args
        .iter()
        .position(|a| a == "--")
        .unwrap_or_else(|| panic!());
    assert_eq!(args[dash + 1], "-bob");
    assert_eq!(
        args[dash + 2],
        "&lt;a href=\"x\"&gt;click&lt;/a&gt; &amp; ]0;x"
    );
    assert!(args.iter().all(|a| !a.chars().any(char::is_control)));
}

#[test]
fn a_burst_becomes_one_note() {
    assert_eq!(coalesce(Vec::new()), None);
    assert_eq!(coalesce(vec![note("a", "1")]), Some(note("a", "1")));
    assert_eq!(
        coalesce(vec![note("a", "1"), note("b", "2"), note("c", "3")]),
        Some(note("a", "1 (+2 more)"))
    );
}

#[test]
fn modes_read_from_a_config_file_by_their_flag_names() {
    #[derive(serde::Deserialize)]
    struct C {
        notify: NotifyMode,
    }
    for (text, mode) in [
        ("auto", NotifyMode::Auto),
        ("notify-send", NotifyMode::NotifySend),
        ("osc777", NotifyMode::Osc777),
        ("off", NotifyMode::Off),
    ] {
        let c: C = serde_json::from_str(&format!("{{\"notify\":\"{text}\"}}"))
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(c.notify, mode);
    }
}
