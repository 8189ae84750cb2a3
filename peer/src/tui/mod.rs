//! The terminal UI: a thin async shell around the pure [`app::App`].
//!
//! One `select!` over the terminal's events, the node's events and a clock tick; each
//! becomes an [`app::Action`], the app returns effects, and the screen is redrawn. Commands
//! go to the node with `try_send`, so a slow or dead node never freezes typing.

pub mod app;
pub mod conversation;
pub mod delivery;
pub mod doctor;
pub mod external;
pub mod found_ui;
pub mod help;
pub mod hotlist;
pub mod input;
pub mod invite_band;
pub mod keys;
pub mod memo;
pub mod message;
pub mod notifier;
pub mod notify;
pub mod picker;
pub mod rows;
pub mod terminal;
pub mod ui;
pub mod wrap;

use std::collections::VecDeque;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use natter_protocol::{Name, unix_millis};
use tokio::sync::mpsc;

use crate::node::{Command, NodeHandle, Notice, Request};
use app::{Action, App, Effect};
use input::EditOp;

/// How often the screen refreshes with nothing happening (for the "down for" clock).
const TICK: Duration = Duration::from_millis(250);
/// The most node events handled between two redraws.
const BATCH: usize = 256;
/// How long quitting waits for the node to take the quit command.
const QUIT_WAIT: Duration = Duration::from_secs(2);

/// What the UI knows at start that the node does not tell it through events.
#[derive(Debug, Clone)]
pub struct UiInfo {
    pub name: Name,
    /// The tracker address as given on the command line.
    pub tracker: String,
    /// With `--host-tracker`: how another person joins this tracker.
    pub join_hint: Option<JoinHint>,
    /// This machine as others on the network name it ([`crate::reach::outward_host`]), so
    /// the status bar shows where peers reach us rather than `0.0.0.0`.
    pub host: String,
    /// Where the TUI writes its log files (shown on the screen only on errors).
    pub log_dir: std::path::PathBuf,
    /// How private messages and mentions get attention (`--notify`).
    pub notify: notify::NotifyMode,
    /// The invite to this user's tracker, when its key is known: shown on a line of its
    /// own, and copied by `/invite-link`.
    pub invite: Option<crate::invite::Invite>,
}

pub use crate::reach::JoinHint;

