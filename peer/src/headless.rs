//! The headless front end: slash commands in on stdin, one JSON event per line out on
//! stdout. This is natter's scripting contract (see the README); logs never go to stdout.
//!
//! Each input line is a request whose id is its line number (counting from 1, blank lines
//! included), or the `req` a JSON command gives: every event it causes carries it.

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::command::json::{self, JsonCommand};
use crate::command::{self, COMMANDS, Input};
use crate::node::{Command, Event, NodeError, NodeHandle, Notice};
use natter_protocol::RequestId;

/// The longest input line taken; a longer one is refused with an error event.
pub const MAX_LINE: usize = 128 * 1024;

/// Runs until the node's event stream ends (after `/quit` or the end of input).
pub async fn run(handle: NodeHandle, events: mpsc::Receiver<Notice>) -> anyhow::Result<()> {
    run_with(handle, events, stdio::input(), stdio::output()).await
}

/// stdin and stdout. When they are pipes (a script's usual way), they are read and written
/// straight from the runtime's event loop, as sockets are; tokio's own `stdin()` and
/// `stdout()` hand every read and write to a blocking thread and back (two thread
/// wake-ups on each side of every message). Anything else (a terminal, a file) goes
/// through tokio's.
mod stdio {
    use std::fs::File;
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::pin::Pin;

    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio::net::unix::pipe;

    /// A new handle on `fd`'s open file, if it is a pipe.
    fn pipe_of(fd: impl AsFd) -> Option<File> {
        let file = File::from(fd.as_fd().try_clone_to_owned().ok()?);
        let is_pipe = file.metadata().ok()?.file_type().is_fifo();
        is_pipe.then_some(file)
    }

    pub fn input() -> Pin<Box<dyn AsyncRead + Send>> {
        match pipe_of(std::io::stdin()).and_then(|f| pipe::Receiver::from_file(f).ok()) {
            Some(pipe) => Box::pin(pipe),
            None => Box::pin(tokio::io::stdin()),
        }
    }

    pub fn output() -> Pin<Box<dyn AsyncWrite + Send>> {
        // A non-blocking pipe is non-blocking for every descriptor of it: not when stderr
        // (our logs, written blocking) is the same pipe (`2>&1`).
        let same = |a: &File, b: &File| {
            let (Ok(a), Ok(b)) = (a.metadata(), b.metadata()) else {
                return true;
            };
            (a.dev(), a.ino()) == (b.dev(), b.ino())
        };
        let out = pipe_of(std::io::stdout());
        let shared = match (&out, pipe_of(std::io::stderr())) {
            (Some(out), Some(err)) => same(out, &err),
            _ => false,
        };
        match out
            .filter(|_| !shared)
            .and_then(|f| pipe::Sender::from_file(f).ok())
        {
            Some(pipe) => Box::pin(pipe),
            None => Box::pin(tokio::io::stdout()),
        }
    }
}

/// [`run`] over any input and output (for tests).
pub async fn run_with(
    handle: NodeHandle,
    mut events: mpsc::Receiver<Notice>,
    input: impl AsyncRead + Unpin + Send + 'static,
    mut output: impl AsyncWrite + Unpin,
) -> anyhow::Result<()> {
    // Lines that are not node events (help, parse errors) come back through here, so one
    // writer owns stdout. Reading input in its own task means a busy node never stops us
    // from draining its events.
    let (local_tx, mut local_rx) = mpsc::channel::<String>(64);
    let reader = tokio::spawn(read_commands(handle, input, local_tx));
    let mut local_open = true;
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    loop {
        // Local lines first: each was queued before any later command reached the node,
        // so answers come out in the order their commands came in.
        let first = tokio::select! {
            biased;
            line = local_rx.recv(), if local_open => match line {
                Some(line) => Line::Local(line),
                None => { local_open = false; continue; }
            },
            notice = events.recv() => match notice {
                Some(notice) => Line::Event(notice),
                None => break,
            },
        };
        first.write_to(&mut batch)?;
        // Whatever else is already waiting goes out in the same write (one flush, one
        // wake-up of the stdout thread, per batch instead of per line), in the same order.
        while batch.len() < BATCH_BYTES {
            let next = match local_rx.try_recv() {
                Ok(line) => Line::Local(line),
                Err(_) => match events.try_recv() {
                    Ok(notice) => Line::Event(notice),
                    Err(_) => break,
                },
            };
            next.write_to(&mut batch)?;
        }
        output.write_all(&batch).await?;
        output.flush().await?;
        batch.clear();
    }
    reader.abort();
    Ok(())
}

