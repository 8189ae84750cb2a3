//! Unit tests of the registry state machine.

use super::*;

fn n(s: &str) -> Name {
    s.parse().expect("name")
}

fn g(s: &str) -> GroupName {
    s.parse().expect("group")
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], port))
}

/// A fixed key per name, so tests read as "alice's key".
fn key(name: &str) -> PublicKey {
    let mut seed = [7u8; 32];
    for (slot, byte) in seed.iter_mut().zip(name.bytes()) {
        *slot = byte;
    }
    natter_protocol::Identity::from_secrets(&seed, &seed).public_key()
}

/// The tracker's clock when a test's peers go offline (Unix milliseconds).
const T0: u64 = 1_700_000_000_000;

fn registry() -> Registry {
    Registry::new(State::default(), 10)
}

/// Registers `name` with its own key on connection `conn` at port `conn` with `groups`.
fn hello(r: &mut Registry, conn: ConnId, name: &str, groups: &[&str]) -> Outcome {
    hello_as(r, conn, name, key(name), groups)
}

/// Like [`hello`], authenticated as `as_key`.
fn hello_as(
    r: &mut Registry,
    conn: ConnId,
    name: &str,
    as_key: PublicKey,
    groups: &[&str],
) -> Outcome {
    let port = u16::try_from(conn).expect("port");
    r.hello(
        conn,
        n(name),
        as_key,
        addr(port),
        groups.iter().map(|s| g(s)).collect(),
    )
}

fn join(r: &mut Registry, conn: ConnId, group: &str) -> Outcome {
    r.apply(
        conn,
        PeerToTracker::Join {
            req: None,
            group: g(group),
        },
    )
}

/// The frames of `out`, each as its own value (the registry shares one frame among the
/// recipients of a change).
fn plain(out: &Outcome) -> Vec<(ConnId, TrackerToPeer)> {
    out.pushes
        .iter()
        .map(|(conn, frame)| (*conn, (**frame).clone()))
        .collect()
}

fn members_of(frame: &TrackerToPeer) -> (u64, Vec<(String, bool)>) {
    match frame {
        TrackerToPeer::Members {
            version, members, ..
        } => (
            *version,
            members
                .iter()
                .map(|m| (m.name.to_string(), m.online))
                .collect(),
        ),
        other => panic!("expected members, got {other:?}"),
    }
}

fn update_to(out: &Outcome, conn: ConnId) -> (u64, MemberChange) {
    let found: Vec<_> = out.pushes.iter().filter(|(c, _)| *c == conn).collect();
    match found.as_slice() {
        [(_, frame)] => match &**frame {
            TrackerToPeer::MemberUpdate {
                version, change, ..
            } => (*version, change.clone()),
            other => panic!("expected an update to {conn}, got {other:?}"),
        },
        other => panic!("expected one update to {conn}, got {other:?}"),
    }
}

#[test]
fn hello_gets_welcome_with_address() {
    let mut r = registry();
    let out = hello(&mut r, 1, "alice", &[]);
    assert_eq!(
        plain(&out),
        vec![(
            1,
            TrackerToPeer::Welcome {
                version: PROTOCOL_VERSION,
                name: n("alice"),
                addr: addr(1),
                heartbeat_secs: 10,
            }
        )]
    );
    // The new name → key binding is durable.
    assert_eq!(out.save, Save::Now);
    assert_eq!(out.close, None);
}

#[test]
fn join_sends_snapshot_to_joiner_and_delta_to_others() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &[]);
    hello(&mut r, 2, "bob", &[]);
    let out = join(&mut r, 1, "rust");
    assert_eq!(out.save, Save::Now);
    assert_eq!(out.pushes.len(), 1);
    assert_eq!(
        members_of(&out.pushes[0].1),
        (1, vec![("alice".into(), true)])
    );

    let out = join(&mut r, 2, "rust");
    let (version, change) = update_to(&out, 1);
    assert_eq!(version, 2);
    assert_eq!(
        change,
        MemberChange::Joined {
            member: Member {
                name: n("bob"),
                addr: addr(2),
                online: true,
                key: key("bob"),
                last_seen: None,
                status: None,
                role: natter_protocol::govern::Role::Member,
            }
        }
    );
    let to_bob: Vec<_> = out.pushes.iter().filter(|(c, _)| *c == 2).collect();
    assert_eq!(
        members_of(&to_bob[0].1),
        (2, vec![("alice".into(), true), ("bob".into(), true)])
    );
}

