//! Names and groups compare case-insensitively, and a new name or group that looks like
//! one already there is refused (see `crate::confusable`).

use super::*;

/// The error `conn` got, with its message.
fn refusal(out: &Outcome, conn: ConnId) -> Option<(ErrorCode, String)> {
    out.pushes.iter().find_map(|(c, f)| match &**f {
        TrackerToPeer::Error { code, message, .. } if *c == conn => Some((*code, message.clone())),
        _ => None,
    })
}

fn welcomed(out: &Outcome, conn: ConnId) -> bool {
    out.pushes
        .iter()
        .any(|(c, f)| *c == conn && matches!(**f, TrackerToPeer::Welcome { .. }))
}

#[test]
fn another_spelling_of_a_bound_name_is_that_name() {
    let mut r = registry();
    hello(&mut r, 1, "bob", &["rust"]);
    // "Bob" from another key is bob's name: owned, and the plain refusal says so.
    let out = hello_as(&mut r, 2, "Bob", key("mallory"), &["rust"]);
    assert_eq!(out.close, Some(2));
    let (code, message) = refusal(&out, 2).expect("refused");
    assert_eq!(code, ErrorCode::NameOwned);
    assert!(message.contains("belongs to another key"), "{message}");
    // Bob himself, typing his name in capitals, is bob (taken while he is online).
    r.disconnect(1, T0);
    let out = hello_as(&mut r, 3, "BOB", key("bob"), &[]);
    assert!(welcomed(&out, 3));
    let found = r.lookup(&n("bob")).expect("online");
    assert_eq!(found.key, key("bob"));
    // Under the spelling it was registered with.
    assert_eq!(found.name.as_str(), "bob");
    assert_eq!(r.name_of(3).map(Name::as_str), Some("bob"));
}

#[test]
fn a_look_alike_of_a_bound_name_is_refused() {
    let mut r = registry();
    hello(&mut r, 1, "bob", &[]);
    hello(&mut r, 2, "alice", &[]);
    for (conn, fake) in [
        (3, "B0b"),
        (4, "b0b"),
        (5, "bob_"),
        (6, "aIice"),
        (7, "a1ice"),
    ] {
        assert_eq!(r.hello_cost(conn, &n(fake), &key("mallory"), &[]), None);
        let out = hello_as(&mut r, conn, fake, key("mallory"), &["rust"]);
        assert_eq!(out.close, Some(conn), "{fake}");
        let (code, message) = refusal(&out, conn).expect("refused");
        assert_eq!(code, ErrorCode::NameOwned, "{fake}");
        assert!(message.contains("too much like"), "{message}");
        assert_eq!(r.key_of(&n(fake)), None, "{fake} was bound");
    }
    assert!(r.groups().is_empty());
    assert_eq!(r.keys().len(), 2);
    // A name that only shares letters is fine.
    let out = hello_as(&mut r, 8, "bobby", key("mallory"), &[]);
    assert!(welcomed(&out, 8));
}

#[test]
fn a_look_alike_is_the_same_owners_to_take() {
    let mut r = registry();
    hello(&mut r, 1, "bob", &[]);
    let out = hello_as(&mut r, 2, "b0b", key("bob"), &[]);
    assert!(welcomed(&out, 2));
    // And bob's own name stays his, whatever else was bound.
    r.disconnect(1, T0);
    let out = hello(&mut r, 3, "bob", &[]);
    assert!(welcomed(&out, 3));
}

#[test]
fn look_alikes_bound_before_the_rule_still_work_after_a_restart() {
    // A state file from before: bob and b0b, two keys.
    let mut state = State::default();
    state.keys.insert(n("bob"), key("bob"));
    state.keys.insert(n("b0b"), key("b0b"));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tracker.json");
    let bytes = crate::state_file::encode(state.borrowed()).expect("encode");
    crate::state_file::write_atomic(&path, &bytes).expect("write");
    let mut r = Registry::new(crate::state_file::load(&path).expect("load"), 10);
    assert!(welcomed(&hello(&mut r, 1, "bob", &[]), 1));
    assert!(welcomed(&hello(&mut r, 2, "b0b", &[]), 2));
    // A third look-alike is refused: the loaded bindings are indexed.
    let out = hello_as(&mut r, 3, "B0B_", key("mallory"), &[]);
    assert_eq!(refusal(&out, 3).map(|(c, _)| c), Some(ErrorCode::NameOwned));
}

#[test]
fn groups_are_one_in_any_case_and_keep_the_first_spelling() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["MixedCase"]);
    let out = hello(&mut r, 2, "bob", &["mixedcase"]);
    assert_eq!(refusal(&out, 2), None);
    assert_eq!(r.groups().len(), 1);
    let (group, state) = r.groups().iter().next().expect("one group");
    assert_eq!(group.as_str(), "MixedCase");
    assert_eq!(state.members.len(), 2);
}

#[test]
fn a_look_alike_of_an_existing_group_is_not_created() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    hello(&mut r, 2, "bob", &[]);
    // r + Greek upsilon + st, and with a trailing underscore.
    for fake in ["r\u{3c5}st", "rust_"] {
        let out = join(&mut r, 2, fake);
        let (code, message) = refusal(&out, 2).expect("refused");
        assert_eq!(code, ErrorCode::Refused);
        assert!(message.contains("#rust"), "{message}");
        assert_eq!(out.close, None);
        assert_eq!(r.groups().len(), 1);
    }
    // In a hello too, where the other groups still go through.
    r.disconnect(2, T0);
    let out = hello(&mut r, 3, "bob", &["Ru5t", "go"]);
    assert_eq!(refusal(&out, 3).map(|(c, _)| c), Some(ErrorCode::Refused));
    let names: Vec<&str> = r.groups().keys().map(GroupName::as_str).collect();
    assert_eq!(names, ["go", "rust"]);
    // Joining the group itself, in any case, is fine.
    assert_eq!(refusal(&join(&mut r, 3, "RUST"), 3), None);
}

#[test]
fn a_group_that_is_gone_frees_its_look_alikes() {
    let mut r = registry();
    hello(&mut r, 1, "alice", &["rust"]);
    r.apply(
        1,
        PeerToTracker::Leave {
            req: None,
            group: g("rust"),
        },
    );
    assert!(r.groups().is_empty());
    assert_eq!(refusal(&join(&mut r, 1, "ru5t"), 1), None);
    assert_eq!(r.groups().len(), 1);
}
