//! The member-list cache: every group this peer is in, with its version and members.
//!
//! Pure state: it applies the tracker's pushes (a full list, or one change at a given
//! version) and answers look-ups. A change whose version is not the next one is a gap; the
//! caller then asks the tracker for a snapshot instead of guessing.

use std::collections::BTreeMap;

use natter_protocol::govern::Role;
use natter_protocol::tracker::{Member, MemberChange};
use std::net::SocketAddr;

use natter_protocol::{GroupName, Name, PublicKey};
use serde::{Deserialize, Serialize};

pub use super::member_list::MemberList;

/// One group's member list as last pushed by the tracker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupList {
    pub version: u64,
    pub members: MemberList,
    /// The group's topic, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Invite-only.
    #[serde(default)]
    pub private: bool,
}

impl GroupList {
    /// An open group's list without a topic.
    pub fn new(version: u64, members: Vec<Member>) -> Self {
        Self {
            version,
            members: members.into(),
            ..Self::default()
        }
    }

    /// The owner's name (the member whose role is owner), if the list has one.
    pub fn owner(&self) -> Option<&Name> {
        self.members
            .iter()
            .find(|m| m.role == Role::Owner)
            .map(|m| &m.name)
    }
}

/// What applying one change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// The change was the next version and is now in the list.
    Applied,
    /// An old or repeated change: ignored.
    Stale,
    /// A version was skipped (or the group is unknown): ask for a snapshot.
    Gap,
}

/// Applies one change to a member list (the cache's, or a front end's copy). A member is
/// found through the list's index, not by a scan (see [`MemberList`]).
pub fn apply_change(members: &mut MemberList, change: &MemberChange) {
    match change {
        MemberChange::Joined { member }
        | MemberChange::Online { member }
        | MemberChange::Updated { member }
        | MemberChange::Added { member, .. } => members.upsert(member.clone()),
        MemberChange::Left { name } | MemberChange::Kicked { name, .. } => members.remove(name),
        MemberChange::Role { name, role, .. } => {
            if *role == Role::Owner {
                // One owner: the one before becomes an admin.
                members.edit_where(|m| m.role == Role::Owner, |m| m.role = Role::Admin);
            }
            members.edit_named(name, |m| m.role = *role);
        }
        MemberChange::Topic { .. } | MemberChange::Private { .. } => {}
        MemberChange::Offline { name, last_seen } => members.edit_named(name, |m| {
            m.online = false;
            m.last_seen = *last_seen;
        }),
    }
}

/// Every cached group, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberCache {
    groups: BTreeMap<GroupName, GroupList>,
}

impl MemberCache {
    pub fn from_groups(groups: BTreeMap<GroupName, GroupList>) -> Self {
        Self { groups }
    }

    pub fn groups(&self) -> &BTreeMap<GroupName, GroupList> {
        &self.groups
    }

    /// The groups this peer is in (every cached group), sorted.
    pub fn group_names(&self) -> Vec<GroupName> {
        self.groups.keys().cloned().collect()
    }

    pub fn get(&self, group: &GroupName) -> Option<&GroupList> {
        self.groups.get(group)
    }

    pub fn contains(&self, group: &GroupName) -> bool {
        self.groups.contains_key(group)
    }

    /// Replaces a group's list with a full one (a join, a re-join or a snapshot). A full
    /// list is authoritative even at a lower version: a tracker that lost its state starts
    /// counting again. Returns whether anything changed.
    pub fn set_full(&mut self, group: GroupName, list: GroupList) -> bool {
        if self.groups.get(&group) == Some(&list) {
            return false;
        }
        self.groups.insert(group, list);
        true
    }

    /// Applies one change pushed at `version`.
    pub fn apply(&mut self, group: &GroupName, version: u64, change: &MemberChange) -> Update {
        let Some(list) = self.groups.get_mut(group) else {
            return Update::Gap;
        };
        if version <= list.version {
            return Update::Stale;
        }
        if version != list.version.saturating_add(1) {
            return Update::Gap;
        }
        list.version = version;
        apply_change(&mut list.members, change);
        match change {
            MemberChange::Topic { topic, .. } => list.topic.clone_from(topic),
            MemberChange::Private { on, .. } => list.private = *on,
            _ => {}
        }
        Update::Applied
    }

    /// Forgets a group (after leaving it). Returns whether it was there.
    pub fn remove(&mut self, group: &GroupName) -> bool {
        self.groups.remove(group).is_some()
    }

    /// Finds a peer by name in any cached group, preferring an entry that is online.
    /// The member of `group` with `key`, if we are in it and it is.
    pub fn member_with_key(&self, group: &GroupName, key: &PublicKey) -> Option<&Member> {
        self.get(group)?.members.iter().find(|m| m.key == *key)
    }

    /// The member of `group` named `name`, if we are in it and it is.
    pub fn member_named(&self, group: &GroupName, name: &Name) -> Option<&Member> {
        self.get(group)?.members.named(name)
    }

