//! Groups with owners, at the core: our signed actions, their retry on a stale version,
//! and who a pushed governance change is shown as done by.

use natter_protocol::govern::{Act, GroupAction, Role, SignedAction, sign};
use natter_protocol::tracker::{ActedBy, MemberChange, TrackerToPeer};

use super::*;

/// `who` in the list with `role`.
fn with_role(who: &str, port: u16, role: Role) -> Member {
    Member {
        role,
        ..listed(who, port, true)
    }
}

/// alice (owner), bob (admin) and carol in #g at version 1, online.
fn governed_group() -> Node {
    let members = vec![
        with_role("alice", 4000, Role::Owner),
        with_role("bob", 4001, Role::Admin),
        with_role("carol", 4002, Role::Member),
    ];
    Node::online("alice", &[("g", members)])
}

fn signed(who: &str, version: u64, act: Act) -> SignedAction {
    let action = GroupAction {
        group: group("g"),
        version,
        by: name(who),
        key: key_of(who),
        act,
    };
    sign(&identity_for(who), action)
}

fn govern_sent(out: &[Output]) -> Vec<(SignedAction, Option<RequestId>)> {
    to_tracker(out)
        .into_iter()
        .filter_map(|r| match r {
            PeerToTracker::Govern { action, req } => Some((*action, req)),
            _ => None,
        })
        .collect()
}

fn update(version: u64, change: MemberChange) -> TrackerToPeer {
    TrackerToPeer::MemberUpdate {
        group: group("g"),
        version,
        change,
    }
}

fn shown_change(out: &[Output]) -> MemberChange {
    match &events(out)[..] {
        [
            Event::Members {
                change: Some(c), ..
            },
        ] => c.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn our_action_is_signed_for_the_version_we_hold_and_signed_again_when_stale() {
    let mut node = governed_group();
    let kick = Act::Kick {
        name: name("carol"),
        reason: Some("spam".into()),
    };
    let out = node.cmd(
        7,
        Command::Govern {
            group: group("g"),
            act: kick.clone(),
        },
    );
    let sent = govern_sent(&out);
    let [(first, Some(id))] = &sent[..] else {
        panic!("{out:?}")
    };
    assert!(first.verifies());
    assert_eq!((first.action.version, &first.action.act), (1, &kick));
    // Someone joined meanwhile: the tracker says the version moved on.
    node.push(update(
        2,
        MemberChange::Joined {
            member: listed("dave", 4003, true),
        },
    ));
    let out = node.push(TrackerToPeer::Error {
        code: natter_protocol::ErrorCode::Stale,
        message: "#g is at version 2".into(),
        req: Some(*id),
    });
    assert!(errors(&out).is_empty(), "{out:?}");
    let sent = govern_sent(&out);
    let [(second, Some(id))] = &sent[..] else {
        panic!("{out:?}")
    };
    assert_eq!(second.action.version, 2);
    let out = node.push(TrackerToPeer::Governed {
        group: group("g"),
        req: Some(*id),
    });
    assert_eq!(
        notices(&out),
        vec![Notice {
            req: Some(7),
            event: Event::Governed {
                group: group("g"),
                action: "kick".into()
            }
        }]
    );
}

#[test]
fn a_change_is_shown_as_done_by_its_actor_only_when_the_actor_signed_it_and_may() {
    let mut node = governed_group();
    // bob (an admin) sets the topic: shown as his.
    let act = Act::Topic {
        topic: Some("rust talk".into()),
    };
    let change = MemberChange::Topic {
        topic: Some("rust talk".into()),
        by: ActedBy::signed(signed("bob", 1, act)),
    };
    let out = node.push(update(2, change));
    let MemberChange::Topic { by, .. } = shown_change(&out) else {
        panic!()
    };
    assert_eq!(
        (by.by, by.action),
        (Some(name("bob")), None),
        "the action is not passed on"
    );
    let Event::Members { topic, owner, .. } = &events(&out)[0] else {
        panic!()
    };
    assert_eq!(
        (topic.as_deref(), owner.clone()),
        (Some("rust talk"), Some(name("alice")))
    );

    // carol (a member) "makes bob the owner": the tracker says so, but it is not hers to do.
    let change = MemberChange::Role {
        name: name("bob"),
        role: Role::Owner,
        by: ActedBy::signed(signed("carol", 2, Act::Transfer { name: name("bob") })),
    };
    let out = node.push(update(3, change));
    let MemberChange::Role { by, .. } = shown_change(&out) else {
        panic!()
    };
    assert_eq!(by.by, None, "not shown as carol's");
    let list = node.core.cache.get(&group("g")).expect("list");
    assert_eq!(list.owner(), Some(&name("bob")), "applied all the same");
    let alice = list
        .members
        .iter()
        .find(|m| m.name == name("alice"))
        .expect("alice");
    assert_eq!(alice.role, Role::Admin, "the old owner is an admin");

    // A signature that does not match the act it claims.
    let change = MemberChange::Kicked {
        name: name("carol"),
        reason: None,
        by: ActedBy::signed(signed(
            "bob",
            3,
            Act::Kick {
                name: name("dave"),
                reason: None,
            },
        )),
    };
    let MemberChange::Kicked { by, .. } = shown_change(&node.push(update(4, change))) else {
        panic!()
    };
    assert_eq!(by.by, None);
}

#[test]
fn removed_from_a_group_we_hear_by_whom_and_why() {
    let members = vec![
        with_role("bob", 4001, Role::Owner),
        with_role("alice", 4000, Role::Member),
    ];
    let mut node = Node::online("alice", &[("g", members)]);
    let kick = Act::Kick {
        name: name("alice"),
        reason: Some("off topic".into()),
    };
    let out = node.push(TrackerToPeer::Left {
        group: group("g"),
        req: None,
        by: Some(name("bob")),
        reason: Some("off topic".into()),
        disbanded: false,
        action: Some(Box::new(signed("bob", 1, kick))),
    });
    assert_eq!(
        events(&out),
        vec![Event::Left {
            group: group("g"),
            by: Some(name("bob")),
            reason: Some("off topic".into()),
            disbanded: false
        }]
    );
    assert!(!node.core.cache.contains(&group("g")));
}

#[test]
fn only_an_admin_acts_and_a_group_we_are_not_in_is_refused_here() {
    let mut node = Node::online("alice", &[]);
    let out = node.cmd(
        1,
        Command::Govern {
            group: group("g"),
            act: Act::Disband,
        },
    );
    assert_eq!(errors(&out), vec![(ErrorCode::NotMember, Some(1))]);
    let create = Act::Create {
        participants: vec![name("bob")],
    };
    let out = node.cmd(
        2,
        Command::Govern {
            group: group("new"),
            act: create,
        },
    );
    let sent = govern_sent(&out);
    assert_eq!(sent.len(), 1, "{out:?}");
    assert_eq!(sent[0].0.action.version, 0);
}
