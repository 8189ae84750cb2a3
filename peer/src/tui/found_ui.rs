//! Drawing the view of what `/search` or `/mentions` found: a popup over the message
//! view, one row per message (conversation, time, sender, text), the highlighted one
//! reversed and kept in sight.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::Line as TextLine;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::app::found::FoundView;
use super::rows::clock;
use super::wrap::truncate;

/// The widest a conversation column gets: a longer name is cut rather than push every
/// row's time to the right.
const MAX_CONV: usize = 16;

/// One row of the view: `#g 14:05 bob: the text`, the conversation padded to `conv`
/// columns so that the times line up under each other.
pub fn found_row(item: &crate::node::api::FoundItem, conv: usize) -> String {
    let text = item.snippet.as_deref().unwrap_or(&item.text);
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let name = truncate(&item.conversation.to_string(), conv);
    let pad = " ".repeat(conv.saturating_sub(name.width()));
    format!("{name}{pad} {} {}: {text}", clock(item.sent_at), item.from)
}

/// Draws `view` over `area` (the message view), inset by one column each side.
pub fn draw(frame: &mut Frame, area: Rect, view: &FoundView) {
    if area.width < 8 || area.height < 3 {
        return;
    }
    let rows = u16::try_from(view.items.len()).unwrap_or(u16::MAX);
    let height = rows.saturating_add(2).min(area.height);
    let popup = Rect {
        x: area.x + 1,
        y: area.y,
        width: area.width - 2,
        height,
    };
    let shown = usize::from(height - 2);
    // The highlighted row in sight: the window starts where it must, no further.
    let first = view.at.saturating_sub(shown.saturating_sub(1));
    let width = usize::from(popup.width.saturating_sub(2));
    let conv = view
        .items
        .iter()
        .map(|item| item.conversation.to_string().width())
        .max()
        .unwrap_or(0)
        .min(MAX_CONV);
    let lines: Vec<TextLine> = view
        .items
        .iter()
        .enumerate()
        .skip(first)
        .take(shown)
        .map(|(i, item)| {
            let row = truncate(&found_row(item, conv), width);
            if i == view.at {
                let pad = " ".repeat(width.saturating_sub(row.width()));
                let style = Style::new().add_modifier(Modifier::REVERSED);
                TextLine::styled(format!("{row}{pad}"), style)
            } else {
                TextLine::raw(row)
            }
        })
        .collect();
    let title = format!(
        " {} ({}): ↑↓ Enter jumps, Esc closes ",
        view.title,
        view.items.len()
    );
    let block = Block::new()
        .borders(Borders::ALL)
        .title(truncate(&title, width))
        .border_style(Style::new().cyan())
        .title_style(Style::new().bold());
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
