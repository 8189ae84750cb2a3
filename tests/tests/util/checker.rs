//! A Jepsen/Maelstrom-style delivery checker. It is fed the acknowledged writes (each
//! author's `sending` events, in order, with their recipients) and what each receiver saw
//! (its `message` events in the order printed, across restarts; optionally its `/history`
//! after the run), and reports per stream (receiver, author, conversation) what was lost,
//! duplicated or reordered. Zero of each, and of the other failures below, is a pass.
//!
//! Order is checked per conversation: a group, or the private conversation of the author
//! and the receiver.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde_json::Value;

use super::durable::outcomes;

mod report;

pub use report::{Report, StreamReport};

/// A conversation, as a message event names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Conv {
    Group(String),
    /// Between the author and the receiver.
    Private,
}

impl Conv {
    /// From an event's `group` field (`null` for a private message).
    pub fn of(v: &Value) -> Conv {
        match v["group"].as_str() {
            Some(g) => Conv::Group(g.trim_start_matches('#').to_owned()),
            None => Conv::Private,
        }
    }
}

impl fmt::Display for Conv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conv::Group(g) => write!(f, "#{g}"),
            Conv::Private => f.write_str("private"),
        }
    }
}

/// One acknowledged write.
struct Write {
    author: String,
    conv: Conv,
    text: String,
    recipients: HashSet<String>,
    /// Its place in the author's announce order.
    index: usize,
}

/// One message as a receiver saw it.
#[derive(Clone)]
struct Got {
    id: String,
    from: String,
    conv: Conv,
    text: String,
}

impl Got {
    fn of(v: &Value) -> Got {
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        Got {
            id: text("id"),
            from: text("from"),
            conv: Conv::of(v),
            text: text("text"),
        }
    }
}

/// (receiver, author, conversation).
pub type StreamKey = (String, String, Conv);

#[derive(Default)]
pub struct Checker {
    writes: HashMap<String, Write>,
    /// Each author's writes so far.
    counts: HashMap<String, usize>,
    /// The last seq each author announced (when ids end in `/SEQ`).
    last_seq: HashMap<String, u64>,
    /// Ids announced twice, or out of the author's sequence.
    bad_ids: Vec<String>,
    printed: BTreeMap<String, Vec<Got>>,
    /// Each receiver's `/history` reads: (target, entries).
    stored: BTreeMap<String, Vec<(String, Vec<Got>)>>,
    /// (id, recipient) pairs a sender reported `failed`.
    failed: HashSet<(String, String)>,
    /// Authors killed at some point: their unannounced messages are no failure.
    killed: HashSet<String>,
}

impl Checker {
    pub fn new() -> Checker {
        Checker::default()
    }

    /// `author` was killed: a message of its that no `sending` announced may still arrive
    /// (stored, then killed before the announcement was printed).
    pub fn author_killed(&mut self, author: &str) {
        self.killed.insert(author.to_owned());
    }

    /// An acknowledged write, in the author's order.
    pub fn announce(&mut self, author: &str, id: &str, conv: Conv, text: &str, to: &[&str]) {
        if self.writes.contains_key(id) {
            self.bad_ids.push(format!("{id} announced twice"));
            return;
        }
        if let Some(seq) = seq_of(id)
            && let Some(last) = self.last_seq.insert(author.to_owned(), seq)
            && seq <= last
        {
            self.bad_ids
                .push(format!("{id} announced after {author}/{last}"));
        }
        let count = self.counts.entry(author.to_owned()).or_default();
        self.writes.insert(
            id.to_owned(),
            Write {
                author: author.to_owned(),
                conv,
                text: text.to_owned(),
                recipients: to.iter().map(|s| (*s).to_owned()).collect(),
                index: *count,
            },
        );
        *count += 1;
    }

    /// A `sending` event of `author`, meant for `to`.
    pub fn announce_event(&mut self, author: &str, sending: &Value, to: &[&str]) {
        let id = sending["id"].as_str().unwrap_or_default();
        let text = sending["text"].as_str().unwrap_or_default();
        self.announce(author, id, Conv::of(sending), text, to);
    }

