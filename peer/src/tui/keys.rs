//! The key map: one function from a crossterm key event to an [`Action`], and [`Keys`]
//! around it for the one two-key chord (Ctrl-X Ctrl-E).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::Action;
use super::input::EditOp;

/// The keys, for `/help`: (keys, what they do).
pub const KEYS: &[(&str, &str)] = &[
    ("Enter", "send the line / run the command"),
    ("Tab/Shift-Tab, Ctrl-N/P", "next / previous conversation"),
    ("Alt-1 .. Alt-9", "go to conversation 1 .. 9"),
    ("PgUp, PgDn", "scroll the messages a page"),
    (
        "Ctrl-Home, Ctrl-End",
        "oldest / newest message (Home, End: when input is empty)",
    ),
    ("F2 or Ctrl-G", "show / hide the member pane"),
    (
        "Left, Right",
        "move the cursor (with Ctrl or Alt: by word; Alt-B/F too)",
    ),
    ("Ctrl-A, Ctrl-E", "start / end of the line"),
    (
        "Backspace, Ctrl-H",
        "delete the character before the cursor",
    ),
    ("Delete, Ctrl-D", "delete the character under the cursor"),
    ("Ctrl-W, Alt-Backspace", "delete the word before the cursor"),
    ("Ctrl-U, Ctrl-K", "delete to the start / end of the line"),
    (
        "Up",
        "on an empty line: select the newest message (then Up/Down move)",
    ),
    (
        "Ctrl-Up, Ctrl-Down",
        "input history (Up/Down too while typing)",
    ),
    (
        "r (message selected)",
        "reply to it: type the answer, Enter sends",
    ),
    (
        "e (message selected)",
        "edit your message: change the text, Enter sends",
    ),
    (
        "d (message selected)",
        "delete your message (asks y/n first)",
    ),
    (
        "+ or a (msg selected)",
        "react: pick with arrows and Enter, or 1-8",
    ),
    (
        "Esc",
        "leave the selection (so does typing another key); cancel a reply or an edit",
    ),
    (
        "Alt-A",
        "next conversation with news (mentions first; the status bar's Act: list)",
    ),
    ("Ctrl-L", "repaint the screen"),
    ("Ctrl-C", "quit (as /quit)"),
    (
        "Alt-Enter, Shift-Enter, Ctrl-J",
        "a new line in the message (a paste keeps its lines)",
    ),
    (
        "Up, Down (several lines)",
        "move between the lines of the message",
    ),
    (
        "Ctrl-X Ctrl-E",
        "write the message in $VISUAL or $EDITOR; Enter sends",
    ),
];

/// Maps one key press to what it asks for; `None` for keys that do nothing.
pub fn map_key(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let edit = |op| Some(Action::Edit(op));
    match key.code {
        KeyCode::Char('c') if ctrl => Some(Action::Quit),
        KeyCode::Char('n') if ctrl => Some(Action::NextConv),
        KeyCode::Char('p') if ctrl => Some(Action::PrevConv),
        KeyCode::Char('g') if ctrl => Some(Action::ToggleMembers),
        KeyCode::Char('l') if ctrl => Some(Action::Redraw),
        KeyCode::Char('a') if ctrl => edit(EditOp::Home),
        KeyCode::Char('e') if ctrl => edit(EditOp::End),
        KeyCode::Char('w') if ctrl => edit(EditOp::DeleteWord),
        KeyCode::Char('u') if ctrl => edit(EditOp::DeleteToStart),
        KeyCode::Char('k') if ctrl => edit(EditOp::DeleteToEnd),
        KeyCode::Char('h') if ctrl => edit(EditOp::Backspace),
        KeyCode::Char('d') if ctrl => edit(EditOp::Delete),
        KeyCode::Char('j') if ctrl => edit(EditOp::Newline),
        KeyCode::Char('b') if alt => edit(EditOp::WordLeft),
        KeyCode::Char('f') if alt => edit(EditOp::WordRight),
        KeyCode::Char(c @ '1'..='9') if alt => {
            Some(Action::SelectConv(usize::from(c as u8 - b'1')))
        }
        KeyCode::Char('a') if alt => Some(Action::NextActive),
        KeyCode::Char(_) if ctrl || alt => None,
        KeyCode::Char(c) => edit(EditOp::Insert(c)),
        // Shift-Enter is told apart only where the terminal reports it (see `terminal.rs`).
        KeyCode::Enter if alt || key.modifiers.contains(KeyModifiers::SHIFT) => {
            edit(EditOp::Newline)
        }
        KeyCode::Enter => Some(Action::Submit),
        KeyCode::Tab => Some(Action::NextConv),
        KeyCode::BackTab => Some(Action::PrevConv),
        KeyCode::F(2) => Some(Action::ToggleMembers),
        KeyCode::PageUp => Some(Action::PageUp),
        KeyCode::PageDown => Some(Action::PageDown),
        KeyCode::Home if ctrl => Some(Action::ScrollTop),
        KeyCode::End if ctrl => Some(Action::ScrollBottom),
        KeyCode::Home => Some(Action::Home),
        KeyCode::End => Some(Action::End),
        KeyCode::Left if ctrl || alt => edit(EditOp::WordLeft),
        KeyCode::Right if ctrl || alt => edit(EditOp::WordRight),
        KeyCode::Left => edit(EditOp::Left),
        KeyCode::Right => edit(EditOp::Right),
        KeyCode::Up if ctrl || alt => edit(EditOp::HistoryPrev),
        KeyCode::Down if ctrl || alt => edit(EditOp::HistoryNext),
        KeyCode::Up => Some(Action::Up),
        KeyCode::Down => Some(Action::Down),
        KeyCode::Esc => Some(Action::Escape),
        KeyCode::Backspace if alt || ctrl => edit(EditOp::DeleteWord),
        KeyCode::Backspace => edit(EditOp::Backspace),
        KeyCode::Delete => edit(EditOp::Delete),
        _ => None,
    }
}

