//! Presence: when an offline member was last seen, and status lines (set, cleared,
//! refused, pushed to every group of the member, kept in the state file).

use natter_protocol::govern::Role;
use natter_protocol::tracker::MAX_STATUS_CHARS;

use super::*;

fn set_status(r: &mut Registry, conn: ConnId, status: Option<&str>, req: RequestId) -> Outcome {
    r.apply(
        conn,
        PeerToTracker::SetStatus {
            status: status.map(str::to_owned),
            req: Some(req),
        },
    )
}

fn snapshot(r: &mut Registry, conn: ConnId, group: &str) -> Vec<Member> {
    let out = r.apply(
        conn,
        PeerToTracker::Snapshot {
            group: g(group),
            req: None,
        },
    );
    match &*out.pushes[0].1 {
        TrackerToPeer::Members { members, .. } => members.clone(),
        other => panic!("expected members, got {other:?}"),
    }
}

fn listed<'a>(members: &'a [Member], name: &str) -> &'a Member {
    members
        .iter()
        .find(|m| m.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} not listed in {members:?}"))
}

#[test]
fn going_offline_records_last_seen_and_coming_back_clears_it() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    assert_eq!(listed(&snapshot(&mut r, 1, "rust"), "bob").last_seen, None);

    let out = r.disconnect(2, T0);
    assert_eq!(
        update_to(&out, 1).1,
        MemberChange::Offline {
            name: n("bob"),
            last_seen: Some(T0)
        }
    );
    let bob = listed(&snapshot(&mut r, 1, "rust"), "bob").clone();
    assert!(!bob.online);
    assert_eq!(bob.last_seen, Some(T0));
    assert_eq!(r.lookup(&n("bob")).and_then(|m| m.last_seen), Some(T0));
    assert_eq!(r.durable().last_seen.get(&n("bob")), Some(&T0));

    let out = hello(&mut r, 3, "bob", &[]);
    let MemberChange::Online { member } = update_to(&out, 1).1 else {
        panic!("expected bob online");
    };
    assert_eq!(member.last_seen, None);
    assert_eq!(listed(&snapshot(&mut r, 1, "rust"), "bob").last_seen, None);
    assert_eq!(r.lookup(&n("bob")).and_then(|m| m.last_seen), None);
    assert!(r.durable().last_seen.is_empty());
}

#[test]
fn a_stale_connection_ending_leaves_no_last_seen() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    // Bob's hello on a second connection is refused (the name is live), and that
    // connection ending does not take bob offline.
    assert_eq!(hello(&mut r, 3, "bob", &[]).close, Some(3));
    assert_eq!(r.disconnect(3, T0), Outcome::default());
    assert!(
        r.lookup(&n("bob"))
            .is_some_and(|m| m.online && m.last_seen.is_none())
    );
}

#[test]
fn a_status_goes_to_every_group_of_the_member_and_into_every_list() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust", "go"]);
    hello(&mut r, 3, "carol", &["go"]);
    hello(&mut r, 4, "dave", &[]);

    let out = set_status(&mut r, 2, Some("at lunch"), 9);
    assert_eq!(
        out.save,
        Save::Now,
        "a status is durable before it is pushed"
    );
    assert_eq!(out.close, None);
    // Bob hears of it in each of his groups (his lists stay at their groups' versions),
    // then gets the answer.
    let to_bob: Vec<_> = plain(&out).into_iter().filter(|(c, _)| *c == 2).collect();
    let (go, rust) = (r.groups()[&g("go")].version, r.groups()[&g("rust")].version);
    let MemberChange::Updated { member: bob } = update_to(&out, 1).1 else {
        panic!("expected an update to alice");
    };
    assert_eq!(bob.name, n("bob"));
    assert!(bob.online);
    assert_eq!(bob.status.as_deref(), Some("at lunch"));
    assert_eq!(update_to(&out, 1).0, rust);
    let MemberChange::Updated { member: bob_in_go } = update_to(&out, 3).1 else {
        panic!("expected an update to carol");
    };
    // Bob created #go by joining it first: he owns it, and each list carries his role there.
    let bob_owner = Member {
        role: Role::Owner,
        ..bob.clone()
    };
    assert_eq!(bob_in_go, bob_owner);
    assert_eq!(update_to(&out, 3).0, go);
    let update = |group: &str, version, member: &Member| TrackerToPeer::MemberUpdate {
        group: g(group),
        version,
        change: MemberChange::Updated {
            member: member.clone(),
        },
    };
    assert_eq!(
        to_bob,
        vec![
            (2, update("go", go, &bob_owner)),
            (2, update("rust", rust, &bob)),
            (
                2,
                TrackerToPeer::StatusSet {
                    status: Some("at lunch".into()),
                    req: Some(9)
                }
            )
        ]
    );
    assert!(
        out.pushes.iter().all(|(c, _)| *c != 4),
        "dave shares no group"
    );

    let bob = listed(&snapshot(&mut r, 1, "rust"), "bob").clone();
    assert_eq!(bob.status.as_deref(), Some("at lunch"));
    assert_eq!(
        listed(&snapshot(&mut r, 3, "go"), "bob").status.as_deref(),
        Some("at lunch")
    );
    assert_eq!(
        r.lookup(&n("bob")).and_then(|m| m.status).as_deref(),
        Some("at lunch")
    );

    // The same line again changes nothing: answered, pushed to nobody.
    let out = set_status(&mut r, 2, Some("at lunch"), 10);
    assert_eq!(out.pushes.len(), 1);
    assert_eq!(out.save, Save::Nothing);

    // Kept while bob is offline.
    r.disconnect(2, T0);
    let bob = listed(&snapshot(&mut r, 1, "rust"), "bob").clone();
    assert_eq!(
        (bob.online, bob.last_seen, bob.status.as_deref()),
        (false, Some(T0), Some("at lunch"))
    );
}

