//! Desktop notifications, decided: whether a message that wants attention rings the bell
//! and raises a notification (from the mode and the terminal's focus), which way the
//! notification goes (from the mode and the terminal found in the environment), and the
//! exact bytes or arguments, with everything a sender chose made harmless.
//!
//! Pure: the environment comes in as a look-up function and nothing is written here; the
//! shell (`notifier.rs`) carries the result out. Sender names and message text end up in
//! terminal escape sequences and in `notify-send`'s arguments, so every text is stripped of
//! control characters (C0, DEL, C1: an `ESC` or `BEL` could end the sequence early and
//! inject another), of bidirectional overrides, and of `;` in OSC 777 fields (its field
//! separator), then capped in length.

use serde::Deserialize;

/// How notifications are given (`--notify`, `NATTER_NOTIFY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyMode {
    /// The bell, plus the best notification the terminal supports (OSC 777 or OSC 9),
    /// else `notify-send` when it is on the PATH.
    #[default]
    Auto,
    /// The bell only (natter's behaviour before notifications).
    Bell,
    /// The bell plus `ESC ] 777;notify;TITLE;BODY BEL` (foot, urxvt, WezTerm, Ghostty).
    Osc777,
    /// The bell plus `ESC ] 9;TEXT BEL` (iTerm2, kitty, Windows Terminal).
    Osc9,
    /// The bell plus a `notify-send` process.
    NotifySend,
    /// Neither the bell nor a notification for messages.
    Off,
}

/// A terminal escape that shows a desktop notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Osc {
    Osc777,
    Osc9,
}

/// What the environment says about where natter runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Terminal {
    /// The notification escape the terminal is known to show, if any.
    pub osc: Option<Osc>,
    /// Inside tmux: escapes go through its DCS passthrough (tmux 3.3+ passes them on only
    /// with `set -g allow-passthrough on`; otherwise it drops them silently).
    pub tmux: bool,
    /// Inside GNU screen (and not tmux): no escape is sent, since screen would show or eat
    /// it rather than pass it on.
    pub screen: bool,
    /// `notify-send` is on the PATH.
    pub notify_send: bool,
}

/// Finds the terminal from its environment variables (`var` looks one up). Under tmux the
/// outer terminal's own variables (`KITTY_WINDOW_ID`, `WEZTERM_EXECUTABLE`, ...) are
/// still inherited, while `TERM` and `TERM_PROGRAM` name tmux.
pub fn detect(var: impl Fn(&str) -> Option<String>, notify_send: bool) -> Terminal {
    let has = |name: &str| var(name).is_some_and(|v| !v.is_empty());
    let term = var("TERM").unwrap_or_default();
    let program = var("TERM_PROGRAM").unwrap_or_default();
    let lc_terminal = var("LC_TERMINAL").unwrap_or_default();
    let tmux = has("TMUX");
    let screen = !tmux && term.starts_with("screen");
    let osc777 = has("WEZTERM_EXECUTABLE")
        || has("WEZTERM_PANE")
        || program == "WezTerm"
        || program == "ghostty"
        || has("GHOSTTY_RESOURCES_DIR")
        || term == "xterm-ghostty"
        || term.starts_with("foot")
        || term.starts_with("rxvt-unicode");
    let osc9 = has("KITTY_WINDOW_ID")
        || term == "xterm-kitty"
        || program == "iTerm.app"
        || lc_terminal == "iTerm2"
        || has("ITERM_SESSION_ID")
        || has("WT_SESSION");
    let osc = if osc777 {
        Some(Osc::Osc777)
    } else if osc9 {
        Some(Osc::Osc9)
    } else {
        None
    };
    Terminal {
        osc,
        tmux,
        screen,
        notify_send,
    }
}

/// What a message that wants attention (private, or mentioning us) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    pub bell: bool,
    /// A desktop notification: only while the terminal does not have focus.
    pub desktop: bool,
}

/// The bell rings as it always has unless notifications are off; a desktop notification
/// is raised only when the user is not looking at the terminal.
pub fn alert(mode: NotifyMode, focused: bool) -> Alert {
    Alert {
        bell: mode != NotifyMode::Off,
        desktop: !focused && !matches!(mode, NotifyMode::Off | NotifyMode::Bell),
    }
}