#[test]
fn joining_twice_is_a_snapshot_without_change() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    let out = join(&mut r, 1, "rust");
    assert_eq!(out.save, Save::Nothing);
    assert_eq!(members_of(&out.pushes[0].1).0, 1);
}

#[test]
fn leave_confirms_and_tells_others() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    let out = r.apply(
        2,
        PeerToTracker::Leave {
            req: None,
            group: g("rust"),
        },
    );
    assert_eq!(out.save, Save::Now);
    assert!(plain(&out).contains(&(
        2,
        TrackerToPeer::Left {
            req: None,
            group: g("rust"),
            by: None,
            reason: None,
            disbanded: false,
            action: None,
        }
    )));
    assert_eq!(
        update_to(&out, 1),
        (3, MemberChange::Left { name: n("bob") })
    );
    assert_eq!(r.groups()[&g("rust")].members.len(), 1);
}

#[test]
fn leave_of_a_group_not_in_is_not_member_and_keeps_link() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &[]);
    let out = r.apply(
        1,
        PeerToTracker::Leave {
            req: None,
            group: g("rust"),
        },
    );
    assert_eq!(out.save, Save::Nothing);
    assert_eq!(out.close, None);
    assert!(matches!(
        plain(&out).as_slice(),
        [(
            1,
            TrackerToPeer::Error {
                code: ErrorCode::NotMember,
                ..
            }
        )]
    ));
}

#[test]
fn disconnect_goes_offline_but_stays_member() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    let out = r.disconnect(2, T0);
    // Offline is presence only: saved soon, not before the push.
    assert_eq!(out.save, Save::Soon);
    assert_eq!(
        update_to(&out, 1),
        (
            3,
            MemberChange::Offline {
                name: n("bob"),
                last_seen: Some(T0)
            }
        )
    );
    let snap = r.apply(
        1,
        PeerToTracker::Snapshot {
            req: None,
            group: g("rust"),
        },
    );
    assert_eq!(
        members_of(&snap.pushes[0].1),
        (3, vec![("alice".into(), true), ("bob".into(), false)])
    );
    // A second disconnect of the same connection is a no-op.
    assert_eq!(r.disconnect(2, T0), Outcome::default());
}

#[test]
fn coming_back_is_online_at_new_address() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    r.disconnect(2, T0);
    let out = hello(&mut r, 7, "bob", &[]);
    let (version, change) = update_to(&out, 1);
    assert_eq!(version, 4);
    assert_eq!(
        change,
        MemberChange::Online {
            member: Member {
                name: n("bob"),
                addr: addr(7),
                online: true,
                key: key("bob"),
                last_seen: None,
                status: None,
                role: natter_protocol::govern::Role::Member,
            }
        }
    );
    // Bob gets welcome, then the snapshot of the group he was already in.
    let to_bob: Vec<_> = out.pushes.iter().filter(|(c, _)| *c == 7).collect();
    assert!(matches!(*to_bob[0].1, TrackerToPeer::Welcome { .. }));
    assert_eq!(members_of(&to_bob[1].1).0, 4);
    assert_eq!(r.groups()[&g("rust")].members[&n("bob")], addr(7));
}

#[test]
fn name_taken_while_live_and_old_connection_keeps_it() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &[]);
    let out = hello(&mut r, 2, "alice", &[]);
    assert_eq!(out.close, Some(2));
    assert_eq!(
        plain(&out),
        vec![(
            2,
            TrackerToPeer::Error {
                req: None,
                code: ErrorCode::NameTaken,
                message: "name 'alice' is already in use".into(),
            }
        )]
    );
    // The refused connection's end does not take the name from the live one.
    assert_eq!(r.disconnect(2, T0), Outcome::default());
    assert_eq!(r.name_of(1), Some(&n("alice")));
    assert!(r.lookup(&n("alice")).is_some_and(|m| m.online));
    // Once the first is gone, the name is free again.
    r.disconnect(1, T0);
    assert!(matches!(
        *hello(&mut r, 3, "alice", &[]).pushes[0].1,
        TrackerToPeer::Welcome { .. }
    ));
}

