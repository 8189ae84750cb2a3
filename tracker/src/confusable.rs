//! Look-alike names: the tracker refuses a new name (or group) that a reader could take for
//! one already there, so `B0b` cannot pass for `bob` nor `#rυst` for `#rust`.
//!
//! # The rule
//!
//! Names may hold any Unicode letter or digit (`émile`, `李雷`), so a hand-made ASCII table
//! would miss most look-alikes (Cyrillic `а`, Greek `ο`, fullwidth and mathematical
//! letters). We use the skeleton of Unicode Technical Standard #39 (confusables.txt: `0` →
//! `O`, `1`/`I`/`|` → `l`, `m` → `rn`, Cyrillic `а` → `a`, …) from the `unicode-security`
//! crate, the unicode-rs one rustc's own confusable-identifier lint is built on. Its
//! skeleton is NFD-based too, so two encodings of one visible name (precomposed Hangul and
//! its jamo) also match. On top of it:
//!
//! - The skeleton is case-folded afterwards (`b0b` → `bOb` → `bob`), because names compare
//!   case-insensitively: `bOb` *is* `bob`.
//! - A name is taken both as spelled and case-folded first, and two names are confusable
//!   when any of those keys meet: `aIice` (capital i) looks like `alice`, which a fold
//!   first would hide (`aiice`), and `ALICE` is also `alice`, which only a fold first shows.
//! - Two ASCII look-alikes confusables.txt leaves out are added, as it does `m` → `rn`:
//!   `5` → `s` and `w` → `vv`.
//! - `-`, `_` and `.` (and whatever the skeleton maps to them) are dropped: `bob_`, `b.ob`
//!   and `bob.` are the classic ways to pass for `bob` in a member list. A name made of
//!   nothing else keeps them.
//!
//! The check applies to new bindings only: a name already bound is never refused to its
//! own key, and names bound before this rule (even look-alikes of each other) stay bound.

use std::collections::HashMap;

use natter_protocol::names::{GroupName, Name, fold};

/// The separators a look-alike may add or move without a reader noticing.
const SEPARATORS: [char; 3] = ['-', '_', '.'];

/// The skeleton of one spelling: UTS #39 skeleton, case-folded, the ASCII look-alikes
/// confusables.txt leaves out mapped, separators dropped.
fn skeleton(s: &str) -> String {
    let folded = fold(&unicode_security::skeleton(s).collect::<String>());
    let mut bare = String::with_capacity(folded.len());
    for c in folded.chars() {
        match c {
            c if SEPARATORS.contains(&c) => {}
            '5' => bare.push('s'),
            'w' => bare.push_str("vv"),
            c => bare.push(c),
        }
    }
    if bare.is_empty() { folded } else { bare }
}

/// The keys a name is known by: the skeleton of its spelling and of its case fold (often
/// one and the same).
pub fn keys(name: &str) -> Vec<String> {
    let mut keys = vec![skeleton(name)];
    let folded = skeleton(&fold(name));
    if folded != keys[0] {
        keys.push(folded);
    }
    keys
}

/// Whether a reader could take one name for the other (equal names included).
pub fn confusable(a: &str, b: &str) -> bool {
    let b = keys(b);
    keys(a).iter().any(|key| b.contains(key))
}

/// Names indexed by their keys, so that a new one is checked against all of them in a
/// hash look-up or two, not a scan of the whole table.
///
/// An entry is never removed one by one: a caller whose entries can go away (a group whose
/// last member left) filters the answers of [`Lookalikes::find`] and calls
/// [`Lookalikes::compact`] now and then.
#[derive(Debug)]
pub struct Lookalikes<T> {
    by_key: HashMap<String, Vec<T>>,
    entries: usize,
}

impl<T> Default for Lookalikes<T> {
    fn default() -> Self {
        Self {
            by_key: HashMap::new(),
            entries: 0,
        }
    }
}

