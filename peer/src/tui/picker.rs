//! The emoji picker: a small popup of common reactions over the message view, chosen with
//! the arrows and Enter, or with a digit.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

/// The reactions on offer, in the order of their digits (1 is 👍).
pub const EMOJIS: [&str; 8] = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"];

/// Columns per choice: digit, emoji (two columns), a space.
const CELL: u16 = 5;

/// Draws the picker with choice `at` highlighted, in `view`: under the message it is for
/// (its first and last rows on screen: `near`) when there is room, else above it, so the
/// message stays in sight.
pub fn draw(frame: &mut Frame, view: Rect, at: usize, near: Option<(u16, u16)>) {
    let width = (CELL * EMOJIS.len() as u16 + 2).min(view.width);
    let height = 3.min(view.height);
    if width < 4 || height < 3 {
        return;
    }
    let lowest = view.bottom().saturating_sub(height);
    let y = match near {
        Some((_, last)) if last < lowest => last + 1,
        Some((first, _)) if first >= view.y + height => first - height,
        _ => lowest,
    };
    let area = Rect {
        x: view.x,
        y,
        width,
        height,
    };
    let mut spans = Vec::new();
    for (i, emoji) in EMOJIS.iter().enumerate() {
        let style = if i == at {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!("{}{emoji}", i + 1), style));
        spans.push(Span::raw("  "));
    }
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" react: ←→ Enter, 1-8, Esc ");
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(TextLine::from(spans)).block(block), area);
}