#[test]
fn second_hello_on_one_connection_closes_it() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &[]);
    let out = hello(&mut r, 1, "bob", &[]);
    assert_eq!(out.close, Some(1));
    let out = r.apply(
        1,
        PeerToTracker::Hello {
            version: PROTOCOL_VERSION,
            name: n("alice"),
            listen_port: 1,
            groups: vec![],
        },
    );
    assert_eq!(out.close, Some(1));
}

#[test]
fn request_before_hello_is_refused() {
    let mut r = registry();
    let out = join(&mut r, 5, "rust");
    assert_eq!(out.close, Some(5));
    assert!(r.groups().is_empty());
}

#[test]
fn versions_increase_on_every_change() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]); // 1
    hello(&mut r, 2, "bob", &["rust"]); // 2
    r.disconnect(2, T0); // 3
    hello(&mut r, 3, "bob", &[]); // 4
    r.apply(
        3,
        PeerToTracker::Leave {
            req: None,
            group: g("rust"),
        },
    ); // 5
    assert_eq!(r.groups()[&g("rust")].version, 5);
}

#[test]
fn lookup_online_offline_unknown() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    hello(&mut r, 3, "carol", &[]);
    let look = |r: &mut Registry, who: &str| match Arc::unwrap_or_clone(
        r.apply(
            1,
            PeerToTracker::Lookup {
                req: None,
                name: n(who),
            },
        )
        .pushes
        .remove(0)
        .1,
    ) {
        TrackerToPeer::LookupResult { member, .. } => member,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        look(&mut r, "carol").map(|m| (m.addr, m.online)),
        Some((addr(3), true))
    );
    r.disconnect(2, T0);
    assert_eq!(
        look(&mut r, "bob").map(|m| (m.addr, m.online)),
        Some((addr(2), false))
    );
    assert_eq!(look(&mut r, "zed"), None);
}

#[test]
fn snapshot_of_a_group_not_in_is_not_member() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &[]);
    hello(&mut r, 2, "bob", &["rust"]);
    let out = r.apply(
        1,
        PeerToTracker::Snapshot {
            req: None,
            group: g("rust"),
        },
    );
    assert!(matches!(
        plain(&out).as_slice(),
        [(
            1,
            TrackerToPeer::Error {
                code: ErrorCode::NotMember,
                ..
            }
        )]
    ));
}

#[test]
fn state_survives_restart_with_everyone_offline() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust", "go"]);
    hello(&mut r, 2, "bob", &["rust"]);
    let state = r.durable().to_state();
    let mut r = Registry::new(state, 10);
    assert!(r.lookup(&n("alice")).is_some_and(|m| !m.online));
    let out = hello(&mut r, 9, "alice", &[]);
    // Alice gets snapshots of both groups she was in, bob is offline in rust; every
    // version moved up by the margin on load, then by alice coming online.
    let snaps: Vec<_> = out
        .pushes
        .iter()
        .filter(|(c, f)| *c == 9 && matches!(&**f, TrackerToPeer::Members { .. }))
        .map(|(_, f)| members_of(f))
        .collect();
    assert_eq!(
        snaps,
        vec![
            (VERSION_MARGIN + 2, vec![("alice".into(), true)]),
            (
                VERSION_MARGIN + 3,
                vec![("alice".into(), true), ("bob".into(), false)]
            ),
        ]
    );
}

#[test]
fn hello_rebuilds_lost_state_from_peers() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust", "rust"]);
    let out = hello(&mut r, 2, "bob", &["rust"]);
    assert_eq!(out.save, Save::Now);
    assert_eq!(update_to(&out, 1).0, 2);
    let to_bob: Vec<_> = out.pushes.iter().filter(|(c, _)| *c == 2).collect();
    assert_eq!(
        members_of(&to_bob[1].1),
        (2, vec![("alice".into(), true), ("bob".into(), true)])
    );
}

