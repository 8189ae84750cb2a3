//! Message ids: how a sender numbers its messages (receivers de-duplicate them in
//! `replay`).
//!
//! A sender numbers its messages without a file: the first sequence number is the clock in
//! microseconds since the Unix epoch, and each next one is `max(clock, last + 1)`. After a
//! restart the clock has moved on past every number used before, so ids stay unique as long
//! as the peer sent less than one message per microsecond on average and the clock was not
//! set back across the restart.

use natter_protocol::Name;
use natter_protocol::peer::MessageId;

/// Hands out this peer's message ids.
#[derive(Debug, Clone)]
pub struct IdGen {
    sender: Name,
    last: u64,
}

impl IdGen {
    pub fn new(sender: Name) -> Self {
        Self { sender, last: 0 }
    }

    /// The next id, given the clock in microseconds.
    pub fn next_at(&mut self, now_micros: u64) -> MessageId {
        self.last = now_micros.max(self.last.saturating_add(1));
        MessageId {
            sender: self.sender.clone(),
            seq: self.last,
        }
    }
}

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_clock_and_never_repeat() {
        let mut ids = IdGen::new("alice".parse().expect("name"));
        assert_eq!(ids.next_at(100).seq, 100);
        assert_eq!(ids.next_at(100).seq, 101);
        assert_eq!(ids.next_at(50).seq, 102);
        assert_eq!(ids.next_at(500).seq, 500);
        let id = ids.next_at(u64::MAX);
        assert_eq!(id.seq, u64::MAX);
        assert_eq!(id.sender.as_str(), "alice");
        // A restart: a new generator later on the clock is past every earlier id.
        let mut again = IdGen::new("alice".parse().expect("name"));
        let a = again.next_at(unix_micros()).seq;
        let b = again.next_at(unix_micros()).seq;
        assert!(b > a && a > 1_600_000_000_000_000);
    }
}
