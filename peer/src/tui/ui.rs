//! Rendering: draws the whole screen from `&App`, with no state of its own.
//!
//! Layout, top to bottom: sidebar | messages | members, then the status bar, then the input
//! line. Narrow terminals drop the member pane first, then narrow and drop the sidebar.
//!
//! A frame costs the same whatever the length of the scrollback: the message view lays out
//! only the lines it shows, from the bottom up, and takes the rows of those it showed before
//! from the app's [`RowMemo`], so a redraw wraps only new or changed lines.

use std::ops::Range;
use std::sync::Arc;

use natter_protocol::govern::Role;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::app::App;
use super::app::select::{Compose, Mode};
use super::conversation::{ConvId, Conversation, Line, LineKind};
use super::invite_band;
use super::memo::RowMemo;
use super::picker;
use super::rows::render_line;
pub use super::rows::{clock, date, delivery_mark, name_color, own_mark};
use super::wrap::{Row, truncate};
use crate::node::TrackerStatus;
use crate::reach::reachable_addr;

/// Where each part of the screen goes.
struct Areas {
    /// The invite, full width above everything (empty when not shown).
    band: Rect,
    sidebar: Rect,
    /// The conversation's header row (absent on short terminals).
    header: Option<Rect>,
    messages: Rect,
    members: Rect,
    status: Rect,
    input: Rect,
}

fn layout(app: &App, area: Rect) -> Areas {
    let [band, area] = Layout::vertical([
        Constraint::Length(invite_band::height(app, area)),
        Constraint::Min(0),
    ])
    .areas(area);
    let [main, status, input] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(input_rows(app, area.height)),
    ])
    .areas(area);
    let w = main.width;
    let sidebar_w = match w {
        60.. => 18,
        40..60 => 12,
        _ => 0,
    };
    let conv = app.selected();
    let members_w = if app.show_members && matches!(conv.id, ConvId::Group(_)) && w >= 72 {
        18
    } else {
        0
    };
    let [sidebar, view, members] = Layout::horizontal([
        Constraint::Length(sidebar_w),
        Constraint::Min(0),
        Constraint::Length(members_w),
    ])
    .areas(main);
    // One blank column after the sidebar's border.
    let mut view = if sidebar_w > 0 && view.width > 1 {
        Rect {
            x: view.x + 1,
            width: view.width - 1,
            ..view
        }
    } else {
        view
    };
    let header = (view.width > 0 && view.height >= 6).then(|| {
        let header = Rect { height: 1, ..view };
        view.y += 1;
        view.height -= 1;
        header
    });
    Areas {
        band,
        sidebar,
        header,
        messages: view,
        members,
        status,
        input,
    }
}

/// How many rows the input box takes on a screen `height` rows tall: one per line of the
/// input, up to `MAX_INPUT_ROWS` and a third of the screen (a hint in the other modes
/// takes one).
fn input_rows(app: &App, height: u16) -> u16 {
    let rows = match app.mode {
        Mode::Normal => app.input.rows(),
        _ => 1,
    };
    u16::try_from(rows).unwrap_or(1).min(height / 3).max(1)
}

/// The size (columns, rows) of the message view on a terminal of `app.size`.
pub fn message_view(app: &App) -> (usize, usize) {
    let (w, h) = app.size;
    let area = layout(app, Rect::new(0, 0, w, h)).messages;
    (usize::from(area.width), usize::from(area.height))
}

/// How many screen rows `line` (number `seq` in its conversation) takes in a message view
/// `width` columns wide; its rows are kept in `memo` for the frame to come.
pub fn line_rows(memo: &RowMemo, seq: u64, line: &Line, width: usize) -> usize {
    memo.rows(seq, line, width, render_line).len().max(1)
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let areas = layout(app, frame.area());
    let conv = app.selected();
    invite_band::draw(frame, app, areas.band);
    draw_sidebar(frame, app, areas.sidebar);
    if let Some(area) = areas.header {
        let title = truncate(&header(conv), usize::from(area.width));
        let bar = Paragraph::new(title).style(Style::new().bold().underlined());
        frame.render_widget(bar, area);
    }
    let selected = app.mode.selected().and_then(|id| conv.position(id));
    let shown = draw_view(frame, conv, &app.rows, areas.messages, selected);
    if let Mode::Pick { at, .. } = app.mode {
        picker::draw(frame, areas.messages, at, shown);
    }
    if let Some(view) = &app.found {
        super::found_ui::draw(frame, areas.messages, view);
    }
    draw_members(frame, app, conv, areas.members);
    draw_status(frame, app, areas.status);
    draw_input(frame, app, areas.input);
    if let Some(popup) = &app.help {
        super::app::help_popup::draw(frame, popup);
    }
    if let Some(view) = &app.doctor {
        super::doctor::draw(frame, frame.area(), view);
    }
}

