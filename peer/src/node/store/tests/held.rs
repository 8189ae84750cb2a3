//! What the store says it holds at the start, for authors who write both privately and
//! in groups: the private seqs are what the author's unique index holds beyond the group
//! rows (`read.rs`, `held`), so a mix of both must come back exactly as stored.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;

/// Where a message goes: privately (to us, or ours to bob) or to one of two groups.
#[derive(Debug, Clone, Copy)]
enum Place {
    Private,
    Group(&'static str),
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        Just(Place::Private),
        Just(Place::Group("g")),
        Just(Place::Group("h")),
    ]
}

/// One stored message: its author (0 alice, 1 carol, 2 us), its seq and its place.
fn message() -> impl Strategy<Value = (usize, u64, Place)> {
    (0usize..3, 1u64..40, place())
}

fn write_of(author: usize, seq: u64, place: Place) -> Write {
    let us = me();
    let (who, identity) = match author {
        0 => ("alice", identity_for("alice")),
        1 => ("carol", identity_for("carol")),
        _ => ("me", me()),
    };
    match (place, author) {
        (Place::Group(grp), 2) => own(
            chat(&identity, who, seq, Some(grp), "x"),
            Conversation::Group(group(grp)),
            &["alice"],
        ),
        (Place::Group(grp), _) => received(
            chat(&identity, who, seq, Some(grp), "x"),
            Conversation::Group(group(grp)),
            1,
        ),
        (Place::Private, 2) => own(
            private_chat(&identity, who, seq, key("bob"), "x"),
            Conversation::Peer(key("bob")),
            &["bob"],
        ),
        (Place::Private, _) => received(
            private_chat(&identity, who, seq, us.public_key(), "x"),
            Conversation::Peer(identity.public_key()),
            1,
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn held_seqs_come_back_by_author_and_conversation(
        messages in proptest::collection::vec(message(), 0..60)
    ) {
        let dir = tempfile::tempdir().expect("dir");
        let (mut store, _) = open(dir.path());
        // The first of each (author, seq) is stored; a later one is a duplicate.
        let mut model: HashMap<(PublicKey, Option<GroupName>), BTreeSet<u64>> = HashMap::new();
        let mut taken = BTreeSet::new();
        let mut writes = Vec::new();
        for (author, seq, place) in messages {
            if !taken.insert((author, seq)) {
                continue;
            }
            let author_key = match author {
                0 => key("alice"),
                1 => key("carol"),
                _ => me().public_key(),
            };
            let grp = match place {
                Place::Private => None,
                Place::Group(grp) => Some(group(grp)),
            };
            model.entry((author_key, grp)).or_default().insert(seq);
            writes.push(write_of(author, seq, place));
        }
        if !writes.is_empty() {
            write(&mut store, writes);
        }
        drop(store);
        let (_, loaded) = open(dir.path());
        let held: HashMap<_, BTreeSet<u64>> = loaded
            .held
            .iter()
            .map(|(k, set)| {
                let seqs = set.ranges().into_iter().flat_map(|(a, b)| a..=b).collect();
                (k.clone(), seqs)
            })
            .collect();
        prop_assert_eq!(held, model);
    }
}

/// A file of schema V5 (every message in every conversation index) comes through step 6
/// with what it holds: the same seqs held, the same history, and the indexes partial.
#[test]
fn a_file_of_schema_v5_keeps_what_it_holds_across_the_upgrade() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    write(
        &mut store,
        vec![
            write_of(0, 1, Place::Private),
            write_of(0, 2, Place::Group("g")),
            write_of(0, 3, Place::Private),
            write_of(2, 1, Place::Group("g")),
            write_of(2, 2, Place::Private),
        ],
    );
    drop(store);
    {
        let conn = rusqlite::Connection::open(dir.path().join(FILE_NAME)).expect("db");
        conn.execute_batch(
            "DROP INDEX messages_by_group; DROP INDEX messages_by_peer; \
             DROP INDEX messages_by_author; \
             CREATE INDEX messages_by_group ON messages (grp, num); \
             CREATE INDEX messages_by_peer ON messages (peer_key, num); \
             CREATE INDEX messages_by_author ON messages (grp, author_key, seq, stored_at); \
             PRAGMA user_version = 5;",
        )
        .expect("back to V5");
    }
    let (mut store, loaded) = open(dir.path());
    let held =
        |k: PublicKey, grp: Option<GroupName>| loaded.held.get(&(k, grp)).map(RangeSet::ranges);
    assert_eq!(held(key("alice"), None), Some(vec![(1, 1), (3, 3)]));
    assert_eq!(held(key("alice"), Some(group("g"))), Some(vec![(2, 2)]));
    assert_eq!(
        held(me().public_key(), Some(group("g"))),
        Some(vec![(1, 1)])
    );
    assert_eq!(held(me().public_key(), None), Some(vec![(2, 2)]));
    assert_eq!(loaded.held.len(), 4);
    assert_eq!(
        history(&mut store, Conversation::Peer(key("alice")), 10).len(),
        2
    );
    assert_eq!(history(&mut store, g(), 10).len(), 2);
    assert_eq!(
        history(&mut store, Conversation::Peer(key("bob")), 10).len(),
        1
    );
    let partial: i64 = store
        .connection()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN \
             ('messages_by_group', 'messages_by_peer', 'messages_by_author') \
             AND sql LIKE '%WHERE%'",
            [],
            |row| row.get(0),
        )
        .expect("indexes");
    assert_eq!(partial, 3);
}