    /// Every `sending` among `events` (an author's, in order), each meant for `to`.
    pub fn announce_events<'a>(
        &mut self,
        author: &str,
        events: impl IntoIterator<Item = &'a Value>,
        to: &[&str],
    ) {
        for v in events.into_iter().filter(|v| v["event"] == "sending") {
            self.announce_event(author, v, to);
        }
    }

    /// A `message` event printed by `receiver`.
    pub fn receive_event(&mut self, receiver: &str, message: &Value) {
        self.printed
            .entry(receiver.to_owned())
            .or_default()
            .push(Got::of(message));
    }

    /// Every `message` among `events` (a receiver's, in order).
    pub fn receive_events<'a>(
        &mut self,
        receiver: &str,
        events: impl IntoIterator<Item = &'a Value>,
    ) {
        for v in events.into_iter().filter(|v| v["event"] == "message") {
            self.receive_event(receiver, v);
        }
    }

    /// The `messages` of `receiver`'s `/history TARGET` (`#group`, or an author's name for
    /// the private conversation), read after the run: a message stored there but never
    /// printed (killed between storing and printing) counts as received; one printed but
    /// not stored, or stored twice or out of order, is a failure. Ask for enough (`N`).
    pub fn stored(&mut self, receiver: &str, target: &str, messages: &[Value]) {
        let entries = messages
            .iter()
            .map(Got::of)
            .filter(|g| g.from != receiver)
            .collect();
        self.stored
            .entry(receiver.to_owned())
            .or_default()
            .push((target.to_owned(), entries));
    }

    /// `author` reported that `recipient` will never get `id` (shown beside a loss).
    pub fn failed(&mut self, id: &str, recipient: &str) {
        self.failed.insert((id.to_owned(), recipient.to_owned()));
    }

    /// Every recipient a sender's events (`sent`, `failed`) report given up.
    pub fn failed_events<'a>(&mut self, events: impl IntoIterator<Item = &'a Value>) {
        for v in events {
            for (id, to, ok) in outcomes(v) {
                if !ok {
                    self.failed(&id, &to);
                }
            }
        }
    }

    /// How many writes `author` announced.
    pub fn announced(&self, author: &str) -> usize {
        self.counts.get(author).copied().unwrap_or_default()
    }

    pub fn check(&self) -> Report {
        let mut streams: BTreeMap<StreamKey, Stream> = BTreeMap::new();
        let mut receivers: HashSet<&String> = self.printed.keys().collect();
        receivers.extend(self.stored.keys());
        for w in self.writes.values() {
            receivers.extend(&w.recipients);
        }
        let mut by_index: Vec<(&String, &Write)> = self.writes.iter().collect();
        by_index.sort_by_key(|(_, w)| (&w.author, w.index));
        for (id, w) in by_index {
            for r in &w.recipients {
                let key = (r.clone(), w.author.clone(), w.conv.clone());
                streams.entry(key).or_default().expected.push(id.clone());
            }
        }
        for receiver in receivers {
            for got in self.printed.get(receiver).into_iter().flatten() {
                let s = self.stream_of(&mut streams, receiver, got);
                s.printed.push(got.id.clone());
            }
            for (target, entries) in self.stored.get(receiver).into_iter().flatten() {
                for got in entries {
                    let s = self.stream_of(&mut streams, receiver, got);
                    s.stored.push(got.id.clone());
                }
                // Every stream this read covers was read, even where it found nothing.
                for ((r, author, conv), s) in streams.iter_mut() {
                    if r == receiver && covers(target, author, conv) {
                        s.history_read = true;
                    }
                }
            }
        }
        let streams = streams
            .into_iter()
            .map(|(key, s)| self.judge(key, s))
            .collect();
        Report {
            streams,
            bad_ids: self.bad_ids.clone(),
        }
    }

    /// The stream `got` belongs to at `receiver`, noting at once what is wrong with it
    /// alone (misdelivered, altered, never announced).
    fn stream_of<'s>(
        &self,
        streams: &'s mut BTreeMap<StreamKey, Stream>,
        receiver: &str,
        got: &Got,
    ) -> &'s mut Stream {
        let Some(w) = self.writes.get(&got.id) else {
            let key = (receiver.to_owned(), got.from.clone(), got.conv.clone());
            let s = streams.entry(key).or_default();
            if !s.unexpected.contains(&got.id) {
                s.unexpected.push(got.id.clone());
            }
            s.unexpected_allowed = self.killed.contains(&got.from);
            return s;
        };
        let key = (receiver.to_owned(), w.author.clone(), w.conv.clone());
        let s = streams.entry(key).or_default();
        if !w.recipients.contains(receiver) {
            s.misdelivered.push(got.id.clone());
        }
        if got.from != w.author || got.conv != w.conv || got.text != w.text {
            s.mismatched.push(format!(
                "{} (from {}, {}, {:?})",
                got.id, got.from, got.conv, got.text
            ));
        }
        s
    }

    fn judge(&self, key: StreamKey, s: Stream) -> StreamReport {
        let index = |id: &String| self.writes.get(id).map(|w| w.index);
        let printed: HashSet<&String> = s.printed.iter().collect();
        let stored: HashSet<&String> = s.stored.iter().collect();
        let lost = s
            .expected
            .iter()
            .filter(|id| !printed.contains(id) && !stored.contains(id))
            .map(
                |id| match self.failed.contains(&(id.clone(), key.0.clone())) {
                    true => format!("{id} (reported failed)"),
                    false => id.clone(),
                },
            )
            .collect();
        let mut duplicated = repeats(&s.printed);
        duplicated.extend(
            repeats(&s.stored)
                .into_iter()
                .map(|id| format!("{id} (stored twice)")),
        );
        let mut reordered = out_of_order(&s.printed, index);
        reordered.extend(
            out_of_order(&s.stored, index)
                .into_iter()
                .map(|id| format!("{id} (in history)")),
        );
        let (unprinted, not_stored) = if s.history_read {
            let unprinted = unique(&s.stored)
                .into_iter()
                .filter(|id| !printed.contains(id))
                .collect();
            let not_stored = unique(&s.printed)
                .into_iter()
                .filter(|id| !stored.contains(id))
                .collect();
            (unprinted, not_stored)
        } else {
            (Vec::new(), Vec::new())
        };
        StreamReport {
            key,
            expected: s.expected.len(),
            received: s
                .expected
                .iter()
                .filter(|id| printed.contains(id) || stored.contains(id))
                .count(),
            printed: s.printed.len(),
            lost,
            duplicated,
            reordered,
            misdelivered: s.misdelivered,
            mismatched: s.mismatched,
            not_stored,
            unexpected: s.unexpected,
            unexpected_allowed: s.unexpected_allowed,
            unprinted,
        }
    }
}

