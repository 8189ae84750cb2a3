//! What `/search` and `/mentions` found, in a view of its own: a popup over the message
//! view listing each message's conversation, time, sender and text. Up and Down move,
//! Enter jumps to the message in its conversation (selected, scrolled into view), Esc
//! closes.
//!
//! Part of `App` (like `select.rs`): the keys arrive as the usual [`Action`]s and mean
//! something else while the view is open.

use natter_protocol::RequestId;
use natter_protocol::peer::MessageId;

use super::{Action, App, Effect, conv_of, target_of};
use crate::command::MAX_HISTORY;
use crate::node::Command;
use crate::node::api::FoundItem;
use crate::tui::conversation::{ConvId, Line};

/// Rows PageUp and PageDown move the highlight by.
const PAGE: usize = 10;

/// The open view: what was found, and which one is highlighted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundView {
    /// What it shows, e.g. `search "deploy"` or `mentions`.
    pub title: String,
    pub items: Vec<FoundItem>,
    pub at: usize,
}

/// A jump to a message not loaded yet: its conversation asked for more history (`req`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Jump {
    conv: ConvId,
    id: MessageId,
    req: RequestId,
}

impl App {
    /// An answer to `/search` or `/mentions`: the view opens, or a line says nothing was
    /// found.
    pub(super) fn on_found(&mut self, title: String, items: Vec<FoundItem>, none: String) {
        if items.is_empty() {
            // Shown where the user looks: at the bottom, even after a jump scrolled up.
            self.push_selected(Line::system(Some(self.now), none));
            self.selected_mut().scroll_bottom();
            return;
        }
        self.found = Some(FoundView {
            title,
            items,
            at: 0,
        });
    }

    /// The keys while the view is open; `None` when it is closed or leaves the action to
    /// the ordinary handling (news, time, resizing).
    pub(super) fn in_found(&mut self, action: &Action) -> Option<Vec<Effect>> {
        let view = self.found.as_mut()?;
        let last = view.items.len().saturating_sub(1);
        match action {
            a if a.goes_on_under_views() => return None,
            Action::Up => view.at = view.at.saturating_sub(1),
            Action::Down => view.at = (view.at + 1).min(last),
            Action::PageUp => view.at = view.at.saturating_sub(PAGE),
            Action::PageDown => view.at = (view.at + PAGE).min(last),
            Action::Home | Action::ScrollTop => view.at = 0,
            Action::End | Action::ScrollBottom => view.at = last,
            Action::Escape => self.found = None,
            Action::Submit => return Some(self.jump()),
            // Typing and the other keys wait until the view is closed.
            _ => {}
        }
        Some(Vec::new())
    }

    /// Enter: the highlighted message's conversation is selected (opened if need be) and
    /// the message in it; one not loaded yet is asked for with more of the history.
    fn jump(&mut self) -> Vec<Effect> {
        let Some(view) = self.found.take() else {
            return Vec::new();
        };
        let Some(item) = view.items.get(view.at) else {
            return Vec::new();
        };
        let conv = conv_of(&item.conversation);
        let i = self.open(conv.clone());
        self.select(i);
        if self.selected().position(&item.id).is_some() {
            self.choose(item.id.clone());
            return Vec::new();
        }
        let Some(target) = target_of(&conv) else {
            return Vec::new();
        };
        let (req, effect) = self.request(Command::History {
            target,
            limit: MAX_HISTORY,
        });
        self.loading.insert(req);
        let id = item.id.clone();
        self.jump = Some(Jump { conv, id, req });
        vec![effect]
    }

    /// After each update: a jump waiting for history selects its message once it is
    /// there, or says it is too old once the history came without it. Moving to another
    /// conversation gives it up.
    pub(super) fn finish_jump(&mut self) {
        let Some(jump) = self.jump.take() else {
            return;
        };
        if self.selected().id != jump.conv {
            return;
        }
        if self.selected().position(&jump.id).is_some() {
            return self.choose(jump.id);
        }
        if self.loading.contains(&jump.req) {
            self.jump = Some(jump);
            return;
        }
        let line = format!(
            "{} is older than the last {MAX_HISTORY} messages shown here",
            jump.id
        );
        self.push_selected(Line::system(Some(self.now), line));
    }
}
