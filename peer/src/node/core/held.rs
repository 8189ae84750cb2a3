//! Which messages we hold, by author key and sequence number: what de-duplicates every
//! message before anything else is done with it (a replay, a retry, a second relay), and
//! what history sync summarises per group. Stored messages and those on their way to the
//! store both count.

use std::collections::HashMap;

use natter_protocol::peer::{AuthorRanges, SYNC_MAX_AUTHORS, SYNC_MAX_RANGES};
use natter_protocol::{GroupName, PublicKey};

use crate::node::store::RangeSet;

#[derive(Debug, Default)]
pub struct Held {
    by_author: HashMap<PublicKey, RangeSet>,
    by_group: HashMap<GroupName, HashMap<PublicKey, RangeSet>>,
}

impl Held {
    /// From what the store held at start.
    pub fn from_loaded(held: HashMap<(PublicKey, Option<GroupName>), RangeSet>) -> Self {
        let mut out = Self::default();
        let mut all: HashMap<PublicKey, Vec<(u64, u64)>> = HashMap::new();
        for ((author, group), set) in held {
            all.entry(author).or_default().extend(set.ranges());
            if let Some(group) = group {
                out.by_group.entry(group).or_default().insert(author, set);
            }
        }
        out.by_author = all
            .into_iter()
            .map(|(author, ranges)| (author, RangeSet::from_ranges(ranges)))
            .collect();
        out
    }

    pub fn contains(&self, author: &PublicKey, seq: u64) -> bool {
        self.by_author.get(author).is_some_and(|s| s.contains(seq))
    }

    /// Records a message; false when it was held already.
    pub fn insert(&mut self, author: PublicKey, group: Option<&GroupName>, seq: u64) -> bool {
        if !self.by_author.entry(author).or_default().insert(seq) {
            return false;
        }
        if let Some(group) = group {
            let groups = self.by_group.entry(group.clone()).or_default();
            groups.entry(author).or_default().insert(seq);
        }
        true
    }

    /// Forgets a message whose store write failed (so a retry can bring it again).
    pub fn forget(&mut self, author: &PublicKey, group: Option<&GroupName>, seq: u64) {
        if let Some(set) = self.by_author.get_mut(author) {
            set.remove(seq);
        }
        if let Some(group) = group
            && let Some(set) = self.by_group.get_mut(group).and_then(|g| g.get_mut(author))
        {
            set.remove(seq);
        }
    }

    /// The highest seq we hold of each author in `group`.
    pub fn latest_in(&self, group: &GroupName) -> Vec<(PublicKey, u64)> {
        self.by_group
            .get(group)
            .map(|authors| {
                authors
                    .iter()
                    .filter_map(|(key, set)| set.max().map(|max| (*key, max)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What we hold of `group`, for a sync request (within the frame's limits).
    pub fn summary(&self, group: &GroupName) -> Vec<AuthorRanges> {
        let Some(authors) = self.by_group.get(group) else {
            return Vec::new();
        };
        authors
            .iter()
            .take(SYNC_MAX_AUTHORS)
            .map(|(key, set)| {
                let mut ranges = set.ranges();
                // Too fragmented (an author's numbers also count its messages elsewhere):
                // the oldest ranges become one covering them. What that claims beyond what
                // we hold is mostly the author's other conversations, which no member of
                // this group has anyway; the newest gaps, the likely ones, stay exact.
                if ranges.len() > SYNC_MAX_RANGES {
                    let cut = ranges.len() - SYNC_MAX_RANGES + 1;
                    let first = ranges[0].0;
                    let last = ranges[cut - 1].1;
                    ranges.splice(..cut, [(first, last)]);
                }
                AuthorRanges { key: *key, ranges }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_protocol::testkit::build::{group, identity_for};

    #[test]
    fn holds_by_author_and_group_and_forgets() {
        let alice = identity_for("alice").public_key();
        let g = group("rust");
        let mut held = Held::default();
        assert!(held.insert(alice, Some(&g), 1));
        assert!(held.insert(alice, Some(&g), 2));
        assert!(held.insert(alice, None, 3));
        assert!(!held.insert(alice, Some(&g), 2));
        assert!(held.contains(&alice, 3));
        assert_eq!(held.summary(&g)[0].ranges, vec![(1, 2)]);
        held.forget(&alice, Some(&g), 2);
        assert!(!held.contains(&alice, 2));
        assert_eq!(held.summary(&g)[0].ranges, vec![(1, 1)]);
        // Fragmented: the oldest ranges merge into one, the newest stay exact.
        let bob = identity_for("bob").public_key();
        for seq in (1..=2 * natter_protocol::peer::SYNC_MAX_RANGES as u64).map(|n| n * 2) {
            held.insert(bob, Some(&g), seq);
        }
        let summary = held.summary(&g);
        let bobs = &summary.iter().find(|a| a.key == bob).expect("bob").ranges;
        assert_eq!(bobs.len(), natter_protocol::peer::SYNC_MAX_RANGES);
        assert_eq!(bobs[0].0, 2);
        let newest = 4 * natter_protocol::peer::SYNC_MAX_RANGES as u64;
        assert_eq!(bobs.last(), Some(&(newest, newest)));
    }
}
