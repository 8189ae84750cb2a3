//! `--on-message CMD`: the user's own command run for each incoming message, the way
//! WeeChat users wire triggers, in both the TUI and the headless mode.
//!
//! [`tap`] sits on the node's event stream: every notice passes on to the front end
//! unchanged, and each message from someone else is also queued, as the JSON object of the
//! headless `message` event, for a runner that starts `sh -c CMD` with that JSON on its
//! stdin (and in no argument: the command line is the user's, the text is a sender's).
//!
//! Never in the chat's way: the queue is bounded ([`HookLimits::queue`]; a message that
//! finds it full is dropped with a warning), at most [`HookLimits::running`] commands run
//! at once, and each is killed, with everything it started (its process group), after
//! [`HookLimits::timeout`]. Its stdout is discarded (headless stdout carries only events)
//! and the start of its stderr is logged when it fails. Commands still running when the
//! [`Running`] guard [`tap`] returns is dropped (natter quitting) are killed too.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use natter_protocol::Name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc};

use crate::node::{Event, Notice};

/// How much of a failed command's stderr is logged.
const STDERR_KEPT: u64 = 2048;
/// How many notices wait between the tap and the front end (as many as the node's own
/// event queue).
const PASS_ON_QUEUE: usize = 1024;

/// The bounds on the commands run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookLimits {
    /// Commands running at once.
    pub running: usize,
    /// Messages waiting for a free slot; past it, messages are dropped.
    pub queue: usize,
    /// How long one command may run before it is killed.
    pub timeout: Duration,
}

impl Default for HookLimits {
    fn default() -> Self {
        Self {
            running: 4,
            queue: 64,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The JSON given to the command for this notice: the headless line of a message from
/// someone other than `own`; `None` for every other notice.
pub fn message_json(notice: &Notice, own: &Name) -> Option<String> {
    match &notice.event {
        Event::Message { from, .. } if from != own => serde_json::to_string(notice).ok(),
        _ => None,
    }
}

/// The process groups (by their leader's pid) of the commands running now.
type Groups = Arc<Mutex<HashSet<u32>>>;

fn groups_of(groups: &Groups) -> std::sync::MutexGuard<'_, HashSet<u32>> {
    groups.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Kills the commands still running when it is dropped.
#[derive(Debug, Default)]
pub struct Running(Groups);

impl Drop for Running {
    fn drop(&mut self) {
        for pid in groups_of(&self.0).drain() {
            kill_group(Some(pid));
        }
    }
}

/// Taps `events`: returns the stream the front end reads instead (the same notices, in
/// order), and runs `command` for each incoming message; and the guard that kills the
/// commands still running when it is dropped. The tap ends when either end does.
pub fn tap(
    mut events: mpsc::Receiver<Notice>,
    own: Name,
    command: String,
    limits: HookLimits,
) -> (mpsc::Receiver<Notice>, Running) {
    let (out_tx, out_rx) = mpsc::channel(PASS_ON_QUEUE);
    let (hook_tx, hook_rx) = mpsc::channel(limits.queue.max(1));
    let running = Running::default();
    tokio::spawn(run_hooks(hook_rx, command, limits, Arc::clone(&running.0)));
    tokio::spawn(async move {
        while let Some(notice) = events.recv().await {
            if let Some(json) = message_json(&notice, &own)
                && hook_tx.try_send(json).is_err()
            {
                tracing::warn!(
                    queued = limits.queue,
                    "--on-message is behind; this message is not given to it"
                );
            }
            if out_tx.send(notice).await.is_err() {
                break;
            }
        }
    });
    (out_rx, running)
}

/// Takes queued messages one by one, each as soon as one of the running slots is free.
async fn run_hooks(
    mut queue: mpsc::Receiver<String>,
    command: String,
    limits: HookLimits,
    running: Groups,
) {
    let slots = Arc::new(Semaphore::new(limits.running.max(1)));
    let command: Arc<str> = command.into();
    while let Some(json) = queue.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let command = Arc::clone(&command);
        let running = Arc::clone(&running);
        tokio::spawn(async move {
            run_one(&command, json, limits.timeout, &running).await;
            drop(slot);
        });
    }
}

/// Runs `sh -c command` once with `json` (and a newline) on its stdin.
async fn run_one(command: &str, json: String, timeout: Duration, running: &Groups) {
    let spawned = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // A group of its own: at the timeout everything it started is killed with it,
        // and the terminal's Ctrl-C never reaches it.
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the --on-message command");
            return;
        }
    };
    let pid = child.id();
    if let Some(pid) = pid {
        groups_of(running).insert(pid);
    }
    let stdin = child.stdin.take();
    let stderr = child.stderr.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A command that does not read its input is not an error.
            let _ = stdin.write_all(json.as_bytes()).await;
            let _ = stdin.write_all(b"\n").await;
        }
    };
    let read_err = async move {
        let mut text = String::new();
        if let Some(stderr) = stderr {
            let _ = stderr.take(STDERR_KEPT).read_to_string(&mut text).await;
        }
        text
    };
    let work = async { tokio::join!(feed, read_err, child.wait()) };
    match tokio::time::timeout(timeout, work).await {
        Ok((_, err, Ok(status))) if !status.success() => {
            tracing::warn!(%status, stderr = %err.trim_end(), "the --on-message command failed");
        }
        Ok((_, _, Ok(_))) => {}
        Ok((_, _, Err(e))) => tracing::warn!(error = %e, "waiting for --on-message failed"),
        Err(_) => {
            kill_group(pid);
            let _ = child.start_kill();
            // Reaped here, so no zombie is left; bounded, as everything is.
            let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
            tracing::warn!(
                timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                "the --on-message command ran too long; killed"
            );
        }
    }
    if let Some(pid) = pid {
        groups_of(running).remove(&pid);
    }
}

