//! `tracker_per_online_peer`: resident memory per online peer in a real `natter-tracker`
//! process. The peers are protocol-level clients in this process: the Noise handshake, a
//! hello, a join, then idle (reading what the tracker pushes and answering its pings).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use natter_protocol::testkit;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{SECTION, SETTLE, kib, mib, noise, rss};
use crate::report::{Measure, Report, Row};
use crate::util;

/// Online peers measured, added in two equal steps.
const K: usize = 1000;
/// Peers per group in the headline figure (groups of this many, in the order they join);
/// the second figure puts all of them in one group.
const SMALL_GROUPS: usize = 10;
/// Handshakes and hellos in flight at once.
const CONNECTING: usize = 32;
const GOAL: &str = "≤ 4 KiB per online peer at the tracker";
/// How long the pushes of a step may take to stop.
const QUIET_BOUND: Duration = Duration::from_secs(60);

/// Registers peer `t{i}` and joins its group; then it reads and answers pings, idle.
async fn online(
    addr: SocketAddr,
    i: usize,
    group_size: usize,
    frames: Arc<AtomicU64>,
) -> JoinHandle<()> {
    let link = testkit::numbered_member(addr, i, group_size).await;
    tokio::spawn(testkit::stay_idle(link, frames))
}

/// Waits until no frame has come for half a second (bounded).
async fn quiet(frames: &AtomicU64) {
    let deadline = Instant::now() + QUIET_BOUND;
    let mut last = frames.load(Ordering::Relaxed);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = frames.load(Ordering::Relaxed);
        if now == last {
            return;
        }
        last = now;
    }
    eprintln!("  (the pushes did not stop within {QUIET_BOUND:?})");
}

/// Brings peers `from..to` online, waits until the tracker is quiet, settles; returns
/// the tracker's resident memory.
async fn step(
    addr: SocketAddr,
    pid: u32,
    (range, group_size): (std::ops::Range<usize>, usize),
    frames: &Arc<AtomicU64>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> u64 {
    let added: Vec<JoinHandle<()>> = futures::stream::iter(range)
        .map(|i| online(addr, i, group_size, frames.clone()))
        .buffer_unordered(CONNECTING)
        .collect()
        .await;
    tasks.extend(added);
    quiet(frames).await;
    tokio::time::sleep(SETTLE).await;
    rss(pid)
}

/// The measurement for peers in groups of `group_size`: the tracker's VmRSS before, with
/// half the peers online, and with all.
async fn measure(group_size: usize) -> [u64; 3] {
    let root = util::temp();
    let tracker = util::Tracker::start(root.path()).await;
    let (addr, pid) = (tracker.addr, tracker.child.id().unwrap());
    let frames = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(K);
    tokio::time::sleep(SETTLE).await;
    let before = rss(pid);
    let first = (0..K / 2, group_size);
    let half = step(addr, pid, first, &frames, &mut tasks).await;
    let second = (K / 2..K, group_size);
    let after = step(addr, pid, second, &frames, &mut tasks).await;
    for task in &tasks {
        task.abort();
    }
    [before, half, after]
}

pub async fn run(report: &mut Report, base: f64) {
    for (key, label, group_size) in [
        (
            "tracker_per_online_peer",
            "per online peer at the tracker (natter-tracker)",
            SMALL_GROUPS,
        ),
        (
            "tracker_per_online_peer_one_group",
            "  the same, all in one group",
            K,
        ),
    ] {
        let [before, half, after] = measure(group_size).await;
        let per = after.saturating_sub(before) as f64 / K as f64;
        let second = after.saturating_sub(half) as f64 / (K / 2) as f64;
        let groups = K.div_ceil(group_size);
        let row = Row::new(SECTION, key, label, Measure::Bytes(per))
            .versus(noise::BASELINE, base)
            .goal(GOAL, per <= 4.0 * 1024.0)
            .note(format!(
                "{K} peers in {groups} group(s) of {group_size}, idle after their join; \
                 VmRSS {} → {} → {}; second half alone {} each",
                mib(before),
                mib(half),
                mib(after),
                kib(second)
            ));
        report.add(row);
    }
}