#[test]
fn first_hello_binds_the_name_to_its_key_durably() {
    let mut r = registry();
    let out = hello(&mut r, 1, "alice", &[]);
    assert_eq!(out.save, Save::Now, "a new binding must be persisted");
    assert_eq!(r.key_of(&n("alice")), Some(&key("alice")));
    assert_eq!(r.keys().len(), 1);
    r.disconnect(1, T0);
    // Coming back with the same key binds nothing new; only its last seen time goes.
    let out = hello(&mut r, 2, "alice", &[]);
    assert_eq!(out.save, Save::Soon);
    assert!(matches!(*out.pushes[0].1, TrackerToPeer::Welcome { .. }));
}

#[test]
fn members_and_lookups_carry_the_bound_key() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    let out = hello(&mut r, 2, "bob", &["rust"]);
    let snapshot = out
        .pushes
        .iter()
        .find_map(|(c, f)| match &**f {
            TrackerToPeer::Members { members, .. } if *c == 2 => Some(members.clone()),
            _ => None,
        })
        .expect("snapshot");
    let keys: Vec<_> = snapshot
        .iter()
        .map(|m| (m.name.to_string(), m.key))
        .collect();
    assert_eq!(
        keys,
        vec![("alice".into(), key("alice")), ("bob".into(), key("bob"))]
    );
    r.disconnect(1, T0);
    assert_eq!(
        r.lookup(&n("alice")).map(|m| (m.online, m.key)),
        Some((false, key("alice")))
    );
}

#[test]
fn another_key_is_refused_the_name_while_owner_online_or_offline() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    let refused = TrackerToPeer::Error {
        req: None,
        code: ErrorCode::NameOwned,
        message: "name 'alice' belongs to another key".into(),
    };
    // Owner online: the key check comes before the live-name check.
    let out = hello_as(&mut r, 2, "alice", key("mallory"), &["evil"]);
    assert_eq!(out.close, Some(2));
    assert_eq!(plain(&out), vec![(2, refused.clone())]);
    assert_eq!(out.save, Save::Nothing);
    r.disconnect(2, T0);
    // Owner offline: still refused, nothing about alice changes.
    r.disconnect(1, T0);
    let out = hello_as(&mut r, 3, "alice", key("mallory"), &[]);
    assert_eq!(out.close, Some(3));
    assert_eq!(plain(&out), vec![(3, refused)]);
    assert_eq!(r.name_of(3), None);
    assert!(
        r.lookup(&n("alice"))
            .is_some_and(|m| !m.online && m.key == key("alice"))
    );
    assert!(!r.groups().contains_key(&g("evil")));
    // The refused connection cannot act at all.
    assert_eq!(join(&mut r, 3, "rust").close, Some(3));
    // The owner still can.
    assert!(matches!(
        *hello(&mut r, 4, "alice", &[]).pushes[0].1,
        TrackerToPeer::Welcome { .. }
    ));
}

#[test]
fn one_key_may_hold_several_names_but_each_name_one_key() {
    let mut r = registry();
    hello_as(&mut r, 1, "alice", key("alice"), &[]);
    let out = hello_as(&mut r, 2, "alice2", key("alice"), &[]);
    assert!(matches!(*out.pushes[0].1, TrackerToPeer::Welcome { .. }));
    assert_eq!(r.key_of(&n("alice2")), Some(&key("alice")));
}

#[test]
fn leave_acts_only_for_the_connections_own_name() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    // Bob's leave takes bob out, never alice.
    let out = r.apply(
        2,
        PeerToTracker::Leave {
            req: None,
            group: g("rust"),
        },
    );
    assert_eq!(update_to(&out, 1).1, MemberChange::Left { name: n("bob") });
    assert!(r.groups()[&g("rust")].members.contains_key(&n("alice")));
    // A second leave from bob is not-member, alice stays.
    let out = r.apply(
        2,
        PeerToTracker::Leave {
            req: None,
            group: g("rust"),
        },
    );
    assert!(matches!(
        *out.pushes[0].1,
        TrackerToPeer::Error {
            code: ErrorCode::NotMember,
            ..
        }
    ));
    assert!(r.groups()[&g("rust")].members.contains_key(&n("alice")));
}

