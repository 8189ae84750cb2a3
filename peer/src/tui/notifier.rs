//! The shell that shows desktop notifications: finds the terminal once at start, then
//! writes the escape sequence or starts `notify-send` as `notify::delivery` says.
//!
//! It never blocks the UI: an escape is a few bytes written with the screen's own, and
//! `notify-send` is spawned and left to a task that waits for it (killed after
//! [`NOTIFY_SEND_TIMEOUT`]). At most [`MAX_IN_FLIGHT`] run at once; a notification due
//! while they are all busy is dropped.

use std::io::{self, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::notify::{self, Delivery, Note, NotifyMode, Terminal};

/// How many `notify-send` processes may run at once.
pub const MAX_IN_FLIGHT: usize = 2;
/// How long one `notify-send` may take before it is killed.
pub const NOTIFY_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Shows notifications the way the mode and the terminal allow.
#[derive(Debug)]
pub struct Notifier {
    mode: NotifyMode,
    term: Terminal,
    slots: Arc<Semaphore>,
}

impl Notifier {
    /// Reads the environment once (the terminal's variables, and `notify-send` on the
    /// PATH when the mode may use it).
    pub fn from_env(mode: NotifyMode) -> Self {
        let wants_notify_send = matches!(mode, NotifyMode::Auto | NotifyMode::NotifySend);
        let found = wants_notify_send && on_path("notify-send");
        let term = notify::detect(|name| std::env::var(name).ok(), found);
        tracing::debug!(?mode, ?term, "notifications");
        Self {
            mode,
            term,
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Shows `note`: its escape written to `out`, or `notify-send` started. Must run inside
    /// the tokio runtime (the wait for `notify-send` is a task).
    pub fn show(&self, note: &Note, out: &mut impl Write) -> io::Result<()> {
        match notify::delivery(note, self.mode, &self.term) {
            None => Ok(()),
            Some(Delivery::Escape(seq)) => {
                out.write_all(seq.as_bytes())?;
                out.flush()
            }
            Some(Delivery::NotifySend(args)) => {
                self.spawn(args);
                Ok(())
            }
        }
    }

    fn spawn(&self, args: Vec<String>) {
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            tracing::debug!("notify-send still busy; notification dropped");
            return;
        };
        // Run directly, never through a shell: the arguments are the sender's text.
        let child = tokio::process::Command::new("notify-send")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                tracing::warn!(error = %e, "cannot run notify-send");
                return;
            }
        };
        tokio::spawn(async move {
            match tokio::time::timeout(NOTIFY_SEND_TIMEOUT, child.wait()).await {
                Ok(Ok(status)) if !status.success() => {
                    tracing::warn!(%status, "notify-send failed");
                }
                Ok(_) => {}
                // Dropping the child kills it (`kill_on_drop`).
                Err(_) => tracing::warn!("notify-send did not finish; killed"),
            }
            drop(slot);
        });
    }
}

/// Whether `program` is an executable file in one of the PATH's directories.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let file = Path::new(&dir).join(program);
        file.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}
