//! One group's members, in the order the tracker listed them (a joiner at the end), with
//! an index by name beside them.
//!
//! Every member-list change names its member, and a group of M sees O(M) changes when it
//! fills up: finding the member by scanning made that O(M²) for each copy of the list
//! (the node's cache and each front end's). With the index a change finds its member in
//! O(1); only a member leaving (the list closes up) and a new owner (the old one steps
//! down) still walk the list. The order is never changed by the index.

use std::collections::HashMap;
use std::ops::Deref;

use natter_protocol::Name;
use natter_protocol::tracker::Member;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A member list: reads like a slice of [`Member`]; changes go through its methods so the
/// index stays right.
#[derive(Debug, Clone, Default)]
pub struct MemberList {
    members: Vec<Member>,
    /// Where each (case-folded) name is in `members`. `None` when a name appears twice
    /// (no tracker sends such a list): then every look-up scans, as without an index, so
    /// a list behaves the same either way.
    index: Option<HashMap<Name, usize>>,
}

impl MemberList {
    pub fn new() -> Self {
        Self::default()
    }

    /// The members, in order.
    pub fn as_slice(&self) -> &[Member] {
        &self.members
    }

    pub fn into_vec(self) -> Vec<Member> {
        self.members
    }

    /// Where the first member named `name` is.
    pub fn position(&self, name: &Name) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(name).copied(),
            None => self.members.iter().position(|m| &m.name == name),
        }
    }

    /// The first member named `name`.
    pub fn named(&self, name: &Name) -> Option<&Member> {
        self.position(name).map(|i| &self.members[i])
    }

    /// Puts `member` in place of the first one with its name, or at the end.
    pub fn upsert(&mut self, member: Member) {
        match self.position(&member.name) {
            Some(i) => self.members[i] = member,
            None => {
                if let Some(index) = &mut self.index {
                    index.insert(member.name.clone(), self.members.len());
                }
                self.members.push(member);
            }
        }
    }

    /// Removes every member named `name`.
    pub fn remove(&mut self, name: &Name) {
        let Some(index) = &mut self.index else {
            self.members.retain(|m| &m.name != name);
            return;
        };
        let Some(at) = index.remove(name) else {
            return;
        };
        self.members.remove(at);
        for i in index.values_mut().filter(|i| **i > at) {
            *i -= 1;
        }
    }

    /// Applies `f` to every member named `name`.
    pub fn edit_named(&mut self, name: &Name, mut f: impl FnMut(&mut Member)) {
        if self.index.is_some() {
            if let Some(i) = self.position(name) {
                self.edit_at(i, f);
            }
            return;
        }
        // A list with a repeated name: every one of them, as before the index.
        for m in self.members.iter_mut().filter(|m| &m.name == name) {
            f(m);
        }
        self.reindex_if_renamed();
    }

    /// Applies `f` to every member `which` picks (a walk over the whole list).
    pub fn edit_where(&mut self, which: impl Fn(&Member) -> bool, mut f: impl FnMut(&mut Member)) {
        for i in 0..self.members.len() {
            if which(&self.members[i]) {
                f(&mut self.members[i]);
            }
        }
        self.reindex_if_renamed();
    }

    fn edit_at(&mut self, i: usize, f: impl FnOnce(&mut Member)) {
        f(&mut self.members[i]);
        // An edit is not meant to rename, but if it did the index must follow.
        if self.position(&self.members[i].name) != Some(i) {
            self.reindex();
        }
    }

    /// Rebuilds the index when an edit renamed a member (nothing for plain edits: each
    /// member's name still finds its place).
    fn reindex_if_renamed(&mut self) {
        let stale = match &self.index {
            Some(index) => {
                index.len() != self.members.len()
                    || self
                        .members
                        .iter()
                        .enumerate()
                        .any(|(i, m)| index.get(&m.name) != Some(&i))
            }
            None => true,
        };
        if stale {
            self.reindex();
        }
    }

    fn reindex(&mut self) {
        self.index = index_of(&self.members);
    }
}

/// The index of `members`, or `None` if a name repeats.
fn index_of(members: &[Member]) -> Option<HashMap<Name, usize>> {
    let mut index = HashMap::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        if index.insert(m.name.clone(), i).is_some() {
            return None;
        }
    }
    Some(index)
}

impl From<Vec<Member>> for MemberList {
    fn from(members: Vec<Member>) -> Self {
        let index = index_of(&members);
        Self { members, index }
    }
}

impl From<MemberList> for Vec<Member> {
    fn from(list: MemberList) -> Self {
        list.members
    }
}

impl FromIterator<Member> for MemberList {
    fn from_iter<I: IntoIterator<Item = Member>>(iter: I) -> Self {
        Vec::from_iter(iter).into()
    }
}

impl Deref for MemberList {
    type Target = [Member];

    fn deref(&self) -> &[Member] {
        &self.members
    }
}

impl<'a> IntoIterator for &'a MemberList {
    type Item = &'a Member;
    type IntoIter = std::slice::Iter<'a, Member>;

    fn into_iter(self) -> Self::IntoIter {
        self.members.iter()
    }
}

/// Two lists are equal when they hold the same members in the same order.
impl PartialEq for MemberList {
    fn eq(&self, other: &Self) -> bool {
        self.members == other.members
    }
}

impl Eq for MemberList {}

impl PartialEq<Vec<Member>> for MemberList {
    fn eq(&self, other: &Vec<Member>) -> bool {
        &self.members == other
    }
}

/// On disk and on the wire: a plain array of members.
impl Serialize for MemberList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.members.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MemberList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Member>::deserialize(deserializer).map(Self::from)
    }
}