#[test]
fn bindings_survive_restart_and_still_refuse_other_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tracker.json");
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "carol", &[]);
    let bytes = crate::state_file::encode(r.durable()).expect("encode");
    crate::state_file::write_atomic(&path, &bytes).expect("write");
    let state = crate::state_file::load(&path).expect("load");
    assert_eq!(state.keys.len(), 2);
    let mut r = Registry::new(state, 10);
    assert_eq!(r.key_of(&n("carol")), Some(&key("carol")));
    // Carol is in no group but still owns her name.
    let out = hello_as(&mut r, 3, "carol", key("mallory"), &[]);
    assert_eq!(out.close, Some(3));
    let out = hello(&mut r, 4, "alice", &[]);
    assert!(matches!(*out.pushes[0].1, TrackerToPeer::Welcome { .. }));
}

#[test]
fn members_without_a_binding_are_dropped_on_load() {
    let mut state = State::default();
    let mut group = GroupState::default();
    group.members.insert(n("old"), addr(1));
    group.members.insert(n("alice"), addr(2));
    state.groups.insert(g("rust"), group);
    state.keys.insert(n("alice"), key("alice"));
    let r = Registry::new(state, 10);
    let names: Vec<_> = r.groups()[&g("rust")].members.keys().cloned().collect();
    assert_eq!(names, vec![n("alice")]);
    assert_eq!(r.lookup(&n("old")), None);
}

fn capped(groups: usize, names: usize, members_per_group: usize) -> Registry {
    Registry::with_caps(
        State::default(),
        10,
        Caps {
            groups,
            names,
            members_per_group,
        },
    )
}

fn refused_code(out: &Outcome, conn: ConnId) -> Option<ErrorCode> {
    out.pushes.iter().find_map(|(c, f)| match &**f {
        TrackerToPeer::Error { code, .. } if *c == conn => Some(*code),
        _ => None,
    })
}

#[test]
fn presence_is_saved_soon_and_membership_now() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    let out = r.disconnect(2, T0);
    assert_eq!((out.save, out.bumps), (Save::Soon, 1));
    // Back online with no new group: presence only.
    let out = hello(&mut r, 3, "bob", &[]);
    assert_eq!((out.save, out.bumps), (Save::Soon, 1));
    // Back online and naming a new group: the join makes it durable now.
    r.disconnect(3, T0);
    let out = hello(&mut r, 4, "bob", &["go"]);
    assert_eq!((out.save, out.bumps), (Save::Now, 2));
}

#[test]
fn the_group_cap_refuses_new_groups_but_not_existing_ones() {
    let mut r = capped(2, 100, 100);
    hello(&mut r, 1, "alice", &["a", "b"]);
    let out = join(&mut r, 1, "c");
    assert_eq!(out.close, None, "the link stays");
    assert_eq!(refused_code(&out, 1), Some(ErrorCode::Refused));
    assert_eq!(out.save, Save::Nothing);
    assert!(!r.groups().contains_key(&g("c")));
    // An existing group can still be joined.
    hello(&mut r, 2, "bob", &[]);
    assert_eq!(join(&mut r, 2, "a").save, Save::Now);
    // A hello naming a group past the cap gets its welcome and an error for that group.
    let out = hello(&mut r, 3, "carol", &["b", "d"]);
    assert!(matches!(*out.pushes[0].1, TrackerToPeer::Welcome { .. }));
    assert_eq!(refused_code(&out, 3), Some(ErrorCode::Refused));
    assert_eq!(out.close, None);
    assert!(r.groups()[&g("b")].members.contains_key(&n("carol")));
    assert!(!r.groups().contains_key(&g("d")));
}

#[test]
fn the_member_cap_refuses_joins_of_a_full_group() {
    let mut r = capped(100, 100, 2);
    hello(&mut r, 1, "alice", &["full"]);
    hello(&mut r, 2, "bob", &["full"]);
    hello(&mut r, 3, "carol", &[]);
    let out = join(&mut r, 3, "full");
    assert_eq!(refused_code(&out, 3), Some(ErrorCode::Refused));
    let message = format!("{:?}", out.pushes);
    assert!(message.contains("maximum of 2 members"), "{message}");
    assert_eq!(r.groups()[&g("full")].members.len(), 2);
    // Once someone leaves there is room.
    r.apply(
        2,
        PeerToTracker::Leave {
            req: None,
            group: g("full"),
        },
    );
    assert_eq!(join(&mut r, 3, "full").save, Save::Now);
}

