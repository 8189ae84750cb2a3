//! Replay and duplicate detection by per-sender sequence numbers (`seen.json`).
//!
//! For each sender the guard keeps the sequence numbers of its last [`WINDOW`] messages and
//! a floor: every number at or below the floor counts as seen. A number above the floor
//! that is not in the window is new. When the window overflows, its lowest number becomes
//! the floor. Only the highest number per sender is saved; after a restart it is the floor,
//! so a message recorded before the restart and replayed after it is still a duplicate.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use natter_protocol::Name;
use natter_protocol::peer::MessageId;

/// The file in the data directory.
pub const FILE_NAME: &str = "seen.json";
/// Sequence numbers remembered per sender above its floor.
pub const WINDOW: usize = 1024;
/// Senders remembered; past it the one heard from least recently (lowest highest number,
/// since numbers follow the sender's clock) is forgotten.
pub const MAX_SENDERS: usize = 16 * 1024;

/// What the saved file holds: the highest sequence number per sender.
pub type SeenFile = BTreeMap<Name, u64>;

#[derive(Debug, Default)]
struct Window {
    /// Every number at or below it counts as seen.
    floor: Option<u64>,
    highest: u64,
    recent: BTreeSet<u64>,
}

/// Whether a message id was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    New,
    Duplicate,
}

#[derive(Debug, Default)]
pub struct ReplayGuard {
    senders: HashMap<Name, Window>,
    dirty: bool,
}

impl ReplayGuard {
    /// The guard after a restart: everything up to each saved number counts as seen.
    pub fn from_file(file: SeenFile) -> Self {
        let senders = file
            .into_iter()
            .take(MAX_SENDERS)
            .map(|(name, highest)| {
                let window = Window {
                    floor: Some(highest),
                    highest,
                    recent: BTreeSet::new(),
                };
                (name, window)
            })
            .collect();
        Self {
            senders,
            dirty: false,
        }
    }

    /// Whether `id` was seen before; records it if not.
    pub fn check(&mut self, id: &MessageId) -> Seen {
        if !self.senders.contains_key(&id.sender) && self.senders.len() >= MAX_SENDERS {
            self.forget_oldest();
        }
        let window = self.senders.entry(id.sender.clone()).or_default();
        if window.floor.is_some_and(|floor| id.seq <= floor) || window.recent.contains(&id.seq) {
            return Seen::Duplicate;
        }
        window.recent.insert(id.seq);
        window.highest = window.highest.max(id.seq);
        if window.recent.len() > WINDOW
            && let Some(lowest) = window.recent.pop_first()
        {
            window.floor = Some(window.floor.map_or(lowest, |floor| floor.max(lowest)));
        }
        self.dirty = true;
        Seen::New
    }

    fn forget_oldest(&mut self) {
        let oldest = self
            .senders
            .iter()
            .min_by_key(|(_, w)| w.highest)
            .map(|(name, _)| name.clone());
        if let Some(name) = oldest {
            self.senders.remove(&name);
        }
    }

    /// The file to save, if anything changed since the last call.
    /// Whether something changed since the last [`Self::take_dirty`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub fn take_dirty(&mut self) -> Option<SeenFile> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        Some(
            self.senders
                .iter()
                .map(|(name, w)| (name.clone(), w.highest))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(sender: &str, seq: u64) -> MessageId {
        MessageId {
            sender: sender.parse().expect("name"),
            seq,
        }
    }

    #[test]
    fn duplicates_and_out_of_order_within_the_window() {
        let mut guard = ReplayGuard::default();
        assert_eq!(guard.check(&id("bob", 10)), Seen::New);
        assert_eq!(guard.check(&id("bob", 10)), Seen::Duplicate);
        assert_eq!(guard.check(&id("bob", 5)), Seen::New, "late but unseen");
        assert_eq!(guard.check(&id("bob", 5)), Seen::Duplicate);
        assert_eq!(guard.check(&id("carol", 10)), Seen::New, "per sender");
        assert_eq!(guard.check(&id("bob", 0)), Seen::New);
        assert_eq!(guard.check(&id("bob", 0)), Seen::Duplicate);
    }

    #[test]
    fn the_window_is_bounded_and_older_numbers_count_as_seen() {
        let mut guard = ReplayGuard::default();
        for seq in 1..=(WINDOW as u64 + 10) {
            assert_eq!(guard.check(&id("bob", seq * 2)), Seen::New);
        }
        let w = guard
            .senders
            .get(&"bob".parse::<Name>().expect("name"))
            .expect("bob");
        assert_eq!(w.recent.len(), WINDOW);
        assert_eq!(w.floor, Some(20));
        // Never seen, but below the floor: a replay as far as we can tell.
        assert_eq!(guard.check(&id("bob", 3)), Seen::Duplicate);
        assert_eq!(guard.check(&id("bob", 21)), Seen::New);
    }

    #[test]
    fn a_replay_after_a_restart_is_still_a_duplicate() {
        let mut guard = ReplayGuard::default();
        assert_eq!(guard.check(&id("bob", 100)), Seen::New);
        assert_eq!(guard.check(&id("bob", 200)), Seen::New);
        let file = guard.take_dirty().expect("dirty");
        assert!(guard.take_dirty().is_none());
        let json = serde_json::to_string(&file).expect("json");
        let mut again = ReplayGuard::from_file(serde_json::from_str(&json).expect("parse"));
        assert_eq!(again.check(&id("bob", 100)), Seen::Duplicate);
        assert_eq!(again.check(&id("bob", 200)), Seen::Duplicate);
        assert_eq!(again.check(&id("bob", 201)), Seen::New);
    }

    #[test]
    fn senders_are_bounded() {
        let mut guard = ReplayGuard::default();
        for n in 0..(MAX_SENDERS + 5) {
            guard.check(&id(&format!("p{n}"), n as u64 + 1));
        }
        assert_eq!(guard.senders.len(), MAX_SENDERS);
        // The least recent ones went first.
        assert!(
            !guard
                .senders
                .contains_key(&"p0".parse::<Name>().expect("name"))
        );
    }
}
