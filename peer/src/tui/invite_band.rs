//! The invite on a band of its own at the top of the screen: the full width of the
//! terminal, above the sidebar, so the line is never wrapped by the message view and a
//! selection with the mouse picks up no border. It shows on the status conversation (the
//! welcome screen), and in any conversation after `/invite-link` until the next command
//! or Esc. `/invite-link` also copies it to the clipboard with OSC 52.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Style, Stylize};
use ratatui::text::Line as TextLine;
use ratatui::widgets::Paragraph;

use super::app::App;
use super::conversation::ConvId;
use crate::invite::Invite;

/// The band's first row, above the link.
pub const LABEL: &str =
    "Invite: a friend runs  natter --join INVITE --name THEIR-NAME  (/invite-link copies it)";

/// The first row on narrower terminals, the longest that fits first: a label cut off in
/// the middle of a word (`(/invite-link cop` at 80 columns) reads as broken.
const SHORTER: [&str; 3] = [
    "Invite: natter --join INVITE --name THEIR-NAME  (/invite-link copies it)",
    "Invite (/invite-link copies it):",
    "Invite:",
];

/// The band's first row on a terminal `width` columns wide.
fn label(width: usize) -> String {
    std::iter::once(LABEL)
        .chain(SHORTER)
        .find(|l| l.chars().count() <= width)
        .unwrap_or("Invite:")
        .chars()
        .take(width)
        .collect()
}

/// The fewest rows the rest of the screen keeps; on a shorter terminal the band is left out.
const MIN_REST: u16 = 8;

/// The invite the band shows now, if any.
pub fn shown(app: &App) -> Option<&Invite> {
    let welcome = matches!(app.selected().id, ConvId::Status);
    app.invite_shown
        .as_ref()
        .or_else(|| app.invite.as_ref().filter(|_| welcome))
}

/// The band's rows on a terminal `width` columns wide: the label, then the link alone on
/// its rows (cut into rows of the full width only when it is wider than the terminal).
pub fn rows(invite: &Invite, width: u16) -> Vec<String> {
    let width = usize::from(width.max(1));
    let link = invite.to_string();
    let mut rows = vec![label(width)];
    // An invite is ASCII (the group is percent-encoded): one column per byte.
    rows.extend(
        link.as_bytes()
            .chunks(width)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned()),
    );
    rows
}

/// How many rows the band takes on a terminal of `area`.
pub fn height(app: &App, area: Rect) -> u16 {
    let Some(invite) = shown(app) else {
        return 0;
    };
    let needed = u16::try_from(rows(invite, area.width).len()).unwrap_or(u16::MAX);
    if area.height >= needed.saturating_add(MIN_REST) {
        needed
    } else {
        0
    }
}

/// Draws the band into `area` (from [`height`]).
pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let Some(invite) = shown(app) else {
        return;
    };
    let mut lines = rows(invite, area.width).into_iter();
    let mut text = Vec::new();
    if let Some(label) = lines.next() {
        text.push(TextLine::styled(label, Style::new().dark_gray()));
    }
    text.extend(lines.map(|row| TextLine::styled(row, Style::new().bold())));
    frame.render_widget(Paragraph::new(text), area);
}

/// The OSC 52 sequence that puts `text` on the system clipboard (in terminals that allow
/// it: most do, some after a setting; tmux with `set-clipboard on`).
pub fn osc52(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", STANDARD.encode(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_carries_the_text_in_base64() {
        assert_eq!(osc52("natter://h:1"), "\x1b]52;c;bmF0dGVyOi8vaDox\x07");
    }
}
