//! One conversation of the TUI: its identity, bounded scrollback, unread count and members.

use std::collections::VecDeque;
use std::fmt;

use natter_protocol::GroupName;
use natter_protocol::peer::MessageId;
use natter_protocol::tracker::Member;

/// The most lines a conversation keeps; older ones fall off the front.
pub const SCROLLBACK: usize = 10_000;

/// Which conversation a line belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConvId {
    /// The "natter" status conversation: welcome, tracker state, errors with no better home.
    Status,
    Group(GroupName),
    /// A private conversation, keyed by the peer's name (or the address it was sent to).
    Peer(String),
}

impl fmt::Display for ConvId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status => f.write_str("natter"),
            Self::Group(g) => write!(f, "{g}"),
            Self::Peer(p) => f.write_str(p),
        }
    }
}

/// What became of one of our own messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sent, not yet acknowledged by everyone.
    Pending,
    /// Every recipient acknowledged it.
    Delivered,
    /// Some recipients could not be reached (their names).
    Failed(Vec<String>),
}

/// What kind of line this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// A chat message; `own` with a delivery mark when it is ours.
    Message {
        from: String,
        own: Option<(MessageId, Delivery)>,
    },
    /// Joins, leaves, answers to commands, help.
    System,
    /// Something that went wrong.
    Error,
}

/// One line of scrollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Milliseconds since the Unix epoch; `None` for lines shown without a time (the welcome).
    pub at: Option<u64>,
    pub kind: LineKind,
    pub text: String,
}

impl Line {
    pub fn system(at: Option<u64>, text: impl Into<String>) -> Self {
        Self {
            at,
            kind: LineKind::System,
            text: text.into(),
        }
    }

    pub fn error(at: Option<u64>, text: impl Into<String>) -> Self {
        Self {
            at,
            kind: LineKind::Error,
            text: text.into(),
        }
    }
}

/// A conversation in the sidebar.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: ConvId,
    lines: VecDeque<Line>,
    /// Messages that arrived while another conversation was selected.
    pub unread: usize,
    /// A mention of the user (or a private message) arrived while not selected.
    pub mention: bool,
    /// Lines scrolled up from the bottom (0 = following the newest line).
    pub scroll: usize,
    /// The group's last known members (empty for private and status conversations).
    pub members: Vec<Member>,
    /// A full member list has arrived since the conversation opened.
    pub joined: bool,
}

impl Conversation {
    pub fn new(id: ConvId) -> Self {
        Self {
            id,
            lines: VecDeque::new(),
            unread: 0,
            mention: false,
            scroll: 0,
            members: Vec::new(),
            joined: false,
        }
    }

    /// Appends a line, dropping the oldest beyond [`SCROLLBACK`]. A reader scrolled up
    /// keeps seeing the same lines.
    pub fn push(&mut self, line: Line) {
        if self.lines.len() >= SCROLLBACK {
            self.lines.pop_front();
        } else if self.scroll > 0 {
            self.scroll += 1;
        }
        self.lines.push_back(line);
        self.clamp_scroll();
    }

    pub fn lines(&self) -> &VecDeque<Line> {
        &self.lines
    }

    pub fn clear(&mut self) {
        self.lines.clear();
        self.scroll = 0;
    }

    /// Sets the delivery mark of our message `id`; false when it is no longer in scrollback.
    pub fn mark(&mut self, id: &MessageId, delivery: Delivery) -> bool {
        // Acknowledgements arrive soon after sending, so the line is near the end.
        let found = self
            .lines
            .iter_mut()
            .rev()
            .find_map(|line| match &mut line.kind {
                LineKind::Message {
                    own: Some((own_id, mark)),
                    ..
                } if own_id == id => Some(mark),
                _ => None,
            });
        match found {
            Some(mark) => {
                *mark = delivery;
                true
            }
            None => false,
        }
    }

    pub fn scroll_up(&mut self, by: usize) {
        self.scroll = self.scroll.saturating_add(by);
        self.clamp_scroll();
    }

    pub fn scroll_down(&mut self, by: usize) {
        self.scroll = self.scroll.saturating_sub(by);
    }

    pub fn scroll_top(&mut self) {
        self.scroll = usize::MAX;
        self.clamp_scroll();
    }

    fn clamp_scroll(&mut self) {
        self.scroll = self.scroll.min(self.lines.len().saturating_sub(1));
    }

    /// Names of online members.
    pub fn online(&self) -> impl Iterator<Item = &str> {
        self.members
            .iter()
            .filter(|m| m.online)
            .map(|m| m.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrollback_is_capped_and_keeps_the_newest() {
        let mut c = Conversation::new(ConvId::Status);
        for i in 0..SCROLLBACK + 50 {
            c.push(Line::system(None, i.to_string()));
        }
        assert_eq!(c.lines().len(), SCROLLBACK);
        assert_eq!(c.lines().front().map(|l| l.text.as_str()), Some("50"));
        let last = (SCROLLBACK + 49).to_string();
        assert_eq!(
            c.lines().back().map(|l| l.text.as_str()),
            Some(last.as_str())
        );
    }

    #[test]
    fn scrolled_reader_keeps_position_as_lines_arrive() {
        let mut c = Conversation::new(ConvId::Status);
        for i in 0..10 {
            c.push(Line::system(None, i.to_string()));
        }
        c.scroll_up(3);
        c.push(Line::system(None, "new"));
        assert_eq!(c.scroll, 4);
        c.scroll_top();
        assert_eq!(c.scroll, 10);
        c.scroll_down(100);
        assert_eq!(c.scroll, 0);
    }
}
