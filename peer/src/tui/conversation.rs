//! One conversation of the TUI: its identity, bounded scrollback, unread count and members.

use std::collections::{HashSet, VecDeque};
use std::fmt;

use crate::node::members::MemberList;
use chrono::{NaiveDate, TimeZone};
use natter_protocol::peer::MessageId;
use natter_protocol::{GroupName, RequestId};

pub use super::delivery::Delivery;
use super::message::{Extra, first_words};

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

/// One of our own messages: the request that sent it, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Own {
    pub req: Option<RequestId>,
    pub delivery: Delivery,
    /// Sent to a group (its read marks count readers) rather than to one peer.
    pub group: bool,
    /// The recipients who read it.
    pub read: Vec<String>,
    /// How many recipients it went to; 0 until the first attempt's report says.
    pub recipients: usize,
}

impl Own {
    /// A message of ours that was just sent, by request `req` when it was typed here.
    pub fn new(req: Option<RequestId>, group: bool) -> Self {
        Self {
            req,
            delivery: Delivery::Pending,
            group,
            read: Vec::new(),
            recipients: 0,
        }
    }
}

/// What kind of line this is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "most lines are messages: boxing them would cost an allocation each and save \
              memory only on the few system and error lines"
)]
pub enum LineKind {
    /// A chat message: its id (what replies and edits will point at; for our own, `None`
    /// while the typed text waits for the node, or after the node refused it), and `own`
    /// when it is ours.
    Message {
        from: String,
        id: Option<MessageId>,
        own: Option<Own>,
        /// False when the author's key could not be checked (first contact by address
        /// while the tracker is down): shown with a mark.
        verified: bool,
        /// What it answers, edits, a delete, reactions.
        extra: Extra,
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
    /// The first line of a local calendar day: shown under a day separator.
    pub new_day: bool,
}

impl Line {
    pub fn new(at: Option<u64>, kind: LineKind, text: impl Into<String>) -> Self {
        Self {
            at,
            kind,
            text: text.into(),
            new_day: false,
        }
    }

    pub fn system(at: Option<u64>, text: impl Into<String>) -> Self {
        Self::new(at, LineKind::System, text)
    }

    pub fn error(at: Option<u64>, text: impl Into<String>) -> Self {
        Self::new(at, LineKind::Error, text)
    }

    /// The message's id, for a message that has one.
    pub fn id(&self) -> Option<&MessageId> {
        match &self.kind {
            LineKind::Message { id, .. } => id.as_ref(),
            _ => None,
        }
    }

    /// A message's author and its life after sending; `None` for other lines.
    pub fn extra_mut(&mut self) -> Option<&mut Extra> {
        match &mut self.kind {
            LineKind::Message { extra, .. } => Some(extra),
            _ => None,
        }
    }

    /// How a reply quotes this message: its author and first words.
    pub fn quoted(&self) -> Option<(String, String)> {
        match &self.kind {
            LineKind::Message { from, extra, .. } => {
                Some((from.clone(), first_words(&self.text, extra.deleted)))
            }
            _ => None,
        }
    }
}

/// The local calendar day of a Unix-millisecond time.
pub fn day(ms: u64) -> Option<NaiveDate> {
    let ms = i64::try_from(ms).ok()?;
    let time = chrono::Local.timestamp_millis_opt(ms).single()?;
    Some(time.date_naive())
}

/// Where a reader who scrolled up is: the line shown at the bottom of the view (by its
/// sequence number, which stays the same as older lines fall off the front) and how many
/// of its screen rows are hidden below the bottom edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrollPos {
    pub line: u64,
    pub below: usize,
}

/// A conversation in the sidebar.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: ConvId,
    lines: VecDeque<Line>,
    /// The sequence number of the oldest line kept.
    first_seq: u64,
    /// Messages that arrived while another conversation was selected.
    pub unread: usize,
    /// A mention of the user (or a private message) arrived while not selected.
    pub mention: bool,
    /// `None` while following the newest line; where the reader is after scrolling up.
    pub scroll: Option<ScrollPos>,
    /// The group's last known members (empty for private and status conversations).
    pub members: MemberList,
    /// A full member list has arrived since the conversation opened.
    pub joined: bool,
    /// What an unverified sender's mark means has been explained here.
    pub unverified_noted: bool,
    /// It holds messages from others not yet marked read with the node.
    pub unmarked: bool,
    /// A group's topic, and whether it is invite-only.
    pub topic: Option<String>,
    pub private: bool,
}

