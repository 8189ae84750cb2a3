//! Actions in the store: edits, deletes, reactions and read receipts on real SQLite.

use natter_protocol::peer::Body;

use super::*;

fn id(s: &str) -> natter_protocol::peer::MessageId {
    s.parse().expect("id")
}

/// Runs `writes` as one batch; what the actions changed.
fn applied(store: &mut Store, writes: Vec<Write>) -> Vec<Applied> {
    let jobs = writes
        .into_iter()
        .enumerate()
        .map(|(i, w)| Job::Write(i as u64, w))
        .collect();
    match store.run(jobs).as_slice() {
        [
            Reply::Written {
                result: Ok(()),
                applied,
                ..
            },
        ] => applied.clone(),
        other => panic!("{other:?}"),
    }
}

fn effects(applied: &[Applied]) -> Vec<String> {
    applied
        .iter()
        .map(|a| match &a.effect {
            crate::node::actions::Effect::Edited { id, text, .. } => format!("edited {id} {text}"),
            crate::node::actions::Effect::Deleted { id, .. } => format!("deleted {id}"),
            crate::node::actions::Effect::Reacted { id, emoji, on, .. } => {
                format!("reacted {id} {emoji} {on}")
            }
        })
        .collect()
}

/// How many stored rows still hold `text` anywhere (the text column or the signed copy).
fn rows_holding(store: &Store, text: &str) -> i64 {
    let pattern = format!("%{text}%");
    store
        .connection()
        .query_row(
            "SELECT count(*) FROM messages WHERE text LIKE ?1 OR chat LIKE ?1",
            [pattern],
            |row| row.get(0),
        )
        .expect("count")
}

#[test]
fn edits_reactions_and_a_delete_that_erases_the_text_everywhere() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    write(
        &mut store,
        vec![Write::MemberSince {
            group: group("g"),
            member: key("carol"),
            at: 0,
        }],
    );
    write(
        &mut store,
        vec![received(from("bob", 1, "secret plan"), g(), 10)],
    );
    let edit = Body::Edit {
        target: id("bob/1"),
        text: "secret plan v2".into(),
    };
    let react = Body::React {
        target: id("bob/1"),
        emoji: "👍".into(),
        on: true,
    };
    let done = applied(
        &mut store,
        vec![
            received(body_from("bob", 2, edit), g(), 11),
            received(body_from("carol", 1, react), g(), 11),
        ],
    );
    assert_eq!(
        effects(&done),
        vec!["edited bob/1 secret plan v2", "reacted bob/1 👍 true"]
    );
    let entries = history(&mut store, g(), 10);
    assert_eq!(entries.len(), 1, "actions are not history lines");
    assert_eq!(entries[0].text, "secret plan v2");
    assert!(entries[0].edited_at.is_some());
    assert_eq!(
        entries[0].reactions,
        vec![("👍".to_owned(), vec![name("carol")])]
    );

    let delete = Body::Delete {
        target: id("bob/1"),
    };
    let done = applied(
        &mut store,
        vec![received(body_from("bob", 3, delete), g(), 12)],
    );
    assert_eq!(effects(&done), vec!["deleted bob/1"]);
    let entries = history(&mut store, g(), 10);
    assert!(entries[0].deleted);
    assert_eq!(entries[0].text, "");
    assert!(entries[0].reactions.is_empty());
    assert_eq!(
        rows_holding(&store, "secret"),
        0,
        "the text is gone, not hidden"
    );
    // A late edit of the deleted message changes nothing, and its text goes too.
    let late = Body::Edit {
        target: id("bob/1"),
        text: "secret again".into(),
    };
    let done = applied(
        &mut store,
        vec![received(body_from("bob", 4, late), g(), 13)],
    );
    assert!(done.is_empty(), "{done:?}");
    assert_eq!(rows_holding(&store, "secret"), 0);
    // A member who syncs gets the delete and the reaction, never the erased rows.
    let (ids, _) = sync(&mut store, "carol", &[], 64);
    assert_eq!(ids, vec!["bob/3", "carol/1"]);
}

#[test]
fn actions_that_come_before_their_message_apply_when_it_is_stored() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let edit = Body::Edit {
        target: id("bob/1"),
        text: "better".into(),
    };
    let react = Body::React {
        target: id("bob/1"),
        emoji: "🎉".into(),
        on: true,
    };
    let done = applied(
        &mut store,
        vec![
            received(body_from("bob", 2, edit), g(), 10),
            received(body_from("carol", 5, react), g(), 10),
        ],
    );
    assert!(done.is_empty());
    let done = applied(&mut store, vec![received(from("bob", 1, "good"), g(), 11)]);
    assert_eq!(
        effects(&done),
        vec!["edited bob/1 better", "reacted bob/1 🎉 true"]
    );
    assert_eq!(history(&mut store, g(), 10)[0].text, "better");
}

