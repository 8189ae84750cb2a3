//! The input editor: a grapheme-aware cursor, word and line deletion, history, and
//! several lines (Alt-Enter, a paste or `$EDITOR` puts line breaks in a message).
//!
//! Pure state, no terminal: widths come from `unicode-width`, so CJK and emoji take the two
//! columns a terminal gives them and the cursor lands where the terminal draws it.

use std::collections::VecDeque;

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// The longest input, in bytes (a message longer than this is not chat).
pub const MAX_INPUT: usize = 8 * 1024;
/// The most rows the input box grows to; past that it scrolls with the cursor.
pub const MAX_INPUT_ROWS: usize = 6;
/// How many submitted lines Up/Down can recall.
pub const MAX_HISTORY: usize = 500;

/// One editing operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditOp {
    Insert(char),
    /// A line break (Alt-Enter, Shift-Enter, Ctrl-J): the message goes on on a new line.
    Newline,
    /// Pasted text: its line breaks are kept (`\r\n` and `\r` become `\n`), a tab becomes
    /// a space, and other control characters are dropped.
    Paste(String),
    Backspace,
    Delete,
    Left,
    Right,
    WordLeft,
    WordRight,
    Home,
    End,
    /// Delete the word before the cursor (Ctrl-W).
    DeleteWord,
    /// Delete from the start of the line to the cursor (Ctrl-U).
    DeleteToStart,
    /// Delete from the cursor to the end of the line (Ctrl-K).
    DeleteToEnd,
    HistoryPrev,
    HistoryNext,
    /// Up: the line above, or (on the first line) the previous history entry.
    LineUp,
    /// Down: the line below, or (on the last line) the next history entry.
    LineDown,
}

/// The line being typed.
#[derive(Debug, Clone, Default)]
pub struct Editor {
    text: String,
    /// A byte index into `text`, always on a grapheme boundary.
    cursor: usize,
    history: VecDeque<String>,
    /// Where Up/Down is in `history` (`None` = editing a fresh line).
    recall: Option<usize>,
    /// The fresh line put aside while browsing history.
    draft: String,
}

impl Editor {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The cursor as a byte index into [`Editor::text`].
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Takes the line (for sending), remembering it in history.
    pub fn submit(&mut self) -> String {
        let line = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.recall = None;
        self.draft.clear();
        if !line.trim().is_empty() && self.history.back() != Some(&line) {
            if self.history.len() >= MAX_HISTORY {
                self.history.pop_front();
            }
            self.history.push_back(line.clone());
        }
        line
    }