impl Conversation {
    pub fn new(id: ConvId) -> Self {
        Self {
            id,
            lines: VecDeque::new(),
            first_seq: 0,
            unread: 0,
            mention: false,
            scroll: None,
            members: MemberList::new(),
            topic: None,
            private: false,
            joined: false,
            unverified_noted: false,
            unmarked: false,
        }
    }

    /// Appends a line, dropping the oldest beyond [`SCROLLBACK`]. A reader scrolled up
    /// keeps seeing the same rows (unless the very line they read falls off the front).
    /// A line on another day than the line before it starts that day.
    pub fn push(&mut self, mut line: Line) {
        if let Some(at) = line.at {
            let last = self.lines.iter().rev().find_map(|l| l.at);
            line.new_day = last.is_some_and(|last| day(last) != day(at));
        }
        if self.lines.len() >= SCROLLBACK {
            self.lines.pop_front();
            self.first_seq += 1;
            if let Some(pos) = &mut self.scroll
                && pos.line < self.first_seq
            {
                *pos = ScrollPos {
                    line: self.first_seq,
                    below: 0,
                };
            }
        }
        self.lines.push_back(line);
    }

    /// Puts earlier lines (oldest first: a conversation's history) above everything shown,
    /// without those whose message is already shown. The history starts under the
    /// separator of its first day. Returns how many lines went in; past [`SCROLLBACK`],
    /// the oldest of them stay out. A reader scrolled up keeps seeing the same rows.
    pub fn insert_history(&mut self, lines: Vec<Line>) -> usize {
        let mut shown: HashSet<MessageId> =
            self.lines.iter().filter_map(Line::id).cloned().collect();
        let mut fresh: Vec<Line> = lines
            .into_iter()
            .filter(|l| l.id().is_none_or(|id| shown.insert(id.clone())))
            .collect();
        let room = SCROLLBACK.saturating_sub(self.lines.len());
        if fresh.len() > room {
            fresh.drain(..fresh.len() - room);
        }
        let mut last_day = None;
        for line in &mut fresh {
            if let Some(at) = line.at {
                line.new_day = last_day != Some(day(at));
                last_day = Some(day(at));
            }
        }
        if let Some(last_day) = last_day
            && let Some(next) = self.lines.iter_mut().find(|l| l.at.is_some())
        {
            next.new_day = next.at.map(day) != Some(last_day);
        }
        let n = fresh.len();
        for line in fresh.into_iter().rev() {
            self.lines.push_front(line);
        }
        // Lines shown keep their sequence numbers where they can; else all shift.
        let n64 = n as u64;
        match self.first_seq.checked_sub(n64) {
            Some(first) => self.first_seq = first,
            None => {
                let shift = n64 - self.first_seq;
                self.first_seq = 0;
                if let Some(pos) = &mut self.scroll {
                    pos.line += shift;
                }
            }
        }
        n
    }

    /// Whether message `id` is in scrollback.
    pub fn contains(&self, id: &MessageId) -> bool {
        self.position(id).is_some()
    }

    /// The index of message `id` in scrollback.
    pub fn position(&self, id: &MessageId) -> Option<usize> {
        // News of a message mostly comes soon after it was sent: search from the end.
        self.lines.iter().rposition(|l| l.id() == Some(id))
    }

    /// Message `id`, to change what happened to it.
    pub fn message_mut(&mut self, id: &MessageId) -> Option<&mut Line> {
        let i = self.position(id)?;
        self.lines.get_mut(i)
    }

    /// Fills in the quote of the newest line when it is a reply to a message in scrollback.
    pub fn quote_last(&mut self) {
        let Some(to) = self
            .lines
            .back()
            .and_then(|l| match &l.kind {
                LineKind::Message { extra, .. } => extra.reply.as_ref(),
                _ => None,
            })
            .map(|q| q.to.clone())
        else {
            return;
        };
        let original = self.position(&to).and_then(|i| self.lines[i].quoted());
        if let Some(Extra {
            reply: Some(quote), ..
        }) = self.lines.back_mut().and_then(Line::extra_mut)
        {
            quote.original = original;
        }
    }

