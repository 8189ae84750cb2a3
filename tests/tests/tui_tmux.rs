//! The terminal UI end to end: the real `natter` binary inside tmux, against a real
//! tracker and a headless peer. Keys go in with `send-keys`; the screen comes back with
//! `capture-pane`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use util::{Peer, Tracker, WAIT, bin, has_member, temp};

/// One tmux server of our own (its own socket), killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn new(tag: &str) -> Tmux {
        Tmux {
            socket: format!("natter-test-{}-{tag}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env("LANG", "C.UTF-8")
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts `command` in a detached 100x20 session named `s`.
    fn start(&self, command: &str) {
        self.run(&[
            "-u",
            "new-session",
            "-d",
            "-s",
            "s",
            "-x",
            "100",
            "-y",
            "20",
            command,
        ]);
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "s"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-t", "s", "-l", text]);
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "s"]).stdout).into_owned()
    }

    fn display(&self, format: &str) -> String {
        String::from_utf8_lossy(&self.run(&["display", "-p", "-t", "s", format]).stdout)
            .trim()
            .to_owned()
    }

    /// Polls the screen until `pred` holds, or fails showing the last screen.
    fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for the screen to show {what}; it shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_text(&self, text: &str) -> String {
        self.wait_screen(&format!("{text:?}"), |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn natter_command(name: &str, tracker: &str, data_dir: &Path, extra: &str) -> String {
    format!(
        "{} --name {name} --tracker {tracker} --listen 127.0.0.1:0 --data-dir {} {extra}; echo EXIT=$?; sleep 600",
        bin("natter").display(),
        data_dir.display()
    )
}

/// Returns false (and says why) when tmux is missing outside CI; in CI it must be there.
fn tmux_or_skip() -> bool {
    if Tmux::available() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "tmux is missing in CI; .ci/run installs it"
    );
    eprintln!("tmux is not installed: skipping the TUI end-to-end test");
    false
}

#[tokio::test]
async fn tui_chats_with_a_headless_peer_and_restores_the_terminal() {
    if !tmux_or_skip() {
        return;
    }
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    bob.join("rust").await;
    // Make sure the binary is built before tmux runs it.
    let _ = bin("natter");

    let tmux = Tmux::new("chat");
    tmux.start(&natter_command(
        "alice",
        &tracker.addr.to_string(),
        &dir.path().join("alice"),
        "",
    ));
    // The welcome tells a newcomer what to do.
    let screen = tmux.wait_text("connected to the tracker");
    assert!(screen.contains("/join #room"), "{screen}");
    assert!(screen.contains("/help"), "{screen}");
    assert!(screen.contains("alice @ 127.0.0.1:"), "{screen}");
    assert_eq!(tmux.display("#{alternate_on}"), "1");

    tmux.type_line("/join #rust");
    tmux.wait_text("you joined #rust");
    bob.wait_members("rust", "alice online", |m| has_member(m, "alice", true))
        .await;

    // Typing sends to the selected group; the delivery mark follows the ack.
    tmux.type_line("hello bob from the tui");
    let got = bob.wait_message("hello bob from the tui").await;
    assert_eq!(got["from"], "alice");
    assert_eq!(got["group"], "rust");
    tmux.wait_screen("the delivered mark", |s| {
        s.lines()
            .any(|l| l.contains("hello bob from the tui") && l.contains('✓'))
    });

    // Received messages show up, in the group and in a new private conversation.
    bob.msg("#rust", "hi alice, welcome").await;
    tmux.wait_text("<bob> hi alice, welcome");
    bob.msg("alice", "private hello").await;
    tmux.wait_screen("bob's private conversation with an unread mark", |s| {
        s.lines().any(|l| l.contains("bob (1)"))
    });

    // Switch to it: the private message is there and the unread count is gone.
    tmux.keys(&["Tab"]);
    let screen = tmux.wait_text("bob: private conversation");
    assert!(screen.contains("<bob> private hello"), "{screen}");
    tmux.type_line("private reply");
    let got = bob.wait_message("private reply").await;
    assert!(got["group"].is_null());

    // Text typed to a peer nobody knows stays on screen, marked as not delivered.
    tmux.type_line("/query nobody-here");
    tmux.wait_text("nobody-here: private conversation");
    tmux.type_line("anyone there?");
    tmux.wait_screen("the failed mark on the typed line", |s| {
        s.lines()
            .any(|l| l.contains("anyone there?") && l.contains("✗ not delivered to nobody-here"))
    });

    // /quit leaves natter with the terminal restored.
    tmux.type_line("/quit");
    tmux.wait_text("EXIT=0");
    assert_eq!(tmux.display("#{alternate_on}"), "0");
    assert_eq!(tmux.display("#{cursor_flag}"), "1");
}

#[tokio::test]
async fn tui_survives_a_tiny_terminal_and_quits_on_ctrl_c() {
    if !tmux_or_skip() {
        return;
    }
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let tmux = Tmux::new("tiny");
    tmux.start(&natter_command(
        "tiny",
        &tracker.addr.to_string(),
        &dir.path().join("tiny"),
        "",
    ));
    tmux.wait_text("connected to the tracker");
    tmux.run(&["resize-window", "-t", "s", "-x", "20", "-y", "5"]);
    tmux.type_line("/join #small");
    tmux.run(&["resize-window", "-t", "s", "-x", "100", "-y", "20"]);
    tmux.wait_text("you joined #small");
    tmux.keys(&["C-c"]);
    tmux.wait_text("EXIT=0");
    assert_eq!(tmux.display("#{alternate_on}"), "0");
}

/// The pid of the process the pane's shell runs (natter), from /proc.
fn pane_child(tmux: &Tmux) -> u32 {
    let shell = tmux.display("#{pane_pid}");
    let children =
        std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).expect("children");
    children
        .split_whitespace()
        .next()
        .expect("natter runs under the pane's shell")
        .parse()
        .expect("pid")
}

