//! `/search` and `/mentions` on real SQLite: the full-text index follows inserts, edits and
//! deletes (a deleted word leaves the index and the file), `in TARGET` narrows, an old
//! file is indexed on upgrade, and read marks decide what is unread.

use natter_protocol::peer::Body;

use super::*;

fn id(s: &str) -> natter_protocol::peer::MessageId {
    s.parse().expect("id")
}

fn search(store: &mut Store, text: &str, conversation: Option<Conversation>) -> Vec<Found> {
    let answer = read(
        store,
        Read::Search {
            text: text.into(),
            conversation,
            limit: MAX_FOUND,
        },
    );
    let Answer::Found(found) = answer else {
        panic!("{answer:?}");
    };
    found
}

fn mentions_of(store: &mut Store, who: &str) -> Vec<String> {
    let answer = read(
        store,
        Read::Mentions {
            name: name(who),
            limit: MAX_FOUND,
        },
    );
    let Answer::Found(found) = answer else {
        panic!("{answer:?}");
    };
    found.iter().map(|f| f.id.to_string()).collect()
}

fn ids(found: &[Found]) -> Vec<String> {
    found.iter().map(|f| f.id.to_string()).collect()
}

#[test]
fn a_search_finds_words_newest_first_and_in_target_narrows_it() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let h = Conversation::Group(group("h"));
    let bob = Conversation::Peer(key("bob"));
    write(
        &mut store,
        vec![
            received(from("bob", 1, "we deploy on Friday"), g(), 10),
            received(from("carol", 1, "lunch?"), g(), 11),
            received(
                chat(
                    &identity_for("carol"),
                    "carol",
                    2,
                    Some("h"),
                    "Deployment done",
                ),
                h.clone(),
                12,
            ),
            received(
                private_chat(&identity_for("bob"), "bob", 2, key("me"), "deploy the café"),
                bob.clone(),
                13,
            ),
        ],
    );
    let all = search(&mut store, "DEPLOY", None);
    assert_eq!(ids(&all), vec!["bob/2", "carol/2", "bob/1"]);
    assert_eq!(all[0].conversation, bob);
    assert_eq!(all[0].peer_name, Some(name("bob")));
    assert_eq!(all[1].text, "Deployment done");
    assert_eq!(
        ids(&search(&mut store, "deploy friday", None)),
        vec!["bob/1"]
    );
    assert_eq!(ids(&search(&mut store, "cafe", None)), vec!["bob/2"]);
    assert_eq!(ids(&search(&mut store, "deploy", Some(g()))), vec!["bob/1"]);
    assert_eq!(ids(&search(&mut store, "deploy", Some(bob))), vec!["bob/2"]);
    // A phrase keeps its order; FTS syntax typed by the user is only words.
    assert!(search(&mut store, "\"friday on\"", None).is_empty());
    assert_eq!(
        ids(&search(&mut store, "\"on friday\"", None)),
        vec!["bob/1"]
    );
    for hostile in [
        "NEAR(deploy",
        "deploy OR",
        "\"un\"closed",
        "*",
        "col:x",
        "-x ^y",
    ] {
        let _ = search(&mut store, hostile, None);
    }
}

#[test]
fn an_edit_replaces_the_indexed_text() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    write(
        &mut store,
        vec![received(from("bob", 1, "the old wording"), g(), 10)],
    );
    let edit = Body::Edit {
        target: id("bob/1"),
        text: "the new phrasing".into(),
    };
    write(
        &mut store,
        vec![received(body_from("bob", 2, edit), g(), 11)],
    );
    assert!(search(&mut store, "wording", None).is_empty());
    let found = search(&mut store, "phrasing", None);
    assert_eq!(ids(&found), vec!["bob/1"]);
    assert_eq!(found[0].text, "the new phrasing");
}

