//! The indexed member list against the plain scan it replaced: any sequence of changes,
//! from any starting list (repeated names included), leaves the same members in the same
//! order, and every name finds its first member.

use natter_protocol::govern::Role;
use natter_protocol::tracker::{Member, MemberChange};
use natter_protocol::{Identity, Name};
use proptest::prelude::*;

use super::member_list::MemberList;
use super::members::apply_change;

/// `apply_change` as it was before the index: every look-up a scan of the list.
fn apply_by_scan(members: &mut Vec<Member>, change: &MemberChange) {
    match change {
        MemberChange::Joined { member }
        | MemberChange::Online { member }
        | MemberChange::Updated { member }
        | MemberChange::Added { member, .. } => {
            match members.iter_mut().find(|m| m.name == member.name) {
                Some(m) => *m = member.clone(),
                None => members.push(member.clone()),
            }
        }
        MemberChange::Left { name } | MemberChange::Kicked { name, .. } => {
            members.retain(|m| &m.name != name);
        }
        MemberChange::Role { name, role, .. } => {
            if *role == Role::Owner {
                for m in members.iter_mut().filter(|m| m.role == Role::Owner) {
                    m.role = Role::Admin;
                }
            }
            for m in members.iter_mut().filter(|m| &m.name == name) {
                m.role = *role;
            }
        }
        MemberChange::Topic { .. } | MemberChange::Private { .. } => {}
        MemberChange::Offline { name, last_seen } => {
            for m in members.iter_mut().filter(|m| &m.name == name) {
                m.online = false;
                m.last_seen = *last_seen;
            }
        }
    }
}

/// Few names, in two cases, so changes keep meeting members already listed.
const NAMES: [&str; 8] = ["ann", "Ann", "bob", "BOB", "cy", "dee", "eve", "fay"];

fn name(i: usize) -> Name {
    NAMES[i % NAMES.len()].parse().expect("name")
}

fn member(i: usize, port: u16, online: bool) -> Member {
    Member {
        name: name(i),
        addr: ([127, 0, 0, 1], port).into(),
        online,
        key: Identity::from_secrets(&[1; 32], &[2; 32]).public_key(),
        last_seen: None,
        status: None,
        role: Role::Member,
    }
}

fn role(i: u8) -> Role {
    match i % 3 {
        0 => Role::Owner,
        1 => Role::Admin,
        _ => Role::Member,
    }
}

fn change() -> impl Strategy<Value = MemberChange> {
    (0u8..6, 0usize..NAMES.len(), any::<u16>(), any::<bool>()).prop_map(|(kind, n, port, on)| {
        match kind {
            0 => MemberChange::Joined {
                member: member(n, port, on),
            },
            1 => MemberChange::Online {
                member: member(n, port, true),
            },
            2 => MemberChange::Updated {
                member: Member {
                    status: Some(format!("s{port}")),
                    ..member(n, port, on)
                },
            },
            3 => MemberChange::Left { name: name(n) },
            4 => MemberChange::Offline {
                name: name(n),
                last_seen: on.then_some(u64::from(port)),
            },
            _ => MemberChange::Role {
                name: name(n),
                role: role(port as u8),
                by: Default::default(),
            },
        }
    })
}

fn start() -> impl Strategy<Value = Vec<Member>> {
    proptest::collection::vec(
        (0usize..NAMES.len(), any::<u16>(), any::<bool>()).prop_map(|(n, p, o)| member(n, p, o)),
        0..6,
    )
}

/// Every member's name finds the first member of that name.
fn index_holds(list: &MemberList) -> bool {
    list.iter().all(|m| {
        let first = list.iter().position(|x| x.name == m.name);
        list.position(&m.name) == first && list.named(&m.name) == first.map(|i| &list[i])
    })
}

proptest! {
    #[test]
    fn the_index_changes_nothing(start in start(), changes in proptest::collection::vec(change(), 0..40)) {
        let mut scanned = start.clone();
        let mut indexed = MemberList::from(start);
        prop_assert!(index_holds(&indexed));
        for change in &changes {
            apply_by_scan(&mut scanned, change);
            apply_change(&mut indexed, change);
            prop_assert_eq!(indexed.as_slice(), scanned.as_slice());
            prop_assert!(index_holds(&indexed));
        }
        for i in 0..NAMES.len() {
            let first = scanned.iter().position(|m| m.name == name(i));
            prop_assert_eq!(indexed.position(&name(i)), first);
        }
    }
}

#[test]
fn a_repeated_name_is_kept_as_the_tracker_sent_it() {
    // No tracker sends one, but such a list behaves as it did without the index: a change
    // by name reaches every member of that name, a leave removes them all.
    let mut list = MemberList::from(vec![
        member(0, 1, true),
        member(2, 2, true),
        member(1, 3, true),
    ]);
    apply_change(
        &mut list,
        &MemberChange::Offline {
            name: name(0),
            last_seen: Some(5),
        },
    );
    assert!(list.iter().filter(|m| m.name == name(0)).all(|m| !m.online));
    assert!(list[1].online);
    apply_change(&mut list, &MemberChange::Left { name: name(1) });
    assert_eq!(list.as_slice(), &[member(2, 2, true)]);
    assert_eq!(list.position(&name(2)), Some(0));
    assert!(index_holds(&list));
}

#[test]
fn an_edit_that_renames_moves_the_index_along() {
    let mut list = MemberList::from(vec![member(0, 1, true), member(2, 2, true)]);
    list.edit_where(|m| m.addr.port() == 2, |m| m.name = name(4));
    assert_eq!(list.position(&name(2)), None);
    assert_eq!(list.position(&name(4)), Some(1));
    list.edit_named(&name(4), |m| m.name = name(0));
    // Now a repeated name: found first, both reached.
    assert_eq!(list.position(&name(0)), Some(0));
    assert!(index_holds(&list));
}

#[test]
fn reads_and_writes_as_a_plain_array() {
    let list = MemberList::from(vec![member(0, 1, true), member(2, 2, false)]);
    let json = serde_json::to_string(&list).expect("json");
    assert_eq!(json, serde_json::to_string(&list.as_slice()).expect("json"));
    let back: MemberList = serde_json::from_str(&json).expect("read");
    assert_eq!(back, list);
    assert!(index_holds(&back));
}
