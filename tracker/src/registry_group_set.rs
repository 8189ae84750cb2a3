//! The groups one name is a member of, for the registry's name → groups index: a sorted
//! vector, not a `BTreeSet`. Most peers are in a group or a few, and a B-tree's first node
//! holds room for eleven (about 280 bytes for one group name), which every bound name
//! would pay.

use natter_protocol::GroupName;

/// Up to this many groups, the vector grows by one at a time (no spare room); past it, as
/// vectors do (amortised), so that a name in thousands of groups is not copied per join.
const EXACT_UP_TO: usize = 8;

/// Distinct group names in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct GroupSet(Vec<GroupName>);

impl GroupSet {
    /// Adds `group`; false if it was there already.
    pub(super) fn insert(&mut self, group: GroupName) -> bool {
        match self.0.binary_search(&group) {
            Ok(_) => false,
            Err(at) => {
                if self.0.len() < EXACT_UP_TO {
                    self.0.reserve_exact(1);
                }
                self.0.insert(at, group);
                true
            }
        }
    }

    /// Takes `group` out; false if it was not there.
    pub(super) fn remove(&mut self, group: &GroupName) -> bool {
        match self.0.binary_search(group) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    pub(super) fn first(&self) -> Option<&GroupName> {
        self.0.first()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In group order.
    pub(super) fn iter(&self) -> std::slice::Iter<'_, GroupName> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn group(name: &str) -> GroupName {
        name.parse().expect("group name")
    }

    #[test]
    fn keeps_distinct_groups_in_order_as_a_btree_set_would() {
        let mut set = GroupSet::default();
        let mut model = BTreeSet::new();
        let names = [
            "m", "c", "x", "a", "c", "q", "m", "b", "z", "e", "d", "a", "k",
        ];
        for (i, name) in names.iter().enumerate() {
            let g = group(name);
            if i % 4 == 3 {
                assert_eq!(set.remove(&g), model.remove(&g), "remove {name}");
            } else {
                assert_eq!(set.insert(g.clone()), model.insert(g), "insert {name}");
            }
            assert!(set.iter().eq(model.iter()), "after {name}");
            assert_eq!(set.first(), model.first());
            assert_eq!(set.is_empty(), model.is_empty());
        }
        for name in names {
            set.remove(&group(name));
        }
        assert!(set.is_empty());
        assert_eq!(set.first(), None);
    }

    #[test]
    fn one_group_costs_one_slot() {
        let mut set = GroupSet::default();
        set.insert(group("g"));
        assert_eq!(set.0.capacity(), 1);
        for i in 0..100 {
            set.insert(group(&format!("g{i:03}")));
        }
        assert_eq!(set.iter().count(), 101);
        assert!(set.iter().is_sorted());
    }
}
