//! Support for the durability tests: a peer killed and restarted on the same data directory
//! (so the same name, key and, by the contract, port) with every event of every
//! incarnation kept in order; a seeded RNG for kill points; the new flags in one place.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{Peer, PeerOptions, WAIT, natter_command};

/// The command-line flags of contract 3 (names may still change: fix them here).
pub mod flags {
    /// Pending messages per recipient; `/msg` beyond it is an `outbox_full` error.
    pub const OUTBOX_LIMIT: &str = "--outbox-limit";
    /// Seconds after which a pending recipient is given up (a `failed` event).
    pub const EXPIRE_AFTER: &str = "--expire-after";
    /// What every test peer listens on: any port the first time, then the one its data
    /// directory keeps.
    pub const LISTEN: &str = "127.0.0.1:0";
}

/// How many offending ids a failure shows.
pub const SHOW: usize = 5;

/// A small seeded generator (SplitMix64) for kill points and delays: the seed is printed,
/// and `NATTER_TEST_SEED=N` replays a run.
pub struct Rng {
    pub seed: u64,
    state: u64,
}

impl Rng {
    /// The seed from `NATTER_TEST_SEED`, or a fresh one; printed with `test`'s name (the
    /// test harness shows it when the test fails).
    pub fn for_test(test: &str) -> Rng {
        let seed = match std::env::var("NATTER_TEST_SEED") {
            Ok(s) => s
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("NATTER_TEST_SEED={s:?} is not a u64")),
            Err(_) => fresh_seed(),
        };
        eprintln!("{test}: seed {seed} (replay with NATTER_TEST_SEED={seed})");
        Rng::new(seed)
    }

    pub fn new(seed: u64) -> Rng {
        Rng { seed, state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// A delay of up to `max_ms` milliseconds (to move a kill point, never to wait on).
    pub fn delay(&mut self, max_ms: u64) -> Duration {
        Duration::from_millis(self.between(0, max_ms))
    }
}

fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// A peer that may be killed and started again on its data directory; the events of all
/// its incarnations are kept, in the order they were printed.
pub struct Member {
    pub name: String,
    pub tracker: String,
    pub data_dir: PathBuf,
    extra: Vec<String>,
    peer: Option<Peer>,
    /// Every event of the earlier incarnations.
    past: Vec<Value>,
    /// 1 for the first process, +1 per restart.
    pub incarnation: u32,
}

impl Member {
    /// Starts `name` with its data in `root/name` and waits for `ready`.
    pub async fn start(root: &Path, name: &str, tracker: &str, extra: &[&str]) -> Member {
        let mut member = Member {
            name: name.to_owned(),
            tracker: tracker.to_owned(),
            data_dir: root.join(name),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            peer: None,
            past: Vec::new(),
            incarnation: 0,
        };
        member.restart().await;
        member
    }

    pub fn options(&self) -> PeerOptions<'_> {
        PeerOptions {
            tracker: self.tracker.clone(),
            data_dir: self.data_dir.clone(),
            extra: self.extra.iter().map(String::as_str).collect(),
        }
    }

    /// Starts the next incarnation (the last one must be gone) and waits for `ready`.
    pub async fn restart(&mut self) {
        assert!(self.peer.is_none(), "{} is still running", self.name);
        self.peer = Some(Peer::start_with(&self.name, self.options()).await);
        self.incarnation += 1;
    }

    /// The running incarnation.
    pub fn peer(&mut self) -> &mut Peer {
        let name = &self.name;
        self.peer
            .as_mut()
            .unwrap_or_else(|| panic!("{name} is not running"))
    }

    pub fn is_running(&self) -> bool {
        self.peer.is_some()
    }

    /// SIGKILL, then keep what it printed before dying.
    pub async fn kill9(&mut self) {
        let mut peer = self.peer.take().expect("kill9 of a member not running");
        peer.kill9().await;
        peer.drain_to_exit().await;
        self.past.append(&mut peer.seen);
    }

    /// `/quit`, wait for a clean exit, and keep everything it printed.
    pub async fn quit(&mut self) {
        let mut peer = self.peer.take().expect("quit of a member not running");
        peer.cmd("/quit").await;
        peer.drain_to_exit().await;
        match tokio::time::timeout(WAIT, peer.child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            Ok(status) => peer.fail(&format!("/quit ended with {status:?}")),
            Err(_) => peer.fail("did not exit after /quit"),
        }
        self.past.append(&mut peer.seen);
    }

    /// Every event of every incarnation so far, in order.
    pub fn events(&self) -> impl Iterator<Item = &Value> {
        let current = self.peer.as_ref().map(|p| p.seen.as_slice()).unwrap_or(&[]);
        self.past.iter().chain(current)
    }

    /// Like [`Peer::follow`], over every incarnation's events.
    pub async fn follow(&mut self, within: Duration, mut step: impl FnMut(&Value) -> bool) -> bool {
        if self.past.iter().any(&mut step) {
            return true;
        }
        self.peer().follow(within, step).await
    }

    /// A clean `/quit` and a start again, so that what the member joined is on disk
    /// before a test starts killing it (the member cache is written at most every 500 ms:
    /// a kill right after `/join` may forget the group, which is not what we test).
    pub async fn bounce(&mut self) {
        self.quit().await;
        self.restart().await;
    }

    /// Fails the test with `what`, the last events of the earlier incarnations, and the
    /// current one's events and stderr.
    pub fn fail(&self, what: &str) -> ! {
        let from = self.past.len().saturating_sub(40);
        let past: Vec<String> = self.past[from..].iter().map(Value::to_string).collect();
        let what = format!(
            "(incarnation {}) {what}\n--- the last {} of {} events of the earlier incarnations:\n{}",
            self.incarnation,
            past.len(),
            self.past.len(),
            past.join("\n")
        );
        match &self.peer {
            Some(peer) => peer.fail(&what),
            None => panic!("member {} (not running): {what}", self.name),
        }
    }

    /// Sends `/msg TARGET TEXT` and returns its `sending` event.
    pub async fn send(&mut self, target: &str, text: &str) -> Value {
        let req = self.peer().cmd(&format!("/msg {target} {text}")).await;
        let answer = self
            .peer()
            .wait_for(&format!("sending {text:?} (line {req})"), |v| {
                v["req"] == req && (v["event"] == "sending" || v["event"] == "error")
            })
            .await;
        if answer["event"] == "error" {
            self.fail(&format!("/msg {target} {text}: {answer}"));
        }
        answer
    }

    /// Waits until this incarnation has announced `n` messages (`sending`); fails at the
    /// first error about a command (a refused `/msg`).
    pub async fn wait_sendings(&mut self, n: usize) {
        let mut count = 0;
        let mut refused = None;
        let done = self
            .peer()
            .follow(WAIT, |v| {
                count += usize::from(v["event"] == "sending");
                if v["event"] == "error" && v["req"].is_u64() {
                    refused = Some(v.clone());
                }
                count >= n || refused.is_some()
            })
            .await;
        if let Some(error) = refused {
            self.fail(&format!("a command was refused: {error}"));
        }
        if !done && n > 0 {
            self.fail(&format!("announced {count} of {n} messages (`sending`)"));
        }
    }

    /// Waits until this incarnation has printed `n` events of kind `event`.
    pub async fn wait_count(&mut self, event: &str, n: usize) {
        let mut count = 0;
        let done = self
            .peer()
            .follow(WAIT, |v| {
                count += usize::from(v["event"] == event);
                count >= n
            })
            .await;
        if !done && n > 0 {
            self.fail(&format!("printed {count} of {n} `{event}` events"));
        }
    }

    /// The ids of every `sending` of every incarnation, in order.
    pub fn announced(&self) -> Vec<String> {
        self.events()
            .filter(|v| v["event"] == "sending")
            .filter_map(|v| v["id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits until every id in `ids` came as a `message`, in any incarnation.
    pub async fn wait_received(&mut self, ids: &[String]) {
        let missing = self.try_wait_received(ids, WAIT).await;
        if !missing.is_empty() {
            let first: Vec<&String> = missing.iter().take(SHOW).collect();
            self.fail(&format!(
                "{} of {} messages never came; the first: {first:?}",
                missing.len(),
                ids.len()
            ));
        }
    }

    /// Waits (at most `within`) until every id in `ids` came as a `message`, in any
    /// incarnation; returns those that did not (for the checker to report on).
    pub async fn try_wait_received(&mut self, ids: &[String], within: Duration) -> Vec<String> {
        let mut missing: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        self.follow(within, |v| {
            if v["event"] == "message"
                && let Some(id) = v["id"].as_str()
            {
                missing.remove(id);
            }
            missing.is_empty()
        })
        .await;
        missing.into_iter().map(str::to_owned).collect()
    }

    /// Waits until the sender learnt that each of `ids` reached each of `to` (listed in
    /// `sent.delivered`, or a `delivered` event), in any incarnation. Fails at once on a
    /// `failed` for one of them.
    pub async fn wait_delivered(&mut self, ids: &[String], to: &[&str]) {
        let mut missing: BTreeSet<(String, String)> = ids
            .iter()
            .flat_map(|id| to.iter().map(move |t| (id.clone(), (*t).to_owned())))
            .collect();
        let wanted: HashSet<(String, String)> = missing.iter().cloned().collect();
        let mut failed = Vec::new();
        let done = self
            .follow(WAIT, |v| {
                for (id, name, ok) in outcomes(v) {
                    let pair = (id, name);
                    if ok {
                        missing.remove(&pair);
                    } else if wanted.contains(&pair) {
                        failed.push(v.to_string());
                    }
                }
                missing.is_empty() || !failed.is_empty()
            })
            .await;
        if !failed.is_empty() {
            self.fail(&format!("recipients given up: {failed:?}"));
        }
        if !done {
            let first: Vec<_> = missing.iter().take(SHOW).collect();
            self.fail(&format!(
                "{} of {} deliveries never reported; the first (id, to): {first:?}",
                missing.len(),
                ids.len() * to.len()
            ));
        }
    }

    /// `/history TARGET N`: the `messages` of its answer.
    pub async fn history(&mut self, target: &str, n: usize) -> Vec<Value> {
        let req = self.peer().cmd(&format!("/history {target} {n}")).await;
        let answer = self
            .peer()
            .wait_for(&format!("the history of {target} (line {req})"), |v| {
                v["req"] == req && (v["event"] == "history" || v["event"] == "error")
            })
            .await;
        match answer["messages"].as_array() {
            Some(messages) if answer["event"] == "history" => messages.clone(),
            _ => self.fail(&format!("/history {target} {n}: {answer}")),
        }
    }

    /// Fails if any of this member's messages was given up: a `failed` event or a name in
    /// `sent.failed` (nothing should fail where every recipient comes back).
    pub fn assert_nothing_failed(&self) {
        let failed: Vec<String> = self
            .events()
            .filter(|v| outcomes(v).iter().any(|(_, _, ok)| !ok))
            .map(Value::to_string)
            .collect();
        if !failed.is_empty() {
            self.fail(&format!("recipients given up: {failed:?}"));
        }
    }
}

/// What a sender's event says about its messages: (id, recipient, delivered?) from a
/// `sent` (its `delivered` and `failed`), a `delivered` or a `failed` event.
pub fn outcomes(v: &Value) -> Vec<(String, String, bool)> {
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    let names = |list: &Value, ok: bool| -> Vec<(String, String, bool)> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|n| (id.clone(), n.to_owned(), ok))
            .collect()
    };
    match v["event"].as_str() {
        Some("sent") => {
            let mut all = names(&v["delivered"], true);
            all.extend(names(&v["failed"], false));
            all
        }
        Some("delivered") => names(&Value::Array(vec![v["to"].clone()]), true),
        Some("failed") => names(&Value::Array(vec![v["to"].clone()]), false),
        _ => Vec::new(),
    }
}

/// A `127.0.0.1` address where nothing listens (a tracker that is not there).
pub fn closed_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr.to_string()
}

/// Runs `natter` as `start_with` would, without input, to its exit (failing after `within`).
pub async fn run_to_exit(name: &str, opts: &PeerOptions<'_>, within: Duration) -> Output {
    let child = natter_command(name, opts)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn natter");
    match tokio::time::timeout(within, child.wait_with_output()).await {
        Ok(output) => output.expect("wait natter"),
        Err(_) => panic!("natter {name} did not exit within {within:?}"),
    }
}