#[tokio::test]
async fn tui_hosting_on_loopback_says_so_and_a_sigterm_restores_the_terminal() {
    if !tmux_or_skip() {
        return;
    }
    let dir = temp();
    let data = dir.path().join("host");
    let _ = bin("natter");
    let tmux = Tmux::new("host");
    tmux.start(&natter_command(
        "host",
        "127.0.0.1:0",
        &data,
        "--host-tracker",
    ));
    let screen = tmux.wait_text("connected to the tracker");
    // The invite names the loopback address it listens on, with the tracker's key, and
    // the welcome says that other machines cannot reach it.
    assert!(
        screen.contains("other machines cannot reach it"),
        "{screen}"
    );
    assert!(screen.contains("natter://127.0.0.1:"), "{screen}");
    assert!(screen.contains("?key="), "{screen}");
    assert!(!screen.contains("Others join you with"), "{screen}");
    {
        // The day's log file, in a directory for the user's eyes only.
        use std::os::unix::fs::PermissionsExt;
        let logs = data.join("logs");
        let mode = std::fs::metadata(&logs)
            .expect("log directory")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let files: Vec<String> = std::fs::read_dir(&logs)
            .expect("read the log directory")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            files
                .iter()
                .any(|f| f.starts_with("natter.") && f.ends_with(".log")),
            "{files:?}"
        );
    }
    assert_eq!(tmux.display("#{alternate_on}"), "1");

    // SIGTERM from outside: the node quits, and the UI with it, giving the terminal back.
    let pid = pane_child(&tmux);
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    tmux.wait_text("EXIT=0");
    assert_eq!(tmux.display("#{alternate_on}"), "0");
    assert_eq!(tmux.display("#{cursor_flag}"), "1");
}

