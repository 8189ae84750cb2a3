//! What one more write costs SQLite must not grow with what is already stored: no
//! statement on the path of a message may scan a conversation or an author's messages.
//! A query plan that does (say SQLite choosing a conversation's index over a message id's)
//! shows up here as virtual-machine steps that grow with the history, long before it
//! shows up as time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use natter_protocol::peer::Body;

use super::*;

/// The virtual-machine steps that `writes` cost as one batch, as SQLite's progress
/// handler counts them (it is called at every loop's step, so a scan counts its rows).
fn steps(store: &mut Store, writes: Vec<Write>) -> u64 {
    let counted = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&counted);
    store
        .connection_mut()
        .progress_handler(
            1,
            Some(move || {
                counter.fetch_add(1, Ordering::Relaxed);
                false
            }),
        )
        .expect("count steps");
    write(store, writes);
    store
        .connection_mut()
        .progress_handler(0, None::<fn() -> bool>)
        .expect("stop counting");
    counted.load(Ordering::Relaxed)
}

fn peer(who: &str) -> Conversation {
    Conversation::Peer(key(who))
}

/// `who`'s action (or any body) in a private conversation with us, as its seq.
fn private_body(who: &str, seq: u64, body: Body) -> SignedChat {
    let author = identity_for(who);
    let mut message = chat_message(who, seq, None, "");
    message.key = author.public_key();
    message.to = Some(me().public_key());
    message.body = body;
    signed_chat(&author, message)
}

/// A store holding `n` texts of each kind the writes below meet: alice's to us, carol's
/// in group `g`, ours to bob and ours in `g` (each delivered and read).
fn filled(dir: &Path, n: u64) -> Store {
    let (mut store, _) = open(dir);
    let us = me();
    let mut writes = Vec::new();
    for seq in 1..=n {
        let text = format!("text number {seq}");
        writes.push(received(
            private_chat(&identity_for("alice"), "alice", seq, us.public_key(), &text),
            peer("alice"),
            seq,
        ));
        writes.push(received(from("carol", seq, &text), g(), seq));
        let ours = 2 * seq - 1;
        writes.push(own(
            private_chat(&us, "me", ours, key("bob"), &text),
            peer("bob"),
            &["bob"],
        ));
        writes.push(own(
            chat(&us, "me", ours + 1, Some("g"), &text),
            g(),
            &["carol"],
        ));
        writes.push(Write::Delivered {
            seq: ours,
            to: key("bob"),
        });
        writes.push(Write::Delivered {
            seq: ours + 1,
            to: key("carol"),
        });
    }
    // Bob and carol have read all of ours.
    writes.push(received(
        private_body(
            "bob",
            1,
            Body::Read {
                group: None,
                up_to: 2 * n - 1,
            },
        ),
        peer("bob"),
        n,
    ));
    writes.push(received(
        body_from(
            "carol",
            n + 50,
            Body::Read {
                group: Some(group("g")),
                up_to: 2 * n,
            },
        ),
        g(),
        n,
    ));
    for batch in writes.chunks(300) {
        write(&mut store, batch.to_vec());
    }
    store
}

/// One of each write a message or an action brings, after `n` of each were stored; the
/// steps each cost, by name.
fn one_more_of_each(n: u64) -> Vec<(&'static str, u64)> {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = filled(dir.path(), n);
    let us = me();
    let next = n + 1;
    let ours = 2 * n + 1;
    let alice_last: natter_protocol::peer::MessageId = format!("alice/{n}").parse().expect("id");
    let carol_last: natter_protocol::peer::MessageId = format!("carol/{n}").parse().expect("id");
    let cases: Vec<(&'static str, Vec<Write>)> = vec![
        (
            "a private text",
            vec![received(
                private_chat(&identity_for("alice"), "alice", next, us.public_key(), "hi"),
                peer("alice"),
                next,
            )],
        ),
        (
            "a group text",
            vec![received(from("carol", next, "hi"), g(), next)],
        ),
        (
            "a private edit",
            vec![received(
                private_body(
                    "alice",
                    next + 1,
                    Body::Edit {
                        target: alice_last.clone(),
                        text: "edited".into(),
                    },
                ),
                peer("alice"),
                next,
            )],
        ),
        (
            "a group reaction",
            vec![received(
                body_from(
                    "dave",
                    1,
                    Body::React {
                        target: carol_last.clone(),
                        emoji: "👍".into(),
                        on: true,
                    },
                ),
                g(),
                next,
            )],
        ),
        (
            "a group delete",
            vec![received(
                body_from("carol", next + 1, Body::Delete { target: carol_last }),
                g(),
                next,
            )],
        ),
        (
            "a private delete that comes first",
            vec![received(
                private_body(
                    "alice",
                    next + 2,
                    Body::Delete {
                        target: format!("alice/{}", next + 10).parse().expect("id"),
                    },
                ),
                peer("alice"),
                next,
            )],
        ),
        (
            "ours to bob, delivered",
            vec![
                own(
                    private_chat(&us, "me", ours, key("bob"), "hi"),
                    peer("bob"),
                    &["bob"],
                ),
                Write::Delivered {
                    seq: ours,
                    to: key("bob"),
                },
            ],
        ),
        (
            "ours in g, delivered",
            vec![
                own(chat(&us, "me", ours + 1, Some("g"), "hi"), g(), &["carol"]),
                Write::Delivered {
                    seq: ours + 1,
                    to: key("carol"),
                },
            ],
        ),
        (
            "read receipts of ours",
            vec![
                received(
                    private_body(
                        "bob",
                        2,
                        Body::Read {
                            group: None,
                            up_to: ours,
                        },
                    ),
                    peer("bob"),
                    next,
                ),
                received(
                    body_from(
                        "carol",
                        n + 60,
                        Body::Read {
                            group: Some(group("g")),
                            up_to: ours + 1,
                        },
                    ),
                    g(),
                    next,
                ),
            ],
        ),
        (
            "read marks",
            vec![Write::ReadMark(peer("alice")), Write::ReadMark(g())],
        ),
    ];
    cases
        .into_iter()
        .map(|(name, writes)| (name, steps(&mut store, writes)))
        .collect()
}

#[test]
fn a_write_costs_the_same_however_long_the_history() {
    let short = one_more_of_each(20);
    let long = one_more_of_each(600);
    for ((name, few), (_, many)) in short.iter().zip(&long) {
        // A scan would add some 580 steps; a B-tree one level deeper, none.
        assert!(
            *many <= few + few / 4 + 20,
            "{name}: {few} steps after 20 of each, {many} after 600"
        );
    }
}
