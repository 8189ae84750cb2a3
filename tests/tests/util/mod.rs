//! Helpers for the multi-process tests: build the real binaries once, start trackers and
//! headless peers in a temp dir each, and wait on their output with timeouts that show
//! what the child said when a wait fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod checker;
pub mod durable;
pub mod raw;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long any single wait may take before the test fails. Generous: CI machines are
/// shared and slow; a passing test never waits this long.
pub const WAIT: Duration = Duration::from_secs(20);

/// The last lines a child wrote to stderr, for failure messages.
#[derive(Clone, Default)]
pub struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    const KEEP: usize = 40;

    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap();
        if lines.len() == Self::KEEP {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn text(&self) -> String {
        self.0
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The directory holding the built binaries (target/debug), building them on first use;
/// or `NATTER_BIN_DIR` (relative to the workspace), taken as built (say `target/release`
/// for a measurement).
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("NATTER_BIN_DIR") {
            return Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        }
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cargo = std::process::Command::new(env!("CARGO"));
        // Not the variables cargo set for this test (`CARGO_PKG_NAME`, ...): build scripts
        // watch some of them (ring's `rerun-if-env-changed`), so seeing them here would
        // rebuild ring and all above it now, and again at the next `cargo test`.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_MANIFEST_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                ]
                .contains(&key.as_ref())
            {
                cargo.env_remove(key.as_ref());
            }
        }
        cargo.args(["build", "--quiet", "-p", "natter", "-p", "natter-tracker"]);
        // A benchmark (built optimised) measures the release binaries.
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        let status = cargo
            // The same features as the test build (whose dev-dependencies enable the test
            // kit): the libraries it just built are reused, and only the two binaries are
            // linked, instead of rebuilding every crate of ours a second time.
            .args(["--features", "natter-protocol/test-util"])
            .arg("--manifest-path")
            .arg(&manifest)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
        // The test executable lives in target/<profile>/deps/.
        let exe = std::env::current_exe().expect("current exe");
        exe.parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf()
    })
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

pub fn spawn_stderr_tail(stderr: impl AsyncRead + Unpin + Send + 'static, tail: Tail) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tail.push(line);
        }
    });
}

/// A running `natter-tracker`.
pub struct Tracker {
    pub child: Child,
    pub addr: SocketAddr,
    /// The tracker's public key, from its second line of output.
    pub key: String,
    pub state: PathBuf,
    pub stderr: Tail,
}

impl Tracker {
    /// Starts a tracker on 127.0.0.1:0 with its state file in `dir`.
    pub async fn start(dir: &Path) -> Tracker {
        Self::start_with(dir, "127.0.0.1:0", &[]).await
    }

    /// Starts a tracker on `listen` with extra arguments (e.g. `--heartbeat-secs 1`).
    pub async fn start_with(dir: &Path, listen: &str, extra: &[&str]) -> Tracker {
        let state = dir.join("tracker.json");
        let mut child = Command::new(bin("natter-tracker"))
            .arg("--listen")
            .arg(listen)
            .arg("--state")
            .arg(&state)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn natter-tracker");
        let stderr = Tail::default();
        spawn_stderr_tail(child.stderr.take().unwrap(), stderr.clone());
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(WAIT, stdout.next_line())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "tracker did not report its address; stderr:\n{}",
                    stderr.text()
                )
            })
            .expect("read tracker stdout")
            .unwrap_or_else(|| panic!("tracker exited at start; stderr:\n{}", stderr.text()));
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .expect("tracker address");
        let second = tokio::time::timeout(WAIT, stdout.next_line())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .unwrap_or_default();
        let key = second
            .strip_prefix("key ")
            .unwrap_or_else(|| panic!("expected `key KEY` as line 2, got {second:?}"))
            .to_owned();
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Tracker {
            child,
            addr,
            key,
            state,
            stderr,
        }
    }

    /// SIGKILL: no chance to save or say goodbye.
    pub async fn kill9(&mut self) {
        self.child.kill().await.expect("kill tracker");
    }

    /// SIGTERM, then wait for a clean exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        signal(&self.child, "TERM");
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("tracker did not exit after SIGTERM")
            .expect("wait tracker")
    }
}

