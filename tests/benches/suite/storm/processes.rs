//! `real_300`: 300 real `natter --headless` processes (release) join one group at a real
//! `natter-tracker` process. Every peer gets `/join #storm` on its stdin at once; a reader
//! per peer follows its stdout the way a script does (the full list, then changes) until
//! its list holds all 300 online.
//!
//! Reported: the time from the first `/join` written until every list is complete, the
//! stdout each peer printed from its join on (per join), and the bytes the tracker process
//! wrote meanwhile (`wchar` of `/proc/PID/io`: its sockets, plus the state file it rewrites
//! before answering joins, shown apart as `write_bytes`; its log is at `warn`, so quiet),
//! per join. The peer-to-peer connections open at the end (counted from each peer's
//! `/proc/PID/fd`) show the history-sync asks a join sets off.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use natter_protocol::tracker::{Member, MemberChange};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{List, SECTION, describe_difference, differing, quantile, secs, time_row};
use crate::report::{Measure, Report, Row};
use crate::util::{self, Tail};

/// Peers in the storm.
const N: usize = 300;
const GROUP: &str = "storm";
/// How long the peers get to start and reach the tracker.
const START_BOUND: Duration = Duration::from_secs(60);
/// The storm's bound, from the first `/join`.
const BOUND: Duration = Duration::from_secs(120);
const GOAL: (&str, Duration) = ("< 5 s", Duration::from_secs(5));

/// What a peer's stdout reader reports.
enum Seen {
    Connected(usize),
    /// The peer's list of the group holds all N members online.
    Complete(Instant),
}

/// One running peer.
struct StormPeer {
    child: Child,
    stdin: ChildStdin,
    stdout_bytes: Arc<AtomicU64>,
    /// `members` events of the group with a full list.
    full_lists: Arc<AtomicU64>,
    /// The group's list as the peer's events have built it so far.
    list: Arc<Mutex<List>>,
    stderr: Tail,
}

/// Applies one `members` event of the group to `list`.
fn apply(list: &mut List, v: &Value) {
    let version = v["version"].as_u64().unwrap_or(0);
    if v["members"].is_array() {
        let members: Vec<Member> = serde_json::from_value(v["members"].clone()).unwrap();
        list.full(version, members);
    } else if !v["change"].is_null() {
        let change: MemberChange = serde_json::from_value(v["change"].clone()).unwrap();
        list.change(version, &change);
    }
}

fn spawn_peer(
    i: usize,
    tracker: &str,
    root: &Path,
    seen: mpsc::UnboundedSender<Seen>,
) -> StormPeer {
    let name = format!("p{i}");
    let opts = util::PeerOptions {
        tracker: tracker.to_owned(),
        data_dir: root.join(&name),
        extra: vec![],
    };
    let (mut child, stderr) = crate::headless::spawn_quiet(&name, &opts);
    let stdin = child.stdin.take().unwrap();
    let stdout_bytes = Arc::new(AtomicU64::new(0));
    let full_lists = Arc::new(AtomicU64::new(0));
    let list = Arc::new(Mutex::new(List::default()));
    let (bytes, fulls, kept) = (stdout_bytes.clone(), full_lists.clone(), list.clone());
    let stdout = child.stdout.take().unwrap();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut complete = false;
        while let Ok(Some(line)) = lines.next_line().await {
            bytes.fetch_add(line.len() as u64 + 1, Ordering::Relaxed);
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            match v["event"].as_str() {
                Some("tracker") if v["status"] == "connected" => {
                    let _ = seen.send(Seen::Connected(i));
                }
                Some("members") if v["group"] == GROUP => {
                    if v["members"].is_array() {
                        fulls.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut list = kept.lock().unwrap();
                    apply(&mut list, &v);
                    if !complete && list.complete(N) {
                        complete = true;
                        let _ = seen.send(Seen::Complete(Instant::now()));
                    }
                }
                _ => {}
            }
        }
    });
    StormPeer {
        child,
        stdin,
        stdout_bytes,
        full_lists,
        list,
        stderr,
    }
}

/// Waits until every one of the `n` peers has sent a report `pick` takes, or `deadline`.
/// Returns what `pick` made of each report taken (in arrival order) and whether all came.
async fn gather<T>(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    n: usize,
    deadline: Instant,
    mut pick: impl FnMut(Seen) -> Option<T>,
) -> (Vec<T>, bool) {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        match tokio::time::timeout_at(deadline, seen.recv()).await {
            Ok(Some(report)) => got.extend(pick(report)),
            Ok(None) | Err(_) => return (got, false),
        }
    }
    (got, true)
}

/// A real tracker with its log at `warn` (so its `wchar` is its sockets and state file).
struct RealTracker {
    child: Child,
    addr: String,
}

