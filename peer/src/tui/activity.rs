//! Who is here and paying attention: others' typing notices (shown for a few seconds),
//! ours (sent while the user types, at most every few seconds), and read marks (sent when
//! a conversation with news from others is on screen in a focused terminal).

use natter_protocol::{Name, RequestId};

use super::{App, Effect, conv_of, target_of};
use crate::node::{About, Command};
use crate::tui::conversation::ConvId;
use crate::tui::input::EditOp;

/// How long "bob is typing…" shows without another notice.
pub const TYPING_SHOWN_MS: u64 = 5_000;
/// The least time between two of our typing notices to one conversation.
pub const TYPING_EVERY_MS: u64 = 3_000;
/// How many of our own typing and read requests are remembered, to keep their errors
/// off the screen (the node answers them only when they fail).
const QUIET_KEPT: usize = 64;

impl App {
    /// `from` is typing in `target`: shown until another notice, their message, or
    /// [`TYPING_SHOWN_MS`].
    pub(super) fn on_typing(&mut self, from: Name, target: &About) {
        if from == self.name {
            return;
        }
        let conv = conv_of(target);
        let until = self.now.saturating_add(TYPING_SHOWN_MS);
        let list = self.typing.entry(conv).or_default();
        match list.iter_mut().find(|(n, _)| *n == from) {
            Some(entry) => entry.1 = until,
            None => list.push((from, until)),
        }
    }

    /// `from`'s message in `conv` ends their typing there.
    pub(super) fn typing_done(&mut self, conv: &ConvId, from: &Name) {
        if let Some(list) = self.typing.get_mut(conv) {
            list.retain(|(n, _)| n != from);
        }
    }

    /// Forgets typing notices that have run out.
    pub(super) fn expire_typing(&mut self) {
        let now = self.now;
        self.typing.retain(|_, list| {
            list.retain(|(_, until)| *until > now);
            !list.is_empty()
        });
    }

    /// Who is typing in the selected conversation now, e.g. `bob is typing…`.
    pub fn typing_text(&self) -> Option<String> {
        let list = self.typing.get(&self.selected().id)?;
        let names: Vec<&str> = list
            .iter()
            .filter(|(_, until)| *until > self.now)
            .map(|(n, _)| n.as_str())
            .collect();
        match names.as_slice() {
            [] => None,
            [one] => Some(format!("{one} is typing…")),
            [a, b] => Some(format!("{a} and {b} are typing…")),
            many => Some(format!("{} people are typing…", many.len())),
        }
    }

    /// After an edit of the input line: a typing notice when the user types a message (not
    /// a command, not an edit) and none went to this conversation lately.
    pub(super) fn typing_notice(&mut self, op: &EditOp) -> Option<Effect> {
        if !matches!(op, EditOp::Insert(_) | EditOp::Paste(_) | EditOp::Newline)
            || self.input.text().starts_with('/')
            || self.input.text().trim().is_empty()
            || matches!(self.compose, Some(super::select::Compose::Edit(_)))
        {
            return None;
        }
        let conv = self.selected().id.clone();
        let target = target_of(&conv)?;
        if let Some((last, at)) = &self.typing_sent
            && *last == conv
            && self.now.saturating_sub(*at) < TYPING_EVERY_MS
        {
            return None;
        }
        self.typing_sent = Some((conv, self.now));
        Some(self.quiet_request(Command::Typing(target)))
    }

    /// The terminal gained or lost focus.
    pub(super) fn on_focus(&mut self, focused: bool) {
        self.focused = focused;
    }

    /// Marks the selected conversation read when it holds news from others and the user
    /// can see it (the terminal has focus): once per batch of news.
    pub(super) fn read_marks(&mut self) -> Option<Effect> {
        if !self.focused {
            return None;
        }
        let conv = self.selected();
        if !conv.unmarked {
            return None;
        }
        let target = target_of(&conv.id)?;
        self.selected_mut().unmarked = false;
        Some(self.quiet_request(Command::Read(target)))
    }

    /// A request the user did not type (a typing notice, a read mark): an error answering
    /// it is not shown, since it would come back with every keystroke or message.
    fn quiet_request(&mut self, command: Command) -> Effect {
        let (req, effect) = self.request(command);
        if self.quiet.len() >= QUIET_KEPT {
            self.quiet.pop_front();
        }
        self.quiet.push_back(req);
        effect
    }

    /// Whether an error answers one of our quiet requests (then it is not shown).
    pub(super) fn quiet_error(&mut self, req: Option<RequestId>) -> bool {
        let Some(at) = req.and_then(|req| self.quiet.iter().position(|q| *q == req)) else {
            return false;
        };
        self.quiet.remove(at);
        true
    }
}
