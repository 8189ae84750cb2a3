//! One scrollback line as screen rows: the time, the sender, the text and its marks
//! (delivery, read, edited), a reply's quote above, reactions below, the day separator.
//! Pure functions of the line and a width, so the row memo can keep their results.

use chrono::TimeZone;
use ratatui::style::{Color, Style, Stylize};
use unicode_width::UnicodeWidthStr;

use super::conversation::{Delivery, Line, LineKind, Own};
use super::message::{Extra, reactions_text};
use super::wrap::{Row, truncate, wrap};
use crate::node::api::DeliveryState;

const PALETTE: [Color; 10] = [
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::Magenta,
    Color::Blue,
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightMagenta,
    Color::LightCyan,
];

/// A stable colour for a name.
pub fn name_color(name: &str) -> Color {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    PALETTE[(hash % PALETTE.len() as u64) as usize]
}

/// The local time of a Unix-millisecond timestamp, as HH:MM.
pub fn clock(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| chrono::Local.timestamp_millis_opt(ms).single())
        .map_or_else(|| "--:--".to_owned(), |t| t.format("%H:%M").to_string())
}

/// The local date of a Unix-millisecond timestamp, e.g. `Tuesday, 3 June 2025`.
pub fn date(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| chrono::Local.timestamp_millis_opt(ms).single())
        .map_or_else(
            || "unknown date".to_owned(),
            |t| t.format("%A, %-d %B %Y").to_string(),
        )
}

/// One scrollback line as screen rows of `width` columns, under the separator of its day
/// when it is the first line of one.
pub fn render_line(line: &Line, width: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    if line.new_day
        && width > 0
        && let Some(at) = line.at
    {
        let text = truncate(&format!("-- {} --", date(at)), width);
        rows.push(Row::styled(&text, Style::new().dark_gray().bold()));
    }
    rows.extend(render_body(line, width));
    rows
}

/// At most this many names in a delivery mark; the rest are counted.
const MARK_NAMES: usize = 3;

