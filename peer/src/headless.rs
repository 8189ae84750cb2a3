//! The headless front end: slash commands in on stdin, one JSON event per line out on
//! stdout. This is natter's scripting contract (see the README); logs never go to stdout.

use futures::StreamExt;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use crate::command::{self, COMMANDS, Input};
use crate::node::{Command, Event, NodeHandle};

/// The longest input line taken; a longer one is refused with an error event.
pub const MAX_LINE: usize = 128 * 1024;

/// Runs until the node's event stream ends (after `/quit` or the end of input).
pub async fn run(handle: NodeHandle, events: mpsc::Receiver<Event>) -> anyhow::Result<()> {
    run_with(handle, events, tokio::io::stdin(), tokio::io::stdout()).await
}

/// [`run`] over any input and output (for tests).
pub async fn run_with(
    handle: NodeHandle,
    mut events: mpsc::Receiver<Event>,
    input: impl AsyncRead + Unpin + Send + 'static,
    mut output: impl AsyncWrite + Unpin,
) -> anyhow::Result<()> {
    // Lines that are not node events (help, parse errors) come back through here, so one
    // writer owns stdout. Reading input in its own task means a busy node never stops us
    // from draining its events.
    let (local_tx, mut local_rx) = mpsc::channel::<String>(64);
    let reader = tokio::spawn(read_commands(handle, input, local_tx));
    let mut local_open = true;
    loop {
        // Local lines first: each was queued before any later command reached the node,
        // so answers come out in the order their commands came in.
        let line = tokio::select! {
            biased;
            line = local_rx.recv(), if local_open => match line {
                Some(line) => line,
                None => { local_open = false; continue; }
            },
            ev = events.recv() => match ev {
                Some(ev) => serde_json::to_string(&ev)?,
                None => break,
            },
        };
        output.write_all(line.as_bytes()).await?;
        output.write_all(b"\n").await?;
        output.flush().await?;
    }
    reader.abort();
    Ok(())
}

async fn read_commands(
    handle: NodeHandle,
    input: impl AsyncRead + Unpin,
    local: mpsc::Sender<String>,
) {
    let mut lines = FramedRead::new(input, LinesCodec::new_with_max_length(MAX_LINE));
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(line) => line,
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                let message = format!("line too long (at most {MAX_LINE} bytes); ignored");
                let _ = local.send(error_line(&message)).await;
                continue;
            }
            Err(LinesCodecError::Io(e)) => {
                tracing::warn!(error = %e, "cannot read stdin");
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match command::parse(&line) {
            Ok(Input::Node(cmd)) => {
                let quit = cmd == Command::Quit;
                if handle.send(cmd).await.is_err() || quit {
                    return;
                }
                continue;
            }
            Ok(Input::Help) => help_line(),
            Ok(Input::Clear | Input::Query(_)) => {
                error_line("that is a TUI command; the headless mode has no conversation view")
            }
            Ok(Input::Text(_)) => error_line("plain text needs a target here: /msg TARGET TEXT"),
            Err(e) => error_line(&e.to_string()),
        };
        if local.send(reply).await.is_err() {
            return;
        }
    }
    // End of input is /quit.
    let _ = handle.send(Command::Quit).await;
}

fn error_line(message: &str) -> String {
    serde_json::to_string(&Event::error(message)).unwrap_or_default()
}

/// One command in the `help` event.
#[derive(Serialize)]
struct HelpItem {
    command: &'static str,
    help: &'static str,
}

/// `{"event":"help","commands":[{"command":"/join GROUP","help":"..."}, ...]}`
#[derive(Serialize)]
struct Help {
    event: &'static str,
    commands: Vec<HelpItem>,
}

fn help_line() -> String {
    let commands = COMMANDS
        .iter()
        .map(|&(command, help)| HelpItem { command, help })
        .collect();
    let help = Help {
        event: "help",
        commands,
    };
    serde_json::to_string(&help).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn help_and_error_lines_are_json_events() {
        let help: serde_json::Value = serde_json::from_str(&help_line()).expect("json");
        assert_eq!(help["event"], "help");
        assert_eq!(help["commands"][0]["command"], "/join GROUP");
        assert!(help_line().starts_with(r#"{"event":"help","#));
        let err: serde_json::Value = serde_json::from_str(&error_line("x")).expect("json");
        assert_eq!(err, json!({"event":"error","message":"x"}));
    }
}
