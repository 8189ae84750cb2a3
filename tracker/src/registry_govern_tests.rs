//! Governance (issue 10) in the registry state machine: every action by an allowed and a
//! refused actor, the checks before any rule (signature, signer, version), admission to
//! invite-only groups and after a kick, ownership passing, disband, what private groups
//! hide, and the state file keeping all of it.

use natter_protocol::govern::{Act, GroupAction, Role, SignedAction, sign};
use natter_protocol::testkit::build::identity_for;
use natter_protocol::tracker::ActedBy;

use super::*;

/// The request id every governance request in these tests carries.
const REQ: RequestId = 7;

/// Registers `name` with its test identity (the key its actions are signed with).
fn enter(r: &mut Registry, conn: ConnId, name: &str, groups: &[&str]) -> Outcome {
    hello_as(r, conn, name, identity_for(name).public_key(), groups)
}

/// `actor`'s signed `act` on `group`, for the group's current version.
fn signed(r: &Registry, actor: &str, group: &str, act: Act) -> SignedAction {
    let version = r.groups().get(&g(group)).map_or(0, |state| state.version);
    let me = identity_for(actor);
    let action = GroupAction {
        group: g(group),
        version,
        by: n(actor),
        key: me.public_key(),
        act,
    };
    sign(&me, action)
}

fn govern(r: &mut Registry, conn: ConnId, action: SignedAction) -> Outcome {
    r.apply(
        conn,
        PeerToTracker::Govern {
            action: Box::new(action),
            req: Some(REQ),
        },
    )
}

/// `actor` (on `conn`) does `act` to `group`.
fn act(r: &mut Registry, conn: ConnId, actor: &str, group: &str, act: Act) -> Outcome {
    let action = signed(r, actor, group, act);
    govern(r, conn, action)
}

/// The refusal `out` is: one error to `conn` echoing [`REQ`], nothing saved, the link up.
fn refused(out: &Outcome, conn: ConnId) -> (ErrorCode, String) {
    assert_eq!(out.save, Save::Nothing, "{out:?}");
    assert_eq!(out.close, None);
    match plain(out).as_slice() {
        [(to, TrackerToPeer::Error { code, message, req })] if *to == conn => {
            assert_eq!(*req, Some(REQ));
            (*code, message.clone())
        }
        other => panic!("expected one error to {conn}, got {other:?}"),
    }
}

/// Asserts `out` did what was asked: saved first, `governed` to `conn` after every push.
fn done(out: &Outcome, conn: ConnId, group: &str) {
    assert_eq!(out.save, Save::Now);
    assert_eq!(
        plain(out).last(),
        Some(&(
            conn,
            TrackerToPeer::Governed {
                group: g(group),
                req: Some(REQ)
            }
        )),
        "{out:?}"
    );
}

fn frames_to(out: &Outcome, conn: ConnId) -> Vec<TrackerToPeer> {
    plain(out)
        .into_iter()
        .filter(|(to, _)| *to == conn)
        .map(|(_, frame)| frame)
        .collect()
}

/// The one member update to `conn` in `out` (the actor also gets its `governed`).
fn change_to(out: &Outcome, conn: ConnId) -> (u64, MemberChange) {
    let updates: Vec<_> = frames_to(out, conn)
        .into_iter()
        .filter_map(|frame| match frame {
            TrackerToPeer::MemberUpdate {
                version, change, ..
            } => Some((version, change)),
            _ => None,
        })
        .collect();
    match <[_; 1]>::try_from(updates) {
        Ok([update]) => update,
        Err(other) => panic!("expected one update to {conn}, got {other:?}"),
    }
}

fn role(r: &Registry, group: &str, name: &str) -> Option<Role> {
    r.groups().get(&g(group))?.role_of(&n(name))
}

fn version(r: &Registry, group: &str) -> u64 {
    r.groups()[&g(group)].version
}

