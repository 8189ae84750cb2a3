//! Word wrapping and truncation by display width, for styled text from untrusted peers.
//!
//! Control characters become spaces here, so no peer can send escape sequences to the
//! terminal; a line break in wrapped text starts a new row, indented like a continuation.
//!
//! Wrapped text comes out as [`Row`]s that keep each grapheme's width and style: a row is
//! cut into graphemes once, when it is wrapped, and painted from there every frame, where
//! ratatui's `Paragraph` would segment and measure its text again on each one.

use ratatui::buffer::Buffer;
use ratatui::style::Style;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Continuation rows are indented only when at least this many columns remain.
const MIN_BODY: usize = 10;

struct Cell<'a> {
    text: &'a str,
    width: usize,
    style: Style,
}

/// Marks a line break among the cells [`wrap`] gets (it never reaches a row).
const BREAK: &str = "\n";

fn cells<'a>(spans: impl IntoIterator<Item = (&'a str, Style)>) -> impl Iterator<Item = Cell<'a>> {
    cells_with(spans, false)
}

/// The cells of `spans`; with `breaks`, a line break is a [`BREAK`] cell of no width.
fn cells_with<'a>(
    spans: impl IntoIterator<Item = (&'a str, Style)>,
    breaks: bool,
) -> impl Iterator<Item = Cell<'a>> {
    spans.into_iter().flat_map(move |(s, style)| {
        s.graphemes(true).map(move |g| {
            if breaks && (g == "\n" || g == "\r\n") {
                Cell {
                    text: BREAK,
                    width: 0,
                    style,
                }
            } else if g.chars().any(char::is_control) {
                Cell {
                    text: " ",
                    width: 1,
                    style,
                }
            } else {
                Cell {
                    text: g,
                    width: g.width(),
                    style,
                }
            }
        })
    })
}

/// Wraps styled text into rows of at most `width` columns, breaking at spaces where it
/// can and at every line break; rows after the first start with `indent` spaces.
pub fn wrap(spans: &[(String, Style)], width: usize, indent: usize) -> Vec<Row> {
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
    let pad = |row: &mut Vec<Cell>| {
        row.extend((0..indent).map(|_| Cell {
            text: " ",
            width: 1,
            style: Style::new(),
        }));
    };
    for mut cell in cells_with(spans.iter().map(|(s, style)| (s.as_str(), *style)), true) {
        if cell.text == BREAK {
            rows.push(std::mem::take(&mut row));
            pad(&mut row);
            used = indent;
            brk = None;
            continue;
        }
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
    rows.into_iter().map(Row::from_cells).collect()
}

/// One screen row of wrapped text, already cut into graphemes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    /// The row's graphemes, one after another.
    text: String,
    cells: Vec<RowCell>,
}

/// One grapheme of a row: where it ends in the row's text, its columns and its style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowCell {
    end: usize,
    width: usize,
    style: Style,
}

impl Row {
    /// `text` on one row in one style, control characters as spaces (callers cut it to
    /// width first, e.g. with [`truncate`]).
    pub fn styled(text: &str, style: Style) -> Self {
        Self::from_cells(cells([(text, style)]))
    }