/// One sidebar entry, e.g. `2 #rust (3)!`: number, name, unread count, `!` for a mention.
pub fn sidebar_label(index: usize, conv: &Conversation) -> String {
    let mut s = format!("{} {}", index + 1, conv.id);
    if conv.unread > 0 {
        s.push_str(&format!(" ({})", conv.unread));
    }
    if conv.mention {
        s.push('!');
    }
    s
}

fn draw_sidebar(frame: &mut Frame, app: &App, area: Rect) {
    if area.width < 2 {
        return;
    }
    let block = Block::new()
        .borders(Borders::RIGHT)
        .border_style(Style::new().dark_gray());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    // Keep the selected conversation on screen when there are more than fit.
    let first = app.selected.saturating_sub(height.saturating_sub(1));
    let lines: Vec<TextLine> = app
        .convs
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, c)| {
            let label = truncate(&sidebar_label(i, c), width);
            let mut style = Style::new();
            if c.mention {
                style = style.fg(Color::LightMagenta).bold();
            } else if c.unread > 0 {
                style = style.bold();
            }
            if i == app.selected {
                style = style.add_modifier(Modifier::REVERSED);
                let pad = width.saturating_sub(label.width());
                return TextLine::styled(format!("{label}{}", " ".repeat(pad)), style);
            }
            TextLine::styled(label, style)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn header(conv: &Conversation) -> String {
    let mut title = match &conv.id {
        ConvId::Status => "natter: status and help".to_owned(),
        ConvId::Group(g) => {
            let online = conv.online().count();
            let n = conv.members.len();
            let plural = if n == 1 { "" } else { "s" };
            let invite_only = if conv.private { ", invite-only" } else { "" };
            let topic = conv
                .topic
                .as_deref()
                .map(|t| format!(" — {t}"))
                .unwrap_or_default();
            format!("{g}{topic}: {n} member{plural}, {online} online{invite_only}")
        }
        ConvId::Peer(p) => format!("{p}: private conversation"),
    };
    if conv.scroll.is_some() {
        title.push_str(&match conv.newer_lines() {
            0 => "  [scrolled up; Ctrl-End returns]".to_owned(),
            1 => "  [scrolled up, 1 newer line; Ctrl-End returns]".to_owned(),
            n => format!("  [scrolled up, {n} newer lines; Ctrl-End returns]"),
        });
    }
    title
}

/// Draws the message view, the line at index `selected` highlighted; returns the first and
/// last screen rows of that line, when it is on screen.
fn draw_view(
    frame: &mut Frame,
    conv: &Conversation,
    memo: &RowMemo,
    area: Rect,
    selected: Option<usize>,
) -> Option<(u16, u16)> {
    if area.width == 0 || area.height == 0 {
        return None;
    }
    memo.next_frame();
    let shown = view_rows(
        conv,
        memo,
        usize::from(area.width),
        usize::from(area.height),
    );
    let buf = frame.buffer_mut();
    let mut y = area.y;
    let mut selected_rows: Option<(u16, u16)> = None;
    for (index, rows, range) in shown {
        for row in &rows[range] {
            row.paint(buf, area.x, y, area.width);
            if selected == Some(index) {
                let highlight = Style::new().add_modifier(Modifier::REVERSED);
                buf.set_style(Rect::new(area.x, y, area.width, 1), highlight);
                selected_rows = Some(selected_rows.map_or((y, y), |(first, _)| (first, y)));
            }
            y += 1;
        }
    }
    selected_rows
}

/// What a view of `width` × `height` shows, top to bottom: lines (by index), their rows,
/// and which of them.
fn view_rows(
    conv: &Conversation,
    memo: &RowMemo,
    width: usize,
    height: usize,
) -> Vec<(usize, Arc<[Row]>, Range<usize>)> {
    let lines = conv.lines();
    let rows_of = |i: usize| memo.rows(conv.seq(i), &lines[i], width, render_line);
    // The line at the bottom and how many of its rows are hidden below the edge.
    let (end, below) = match conv.bottom() {
        Some((i, below)) => (i + 1, below),
        None => (lines.len(), 0),
    };
    // From the bottom line upwards, only as far as the screen needs.
    let mut shown = Vec::new();
    let mut count = 0;
    let mut hidden = None;
    for i in (0..end).rev() {
        let rows = rows_of(i);
        let mut last = rows.len();
        if i + 1 == end {
            last = rows.len().saturating_sub(below).max(1).min(rows.len());
            hidden = Some((i, Arc::clone(&rows), last..rows.len()));
        }
        let first = last.saturating_sub(height - count);
        count += last - first;
        shown.push((i, rows, first..last));
        if count >= height {
            break;
        }
    }
    shown.reverse();
    // At the very top with room to spare (after a resize, or old lines falling off):
    // fill the rest of the screen with the rows that follow.
    let mut following = hidden.into_iter().chain((end..lines.len()).map(|i| {
        let rows = rows_of(i);
        let all = 0..rows.len();
        (i, rows, all)
    }));
    while count < height {
        let Some((i, rows, range)) = following.next() else {
            break;
        };
        let range = range.start..range.end.min(range.start + height - count);
        count += range.len();
        shown.push((i, rows, range));
    }
    shown
}

fn draw_members(frame: &mut Frame, app: &App, conv: &Conversation, area: Rect) {
    if area.width < 3 {
        return;
    }
    let block = Block::new()
        .borders(Borders::LEFT)
        .border_style(Style::new().dark_gray())
        .title(" members ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines: Vec<TextLine> = member_lines(conv, app.now, usize::from(inner.width))
        .into_iter()
        .take(usize::from(inner.height))
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The member pane's rows: online members first, then by name; offline ones with when
/// they were last seen; a status line under those who set one.
fn member_lines(conv: &Conversation, now: u64, width: usize) -> Vec<TextLine<'static>> {
    let mut members: Vec<_> = conv.members.iter().collect();
    // Online first, then owner, admins, members, then by name.
    members.sort_by(|a, b| {
        b.online
            .cmp(&a.online)
            .then(a.role.cmp(&b.role))
            .then(a.name.cmp(&b.name))
    });
    let mut lines = Vec::new();
    for m in members {
        let (mark, style) = if m.online {
            ("● ", Style::new().green())
        } else {
            ("○ ", Style::new().dark_gray())
        };
        let seen = match (m.online, m.last_seen) {
            (false, Some(at)) => format!(" {}", ago(now, at)),
            _ => String::new(),
        };
        let role = match m.role {
            Role::Owner => "~",
            Role::Admin => "@",
            Role::Member => "",
        };
        let text = format!("{mark}{role}{}{seen}", m.name);
        lines.push(TextLine::styled(truncate(&text, width), style));
        if let Some(status) = m.status.as_deref().filter(|s| !s.is_empty()) {
            let text = truncate(&format!("  {status}"), width);
            lines.push(TextLine::styled(text, Style::new().dark_gray().italic()));
        }
    }
    lines
}

/// How long ago `at` was, compact: `now`, `5m ago`, `3h ago`, `2d ago`.
pub fn ago(now: u64, at: u64) -> String {
    let secs = now.saturating_sub(at) / 1000;
    match secs {
        0..60 => "now".to_owned(),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// A duration in seconds, short: `45s`, `3m05s`, `2h07m`.
pub fn short_duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// The status bar's text. It shows where peers reach us, which is what a user passes on,
/// rather than the bound `0.0.0.0:PORT`.
pub fn status_text(app: &App) -> String {
    let listen = app
        .listen
        .map_or_else(|| "starting…".to_owned(), |a| reachable_addr(a, &app.host));
    let tracker = match app.tracker {
        None => "tracker: connecting…".to_owned(),
        Some((TrackerStatus::Connected, _)) => "tracker: connected".to_owned(),
        Some((TrackerStatus::Disconnected, since)) => {
            let secs = app.now.saturating_sub(since) / 1000;
            format!("tracker: DOWN for {}", short_duration(secs))
        }
    };
    let peers = match app.reachable() {
        1 => "1 peer reachable".to_owned(),
        n => format!("{n} peers reachable"),
    };
    let activity = activity(app).map(|a| format!(" {a} |")).unwrap_or_default();
    let hot = super::hotlist::hotlist_text(app)
        .map(|h| format!(" [{h}] |"))
        .unwrap_or_default();
    format!(
        "{activity}{hot} {} @ {listen} | {tracker} | {peers} | F2: members | /help",
        app.name
    )
}

/// What the status bar says first about the selected conversation: who read the selected
/// message of ours, or who is typing.
fn activity(app: &App) -> Option<String> {
    let conv = app.selected();
    let selected = app
        .mode
        .selected()
        .and_then(|id| conv.position(id))
        .and_then(|i| match &conv.lines()[i].kind {
            // Only a message that went to someone can be read.
            LineKind::Message { own: Some(own), .. } if own.group && own.recipients > 0 => {
                Some(own)
            }
            _ => None,
        });
    match selected {
        Some(own) if own.read.is_empty() => Some("read by nobody yet".to_owned()),
        Some(own) => Some(format!("read by {}", own.read.join(", "))),
        None => app.typing_text(),
    }
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let text = truncate(&status_text(app), usize::from(area.width));
    let down = matches!(app.tracker, Some((TrackerStatus::Disconnected, _)));
    let bg = if down { Color::Red } else { Color::Blue };
    let bar = Paragraph::new(text).style(Style::new().bg(bg).fg(Color::White));
    frame.render_widget(bar, area);
}

fn draw_input(frame: &mut Frame, app: &App, area: Rect) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    let prompt = truncate(&format!("[{}] ", app.selected().id), width / 3);
    let hint = |text: &str, style: Style| {
        let line = TextLine::from(vec![
            Span::styled(prompt.clone(), Style::new().bold()),
            Span::styled(text.to_owned(), style),
        ]);
        Paragraph::new(line)
    };
    match &app.mode {
        Mode::Normal => {}
        Mode::Select(_) => {
            let text = "↑↓ move  r reply  e edit  d delete  + react  Esc back";
            return frame.render_widget(hint(text, Style::new().dark_gray()), area);
        }
        Mode::ConfirmDelete(_) => {
            let text = "delete this message? y/n";
            return frame.render_widget(hint(text, Style::new().yellow().bold()), area);
        }
        Mode::Pick { .. } => {
            let text = "pick a reaction: ←→ and Enter, or 1-8; Esc back";
            return frame.render_widget(hint(text, Style::new().dark_gray()), area);
        }
    }
    let composing = match &app.compose {
        None => String::new(),
        Some(Compose::Reply(quote)) => {
            let to = quote.original.as_ref().map_or_else(
                || quote.to.sender.to_string(),
                |(from, words)| format!("{from}: {words}"),
            );
            format!("replying to {to} › ")
        }
        Some(Compose::Edit(_)) => "editing › ".to_owned(),
    };
    let composing = truncate(&composing, width / 2);
    let prompt_w = prompt.width() + composing.width();
    // One row per line of the input; the lines after the first start under the first.
    let rows = usize::from(area.height);
    let (shown, (col, row)) = app.input.view_rows(width.saturating_sub(prompt_w), rows);
    let lead = " ".repeat(prompt_w);
    let lines: Vec<TextLine> = shown
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            if i > 0 {
                return TextLine::from(vec![Span::raw(lead.clone()), Span::raw(text)]);
            }
            TextLine::from(vec![
                Span::styled(prompt.clone(), Style::new().bold()),
                Span::styled(composing.clone(), Style::new().cyan()),
                Span::raw(text),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
    let x = area
        .x
        .saturating_add(u16::try_from(prompt_w + col).unwrap_or(u16::MAX));
    let y = area
        .y
        .saturating_add(u16::try_from(row).unwrap_or(0))
        .min(area.bottom().saturating_sub(1));
    frame.set_cursor_position((x.min(area.right().saturating_sub(1)), y));
}

#[cfg(test)]
#[path = "ui_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "message_ui_tests.rs"]
mod message_tests;

#[cfg(test)]
#[path = "found_ui_tests.rs"]
mod found_tests;

#[cfg(test)]
#[path = "invite_ui_tests.rs"]
mod invite_tests;