/// Sends a signal by name with the `kill` utility (no libc binding needed in tests).
pub fn signal(child: &Child, sig: &str) {
    let pid = child.id().expect("child still running");
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// A running `natter --headless`, driven through its JSON-lines contract.
pub struct Peer {
    pub name: String,
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    events: mpsc::UnboundedReceiver<Value>,
    /// Every event seen so far, for failure messages.
    pub seen: Vec<Value>,
    pub stderr: Tail,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Each group's member list as the events so far built it (a full list, then changes),
    /// the way a script following the contract keeps it.
    pub lists: HashMap<String, Vec<Value>>,
    /// Lines written to stdin so far (the last one's request id).
    lines_sent: u64,
}

pub struct PeerOptions<'a> {
    pub tracker: String,
    pub data_dir: PathBuf,
    pub extra: Vec<&'a str>,
}

/// What [`Peer::next_event`] found.
pub enum Next {
    Event(Value),
    /// The peer's output ended (it exited).
    Exited,
    TimedOut,
}

/// `natter --headless` as the tests run it (on 127.0.0.1, any port: a restart on the same
/// data directory gets the port kept there), output not yet wired.
pub fn natter_command(name: &str, opts: &PeerOptions<'_>) -> Command {
    let mut command = Command::new(bin("natter"));
    command
        .args(["--headless", "--name", name])
        .args(["--listen", durable::flags::LISTEN])
        .arg("--tracker")
        .arg(&opts.tracker)
        .arg("--data-dir")
        .arg(&opts.data_dir)
        .args(&opts.extra)
        .env("RUST_LOG", "info")
        // No config file of the user running the tests (config.toml) is read.
        .env("XDG_CONFIG_HOME", opts.data_dir.join("config"));
    command
}

impl Peer {
    /// Starts `name` against `tracker` with its data in `root/name`, and waits for `ready`.
    pub async fn start(root: &Path, name: &str, tracker: SocketAddr) -> Peer {
        Self::start_with(
            name,
            PeerOptions {
                tracker: tracker.to_string(),
                data_dir: root.join(name),
                extra: vec![],
            },
        )
        .await
    }