/// Bytes of output gathered before one write.
const BATCH_BYTES: usize = 64 * 1024;

/// One line of output: a node event, or a line of ours (help, a parse error).
// Made and written at once, one at a time: boxing the event would cost an allocation per
// line for nothing.
#[allow(clippy::large_enum_variant)]
enum Line {
    Local(String),
    Event(Notice),
}

impl Line {
    fn write_to(self, out: &mut Vec<u8>) -> anyhow::Result<()> {
        match self {
            Self::Local(line) => out.extend_from_slice(line.as_bytes()),
            Self::Event(notice) => serde_json::to_writer(&mut *out, &notice)?,
        }
        out.push(b'\n');
        Ok(())
    }
}

async fn read_commands(
    handle: NodeHandle,
    input: impl AsyncRead + Unpin,
    local: mpsc::Sender<String>,
) {
    let mut lines = LineReader::new(input);
    let mut number: RequestId = 0;
    loop {
        let read = lines.next().await;
        number += 1;
        let req = Some(number);
        let line = match read {
            Ok(ReadLine::Line(line)) => line,
            Ok(ReadLine::TooLong) => {
                let message = format!("line too long (at most {MAX_LINE} bytes); ignored");
                if local
                    .send(error_line(req, NodeError::BadInput(message)))
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Ok(ReadLine::NotUtf8) => {
                let message = "line is not valid UTF-8; ignored".to_owned();
                if local
                    .send(error_line(req, NodeError::BadInput(message)))
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Ok(ReadLine::Eof) => break,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read stdin");
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let (req, parsed) = parse_line(req, &line);
        let reply = match parsed {
            Ok(Input::Node(cmd)) => {
                let quit = cmd == Command::Quit;
                if handle.request(req, cmd).await.is_err() || quit {
                    return;
                }
                continue;
            }
            Ok(Input::Help) => help_line(req),
            Ok(Input::Clear | Input::Query(_) | Input::InviteLink) => {
                let message = "that is a TUI command; the headless mode has no conversation view";
                error_line(req, NodeError::BadCommand(message.into()))
            }
            Ok(Input::Text(_)) => {
                let message = "plain text needs a target here: /msg TARGET TEXT";
                error_line(req, NodeError::BadCommand(message.into()))
            }
            Err(e) => error_line(req, NodeError::BadCommand(e)),
        };
        if local.send(reply).await.is_err() {
            return;
        }
    }
    // End of input is /quit.
    let _ = handle.send(Command::Quit).await;
}

/// One input line as a command, in its slash or its JSON form, with the request id its
/// events carry: the JSON form's `req` when it gives one, else the line number.
fn parse_line(number: Option<RequestId>, line: &str) -> (Option<RequestId>, Result<Input, String>) {
    if json::is_json(line) {
        let JsonCommand { req, input } = json::parse_json(line);
        return (req.or(number), input);
    }
    (number, command::parse(line).map_err(|e| e.to_string()))
}

/// What one read of the input gave.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReadLine {
    /// A line, without its `\n` (or `\r\n`).
    Line(String),
    /// A line longer than [`MAX_LINE`]; it is skipped up to its end.
    TooLong,
    /// A line that is not UTF-8; it is skipped.
    NotUtf8,
    /// The input ended.
    Eof,
}

/// Splits input into lines of at most [`MAX_LINE`] bytes, never holding more than that
/// in memory; a bad line is reported and skipped, and reading goes on after it.
struct LineReader<R> {
    inner: BufReader<R>,
    line: Vec<u8>,
    /// Skipping the rest of a line already reported as too long.
    discarding: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    fn new(input: R) -> Self {
        Self {
            inner: BufReader::new(input),
            line: Vec::new(),
            discarding: false,
        }
    }

    async fn next(&mut self) -> std::io::Result<ReadLine> {
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                self.discarding = false;
                if self.line.is_empty() {
                    return Ok(ReadLine::Eof);
                }
                return Ok(decode(std::mem::take(&mut self.line)));
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let taken = newline.unwrap_or(available.len());
            let used = newline.map_or(taken, |i| i + 1);
            if self.discarding {
                self.discarding = newline.is_none();
                self.inner.consume(used);
                continue;
            }
            if self.line.len() + taken > MAX_LINE {
                self.line.clear();
                self.discarding = newline.is_none();
                self.inner.consume(used);
                return Ok(ReadLine::TooLong);
            }
            self.line.extend_from_slice(&available[..taken]);
            self.inner.consume(used);
            if newline.is_some() {
                return Ok(decode(std::mem::take(&mut self.line)));
            }
        }
    }
}

/// A line's bytes as text, without a trailing `\r`; `NotUtf8` unless they are UTF-8.
fn decode(mut bytes: Vec<u8>) -> ReadLine {
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    match String::from_utf8(bytes) {
        Ok(line) => ReadLine::Line(line),
        Err(_) => ReadLine::NotUtf8,
    }
}

fn error_line(req: Option<RequestId>, error: NodeError) -> String {
    let event = Event::from(error);
    serde_json::to_string(&Notice { req, event }).unwrap_or_default()
}

/// One command in the `help` event.
#[derive(Serialize)]
struct HelpItem {
    command: &'static str,
    help: &'static str,
}

/// `{"event":"help","commands":[{"command":"/join GROUP","help":"..."}, ...],"req":N}`
#[derive(Serialize)]
struct Help {
    event: &'static str,
    commands: Vec<HelpItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    req: Option<RequestId>,
}

fn help_line(req: Option<RequestId>) -> String {
    let commands = COMMANDS
        .iter()
        .map(|&(command, help)| HelpItem { command, help })
        .collect();
    let help = Help {
        event: "help",
        commands,
        req,
    };
    serde_json::to_string(&help).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn help_and_error_lines_are_json_events() {
        let help: serde_json::Value = serde_json::from_str(&help_line(Some(3))).expect("json");
        assert_eq!(help["event"], "help");
        assert_eq!(help["req"], 3);
        assert_eq!(help["commands"][0]["command"], "/join GROUP");
        assert!(help_line(None).starts_with(r#"{"event":"help","#));
        let err = error_line(Some(2), NodeError::BadCommand("x".into()));
        let err: serde_json::Value = serde_json::from_str(&err).expect("json");
        assert_eq!(
            err,
            json!({"event":"error","code":"bad_command","message":"x","req":2})
        );
    }

    /// Contract 3's new events and fields, as a script reads them.
    #[test]
    fn contract_3_events_are_the_lines_the_readme_shows() {
        use crate::node::About;
        use crate::node::api::{DeliveryState, HistoryItem};
        let line = |req, event| {
            let text = serde_json::to_string(&Notice { req, event }).expect("json");
            serde_json::from_str::<serde_json::Value>(&text).expect("json")
        };
        let id: natter_protocol::peer::MessageId = "alice/7".parse().expect("id");
        let name = |s: &str| s.parse::<natter_protocol::Name>().expect("name");
        let sent = Event::Sent {
            id: id.clone(),
            delivered: vec!["bob".into()],
            failed: vec![],
            pending: vec!["carol".into()],
        };
        assert_eq!(
            line(Some(4), sent),
            json!({"event":"sent","id":"alice/7","delivered":["bob"],"failed":[],
                   "pending":["carol"],"req":4})
        );
        let delivered = Event::Delivered {
            id: id.clone(),
            to: name("carol"),
        };
        assert_eq!(
            line(None, delivered),
            json!({"event":"delivered","id":"alice/7","to":"carol"})
        );
        let failed = Event::Failed {
            id: id.clone(),
            to: name("carol"),
            reason: "not delivered before it expired".into(),
        };
        assert_eq!(
            line(None, failed),
            json!({"event":"failed","id":"alice/7","to":"carol",
                   "reason":"not delivered before it expired"})
        );
        let message = Event::Message {
            id: "bob/1".parse().expect("id"),
            from: name("bob"),
            group: None,
            text: "hi".into(),
            sent_at: 5,
            verified: false,
            reply_to: None,
        };
        assert_eq!(
            line(None, message),
            json!({"event":"message","id":"bob/1","from":"bob","group":null,"text":"hi",
                   "sent_at":5,"verified":false,"reply_to":null})
        );
        let own = HistoryItem {
            id,
            from: name("alice"),
            group: None,
            text: "yo".into(),
            sent_at: 6,
            verified: true,
            to: Some("bob".into()),
            delivery: Some(DeliveryState {
                delivered: vec![],
                pending: vec!["bob".into()],
                failed: vec![],
                read: Vec::new(),
            }),
            reply_to: None,
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
        };
        let theirs = HistoryItem {
            id: "bob/1".parse().expect("id"),
            from: name("bob"),
            group: None,
            text: "hi".into(),
            sent_at: 5,
            verified: true,
            to: None,
            delivery: None,
            reply_to: None,
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
        };
        let history = Event::History {
            target: About::Peer(name("bob")),
            messages: vec![theirs, own],
        };
        assert_eq!(
            line(Some(9), history),
            json!({"event":"history","target":"bob","req":9,"messages":[
                {"id":"bob/1","from":"bob","group":null,"text":"hi","sent_at":5,
                 "verified":true,"reply_to":null,"edited_at":null,"deleted":false,
                 "reactions":[]},
                {"id":"alice/7","from":"alice","group":null,"text":"yo","sent_at":6,
                 "verified":true,"reply_to":null,"edited_at":null,"deleted":false,
                 "reactions":[],"to":"bob",
                 "delivery":{"delivered":[],"pending":["bob"],"failed":[],"read":[]}}
            ]})
        );
    }

    #[tokio::test]
    async fn history_is_a_command_with_a_default_count() {
        let (cmd_tx, mut cmd_rx) = mpsc::channel(8);
        let (local_tx, mut local_rx) = mpsc::channel(8);
        let input = b"/history #g\n/history bob 3\n/history\n/history bob 0\n";
        read_commands(NodeHandle::new(cmd_tx), &input[..], local_tx).await;
        let group = "g".parse().expect("group");
        let first = cmd_rx.try_recv().expect("history");
        assert_eq!(
            first.command,
            Command::History {
                target: crate::node::Target::Group(group),
                limit: crate::command::DEFAULT_HISTORY,
            }
        );
        let second = cmd_rx.try_recv().expect("history");
        assert_eq!(
            second.command,
            Command::History {
                target: crate::node::Target::Peer("bob".parse().expect("name")),
                limit: 3,
            }
        );
        // No target, and a count of 0: usage errors, for their own lines.
        let mut errors = Vec::new();
        while let Ok(line) = local_rx.try_recv() {
            let v: serde_json::Value = serde_json::from_str(&line).expect("json");
            assert_eq!(v["code"], "bad_command", "{v}");
            errors.push(v["req"].as_u64().unwrap_or_default());
        }
        assert_eq!(errors, [3, 4]);
    }

    #[tokio::test]
    async fn json_commands_carry_their_req_and_keep_line_breaks() {
        let (cmd_tx, mut cmd_rx) = mpsc::channel(8);
        let (local_tx, mut local_rx) = mpsc::channel(8);
        let input = concat!(
            r##"{"cmd":"msg","target":"#g","text":"a\nb","req":70}"##,
            "\n",
            r#"{"cmd":"groups"}"#,
            "\n",
            r#"{"cmd":"msg","req":71}"#,
            "\n{oops\n",
        );
        read_commands(NodeHandle::new(cmd_tx), input.as_bytes(), local_tx).await;
        let send = cmd_rx.try_recv().expect("msg");
        assert_eq!(send.req, Some(70));
        assert_eq!(
            send.command,
            Command::Send {
                target: crate::node::Target::Group("g".parse().expect("group")),
                text: "a\nb".into(),
            }
        );
        // Without a req, the line number is the request id.
        let groups = cmd_rx.try_recv().expect("groups");
        assert_eq!((groups.req, groups.command), (Some(2), Command::Groups));
        let mut errors = Vec::new();
        while let Ok(line) = local_rx.try_recv() {
            let v: serde_json::Value = serde_json::from_str(&line).expect("json");
            assert_eq!(v["code"], "bad_command", "{v}");
            errors.push(v["req"].as_u64().unwrap_or_default());
        }
        assert_eq!(errors, [71, 4]);
    }

    async fn read_all(input: &[u8]) -> Vec<ReadLine> {
        let mut reader = LineReader::new(input);
        let mut out = Vec::new();
        loop {
            let line = reader.next().await.expect("read");
            out.push(line.clone());
            if line == ReadLine::Eof {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn bad_lines_are_reported_and_reading_goes_on() {
        let mut input = b"/groups\r\n".to_vec();
        input.extend(vec![b'x'; MAX_LINE + 1]);
        input.extend(b"tail of the long line\n\xff\xfe bad\n");
        input.extend(vec![b'y'; MAX_LINE]);
        input.extend(b"\nlast");
        let line = |s: &str| ReadLine::Line(s.to_owned());
        assert_eq!(
            read_all(&input).await,
            vec![
                line("/groups"),
                ReadLine::TooLong,
                ReadLine::NotUtf8,
                line(&"y".repeat(MAX_LINE)),
                line("last"),
                ReadLine::Eof,
            ]
        );
        // A long line with no end at all is one error, then the end of input.
        let endless = vec![b'z'; 3 * MAX_LINE];
        assert_eq!(
            read_all(&endless).await,
            vec![ReadLine::TooLong, ReadLine::Eof]
        );
    }

    #[tokio::test]
    async fn bad_lines_get_error_events_and_the_next_command_still_runs() {
        let (cmd_tx, mut cmd_rx) = mpsc::channel(8);
        let (local_tx, mut local_rx) = mpsc::channel(8);
        let mut input = vec![b'x'; MAX_LINE * 2];
        input.extend(b"\n\xc3\x28\n/groups\n");
        read_commands(NodeHandle::new(cmd_tx), &input[..], local_tx).await;
        let mut errors = Vec::new();
        while let Ok(line) = local_rx.try_recv() {
            let v: serde_json::Value = serde_json::from_str(&line).expect("json");
            assert_eq!(v["event"], "error");
            assert_eq!(v["code"], "bad_input");
            errors.push(v["message"].as_str().unwrap_or_default().to_owned());
        }
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("too long"), "{errors:?}");
        assert!(errors[1].contains("UTF-8"), "{errors:?}");
        // The third line: its request id is its line number.
        let groups = cmd_rx.try_recv().expect("groups");
        assert_eq!((groups.req, groups.command), (Some(3), Command::Groups));
        // Only the end of input quits.
        let quit = cmd_rx.try_recv().expect("quit");
        assert_eq!(quit.command, Command::Quit);
    }
}
