//! Tests of history and of own messages' marks: conversations ask for their past when they
//! open, show it above what is live without duplicates, and follow `sent`, `delivered` and
//! `failed`; unverified senders are marked. App-level (pure) first, then rendered.

use natter_protocol::tracker::Member;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use unicode_width::UnicodeWidthStr;

use super::history::HISTORY_ON_OPEN;
use super::tests::info;
use super::*;
use crate::node::ErrorCode;
use crate::node::api::HistoryItem;
use crate::tui::conversation::{Delivery, SCROLLBACK, day};

/// Noon UTC on day `d` after the epoch: the same local day in every time zone within ±11h.
const fn noon(d: u64) -> u64 {
    (d * 24 + 12) * 3_600_000
}

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

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn state(delivered: &[&str], pending: &[&str], failed: &[&str]) -> DeliveryState {
    DeliveryState {
        delivered: names(delivered),
        pending: names(pending),
        failed: names(failed),
        read: Vec::new(),
    }
}

fn members(app: &mut App, g: &str, who: &[&str]) -> Vec<Effect> {
    let key = natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key();
    let list = who
        .iter()
        .map(|n| Member {
            name: name(n),
            addr: "127.0.0.1:4000".parse().expect("addr"),
            online: true,
            key,
            last_seen: None,
            status: None,
            role: Default::default(),
        })
        .collect();
    app.update(Action::Node(Event::Members {
        group: group(g),
        version: 1,
        members: Some(list),
        change: None,
        owner: None,
        topic: None,
        private: false,
        by: None,
    }))
}

fn incoming(from: &str, seq: u64, g: Option<&str>, text: &str, verified: bool) -> Action {
    Action::Node(Event::Message {
        id: id(from, seq),
        from: name(from),
        group: g.map(group),
        text: text.into(),
        sent_at: noon(0),
        verified,
        reply_to: None,
    })
}

fn item(from: &str, seq: u64, text: &str, at: u64) -> HistoryItem {
    HistoryItem {
        id: id(from, seq),
        from: name(from),
        group: None,
        text: text.into(),
        sent_at: at,
        verified: true,
        to: None,
        delivery: None,
        reply_to: None,
        edited_at: None,
        deleted: false,
        reactions: Vec::new(),
    }
}

fn own_item(seq: u64, text: &str, delivery: DeliveryState) -> HistoryItem {
    HistoryItem {
        delivery: Some(delivery),
        ..item("alice", seq, text, noon(0))
    }
}

fn type_line(app: &mut App, s: &str) -> Vec<Effect> {
    for c in s.chars() {
        app.update(Action::Edit(EditOp::Insert(c)));
    }
    app.update(Action::Submit)
}

/// The history requests among `effects`: their request ids and targets.
fn history_requests(effects: &[Effect]) -> Vec<(RequestId, Target)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Node(Request {
                req: Some(req),
                command: Command::History { target, limit },
            }) => {
                assert_eq!(*limit, HISTORY_ON_OPEN);
                Some((*req, target.clone()))
            }
            _ => None,
        })
        .collect()
}

fn history(req: RequestId, target: About, messages: Vec<HistoryItem>) -> Action {
    Action::Notice(Notice {
        req: Some(req),
        event: Event::History { target, messages },
    })
}

fn conv<'a>(app: &'a App, id: &ConvId) -> &'a Conversation {
    app.convs
        .iter()
        .find(|c| &c.id == id)
        .expect("conversation")
}

fn texts(app: &App, id: &ConvId) -> Vec<String> {
    conv(app, id)
        .lines()
        .iter()
        .map(|l| l.text.clone())
        .collect()
}