/// Runs the TUI until the user quits. Owns the terminal while it runs and always
/// restores it.
pub async fn run(
    node: NodeHandle,
    mut events: mpsc::Receiver<Notice>,
    info: UiInfo,
) -> anyhow::Result<()> {
    let mut tui = terminal::Tui::enter()?;
    let mut app = App::new(&info, unix_millis());
    let size = tui.terminal.size()?;
    app.update(Action::Resize(size.width, size.height));
    let mut term_events = EventStream::new();
    let mut keys = keys::Keys::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut node_open = true;
    let mut quit_sent = false;
    let mut actions = Vec::new();
    let notifier = notifier::Notifier::from_env(info.notify);
    loop {
        if terminal::panicked() {
            // The hook has restored the terminal and printed the panic; drawing on would
            // scribble over it.
            anyhow::bail!(
                "a task panicked; see the message above and the logs in {}",
                info.log_dir.display()
            );
        }
        tui.terminal.draw(|frame| ui::draw(frame, &app))?;
        tokio::select! {
            ev = term_events.next() => match ev {
                Some(Ok(ev)) => actions.extend(term_action(&mut keys, ev)),
                Some(Err(e)) => return Err(anyhow::Error::new(e).context("reading the terminal")),
                None => actions.push(Action::Quit),
            },
            ev = events.recv(), if node_open => match ev {
                Some(ev) => {
                    actions.push(Action::Notice(ev));
                    // A burst of messages costs one redraw, not one per message.
                    while actions.len() < BATCH {
                        match events.try_recv() {
                            Ok(ev) => actions.push(Action::Notice(ev)),
                            Err(_) => break,
                        }
                    }
                }
                None => {
                    node_open = false;
                    actions.push(Action::NodeGone);
                }
            },
            _ = tick.tick() => {}
        }
        app.update(Action::Tick(unix_millis()));
        let mut effects = VecDeque::new();
        for action in actions.drain(..) {
            effects.extend(app.update(action));
        }
        let mut quit = false;
        let mut bell = false;
        let mut notes = Vec::new();
        while let Some(effect) = effects.pop_front() {
            match effect {
                Effect::Node(Request {
                    req,
                    command: Command::Quit,
                }) => {
                    quit_sent = node.try_request(req, Command::Quit).is_ok();
                }
                Effect::Node(Request { req, command }) => {
                    if node.try_request(req, command).is_err() {
                        let why = format!(
                            "the node is not taking commands (busy or stopped); logs: {}",
                            info.log_dir.display()
                        );
                        effects.extend(app.update(Action::CommandFailed(why)));
                    }
                }
                Effect::Bell => bell = true,
                Effect::Redraw => tui.terminal.clear()?,
                Effect::Quit => quit = true,
                Effect::Notify(note) => notes.push(note),
                Effect::Clipboard(text) => {
                    if tui.clipboard(&text).is_err() {
                        tracing::debug!("writing to the clipboard (OSC 52) failed");
                    }
                }
                Effect::OpenEditor(text) => {
                    // The stream's reader thread would take the editor's keys: it goes, and
                    // a new one starts after.
                    drop(std::mem::replace(&mut term_events, EventStream::new()));
                    let saved =
                        in_editor(&mut tui, &mut app, &mut events, &mut node_open, text).await;
                    term_events = EventStream::new();
                    effects.extend(saved);
                }
            }
        }
        if bell && tui.bell().is_err() {
            tracing::debug!("the terminal bell failed");
        }
        if let Some(note) = notify::coalesce(notes)
            && let Err(e) = notifier.show(&note, &mut std::io::stdout())
        {
            tracing::debug!(error = %e, "the notification failed");
        }
        if quit {
            break;
        }
    }
    drop(tui);
    if !quit_sent && node_open {
        // The queue was full: wait a little for room rather than leave the node running.
        let _ = tokio::time::timeout(QUIT_WAIT, node.send(Command::Quit)).await;
    }
    Ok(())
}

/// Runs `$EDITOR` on `text` with the terminal handed over, then takes it back. Node events
/// that come meanwhile go to the app as usual (their effects wait until the editor is
/// done); the effects returned include those of putting the saved text in the input.
async fn in_editor(
    tui: &mut terminal::Tui,
    app: &mut App,
    events: &mut mpsc::Receiver<Notice>,
    node_open: &mut bool,
    text: String,
) -> Vec<Effect> {
    tui.suspend();
    let mut editor = tokio::task::spawn_blocking(move || external::edit(&text));
    let mut effects = Vec::new();
    let saved = loop {
        tokio::select! {
            done = &mut editor => {
                break done.unwrap_or_else(|e| Err(format!("the editor did not finish: {e}")));
            }
            ev = events.recv(), if *node_open => match ev {
                Some(ev) => effects.extend(app.update(Action::Notice(ev))),
                None => *node_open = false,
            },
        }
    };
    let resumed = tui.resume();
    effects.extend(app.update(Action::EditorDone(saved)));
    if let Err(e) = resumed {
        let why = format!("cannot take the terminal back after the editor: {e}");
        effects.extend(app.update(Action::CommandFailed(why)));
    }
    if !*node_open {
        effects.extend(app.update(Action::NodeGone));
    }
    effects
}

/// A terminal event as an action; `None` for events the UI ignores.
fn term_action(keys: &mut keys::Keys, ev: TermEvent) -> Option<Action> {
    match ev {
        TermEvent::Key(key) => keys.map(key),
        TermEvent::Paste(text) => Some(Action::Edit(EditOp::Paste(text))),
        TermEvent::Resize(w, h) => Some(Action::Resize(w, h)),
        TermEvent::FocusGained => Some(Action::Focus(true)),
        TermEvent::FocusLost => Some(Action::Focus(false)),
        TermEvent::Mouse(_) => None,
    }
}
