//! The input line editor: a grapheme-aware cursor, word and line deletion, and history.
//!
//! Pure state, no terminal: widths come from `unicode-width`, so CJK and emoji take the two
//! columns a terminal gives them and the cursor lands where the terminal draws it.

use std::collections::VecDeque;

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// The longest input line, in bytes (a message longer than this is not chat).
pub const MAX_INPUT: usize = 8 * 1024;
/// How many submitted lines Up/Down can recall.
pub const MAX_HISTORY: usize = 500;

/// One editing operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditOp {
    Insert(char),
    /// Pasted text; line breaks become spaces and other control characters are dropped.
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
            EditOp::Insert(c) => self.insert(c.encode_utf8(&mut [0; 4])),
            EditOp::Paste(s) => {
                let clean: String = s
                    .replace("\r\n", " ")
                    .chars()
                    .map(|c| {
                        if c == '\n' || c == '\r' || c == '\t' {
                            ' '
                        } else {
                            c
                        }
                    })
                    .filter(|c| !c.is_control())
                    .collect();
                self.insert(&clean);
            }
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
            EditOp::Home => self.cursor = 0,
            EditOp::End => self.cursor = self.text.len(),
            EditOp::DeleteWord => {
                let start = self.word_start();
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            EditOp::DeleteToStart => {
                self.text.replace_range(..self.cursor, "");
                self.cursor = 0;
            }
            EditOp::DeleteToEnd => self.text.truncate(self.cursor),
            EditOp::HistoryPrev => self.recall_prev(),
            EditOp::HistoryNext => self.recall_next(),
        }
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

    /// Puts `text` on the line (an edit's old text), cursor at the end; newlines become
    /// spaces as in a paste, and it is not remembered in history.
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
    /// within it.
    pub fn view(&self, width: usize) -> (String, usize) {
        if width == 0 {
            return (String::new(), 0);
        }
        let before = self.text[..self.cursor].width();
        // Keep one column free for the cursor itself.
        let skip = before.saturating_sub(width - 1);
        let mut shown = String::new();
        let mut col = 0;
        let mut used = 0;
        let mut cursor_col = 0;
        for (i, g) in self.text.grapheme_indices(true) {
            let w = g.width();
            if i == self.cursor {
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
        if self.cursor == self.text.len() {
            cursor_col = used;
        }
        (shown, cursor_col.min(width - 1))
    }
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
    fn paste_flattens_lines_and_drops_controls() {
        let mut e = typed("<");
        e.apply(EditOp::Paste("a\r\nb\nc\u{1b}[31m\u{7}".into()));
        e.apply(EditOp::Insert('>'));
        assert_eq!(e.text(), "<a b c[31m>");
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
