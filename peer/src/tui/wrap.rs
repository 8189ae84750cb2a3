//! Word wrapping and truncation by display width, for styled text from untrusted peers.
//!
//! Control characters become spaces here, so no peer can send escape sequences to the
//! terminal.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Continuation rows are indented only when at least this many columns remain.
const MIN_BODY: usize = 10;

struct Cell<'a> {
    text: &'a str,
    width: usize,
    style: Style,
}

fn cells<'a>(spans: &'a [(String, Style)]) -> impl Iterator<Item = Cell<'a>> {
    spans.iter().flat_map(|(s, style)| {
        s.graphemes(true).map(move |g| {
            if g.chars().any(char::is_control) {
                Cell {
                    text: " ",
                    width: 1,
                    style: *style,
                }
            } else {
                Cell {
                    text: g,
                    width: g.width(),
                    style: *style,
                }
            }
        })
    })
}

/// Wraps styled text into rows of at most `width` columns, breaking at spaces where it
/// can; rows after the first start with `indent` spaces.
pub fn wrap(spans: &[(String, Style)], width: usize, indent: usize) -> Vec<Line<'static>> {
    if width == 0 {
        return Vec::new();
    }
    let indent = if width >= indent + MIN_BODY {
        indent
    } else {
        0
    };
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut row: Vec<Cell> = Vec::new();
    let mut used = 0;
    // Where the row may break: the index after the last space past the indent.
    let mut brk: Option<usize> = None;
    for mut cell in cells(spans) {
        if cell.width > width {
            cell = Cell {
                text: "?",
                width: 1,
                style: cell.style,
            };
        }
        if used + cell.width > width {
            let rest = match brk.take() {
                Some(b) => row.split_off(b),
                None => Vec::new(),
            };
            rows.push(std::mem::take(&mut row));
            row.extend((0..indent).map(|_| Cell {
                text: " ",
                width: 1,
                style: Style::new(),
            }));
            row.extend(rest.into_iter().skip_while(|c| c.text == " "));
            used = row.iter().map(|c| c.width).sum();
            if used + cell.width > width {
                rows.push(std::mem::take(&mut row));
                row.extend((0..indent).map(|_| Cell {
                    text: " ",
                    width: 1,
                    style: Style::new(),
                }));
                used = indent;
            }
        }
        let space = cell.text == " ";
        used += cell.width;
        row.push(cell);
        if space && used > indent {
            brk = Some(row.len());
        }
    }
    rows.push(row);
    rows.into_iter().map(to_line).collect()
}

fn to_line(row: Vec<Cell>) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut style = None;
    for cell in row {
        if style != Some(cell.style) {
            if let Some(s) = style {
                spans.push(Span::styled(std::mem::take(&mut text), s));
            }
            style = Some(cell.style);
        }
        text.push_str(cell.text);
    }
    if let Some(s) = style {
        spans.push(Span::styled(text, s));
    }
    Line::from(spans)
}

/// `s` cut to at most `width` columns, ending in `…` when cut.
pub fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
    }
    let mut out = String::new();
    let mut used = 0;
    for cell in cells(std::slice::from_ref(&(s.to_owned(), Style::new()))) {
        if used + cell.width + 1 > width {
            break;
        }
        used += cell.width;
        out.push_str(cell.text);
    }
    if width > 0 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    fn wrap_str(s: &str, width: usize, indent: usize) -> Vec<String> {
        plain(&wrap(&[(s.to_owned(), Style::new())], width, indent))
    }

    #[test]
    fn breaks_at_spaces_and_indents_continuations() {
        let rows = wrap_str("12:00 <bob> the quick brown fox jumps", 24, 12);
        assert_eq!(
            rows,
            vec![
                "12:00 <bob> the quick ",
                "            brown fox ",
                "            jumps"
            ]
        );
        // Too narrow to indent: continuation rows start at the left edge.
        assert_eq!(
            wrap_str("12:00 <bob> hi there", 12, 12),
            vec!["12:00 <bob> ", "hi there"]
        );
        let rows = wrap_str("12:00 <bob> the quick brown fox jumps", 30, 12);
        assert_eq!(
            rows,
            vec!["12:00 <bob> the quick brown ", "            fox jumps"]
        );
    }

    #[test]
    fn cuts_long_words_and_wide_characters() {
        assert_eq!(wrap_str("abcdefgh", 3, 0), vec!["abc", "def", "gh"]);
        // Two-column characters never straddle a row end.
        assert_eq!(wrap_str("漢字漢字", 5, 0), vec!["漢字", "漢字"]);
        assert_eq!(wrap_str("漢", 1, 0), vec!["?"]);
        assert!(wrap_str("x", 0, 0).is_empty());
    }

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(wrap_str("a\u{1b}[2Jb\nc", 20, 0), vec!["a [2Jb c"]);
        assert_eq!(truncate("a\u{7}b", 10), "a b");
    }

    #[test]
    fn truncates_by_width() {
        assert_eq!(truncate("#rust", 10), "#rust");
        assert_eq!(truncate("#verylongname", 6), "#very…");
        assert_eq!(truncate("漢字漢字", 4), "漢…");
        assert_eq!(truncate("abc", 0), "");
    }
}
