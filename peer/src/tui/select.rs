//! Selecting a message with the keyboard and acting on it: Up on an empty input line
//! selects the newest message, Up and Down move, and single keys reply (`r`), edit (`e`),
//! delete (`d`, after a y/n question) or react (`+` or `a`, through the emoji picker).
//!
//! Part of `App` (like `history.rs`): the keys arrive as the same [`Action`]s as ever and
//! mean something else while a message is selected, so the key map stays one function.

use natter_protocol::peer::MessageId;

use super::{Action, App, Effect};
use crate::node::Command;
use crate::node::api::Action as Act;
use crate::tui::conversation::{ConvId, Line, LineKind, Own};
use crate::tui::input::EditOp;
use crate::tui::message::{Extra, Quote};
use crate::tui::picker::EMOJIS;
use crate::tui::ui;

/// What the keys do now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Mode {
    /// They edit the input line.
    #[default]
    Normal,
    /// A message is selected: single keys act on it.
    Select(MessageId),
    /// "delete this message? y/n" for the selected message.
    ConfirmDelete(MessageId),
    /// The emoji picker is open for the message, `at` highlighted.
    Pick { id: MessageId, at: usize },
}

impl Mode {
    /// The selected message, in any mode but `Normal`.
    pub fn selected(&self) -> Option<&MessageId> {
        match self {
            Self::Normal => None,
            Self::Select(id) | Self::ConfirmDelete(id) | Self::Pick { id, .. } => Some(id),
        }
    }
}

/// What the input line is being written for, besides a new message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compose {
    /// A reply to `quote.to`.
    Reply(Quote),
    /// New text for our message.
    Edit(MessageId),
}

impl App {
    /// Handles `action` as the current mode means it; `None` when the mode leaves it to
    /// the ordinary handling.
    pub(super) fn in_mode(&mut self, action: &Action) -> Option<Vec<Effect>> {
        let mode = self.mode.clone();
        let id = match &mode {
            Mode::Normal => return self.in_normal(action),
            Mode::Select(id) | Mode::ConfirmDelete(id) | Mode::Pick { id, .. } => id.clone(),
        };
        if action.goes_on_under_views() {
            return None;
        }
        if self.selected().position(&id).is_none() {
            // The message is gone (cleared, or fell off the front).
            self.mode = Mode::Normal;
            return None;
        }
        match mode {
            Mode::Normal => None,
            Mode::Select(_) => self.in_select(id, action),
            Mode::ConfirmDelete(_) => Some(self.in_confirm(id, action)),
            Mode::Pick { at, .. } => Some(self.in_picker(id, at, action)),
        }
    }

    /// Up on an empty line selects; Esc gives up a reply or an edit.
    fn in_normal(&mut self, action: &Action) -> Option<Vec<Effect>> {
        match action {
            Action::Up if self.input.is_empty() => {
                let newest = self.neighbour(None, true);
                match newest {
                    Some(id) => self.choose(id),
                    None => self.input.apply(EditOp::HistoryPrev),
                }
            }
            Action::Up => self.input.apply(EditOp::LineUp),
            Action::Down => self.input.apply(EditOp::LineDown),
            Action::Escape => {
                if let Some(Compose::Edit(_)) = self.compose.take() {
                    self.input.clear();
                }
            }
            _ => return None,
        }
        Some(Vec::new())
    }

    fn in_select(&mut self, id: MessageId, action: &Action) -> Option<Vec<Effect>> {
        match action {
            Action::Up => {
                if let Some(older) = self.neighbour(Some(&id), true) {
                    self.choose(older);
                }
            }
            Action::Down => match self.neighbour(Some(&id), false) {
                Some(newer) => self.choose(newer),
                None => self.mode = Mode::Normal,
            },
            Action::Escape => self.mode = Mode::Normal,
            Action::Edit(EditOp::Insert(c @ ('r' | 'e' | 'd' | '+' | 'a'))) => {
                return Some(self.act_key(id, *c));
            }
            // Any other character starts typing (a `/command`, a message): after `/search`
            // or `/mentions` jumped here, the keys of a command must not act on the message.
            Action::Edit(EditOp::Insert(_)) => {
                self.mode = Mode::Normal;
                return None;
            }
            Action::Edit(_) | Action::Submit | Action::Home | Action::End => {}
            // Anything else (another conversation, scrolling) leaves the selection.
            _ => {
                self.mode = Mode::Normal;
                return None;
            }
        }
        Some(Vec::new())
    }

