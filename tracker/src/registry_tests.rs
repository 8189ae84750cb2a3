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

fn registry() -> Registry {
    Registry::new(State::default(), 10)
}

/// Registers `name` on connection `conn` at port `conn` with `groups`.
fn hello(r: &mut Registry, conn: ConnId, name: &str, groups: &[&str]) -> Outcome {
    let port = u16::try_from(conn).expect("port");
    r.hello(
        conn,
        n(name),
        addr(port),
        groups.iter().map(|s| g(s)).collect(),
    )
}

fn join(r: &mut Registry, conn: ConnId, group: &str) -> Outcome {
    r.apply(conn, PeerToTracker::Join { group: g(group) })
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
        [
            (
                _,
                TrackerToPeer::MemberUpdate {
                    version, change, ..
                },
            ),
        ] => (*version, change.clone()),
        other => panic!("expected one update to {conn}, got {other:?}"),
    }
}

#[test]
fn hello_gets_welcome_with_address() {
    let mut r = registry();
    let out = hello(&mut r, 1, "alice", &[]);
    assert_eq!(
        out.pushes,
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
    assert!(!out.changed);
    assert_eq!(out.close, None);
}

#[test]
fn join_sends_snapshot_to_joiner_and_delta_to_others() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &[]);
    hello(&mut r, 2, "bob", &[]);
    let out = join(&mut r, 1, "rust");
    assert!(out.changed);
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
                online: true
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
    assert!(!out.changed);
    assert_eq!(members_of(&out.pushes[0].1).0, 1);
}

#[test]
fn leave_confirms_and_tells_others() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    let out = r.apply(2, PeerToTracker::Leave { group: g("rust") });
    assert!(out.changed);
    assert!(
        out.pushes
            .contains(&(2, TrackerToPeer::Left { group: g("rust") }))
    );
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
    let out = r.apply(1, PeerToTracker::Leave { group: g("rust") });
    assert!(!out.changed);
    assert_eq!(out.close, None);
    assert!(matches!(
        out.pushes.as_slice(),
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
    let out = r.disconnect(2);
    assert!(out.changed);
    assert_eq!(
        update_to(&out, 1),
        (3, MemberChange::Offline { name: n("bob") })
    );
    let snap = r.apply(1, PeerToTracker::Snapshot { group: g("rust") });
    assert_eq!(
        members_of(&snap.pushes[0].1),
        (3, vec![("alice".into(), true), ("bob".into(), false)])
    );
    // A second disconnect of the same connection is a no-op.
    assert_eq!(r.disconnect(2), Outcome::default());
}

#[test]
fn coming_back_is_online_at_new_address() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    r.disconnect(2);
    let out = hello(&mut r, 7, "bob", &[]);
    let (version, change) = update_to(&out, 1);
    assert_eq!(version, 4);
    assert_eq!(
        change,
        MemberChange::Online {
            member: Member {
                name: n("bob"),
                addr: addr(7),
                online: true
            }
        }
    );
    // Bob gets welcome, then the snapshot of the group he was already in.
    let to_bob: Vec<_> = out.pushes.iter().filter(|(c, _)| *c == 7).collect();
    assert!(matches!(to_bob[0].1, TrackerToPeer::Welcome { .. }));
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
        out.pushes,
        vec![(
            2,
            TrackerToPeer::Error {
                code: ErrorCode::NameTaken,
                message: "name 'alice' is already in use".into(),
            }
        )]
    );
    // The refused connection's end does not take the name from the live one.
    assert_eq!(r.disconnect(2), Outcome::default());
    assert_eq!(r.name_of(1), Some(&n("alice")));
    assert!(r.lookup(&n("alice")).is_some_and(|m| m.online));
    // Once the first is gone, the name is free again.
    r.disconnect(1);
    assert!(matches!(
        hello(&mut r, 3, "alice", &[]).pushes[0].1,
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
    r.disconnect(2); // 3
    hello(&mut r, 3, "bob", &[]); // 4
    r.apply(3, PeerToTracker::Leave { group: g("rust") }); // 5
    assert_eq!(r.groups()[&g("rust")].version, 5);
}

#[test]
fn lookup_online_offline_unknown() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    hello(&mut r, 3, "carol", &[]);
    let look = |r: &mut Registry, who: &str| match r
        .apply(1, PeerToTracker::Lookup { name: n(who) })
        .pushes
        .remove(0)
        .1
    {
        TrackerToPeer::LookupResult { member, .. } => member,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        look(&mut r, "carol").map(|m| (m.addr, m.online)),
        Some((addr(3), true))
    );
    r.disconnect(2);
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
    let out = r.apply(1, PeerToTracker::Snapshot { group: g("rust") });
    assert!(matches!(
        out.pushes.as_slice(),
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
    let state = State {
        groups: r.groups().clone(),
    };
    let mut r = Registry::new(state, 10);
    assert!(r.lookup(&n("alice")).is_some_and(|m| !m.online));
    let out = hello(&mut r, 9, "alice", &[]);
    // Alice gets snapshots of both groups she was in, bob is offline in rust.
    let snaps: Vec<_> = out
        .pushes
        .iter()
        .filter(|(c, f)| *c == 9 && matches!(f, TrackerToPeer::Members { .. }))
        .map(|(_, f)| members_of(f))
        .collect();
    assert_eq!(
        snaps,
        vec![
            (2, vec![("alice".into(), true)]),
            (3, vec![("alice".into(), true), ("bob".into(), false)]),
        ]
    );
}

#[test]
fn hello_rebuilds_lost_state_from_peers() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust", "rust"]);
    let out = hello(&mut r, 2, "bob", &["rust"]);
    assert!(out.changed);
    assert_eq!(update_to(&out, 1).0, 2);
    let to_bob: Vec<_> = out.pushes.iter().filter(|(c, _)| *c == 2).collect();
    assert_eq!(
        members_of(&to_bob[1].1),
        (2, vec![("alice".into(), true), ("bob".into(), true)])
    );
}