    pub fn apply(&mut self, op: EditOp) {
        match op {
            EditOp::Insert('\n') | EditOp::Newline => self.insert("\n"),
            EditOp::Insert(c) if c.is_control() => {}
            EditOp::Insert(c) => self.insert(c.encode_utf8(&mut [0; 4])),
            EditOp::Paste(s) => self.insert(&clean_paste(&s)),
            EditOp::Backspace => {
                let start = self.prev_boundary(self.cursor);
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            EditOp::Delete => {
                let end = self.next_boundary(self.cursor);
                self.text.replace_range(self.cursor..end, "");
            }
            EditOp::Left => self.cursor = self.prev_boundary(self.cursor),
            EditOp::Right => self.cursor = self.next_boundary(self.cursor),
            EditOp::WordLeft => self.cursor = self.word_start(),
            EditOp::WordRight => self.cursor = self.word_end(),
            EditOp::Home => self.cursor = self.line_start(),
            EditOp::End => self.cursor = self.line_end(),
            EditOp::DeleteWord => {
                let start = self.word_start();
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            EditOp::DeleteToStart => {
                let start = self.line_start();
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            EditOp::DeleteToEnd => {
                let end = self.line_end();
                self.text.replace_range(self.cursor..end, "");
            }
            EditOp::HistoryPrev => self.recall_prev(),
            EditOp::HistoryNext => self.recall_next(),
            EditOp::LineUp => match self.line_start() {
                0 => self.recall_prev(),
                start => self.cursor = self.column_in(self.line_start_at(start - 1), start - 1),
            },
            EditOp::LineDown => {
                let end = self.line_end();
                if end == self.text.len() {
                    self.recall_next();
                } else {
                    let below_end = self.line_end_at(end + 1);
                    self.cursor = self.column_in(end + 1, below_end);
                }
            }
        }
    }

    /// Whether the input holds more than one line.
    pub fn is_multiline(&self) -> bool {
        self.text.contains('\n')
    }

    /// The start of the line `at` is on.
    fn line_start_at(&self, at: usize) -> usize {
        self.text[..at].rfind('\n').map_or(0, |i| i + 1)
    }

    /// The end of the line `at` is on (before its line break).
    fn line_end_at(&self, at: usize) -> usize {
        self.text[at..]
            .find('\n')
            .map_or(self.text.len(), |i| at + i)
    }

    fn line_start(&self) -> usize {
        self.line_start_at(self.cursor)
    }

    fn line_end(&self) -> usize {
        self.line_end_at(self.cursor)
    }

    /// The place in the line `start..end` at the cursor's column (or its end, when shorter).
    fn column_in(&self, start: usize, end: usize) -> usize {
        let col = self.text[self.line_start()..self.cursor].width();
        let mut used = 0;
        for (i, g) in self.text[start..end].grapheme_indices(true) {
            if used + g.width() > col {
                return start + i;
            }
            used += g.width();
        }
        end
    }

    fn insert(&mut self, s: &str) {
        let room = MAX_INPUT.saturating_sub(self.text.len());
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.text.insert_str(self.cursor, &s[..take]);
        self.cursor += take;
        // A combining mark joins the grapheme before it: keep the cursor on a boundary.
        if !self.is_boundary(self.cursor) {
            self.cursor = self.next_boundary(self.cursor);
        }
    }

    fn is_boundary(&self, at: usize) -> bool {
        at == self.text.len() || self.text.grapheme_indices(true).any(|(i, _)| i == at)
    }

    fn prev_boundary(&self, at: usize) -> usize {
        self.text[..at]
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self, at: usize) -> usize {
        self.text
            .grapheme_indices(true)
            .map(|(i, g)| i + g.len())
            .find(|&end| end > at)
            .unwrap_or(self.text.len())
    }

    /// The start of the word before the cursor (skipping spaces first), as readline does.
    fn word_start(&self) -> usize {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end();
        trimmed
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8())
    }

    /// The end of the word after the cursor (skipping spaces first).
    fn word_end(&self) -> usize {
        let after = &self.text[self.cursor..];
        let skipped = after.len() - after.trim_start().len();
        let rest = &after[skipped..];
        let word = rest.find(char::is_whitespace).unwrap_or(rest.len());
        self.cursor + skipped + word
    }

    fn recall_prev(&mut self) {
        let next = match self.recall {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.text.clone();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(i) => i - 1,
        };
        self.recall = Some(next);
        self.set_text(self.history.get(next).cloned().unwrap_or_default());
    }

    fn recall_next(&mut self) {
        let Some(i) = self.recall else { return };
        if i + 1 < self.history.len() {
            self.recall = Some(i + 1);
            self.set_text(self.history.get(i + 1).cloned().unwrap_or_default());
        } else {
            self.recall = None;
            let draft = std::mem::take(&mut self.draft);
            self.set_text(draft);
        }
    }

    /// Puts `text` in the input (an edit's old text, or what `$EDITOR` saved), cursor at
    /// the end, cleaned as a paste is; it is not remembered in history.
    pub fn replace(&mut self, text: &str) {
        self.clear();
        self.apply(EditOp::Paste(text.to_owned()));
    }

    /// Empties the line without remembering it.
    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
        self.recall = None;
        self.draft.clear();
    }

    fn set_text(&mut self, text: String) {
        self.text = text;
        self.cursor = self.text.len();
    }

    /// What fits in `width` columns, scrolled so the cursor shows, and the cursor's column
    /// within it (the line the cursor is on, when there are several).
    pub fn view(&self, width: usize) -> (String, usize) {
        let (start, end) = (self.line_start(), self.line_end());
        line_view(&self.text[start..end], self.cursor - start, width)
    }

    /// The rows the input box shows, at most `rows` of them and `width` columns each: one
    /// per line, scrolled so the cursor's line shows (and, across, the cursor); with the
    /// cursor's (column, row) among them.
    pub fn view_rows(&self, width: usize, rows: usize) -> (Vec<String>, (usize, usize)) {
        let rows = rows.max(1);
        let line = self.text[..self.cursor].matches('\n').count();
        let first = (line + 1).saturating_sub(rows);
        let mut shown = Vec::new();
        let mut cursor = (0, 0);
        for (i, text) in self.text.split('\n').enumerate().skip(first).take(rows) {
            if i == line {
                let (view, col) = self.view(width);
                cursor = (col, i - first);
                shown.push(view);
            } else {
                shown.push(line_view(text, 0, width).0);
            }
        }
        (shown, cursor)
    }

    /// How many rows the input box takes: one per line, up to [`MAX_INPUT_ROWS`].
    pub fn rows(&self) -> usize {
        (self.text.matches('\n').count() + 1).min(MAX_INPUT_ROWS)
    }
}

/// Pasted text as the input keeps it: line breaks as `\n`, a tab as a space, no other
/// control characters (a paste cannot put an escape sequence in a message).
pub fn clean_paste(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\r' => '\n',
            '\t' => ' ',
            c => c,
        })
        .filter(|&c| c == '\n' || !c.is_control())
        .collect()
}

