//! The two ends of a two-process measurement: [`ChildProc`] starts this bench again as
//! `suite --child MODE ARGS...` and talks to it in lines (its stdout to us, our lines to
//! its stdin); [`say`] is the child's side. `kill_on_drop` ends a child when the bench
//! itself is stopping.

use std::fmt::Display;
use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
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

/// The child's side: one line to the bench.
pub fn say(line: impl Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}