/// What one stream got, before judging.
#[derive(Default)]
struct Stream {
    /// Announced ids meant for this receiver, in the author's order.
    expected: Vec<String>,
    printed: Vec<String>,
    stored: Vec<String>,
    history_read: bool,
    misdelivered: Vec<String>,
    mismatched: Vec<String>,
    unexpected: Vec<String>,
    unexpected_allowed: bool,
}

/// Whether `/history TARGET` holds the stream of `author` in `conv`.
fn covers(target: &str, author: &str, conv: &Conv) -> bool {
    match (target.strip_prefix('#'), conv) {
        (Some(g), Conv::Group(c)) => g == c,
        (None, Conv::Private) => target == author,
        _ => false,
    }
}

/// The sequence number of an id `NAME/SEQ`, if it has that shape.
fn seq_of(id: &str) -> Option<u64> {
    id.rsplit_once('/')?.1.parse().ok()
}

fn unique(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter().filter(|id| seen.insert(*id)).cloned().collect()
}

/// Ids seen more than once, each named once.
fn repeats(ids: &[String]) -> Vec<String> {
    let mut count: HashMap<&String, usize> = HashMap::new();
    let mut out = Vec::new();
    for id in ids {
        let n = count.entry(id).or_default();
        *n += 1;
        if *n == 2 {
            out.push(id.clone());
        }
    }
    out
}

/// Announced ids that came after one the author announced later (first copies only).
fn out_of_order(ids: &[String], index: impl Fn(&String) -> Option<usize>) -> Vec<String> {
    let mut highest: Option<usize> = None;
    let mut out = Vec::new();
    for id in unique(ids) {
        let Some(i) = index(&id) else { continue };
        match highest {
            Some(h) if i < h => out.push(id),
            _ => highest = Some(i),
        }
    }
    out
}