/// #g owned by alice (1), with admin bob (2) and members carol (3) and dave (4); eve (5)
/// is registered and online but in no group.
fn team() -> Registry {
    let mut r = registry();
    enter(&mut r, 1, "alice", &["g"]);
    for (conn, name) in [(2, "bob"), (3, "carol"), (4, "dave")] {
        enter(&mut r, conn, name, &["g"]);
    }
    enter(&mut r, 5, "eve", &[]);
    done(
        &act(&mut r, 1, "alice", "g", Act::Op { name: n("bob") }),
        1,
        "g",
    );
    r
}

fn join_req(r: &mut Registry, conn: ConnId, group: &str) -> Outcome {
    r.apply(
        conn,
        PeerToTracker::Join {
            group: g(group),
            req: Some(REQ),
        },
    )
}

#[test]
fn joining_a_new_group_makes_the_joiner_its_owner() {
    let mut r = registry();
    let out = enter(&mut r, 1, "alice", &["g"]);
    match frames_to(&out, 1).last() {
        Some(TrackerToPeer::Members {
            owner,
            members,
            private,
            ..
        }) => {
            assert_eq!(owner.as_ref(), Some(&n("alice")));
            assert_eq!(members[0].role, Role::Owner);
            assert!(!private);
        }
        other => panic!("expected members, got {other:?}"),
    }
    enter(&mut r, 2, "bob", &["g"]);
    assert_eq!(role(&r, "g", "bob"), Some(Role::Member));
}