/// Issue 9 in the TUI: a message selected with Up gets a reaction from the picker, and our
/// own message is edited in place (Up, `e`, new text, Enter); the headless peer sees both.
#[tokio::test]
async fn tui_reacts_to_and_edits_messages_selected_with_up() {
    if !tmux_or_skip() {
        return;
    }
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let (tmux, mut bob) = alice_with_bob_in_rust("act", dir.path(), &tracker).await;

    // Bob's message, selected with Up, gets the picker's first reaction.
    let sent = bob.msg("#rust", "react to this please").await;
    let bobs = sent["id"].clone();
    tmux.wait_text("<bob> react to this please");
    tmux.keys(&["Up"]);
    tmux.wait_text("r reply");
    tmux.run(&["send-keys", "-t", "s", "-l", "+"]);
    tmux.wait_text("react: ");
    tmux.keys(&["Enter"]);
    let reaction = bob
        .wait_for("alice's reaction", |v| {
            v["event"] == "reaction" && v["from"] == "alice"
        })
        .await;
    assert_eq!(reaction["id"], bobs);
    assert_eq!(reaction["emoji"], "👍");
    assert_eq!(reaction["on"], true);
    tmux.wait_text("👍 1");

    // Alice's own message, the newest, is edited: Up, e, new text, Enter.
    tmux.type_line("my mesage with a typo");
    let got = bob.wait_message("my mesage with a typo").await;
    tmux.wait_screen("the delivered mark", |s| {
        s.lines()
            .any(|l| l.contains("my mesage with a typo") && l.contains('✓'))
    });
    tmux.keys(&["Up"]);
    tmux.wait_text("r reply");
    tmux.run(&["send-keys", "-t", "s", "-l", "e"]);
    tmux.wait_text("editing ›");
    tmux.keys(&["C-u"]);
    tmux.type_line("my message without a typo");
    let edited = bob
        .wait_for("alice's edit", |v| v["event"] == "edited")
        .await;
    assert_eq!(edited["id"], got["id"]);
    assert_eq!(edited["from"], "alice");
    assert_eq!(edited["text"], "my message without a typo");
    tmux.wait_text("my message without a typo (edited)");

    tmux.type_line("/quit");
    tmux.wait_text("EXIT=0");
}

/// Starts bob (headless) in #rust, then alice's TUI in a tmux session named `tag`, joined
/// to #rust too.
async fn alice_with_bob_in_rust(tag: &str, dir: &Path, tracker: &Tracker) -> (Tmux, Peer) {
    let mut bob = Peer::start(dir, "bob", tracker.addr).await;
    bob.join("rust").await;
    let tmux = Tmux::new(tag);
    alice_in_rust(&tmux, dir, tracker, &mut bob, "").await;
    (tmux, bob)
}

/// Issue 12: `/search` lists what it found in a view of its own, and Enter jumps to the
/// message in its conversation (from another one), selected and scrolled into view.
#[tokio::test]
async fn tui_search_lists_matches_and_enter_jumps_to_the_message() {
    if !tmux_or_skip() {
        return;
    }
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let (tmux, mut bob) = alice_with_bob_in_rust("search", dir.path(), &tracker).await;

    bob.msg("#rust", "the deploy is at noon").await;
    for i in 1..=30 {
        bob.msg("#rust", &format!("filler {i}")).await;
    }
    let screen = tmux.wait_text("<bob> filler 30");
    assert!(!screen.contains("deploy is at noon"), "{screen}");
    // From the status window.
    tmux.keys(&["Tab"]);
    tmux.wait_text("natter: status and help");
    tmux.type_line("/search deploy");
    let screen = tmux.wait_text("search deploy (1)");
    assert!(
        screen
            .lines()
            .any(|l| l.contains("#rust ") && l.contains("bob: the deploy is at noon")),
        "{screen}"
    );
    tmux.keys(&["Enter"]);
    // The whole frame, not the first capture with the line: tmux may be caught halfway
    // through drawing it.
    let screen = tmux.wait_screen("the message, selected in #rust", |s| {
        s.contains("<bob> the deploy is at noon")
            && s.contains("#rust: 2 members")
            && s.contains("r reply")
    });
    assert!(!screen.contains("search deploy (1)"), "{screen}");

    // Nothing found is one line, no view; Esc closes a view. (Each Esc is seen before
    // the next key, or the terminal reads the pair as an Alt chord.)
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the selection left", |s| !s.contains("r reply"));
    tmux.type_line("/search nowhere-to-be-found");
    tmux.wait_text("no stored message has nowhere-to-be-found");
    tmux.type_line("/search filler");
    tmux.wait_text("search filler (30)");
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the view closed", |s| !s.contains("search filler (30)"));

    tmux.type_line("/quit");
    tmux.wait_text("EXIT=0");
}