    /// Fills in the quotes of replies whose original is in scrollback, or changed (`id`
    /// was edited or deleted; `None`: any reply still without its original).
    pub fn requote(&mut self, id: Option<&MessageId>) {
        let originals: std::collections::HashMap<MessageId, (String, String)> = self
            .lines
            .iter()
            .filter(|l| id.is_none_or(|id| l.id() == Some(id)))
            .filter_map(|l| Some((l.id()?.clone(), l.quoted()?)))
            .collect();
        if originals.is_empty() {
            return;
        }
        for line in &mut self.lines {
            if let Some(Extra {
                reply: Some(quote), ..
            }) = line.extra_mut()
                && (id.is_some() || quote.original.is_none())
                && let Some(original) = originals.get(&quote.to)
            {
                quote.original = Some(original.clone());
            }
        }
    }

    /// Our message `id`'s delivery and text; `None` when it is not in scrollback.
    pub fn own_mut(&mut self, id: &MessageId) -> Option<(&mut Delivery, &str)> {
        let line = self.message_mut(id)?;
        match &mut line.kind {
            LineKind::Message {
                own: Some(Own { delivery, .. }),
                ..
            } => Some((delivery, line.text.as_str())),
            _ => None,
        }
    }

    pub fn lines(&self) -> &VecDeque<Line> {
        &self.lines
    }

    /// Every line, to change what happened to messages (never to add or remove lines).
    pub fn lines_mut(&mut self) -> impl Iterator<Item = &mut Line> {
        self.lines.iter_mut()
    }

    /// The sequence number of the line at `index`: it stays the line's as older lines fall
    /// off the front (the rows memo and scrolled views know lines by it).
    pub fn seq(&self, index: usize) -> u64 {
        self.first_seq + index as u64
    }

    pub fn clear(&mut self) {
        self.first_seq += self.lines.len() as u64;
        self.lines.clear();
        self.scroll = None;
    }

    /// Sets the delivery mark of our message `id`, sent to `recipients`; false when it is
    /// no longer in scrollback.
    pub fn mark(&mut self, id: &MessageId, delivery: Delivery, recipients: usize) -> bool {
        let Some(line) = self.message_mut(id) else {
            return false;
        };
        match &mut line.kind {
            LineKind::Message { own: Some(own), .. } => {
                own.delivery = delivery;
                own.recipients = recipients;
                true
            }
            _ => false,
        }
    }

    /// The bottom of a scrolled-up view: the index of the line there and its rows hidden
    /// below the edge; `None` while following the newest line.
    pub fn bottom(&self) -> Option<(usize, usize)> {
        let pos = self.scroll?;
        let last = self.lines.len().checked_sub(1)?;
        let index = usize::try_from(pos.line.saturating_sub(self.first_seq)).unwrap_or(last);
        Some((index.min(last), pos.below))
    }

    /// How many lines are newer than the one at the bottom of a scrolled-up view.
    pub fn newer_lines(&self) -> usize {
        self.bottom()
            .map_or(0, |(i, _)| self.lines.len().saturating_sub(i + 1))
    }

    fn set_bottom(&mut self, at: Option<(usize, usize)>) {
        self.scroll = at.map(|(i, below)| ScrollPos {
            line: self.first_seq + i as u64,
            below,
        });
    }

    /// The row above `(index, below)`; `None` at the very first row.
    fn row_up(
        &self,
        (i, below): (usize, usize),
        rows: &impl Fn(u64, &Line) -> usize,
    ) -> Option<(usize, usize)> {
        let here = self.lines.get(i).map_or(1, |l| rows(self.seq(i), l).max(1));
        if below + 1 < here {
            Some((i, below + 1))
        } else if i > 0 {
            Some((i - 1, 0))
        } else {
            None
        }
    }

    /// The row below `(index, below)`; `None` at the very last row.
    fn row_down(
        &self,
        (i, below): (usize, usize),
        rows: &impl Fn(u64, &Line) -> usize,
    ) -> Option<(usize, usize)> {
        if below > 0 {
            Some((i, below - 1))
        } else {
            let next = self.lines.get(i + 1)?;
            Some((i + 1, rows(self.seq(i + 1), next).max(1) - 1))
        }
    }

