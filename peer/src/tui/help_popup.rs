//! `/help` as a popup of its own over the messages: scrollable (Up/Down, PgUp/PgDn,
//! Home/End), closed by Esc or Enter. The conversation underneath is left as it was.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Style, Stylize};
use ratatui::widgets::{Block, Borders, Clear};

use super::super::help::help_lines;
use super::super::rows::hanging_indent;
use super::super::wrap::{Row, truncate, wrap};
use super::{Action, App, Effect};

/// The open help popup: how far it is scrolled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelpPopup {
    /// The first line shown.
    pub scroll: usize,
}

/// Where the popup goes on a screen of `area`: most of it, inset by a border of its own.
pub fn popup_area(area: Rect) -> Rect {
    let inset = |len: u16, margin: u16| {
        let margin = margin.min(len.saturating_sub(len.min(20)) / 2);
        (margin, len.saturating_sub(2 * margin))
    };
    let (dx, width) = inset(area.width, area.width / 10);
    let (dy, height) = inset(area.height.saturating_sub(2), 1);
    Rect::new(area.x + dx, area.y + dy, width, height)
}

/// The rows of help text a popup on a screen of `size` shows at once.
fn page_of(size: (u16, u16)) -> usize {
    let area = popup_area(Rect::new(0, 0, size.0, size.1));
    usize::from(area.height.saturating_sub(2)).max(1)
}

/// The help wrapped to the inside of a popup `width` columns wide (borders included): a
/// description too long for a row goes on below, under its start, rather than being cut.
fn help_rows(width: u16) -> Vec<Row> {
    let width = usize::from(width.saturating_sub(2));
    help_lines()
        .into_iter()
        .flat_map(|line| {
            let style = if line.starts_with(' ') {
                Style::new()
            } else {
                Style::new().bold()
            };
            let indent = hanging_indent(&line);
            wrap(&[(line, style)], width, indent)
        })
        .collect()
}

/// The number of help rows in the popup on a screen of `size`.
fn rows_of(size: (u16, u16)) -> usize {
    help_rows(popup_area(Rect::new(0, 0, size.0, size.1)).width).len()
}

impl App {
    /// The action as the help popup takes it, when it is open: `None` for what it leaves
    /// to the rest of the app (typing, news, the clock).
    pub(super) fn in_help(&mut self, action: &Action) -> Option<Vec<Effect>> {
        let popup = self.help.as_mut()?;
        let lines = rows_of(self.size);
        let page = page_of(self.size);
        let last = lines.saturating_sub(page);
        let scroll = &mut popup.scroll;
        match action {
            Action::Escape | Action::Submit => self.help = None,
            Action::Up => *scroll = scroll.saturating_sub(1),
            Action::Down => *scroll = (*scroll + 1).min(last),
            Action::PageUp => *scroll = scroll.saturating_sub(page.saturating_sub(1).max(1)),
            Action::PageDown => *scroll = (*scroll + page.saturating_sub(1).max(1)).min(last),
            Action::Home | Action::ScrollTop => *scroll = 0,
            Action::End | Action::ScrollBottom => *scroll = last,
            _ => return None,
        }
        Some(Vec::new())
    }

    /// Opens the help popup at its top.
    pub(super) fn open_help(&mut self) {
        self.help = Some(HelpPopup::default());
    }
}

/// Draws the popup over whatever is on screen.
pub fn draw(frame: &mut Frame, popup: &HelpPopup) {
    let area = popup_area(frame.area());
    if area.width < 4 || area.height < 3 {
        return;
    }
    let lines = help_rows(area.width);
    let page = usize::from(area.height - 2);
    let scroll = popup.scroll.min(lines.len().saturating_sub(page));
    let more = if scroll + page < lines.len() {
        " ↓ more "
    } else {
        ""
    };
    let title = truncate(
        " help: Esc closes, ↑↓ PgUp PgDn scroll ",
        usize::from(area.width - 2),
    );
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(Style::new().cyan())
        .title(title)
        .title_bottom(more);
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let buf = frame.buffer_mut();
    for (y, row) in (inner.y..inner.bottom()).zip(lines.iter().skip(scroll)) {
        row.paint(buf, inner.x, y, inner.width);
    }
}