#[test]
fn create_makes_the_actor_owner_and_adds_the_participants() {
    let mut r = registry();
    enter(&mut r, 1, "alice", &[]);
    enter(&mut r, 2, "bob", &[]);
    enter(&mut r, 3, "carol", &[]);
    r.disconnect(3, T0);
    let create = |names: &[&str]| Act::Create {
        participants: names.iter().map(|s| n(s)).collect(),
    };
    // An unknown participant refuses the whole action up front.
    let (code, message) = refused(&act(&mut r, 1, "alice", "new", create(&["bob", "zed"])), 1);
    assert_eq!(code, ErrorCode::Refused);
    assert!(message.contains("zed"), "{message}");
    assert!(r.groups().is_empty());

    let out = act(
        &mut r,
        1,
        "alice",
        "new",
        create(&["bob", "carol", "alice"]),
    );
    done(&out, 1, "new");
    assert_eq!(out.bumps, 3, "alice's join, then one per participant");
    assert_eq!(role(&r, "new", "alice"), Some(Role::Owner));
    assert_eq!(role(&r, "new", "bob"), Some(Role::Member));
    assert_eq!(
        role(&r, "new", "carol"),
        Some(Role::Member),
        "offline, added too"
    );
    // Bob, online, gets the full list as after a join; alice hears of each addition.
    assert!(frames_to(&out, 2).iter().any(|f| matches!(
        f,
        TrackerToPeer::Members { owner: Some(o), .. } if *o == n("alice")
    )));
    let added: Vec<_> = frames_to(&out, 1)
        .into_iter()
        .filter_map(|f| match f {
            TrackerToPeer::MemberUpdate {
                change: MemberChange::Added { member, by, .. },
                ..
            } => Some((
                member.name.to_string(),
                by.by.map(|b| b.to_string()).unwrap_or_default(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        added,
        vec![
            ("bob".into(), "alice".into()),
            ("carol".into(), "alice".into())
        ]
    );
    // A group that exists cannot be created again.
    let (code, message) = refused(&act(&mut r, 2, "bob", "new", create(&[])), 2);
    assert_eq!(code, ErrorCode::Refused);
    assert!(message.contains("already exists"), "{message}");
}

#[test]
fn bad_signature_foreign_key_and_wrong_name_are_unauthorized() {
    let mut r = team();
    let mut forged = signed(&r, "alice", "g", Act::Topic { topic: None });
    forged.action.act = Act::Topic {
        topic: Some("forged".into()),
    };
    assert_eq!(
        refused(&govern(&mut r, 1, forged), 1).0,
        ErrorCode::Unauthorized
    );
    // Alice's own, good action sent on carol's connection.
    let alices = signed(&r, "alice", "g", Act::Private { on: true });
    assert_eq!(
        refused(&govern(&mut r, 3, alices), 3).0,
        ErrorCode::Unauthorized
    );
    // Carol's key, claiming to be alice.
    let carol = identity_for("carol");
    let claim = sign(
        &carol,
        GroupAction {
            group: g("g"),
            version: version(&r, "g"),
            by: n("alice"),
            key: carol.public_key(),
            act: Act::Disband,
        },
    );
    let (code, message) = refused(&govern(&mut r, 3, claim), 3);
    assert_eq!(code, ErrorCode::Unauthorized);
    assert!(message.contains("carol"), "{message}");
    assert!(r.groups()[&g("g")].topic.is_none());
}

#[test]
fn an_action_for_an_old_version_is_stale() {
    let mut r = team();
    let old = signed(&r, "bob", "g", Act::Topic { topic: None });
    enter(&mut r, 6, "fred", &["g"]);
    let (code, message) = refused(&govern(&mut r, 2, old), 2);
    assert_eq!(code, ErrorCode::Stale);
    assert!(message.contains(&version(&r, "g").to_string()), "{message}");
}

#[test]
fn bad_data_missing_groups_and_outsiders_are_refused() {
    let mut r = team();
    let long = Act::Topic {
        topic: Some("x".repeat(natter_protocol::govern::MAX_TOPIC_CHARS + 1)),
    };
    assert_eq!(
        refused(&act(&mut r, 1, "alice", "g", long), 1).0,
        ErrorCode::Refused
    );
    let (code, message) = refused(&act(&mut r, 1, "alice", "nope", Act::Disband), 1);
    assert_eq!(code, ErrorCode::Refused);
    assert!(message.contains("#nope does not exist"), "{message}");
    let outsider = act(&mut r, 5, "eve", "g", Act::Topic { topic: None });
    assert_eq!(refused(&outsider, 5).0, ErrorCode::NotMember);
}

#[test]
fn add_by_an_admin_sends_the_list_and_a_member_may_not() {
    let mut r = team();
    let by_member = act(&mut r, 3, "carol", "g", Act::Add { name: n("eve") });
    assert_eq!(refused(&by_member, 3).0, ErrorCode::Refused);
    let unknown = act(&mut r, 2, "bob", "g", Act::Add { name: n("zed") });
    assert!(refused(&unknown, 2).1.contains("registered"));
    let twice = act(&mut r, 2, "bob", "g", Act::Add { name: n("carol") });
    assert!(refused(&twice, 2).1.contains("already a member"));

    let before = version(&r, "g");
    let out = act(&mut r, 2, "bob", "g", Act::Add { name: n("eve") });
    done(&out, 2, "g");
    assert_eq!(version(&r, "g"), before + 1);
    assert!(matches!(
        frames_to(&out, 5).as_slice(),
        [TrackerToPeer::Members { .. }]
    ));
    let (v, change) = change_to(&out, 3);
    assert_eq!(v, before + 1);
    assert!(matches!(change, MemberChange::Added { by, .. } if by.by == Some(n("bob"))));
}

#[test]
fn invite_only_join_is_refused_until_invited_and_the_invite_is_used_up() {
    let mut r = team();
    done(
        &act(&mut r, 2, "bob", "g", Act::Private { on: true }),
        2,
        "g",
    );
    let (code, message) = refused(&join_req(&mut r, 5, "g"), 5);
    assert_eq!(code, ErrorCode::Refused);
    assert_eq!(message, "#g is invite-only; ask an admin to /add you");

    let by_member = act(&mut r, 3, "carol", "g", Act::Invite { name: n("eve") });
    assert_eq!(refused(&by_member, 3).0, ErrorCode::Refused);
    let before = version(&r, "g");
    let out = act(&mut r, 2, "bob", "g", Act::Invite { name: n("eve") });
    done(&out, 2, "g");
    assert_eq!(version(&r, "g"), before, "an invite changes no member list");
    assert!(matches!(
        frames_to(&out, 5).as_slice(),
        [TrackerToPeer::Invited { invite }] if invite.group == g("g") && invite.by == n("bob")
    ));
    let asked = r.apply(5, PeerToTracker::Invites { req: Some(REQ) });
    assert!(matches!(
        frames_to(&asked, 5).as_slice(),
        [TrackerToPeer::Invites { invites, req: Some(REQ) }] if invites.len() == 1
    ));

    let joined = join_req(&mut r, 5, "g");
    assert_eq!(joined.save, Save::Now);
    assert_eq!(role(&r, "g", "eve"), Some(Role::Member));
    let asked = r.apply(5, PeerToTracker::Invites { req: None });
    assert!(matches!(
        frames_to(&asked, 5).as_slice(),
        [TrackerToPeer::Invites { invites, .. }] if invites.is_empty()
    ));
}

#[test]
fn kick_rules_and_a_kicked_peer_stays_out_until_added() {
    let mut r = team();
    let kick = |name: &str| Act::Kick {
        name: n(name),
        reason: Some("spam".into()),
    };
    assert_eq!(
        refused(&act(&mut r, 3, "carol", "g", kick("dave")), 3).0,
        ErrorCode::Refused
    );
    assert!(
        refused(&act(&mut r, 2, "bob", "g", kick("alice")), 2)
            .1
            .contains("owner")
    );
    let admin = act(&mut r, 2, "bob", "g", kick("bob"));
    assert!(
        refused(&admin, 2)
            .1
            .contains("an admin can kick only members")
    );
    assert!(
        refused(&act(&mut r, 2, "bob", "g", kick("eve")), 2)
            .1
            .contains("not a member")
    );

    let out = act(&mut r, 2, "bob", "g", kick("carol"));
    done(&out, 2, "g");
    assert!(matches!(
        frames_to(&out, 3).as_slice(),
        [TrackerToPeer::Left { by: Some(by), reason: Some(reason), action: Some(_), disbanded: false, .. }]
            if *by == n("bob") && reason == "spam"
    ));
    assert!(matches!(
        change_to(&out, 1).1,
        MemberChange::Kicked { name, by, .. } if name == n("carol") && by.by == Some(n("bob"))
    ));
    assert_eq!(role(&r, "g", "carol"), None);

    let (code, message) = refused(&join_req(&mut r, 3, "g"), 3);
    assert_eq!(code, ErrorCode::Refused);
    assert_eq!(
        message,
        "you were removed from #g by bob; an admin must /add or /invite you"
    );
    // Nor does a hello naming the group bring carol back: it is told of the kick again.
    r.disconnect(3, T0);
    let back = enter(&mut r, 3, "carol", &["g"]);
    assert!(frames_to(&back, 3).iter().any(|f| matches!(
        f,
        TrackerToPeer::Left { by: Some(by), reason: Some(reason), .. } if *by == n("bob") && reason == "spam"
    )));
    assert_eq!(role(&r, "g", "carol"), None);

    done(
        &act(&mut r, 1, "alice", "g", Act::Add { name: n("carol") }),
        1,
        "g",
    );
    assert_eq!(role(&r, "g", "carol"), Some(Role::Member));
    // The owner may kick an admin.
    done(&act(&mut r, 1, "alice", "g", kick("bob")), 1, "g");
    assert_eq!(role(&r, "g", "bob"), None);
}

#[test]
fn an_invite_lifts_a_kick_ban() {
    let mut r = team();
    let kick = Act::Kick {
        name: n("dave"),
        reason: None,
    };
    done(&act(&mut r, 1, "alice", "g", kick), 1, "g");
    done(
        &act(&mut r, 1, "alice", "g", Act::Invite { name: n("dave") }),
        1,
        "g",
    );
    join_req(&mut r, 4, "g");
    assert_eq!(role(&r, "g", "dave"), Some(Role::Member));
}

#[test]
fn op_deop_and_transfer_are_the_owners_alone() {
    let mut r = team();
    let by_admin = act(&mut r, 2, "bob", "g", Act::Op { name: n("carol") });
    assert_eq!(refused(&by_admin, 2).0, ErrorCode::Refused);
    assert!(
        refused(&act(&mut r, 1, "alice", "g", Act::Op { name: n("eve") }), 1)
            .1
            .contains("not a member")
    );
    assert!(
        refused(&act(&mut r, 1, "alice", "g", Act::Op { name: n("bob") }), 1)
            .1
            .contains("already an admin")
    );
    assert!(
        refused(
            &act(&mut r, 1, "alice", "g", Act::Deop { name: n("carol") }),
            1
        )
        .1
        .contains("not an admin")
    );

    let out = act(&mut r, 1, "alice", "g", Act::Op { name: n("carol") });
    done(&out, 1, "g");
    // Everyone hears of it, carol herself and the actor included.
    for conn in [1, 2, 3, 4] {
        assert!(matches!(
            change_to(&out, conn).1,
            MemberChange::Role {
                role: Role::Admin,
                by: ActedBy {
                    by: Some(_),
                    action: Some(_)
                },
                ..
            }
        ));
    }
    done(
        &act(&mut r, 1, "alice", "g", Act::Deop { name: n("carol") }),
        1,
        "g",
    );
    assert_eq!(role(&r, "g", "carol"), Some(Role::Member));

    let by_admin = act(&mut r, 2, "bob", "g", Act::Transfer { name: n("bob") });
    assert_eq!(refused(&by_admin, 2).0, ErrorCode::Refused);
    let outsider = act(&mut r, 1, "alice", "g", Act::Transfer { name: n("eve") });
    assert!(refused(&outsider, 1).1.contains("not a member"));
    let out = act(&mut r, 1, "alice", "g", Act::Transfer { name: n("dave") });
    done(&out, 1, "g");
    assert!(matches!(
        change_to(&out, 4).1,
        MemberChange::Role { name, role: Role::Owner, .. } if name == n("dave")
    ));
    assert_eq!(role(&r, "g", "dave"), Some(Role::Owner));
    assert_eq!(role(&r, "g", "alice"), Some(Role::Admin));
    assert_eq!(r.groups()[&g("g")].owner, Some(n("dave")));
}

#[test]
fn topic_and_invite_only_by_admins_are_in_every_list() {
    let mut r = team();
    let topic = || Act::Topic {
        topic: Some("rust talk".into()),
    };
    assert_eq!(
        refused(&act(&mut r, 3, "carol", "g", topic()), 3).0,
        ErrorCode::Refused
    );
    let by_member = act(&mut r, 3, "carol", "g", Act::Private { on: true });
    assert_eq!(refused(&by_member, 3).0, ErrorCode::Refused);
    let out = act(&mut r, 2, "bob", "g", topic());
    done(&out, 2, "g");
    assert!(matches!(change_to(&out, 2).1, MemberChange::Topic { .. }));
    done(
        &act(&mut r, 2, "bob", "g", Act::Private { on: true }),
        2,
        "g",
    );
    let list = r.apply(
        3,
        PeerToTracker::Snapshot {
            group: g("g"),
            req: None,
        },
    );
    assert!(matches!(
        frames_to(&list, 3).as_slice(),
        [TrackerToPeer::Members { topic: Some(t), private: true, owner: Some(o), members, .. }]
            if t == "rust talk" && *o == n("alice")
                && members.iter().any(|m| m.name == n("bob") && m.role == Role::Admin)
    ));
}

#[test]
fn disband_is_the_owners_and_forgets_the_group() {
    let mut r = team();
    assert_eq!(
        refused(&act(&mut r, 2, "bob", "g", Act::Disband), 2).0,
        ErrorCode::Refused
    );
    assert_eq!(
        refused(&act(&mut r, 3, "carol", "g", Act::Disband), 3).0,
        ErrorCode::Refused
    );
    r.disconnect(4, T0);
    let out = act(&mut r, 1, "alice", "g", Act::Disband);
    done(&out, 1, "g");
    for conn in [1, 2, 3] {
        assert!(frames_to(&out, conn).iter().any(|f| matches!(
            f,
            TrackerToPeer::Left { disbanded: true, by: Some(by), action: Some(_), .. } if *by == n("alice")
        )));
    }
    assert!(r.groups().is_empty());
    assert!(r.index_matches_a_scan());
    // The name is free again: a join creates a new group.
    join(&mut r, 3, "g");
    assert_eq!(role(&r, "g", "carol"), Some(Role::Owner));
}

#[test]
fn the_leaving_owner_passes_the_group_to_the_longest_standing_admin_else_member() {
    let mut r = team();
    done(
        &act(&mut r, 1, "alice", "g", Act::Op { name: n("dave") }),
        1,
        "g",
    );
    // Going offline changes nothing.
    r.disconnect(1, T0);
    assert_eq!(role(&r, "g", "alice"), Some(Role::Owner));
    enter(&mut r, 1, "alice", &[]);
    let out = r.apply(
        1,
        PeerToTracker::Leave {
            group: g("g"),
            req: None,
        },
    );
    // Bob and dave are admins; bob joined first.
    let to_carol = frames_to(&out, 3);
    assert!(matches!(
        to_carol.as_slice(),
        [
            TrackerToPeer::MemberUpdate { change: MemberChange::Left { .. }, .. },
            TrackerToPeer::MemberUpdate { change: MemberChange::Role { name, role: Role::Owner, by: ActedBy { by: None, action: None } }, .. },
        ] if *name == n("bob")
    ));
    assert_eq!(role(&r, "g", "bob"), Some(Role::Owner));
    // No admin left: the longest-standing member (carol, before dave's re-join).
    done(
        &act(&mut r, 2, "bob", "g", Act::Deop { name: n("dave") }),
        2,
        "g",
    );
    r.apply(
        4,
        PeerToTracker::Leave {
            group: g("g"),
            req: None,
        },
    );
    join(&mut r, 4, "g");
    r.apply(
        2,
        PeerToTracker::Leave {
            group: g("g"),
            req: None,
        },
    );
    assert_eq!(role(&r, "g", "carol"), Some(Role::Owner));
    assert_eq!(role(&r, "g", "dave"), Some(Role::Member));
}

#[test]
fn a_private_groups_members_are_not_shown_to_outsiders() {
    let mut r = team();
    done(
        &act(&mut r, 1, "alice", "g", Act::Private { on: true }),
        1,
        "g",
    );
    let snap = r.apply(
        5,
        PeerToTracker::Snapshot {
            group: g("g"),
            req: Some(REQ),
        },
    );
    assert!(matches!(
        frames_to(&snap, 5).as_slice(),
        [TrackerToPeer::Error {
            code: ErrorCode::NotMember,
            ..
        }]
    ));
    let lookup = |r: &mut Registry, conn, name: &str| {
        let out = r.apply(
            conn,
            PeerToTracker::Lookup {
                name: n(name),
                req: None,
            },
        );
        match frames_to(&out, conn).as_slice() {
            [TrackerToPeer::LookupResult { member, .. }] => member.clone(),
            other => panic!("expected a lookup result, got {other:?}"),
        }
    };
    assert_eq!(
        lookup(&mut r, 5, "carol"),
        None,
        "carol is only in private #g"
    );
    assert!(lookup(&mut r, 3, "carol").is_some(), "oneself");
    assert!(lookup(&mut r, 2, "carol").is_some(), "a fellow member");
    assert!(lookup(&mut r, 3, "eve").is_some(), "eve is in no group");
    // Once carol is in an open group too, anyone may find her.
    join(&mut r, 3, "open");
    assert!(lookup(&mut r, 5, "carol").is_some());
}

#[test]
fn governance_survives_the_state_file() {
    let mut r = team();
    let topic = Act::Topic {
        topic: Some("t".into()),
    };
    done(&act(&mut r, 2, "bob", "g", topic), 2, "g");
    done(
        &act(&mut r, 2, "bob", "g", Act::Private { on: true }),
        2,
        "g",
    );
    let kick = Act::Kick {
        name: n("dave"),
        reason: None,
    };
    done(&act(&mut r, 2, "bob", "g", kick), 2, "g");
    done(
        &act(&mut r, 2, "bob", "g", Act::Invite { name: n("eve") }),
        2,
        "g",
    );
    let state = r.durable().to_state();
    let bytes = crate::state_file::encode(state.borrowed()).expect("encode");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tracker.json");
    crate::state_file::write_atomic(&path, &bytes).expect("write");
    let loaded = crate::state_file::load(&path).expect("load");
    assert_eq!(loaded, state);

    let mut r = Registry::new(loaded, 10);
    let group = &r.groups()[&g("g")];
    assert_eq!(group.owner, Some(n("alice")));
    assert!(group.admins.contains(&n("bob")));
    assert_eq!(group.topic.as_deref(), Some("t"));
    assert!(group.private);
    enter(&mut r, 4, "dave", &[]);
    assert!(refused(&join_req(&mut r, 4, "g"), 4).1.contains("removed"));
    enter(&mut r, 5, "eve", &[]);
    join_req(&mut r, 5, "g");
    assert_eq!(role(&r, "g", "eve"), Some(Role::Member));
}

#[test]
fn a_file_without_owners_makes_the_first_joiner_owner() {
    let key = |name: &str| identity_for(name).public_key();
    let file = |joined: &str| {
        format!(
            r#"{{"format":2,"groups":{{"g":{{"version":9,"members":{{"amy":"10.0.0.1:1","bob":"10.0.0.1:2","cal":"10.0.0.1:3"}}{joined}}}}},
            "keys":{{"amy":"{}","bob":"{}","cal":"{}"}}}}"#,
            key("amy"),
            key("bob"),
            key("cal")
        )
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tracker.json");
    // With join times: the earliest.
    std::fs::write(&path, file(r#","joined":{"amy":5,"bob":3,"cal":4}"#)).expect("seed");
    let r = Registry::new(crate::state_file::load(&path).expect("load"), 10);
    assert_eq!(r.groups()[&g("g")].owner, Some(n("bob")));
    assert!(!r.groups()[&g("g")].private);
    // From before join times: the first by name, the same on every load.
    std::fs::write(&path, file("")).expect("seed");
    let r = Registry::new(crate::state_file::load(&path).expect("load"), 10);
    assert_eq!(r.groups()[&g("g")].owner, Some(n("amy")));
    assert_eq!(role(&r, "g", "cal"), Some(Role::Member));
}

#[test]
fn a_member_offline_at_a_disband_is_told_on_its_hello_and_does_not_recreate_the_group() {
    let mut r = team();
    r.disconnect(4, T0);
    done(&act(&mut r, 1, "alice", "g", Act::Disband), 1, "g");
    // A restart in between: the tracker still remembers whom to tell.
    let mut r = Registry::new(r.durable().to_state(), 10);
    let back = enter(&mut r, 4, "dave", &["g"]);
    assert_eq!(back.save, Save::Now);
    assert!(frames_to(&back, 4).iter().any(|f| matches!(
        f,
        TrackerToPeer::Left { disbanded: true, by: Some(by), action: Some(_), .. } if *by == n("alice")
    )));
    assert!(r.groups().is_empty(), "not re-created from dave's list");
    assert!(
        r.durable().disbanded.is_empty(),
        "told once, then forgotten"
    );
    // Dave may make a new #g, as anyone may.
    join(&mut r, 4, "g");
    assert_eq!(role(&r, "g", "dave"), Some(Role::Owner));
}

#[test]
fn a_member_kicked_while_offline_is_told_on_its_hello() {
    let mut r = team();
    r.disconnect(3, T0);
    let kick = Act::Kick {
        name: n("carol"),
        reason: Some("away too long".into()),
    };
    let out = act(&mut r, 2, "bob", "g", kick);
    done(&out, 2, "g");
    assert!(frames_to(&out, 3).is_empty(), "carol is offline");
    let back = enter(&mut r, 3, "carol", &["g"]);
    assert!(frames_to(&back, 3).iter().any(|f| matches!(
        f,
        TrackerToPeer::Left { by: Some(by), reason: Some(reason), action: Some(_), disbanded: false, .. }
            if *by == n("bob") && reason == "away too long"
    )));
    assert_eq!(role(&r, "g", "carol"), None);
}