    /// The bottom row of a view of `height` rows that starts with line `index`; `None`
    /// when everything from there fits (the view follows the newest line).
    fn bottom_from(
        &self,
        index: usize,
        height: usize,
        rows: &impl Fn(u64, &Line) -> usize,
    ) -> Option<(usize, usize)> {
        let first = self.lines.get(index)?;
        let mut at = (index, rows(self.seq(index), first).max(1) - 1);
        for _ in 1..height.max(1) {
            at = self.row_down(at, rows)?;
        }
        self.row_down(at, rows).map(|_| at)
    }

    /// The typed line sent by request `req` that the node has not announced yet: its id
    /// (still `None`) and its delivery.
    fn unannounced(&mut self, req: RequestId) -> Option<(&mut Option<MessageId>, &mut Own)> {
        self.lines
            .iter_mut()
            .rev()
            .find_map(|line| match &mut line.kind {
                LineKind::Message {
                    id: id @ None,
                    own:
                        Some(
                            own @ Own {
                                delivery: Delivery::Pending,
                                ..
                            },
                        ),
                    ..
                } if own.req == Some(req) => Some((id, own)),
                _ => None,
            })
    }

    /// The node announced our message `id`, sent by request `req`: gives the typed line
    /// its id. False when no typed line waits for that request.
    pub fn announce(&mut self, req: RequestId, id: &MessageId) -> bool {
        let Some((line_id, _)) = self.unannounced(req) else {
            return false;
        };
        *line_id = Some(id.clone());
        true
    }

    /// The node refused request `req`: its typed line is marked failed for `who`. False
    /// when no typed line waits for it.
    pub fn refuse(&mut self, req: RequestId, who: &str) -> bool {
        let Some((_, own)) = self.unannounced(req) else {
            return false;
        };
        // No longer pending, so no later announcement claims it.
        own.delivery = Delivery::Failed(vec![who.to_owned()]);
        true
    }

    /// Scrolls up `by` screen rows, in a view of `height` rows where `rows` tells how many
    /// rows a line (by its sequence number, and as it is) takes; stops with the first line
    /// at the top of the view.
    pub fn scroll_up(&mut self, by: usize, height: usize, rows: impl Fn(u64, &Line) -> usize) {
        let Some(last) = self.lines.len().checked_sub(1) else {
            return;
        };
        let mut at = self.bottom().unwrap_or((last, 0));
        for _ in 0..by {
            match self.row_up(at, &rows) {
                Some(up) => at = up,
                None => break,
            }
        }
        // The view must still be full: at least `height - 1` rows above its bottom one.
        let mut above = at;
        for _ in 1..height.max(1) {
            match self.row_up(above, &rows) {
                Some(up) => above = up,
                None => return self.set_bottom(self.bottom_from(0, height, &rows)),
            }
        }
        let at = if at == (last, 0) { None } else { Some(at) };
        self.set_bottom(at);
    }

    /// Scrolls down `by` screen rows; reaching the newest row follows it again.
    pub fn scroll_down(&mut self, by: usize, rows: impl Fn(u64, &Line) -> usize) {
        let Some(mut at) = self.bottom() else {
            return;
        };
        for _ in 0..by {
            match self.row_down(at, &rows) {
                Some(down) => at = down,
                None => break,
            }
        }
        let newest = (self.lines.len().saturating_sub(1), 0);
        self.set_bottom((at != newest).then_some(at));
    }

    /// Scrolls to the oldest line, in a view of `height` rows.
    pub fn scroll_top(&mut self, height: usize, rows: impl Fn(u64, &Line) -> usize) {
        self.scroll_to(0, height, rows);
    }

    /// Scrolls so that line `index` is at the top of a view of `height` rows (or as near
    /// as the newest lines allow).
    pub fn scroll_to(&mut self, index: usize, height: usize, rows: impl Fn(u64, &Line) -> usize) {
        let bottom = self.bottom_from(index, height, &rows);
        self.set_bottom(bottom);
    }