async fn start_tracker(dir: &Path) -> RealTracker {
    let mut child = Command::new(util::bin("natter-tracker"))
        .args(["--listen", "127.0.0.1:0", "--state"])
        .arg(dir.join("tracker.json"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn natter-tracker");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(util::WAIT, stdout.next_line())
        .await
        .expect("the tracker reports its address")
        .unwrap()
        .expect("the tracker's first line");
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    RealTracker { child, addr }
}

/// `(wchar, write_bytes)` of process `pid`.
fn written(pid: u32) -> (u64, u64) {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let field = |name: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("wchar:"), field("write_bytes:"))
}

/// The peak resident memory of process `pid` (`VmHWM`), in MiB.
fn peak_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// CPU time (user and system) process `pid` has used, from `/proc/PID/stat`.
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rfind(')')
        .map(|close| stat[close + 1..].split_whitespace().collect())
        .unwrap_or_default();
    // After the name: state, ppid, ..., utime (12th) and stime (13th), in ticks of 10 ms.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// CPU time the peers and the tracker have used.
fn cpu_of(peers: &[StormPeer], tracker: u32) -> (Duration, Duration) {
    let peers = peers.iter().filter_map(|p| p.child.id()).map(cpu).sum();
    (peers, cpu(tracker))
}

/// Sockets process `pid` holds open.
fn sockets(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

pub async fn run(report: &mut Report) {
    let root = util::temp();
    let tracker = start_tracker(root.path()).await;
    let tracker_pid = tracker.child.id().unwrap();
    let (tx, mut seen) = mpsc::unbounded_channel();
    let started = Instant::now();
    let mut peers: Vec<StormPeer> = (0..N)
        .map(|i| spawn_peer(i, &tracker.addr, root.path(), tx.clone()))
        .collect();
    drop(tx);
    let connected = |s: Seen| match s {
        Seen::Connected(i) => Some(i),
        Seen::Complete(..) => None,
    };
    let (up, all_up) = gather(&mut seen, N, started + START_BOUND, connected).await;
    if !all_up {
        let late = (0..N).find(|i| !up.contains(i)).unwrap_or(0);
        panic!(
            "{} of {N} peers did not reach the tracker in {START_BOUND:?}; p{late}'s stderr:\n{}",
            N - up.len(),
            peers[late].stderr.text()
        );
    }
    let start_up = started.elapsed();

    let before = written(tracker_pid);
    let cpu_before = cpu_of(&peers, tracker_pid);
    let stdout_before: Vec<u64> = peers
        .iter()
        .map(|p| p.stdout_bytes.load(Ordering::Relaxed))
        .collect();
    let joined = Instant::now();
    for peer in &mut peers {
        let join = format!("/join #{GROUP}\n");
        tokio::time::timeout(util::WAIT, peer.stdin.write_all(join.as_bytes()))
            .await
            .expect("a peer's stdin took the command in time")
            .expect("write /join");
    }
    let complete = |s: Seen| match s {
        Seen::Complete(t) => Some(t.duration_since(joined)),
        Seen::Connected(_) => None,
    };
    let (done, finished) = gather(&mut seen, N, joined + BOUND, complete).await;
    let after = written(tracker_pid);
    let cpu_after = cpu_of(&peers, tracker_pid);
    // Whatever still comes after the last list was complete is in the final lists.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lists: Vec<List> = peers
        .iter()
        .map(|p| p.list.lock().unwrap().clone())
        .collect();
    let tracker_peak = peak_mib(tracker_pid);
    let conns: usize = peers
        .iter()
        .filter_map(|p| p.child.id())
        .map(|pid| sockets(pid).saturating_sub(2))
        .sum();
    let mut printed: Vec<u64> = peers
        .iter()
        .zip(&stdout_before)
        .map(|(p, before)| p.stdout_bytes.load(Ordering::Relaxed) - before)
        .collect();
    printed.sort();
    let mut fulls: Vec<u64> = peers
        .iter()
        .map(|p| p.full_lists.load(Ordering::Relaxed))
        .collect();
    fulls.sort();
    drop(peers);

    let mut at = done;
    at.sort();
    let differ = differing(&lists);
    let difference = describe_difference(&lists);
    let same = finished && differ == 0;
    let mut note = format!("{} of {N} complete", at.len());
    if let (Some(first), Some(last)) = (at.first(), at.last()) {
        note += &format!(
            " (first {}, median {}, last {}); start-up {}",
            secs(*first),
            secs(quantile(&at, 0.5)),
            secs(*last),
            secs(start_up)
        );
    }
    note += &format!(
        "; CPU until done: peers {} in all, tracker {}",
        secs(cpu_after.0.saturating_sub(cpu_before.0)),
        secs(cpu_after.1.saturating_sub(cpu_before.1))
    );
    note += &format!(
        "; final lists identical: {}; peer-to-peer connections open at the end: {} (history-sync asks)",
        if same {
            "yes".to_owned()
        } else {
            format!("NO ({differ} differ: {difference})")
        },
        conns / 2
    );
    let done_in = if finished { Ok(at[N - 1]) } else { Err(BOUND) };
    let row = time_row(
        "real_300",
        "join storm, 300 real processes",
        done_in,
        GOAL,
        same,
    );
    report.add(row.note(note));

    let joins = N as f64;
    let median = quantile(&printed, 0.5) as f64;
    report.add(
        Row::new(
            SECTION,
            "real_300_stdout_per_peer_per_join",
            "  stdout printed per peer per join",
            Measure::Bytes(median / joins),
        )
        .note(format!(
            "median peer {:.1} KiB, max {:.1} KiB in all; full lists printed per peer: median {}, max {}",
            median / 1024.0,
            printed[N - 1] as f64 / 1024.0,
            quantile(&fulls, 0.5),
            fulls[N - 1]
        )),
    );
    let wchar = after.0.saturating_sub(before.0) as f64;
    let disk = after.1.saturating_sub(before.1) as f64;
    report.add(
        Row::new(
            SECTION,
            "real_300_tracker_bytes_per_join",
            "  tracker bytes written per join",
            Measure::Bytes(wchar / joins),
        )
        .note(format!(
            "wchar; of it the state file (write_bytes) ≈ {:.0} B per join; tracker peak VmRSS {tracker_peak:.1} MiB",
            disk / joins
        )),
    );
}