/// Our messages in a conversation, with their marks.
fn marks(app: &App, id: &ConvId) -> Vec<(String, Delivery)> {
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

fn sending(app: &mut App, seq: u64, to: Option<&str>, g: Option<&str>, text: &str) {
    app.update(Action::Node(Event::Sending {
        id: id("alice", seq),
        to: to.map(str::to_owned),
        group: g.map(group),
        text: text.into(),
        sent_at: noon(0),
        reply_to: None,
    }));
}

fn sent(app: &mut App, seq: u64, state: DeliveryState) {
    app.update(Action::Node(Event::Sent {
        id: id("alice", seq),
        delivered: state.delivered,
        failed: state.failed,
        pending: state.pending,
    }));
}

#[test]
fn each_new_conversation_asks_for_its_history_once() {
    let mut app = App::new(&info(), 0);
    let rust = Target::Group(group("rust"));
    let asked = history_requests(&members(&mut app, "rust", &["alice", "bob"]));
    assert_eq!(asked.iter().map(|(_, t)| t).collect::<Vec<_>>(), [&rust]);
    // A later full list (an answer to /members) opens nothing new.
    assert!(history_requests(&members(&mut app, "rust", &["alice"])).is_empty());
    let asked = history_requests(&type_line(&mut app, "/query bob"));
    assert_eq!(asked[0].1, Target::Peer(name("bob")));
    assert!(history_requests(&type_line(&mut app, "/query bob")).is_empty());
    // A private message in a new window rings and asks; the next one only rings.
    let effects = app.update(incoming("carol", 1, None, "psst", true));
    assert_eq!(effects[0], Effect::Bell);
    assert_eq!(history_requests(&effects)[0].1, Target::Peer(name("carol")));
    let effects = app.update(incoming("carol", 2, None, "psst", true));
    assert_eq!(effects, vec![Effect::Bell]);
    // A /msg from the status window opens the recipient's window: it asks too.
    app.update(Action::SelectConv(0));
    type_line(&mut app, "/msg dave hi");
    let effects = app.update(Action::Node(Event::Sending {
        id: id("alice", 9),
        to: Some("dave".into()),
        group: None,
        text: "hi".into(),
        sent_at: 0,
        reply_to: None,
    }));
    assert_eq!(history_requests(&effects)[0].1, Target::Peer(name("dave")));
    // A window named by an address asks by address.
    let effects = app.update(Action::Node(Event::Sending {
        id: id("alice", 10),
        to: Some("10.0.0.7:4000".into()),
        group: None,
        text: "hi".into(),
        sent_at: 0,
        reply_to: None,
    }));
    let addr = "10.0.0.7:4000".parse().expect("addr");
    assert_eq!(history_requests(&effects)[0].1, Target::Addr(addr));
    // Request ids stay distinct.
    let mut reqs = std::collections::BTreeSet::new();
    let mut app = App::new(&info(), 0);
    for g in ["a", "b", "c"] {
        reqs.extend(
            history_requests(&members(&mut app, g, &["alice"]))
                .iter()
                .map(|(r, _)| *r),
        );
    }
    assert_eq!(reqs.len(), 3);
}

#[test]
fn history_goes_above_live_lines_oldest_first_without_duplicates() {
    let mut app = App::new(&info(), 0);
    let effects = members(&mut app, "g", &["alice", "bob"]);
    let (req, _) = history_requests(&effects)[0].clone();
    let g = ConvId::Group(group("g"));
    // A message arrives live before the history does; the history holds it too.
    app.update(incoming("bob", 3, Some("g"), "live", true));
    let before = texts(&app, &g);
    assert_eq!(
        before.len(),
        2,
        "the join line and the live message: {before:?}"
    );
    let unread = conv(&app, &g).unread;
    let items = vec![
        item("bob", 1, "first", noon(0)),
        own_item(2, "mine", state(&["bob"], &[], &[])),
        item("bob", 3, "live", noon(0)),
    ];
    app.update(history(req, About::Group(group("g")), items));
    let after = texts(&app, &g);
    assert_eq!(after[..2], ["first", "mine"]);
    assert_eq!(after[2..], before[..], "live lines stay below, once each");
    assert_eq!(marks(&app, &g), vec![("mine".into(), Delivery::Delivered)]);
    // History lines are not unread, and a second answer adds only what is missing.
    assert_eq!(conv(&app, &g).unread, unread);
    let items = vec![
        item("bob", 0, "zeroth", noon(0)),
        item("bob", 1, "first", noon(0)),
    ];
    app.update(history(99, About::Group(group("g")), items));
    let again = texts(&app, &g);
    assert_eq!(again[..3], ["zeroth", "first", "mine"]);
    assert_eq!(again.iter().filter(|t| *t == "first").count(), 1);
}

#[test]
fn a_sent_message_waits_for_pending_members_then_settles() {
    let mut app = App::new(&info(), 0);
    members(&mut app, "g", &["alice", "bob", "carol", "dave"]);
    let g = ConvId::Group(group("g"));
    sending(&mut app, 1, None, Some("g"), "hello all");
    assert_eq!(marks(&app, &g)[0].1, Delivery::Pending);
    sent(&mut app, 1, state(&["bob"], &["carol", "dave"], &[]));
    let waiting = Delivery::Waiting(state(&["bob"], &["carol", "dave"], &[]));
    assert_eq!(marks(&app, &g)[0].1, waiting);
    app.update(Action::Node(Event::Delivered {
        id: id("alice", 1),
        to: name("carol"),
    }));
    let waiting = Delivery::Waiting(state(&["bob", "carol"], &["dave"], &[]));
    assert_eq!(marks(&app, &g)[0].1, waiting);
    // A repeated or stray acknowledgement changes nothing.
    app.update(Action::Node(Event::Delivered {
        id: id("alice", 1),
        to: name("carol"),
    }));
    assert_eq!(marks(&app, &g)[0].1, waiting);
    app.update(Action::Node(Event::Failed {
        id: id("alice", 1),
        to: name("dave"),
        reason: "expired after 30 days".into(),
    }));
    assert_eq!(marks(&app, &g)[0].1, Delivery::Failed(names(&["dave"])));
    let last = conv(&app, &g).lines().back().expect("line").clone();
    assert_eq!(last.kind, LineKind::Error);
    assert!(last.text.contains("\"hello all\""), "{}", last.text);
    assert!(
        last.text.contains("dave: expired after 30 days"),
        "{}",
        last.text
    );
    assert!(app.pending.is_empty(), "settled messages are forgotten");
}

#[test]
fn a_private_message_to_someone_offline_is_delivered_later() {
    let mut app = App::new(&info(), 0);
    type_line(&mut app, "/query bob");
    let req = match type_line(&mut app, "are you there?").as_slice() {
        [Effect::Node(Request { req: Some(req), .. })] => *req,
        other => panic!("one send: {other:?}"),
    };
    app.update(Action::Notice(Notice {
        req: Some(req),
        event: Event::Sending {
            id: id("alice", 4),
            to: Some("bob".into()),
            group: None,
            text: "are you there?".into(),
            sent_at: 0,
            reply_to: None,
        },
    }));
    sent(&mut app, 4, state(&[], &["bob"], &[]));
    let bob = ConvId::Peer("bob".into());
    let waiting = Delivery::Waiting(state(&[], &["bob"], &[]));
    assert_eq!(marks(&app, &bob), vec![("are you there?".into(), waiting)]);
    app.update(Action::Node(Event::Delivered {
        id: id("alice", 4),
        to: name("bob"),
    }));
    assert_eq!(marks(&app, &bob)[0].1, Delivery::Delivered);
    // All at once still works as before.
    sending(&mut app, 5, Some("bob"), None, "again");
    sent(&mut app, 5, state(&["bob"], &[], &[]));
    assert_eq!(marks(&app, &bob)[1].1, Delivery::Delivered);
}

#[test]
fn history_carries_delivery_state_and_takes_later_news() {
    let mut app = App::new(&info(), 0);
    let effects = type_line(&mut app, "/query bob");
    let (req, _) = history_requests(&effects)[0].clone();
    let items = vec![
        own_item(1, "old news", state(&["bob"], &[], &[])),
        own_item(2, "while you were away", state(&[], &["bob"], &[])),
        own_item(3, "never", state(&[], &[], &["bob"])),
    ];
    app.update(history(req, About::Peer(name("bob")), items));
    let bob = ConvId::Peer("bob".into());
    let waiting = Delivery::Waiting(state(&[], &["bob"], &[]));
    assert_eq!(
        marks(&app, &bob),
        vec![
            ("old news".into(), Delivery::Delivered),
            ("while you were away".into(), waiting),
            ("never".into(), Delivery::Failed(names(&["bob"]))),
        ]
    );
    app.update(Action::Node(Event::Delivered {
        id: id("alice", 2),
        to: name("bob"),
    }));
    assert_eq!(marks(&app, &bob)[1].1, Delivery::Delivered);
    // News of a message no window shows goes to the status window, not lost.
    app.update(Action::Node(Event::Failed {
        id: id("alice", 77),
        to: name("bob"),
        reason: "expired".into(),
    }));
    let status = conv(&app, &ConvId::Status).lines().back().expect("line");
    assert!(
        status.text.contains("not delivered to bob: expired"),
        "{}",
        status.text
    );
}

#[test]
fn news_finds_messages_beyond_the_tracked_ones() {
    let mut app = App::new(&info(), 0);
    type_line(&mut app, "/query bob");
    sending(&mut app, 1, Some("bob"), None, "hi");
    sent(&mut app, 1, state(&[], &["bob"], &[]));
    // As if the table of tracked messages had been full.
    app.pending.clear();
    app.update(Action::Node(Event::Delivered {
        id: id("alice", 1),
        to: name("bob"),
    }));
    assert_eq!(
        marks(&app, &ConvId::Peer("bob".into()))[0].1,
        Delivery::Delivered
    );
}

#[test]
fn unverified_senders_are_marked_and_explained_once_per_conversation() {
    let mut app = App::new(&info(), 0);
    app.update(incoming("zed", 1, None, "hi, it's zed", false));
    app.update(incoming("zed", 2, None, "still me", false));
    let zed = ConvId::Peer("zed".into());
    let lines = conv(&app, &zed).lines();
    let flags: Vec<(bool, &str)> = lines
        .iter()
        .filter_map(|l| match &l.kind {
            LineKind::Message { verified, .. } => Some((*verified, l.text.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(flags, vec![(false, "hi, it's zed"), (false, "still me")]);
    let notes: Vec<&Line> = lines
        .iter()
        .filter(|l| l.kind == LineKind::System)
        .collect();
    assert_eq!(notes.len(), 1, "{lines:?}");
    assert!(notes[0].text.contains("<zed?>"), "{}", notes[0].text);
    assert!(notes[0].text.contains("not verified"), "{}", notes[0].text);
    assert_eq!(lines[1].kind, LineKind::System, "right after the first one");
    // In history too, once.
    let effects = members(&mut app, "g", &["alice", "yan"]);
    let (req, _) = history_requests(&effects)[0].clone();
    let unverified = |seq| HistoryItem {
        verified: false,
        ..item("yan", seq, "from history", noon(0))
    };
    app.update(history(
        req,
        About::Group(group("g")),
        vec![unverified(1), unverified(2)],
    ));
    let g = conv(&app, &ConvId::Group(group("g")));
    let kinds: Vec<&LineKind> = g.lines().iter().map(|l| &l.kind).collect();
    assert!(matches!(
        kinds[0],
        LineKind::Message {
            verified: false,
            ..
        }
    ));
    assert_eq!(kinds[1], &LineKind::System);
    assert!(matches!(
        kinds[2],
        LineKind::Message {
            verified: false,
            ..
        }
    ));
    assert!(g.unverified_noted);
    // Verified messages carry no mark.
    app.update(incoming("yan", 3, Some("g"), "now checked", true));
    let g = conv(&app, &ConvId::Group(group("g")));
    assert!(matches!(
        g.lines().back().map(|l| &l.kind),
        Some(LineKind::Message { verified: true, .. })
    ));
}

#[test]
fn no_history_for_a_stranger_is_not_an_error_but_a_broken_store_is() {
    let mut app = App::new(&info(), 0);
    let (req, _) = history_requests(&type_line(&mut app, "/query zed"))[0].clone();
    let refusal = |code, message: &str| Event::Error {
        code,
        message: message.into(),
        about: Some(About::Peer(name("zed"))),
    };
    app.update(Action::Notice(Notice {
        req: Some(req),
        event: refusal(ErrorCode::UnknownPeer, "unknown peer zed"),
    }));
    let zed = ConvId::Peer("zed".into());
    assert!(
        conv(&app, &zed).lines().is_empty(),
        "{:?}",
        texts(&app, &zed)
    );
    let (req, _) = history_requests(&type_line(&mut app, "/query yan"))[0].clone();
    app.update(Action::Notice(Notice {
        req: Some(req),
        event: Event::Error {
            code: ErrorCode::StoreFailed,
            message: "natter.db: disk I/O error".into(),
            about: Some(About::Peer(name("yan"))),
        },
    }));
    let last = conv(&app, &ConvId::Peer("yan".into()))
        .lines()
        .back()
        .cloned();
    assert_eq!(last.map(|l| l.kind), Some(LineKind::Error));
    // A typed /history about a stranger still says why.
    let effects = type_line(&mut app, "/history zed");
    let req = match effects.as_slice() {
        [Effect::Node(Request { req: Some(req), .. })] => *req,
        other => panic!("one request: {other:?}"),
    };
    app.update(Action::Notice(Notice {
        req: Some(req),
        event: refusal(ErrorCode::UnknownPeer, "unknown peer zed"),
    }));
    assert_eq!(texts(&app, &zed), ["unknown peer zed"]);
}

#[test]
fn a_typed_history_opens_its_conversation_and_says_what_came() {
    let mut app = App::new(&info(), 0);
    let effects = type_line(&mut app, "/history #old 10");
    let req = match effects.as_slice() {
        [
            Effect::Node(Request {
                req: Some(req),
                command: Command::History { limit: 10, .. },
            }),
        ] => *req,
        other => panic!("one request: {other:?}"),
    };
    let items = vec![item("bob", 1, "back then", noon(0))];
    app.update(history(req, About::Group(group("old")), items));
    let old = ConvId::Group(group("old"));
    assert_eq!(app.selected().id, old);
    let shown = texts(&app, &old);
    assert_eq!(shown[0], "back then");
    assert!(shown[1].contains("1 message, 1 new above"), "{shown:?}");
}

#[test]
fn history_for_a_conversation_left_meanwhile_is_dropped() {
    let mut app = App::new(&info(), 0);
    let (req, _) = history_requests(&members(&mut app, "g", &["alice"]))[0].clone();
    app.update(Action::Node(Event::Left {
        group: group("g"),
        by: None,
        reason: None,
        disbanded: false,
    }));
    app.update(history(
        req,
        About::Group(group("g")),
        vec![item("bob", 1, "x", 0)],
    ));
    assert!(app.find(&ConvId::Group(group("g"))).is_none());
}

#[test]
fn days_are_separated_in_history_and_live() {
    let mut c = Conversation::new(ConvId::Status);
    c.push(Line::system(Some(noon(3)), "live today"));
    let line = |at, text| Line::system(Some(at), text);
    let added = c.insert_history(vec![
        line(noon(1), "monday"),
        line(noon(1) + 60_000, "monday again"),
        line(noon(2), "tuesday"),
    ]);
    assert_eq!(added, 3);
    let starts: Vec<(&str, bool)> = c
        .lines()
        .iter()
        .map(|l| (l.text.as_str(), l.new_day))
        .collect();
    assert_eq!(
        starts,
        [
            ("monday", true),
            ("monday again", false),
            ("tuesday", true),
            ("live today", true)
        ]
    );
    c.push(line(noon(3), "same day"));
    c.push(line(noon(4), "next day"));
    let news: Vec<bool> = c.lines().iter().skip(4).map(|l| l.new_day).collect();
    assert_eq!(news, [false, true]);
    assert_ne!(day(noon(1)), day(noon(2)));
}

#[test]
fn history_keeps_a_scrolled_reader_in_place_and_respects_the_cap() {
    let mut c = Conversation::new(ConvId::Status);
    for i in 0..10 {
        c.push(Line::system(None, format!("live {i}")));
    }
    c.scroll_up(3, 2, |_, _| 1);
    let shown = |c: &Conversation| c.bottom().map(|(i, _)| c.lines()[i].text.clone());
    let before = shown(&c);
    c.insert_history(
        (0..5)
            .map(|i| Line::system(None, format!("old {i}")))
            .collect(),
    );
    assert_eq!(shown(&c), before);
    // Past the cap, only the newest history lines go in.
    let mut c = Conversation::new(ConvId::Status);
    for i in 0..SCROLLBACK - 2 {
        c.push(Line::system(None, format!("live {i}")));
    }
    let added = c.insert_history(
        (0..5)
            .map(|i| Line::system(None, format!("old {i}")))
            .collect(),
    );
    assert_eq!(added, 2);
    assert_eq!(c.lines().len(), SCROLLBACK);
    assert_eq!(c.lines()[0].text, "old 3");
}

#[test]
fn delivery_settles_once_nobody_is_pending() {
    let mut d = Delivery::from_state(state(&["a"], &["b", "c"], &[]));
    assert!(d.is_open());
    assert!(d.reached("b"));
    assert!(!d.reached("b"), "no longer pending");
    assert!(d.gave_up("c"));
    assert_eq!(d, Delivery::Failed(names(&["c"])));
    assert!(!d.is_open());
    assert!(!d.reached("c"), "settled marks stay");
    assert_eq!(Delivery::from_state(state(&[], &[], &[])), Delivery::Nobody);
    assert_eq!(
        Delivery::from_state(state(&["a"], &[], &[])),
        Delivery::Delivered
    );
}

// Rendered.

fn screen(app: &App, w: u16, h: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    terminal.draw(|f| ui::draw(f, app)).expect("draw");
    let buf = terminal.backend().buffer();
    (0..h)
        .map(|y| {
            let mut row = String::new();
            let mut skip = 0;
            for x in 0..w {
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

fn assert_shows(rows: &[String], needle: &str) {
    assert!(
        rows.iter().any(|r| r.contains(needle)),
        "{needle:?} missing:\n{}",
        rows.join("\n")
    );
}

#[test]
fn marks_show_who_is_pending_who_failed_and_who_is_unverified() {
    let mut app = App::new(&info(), noon(0));
    members(&mut app, "g", &["alice", "bob", "carol", "dave"]);
    app.update(Action::SelectConv(1));
    sending(&mut app, 1, None, Some("g"), "hello all");
    let rows = screen(&app, 100, 12);
    assert_shows(&rows, "<alice> hello all …");
    sent(&mut app, 1, state(&[], &["bob", "carol", "dave"], &[]));
    assert_shows(
        &screen(&app, 100, 12),
        "<alice> hello all … pending for bob, carol, dave",
    );
    for who in ["bob", "carol"] {
        app.update(Action::Node(Event::Delivered {
            id: id("alice", 1),
            to: name(who),
        }));
    }
    assert_shows(
        &screen(&app, 100, 12),
        "<alice> hello all ✓ 2/3 … pending for dave",
    );
    app.update(Action::Node(Event::Failed {
        id: id("alice", 1),
        to: name("dave"),
        reason: "expired".into(),
    }));
    let rows = screen(&app, 100, 12);
    assert_shows(&rows, "<alice> hello all ✗ not delivered to dave");
    assert_shows(&rows, "\"hello all\" was not delivered to dave: expired");
    // Many pending names are counted, not listed.
    let many = ["b1", "b2", "b3", "b4", "b5"];
    sending(&mut app, 2, None, Some("g"), "big");
    sent(&mut app, 2, state(&["x"], &many, &[]));
    assert_shows(
        &screen(&app, 100, 12),
        "big ✓ 1/6 … pending for b1, b2, b3 and 2 more",
    );
    app.update(incoming("zed", 1, Some("g"), "trust me", false));
    let rows = screen(&app, 100, 12);
    assert_shows(&rows, "<zed?> trust me");
    assert_shows(&rows, "<zed?>: not verified");
}

#[test]
fn history_renders_under_its_day_with_marks() {
    let mut app = App::new(&info(), noon(5));
    let effects = type_line(&mut app, "/query bob");
    let (req, _) = history_requests(&effects)[0].clone();
    let items = vec![
        item("bob", 1, "long ago", noon(1)),
        HistoryItem {
            sent_at: noon(2),
            ..own_item(1, "queued for you", state(&[], &["bob"], &[]))
        },
    ];
    app.update(history(req, About::Peer(name("bob")), items));
    let rows = screen(&app, 100, 12);
    let sep = |d| format!("-- {} --", ui::date(noon(d)));
    let at = |needle: &str| rows.iter().position(|r| r.contains(needle));
    let first = at(&sep(1)).expect("first day");
    let second = at(&sep(2)).expect("second day");
    assert!(first < at("<bob> long ago").expect("old"), "{rows:#?}");
    assert!(
        second < at("<alice> queued for you … pending for bob").expect("own"),
        "{rows:#?}"
    );
    assert!(at("<bob> long ago") < Some(second));
}

#[test]
fn private_conversations_of_earlier_runs_reopen_with_their_history() {
    let mut app = App::new(&info(), 0);
    let effects = app.update(Action::Node(Event::Conversations {
        peers: vec![name("bob"), name("carol")],
    }));
    let asked: Vec<Target> = history_requests(&effects)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        asked,
        [Target::Peer(name("bob")), Target::Peer(name("carol"))]
    );
    // Opened, not selected: the status window stays in front.
    assert_eq!(app.selected, 0);
    assert_eq!(
        conv(&app, &ConvId::Peer("bob".into())).id,
        ConvId::Peer("bob".into())
    );
}