/// SIGKILL to the process group led by `pid` (the command's `sh` and what it started).
fn kill_group(pid: Option<u32>) {
    let group = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(group) = group
        && let Err(e) = rustix::process::kill_process_group(group, rustix::process::Signal::KILL)
    {
        tracing::debug!(error = %e, "cannot kill the --on-message command's group");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Notice;
    use natter_protocol::peer::MessageId;

    fn name(s: &str) -> Name {
        s.parse().expect("name")
    }

    fn message(from: &str) -> Notice {
        Notice {
            req: None,
            event: Event::Message {
                id: MessageId {
                    sender: name(from),
                    seq: 1,
                },
                from: name(from),
                group: None,
                text: "hi\u{1b}]0;x".into(),
                sent_at: 5,
                verified: true,
                reply_to: None,
            },
        }
    }

    #[test]
    fn only_messages_from_others_go_to_the_command_as_their_headless_line() {
        let notice = message("bob");
        let json = message_json(&notice, &name("alice")).expect("json");
        let headless = serde_json::to_string(&notice).expect("line");
        assert_eq!(json, headless);
        let v: serde_json::Value = serde_json::from_str(&json).expect("parse");
        assert_eq!(v["event"], "message");
        assert_eq!(v["from"], "bob");
        assert_eq!(message_json(&notice, &name("bob")), None);
        let other = Notice {
            req: None,
            event: Event::Status { status: None },
        };
        assert_eq!(message_json(&other, &name("alice")), None);
    }

    #[tokio::test]
    async fn a_hanging_command_never_holds_up_the_front_end() {
        let (tx, rx) = mpsc::channel(16);
        let limits = HookLimits {
            running: 1,
            queue: 1,
            timeout: Duration::from_millis(200),
        };
        // `exec`: no shell left behind if the test ends before the timeout.
        let (mut out, _running) = tap(rx, name("alice"), "exec sleep 3".into(), limits);
        for _ in 0..10 {
            tx.send(message("bob")).await.expect("tap open");
        }
        drop(tx);
        let mut passed = 0;
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(5), out.recv()).await {
            passed += 1;
        }
        assert_eq!(passed, 10);
    }
}