    fn from_cells<'a>(cells: impl IntoIterator<Item = Cell<'a>>) -> Self {
        let mut row = Self::default();
        for cell in cells {
            row.text.push_str(cell.text);
            row.cells.push(RowCell {
                end: row.text.len(),
                width: cell.width,
                style: cell.style,
            });
        }
        row
    }

    /// The row's text, as it shows.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Paints the row from `(x, y)` on, in at most `max` columns, cell for cell as ratatui's
    /// `Paragraph` paints a line (its `LineTruncator` and `render_text`): each grapheme
    /// in the cell where it starts with its style patched on, zero-width ones skipped, one
    /// wider than `max` left out, and the row cut before the first that does not fit.
    pub fn paint(&self, buf: &mut Buffer, x: u16, y: u16, max: u16) {
        let max = usize::from(max);
        let mut used = 0;
        let mut start = 0;
        for cell in &self.cells {
            let symbol = &self.text[start..cell.end];
            start = cell.end;
            if cell.width > max {
                continue;
            }
            if used + cell.width > max {
                break;
            }
            if cell.width > 0 {
                let at = u16::try_from(used).map_or(u16::MAX, |used| x.saturating_add(used));
                if let Some(c) = buf.cell_mut((at, y)) {
                    c.set_symbol(symbol).set_style(cell.style);
                }
            }
            used += cell.width;
        }
    }

    /// The row as a ratatui line: a span per run of one style.
    #[cfg(test)]
    pub fn to_line(&self) -> ratatui::text::Line<'static> {
        use ratatui::text::{Line, Span};
        let mut spans: Vec<Span<'static>> = Vec::new();
        let mut run = String::new();
        let mut style = None;
        let mut start = 0;
        for cell in &self.cells {
            if style != Some(cell.style) {
                if let Some(s) = style {
                    spans.push(Span::styled(std::mem::take(&mut run), s));
                }
                style = Some(cell.style);
            }
            run.push_str(&self.text[start..cell.end]);
            start = cell.end;
        }
        if let Some(s) = style {
            spans.push(Span::styled(run, s));
        }
        Line::from(spans)
    }
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
    for cell in cells([(s, Style::new())]) {
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
    use ratatui::layout::Rect;
    use ratatui::style::Stylize;
    use ratatui::text::Line;
    use ratatui::widgets::{Paragraph, Widget};

    use super::*;

    fn plain(rows: &[Row]) -> Vec<String> {
        rows.iter().map(|r| r.as_str().to_owned()).collect()
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
        assert_eq!(wrap_str("a\u{1b}[2Jb\rc\u{9b}d", 20, 0), vec!["a [2Jb c d"]);
        assert_eq!(truncate("a\u{7}b\nc", 10), "a b c");
        assert_eq!(Row::styled("a\nb", Style::new()).as_str(), "a b");
    }

    #[test]
    fn line_breaks_start_indented_rows() {
        assert_eq!(
            wrap_str("12:00 <bob> one\ntwo\r\n\nthe third line", 24, 12),
            vec![
                "12:00 <bob> one",
                "            two",
                "            ",
                "            the third ",
                "            line"
            ]
        );
        // An escape after a break is still a space, never sent to the terminal.
        assert_eq!(wrap_str("a\n\u{1b}[2J", 20, 2), vec!["a", "   [2J"]);
    }

    /// `row` painted as the TUI paints it and as a `Paragraph` of its line, `w` columns wide.
    fn both_ways(row: &Row, line: Line<'static>, w: u16) -> (Buffer, Buffer) {
        let area = Rect::new(0, 0, w, 1);
        let mut ours = Buffer::empty(area);
        row.paint(&mut ours, 0, 0, w);
        let mut theirs = Buffer::empty(area);
        Paragraph::new(line).render(area, &mut theirs);
        (ours, theirs)
    }

    #[test]
    fn rows_paint_as_a_paragraph_of_their_line_would() {
        let spans = [
            ("12:00 ".to_owned(), Style::new().dark_gray()),
            ("<bob>".to_owned(), Style::new().cyan().bold()),
            ("?".to_owned(), Style::new().yellow().reversed()),
            (
                " 漢字 a\u{200b}b e\u{301} 👍🏽 \u{1b}[2J\ttab naïve".to_owned(),
                Style::new(),
            ),
            (" ✓".to_owned(), Style::new().green()),
        ];
        for width in [1, 2, 3, 5, 8, 13, 40, 200] {
            for row in wrap(&spans, width, 6) {
                for w in [width, width + 3, width - 1] {
                    let w = u16::try_from(w).expect("width");
                    if w == 0 {
                        continue;
                    }
                    let (ours, theirs) = both_ways(&row, row.to_line(), w);
                    assert_eq!(ours, theirs, "{:?} in {w} columns", row.as_str());
                }
            }
        }
        // A day separator was a line with a style of its own.
        let text = "-- Monday, 2 June 2025 --";
        let style = Style::new().dark_gray().bold();
        for w in [1, 10, 25, 80] {
            let row = Row::styled(&truncate(text, usize::from(w)), style);
            let line = Line::styled(truncate(text, usize::from(w)), style);
            let (ours, theirs) = both_ways(&row, line, w);
            assert_eq!(ours, theirs, "separator in {w} columns");
        }
    }

    #[test]
    fn truncates_by_width() {
        assert_eq!(truncate("#rust", 10), "#rust");
        assert_eq!(truncate("#verylongname", 6), "#very…");
        assert_eq!(truncate("漢字漢字", 4), "漢…");
        assert_eq!(truncate("abc", 0), "");
    }
}
