//! [`RangeSet`]: the sequence numbers held of one author, as merged inclusive ranges.
//!
//! Authors number their messages 1, 2, 3, … without gaps, so what a peer holds of an
//! author is nearly always one range or a few: history sync sends and compares these
//! ranges, never the numbers one by one.

use std::collections::BTreeMap;

/// A set of `u64`s kept as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// start → end (inclusive). Invariant: ranges neither overlap nor touch.
    ranges: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// The set of every number in `ranges` (inclusive `(first, last)` pairs, in any order;
    /// a pair with `first > last` is empty and dropped, overlapping or adjacent ones merge).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut pairs: Vec<(u64, u64)> = ranges
            .into_iter()
            .filter(|(first, last)| first <= last)
            .collect();
        pairs.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(pairs.len());
        for (first, last) in pairs {
            match merged.last_mut() {
                // Overlapping or adjacent (saturating: a range ending at u64::MAX swallows
                // everything after it).
                Some((_, end)) if first <= end.saturating_add(1) => *end = (*end).max(last),
                _ => merged.push((first, last)),
            }
        }
        Self {
            ranges: merged.into_iter().collect(),
        }
    }

    /// Takes `seq` out (splitting the range that held it); true when it was in the set.
    pub fn remove(&mut self, seq: u64) -> bool {
        let Some((&start, &end)) = self.ranges.range(..=seq).next_back() else {
            return false;
        };
        if end < seq {
            return false;
        }
        self.ranges.remove(&start);
        if start < seq {
            self.ranges.insert(start, seq - 1);
        }
        if seq < end {
            self.ranges.insert(seq + 1, end);
        }
        true
    }

    /// Adds `seq`; true when it was not in the set yet.
    pub fn insert(&mut self, seq: u64) -> bool {
        let before = self.ranges.range(..=seq).next_back().map(|(&s, &e)| (s, e));
        if let Some((_, end)) = before
            && end >= seq
        {
            return false;
        }
        // Touches the range before (ending at seq - 1) and/or the one after (starting at
        // seq + 1): merge them into one.
        let start = match before {
            Some((start, end)) if end.checked_add(1) == Some(seq) => start,
            _ => seq,
        };
        let end = match seq
            .checked_add(1)
            .and_then(|next| self.ranges.remove(&next))
        {
            Some(end) => end,
            None => seq,
        };
        self.ranges.insert(start, end);
        true
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.ranges
            .range(..=seq)
            .next_back()
            .is_some_and(|(_, &end)| end >= seq)
    }

    /// The ranges, ascending.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.ranges.iter().map(|(&s, &e)| (s, e)).collect()
    }

    /// The highest number held.
    pub fn max(&self) -> Option<u64> {
        self.ranges.last_key_value().map(|(_, &end)| end)
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many ranges (not numbers) the set is made of.
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// The model's numbers as merged ranges, ascending.
    fn model_ranges(model: &BTreeSet<u64>) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for &n in model {
            match out.last_mut() {
                Some((_, end)) if end.checked_add(1) == Some(n) => *end = n,
                _ => out.push((n, n)),
            }
        }
        out
    }

    /// Small numbers (where merging happens) and a few at the top of the range (overflow).
    fn seq() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..64, (u64::MAX - 4)..=u64::MAX]
    }

    #[test]
    fn inserting_merges_neighbours() {
        let mut set = RangeSet::default();
        assert!(set.is_empty());
        assert!(set.insert(1));
        assert!(set.insert(3));
        assert_eq!(set.ranges(), vec![(1, 1), (3, 3)]);
        assert!(set.insert(2));
        assert!(!set.insert(2));
        assert_eq!(set.ranges(), vec![(1, 3)]);
        assert_eq!(set.max(), Some(3));
        assert!(set.insert(u64::MAX));
        assert!(set.insert(u64::MAX - 1));
        assert_eq!(set.ranges(), vec![(1, 3), (u64::MAX - 1, u64::MAX)]);
        assert_eq!(set.range_count(), 2);
    }

    #[test]
    fn from_ranges_normalises() {
        let set = RangeSet::from_ranges([(5, 9), (1, 2), (3, 3), (8, 12), (20, 10), (14, 14)]);
        assert_eq!(set.ranges(), vec![(1, 3), (5, 12), (14, 14)]);
        let top = RangeSet::from_ranges([(0, u64::MAX), (7, 8)]);
        assert_eq!(top.ranges(), vec![(0, u64::MAX)]);
    }

    proptest! {
        #[test]
        fn insert_agrees_with_a_set(seqs in proptest::collection::vec(seq(), 0..80)) {
            let mut set = RangeSet::default();
            let mut model = BTreeSet::new();
            for s in seqs {
                prop_assert_eq!(set.insert(s), model.insert(s));
                prop_assert!(set.contains(s));
            }
            let ranges = model_ranges(&model);
            prop_assert_eq!(set.range_count(), ranges.len());
            prop_assert_eq!(set.ranges(), ranges);
            prop_assert_eq!(set.max(), model.last().copied());
            prop_assert_eq!(set.is_empty(), model.is_empty());
            for probe in (0u64..70).chain((u64::MAX - 6)..=u64::MAX) {
                prop_assert_eq!(set.contains(probe), model.contains(&probe));
            }
        }

        #[test]
        fn remove_agrees_with_a_set(
            seqs in proptest::collection::vec(seq(), 0..80),
            gone in proptest::collection::vec(seq(), 0..40),
        ) {
            let mut set = RangeSet::default();
            let mut model = BTreeSet::new();
            for s in seqs {
                set.insert(s);
                model.insert(s);
            }
            for s in gone {
                prop_assert_eq!(set.remove(s), model.remove(&s));
                prop_assert!(!set.contains(s));
            }
            prop_assert_eq!(set.ranges(), model_ranges(&model));
        }

        #[test]
        fn from_ranges_agrees_with_a_set(pairs in proptest::collection::vec((seq(), seq()), 0..20)) {
            let mut model = BTreeSet::new();
            for &(first, last) in &pairs {
                // Only expand small ranges in the model; a pair spanning the gap between
                // the two clusters would be 2^64 numbers.
                if first <= last && last - first < 1000 {
                    model.extend(first..=last);
                }
            }
            let small: Vec<_> = pairs
                .into_iter()
                .filter(|&(first, last)| first > last || last - first < 1000)
                .collect();
            let set = RangeSet::from_ranges(small.iter().copied());
            prop_assert_eq!(set.ranges(), model_ranges(&model));
            // Rebuilding from its own ranges changes nothing.
            prop_assert_eq!(RangeSet::from_ranges(set.ranges()), set.clone());
            // And inserting one by one gives the same set.
            let mut inserted = RangeSet::default();
            for &n in &model {
                inserted.insert(n);
            }
            prop_assert_eq!(inserted, set);
        }
    }
}