    /// Scrolls as little as needed for line `index` to be on screen in a view of `height`
    /// rows: at the bottom when it was below, at the top when it was above.
    pub fn reveal(&mut self, index: usize, height: usize, rows: impl Fn(u64, &Line) -> usize) {
        let Some(last) = self.lines.len().checked_sub(1) else {
            return;
        };
        let index = index.min(last);
        let (bottom, below) = self.bottom().unwrap_or((last, 0));
        if index > bottom || (index == bottom && below > 0) {
            let at = (index != last).then_some((index, 0));
            return self.set_bottom(at);
        }
        // The top line of the view: rows counted up from the bottom one.
        let mut at = (bottom, below);
        for _ in 1..height.max(1) {
            match self.row_up(at, &rows) {
                Some(up) => at = up,
                None => return,
            }
        }
        // A line cut at the top edge counts as shown.
        let top = at.0;
        if index < top {
            self.scroll_to(index, height, rows);
        }
    }

    /// Follows the newest line again.
    pub fn scroll_bottom(&mut self) {
        self.scroll = None;
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

    /// Lines whose text is a number of rows.
    fn rows(_seq: u64, line: &Line) -> usize {
        line.text.parse().unwrap_or(1)
    }

    fn filled(texts: &[&str]) -> Conversation {
        let mut c = Conversation::new(ConvId::Status);
        for t in texts {
            c.push(Line::system(None, *t));
        }
        c
    }

    #[test]
    fn scrolling_moves_by_rows_through_wrapped_lines() {
        // Rows, oldest first: a(1) b(3) c(3) d(1): 8 rows.
        let mut c = filled(&["1", "3", "3", "1"]);
        c.scroll_up(2, 3, rows);
        // Two rows up from d: the middle row of c at the bottom.
        assert_eq!(c.bottom(), Some((2, 1)));
        assert_eq!(c.newer_lines(), 1);
        c.scroll_up(3, 3, rows);
        assert_eq!(c.bottom(), Some((1, 1)));
        // Never past a full view of the first rows: a + two rows of b.
        c.scroll_up(100, 3, rows);
        assert_eq!(c.bottom(), Some((1, 1)));
        c.scroll_down(4, rows);
        assert_eq!(c.bottom(), Some((2, 0)));
        c.scroll_down(1, rows);
        assert_eq!(c.bottom(), None, "back at the newest row: following");
        c.scroll_top(3, rows);
        assert_eq!(c.bottom(), Some((1, 1)));
        c.scroll_bottom();
        assert_eq!(c.bottom(), None);
        // Everything fits: nothing to scroll.
        c.scroll_up(5, 20, rows);
        assert_eq!(c.bottom(), None);
        c.scroll_top(20, rows);
        assert_eq!(c.bottom(), None);
    }

    #[test]
    fn scrolled_reader_keeps_position_as_lines_arrive() {
        let mut c = filled(&["1"; 10]);
        c.scroll_up(3, 2, rows);
        assert_eq!(c.bottom(), Some((6, 0)));
        c.push(Line::system(None, "new"));
        assert_eq!(c.bottom(), Some((6, 0)));
        assert_eq!(c.newer_lines(), 4);
        c.scroll_down(100, rows);
        assert_eq!(c.bottom(), None);
    }

    #[test]
    fn the_view_holds_still_when_the_cap_drops_old_lines() {
        let mut c = Conversation::new(ConvId::Status);
        for i in 0..SCROLLBACK {
            c.push(Line::system(None, format!("x{i}")));
        }
        c.scroll_up(100, 10, |_, _| 1);
        let shown = |c: &Conversation| c.bottom().map(|(i, _)| c.lines()[i].text.clone());
        let before = shown(&c);
        assert_eq!(before.as_deref(), Some("x9899"));
        for i in 0..50 {
            c.push(Line::system(None, format!("y{i}")));
        }
        assert_eq!(shown(&c), before);
        // The very line read falls off the front: the view stays at the top.
        c.scroll_top(1, |_, _| 1);
        assert_eq!(c.bottom().map(|(i, _)| i), Some(0));
        c.push(Line::system(None, "z"));
        assert_eq!(c.bottom().map(|(i, _)| i), Some(0));
    }
}