#[test]
fn the_name_cap_refuses_new_names_but_not_known_ones() {
    let mut r = capped(100, 2, 100);
    hello(&mut r, 1, "alice", &[]);
    hello(&mut r, 2, "bob", &[]);
    let out = hello(&mut r, 3, "carol", &["g"]);
    assert_eq!(out.close, Some(3));
    assert_eq!(refused_code(&out, 3), Some(ErrorCode::Refused));
    assert_eq!(r.key_of(&n("carol")), None);
    assert!(r.groups().is_empty());
    // Known names still come back.
    r.disconnect(1, T0);
    assert!(matches!(
        *hello(&mut r, 4, "alice", &[]).pushes[0].1,
        TrackerToPeer::Welcome { .. }
    ));
}

#[test]
fn a_group_is_forgotten_when_its_last_member_leaves() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    let out = r.apply(
        1,
        PeerToTracker::Leave {
            req: None,
            group: g("rust"),
        },
    );
    assert_eq!(out.save, Save::Now);
    assert!(plain(&out).contains(&(
        1,
        TrackerToPeer::Left {
            req: None,
            group: g("rust"),
            by: None,
            reason: None,
            disbanded: false,
            action: None,
        }
    )));
    assert!(r.groups().is_empty());
    // Offline members keep a group alive.
    hello(&mut r, 2, "bob", &["go"]);
    r.disconnect(2, T0);
    assert!(r.groups().contains_key(&g("go")));
}

#[test]
fn hello_cost_counts_new_names_and_new_joins_only() {
    let mut r = registry();
    let groups = [g("a"), g("b"), g("b")];
    assert_eq!(
        r.hello_cost(1, &n("alice"), &key("alice"), &groups),
        Some(HelloCost {
            new_name: true,
            new_joins: 2
        })
    );
    hello(&mut r, 1, "alice", &["a"]);
    // Refused anyway: a live name, another key's name, a second hello.
    assert_eq!(r.hello_cost(2, &n("alice"), &key("alice"), &groups), None);
    assert_eq!(r.hello_cost(2, &n("alice"), &key("mallory"), &groups), None);
    assert_eq!(r.hello_cost(1, &n("x"), &key("x"), &groups), None);
    r.disconnect(1, T0);
    assert_eq!(
        r.hello_cost(2, &n("alice"), &key("alice"), &groups),
        Some(HelloCost {
            new_name: false,
            new_joins: 1
        })
    );
}

#[test]
fn loading_moves_every_version_up_by_the_margin() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    r.disconnect(2, T0);
    // Version 3 was pushed (bob offline); say the crash lost it and only 2 was saved.
    let mut state = r.durable().to_state();
    if let Some(group) = state.groups.get_mut(&g("rust")) {
        group.version = 2;
    }
    let mut r = Registry::new(state, 10);
    let out = hello(&mut r, 3, "alice", &[]);
    let (version, _) = members_of(&out.pushes[1].1);
    assert_eq!(version, 2 + VERSION_MARGIN + 1);
    assert!(version > 3);
}

#[path = "registry_presence_tests.rs"]
mod presence;

#[path = "registry_govern_tests.rs"]
mod govern;

#[cfg(test)]
#[path = "registry_index_tests.rs"]
mod index_and_requests;

#[test]
fn a_change_goes_to_every_member_as_one_shared_frame() {
    let mut r = registry();
    for (conn, name) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        hello(&mut r, conn, name, &["rust"]);
    }
    let out = hello(&mut r, 4, "dave", &["rust"]);
    let updates: Vec<&Arc<TrackerToPeer>> = out
        .pushes
        .iter()
        .filter(|(conn, _)| *conn != 4)
        .map(|(_, frame)| frame)
        .collect();
    assert_eq!(updates.len(), 3, "one update to each other member");
    assert!(updates.iter().all(|f| Arc::ptr_eq(f, updates[0])));
    assert!(matches!(
        &**updates[0],
        TrackerToPeer::MemberUpdate {
            change: MemberChange::Joined { .. },
            ..
        }
    ));
}

#[path = "registry_lookalike_tests.rs"]
mod lookalikes;