/// The key map with the state of a chord: Ctrl-X, then Ctrl-E, opens the input in an
/// editor (as in bash and zsh). After Ctrl-X any other key does what it always does.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    ctrl_x: bool,
}

impl Keys {
    pub fn map(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if std::mem::take(&mut self.ctrl_x) && ctrl && key.code == KeyCode::Char('e') {
            return Some(Action::OpenEditor);
        }
        if ctrl && key.code == KeyCode::Char('x') {
            self.ctrl_x = true;
            return None;
        }
        map_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> Option<Action> {
        map_key(KeyEvent::new(code, modifiers))
    }

    #[test]
    fn maps_the_documented_keys() {
        let none = KeyModifiers::NONE;
        let ctrl = KeyModifiers::CONTROL;
        let alt = KeyModifiers::ALT;
        assert_eq!(key(KeyCode::Char('c'), ctrl), Some(Action::Quit));
        assert_eq!(key(KeyCode::Tab, none), Some(Action::NextConv));
        assert_eq!(
            key(KeyCode::BackTab, KeyModifiers::SHIFT),
            Some(Action::PrevConv)
        );
        assert_eq!(key(KeyCode::Char('n'), ctrl), Some(Action::NextConv));
        assert_eq!(key(KeyCode::Char('p'), ctrl), Some(Action::PrevConv));
        assert_eq!(key(KeyCode::Char('3'), alt), Some(Action::SelectConv(2)));
        assert_eq!(key(KeyCode::F(2), none), Some(Action::ToggleMembers));
        assert_eq!(key(KeyCode::Char('g'), ctrl), Some(Action::ToggleMembers));
        assert_eq!(key(KeyCode::PageUp, none), Some(Action::PageUp));
        assert_eq!(key(KeyCode::Home, none), Some(Action::Home));
        assert_eq!(key(KeyCode::Home, ctrl), Some(Action::ScrollTop));
        assert_eq!(key(KeyCode::End, ctrl), Some(Action::ScrollBottom));
        assert_eq!(key(KeyCode::Enter, none), Some(Action::Submit));
        assert_eq!(key(KeyCode::Char('l'), ctrl), Some(Action::Redraw));
    }

    #[test]
    fn maps_editing_keys() {
        let none = KeyModifiers::NONE;
        let ctrl = KeyModifiers::CONTROL;
        let alt = KeyModifiers::ALT;
        let edit = |op| Some(Action::Edit(op));
        assert_eq!(key(KeyCode::Char('x'), none), edit(EditOp::Insert('x')));
        assert_eq!(
            key(KeyCode::Char('X'), KeyModifiers::SHIFT),
            edit(EditOp::Insert('X'))
        );
        assert_eq!(key(KeyCode::Char('a'), ctrl), edit(EditOp::Home));
        assert_eq!(key(KeyCode::Char('e'), ctrl), edit(EditOp::End));
        assert_eq!(key(KeyCode::Char('w'), ctrl), edit(EditOp::DeleteWord));
        assert_eq!(key(KeyCode::Char('u'), ctrl), edit(EditOp::DeleteToStart));
        assert_eq!(key(KeyCode::Char('k'), ctrl), edit(EditOp::DeleteToEnd));
        assert_eq!(key(KeyCode::Char('b'), alt), edit(EditOp::WordLeft));
        assert_eq!(key(KeyCode::Char('f'), alt), edit(EditOp::WordRight));
        assert_eq!(key(KeyCode::Left, ctrl), edit(EditOp::WordLeft));
        assert_eq!(key(KeyCode::Right, ctrl), edit(EditOp::WordRight));
        assert_eq!(key(KeyCode::Up, ctrl), edit(EditOp::HistoryPrev));
        assert_eq!(key(KeyCode::Down, alt), edit(EditOp::HistoryNext));
        assert_eq!(key(KeyCode::Up, none), Some(Action::Up));
        assert_eq!(key(KeyCode::Down, none), Some(Action::Down));
        assert_eq!(key(KeyCode::Esc, none), Some(Action::Escape));
        assert_eq!(key(KeyCode::Backspace, none), edit(EditOp::Backspace));
        assert_eq!(key(KeyCode::Char('z'), ctrl), None);
    }

    #[test]
    fn new_lines_and_the_editor_chord() {
        let edit = |op| Some(Action::Edit(op));
        let newline = edit(EditOp::Newline);
        assert_eq!(key(KeyCode::Enter, KeyModifiers::ALT), newline);
        assert_eq!(key(KeyCode::Enter, KeyModifiers::SHIFT), newline);
        assert_eq!(key(KeyCode::Char('j'), KeyModifiers::CONTROL), newline);
        let mut keys = Keys::default();
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        assert_eq!(keys.map(ctrl('x')), None);
        assert_eq!(keys.map(ctrl('e')), Some(Action::OpenEditor));
        // Ctrl-E alone is still the end of the line; after Ctrl-X, another key is itself.
        assert_eq!(keys.map(ctrl('e')), edit(EditOp::End));
        assert_eq!(keys.map(ctrl('x')), None);
        let x = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE);
        assert_eq!(keys.map(x), edit(EditOp::Insert('x')));
        assert_eq!(keys.map(ctrl('e')), edit(EditOp::End));
    }

    #[test]
    fn ignores_key_releases() {
        let mut k = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE);
        k.kind = KeyEventKind::Release;
        assert_eq!(map_key(k), None);
    }
}
