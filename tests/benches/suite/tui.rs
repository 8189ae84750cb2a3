//! The TUI: the time to draw one frame with 10,000 lines of scrollback in the open
//! conversation.
//!
//! The app is driven through its public API the way the TUI drives it (node events and keys
//! in as actions, then `natter::tui::ui::draw` into a terminal), only with ratatui's
//! `TestBackend` in place of the real terminal: a frame's cost is the app's rendering plus
//! ratatui's diff of the new buffer against the last one, without the escape codes written
//! to a tty. The scrollback is a group chat of several people over a week: messages of
//! varied lengths (some wrapping), our own with their delivery marks, members going offline
//! and coming back, and the day separators the app puts in.

use std::time::{Duration, Instant};

use natter::node::{Event, TrackerStatus};
use natter::tui::UiInfo;
use natter::tui::app::{Action, App};
use natter::tui::ui;
use natter_protocol::peer::MessageId;
use natter_protocol::tracker::{Member, MemberChange};
use natter_protocol::{GroupName, Identity, Name};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::report::{Measure, Report, Row};
use crate::stats::Stats;

const SECTION: &str = "tui";
/// Lines of scrollback in the open conversation (the app keeps at most this many).
const SCROLLBACK: usize = 10_000;
/// Frames (or key presses) timed per row, at most.
const FRAMES: usize = 3_000;
/// Untimed frames first.
const WARM_UP: usize = 50;
/// Time cap for one row's loop.
const ROW_BUDGET: Duration = Duration::from_secs(3);
/// A typical terminal, and the smallest one people still use.
const BIG: (u16, u16) = (200, 50);
const SMALL: (u16, u16) = (80, 24);
/// How many pages up the scrolled rows read.
const PAGES_UP: usize = 5;
/// The user.
const ME: &str = "alice";
/// The others who talk in the group.
const SENDERS: [&str; 6] = ["bob", "carol", "dave", "erin", "frank", "grace"];
const GROUP: &str = "rust";
/// Monday 2 June 2025, 08:00 UTC: where the scrollback starts.
const START_MS: u64 = 1_748_851_200_000;
/// The target for a frame (p50), in µs.
const TARGET_US: f64 = 1_000.0;
const TARGET: &str = "< 1 ms (p50)";

pub async fn run(report: &mut Report) {
    let floor = empty_frames(BIG);
    let floor_us = floor.value();
    let label = "empty frame (ratatui alone), 200×50";
    let note = "the terminal's own share: diffing and resetting every cell of the screen";
    report.add(Row::new(SECTION, "frame_empty", label, floor).note(note));

    let base = frames(&mut Scene::new(100, BIG), |_| {});
    let base_us = base.value();
    let label = "frame, 100 lines, 200×50";
    report.add(Row::new(SECTION, "frame_100", label, base).versus("empty frame", floor_us));

    // The headline: a redraw with nothing new (the TUI's tick), following the newest line.
    let m = frames(&mut Scene::new(SCROLLBACK, BIG), |_| {});
    let note = format!("{:.2} × an empty frame", m.value() / floor_us);
    let row = goal_row("frame_10k", "frame, 10k lines, 200×50", m);
    report.add(row.versus("100 lines", base_us).note(note));

    let m = frames(&mut Scene::new(SCROLLBACK, SMALL), |_| {});
    report.add(goal_row("frame_10k_80x24", "frame, 10k lines, 80×24", m));

    // A message arrives before each frame (untimed): the view moves, every row changes.
    let m = frames(&mut Scene::new(SCROLLBACK, BIG), Scene::receive);
    let row = goal_row("frame_10k_new_line", "frame, 10k lines, a message each", m);
    report.add(row.note("the message's update untimed; the whole view is repainted"));

    let mut scene = Scene::new(SCROLLBACK, BIG);
    for _ in 0..PAGES_UP {
        scene.app.update(Action::PageUp);
    }
    assert!(scene.app.selected().scroll.is_some(), "page up scrolls");
    let m = frames(&mut scene, |_| {});
    report.add(goal_row(
        "frame_10k_scrolled",
        "frame, 10k lines, 5 pages up",
        m,
    ));

    let m = paging(&mut Scene::new(SCROLLBACK, BIG));
    let row = Row::new(SECTION, "page_up_10k", "page up + frame, 10k lines", m);
    report.add(row.note("paging back through the whole scrollback: every page is new"));
}