/// A notification as the app words it, before any cleaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub title: String,
    pub body: String,
}

impl Note {
    /// A message from `from` (in `group`, or private when `None`).
    pub fn message(from: &str, group: Option<&str>, text: &str) -> Self {
        let title = match group {
            Some(group) => format!("{from} in {group}"),
            None => format!("{from} (private)"),
        };
        Self {
            title,
            body: text.to_owned(),
        }
    }
}

/// Several notes due at once (a burst read in one batch) become one: the first, saying
/// how many more came with it.
pub fn coalesce(mut notes: Vec<Note>) -> Option<Note> {
    let more = notes.len().checked_sub(1)?;
    let mut first = notes.swap_remove(0);
    if more > 0 {
        first.body = format!("{} (+{more} more)", first.body);
    }
    Some(first)
}

/// The longest title shown, in characters.
pub const MAX_TITLE: usize = 64;
/// The longest body shown, in characters.
pub const MAX_BODY: usize = 200;

/// How one notification goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Bytes for the terminal.
    Escape(String),
    /// `notify-send` with these arguments (run directly, never through a shell).
    NotifySend(Vec<String>),
}

/// Which way `note` goes under `mode` in `term`; `None` when there is no way (or none is
/// wanted). An explicit escape mode is sent even when detection did not find the terminal
/// (the user knows best), but not inside GNU screen.
pub fn delivery(note: &Note, mode: NotifyMode, term: &Terminal) -> Option<Delivery> {
    let osc = match mode {
        NotifyMode::Off | NotifyMode::Bell => return None,
        NotifyMode::Osc777 => Some(Osc::Osc777),
        NotifyMode::Osc9 => Some(Osc::Osc9),
        NotifyMode::NotifySend => None,
        NotifyMode::Auto => term.osc,
    };
    match osc.filter(|_| !term.screen) {
        Some(osc) => Some(Delivery::Escape(escape(note, osc, term.tmux))),
        None if mode == NotifyMode::NotifySend
            || (mode == NotifyMode::Auto && term.notify_send) =>
        {
            Some(Delivery::NotifySend(notify_send_args(note)))
        }
        None => None,
    }
}

/// The escape sequence for `note`, wrapped for tmux when inside it.
pub fn escape(note: &Note, osc: Osc, tmux: bool) -> String {
    let seq = match osc {
        Osc::Osc777 => format!(
            "\x1b]777;notify;{};{}\x07",
            clean(&note.title, MAX_TITLE, true),
            clean(&note.body, MAX_BODY, true)
        ),
        Osc::Osc9 => {
            // One text field: "title: body". It starts with a name, never with a digit
            // and `;` (which ConEmu-style terminals read as a sub-command).
            let text = format!(
                "{}: {}",
                clean(&note.title, MAX_TITLE, false),
                clean(&note.body, MAX_BODY, false)
            );
            format!("\x1b]9;{text}\x07")
        }
    };
    if tmux { tmux_wrap(&seq) } else { seq }
}

/// tmux's DCS passthrough: `ESC P tmux; ` + the sequence with each `ESC` doubled + `ESC \`.
pub fn tmux_wrap(seq: &str) -> String {
    format!("\x1bPtmux;{}\x1b\\", seq.replace('\x1b', "\x1b\x1b"))
}

/// `notify-send`'s arguments: the app name, then `--` so a title or body starting with
/// `-` is never read as an option. The body is escaped for notification servers that
/// read markup (`<a href=...>` and the like).
pub fn notify_send_args(note: &Note) -> Vec<String> {
    vec![
        "--app-name=natter".to_owned(),
        "--category=im.received".to_owned(),
        "--".to_owned(),
        clean(&note.title, MAX_TITLE, false),
        escape_markup(&clean(&note.body, MAX_BODY, false)),
    ]
}

/// `text` made safe to show: line breaks and tabs become spaces, other control characters
/// (C0, DEL, C1) and bidirectional overrides are dropped, `;` too when `no_semicolon`
/// (OSC 777's field separator), then it is cut to `max` characters with an ellipsis.
pub fn clean(text: &str, max: usize, no_semicolon: bool) -> String {
    let line = crate::printable::one_line(text, max);
    if no_semicolon {
        line.replace(';', ",")
    } else {
        line
    }
}

fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
#[path = "notify_tests.rs"]
mod tests;