#[test]
fn waiting_edits_apply_in_their_authors_order_not_the_order_they_came() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let edit = |text: &str| Body::Edit {
        target: id("bob/1"),
        text: text.into(),
    };
    let done = applied(
        &mut store,
        vec![
            received(body_from("bob", 3, edit("third")), g(), 10),
            received(body_from("bob", 2, edit("second")), g(), 10),
        ],
    );
    assert!(done.is_empty());
    let done = applied(&mut store, vec![received(from("bob", 1, "first"), g(), 11)]);
    assert_eq!(
        effects(&done),
        vec!["edited bob/1 second", "edited bob/1 third"]
    );
    assert_eq!(history(&mut store, g(), 10)[0].text, "third");
}

#[test]
fn a_delete_before_its_message_holds_its_place_so_it_is_never_stored() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let (mut store, _) = open(dir.path());
        let delete = Body::Delete {
            target: id("bob/1"),
        };
        write(
            &mut store,
            vec![received(body_from("bob", 2, delete), g(), 10)],
        );
        write(
            &mut store,
            vec![received(from("bob", 1, "regret"), g(), 11)],
        );
        assert_eq!(rows_holding(&store, "regret"), 0);
        assert!(history(&mut store, g(), 10).is_empty());
    }
    let (_, loaded) = open(dir.path());
    let held = &loaded.held[&(key("bob"), Some(group("g")))];
    assert!(held.contains(1) && held.contains(2), "{held:?}");
}

#[test]
fn our_deleted_message_no_longer_waits_for_anyone() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let (mut store, _) = open(dir.path());
        let mine = chat(&me(), "me", 1, Some("g"), "oops");
        write(&mut store, vec![own(mine, g(), &["bob"])]);
        let delete = chat_message("me", 2, Some("g"), "");
        let mut delete = delete;
        delete.key = me().public_key();
        delete.body = Body::Delete { target: id("me/1") };
        write(
            &mut store,
            vec![own(signed_chat(&me(), delete), g(), &["bob"])],
        );
    }
    let (_, loaded) = open(dir.path());
    let seqs: Vec<u64> = loaded
        .unsent
        .iter()
        .map(|u| u.chat.message.id.seq)
        .collect();
    assert_eq!(seqs, vec![2], "the delete still goes; the text does not");
}

#[test]
fn a_read_receipt_marks_our_messages_read_by_its_sender() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let first = chat(&me(), "me", 1, Some("g"), "one");
    let second = chat(&me(), "me", 2, Some("g"), "two");
    let third = chat(&me(), "me", 3, Some("g"), "three");
    write(
        &mut store,
        vec![
            own(first, g(), &["bob", "carol"]),
            own(second, g(), &["bob", "carol"]),
            own(third, g(), &["bob", "carol"]),
        ],
    );
    let bob = identity_for("bob");
    let mut receipt = chat_message("bob", 9, None, "");
    receipt.key = bob.public_key();
    receipt.to = Some(me().public_key());
    receipt.body = Body::Read {
        group: Some(group("g")),
        up_to: 2,
    };
    let receipt = signed_chat(&bob, receipt);
    write(
        &mut store,
        vec![received(receipt, Conversation::Peer(key("bob")), 20)],
    );
    let read: Vec<Vec<bool>> = history(&mut store, g(), 10)
        .iter()
        .map(|e| e.recipients.iter().map(|r| r.read).collect())
        .collect();
    assert_eq!(
        read,
        vec![vec![true, false], vec![true, false], vec![false, false]]
    );
    // The receipt opens no private conversation of its own.
    let (_, loaded) = open_again(store, dir.path());
    assert!(loaded.peers.is_empty(), "{:?}", loaded.peers);
}