/// One line of text cut to `width` columns around the cursor (a byte index into `text`),
/// and the cursor's column.
fn line_view(text: &str, cursor: usize, width: usize) -> (String, usize) {
    if width == 0 {
        return (String::new(), 0);
    }
    let before = text[..cursor].width();
    // Keep one column free for the cursor itself.
    let skip = before.saturating_sub(width - 1);
    let mut shown = String::new();
    let mut col = 0;
    let mut used = 0;
    let mut cursor_col = 0;
    for (i, g) in text.grapheme_indices(true) {
        let w = g.width();
        if i == cursor {
            cursor_col = used;
        }
        if col < skip {
            col += w;
            continue;
        }
        if used + w > width {
            break;
        }
        shown.push_str(g);
        used += w;
        col += w;
    }
    if cursor == text.len() {
        cursor_col = used;
    }
    (shown, cursor_col.min(width - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> Editor {
        let mut e = Editor::default();
        for c in s.chars() {
            e.apply(EditOp::Insert(c));
        }
        e
    }

    #[test]
    fn moves_by_grapheme_over_wide_and_combined_characters() {
        // "e" + combining acute is one grapheme; the flag is two code points.
        let mut e = typed("ae\u{301}漢🇫🇷");
        assert_eq!(e.view(80), ("ae\u{301}漢🇫🇷".to_owned(), 6));
        e.apply(EditOp::Left);
        assert_eq!(e.view(80).1, 4);
        e.apply(EditOp::Left);
        assert_eq!(e.view(80).1, 2);
        e.apply(EditOp::Backspace);
        assert_eq!(e.text(), "a漢🇫🇷");
        assert_eq!(e.view(80).1, 1);
        e.apply(EditOp::Delete);
        assert_eq!(e.text(), "a🇫🇷");
        e.apply(EditOp::End);
        e.apply(EditOp::Backspace);
        assert_eq!(e.text(), "a");
    }

    #[test]
    fn home_end_and_kills() {
        let mut e = typed("hello brave world");
        e.apply(EditOp::Home);
        assert_eq!(e.cursor(), 0);
        e.apply(EditOp::WordRight);
        assert_eq!(e.cursor(), 5);
        e.apply(EditOp::DeleteToEnd);
        assert_eq!(e.text(), "hello");
        let mut e = typed("hello brave world");
        e.apply(EditOp::DeleteWord);
        assert_eq!(e.text(), "hello brave ");
        e.apply(EditOp::DeleteWord);
        assert_eq!(e.text(), "hello ");
        e.apply(EditOp::Insert('x'));
        e.apply(EditOp::WordLeft);
        assert_eq!(e.cursor(), 6);
        e.apply(EditOp::DeleteToStart);
        assert_eq!((e.text(), e.cursor()), ("x", 0));
        e.apply(EditOp::End);
        assert_eq!(e.cursor(), 1);
    }

    #[test]
    fn word_moves_skip_spaces() {
        let mut e = typed("one  two");
        e.apply(EditOp::WordLeft);
        assert_eq!(e.cursor(), 5);
        e.apply(EditOp::WordLeft);
        assert_eq!(e.cursor(), 0);
        e.apply(EditOp::WordRight);
        assert_eq!(e.cursor(), 3);
        e.apply(EditOp::WordRight);
        assert_eq!(e.cursor(), 8);
    }

    #[test]
    fn history_recalls_and_restores_the_draft() {
        let mut e = typed("first");
        e.submit();
        for c in "second".chars() {
            e.apply(EditOp::Insert(c));
        }
        e.submit();
        for c in "draft".chars() {
            e.apply(EditOp::Insert(c));
        }
        e.apply(EditOp::HistoryPrev);
        assert_eq!(e.text(), "second");
        e.apply(EditOp::HistoryPrev);
        assert_eq!(e.text(), "first");
        e.apply(EditOp::HistoryPrev);
        assert_eq!(e.text(), "first");
        e.apply(EditOp::HistoryNext);
        assert_eq!(e.text(), "second");
        e.apply(EditOp::HistoryNext);
        assert_eq!(e.text(), "draft");
        assert_eq!(e.cursor(), 5);
    }

    #[test]
    fn paste_keeps_lines_and_drops_controls() {
        let mut e = typed("<");
        e.apply(EditOp::Paste("a\r\nb\nc\u{1b}[31m\u{7}\rd\te".into()));
        e.apply(EditOp::Insert('>'));
        assert_eq!(e.text(), "<a\nb\nc[31m\nd e>");
        // Nothing typed can put a control character in either.
        e.apply(EditOp::Insert('\u{1b}'));
        assert_eq!(e.text(), "<a\nb\nc[31m\nd e>");
    }

    #[test]
    fn newlines_make_lines_the_cursor_moves_between() {
        let mut e = typed("first line");
        e.apply(EditOp::Newline);
        for c in "2nd".chars() {
            e.apply(EditOp::Insert(c));
        }
        e.apply(EditOp::Newline);
        for c in "third one".chars() {
            e.apply(EditOp::Insert(c));
        }
        assert_eq!(e.text(), "first line\n2nd\nthird one");
        assert!(e.is_multiline());
        assert_eq!(e.rows(), 3);
        // Up keeps the column where the line above is long enough, else goes to its end.
        e.apply(EditOp::LineUp);
        assert_eq!(e.cursor(), "first line\n2nd".len());
        e.apply(EditOp::LineUp);
        assert_eq!(e.cursor(), 3);
        e.apply(EditOp::LineDown);
        assert_eq!(e.cursor(), "first line\n2nd".len());
        e.apply(EditOp::LineDown);
        assert_eq!(e.cursor(), "first line\n2nd\nthi".len());
        // Home, End and the kills work on the cursor's line.
        e.apply(EditOp::Home);
        assert_eq!(e.cursor(), "first line\n2nd\n".len());
        e.apply(EditOp::End);
        assert_eq!(e.cursor(), e.text().len());
        e.apply(EditOp::DeleteToStart);
        assert_eq!(e.text(), "first line\n2nd\n");
        e.apply(EditOp::Backspace);
        e.apply(EditOp::LineUp);
        e.apply(EditOp::DeleteToEnd);
        assert_eq!(e.text(), "fir\n2nd");
        // Up on the first line is history; the draft comes back with Down.
        let mut e = typed("old");
        e.submit();
        e.apply(EditOp::Paste("a\nb".into()));
        e.apply(EditOp::LineUp);
        e.apply(EditOp::LineUp);
        assert_eq!(e.text(), "old");
        e.apply(EditOp::LineDown);
        assert_eq!(e.text(), "a\nb");
    }

    #[test]
    fn the_box_shows_the_cursors_lines() {
        let mut e = Editor::default();
        e.apply(EditOp::Paste("one\ntwo\nthree".into()));
        assert_eq!(
            e.view_rows(10, 6),
            (vec!["one".into(), "two".into(), "three".into()], (5, 2))
        );
        // Fewer rows than lines: the cursor's line is the last shown.
        e.apply(EditOp::LineUp);
        assert_eq!(
            e.view_rows(10, 2),
            (vec!["one".into(), "two".into()], (3, 1))
        );
        let mut long = Editor::default();
        long.apply(EditOp::Paste("x\n".repeat(20)));
        assert_eq!(long.rows(), MAX_INPUT_ROWS);
        let (rows, cursor) = long.view_rows(10, MAX_INPUT_ROWS);
        assert_eq!(
            (rows.len(), cursor),
            (MAX_INPUT_ROWS, (0, MAX_INPUT_ROWS - 1))
        );
    }

    #[test]
    fn input_is_bounded() {
        let mut e = Editor::default();
        e.apply(EditOp::Paste("é".repeat(MAX_INPUT)));
        assert!(e.text().len() <= MAX_INPUT);
        assert!(e.text().chars().all(|c| c == 'é'));
    }

    #[test]
    fn view_scrolls_to_keep_the_cursor_visible() {
        let e = typed("漢字漢字漢字");
        let (shown, col) = e.view(5);
        // Twelve columns of text, cursor at the end: the tail shows with the cursor last.
        assert_eq!(shown, "漢字");
        assert_eq!(col, 4);
        let mut e = typed("abcdefghij");
        e.apply(EditOp::Home);
        assert_eq!(e.view(4), ("abcd".to_owned(), 0));
        assert_eq!(e.view(0), (String::new(), 0));
    }
}