    /// One key on the selected message.
    fn act_key(&mut self, id: MessageId, key: char) -> Vec<Effect> {
        let Some(i) = self.selected().position(&id) else {
            return Vec::new();
        };
        let line = &self.selected().lines()[i];
        let own = matches!(line.kind, LineKind::Message { own: Some(_), .. });
        let deleted = matches!(&line.kind, LineKind::Message { extra, .. } if extra.deleted);
        let text = line.text.clone();
        let original = line.quoted();
        let refuse = |app: &mut Self, what: &str| {
            let line = Line::error(Some(app.now), what.to_owned());
            app.selected_mut().push(line);
        };
        match key {
            'r' => {
                self.compose = Some(Compose::Reply(Quote { to: id, original }));
                self.mode = Mode::Normal;
            }
            'e' | 'd' if !own => refuse(self, "only your own messages can be changed"),
            'e' | 'd' if deleted => refuse(self, "that message is deleted"),
            'e' => {
                self.compose = Some(Compose::Edit(id));
                self.input.replace(&text);
                self.mode = Mode::Normal;
            }
            'd' => self.mode = Mode::ConfirmDelete(id),
            '+' | 'a' => self.mode = Mode::Pick { id, at: 0 },
            _ => {}
        }
        Vec::new()
    }

    fn in_confirm(&mut self, id: MessageId, action: &Action) -> Vec<Effect> {
        match action {
            Action::Edit(EditOp::Insert('y' | 'Y')) => {
                self.mode = Mode::Normal;
                return vec![self.act(id, Act::Delete)];
            }
            Action::Edit(EditOp::Insert('n' | 'N')) | Action::Escape => {
                self.mode = Mode::Select(id);
            }
            _ => {}
        }
        Vec::new()
    }

    fn in_picker(&mut self, id: MessageId, at: usize, action: &Action) -> Vec<Effect> {
        let n = EMOJIS.len();
        let chosen = match action {
            Action::Up | Action::Edit(EditOp::Left) => {
                self.mode = Mode::Pick {
                    id,
                    at: (at + n - 1) % n,
                };
                return Vec::new();
            }
            Action::Down | Action::Edit(EditOp::Right) => {
                self.mode = Mode::Pick {
                    id,
                    at: (at + 1) % n,
                };
                return Vec::new();
            }
            Action::Escape => {
                self.mode = Mode::Select(id);
                return Vec::new();
            }
            Action::Edit(EditOp::Insert(c @ '1'..='9')) => {
                let digit = usize::from(*c as u8 - b'1');
                EMOJIS.get(digit)
            }
            Action::Submit => EMOJIS.get(at),
            _ => None,
        };
        match chosen {
            Some(emoji) => {
                self.mode = Mode::Normal;
                vec![self.act(id, Act::React((*emoji).to_owned()))]
            }
            None => Vec::new(),
        }
    }

    /// Selects message `id` and scrolls it into view.
    pub(super) fn choose(&mut self, id: MessageId) {
        let Some(index) = self.selected().position(&id) else {
            return;
        };
        self.mode = Mode::Select(id);
        let (width, height) = ui::message_view(self);
        let memo = &self.rows;
        let i = self.selected_index();
        self.convs[i].reveal(index, height, |seq, line| {
            ui::line_rows(memo, seq, line, width)
        });
    }

    /// The selectable message next to `from` (older when `up`), or the newest one.
    fn neighbour(&self, from: Option<&MessageId>, up: bool) -> Option<MessageId> {
        let lines = self.selected().lines();
        let start = from.and_then(|id| self.selected().position(id));
        let found = match (start, up) {
            (None, _) => lines.iter().rev().find_map(Line::id),
            (Some(i), true) => lines.iter().take(i).rev().find_map(Line::id),
            (Some(i), false) => lines.iter().skip(i + 1).find_map(Line::id),
        };
        found.cloned()
    }

    /// A command acting on message `id`.
    pub(super) fn act(&mut self, id: MessageId, action: Act) -> Effect {
        self.request(Command::Act { id, action }).1
    }

    /// Plain text typed for a reply or an edit.
    pub(super) fn send_composed(&mut self, compose: Compose, text: String) -> Vec<Effect> {
        match compose {
            Compose::Edit(id) => vec![self.act(id, Act::Edit(text))],
            Compose::Reply(quote) => {
                let id = quote.to.clone();
                let (req, effect) = self.request(Command::Act {
                    id: id.clone(),
                    action: Act::Reply(text.clone()),
                });
                // Shown at once, in the original's conversation, like typed text.
                let i = self
                    .convs
                    .iter()
                    .position(|c| c.contains(&id))
                    .unwrap_or(self.selected_index());
                let group = matches!(self.convs[i].id, ConvId::Group(_));
                let kind = LineKind::Message {
                    from: self.name.to_string(),
                    id: None,
                    own: Some(Own::new(Some(req), group)),
                    verified: true,
                    extra: Extra {
                        reply: Some(Box::new(quote)),
                        ..Extra::default()
                    },
                };
                self.convs[i].push(Line::new(Some(self.now), kind, text));
                vec![effect]
            }
        }
    }
}