/// A row with the target for a frame.
fn goal_row(key: &str, label: &str, m: Measure) -> Row {
    let met = m.value() < TARGET_US;
    Row::new(SECTION, key, label, m).goal(TARGET, met)
}

/// Draws the scene's frames, `before` (untimed) preparing each, and times the draws.
fn frames(scene: &mut Scene, mut before: impl FnMut(&mut Scene)) -> Measure {
    for _ in 0..WARM_UP {
        before(scene);
        scene.draw();
    }
    let started = Instant::now();
    let mut samples = Vec::with_capacity(FRAMES);
    while samples.len() < FRAMES && started.elapsed() < ROW_BUDGET {
        before(scene);
        let t = Instant::now();
        scene.draw();
        samples.push(t.elapsed());
    }
    Measure::Latency(Stats::new(samples))
}

/// Times frames that draw nothing: what ratatui's terminal costs by itself at `size`.
fn empty_frames((w, h): (u16, u16)) -> Measure {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    for _ in 0..WARM_UP {
        terminal.draw(|_| {}).unwrap();
    }
    let started = Instant::now();
    let mut samples = Vec::with_capacity(FRAMES);
    while samples.len() < FRAMES && started.elapsed() < ROW_BUDGET {
        let t = Instant::now();
        terminal.draw(|_| {}).unwrap();
        samples.push(t.elapsed());
    }
    Measure::Latency(Stats::new(samples))
}

/// Times a key press and the frame after it, paging up from the newest line through the
/// whole scrollback the way a reader goes back through history; at the top, back to the
/// newest (untimed).
fn paging(scene: &mut Scene) -> Measure {
    scene.draw();
    let started = Instant::now();
    let mut samples = Vec::with_capacity(FRAMES);
    while samples.len() < FRAMES && started.elapsed() < ROW_BUDGET {
        let before = scene.app.selected().scroll;
        let t = Instant::now();
        scene.app.update(Action::PageUp);
        scene.draw();
        samples.push(t.elapsed());
        let after = scene.app.selected().scroll;
        assert!(after.is_some(), "page up scrolls");
        if after == before {
            scene.app.update(Action::ScrollBottom);
            scene.draw();
        }
    }
    Measure::Latency(Stats::new(samples))
}

/// An app with a group conversation open, its terminal, and the traffic that fills it.
struct Scene {
    app: App,
    terminal: Terminal<TestBackend>,
    rng: Rng,
    /// The group's clock, in Unix ms.
    now: u64,
    /// Our messages' sequence numbers, and each sender's.
    seq: u64,
    /// Who is offline now.
    offline: Vec<&'static str>,
}

impl Scene {
    /// A scene whose open conversation holds `lines` lines, on a terminal of `size`.
    fn new(lines: usize, (w, h): (u16, u16)) -> Self {
        let info = UiInfo {
            name: name(ME),
            tracker: "192.168.1.20:7700".into(),
            join_hint: None,
            host: "192.168.1.21".into(),
            log_dir: std::env::temp_dir(),
            notify: natter::tui::notify::NotifyMode::Auto,
            invite: None,
        };
        let mut scene = Self {
            app: App::new(&info, START_MS),
            terminal: Terminal::new(TestBackend::new(w, h)).unwrap(),
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            now: START_MS,
            seq: 0,
            offline: Vec::new(),
        };
        scene.start((w, h));
        while scene.app.selected().lines().len() < lines {
            scene.step();
        }
        scene.app.update(Action::Tick(scene.now));
        scene
    }

    /// What the TUI sees first: its size, the node ready, the tracker, then the group joined
    /// and selected.
    fn start(&mut self, (w, h): (u16, u16)) {
        let app = &mut self.app;
        app.update(Action::Resize(w, h));
        app.update(Action::Node(Event::Ready {
            name: name(ME),
            listen: "0.0.0.0:7701".parse().unwrap(),
            tracker: "192.168.1.20:7700".into(),
            key: key(0),
            contract: natter::node::api::CONTRACT_VERSION,
            protocol: natter_protocol::PROTOCOL_VERSION,
        }));
        app.update(Action::Node(Event::Tracker {
            status: TrackerStatus::Connected,
            tracker: "192.168.1.20:7700".into(),
        }));
        let members = std::iter::once(ME)
            .chain(SENDERS)
            .enumerate()
            .map(|(i, n)| member(n, i as u8))
            .collect();
        app.update(Action::Node(Event::Members {
            group: group(),
            version: 1,
            members: Some(members),
            change: None,
            owner: None,
            topic: None,
            private: false,
            by: None,
        }));
        app.update(Action::SelectConv(1));
    }

