//! On-demand measurement (ignored by `cargo test`): a join storm. One real tracker and N
//! real `natter --headless` peers; every peer sends `/join #storm` at once, and each
//! follows the group's member list the way a script does (the full list, then changes)
//! until it holds all N members online. Prints the time that took and the stdout each peer
//! printed. Speed is reported here, never asserted.
//!
//! ```text
//! cargo build --release -p natter -p natter-tracker
//! NATTER_BIN_DIR=target/release STORM_N=100,300 \
//!     cargo test -p natter-tests --test join_storm -- --ignored --nocapture
//! ```
//!
//! `STORM_N`: peer counts to run in turn (default `100,300`, at most [`MAX_PEERS`] each);
//! `STORM_TIMEOUT_SECS`: the bound on each storm, start-up included (default 300);
//! `NATTER_BIN_DIR`: where the binaries are (default: the test's own target directory,
//! built in debug).

mod util;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;
use util::{Tail, Tracker, WAIT};

/// The most peers one storm starts (each is a process with three pipes).
const MAX_PEERS: usize = 1000;
const GROUP: &str = "storm";

/// What a peer's stdout reader reports.
enum Seen {
    Connected(usize),
    /// The peer's list of #storm holds all N members online.
    Complete(usize, Instant),
}

/// One running peer: its stdin, and counters its stdout reader keeps.
struct StormPeer {
    _child: Child,
    stdin: ChildStdin,
    stdout_bytes: Arc<AtomicU64>,
    members_events: Arc<AtomicU64>,
    stderr: Tail,
}

/// A member list kept from `members` events: name → online.
#[derive(Default)]
struct List(HashMap<String, bool>);

impl List {
    fn apply(&mut self, v: &Value) {
        if let Some(full) = v["members"].as_array() {
            self.0 = full
                .iter()
                .filter_map(|m| Some((m["name"].as_str()?.to_owned(), m["online"] == true)))
                .collect();
            return;
        }
        let change = &v["change"];
        let member = &change["member"];
        let Some(name) = change["name"].as_str().or(member["name"].as_str()) else {
            return;
        };
        match change["kind"].as_str() {
            Some("joined" | "online") => {
                self.0.insert(name.to_owned(), member["online"] != false);
            }
            Some("left") => {
                self.0.remove(name);
            }
            Some("offline") => {
                self.0.insert(name.to_owned(), false);
            }
            _ => {}
        }
    }

    fn all_online(&self, n: usize) -> bool {
        self.0.len() == n && self.0.values().all(|online| *online)
    }
}

fn spawn_peer(
    i: usize,
    n: usize,
    tracker: &str,
    root: &Path,
    seen: mpsc::UnboundedSender<Seen>,
) -> StormPeer {
    let name = format!("p{i}");
    let mut child = Command::new(util::bin("natter"))
        .args(["--headless", "--name", &name, "--listen", "127.0.0.1:0"])
        .args(["--tracker", tracker])
        .arg("--data-dir")
        .arg(root.join(&name))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn natter");
    let stdin = child.stdin.take().expect("stdin");
    let stderr = Tail::default();
    util::spawn_stderr_tail(child.stderr.take().expect("stderr"), stderr.clone());
    let stdout_bytes = Arc::new(AtomicU64::new(0));
    let members_events = Arc::new(AtomicU64::new(0));
    let (bytes, events) = (stdout_bytes.clone(), members_events.clone());
    let stdout = child.stdout.take().expect("stdout");
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut list = List::default();
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
                    events.fetch_add(1, Ordering::Relaxed);
                    list.apply(&v);
                    if !complete && list.all_online(n) {
                        complete = true;
                        let _ = seen.send(Seen::Complete(i, Instant::now()));
                    }
                }
                _ => {}
            }
        }
    });
    StormPeer {
        _child: child,
        stdin,
        stdout_bytes,
        members_events,
        stderr,
    }
}

/// Waits for one report matching `want` from every one of `n` peers, until `deadline`.
/// Returns the reports, or the indexes of the peers still missing at the deadline.
async fn gather(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    n: usize,
    deadline: Instant,
    want: impl Fn(&Seen) -> Option<usize>,
) -> Result<Vec<Seen>, Vec<usize>> {
    let mut got = Vec::with_capacity(n);
    let mut from = vec![false; n];
    while got.len() < n {
        match tokio::time::timeout_at(deadline, seen.recv()).await {
            Ok(Some(report)) => {
                if let Some(i) = want(&report) {
                    from[i] = true;
                    got.push(report);
                }
            }
            Ok(None) | Err(_) => {
                return Err((0..n).filter(|i| !from[*i]).collect());
            }
        }
    }
    Ok(got)
}

