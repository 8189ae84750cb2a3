//! Logs on stderr are plain text when stderr is not a terminal: a script or a service
//! manager reading `natter-tracker` or `natter --headless` through a pipe or a file gets
//! no ANSI colour codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use util::{WAIT, bin, signal, temp};

/// The escape sequence that starts every ANSI colour code.
const CSI: &[u8] = b"\x1b[";

/// Reads a pipe to its end in the background, so the child never blocks on a full pipe.
fn read_all(pipe: impl AsyncRead + Unpin + Send + 'static) -> JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut bytes = Vec::new();
        let _ = BufReader::new(pipe).read_to_end(&mut bytes).await;
        bytes
    })
}

/// Waits for `child` to exit, then returns everything it wrote to stderr.
async fn stderr_after_exit(mut child: Child, stderr: JoinHandle<Vec<u8>>) -> String {
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("the child did not exit")
        .expect("wait for the child");
    let bytes = tokio::time::timeout(WAIT, stderr)
        .await
        .expect("stderr did not close")
        .expect("stderr reader");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(status.success(), "{status}; stderr:\n{text}");
    text
}

fn assert_plain(who: &str, stderr: &str) {
    // Something must have been logged, or the test proves nothing.
    assert!(!stderr.trim().is_empty(), "{who} logged nothing at info");
    assert!(
        !stderr.as_bytes().windows(CSI.len()).any(|w| w == CSI),
        "{who} wrote ANSI escapes to a pipe:\n{}",
        stderr.escape_debug()
    );
}

fn command(binary: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(bin(binary));
    cmd.current_dir(dir)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn the_tracker_logs_plain_text_to_a_pipe() {
    let dir = temp();
    let mut child = command("natter-tracker", dir.path())
        .args(["--listen", "127.0.0.1:0", "--state", "tracker.json"])
        .spawn()
        .expect("spawn natter-tracker");
    let stderr = read_all(child.stderr.take().unwrap());
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    // Serving (it logged its start), then asked to stop (it logs that too).
    let first = tokio::time::timeout(WAIT, stdout.next_line())
        .await
        .expect("the tracker did not report its address")
        .expect("read stdout");
    assert!(first.is_some(), "the tracker exited at start");
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    signal(&child, "TERM");
    assert_plain("natter-tracker", &stderr_after_exit(child, stderr).await);
}

#[tokio::test]
async fn headless_mode_logs_plain_text_to_a_pipe() {
    let dir = temp();
    // Hosting the tracker makes sure there is something to log at info.
    let mut child = command("natter", dir.path())
        .args(["--headless", "--name", "alice", "--listen", "127.0.0.1:0"])
        .args([
            "--host-tracker",
            "--tracker",
            "127.0.0.1:0",
            "--data-dir",
            "alice",
        ])
        .spawn()
        .expect("spawn natter");
    let stderr = read_all(child.stderr.take().unwrap());
    let stdout = read_all(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"/quit\n").await.expect("write /quit");
    stdin.flush().await.expect("flush stdin");
    let text = stderr_after_exit(child, stderr).await;
    let events = tokio::time::timeout(WAIT, stdout)
        .await
        .expect("stdout did not close")
        .expect("stdout reader");
    // The contract holds too: stdout has events only, never a log line.
    assert!(
        String::from_utf8_lossy(&events)
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["event"].is_string())),
        "{}",
        String::from_utf8_lossy(&events)
    );
    assert_plain("natter --headless", &text);
}