/// Issue 12: `/mentions` lists what named alice or came to her privately while she was
/// elsewhere (the hotlist in the status bar shows those conversations first), Enter
/// jumps there, and what she has read there is no longer listed.
#[tokio::test]
async fn tui_mentions_list_what_is_unread_and_the_hotlist_shows_it() {
    if !tmux_or_skip() {
        return;
    }
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let (tmux, mut bob) = alice_with_bob_in_rust("mentions", dir.path(), &tracker).await;
    tmux.keys(&["Tab"]);
    tmux.wait_text("natter: status and help");

    bob.msg("#rust", "@alice look here").await;
    bob.msg("#rust", "nothing for anyone").await;
    bob.msg("alice", "psst, private").await;
    tmux.wait_screen("the hotlist", |s| {
        s.contains("[Act: 3!,2!]") || s.contains("[Act: 2!,3!]")
    });
    tmux.type_line("/mentions");
    let screen = tmux.wait_text("unread mentions and private messages (2)");
    assert!(screen.contains("bob: psst, private"), "{screen}");
    assert!(screen.contains("bob: @alice look here"), "{screen}");
    assert!(!screen.contains("bob: nothing for anyone"), "{screen}");
    // The newest first: the private one.
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_text("bob: private conversation");
    assert!(screen.contains("<bob> psst, private"), "{screen}");
    assert!(screen.contains("r reply"), "{screen}");

    // Read now: only the group's mention is left. (Each Esc is seen before the next
    // key, or the terminal reads the pair as an Alt chord.)
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the selection left", |s| !s.contains("r reply"));
    tmux.type_line("/mentions");
    let screen = tmux.wait_text("unread mentions and private messages (1)");
    assert!(screen.contains("bob: @alice look here"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the view closed", |s| !s.contains("unread mentions"));

    tmux.type_line("/quit");
    tmux.wait_text("EXIT=0");
}

/// Starts alice's TUI in `tmux` (with `env` before the command), joined to `#rust` where
/// `bob` already is.
async fn alice_in_rust(tmux: &Tmux, dir: &Path, tracker: &Tracker, bob: &mut Peer, env: &str) {
    let _ = bin("natter");
    let command = natter_command("alice", &tracker.addr.to_string(), &dir.join("alice"), "");
    tmux.start(&format!("{env} {command}"));
    tmux.wait_text("connected to the tracker");
    tmux.type_line("/join #rust");
    tmux.wait_text("you joined #rust");
    bob.wait_members("rust", "alice online", |m| has_member(m, "alice", true))
        .await;
}

#[tokio::test]
async fn tui_sends_a_bracketed_paste_and_alt_enter_lines_as_one_message() {
    if !tmux_or_skip() {
        return;
    }
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let (tmux, mut bob) = alice_with_bob_in_rust("paste", dir.path(), &tracker).await;

    // tmux pastes with the bracketed-paste markers the TUI asked for: the line breaks
    // stay in the input, and nothing is sent on its own.
    tmux.run(&["set-buffer", "-b", "natter", "pasted one\npasted two"]);
    tmux.run(&["paste-buffer", "-p", "-d", "-b", "natter", "-t", "s"]);
    tmux.wait_screen("both pasted lines in the input box", |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines.iter().any(|l| l.starts_with("[#rust] pasted one"))
            && lines.iter().any(|l| l.trim() == "pasted two")
    });
    // Alt-Enter adds a line of its own, then Enter sends all of it.
    tmux.keys(&["M-Enter"]);
    tmux.run(&["send-keys", "-t", "s", "-l", "typed three"]);
    tmux.wait_screen("the typed line under the pasted ones", |s| {
        s.lines().any(|l| l.trim() == "typed three")
    });
    tmux.keys(&["Enter"]);
    let text = "pasted one\npasted two\ntyped three";
    let got = bob.wait_message(text).await;
    assert_eq!(got["from"], "alice");
    assert_eq!(got["group"], "rust");
    // On screen: the first line after the sender, the others indented under it.
    tmux.wait_screen("the message indented under its sender", |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines.windows(3).any(|w| {
            w[0].contains("<alice> pasted one")
                && w[1].contains("pasted two")
                && w[2].contains("typed three")
                && w[1].find("pasted two") == w[0].find("pasted one")
        })
    });

    tmux.type_line("/quit");
    tmux.wait_text("EXIT=0");
}