    pub async fn start_with(name: &str, opts: PeerOptions<'_>) -> Peer {
        let mut child = natter_command(name, &opts)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn natter");
        let stderr = Tail::default();
        spawn_stderr_tail(child.stderr.take().unwrap(), stderr.clone());
        let (tx, events) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        let out_tail = stderr.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) if v["event"].is_string() => {
                        let _ = tx.send(v);
                    }
                    _ => out_tail.push(format!("NOT AN EVENT ON STDOUT: {line}")),
                }
            }
        });
        let mut peer = Peer {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            events,
            seen: Vec::new(),
            stderr,
            listen: "0.0.0.0:0".parse().unwrap(),
            data_dir: opts.data_dir,
            lists: HashMap::new(),
            lines_sent: 0,
        };
        let ready = peer.wait_event("ready").await;
        assert_eq!(ready["name"], name);
        peer.listen = ready["listen"].as_str().unwrap().parse().unwrap();
        peer
    }

    /// Writes one command line to the peer's stdin. Returns its request id: the line's
    /// number, which every event it causes carries as `req`.
    pub async fn cmd(&mut self, line: &str) -> u64 {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to peer");
        stdin.flush().await.expect("flush peer stdin");
        self.lines_sent += 1;
        self.lines_sent
    }

    /// Waits for the `error` event of request `req` and checks its `code`.
    pub async fn wait_error_for(&mut self, req: u64, code: &str) -> Value {
        let error = self
            .wait_for(&format!("the error of line {req}"), |v| {
                v["event"] == "error" && v["req"] == req
            })
            .await;
        if error["code"] != code {
            self.fail(&format!("line {req}: expected code {code}, got {error}"));
        }
        error
    }

    /// Waits for an `error` event with `code` (one no command caused, say).
    pub async fn wait_error_code(&mut self, code: &str) -> Value {
        self.wait_for(&format!("an error with code {code}"), |v| {
            v["event"] == "error" && v["code"] == code
        })
        .await
    }

    /// Waits for the next event matching `pred`, skipping others.
    pub async fn wait_for(&mut self, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.next_event(deadline).await {
                Next::Event(v) => {
                    if pred(&v) {
                        return v;
                    }
                }
                Next::Exited => self.fail(&format!("peer exited while waiting for {what}")),
                Next::TimedOut => self.fail(&format!("timed out waiting for {what}")),
            }
        }
    }

    /// The next event (kept in `seen`; a `members` change comes with the list as it now
    /// stands, see `track_members`), unless the peer's output ends or `deadline` passes.
    pub async fn next_event(&mut self, deadline: Instant) -> Next {
        match tokio::time::timeout_at(deadline, self.events.recv()).await {
            Ok(Some(mut v)) => {
                self.seen.push(v.clone());
                self.track_members(&mut v);
                Next::Event(v)
            }
            Ok(None) => Next::Exited,
            Err(_) => Next::TimedOut,
        }
    }

    /// Feeds every event seen so far, then each new one, to `step` until it returns true
    /// (true), or the peer's output ends or `within` passes first (false). `step` keeps its
    /// own state, so a caller can say what was still missing.
    pub async fn follow(&mut self, within: Duration, mut step: impl FnMut(&Value) -> bool) -> bool {
        if self.seen.iter().any(&mut step) {
            return true;
        }
        let deadline = Instant::now() + within;
        loop {
            match self.next_event(deadline).await {
                Next::Event(v) => {
                    if step(&v) {
                        return true;
                    }
                }
                Next::Exited | Next::TimedOut => return false,
            }
        }
    }

    /// After the process died: reads what it wrote before dying into `seen`, to the end.
    pub async fn drain_to_exit(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.next_event(deadline).await {
                Next::Event(_) => {}
                Next::Exited => return,
                Next::TimedOut => self.fail("its output did not end after it exited"),
            }
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("peer still running")
    }

    /// Waits for the next event of kind `event`.
    pub async fn wait_event(&mut self, event: &str) -> Value {
        self.wait_for(event, |v| v["event"] == event).await
    }

    /// Waits until the tracker link reports `status`.
    pub async fn wait_tracker(&mut self, status: &str) {
        self.wait_for(&format!("tracker {status}"), |v| {
            v["event"] == "tracker" && v["status"] == status
        })
        .await;
    }

    /// Keeps `lists` up to date from a `members` event, and gives a change event the list
    /// as it now stands (under `members`), so tests read every `members` event alike.
    fn track_members(&mut self, v: &mut Value) {
        if v["event"] != "members" {
            return;
        }
        let Some(group) = v["group"].as_str().map(str::to_owned) else {
            return;
        };
        let list = self.lists.entry(group).or_default();
        if let Some(full) = v["members"].as_array() {
            *list = full.clone();
            return;
        }
        let change = &v["change"];
        let name = change["name"]
            .as_str()
            .or(change["member"]["name"].as_str())
            .unwrap_or_default()
            .to_owned();
        match change["kind"].as_str() {
            Some("joined" | "online" | "updated" | "added") => {
                list.retain(|m| m["name"] != name.as_str());
                list.push(change["member"].clone());
            }
            Some("left" | "kicked") => list.retain(|m| m["name"] != name.as_str()),
            Some("role") => {
                // One owner: a new one makes the old one an admin.
                if change["role"] == "owner" {
                    for m in list.iter_mut().filter(|m| m["role"] == "owner") {
                        m["role"] = Value::from("admin");
                    }
                }
                for m in list.iter_mut().filter(|m| m["name"] == name.as_str()) {
                    m["role"] = change["role"].clone();
                }
            }
            Some("offline") => {
                for m in list.iter_mut().filter(|m| m["name"] == name.as_str()) {
                    m["online"] = Value::Bool(false);
                    m["last_seen"] = change["last_seen"].clone();
                }
            }
            _ => {}
        }
        v["members"] = Value::Array(list.clone());
    }

    /// Waits for a `members` event of `group` after which `pred` holds for the member list.
    pub async fn wait_members(
        &mut self,
        group: &str,
        what: &str,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Value {
        self.wait_for(&format!("members of {group}: {what}"), |v| {
            v["event"] == "members"
                && v["group"] == group
                && v["members"].as_array().is_some_and(|m| pred(m))
        })
        .await
    }

    /// Like [`Peer::wait_members`], but done at once when the list as it stands already
    /// satisfies `pred`.
    pub async fn wait_list(&mut self, group: &str, what: &str, pred: impl Fn(&[Value]) -> bool) {
        if self.lists.get(group).is_some_and(|list| pred(list)) {
            return;
        }
        self.wait_members(group, what, pred).await;
    }

    /// `/join GROUP` and wait until the peer sees itself in the list.
    pub async fn join(&mut self, group: &str) -> Value {
        self.cmd(&format!("/join #{group}")).await;
        let me = self.name.clone();
        self.wait_members(group, "includes me", |m| has_member(m, &me, true))
            .await
    }

    /// Waits for a received message with `text`.
    pub async fn wait_message(&mut self, text: &str) -> Value {
        self.wait_for(&format!("message {text:?}"), |v| {
            v["event"] == "message" && v["text"] == text
        })
        .await
    }

    /// Waits for the `sent` event of message `id`.
    pub async fn wait_sent(&mut self, id: &Value) -> Value {
        let id = id.clone();
        self.wait_for(&format!("sent {id}"), |v| {
            v["event"] == "sent" && v["id"] == id
        })
        .await
    }

    /// Sends `/msg TARGET TEXT` and returns the `sent` event once every recipient answered.
    pub async fn msg(&mut self, target: &str, text: &str) -> Value {
        self.cmd(&format!("/msg {target} {text}")).await;
        let sending = self
            .wait_for(&format!("sending {text:?}"), |v| {
                v["event"] == "sending" && v["text"] == text
            })
            .await;
        self.wait_sent(&sending["id"]).await
    }

    /// Asks `/quit` and waits for a clean exit.
    pub async fn quit(mut self) -> std::process::ExitStatus {
        self.cmd("/quit").await;
        match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(status) => status.expect("wait peer"),
            Err(_) => self.fail("did not exit after /quit"),
        }
    }

    pub async fn kill9(&mut self) {
        self.child.kill().await.expect("kill peer");
    }

    pub fn fail(&self, what: &str) -> ! {
        let seen: Vec<String> = self.seen.iter().map(Value::to_string).collect();
        panic!(
            "peer {}: {what}\n--- events seen:\n{}\n--- stderr tail:\n{}",
            self.name,
            seen.join("\n"),
            self.stderr.text()
        )
    }
}

