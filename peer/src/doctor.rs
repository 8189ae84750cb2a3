//! `natter doctor`: the `/doctor` checks from the shell. The binary starts the node for the
//! user's name and data directory as for chatting, this module asks it for `/doctor`, prints
//! the answer (text for people, or the `doctor` event's JSON with `--json`) and says
//! whether every check passed, for the exit status.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use natter_protocol::Name;
use tokio::sync::mpsc;

use crate::node::api::Check;
use crate::node::store::{DirLock, LockError};
use crate::node::{Command, Event, NodeHandle, Notice};

/// How long to wait for the answer: the node's own limit is 5 s after the first tracker
/// attempt settles (which may take a connect timeout and a handshake first).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// The request id of our `/doctor`.
const REQ: u64 = 1;

/// Whether another natter holds `data_dir`: then the checks must run there, and the user
/// is told so in plain words (not the lock's error).
pub fn already_running(data_dir: &Path, name: &Name) -> Option<String> {
    match DirLock::acquire(data_dir) {
        Ok(_released_at_once) => None,
        Err(LockError::Held { pid, .. }) => Some(format!(
            "already running as {name}{}; type /doctor there",
            pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
        )),
        // Anything else is for the node's start to report.
        Err(_) => None,
    }
}

/// Asks the node for `/doctor`, prints the checks on stdout and returns whether all passed.
pub async fn run(
    handle: NodeHandle,
    mut events: mpsc::Receiver<Notice>,
    json: bool,
) -> anyhow::Result<bool> {
    handle
        .request(Some(REQ), Command::Doctor)
        .await
        .context("the node stopped before /doctor")?;
    let checks = tokio::time::timeout(ANSWER_TIMEOUT, async {
        while let Some(notice) = events.recv().await {
            if notice.req == Some(REQ)
                && let Event::Doctor { checks } = notice.event
            {
                return Some(checks);
            }
        }
        None
    })
    .await
    .context("no answer from /doctor in time")?
    .context("the node stopped before answering /doctor")?;
    let out = if json {
        let notice = Notice {
            req: Some(REQ),
            event: Event::Doctor {
                checks: checks.clone(),
            },
        };
        serde_json::to_string(&notice)? + "\n"
    } else {
        text(&checks)
    };
    print!("{out}");
    let _ = handle.send(Command::Quit).await;
    Ok(checks.iter().all(|c| c.ok))
}

/// The checks as people read them: ✓ or ✗, the check, what was found, and the fix.
pub fn text(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = if c.ok { "✓" } else { "✗" };
        let _ = writeln!(out, "{mark} {}: {}", c.name, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "    fix: {fix}");
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    let _ = match failed {
        0 => writeln!(out, "all {} checks passed", checks.len()),
        n => writeln!(out, "{n} of {} checks failed", checks.len()),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_marks_each_check_and_counts_failures() {
        let checks = vec![
            Check {
                name: "tracker".into(),
                ok: true,
                detail: "connected".into(),
                fix: None,
            },
            Check {
                name: "clock".into(),
                ok: false,
                detail: "40 s ahead".into(),
                fix: Some("enable NTP".into()),
            },
        ];
        assert_eq!(
            text(&checks),
            "✓ tracker: connected\n✗ clock: 40 s ahead\n    fix: enable NTP\n1 of 2 checks failed\n"
        );
    }

    #[test]
    fn a_held_data_dir_is_said_plainly() {
        let dir = tempfile::tempdir().expect("dir");
        let name: Name = "alice".parse().expect("name");
        assert_eq!(already_running(dir.path(), &name), None);
        let _held = DirLock::acquire(dir.path()).expect("lock");
        let said = already_running(dir.path(), &name).expect("held");
        assert!(said.starts_with("already running as alice"), "{said}");
        assert!(said.ends_with("type /doctor there"), "{said}");
    }
}