#[tokio::test]
async fn tui_ctrl_x_ctrl_e_writes_the_message_in_the_editor() {
    if !tmux_or_skip() {
        return;
    }
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let mut bob = Peer::start(dir.path(), "bob", tracker.addr).await;
    bob.join("rust").await;
    // The "editor": keeps what the input held and adds two lines of its own.
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\n{ cat \"$1\"; printf ' and more\\nfrom the editor\\n'; } > \"$1.new\" && mv \"$1.new\" \"$1\"\n",
    )
    .unwrap();
    let run = std::process::Command::new("chmod")
        .arg("+x")
        .arg(&editor)
        .status()
        .unwrap();
    assert!(run.success());
    let tmux = Tmux::new("editor");
    let env = format!("VISUAL= EDITOR={}", editor.display());
    alice_in_rust(&tmux, dir.path(), &tracker, &mut bob, &env).await;

    tmux.run(&["send-keys", "-t", "s", "-l", "draft"]);
    tmux.wait_text("[#rust] draft");
    tmux.keys(&["C-x", "C-e"]);
    // Back from the editor: its text is in the input, not sent until Enter.
    let screen = tmux.wait_screen("the editor's text in the input", |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines
            .iter()
            .any(|l| l.starts_with("[#rust] draft and more"))
            && lines.iter().any(|l| l.trim() == "from the editor")
    });
    assert_eq!(tmux.display("#{alternate_on}"), "1", "{screen}");
    tmux.keys(&["Enter"]);
    let got = bob.wait_message("draft and more\nfrom the editor").await;
    assert_eq!(got["from"], "alice");

    tmux.type_line("/quit");
    tmux.wait_text("EXIT=0");
    assert_eq!(tmux.display("#{alternate_on}"), "0");
}

#[tokio::test]
async fn tui_doctor_shows_each_check_in_a_popup_that_esc_closes() {
    if !tmux_or_skip() {
        return;
    }
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let (tmux, mut bob) = alice_with_bob_in_rust("doctor", dir.path(), &tracker).await;

    tmux.type_line("/doctor");
    let screen = tmux.wait_text("all is well");
    for needle in [
        "/doctor — Esc or Enter closes",
        "✓ tracker: connected",
        "✓ reachable: the tracker sees you at 127.0.0.1:",
        "✓ member:bob",
        "✓ database",
    ] {
        assert!(screen.contains(needle), "{needle:?} not in\n{screen}");
    }
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the popup closed", |s| !s.contains("Enter closes"));
    // The chat is still there, and still works.
    tmux.type_line("hello after the doctor");
    bob.wait_message("hello after the doctor").await;
    tmux.type_line("/quit");
    tmux.wait_text("EXIT=0");
}
