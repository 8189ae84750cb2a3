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
