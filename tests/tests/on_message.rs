//! `--on-message CMD` over real processes: the command gets each incoming message as the
//! headless `message` JSON on its stdin, and one that hangs neither holds up the chat nor
//! outlives its timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use util::{Peer, PeerOptions, Tracker, WAIT, temp};

/// Starts `name` with `--on-message command` (and any `extra` flags).
async fn start_hooked(
    dir: &Path,
    name: &str,
    tracker: &Tracker,
    command: &str,
    extra: &[&str],
) -> Peer {
    let mut flags = vec!["--on-message", command];
    flags.extend_from_slice(extra);
    Peer::start_with(
        name,
        PeerOptions {
            tracker: tracker.addr.to_string(),
            data_dir: dir.join(name),
            extra: flags,
        },
    )
    .await
}

/// Polls `what` until `done` says yes, failing after [`WAIT`] with the last value seen.
async fn eventually<T: std::fmt::Debug>(
    what: &str,
    mut probe: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = probe();
        if done(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last seen: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Whether process `pid` is gone (or a zombie nobody has reaped yet: it runs no more).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "PID (COMM) STATE ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// A single-quoted shell word for `path`.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[tokio::test]
async fn each_incoming_message_reaches_the_command_as_its_headless_json() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let got = dir.path().join("got.jsonl");
    // Noise on the command's stdout must not reach natter's (the test's helper reports
    // any stdout line that is not an event).
    let hook = format!("echo noise; echo oops >&2; cat >> {}", quoted(&got));
    let mut bob = start_hooked(dir.path(), "bob", &tracker, &hook, &[]).await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.join("g").await;
    bob.join("g").await;

    // Bob's own messages are not given to his command.
    bob.msg("#g", "from bob himself").await;
    alice.wait_message("from bob himself").await;

    alice
        .msg("bob", "a private \"hello\" \\ {with} symbols")
        .await;
    alice.msg("#g", "hi everyone").await;
    let private = bob
        .wait_message("a private \"hello\" \\ {with} symbols")
        .await;
    let group = bob.wait_message("hi everyone").await;

    let lines = eventually(
        "both messages in the file",
        || lines_of(&got),
        |l| l.len() >= 2,
    )
    .await;
    let mut seen: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    // The commands run side by side: either may finish first.
    seen.sort_by_key(|v| v["text"].to_string());
    let mut want = vec![private, group];
    want.sort_by_key(|v| v["text"].to_string());
    assert_eq!(seen, want);

    // Nothing more came (bob's own message in particular) once the chat settled.
    bob.cmd("/groups").await;
    bob.wait_event("groups").await;
    assert_eq!(lines_of(&got).len(), 2, "{:?}", lines_of(&got));
    assert!(
        !bob.stderr.text().contains("NOT AN EVENT ON STDOUT"),
        "{}",
        bob.stderr.text()
    );
}

#[tokio::test]
async fn a_hanging_command_holds_nothing_up_and_is_killed_at_its_timeout() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let pids = dir.path().join("pids");
    // The command starts a child and waits for it: the kill must take the whole group.
    let hook = format!("sleep 1000 & echo $! >> {}; wait", quoted(&pids));
    let mut bob = start_hooked(
        dir.path(),
        "bob",
        &tracker,
        &hook,
        &["--on-message-timeout-ms", "500"],
    )
    .await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;

    // More than run at once (4): the rest wait their turn, and the chat goes on.
    const SENT: usize = 6;
    let started = Instant::now();
    for i in 0..SENT {
        let sent = alice.msg("bob", &format!("m{i}")).await;
        assert_eq!(util::names(&sent["delivered"]), ["bob"], "{sent}");
    }
    for i in 0..SENT {
        bob.wait_message(&format!("m{i}")).await;
    }
    bob.cmd("/groups").await;
    bob.wait_event("groups").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the chat waited for the command: {:?}",
        started.elapsed()
    );

    // Every command ran, and every one was killed with its child.
    let lines = eventually("a pid per message", || lines_of(&pids), |l| l.len() >= SENT).await;
    let pids: Vec<u32> = lines.iter().map(|l| l.trim().parse().unwrap()).collect();
    eventually(
        "every hanging command killed",
        || {
            pids.iter()
                .filter(|p| !dead(**p))
                .copied()
                .collect::<Vec<_>>()
        },
        Vec::is_empty,
    )
    .await;
    assert_eq!(lines_of(dir.path().join("pids").as_path()).len(), SENT);
}

#[tokio::test]
async fn commands_still_running_are_killed_when_natter_quits() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let pids = dir.path().join("pids");
    let hook = format!("sleep 1000 & echo $! >> {}; wait", quoted(&pids));
    // A timeout far past the test's waits: only the quit can end the command in time.
    let bob = start_hooked(
        dir.path(),
        "bob",
        &tracker,
        &hook,
        &["--on-message-timeout-ms", "600000"],
    )
    .await;
    let mut alice = Peer::start(dir.path(), "alice", tracker.addr).await;
    alice.msg("bob", "are you there").await;
    let lines = eventually("the command started", || lines_of(&pids), |l| !l.is_empty()).await;
    let pid: u32 = lines[0].trim().parse().unwrap();
    assert!(!dead(pid));
    assert!(bob.quit().await.success());
    eventually("the command killed", || dead(pid), |d| *d).await;
}