#[test]
fn a_status_is_cleared_by_none_or_an_empty_line() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    for clear in [None, Some("")] {
        set_status(&mut r, 2, Some("busy"), 1);
        let out = set_status(&mut r, 2, clear, 2);
        assert!(plain(&out).contains(&(
            2,
            TrackerToPeer::StatusSet {
                status: None,
                req: Some(2)
            }
        )));
        let MemberChange::Updated { member } = update_to(&out, 1).1 else {
            panic!("expected an update");
        };
        assert_eq!(member.status, None);
        assert_eq!(listed(&snapshot(&mut r, 1, "rust"), "bob").status, None);
        assert!(r.durable().statuses.is_empty());
    }
}

#[test]
fn a_bad_status_is_refused_with_a_clear_error_and_changes_nothing() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    set_status(&mut r, 2, Some("fine"), 1);
    let too_long = "x".repeat(MAX_STATUS_CHARS + 1);
    for (bad, says) in [
        (too_long.as_str(), "at most 100 characters"),
        ("two\nlines", "control characters"),
        ("tab\there", "control characters"),
    ] {
        let out = set_status(&mut r, 2, Some(bad), 7);
        assert_eq!(out.save, Save::Nothing);
        assert_eq!(out.close, None, "a bad status does not cost the link");
        match plain(&out).as_slice() {
            [
                (
                    2,
                    TrackerToPeer::Error {
                        code: ErrorCode::Refused,
                        message,
                        req: Some(7),
                    },
                ),
            ] => assert!(message.contains(says), "{message}"),
            other => panic!("expected one refusal, got {other:?}"),
        }
    }
    // Exactly the limit, in characters rather than bytes, is fine.
    let out = set_status(&mut r, 2, Some(&"é".repeat(MAX_STATUS_CHARS)), 8);
    assert!(matches!(
        *out.pushes.last().expect("answer").1,
        TrackerToPeer::StatusSet { .. }
    ));
}

#[test]
fn last_seen_and_statuses_survive_the_state_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tracker.json");
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &["rust"]);
    set_status(&mut r, 1, Some("reviewing"), 1);
    set_status(&mut r, 2, Some("at lunch"), 2);
    r.disconnect(2, T0);
    let bytes = crate::state_file::encode(r.durable()).expect("encode");
    crate::state_file::write_atomic(&path, &bytes).expect("write");

    let mut r = Registry::new(crate::state_file::load(&path).expect("load"), 10);
    let bob = r.lookup(&n("bob")).expect("bob");
    assert_eq!(
        (bob.online, bob.last_seen, bob.status.as_deref()),
        (false, Some(T0), Some("at lunch"))
    );
    // Alice was online when it was written: nobody knows when she left.
    let alice = r.lookup(&n("alice")).expect("alice");
    assert_eq!(
        (alice.online, alice.last_seen, alice.status.as_deref()),
        (false, None, Some("reviewing"))
    );
    hello(&mut r, 3, "alice", &[]);
    let bob = listed(&snapshot(&mut r, 3, "rust"), "bob").clone();
    assert_eq!(bob.last_seen, Some(T0));
    assert_eq!(bob.status.as_deref(), Some("at lunch"));
}

#[test]
fn a_state_file_from_before_presence_still_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tracker.json");
    let old = format!(
        r#"{{"format":2,"groups":{{"rust":{{"version":4,"members":{{"bob":"10.0.0.1:2"}}}}}},"keys":{{"bob":"{}"}}}}"#,
        key("bob")
    );
    std::fs::write(&path, old).expect("seed");
    let mut r = Registry::new(crate::state_file::load(&path).expect("load"), 10);
    let bob = r.lookup(&n("bob")).expect("bob");
    assert_eq!((bob.online, bob.last_seen, bob.status), (false, None, None));
    hello(&mut r, 1, "alice", &["rust"]);
    let bob = listed(&snapshot(&mut r, 1, "rust"), "bob").clone();
    assert_eq!((bob.last_seen, bob.status), (None, None));
}
