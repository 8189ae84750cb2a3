//! The checker's verdict: one line per stream, the first few offending ids of each fault.

use std::fmt;

use super::{Conv, StreamKey};
use crate::util::durable::SHOW;

/// The verdict on one stream (receiver, author, conversation).
#[derive(Debug)]
pub struct StreamReport {
    pub key: StreamKey,
    /// Announced writes meant for this receiver.
    pub expected: usize,
    /// Of those, how many were received (printed or stored).
    pub received: usize,
    /// `message` events printed, duplicates included.
    pub printed: usize,
    /// Announced, never printed nor stored.
    pub lost: Vec<String>,
    /// Printed (or stored) more than once.
    pub duplicated: Vec<String>,
    /// Printed (or stored) after a message the author announced later.
    pub reordered: Vec<String>,
    /// Announced for others, received here.
    pub misdelivered: Vec<String>,
    /// Received with another author, conversation or text than announced.
    pub mismatched: Vec<String>,
    /// Printed but missing from the receiver's history.
    pub not_stored: Vec<String>,
    /// Received but never announced: no failure when the author was killed.
    pub unexpected: Vec<String>,
    pub unexpected_allowed: bool,
    /// Stored but never printed (the receiver was killed between the two): counted as
    /// received; no failure.
    pub unprinted: Vec<String>,
}

impl StreamReport {
    pub fn ok(&self) -> bool {
        self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.reordered.is_empty()
            && self.misdelivered.is_empty()
            && self.mismatched.is_empty()
            && self.not_stored.is_empty()
            && (self.unexpected.is_empty() || self.unexpected_allowed)
    }
}

impl fmt::Display for StreamReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (receiver, author, conv) = &self.key;
        write!(
            f,
            "{} {receiver} <- {author} {conv}: expected {}, received {} ({} message events)",
            if self.ok() { "ok  " } else { "FAIL" },
            self.expected,
            self.received,
            self.printed
        )?;
        let unexpected = match self.unexpected_allowed {
            true => "unexpected (author killed: allowed)",
            false => "unexpected",
        };
        for (what, ids) in [
            ("lost", &self.lost),
            ("duplicated", &self.duplicated),
            ("reordered", &self.reordered),
            ("misdelivered", &self.misdelivered),
            ("mismatched", &self.mismatched),
            ("printed but not stored", &self.not_stored),
            (unexpected, &self.unexpected),
            ("stored, never printed (allowed)", &self.unprinted),
        ] {
            if !ids.is_empty() {
                write!(f, "; {what} {}: {}", ids.len(), first(ids))?;
            }
        }
        Ok(())
    }
}

/// The first few ids, and how many more.
fn first(ids: &[String]) -> String {
    let shown = ids[..ids.len().min(SHOW)].join(", ");
    match ids.len().saturating_sub(SHOW) {
        0 => shown,
        more => format!("{shown} … and {more} more"),
    }
}

/// The checker's verdict.
#[derive(Debug)]
pub struct Report {
    pub streams: Vec<StreamReport>,
    /// Ids announced twice or out of their author's sequence.
    pub bad_ids: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.bad_ids.is_empty() && self.streams.iter().all(StreamReport::ok)
    }

    /// The stream of `receiver` from `author` in `conv`.
    pub fn stream(&self, receiver: &str, author: &str, conv: &Conv) -> Option<&StreamReport> {
        self.streams
            .iter()
            .find(|s| s.key.0 == receiver && s.key.1 == author && &s.key.2 == conv)
    }

    /// Panics with the whole report (and `context`: the seed, the kill points) unless ok.
    pub fn assert_ok(&self, context: &str) {
        assert!(self.ok(), "delivery check failed ({context}):\n{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.bad_ids.is_empty() {
            writeln!(
                f,
                "FAIL ids announced twice or out of sequence {}: {}",
                self.bad_ids.len(),
                first(&self.bad_ids)
            )?;
        }
        for s in &self.streams {
            writeln!(f, "{s}")?;
        }
        Ok(())
    }
}