/// Receipts in any order, and one of ours the reader never got (not a member then): each
/// receipt marks what it newly covers, down past the message it was never sent.
#[test]
fn receipts_mark_what_they_newly_cover_past_messages_the_reader_never_got() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    write(
        &mut store,
        vec![
            own(
                chat(&me(), "me", 1, Some("g"), "one"),
                g(),
                &["bob", "carol"],
            ),
            own(chat(&me(), "me", 2, Some("g"), "two"), g(), &["carol"]),
            own(
                chat(&me(), "me", 3, Some("g"), "three"),
                g(),
                &["bob", "carol"],
            ),
            own(
                chat(&me(), "me", 4, Some("g"), "four"),
                g(),
                &["bob", "carol"],
            ),
        ],
    );
    let bob = identity_for("bob");
    let receipt = |seq: u64, up_to: u64| {
        let mut receipt = chat_message("bob", seq, Some("g"), "");
        receipt.key = bob.public_key();
        receipt.body = Body::Read {
            group: Some(group("g")),
            up_to,
        };
        received(signed_chat(&bob, receipt), g(), 20 + seq)
    };
    let bob_read = |store: &mut Store| -> Vec<Option<bool>> {
        history(store, g(), 10)
            .iter()
            .map(|e| {
                e.recipients
                    .iter()
                    .find(|r| r.name == name("bob"))
                    .map(|r| r.read)
            })
            .collect()
    };
    // Oldest first: one, two (never bob's), three, four.
    write(&mut store, vec![receipt(1, 1)]);
    assert_eq!(
        bob_read(&mut store),
        vec![Some(true), None, Some(false), Some(false)]
    );
    write(&mut store, vec![receipt(2, 4)]);
    assert_eq!(
        bob_read(&mut store),
        vec![Some(true), None, Some(true), Some(true)]
    );
    // An older receipt coming late changes nothing.
    write(&mut store, vec![receipt(3, 2)]);
    assert_eq!(
        bob_read(&mut store),
        vec![Some(true), None, Some(true), Some(true)]
    );
}

fn open_again(store: Store, dir: &Path) -> (Store, Loaded) {
    drop(store);
    open(dir)
}

#[test]
fn the_target_of_an_action_is_found_by_id_with_our_reaction() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    write(&mut store, vec![received(from("bob", 1, "hi"), g(), 10)]);
    let ask = |emoji: &str| Read::Target {
        id: id("bob/1"),
        emoji: Some(emoji.into()),
    };
    let Answer::Target(Some(info)) = read(&mut store, ask("👍")) else {
        panic!("not found")
    };
    assert_eq!((info.author, info.conversation.clone()), (key("bob"), g()));
    assert!(!info.reacted && !info.deleted);
    let mine = body_from(
        "me",
        1,
        Body::React {
            target: id("bob/1"),
            emoji: "👍".into(),
            on: true,
        },
    );
    write(&mut store, vec![own(mine, g(), &["bob"])]);
    let Answer::Target(Some(info)) = read(&mut store, ask("👍")) else {
        panic!("not found")
    };
    assert!(info.reacted);
    let Answer::Target(found) = read(
        &mut store,
        Read::Target {
            id: id("bob/2"),
            emoji: None,
        },
    ) else {
        panic!()
    };
    assert!(found.is_none());
}

#[test]
fn a_database_of_the_first_schema_keeps_its_messages_as_texts() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let mut conn = rusqlite::Connection::open(dir.path().join(FILE_NAME)).expect("db");
        let tx = conn.transaction().expect("tx");
        tx.execute_batch(super::super::schema::MIGRATIONS[0])
            .expect("v1");
        tx.pragma_update(None, "user_version", 1).expect("version");
        tx.commit().expect("commit");
        let old = from("bob", 1, "from the old days");
        let json = serde_json::to_string(&old).expect("json");
        conn.execute(
            "INSERT INTO messages (author_key, seq, id, author_name, grp, text, sent_at, \
             stored_at, own, verified, chat) VALUES (?1, 1, 'bob/1', 'bob', 'g', \
             'from the old days', 5, 5, 0, 1, ?2)",
            rusqlite::params![key("bob").as_bytes(), json],
        )
        .expect("insert");
    }
    let (mut store, _) = open(dir.path());
    assert_eq!(
        texts(&history(&mut store, g(), 10)),
        vec!["from the old days"]
    );
    let edit = Body::Edit {
        target: id("bob/1"),
        text: "edited later".into(),
    };
    let done = applied(
        &mut store,
        vec![received(body_from("bob", 2, edit), g(), 10)],
    );
    assert_eq!(effects(&done), vec!["edited bob/1 edited later"]);
}

#[test]
fn a_group_is_one_conversation_whatever_the_case_it_is_written_in() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let shouted = chat(&identity_for("bob"), "bob", 1, Some("G"), "hi");
    write(
        &mut store,
        vec![received(shouted, Conversation::Group(group("G")), 10)],
    );
    write(
        &mut store,
        vec![received(from("carol", 1, "hello"), g(), 11)],
    );
    assert_eq!(texts(&history(&mut store, g(), 10)), vec!["hi", "hello"]);
    let upper = Conversation::Group(group("G"));
    assert_eq!(texts(&history(&mut store, upper, 10)), vec!["hi", "hello"]);
}