/// Panics saying how many of `peers` did not get to `what`, with the first one's stderr.
fn missing(peers: &[StormPeer], what: &str, missing: &[usize]) -> ! {
    let first = missing[0];
    panic!(
        "{} of {} peers did not get to {what} in time; p{first}'s stderr:\n{}",
        missing.len(),
        peers.len(),
        peers[first].stderr.text()
    )
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// The `q` quantile (0..=1) of sorted `xs`.
fn quantile<T: Copy>(xs: &[T], q: f64) -> T {
    let at = ((xs.len() - 1) as f64 * q).round() as usize;
    xs[at]
}

async fn storm(n: usize, limit: Duration) {
    let root = util::temp();
    let deadline = Instant::now() + limit;
    let tracker = Tracker::start_with(root.path(), "127.0.0.1:0", &[]).await;
    let tracker_addr = tracker.addr.to_string();
    let (tx, mut seen) = mpsc::unbounded_channel();

    let started = Instant::now();
    let mut peers: Vec<StormPeer> = (0..n)
        .map(|i| spawn_peer(i, n, &tracker_addr, root.path(), tx.clone()))
        .collect();
    drop(tx);
    let connected = |s: &Seen| match s {
        Seen::Connected(i) => Some(*i),
        Seen::Complete(..) => None,
    };
    if let Err(late) = gather(&mut seen, n, deadline, connected).await {
        missing(&peers, "a connected tracker link", &late);
    }
    let up = started.elapsed();

    let joining = Instant::now();
    for peer in &mut peers {
        let join = format!("/join #{GROUP}\n");
        tokio::time::timeout(WAIT, peer.stdin.write_all(join.as_bytes()))
            .await
            .expect("a peer's stdin took the command in time")
            .expect("write /join");
    }
    let sent = joining.elapsed();
    let complete = |s: &Seen| match s {
        Seen::Complete(i, _) => Some(*i),
        Seen::Connected(_) => None,
    };
    let done = match gather(&mut seen, n, deadline, complete).await {
        Ok(done) => done,
        Err(late) => missing(&peers, "a full member list", &late),
    };
    let mut at: Vec<Duration> = done
        .iter()
        .filter_map(|s| match s {
            Seen::Complete(_, t) => Some(t.duration_since(joining)),
            _ => None,
        })
        .collect();
    at.sort();

    let mut bytes: Vec<u64> = peers
        .iter()
        .map(|p| p.stdout_bytes.load(Ordering::Relaxed))
        .collect();
    bytes.sort();
    let mut events: Vec<u64> = peers
        .iter()
        .map(|p| p.members_events.load(Ordering::Relaxed))
        .collect();
    events.sort();
    let total: u64 = bytes.iter().sum();
    let profile = std::env::var("NATTER_BIN_DIR").unwrap_or_else(|_| "test target".into());
    println!(
        "join storm: N={n} ({profile}); start-up to all connected {}; /join written to all in {}",
        secs(up),
        secs(sent)
    );
    println!(
        "  every list complete after {} (first {}, median {}, p90 {})",
        secs(at[at.len() - 1]),
        secs(at[0]),
        secs(quantile(&at, 0.5)),
        secs(quantile(&at, 0.9)),
    );
    println!(
        "  stdout per peer: median {} B, max {} B, total {} KiB; members events per peer: median {}, max {}",
        quantile(&bytes, 0.5),
        bytes[bytes.len() - 1],
        total / 1024,
        quantile(&events, 0.5),
        events[events.len() - 1],
    );
}

/// Runs a join storm for each N in `STORM_N`; see the module comment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "an on-demand measurement: run it with --ignored --nocapture"]
async fn join_storm_measurement() {
    let counts: Vec<usize> = std::env::var("STORM_N")
        .unwrap_or_else(|_| "100,300".into())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .expect("STORM_N: comma-separated peer counts")
        })
        .collect();
    let limit = std::env::var("STORM_TIMEOUT_SECS")
        .ok()
        .map_or(300, |s| s.parse().expect("STORM_TIMEOUT_SECS: seconds"));
    for n in counts {
        assert!(
            (1..=MAX_PEERS).contains(&n),
            "STORM_N: 1..={MAX_PEERS} peers"
        );
        storm(n, Duration::from_secs(limit)).await;
    }
}
