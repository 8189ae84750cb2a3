//! A memo of scrollback lines laid out as screen rows, so that a frame wraps only the lines
//! it has not drawn before at its width.
//!
//! Wrapping a line (Unicode segmentation, display widths, the time of day formatted) costs
//! far more than painting it, and a frame mostly shows the lines the one before it showed.
//! The memo belongs to the app and fills while the screen is drawn from `&App`, hence its
//! `RefCell`: it never changes what is drawn, only how often the same rows are worked out.
//!
//! Lines are looked up by their sequence number in their conversation and reused only while
//! the line is equal to the one its rows were made from: a changed delivery mark, a line of
//! another conversation under the same number, or a cleared conversation can never show
//! stale rows. Another width starts afresh. Each frame keeps only what it and the frame
//! before used (and what scrolling measured in between), so the memo holds a few screens
//! of rows whatever the length of the scrollback.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::conversation::Line;
use super::wrap::Row;

/// Rows of the lines drawn lately, at one width.
#[derive(Clone, Default)]
pub struct RowMemo {
    inner: RefCell<Memo>,
}

#[derive(Clone, Default)]
struct Memo {
    /// The width the rows are laid out for.
    width: usize,
    /// What was used since the current frame began.
    current: HashMap<u64, Entry>,
    /// What the frame before used; dropped when the next frame begins.
    previous: HashMap<u64, Entry>,
}

/// A line as it was when laid out, and its rows.
#[derive(Clone)]
struct Entry {
    line: Line,
    rows: Arc<[Row]>,
}

impl RowMemo {
    /// The rows of line `seq` (`line` as it is now) at `width`: the memo's when it has them
    /// for this very line, else `render`'s, kept for the next frame.
    pub fn rows(
        &self,
        seq: u64,
        line: &Line,
        width: usize,
        render: impl FnOnce(&Line, usize) -> Vec<Row>,
    ) -> Arc<[Row]> {
        let mut memo = self.inner.borrow_mut();
        if memo.width != width {
            memo.current.clear();
            memo.previous.clear();
            memo.width = width;
        }
        if let Some(entry) = memo.current.get(&seq)
            && entry.line == *line
        {
            return Arc::clone(&entry.rows);
        }
        let entry = match memo.previous.remove(&seq) {
            Some(entry) if entry.line == *line => entry,
            _ => Entry {
                line: line.clone(),
                rows: render(line, width).into(),
            },
        };
        let rows = Arc::clone(&entry.rows);
        memo.current.insert(seq, entry);
        rows
    }

    /// A new frame begins: rows the last one did not use are forgotten.
    pub fn next_frame(&self) {
        let mut memo = self.inner.borrow_mut();
        memo.previous = std::mem::take(&mut memo.current);
    }

    /// How many lines the memo holds rows for.
    pub fn len(&self) -> usize {
        let memo = self.inner.borrow();
        memo.current.len() + memo.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for RowMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.try_borrow() {
            Ok(memo) => f
                .debug_struct("RowMemo")
                .field("width", &memo.width)
                .field("lines", &(memo.current.len() + memo.previous.len()))
                .finish(),
            Err(_) => f.write_str("RowMemo(in use)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use ratatui::style::Style;

    use super::*;

    /// A render that counts its calls: one row per word of the line, `width` in each.
    fn counting(calls: &Cell<usize>) -> impl Fn(&Line, usize) -> Vec<Row> + '_ {
        move |line, width| {
            calls.set(calls.get() + 1);
            let word = format!("{width}");
            line.text
                .split(' ')
                .map(|_| Row::styled(&word, Style::new()))
                .collect()
        }
    }

    fn line(text: &str) -> Line {
        Line::system(Some(0), text)
    }

    #[test]
    fn a_line_drawn_again_is_not_rendered_again() {
        let memo = RowMemo::default();
        let calls = Cell::new(0);
        let render = counting(&calls);
        let a = line("one two");
        assert_eq!(memo.rows(7, &a, 20, &render).len(), 2);
        assert_eq!(memo.rows(7, &a, 20, &render).len(), 2);
        memo.next_frame();
        assert_eq!(memo.rows(7, &a, 20, &render).len(), 2);
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn another_width_renders_again() {
        let memo = RowMemo::default();
        let calls = Cell::new(0);
        let render = counting(&calls);
        let a = line("one");
        let rows = memo.rows(1, &a, 20, &render);
        assert_eq!(rows[0].as_str(), "20");
        // A resize: the rows are laid out again at the new width, and only they are kept.
        let rows = memo.rows(1, &a, 30, &render);
        assert_eq!(rows[0].as_str(), "30");
        assert_eq!(calls.get(), 2);
        assert_eq!(memo.len(), 1);
        memo.rows(1, &a, 30, &render);
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn a_changed_or_new_line_renders_afresh() {
        let memo = RowMemo::default();
        let calls = Cell::new(0);
        let render = counting(&calls);
        memo.rows(1, &line("one"), 20, &render);
        // The same number, another line (a delivery mark changed, another conversation).
        assert_eq!(memo.rows(1, &line("one two three"), 20, &render).len(), 3);
        // A new line.
        assert_eq!(memo.rows(2, &line("four five"), 20, &render).len(), 2);
        assert_eq!(calls.get(), 3);
        memo.next_frame();
        memo.rows(1, &line("changed meanwhile"), 20, &render);
        assert_eq!(calls.get(), 4);
    }

    #[test]
    fn holds_only_what_the_last_two_frames_used() {
        let memo = RowMemo::default();
        let calls = Cell::new(0);
        let render = counting(&calls);
        for seq in 0..100 {
            memo.rows(seq, &line("x"), 20, &render);
        }
        memo.next_frame();
        // The next frame shows lines 90 to 109.
        for seq in 90..110 {
            memo.rows(seq, &line("x"), 20, &render);
        }
        assert_eq!(calls.get(), 110);
        memo.next_frame();
        assert_eq!(memo.len(), 20);
        memo.next_frame();
        assert!(memo.is_empty());
    }
}