/// `bob, carol`, or `bob, carol, dave and 4 more`.
fn names(list: &[String]) -> String {
    let shown = list[..list.len().min(MARK_NAMES)].join(", ");
    match list.len().saturating_sub(MARK_NAMES) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// The mark after one of our messages: where it stands with its recipients.
pub fn delivery_mark(delivery: &Delivery) -> Vec<(String, Style)> {
    match delivery {
        Delivery::Pending => vec![(" …".to_owned(), Style::new().dark_gray())],
        Delivery::Delivered => vec![(" ✓".to_owned(), Style::new().green())],
        Delivery::Nobody => vec![(" – nobody else here".to_owned(), Style::new().dark_gray())],
        Delivery::Failed(who) => vec![failed_mark(who)],
        Delivery::Waiting(state) => waiting_mark(state),
    }
}

/// The marks after one of our messages: delivery, then read (`✓✓` for a private message,
/// `read by 2 of 4` in a group).
pub fn own_mark(own: &Own) -> Vec<(String, Style)> {
    if own.read.is_empty() {
        return delivery_mark(&own.delivery);
    }
    if !own.group && !matches!(own.delivery, Delivery::Failed(_)) {
        return vec![(" ✓✓".to_owned(), Style::new().green())];
    }
    let mut mark = delivery_mark(&own.delivery);
    let of = match own.recipients {
        0 => String::new(),
        n => format!(" of {n}"),
    };
    let text = format!(" read by {}{of}", own.read.len());
    mark.push((text, Style::new().green()));
    mark
}

fn failed_mark(who: &[String]) -> (String, Style) {
    // Refused before it had recipients (a reply to a message the node does not know).
    if who.iter().all(String::is_empty) {
        return (" ✗ not sent".to_owned(), Style::new().red());
    }
    let text = format!(" ✗ not delivered to {}", names(who));
    (text, Style::new().red())
}

/// Someone is still pending: `✓ 1/3 … pending for bob ✗ not delivered to carol`, each part
/// only when it applies.
fn waiting_mark(state: &DeliveryState) -> Vec<(String, Style)> {
    let DeliveryState {
        delivered,
        pending,
        failed,
        ..
    } = state;
    let mut mark = Vec::new();
    if !delivered.is_empty() {
        let total = delivered.len() + pending.len() + failed.len();
        let text = format!(" ✓ {}/{total}", delivered.len());
        mark.push((text, Style::new().green()));
    }
    let text = format!(" … pending for {}", names(pending));
    mark.push((text, Style::new().dark_gray()));
    if !failed.is_empty() {
        mark.push(failed_mark(failed));
    }
    mark
}

fn render_body(line: &Line, width: usize) -> Vec<Row> {
    let mut spans: Vec<(String, Style)> = Vec::new();
    if let Some(at) = line.at {
        spans.push((format!("{} ", clock(at)), Style::new().dark_gray()));
    }
    match &line.kind {
        LineKind::Message {
            from,
            own,
            verified,
            extra,
            ..
        } => return render_message(line, spans, (from, own.as_ref(), *verified), extra, width),
        LineKind::System => {
            spans.push(("-- ".to_owned(), Style::new().dark_gray()));
            spans.push((line.text.clone(), Style::new().dark_gray()));
            if line.at.is_none() {
                spans.clear();
                spans.push((line.text.clone(), Style::new()));
            }
        }
        LineKind::Error => {
            spans.push(("!! ".to_owned(), Style::new().red().bold()));
            spans.push((line.text.clone(), Style::new().red()));
        }
    }
    let indent = match line.at {
        Some(_) => spans.first().map_or(0, |(s, _)| s.width()),
        None => hanging_indent(&line.text),
    };
    wrap(&spans, width, indent)
}

/// A message's rows: the quote of what it answers, the message (or its tombstone) with
/// its marks, then its reactions.
fn render_message(
    line: &Line,
    mut spans: Vec<(String, Style)>,
    (from, own, verified): (&str, Option<&Own>, bool),
    extra: &Extra,
    width: usize,
) -> Vec<Row> {
    let time_w = spans.iter().map(|(s, _)| s.width()).sum::<usize>();
    let mut rows = Vec::new();
    if let Some(quote) = &extra.reply
        && width > 0
    {
        let text = truncate(&format!("{}{}", " ".repeat(time_w), quote.show()), width);
        rows.push(Row::styled(&text, Style::new().dark_gray()));
    }
    let name_style = if own.is_some() {
        Style::new().bold()
    } else {
        Style::new().fg(name_color(from)).bold()
    };
    spans.push((format!("<{from}"), name_style));
    if !verified {
        // Names cannot hold '?', so the mark is not part of one.
        spans.push(("?".to_owned(), Style::new().yellow().bold().reversed()));
    }
    spans.push((">".to_owned(), name_style));
    spans.push((" ".to_owned(), Style::new()));
    let indent = spans.iter().map(|(s, _)| s.width()).sum::<usize>();
    if extra.deleted {
        let tombstone = Style::new().dark_gray().italic();
        spans.push(("message deleted".to_owned(), tombstone));
    } else {
        spans.push((line.text.clone(), Style::new()));
        if extra.edited {
            spans.push((" (edited)".to_owned(), Style::new().dark_gray()));
        }
    }
    if let Some(own) = own
        && !extra.deleted
    {
        spans.extend(own_mark(own));
    }
    rows.extend(wrap(&spans, width, indent));
    if !extra.reactions.is_empty() {
        let text = format!("{}{}", " ".repeat(indent), reactions_text(&extra.reactions));
        rows.extend(wrap(&[(text, Style::new())], width, indent));
    }
    rows
}

/// Where continuation rows of an untimed line start: under its second column when it is
/// laid out as `  key   description` (the help), else under its first word.
pub(super) fn hanging_indent(text: &str) -> usize {
    let body = text.trim_start();
    let lead = text.len() - body.len();
    let col = body.find("  ").map_or(0, |gap| {
        let after = &body[gap..];
        gap + after.len() - after.trim_start().len()
    });
    text[..lead + col].width()
}
