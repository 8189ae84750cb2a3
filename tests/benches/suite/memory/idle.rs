//! `per_idle_connection`: resident memory per idle, authenticated peer-to-peer connection
//! in a real `natter --headless` process (the target).
//!
//! The far sides are real nodes (`natter::node`, in memory) in a child process
//! (`suite --child memory-peers TRACKER TARGET`), registered at the same real tracker. Each
//! sends the target one private message by address, which opens the connection (Noise
//! handshake, hellos, the target's key check of the name at the tracker), and stays idle.
//! Not a group: every member of a group dials every member that joins after it (a history
//! sync ask), so K members would also open K²/2 connections among themselves, and the
//! target's member list would grow with K. What the target keeps per peer besides the
//! connection is small and counted in: the peer's pinned key and one stored message.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use natter::node::{Command, Event, Node, NodeConfig, NodeHandle, Target, TrackerStatus, start};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command as Process};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{SECTION, SETTLE, kib, mib, noise, rss, sockets};
use crate::report::{Measure, Report, Row};
use crate::util::{self, Next, Peer};

/// Idle connections measured, opened in two equal steps.
const K: usize = 200;
/// Connections opened (and not counted) before the first reading: one-time costs.
const WARM_UP: usize = 8;
/// Nodes starting at once in the child.
const STARTING: usize = 16;
const GOAL: &str = "≤ 16 KiB per idle peer connection";
const BOUND: Duration = Duration::from_secs(90);

/// The child's stdout and stdin: `open N` → `opened TOTAL`.
struct Far {
    stdin: tokio::process::ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Far {
    async fn line(&mut self) -> String {
        tokio::time::timeout(BOUND, self.stdout.next_line())
            .await
            .expect("the memory-peers child answered in time")
            .unwrap()
            .expect("the memory-peers child exited")
    }

    /// Opens `n` more connections to the target; returns when each message is delivered.
    async fn open(&mut self, n: usize) {
        self.stdin
            .write_all(format!("open {n}\n").as_bytes())
            .await
            .unwrap();
        let line = self.line().await;
        assert!(line.starts_with("opened "), "unexpected {line:?}");
    }
}

/// Waits until the target has shown `n` messages in all.
async fn messages(target: &mut Peer, n: usize) {
    let deadline = Instant::now() + BOUND;
    let count =
        |seen: &[serde_json::Value]| seen.iter().filter(|v| v["event"] == "message").count();
    while count(&target.seen) < n {
        match target.next_event(deadline).await {
            Next::Event(_) => {}
            Next::Exited => target.fail("the target exited"),
            Next::TimedOut => target.fail(&format!("{n} messages did not arrive")),
        }
    }
}

/// Resident memory of the target once it has settled.
async fn settled(pid: u32) -> u64 {
    tokio::time::sleep(SETTLE).await;
    rss(pid)
}

pub async fn run(report: &mut Report, base: f64) {
    let root = util::temp();
    let tracker = util::Tracker::start(root.path()).await;
    let mut target = Peer::start(root.path(), "target", tracker.addr).await;
    target.wait_tracker("connected").await;
    let pid = target.pid();
    let mut child = Process::new(std::env::current_exe().unwrap())
        .args(["--child", "memory-peers"])
        .arg(tracker.addr.to_string())
        .arg(target.listen.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut far = Far {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()).lines(),
    };
    assert_eq!(far.line().await, "ready");

    far.open(WARM_UP).await;
    messages(&mut target, WARM_UP).await;
    let (before, sockets_before) = (settled(pid).await, sockets(pid));
    far.open(K / 2).await;
    messages(&mut target, WARM_UP + K / 2).await;
    let half = settled(pid).await;
    far.open(K / 2).await;
    messages(&mut target, WARM_UP + K).await;
    let after = settled(pid).await;
    let opened = sockets(pid).saturating_sub(sockets_before);
    drop(far);
    let _ = child.kill().await;

    let per = after.saturating_sub(before) as f64 / K as f64;
    let second = after.saturating_sub(half) as f64 / (K / 2) as f64;
    let row = Row::new(
        SECTION,
        "per_idle_connection",
        "per idle peer connection (natter --headless)",
        Measure::Bytes(per),
    )
    .versus(noise::BASELINE, base)
    .goal(GOAL, per <= 16.0 * 1024.0)
    .note(format!(
        "{K} peers, one private message each, then idle ({opened} sockets opened at the target); \
         VmRSS {} → {} → {}; second half alone {} each; includes each peer's pin and stored message",
        mib(before),
        mib(half),
        mib(after),
        kib(second)
    ));
    report.add(row);
}

/// One far-side node, kept open.
struct Kept {
    _handle: NodeHandle,
    _dir: tempfile::TempDir,
}

/// Waits for an event `want` takes from a node's events (an error stops the bench).
async fn wait<T>(
    events: &mut mpsc::Receiver<natter::node::Notice>,
    want: impl Fn(Event) -> Option<T>,
) -> T {
    tokio::time::timeout(util::WAIT, async {
        loop {
            let event = events.recv().await.expect("node stopped").event;
            if let Event::Error { message, .. } = &event {
                panic!("a far-side node reported an error: {message}");
            }
            if let Some(found) = want(event) {
                return found;
            }
        }
    })
    .await
    .expect("a far-side node's event in time")
}

/// Starts node `m{i}`, waits for its tracker link, sends the target one message and waits
/// until the target has acknowledged it.
async fn open_one(tracker: String, target: SocketAddr, i: usize) -> Kept {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("m{i}");
    let mut config = NodeConfig::new(
        name.parse().unwrap(),
        tracker,
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join(&name),
    );
    config.ephemeral = true;
    let Node {
        handle, mut events, ..
    } = start(config).await.unwrap();
    wait(&mut events, |e| {
        matches!(
            e,
            Event::Tracker {
                status: TrackerStatus::Connected,
                ..
            }
        )
        .then_some(())
    })
    .await;
    let send = Command::Send {
        target: Target::Addr(target),
        text: format!("an idle link from {name}"),
    };
    handle.send(send).await.unwrap();
    let delivered = wait(&mut events, |e| match e {
        Event::Sent { delivered, .. } => Some(delivered),
        _ => None,
    })
    .await;
    assert_eq!(
        delivered.len(),
        1,
        "{name}'s message was not delivered at once"
    );
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    Kept {
        _handle: handle,
        _dir: dir,
    }
}

/// `memory-peers TRACKER TARGET`: reads `open N` lines; for each, opens N more idle
/// connections to TARGET and answers `opened TOTAL`. Keeps them all until stdin closes.
pub async fn child(args: &[String]) {
    let tracker = args[0].clone();
    let target: SocketAddr = args[1].parse().unwrap();
    let mut kept: Vec<Kept> = Vec::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    println!("ready");
    while let Ok(Some(line)) = lines.next_line().await {
        let n: usize = line
            .strip_prefix("open ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("memory-peers: unexpected {line:?}"));
        let first = kept.len();
        let opened: Vec<Kept> = futures::stream::iter(first..first + n)
            .map(|i| open_one(tracker.clone(), target, i))
            .buffer_unordered(STARTING)
            .collect()
            .await;
        kept.extend(opened);
        println!("opened {}", kept.len());
    }
}