impl<T: AsRef<str> + Clone + Eq> Lookalikes<T> {
    /// An index of `items`.
    pub fn of<'a>(items: impl IntoIterator<Item = &'a T>) -> Self
    where
        T: 'a,
    {
        let mut index = Self::default();
        for item in items {
            index.insert(item);
        }
        index
    }

    /// Adds `item` (once: an equal item already there is not added again).
    pub fn insert(&mut self, item: &T) {
        for key in keys(item.as_ref()) {
            let slot = self.by_key.entry(key).or_default();
            if !slot.contains(item) {
                // Nearly every key has one name: room for exactly that, not the four a
                // first push makes (a tracker indexes every bound name).
                slot.reserve_exact(1);
                slot.push(item.clone());
                self.entries += 1;
            }
        }
    }

    /// An entry `item` could be taken for, other than `item` itself (in any case), for
    /// which `counts` holds (the entry still exists, belongs to someone else...).
    pub fn find(&self, item: &T, counts: impl Fn(&T) -> bool) -> Option<&T> {
        keys(item.as_ref())
            .iter()
            .filter_map(|key| self.by_key.get(key))
            .flatten()
            .find(|other| *other != item && counts(other))
    }

    /// Drops the entries `live` refuses once they outnumber `live_count` (the entries
    /// that should be there) by far, so forgotten ones cost memory only for a while.
    pub fn compact(&mut self, live_count: usize, live: impl Fn(&T) -> bool) {
        if self.entries <= 2 * live_count + 1024 {
            return;
        }
        self.by_key.retain(|_, slot| {
            slot.retain(&live);
            !slot.is_empty()
        });
        self.entries = self.by_key.values().map(Vec::len).sum();
    }
}

/// The refusal for a new name that looks like `owned`, a name bound to another key. It
/// says "belongs to another key" as the plain `name_owned` refusal does.
pub fn name_refusal(name: &Name, owned: &Name) -> String {
    format!(
        "name '{name}' is too much like '{owned}', which belongs to another key; pick a name that does not look like it"
    )
}

/// The refusal for a new group that looks like `existing`.
pub fn group_refusal(group: &GroupName, existing: &GroupName) -> String {
    format!("cannot create {group}: it looks too much like {existing}, which already exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_collide() {
        for (a, b) in [
            ("bob", "b0b"),
            ("bob", "B0B"),
            ("bob", "Bob"),
            ("alice", "aIice"),
            ("alice", "a1ice"),
            ("ALICE", "aIice"),
            ("rn", "m"),
            ("russ", "ru55"),
            ("vvalter", "Walter"),
            ("modern", "rnodern"),
            ("bob", "bob_"),
            ("bob", "b.o-b"),
            // Cyrillic о and а, Greek ο.
            ("bob", "b\u{43e}b"),
            ("alice", "\u{430}lice"),
            ("rust", "r\u{3c5}st"),
            // Fullwidth letters.
            ("bob", "\u{ff42}\u{ff4f}\u{ff42}"),
            // Precomposed Hangul and the same syllable as jamo.
            ("\u{d55c}", "\u{1112}\u{1161}\u{11ab}"),
        ] {
            assert!(confusable(a, b), "{a} / {b}");
            assert!(confusable(b, a), "{b} / {a}");
        }
    }

    #[test]
    fn different_names_do_not() {
        for (a, b) in [
            ("bob", "bobby"),
            ("bob", "rob"),
            ("alice", "alicia"),
            ("alice", "alic"),
            ("émile", "emilie"),
            ("李雷", "韩梅梅"),
            ("bob2", "bob3"),
        ] {
            assert!(!confusable(a, b), "{a} / {b}");
        }
    }

    #[test]
    fn separators_alone_still_have_a_skeleton() {
        assert!(confusable("...", "..."));
        assert!(!confusable("...", "a"));
    }

    fn name(s: &str) -> Name {
        s.parse().expect("a valid name")
    }

    #[test]
    fn the_index_finds_look_alikes_but_not_the_name_itself() {
        let bound = [name("bob"), name("alice")];
        let index = Lookalikes::of(&bound);
        assert_eq!(index.find(&name("B0b"), |_| true), Some(&bound[0]));
        assert_eq!(index.find(&name("aIice"), |_| true), Some(&bound[1]));
        assert_eq!(index.find(&name("bob"), |_| true), None);
        assert_eq!(index.find(&name("BOB"), |_| true), None);
        assert_eq!(index.find(&name("bobby"), |_| true), None);
        // An entry the caller does not count (its own key's, or gone) is no clash.
        assert_eq!(index.find(&name("B0b"), |n| *n != bound[0]), None);
    }

    #[test]
    fn compacting_drops_only_what_is_gone() {
        let mut index = Lookalikes::default();
        let names: Vec<Name> = (0..2000).map(|i| name(&format!("n{i}"))).collect();
        for n in &names {
            index.insert(n);
        }
        let live = |n: &Name| n.as_str() == "n7";
        index.compact(1, live);
        assert_eq!(index.entries, 1);
        assert_eq!(index.find(&name("N7"), |_| true), None);
        assert_eq!(index.find(&name("n_7"), |_| true), Some(&names[7]));
        assert_eq!(index.find(&name("n8"), |_| true), None);
    }
}