    /// The peer with `key` told us itself that it listens at `addr` (its hello, over a
    /// session that proves its key): every list holding it takes the address, online.
    pub fn seen_at(&mut self, key: &PublicKey, addr: SocketAddr) {
        for list in self.groups.values_mut() {
            list.members.edit_where(
                |m| m.key == *key,
                |m| {
                    m.addr = addr;
                    m.online = true;
                    m.last_seen = None;
                },
            );
        }
    }

    /// The groups whose list holds a member named `name`, sorted.
    pub fn groups_with(&self, name: &Name) -> Vec<GroupName> {
        self.groups
            .iter()
            .filter(|(_, list)| list.members.position(name).is_some())
            .map(|(group, _)| group.clone())
            .collect()
    }

    pub fn find_peer(&self, name: &Name) -> Option<&Member> {
        let mut found = None;
        for m in self.groups.values().flat_map(|g| &g.members) {
            if &m.name == name {
                if m.online {
                    return Some(m);
                }
                found.get_or_insert(m);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, port: u16, online: bool) -> Member {
        Member {
            name: name.parse().expect("name"),
            addr: ([127, 0, 0, 1], port).into(),
            online,
            key: natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key(),
            last_seen: None,
            status: None,
            role: Default::default(),
        }
    }

    fn g(s: &str) -> GroupName {
        s.parse().expect("group")
    }

    #[test]
    fn applies_changes_in_order_and_spots_gaps() {
        let mut cache = MemberCache::default();
        assert!(cache.set_full(g("a"), GroupList::new(3, vec![member("x", 1, true)])));
        assert!(!cache.set_full(g("a"), GroupList::new(3, vec![member("x", 1, true)])));
        let joined = MemberChange::Joined {
            member: member("y", 2, true),
        };
        assert_eq!(cache.apply(&g("a"), 4, &joined), Update::Applied);
        assert_eq!(cache.apply(&g("a"), 4, &joined), Update::Stale);
        let off = MemberChange::Offline {
            name: "x".parse().expect("name"),
            last_seen: Some(77),
        };
        assert_eq!(cache.apply(&g("a"), 6, &off), Update::Gap);
        assert_eq!(cache.apply(&g("nope"), 1, &off), Update::Gap);
        assert_eq!(cache.apply(&g("a"), 5, &off), Update::Applied);
        let list = cache.get(&g("a")).expect("group");
        assert_eq!(list.version, 5);
        let x_gone = Member {
            last_seen: Some(77),
            ..member("x", 1, false)
        };
        assert_eq!(list.members, vec![x_gone, member("y", 2, true)]);
        let online = MemberChange::Online {
            member: member("x", 9, true),
        };
        assert_eq!(cache.apply(&g("a"), 6, &online), Update::Applied);
        let left = MemberChange::Left {
            name: "y".parse().expect("name"),
        };
        assert_eq!(cache.apply(&g("a"), 7, &left), Update::Applied);
        assert_eq!(
            cache.get(&g("a")).expect("group").members,
            vec![member("x", 9, true)]
        );
        assert!(cache.remove(&g("a")));
        assert!(!cache.contains(&g("a")));
    }

    #[test]
    fn an_update_replaces_the_member_and_a_hello_clears_last_seen() {
        let mut cache = MemberCache::default();
        cache.set_full(g("a"), GroupList::new(1, vec![member("x", 1, true)]));
        cache.set_full(
            g("b"),
            GroupList::new(1, vec![member("x", 1, true), member("y", 2, true)]),
        );
        let away = Member {
            status: Some("away".into()),
            ..member("x", 1, true)
        };
        let updated = MemberChange::Updated {
            member: away.clone(),
        };
        assert_eq!(cache.apply(&g("a"), 2, &updated), Update::Applied);
        assert_eq!(cache.get(&g("a")).expect("a").members, vec![away]);
        let x: Name = "x".parse().expect("name");
        assert_eq!(cache.groups_with(&x), vec![g("a"), g("b")]);
        assert_eq!(cache.groups_with(&"z".parse().expect("name")), Vec::new());

        let off = MemberChange::Offline {
            name: x.clone(),
            last_seen: Some(5),
        };
        assert_eq!(cache.apply(&g("b"), 2, &off), Update::Applied);
        assert_eq!(
            cache.member_named(&g("b"), &x).expect("x").last_seen,
            Some(5)
        );
        let key = cache.member_named(&g("b"), &x).expect("x").key;
        cache.seen_at(&key, ([127, 0, 0, 1], 9).into());
        let back = cache.member_named(&g("b"), &x).expect("x");
        assert!(back.online);
        assert_eq!(back.last_seen, None);
    }

    #[test]
    fn finds_peers_preferring_online() {
        let mut cache = MemberCache::default();
        cache.set_full(g("a"), GroupList::new(1, vec![member("bob", 1, false)]));
        cache.set_full(g("b"), GroupList::new(1, vec![member("bob", 2, true)]));
        let bob: Name = "bob".parse().expect("name");
        assert_eq!(cache.find_peer(&bob), Some(&member("bob", 2, true)));
        cache.remove(&g("b"));
        assert_eq!(cache.find_peer(&bob), Some(&member("bob", 1, false)));
        assert_eq!(cache.find_peer(&"carol".parse().expect("name")), None);
        assert_eq!(cache.group_names(), vec![g("a")]);
    }
}