/// True when `members` holds `name` with the given online flag.
pub fn has_member(members: &[Value], name: &str, online: bool) -> bool {
    members
        .iter()
        .any(|m| m["name"] == name && m["online"] == online)
}

/// The names in a `sent` event's `delivered` or `failed` list, sorted.
pub fn names(v: &Value) -> Vec<String> {
    let mut names: Vec<String> = v
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// A fresh temp dir for one test.
pub fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Reads a hand-driven member's tracker link to its end, answering pings, so it stays
/// online.
#[allow(dead_code)] // Not every test binary has a hand-driven member.
pub async fn stay_online(mut client: natter_protocol::testkit::TrackerClient) {
    use futures::{SinkExt as _, StreamExt as _};
    use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
    while let Some(Ok(frame)) = client.link.next().await {
        if let TrackerToPeer::Ping { nonce } = frame
            && client
                .link
                .send(PeerToTracker::Pong { nonce })
                .await
                .is_err()
        {
            return;
        }
    }
}

/// alice, bob and carol, all online in #g.
pub async fn three_in_a_group(dir: &std::path::Path, tracker: &Tracker) -> [Peer; 3] {
    let mut peers = [
        Peer::start(dir, "alice", tracker.addr).await,
        Peer::start(dir, "bob", tracker.addr).await,
        Peer::start(dir, "carol", tracker.addr).await,
    ];
    for p in &mut peers {
        p.join("g").await;
    }
    for p in &mut peers {
        p.wait_list("g", "everyone online", |m| {
            ["alice", "bob", "carol"]
                .iter()
                .all(|n| has_member(m, n, true))
        })
        .await;
    }
    peers
}

/// Runs `natter ARGS` (nothing on stdin) to its end, with the config directory inside
/// `dir` and `env` set; fails the test after [`WAIT`].
pub async fn run_natter(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let child = Command::new(bin("natter"))
        .args(args)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn natter");
    tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("natter did not exit")
        .expect("wait natter")
}