#[test]
fn a_deleted_message_leaves_the_index_and_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    write(
        &mut store,
        vec![
            received(from("bob", 1, "the zanzibarplan is secret"), g(), 10),
            received(from("carol", 1, "nothing to hide"), g(), 11),
        ],
    );
    let edit = Body::Edit {
        target: id("bob/1"),
        text: "the quuxcorrection too".into(),
    };
    write(
        &mut store,
        vec![received(body_from("bob", 2, edit), g(), 12)],
    );
    assert_eq!(
        ids(&search(&mut store, "quuxcorrection", None)),
        vec!["bob/1"]
    );
    let delete = Body::Delete {
        target: id("bob/1"),
    };
    write(
        &mut store,
        vec![received(body_from("bob", 3, delete), g(), 13)],
    );
    assert!(search(&mut store, "zanzibarplan", None).is_empty());
    assert!(search(&mut store, "quuxcorrection", None).is_empty());
    assert_eq!(ids(&search(&mut store, "hide", None)), vec!["carol/1"]);
    // Not only unfindable: no entry of the index holds the words any more.
    let conn = store.connection();
    conn.execute_batch(
        "CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, messages_fts, instance);",
    )
    .expect("vocab");
    let left: i64 = conn
        .query_row(
            "SELECT count(*) FROM temp.vocab WHERE term IN ('zanzibarplan', 'quuxcorrection')",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(left, 0);
    conn.execute_batch("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check');")
        .expect("the index matches the messages");
    assert!(!file_holds(dir.path(), &store, "zanzibarplan"));
    assert!(!file_holds(dir.path(), &store, "quuxcorrection"));
}

#[test]
fn an_upgrade_from_v3_indexes_what_is_stored_and_counts_it_read() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let mut conn = rusqlite::Connection::open(dir.path().join(FILE_NAME)).expect("db");
        for step in &schema::MIGRATIONS[..3] {
            conn.execute_batch(step).expect("old step");
        }
        conn.pragma_update(None, "user_version", 3)
            .expect("version");
        let tx = conn.transaction().expect("tx");
        for (seq, text) in [(1_u64, "archived hello me"), (2, "another archived line")] {
            let chat = from("bob", seq, text);
            tx.execute(
                "INSERT INTO messages (author_key, seq, id, author_name, grp, text, sent_at, \
                 stored_at, own, verified, chat, kind) \
                 VALUES (?1, ?2, ?3, 'bob', 'g', ?4, 1, 1, 0, 1, ?5, 'text')",
                rusqlite::params![
                    key("bob").as_bytes(),
                    i64::try_from(seq).expect("seq"),
                    format!("bob/{seq}"),
                    text,
                    serde_json::to_string(&chat).expect("json"),
                ],
            )
            .expect("insert");
        }
        tx.commit().expect("commit");
    }
    let (mut store, loaded) = open(dir.path());
    assert_eq!(loaded.held.len(), 1);
    assert_eq!(
        ids(&search(&mut store, "archived", None)),
        vec!["bob/2", "bob/1"]
    );
    // What was stored before the upgrade counts as read.
    assert!(mentions_of(&mut store, "me").is_empty());
    write(
        &mut store,
        vec![received(from("bob", 3, "hello me again"), g(), 10)],
    );
    assert_eq!(mentions_of(&mut store, "me"), vec!["bob/3"]);
}

#[test]
fn mentions_are_unread_private_messages_and_our_name_as_a_word() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let bob = Conversation::Peer(key("bob"));
    let dm = |seq, text| private_chat(&identity_for("bob"), "bob", seq, key("me"), text);
    write(
        &mut store,
        vec![
            received(from("carol", 1, "hi @me, look"), g(), 10),
            received(from("carol", 2, "nothing for you"), g(), 11),
            received(from("carol", 3, "meet at noon"), g(), 12),
            received(from("carol", 4, "ME too?"), g(), 13),
            received(dm(1, "psst"), bob.clone(), 14),
            own(chat(&me(), "me", 1, Some("g"), "me me me"), g(), &["carol"]),
        ],
    );
    assert_eq!(
        mentions_of(&mut store, "me"),
        vec!["bob/1", "carol/4", "carol/1"]
    );
    write(&mut store, vec![Write::ReadMark(g())]);
    assert_eq!(mentions_of(&mut store, "me"), vec!["bob/1"]);
    write(&mut store, vec![Write::ReadMark(bob.clone())]);
    assert!(mentions_of(&mut store, "me").is_empty());
    write(
        &mut store,
        vec![
            received(dm(2, "still there?"), bob, 20),
            received(from("carol", 5, "me again"), g(), 21),
        ],
    );
    assert_eq!(mentions_of(&mut store, "me"), vec!["carol/5", "bob/2"]);
    // A deleted mention is no longer news; read marks survive a reopen.
    let delete = Body::Delete {
        target: id("carol/5"),
    };
    write(
        &mut store,
        vec![received(body_from("carol", 6, delete), g(), 22)],
    );
    drop(store);
    let (mut store, _) = open(dir.path());
    assert_eq!(mentions_of(&mut store, "me"), vec!["bob/2"]);
}
