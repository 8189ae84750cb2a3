//! The two ends of a two-process measurement: [`ChildProc`] starts this bench again as
//! `suite --child MODE ARGS...` and talks to it in lines (its stdout to us, our lines to
//! its stdin); [`say`] and [`Orders`] are the child's side. A child runs until its stdin
//! closes, so dropping or finishing a `ChildProc` ends it (and `kill_on_drop` ends it
//! when the bench itself is stopping).

use std::fmt::Display;
use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::stats::WAIT;

/// A child process of this bench, spoken to in lines.
pub struct ChildProc {
    mode: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl ChildProc {
    /// Starts `suite --child MODE ARGS...`; its stderr is ours, so its panics show.
    pub fn spawn(mode: &str, args: &[String]) -> Self {
        let exe = std::env::current_exe().expect("the bench's own path");
        let mut child = Command::new(exe)
            .arg("--child")
            .arg(mode)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start a child of the bench");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("the child's stdout");
        Self {
            mode: mode.to_owned(),
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The child's next line, within [`WAIT`].
    pub async fn line(&mut self) -> String {
        self.line_within(WAIT).await
    }

    /// The child's next line, within `bound`; a silent, dead or failed child stops the
    /// bench.
    pub async fn line_within(&mut self, bound: Duration) -> String {
        let line = tokio::time::timeout(bound, self.lines.next_line()).await;
        let mode = &self.mode;
        let line = line.unwrap_or_else(|_| panic!("child {mode}: no line within {bound:?}"));
        let line = line.unwrap_or_else(|e| panic!("child {mode}: reading its output: {e}"));
        line.unwrap_or_else(|| panic!("child {mode}: ended early (see its stderr above)"))
    }

    /// The child's next line, parsed.
    pub async fn parse<T: std::str::FromStr>(&mut self) -> T {
        let line = self.line().await;
        let mode = &self.mode;
        line.trim()
            .parse()
            .unwrap_or_else(|_| panic!("child {mode}: unexpected line {line:?}"))
    }

    /// Waits, within `bound`, until the child is nearly idle (at most [`IDLE_TICKS`] of
    /// CPU time in a [`SETTLE_WINDOW`]), so what it does after a setup (say, nodes dialling
    /// each other) is not measured with what follows; returns how long that took, or
    /// `None` when it did not settle or `/proc` cannot tell.
    pub async fn settle(&self, bound: Duration) -> Option<Duration> {
        let pid = self.child.id()?;
        let started = std::time::Instant::now();
        let mut before = cpu_ticks(pid)?;
        while started.elapsed() < bound {
            tokio::time::sleep(SETTLE_WINDOW).await;
            let now = cpu_ticks(pid)?;
            if now - before <= IDLE_TICKS {
                return Some(started.elapsed());
            }
            before = now;
        }
        None
    }

    /// Sends the child one line.
    pub async fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("the child's stdin is open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    /// Closes the child's stdin (its signal to stop) and waits, bounded, for it to exit
    /// cleanly; a child that failed (say, it saw a duplicate) stops the bench.
    pub async fn finish(mut self) {
        drop(self.stdin.take());
        let mode = &self.mode;
        match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(status) => {
                let status = status.expect("wait for a child");
                assert!(status.success(), "child {mode} failed: {status}");
            }
            Err(_) => eprintln!("  (child {mode} did not stop in time; killed)"),
        }
    }
}

/// How long [`ChildProc::settle`] watches the child's CPU time at a time.
const SETTLE_WINDOW: Duration = Duration::from_millis(250);
/// CPU time the child may use in a [`SETTLE_WINDOW`] and count as idle: 2 ticks of the
/// usual 100 Hz clock (8 % of a core).
const IDLE_TICKS: u64 = 2;

/// The user and system CPU time process `pid` has used, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the parenthesised command: state, then 10 more fields, then utime and stime.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The child's side: one line to the bench.
pub fn say(line: impl Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// The child's side: the lines the bench sends; `None` once it closed our stdin.
pub struct Orders(Lines<BufReader<tokio::io::Stdin>>);

impl Orders {
    pub fn new() -> Self {
        Self(BufReader::new(tokio::io::stdin()).lines())
    }

    /// The next line; `None` at the end (cancel-safe, for `select!`).
    pub async fn next(&mut self) -> Option<String> {
        self.0.next_line().await.ok().flatten()
    }
}