    fn draw(&mut self) {
        let app = &self.app;
        self.terminal.draw(|f| ui::draw(f, app)).unwrap();
    }

    /// One thing happening in the group, a minute or so after the last.
    fn step(&mut self) {
        self.now += 5_000 + self.rng.below(115_000);
        match self.rng.below(100) {
            0..3 => self.member_change(),
            3..18 => self.send(),
            _ => self.receive(),
        }
    }

    /// A message from one of the others.
    fn receive(&mut self) {
        self.seq += 1;
        let from = SENDERS[self.rng.below(SENDERS.len() as u64) as usize];
        let text = self.text();
        self.app.update(Action::Node(Event::Message {
            id: MessageId {
                sender: name(from),
                seq: self.seq,
            },
            from: name(from),
            group: Some(group()),
            text,
            sent_at: self.now,
            verified: true,
            reply_to: None,
        }));
    }

    /// One of ours, sent from elsewhere (so its line comes from the node's announcement),
    /// then its first delivery report: mostly everyone, sometimes someone still pending.
    fn send(&mut self) {
        self.seq += 1;
        let id = MessageId {
            sender: name(ME),
            seq: self.seq,
        };
        let text = self.text();
        self.app.update(Action::Node(Event::Sending {
            id: id.clone(),
            to: None,
            group: Some(group()),
            text,
            sent_at: self.now,
            reply_to: None,
        }));
        let mut delivered: Vec<String> = SENDERS.iter().map(|s| s.to_string()).collect();
        let pending = match self.rng.below(10) {
            0 => delivered.split_off(4),
            _ => Vec::new(),
        };
        self.app.update(Action::Node(Event::Sent {
            id,
            delivered,
            failed: Vec::new(),
            pending,
        }));
    }

    /// Someone goes offline, or someone offline comes back.
    fn member_change(&mut self) {
        let change = match self.offline.pop() {
            Some(back) if self.rng.below(2) == 0 => MemberChange::Online {
                member: member(back, 1),
            },
            back => {
                self.offline.extend(back);
                let gone = SENDERS[self.rng.below(SENDERS.len() as u64) as usize];
                self.offline.push(gone);
                MemberChange::Offline {
                    name: name(gone),
                    last_seen: None,
                }
            }
        };
        self.app.update(Action::Node(Event::Members {
            group: group(),
            version: self.seq,
            members: None,
            change: Some(change),
            owner: None,
            topic: None,
            private: false,
            by: None,
        }));
    }

    /// A message of varied length: mostly short, some a sentence or two, a few long enough
    /// to wrap on any terminal; now and then it mentions the user.
    fn text(&mut self) -> String {
        let words = match self.rng.below(100) {
            0..45 => 1 + self.rng.below(6),
            45..85 => 6 + self.rng.below(20),
            _ => 26 + self.rng.below(65),
        };
        let mut text = String::new();
        if self.rng.below(20) == 0 {
            text.push_str("alice: ");
        }
        for i in 0..words {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(WORDS[self.rng.below(WORDS.len() as u64) as usize]);
        }
        text
    }
}

/// A vocabulary with some accents, wide characters and an emoji, as chat has.
const WORDS: [&str; 40] = [
    "the",
    "build",
    "is",
    "green",
    "again",
    "did",
    "you",
    "see",
    "that",
    "PR",
    "about",
    "the",
    "borrow",
    "checker",
    "lifetimes",
    "async",
    "runtime",
    "tokio",
    "select",
    "ok",
    "thanks!",
    "lol",
    "merged",
    "café",
    "naïve",
    "日本語",
    "👍",
    "tomorrow",
    "meeting",
    "deploy",
    "rollback",
    "https://example.org/issues/1234",
    "why",
    "not",
    "works",
    "for",
    "me",
    "on",
    "nightly",
    "+1",
];

/// xorshift64: the same scrollback every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

fn group() -> GroupName {
    GROUP.parse().unwrap()
}

fn key(i: u8) -> natter_protocol::PublicKey {
    Identity::from_secrets(&[i + 1; 32], &[i + 2; 32]).public_key()
}

fn member(n: &str, i: u8) -> Member {
    Member {
        name: name(n),
        addr: format!("192.168.1.{}:7701", 30 + i).parse().unwrap(),
        online: true,
        key: key(i),
        last_seen: None,
        status: None,
        role: Default::default(),
    }
}
