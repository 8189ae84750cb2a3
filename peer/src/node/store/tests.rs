//! The store on real files in temporary directories: what survives a reopen, batching,
//! history, sync pages, and the files it must refuse without panicking.

use std::path::Path;
use std::time::{Duration, Instant};

use natter_protocol::peer::{AuthorRanges, Body, SignedChat};
use natter_protocol::testkit::build::{
    chat, chat_message, group, identity_for, name, private_chat, signed_chat,
};
use natter_protocol::{Identity, PublicKey};
use tokio::sync::mpsc;

use super::*;

mod actions;
mod held;
mod indexing;
mod search;
mod steps;
mod thread;
mod timing;

fn me() -> Identity {
    identity_for("me")
}

fn key(who: &str) -> PublicKey {
    identity_for(who).public_key()
}

fn open(dir: &Path) -> (Store, Loaded) {
    Store::open(dir, me().public_key()).expect("open the store")
}

fn g() -> Conversation {
    Conversation::Group(group("g"))
}

/// A message from `who` to group `g`.
fn from(who: &str, seq: u64, text: &str) -> SignedChat {
    chat(&identity_for(who), who, seq, Some("g"), text)
}

/// `who`'s action (or any body) in group `g`, as its seq.
fn body_from(who: &str, seq: u64, body: Body) -> SignedChat {
    let author = identity_for(who);
    let mut message = chat_message(who, seq, Some("g"), "");
    message.key = author.public_key();
    message.body = body;
    signed_chat(&author, message)
}

/// Whether any page of the database file (after a checkpoint) holds `word`'s bytes.
/// (It reads the files beside the live store, as plain bytes; natter itself never does.)
fn file_holds(dir: &Path, store: &Store, word: &str) -> bool {
    store
        .connection()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
    let needle = word.as_bytes();
    ["natter.db", "natter.db-wal"].iter().any(|f| {
        std::fs::read(dir.join(f))
            .unwrap_or_default()
            .windows(needle.len())
            .any(|w| w == needle)
    })
}

fn received(chat: SignedChat, conversation: Conversation, stored_at: u64) -> Write {
    Write::Received {
        chat,
        conversation,
        stored_at,
        verified: true,
    }
}

fn own(chat: SignedChat, conversation: Conversation, to: &[&str]) -> Write {
    Write::Own {
        chat,
        conversation,
        recipients: to.iter().map(|r| (key(r), name(r))).collect(),
        stored_at: 10,
        expires_at: 1_000,
    }
}

/// Runs `writes` as one batch; it must succeed.
fn write(store: &mut Store, writes: Vec<Write>) {
    let jobs = writes
        .into_iter()
        .enumerate()
        .map(|(i, w)| Job::Write(i as u64, w))
        .collect();
    let replies = store.run(jobs);
    assert!(
        matches!(replies.as_slice(), [Reply::Written { result: Ok(()), .. }]),
        "{replies:?}"
    );
}

fn read(store: &mut Store, r: Read) -> Answer {
    match store.run(vec![Job::Read(7, r)]).as_slice() {
        [
            Reply::Answered {
                token: 7,
                result: Ok(answer),
            },
        ] => answer.clone(),
        other => panic!("{other:?}"),
    }
}

fn history(store: &mut Store, conversation: Conversation, limit: usize) -> Vec<HistoryEntry> {
    match read(
        store,
        Read::History {
            conversation,
            limit,
        },
    ) {
        Answer::History(entries) => entries,
        other => panic!("{other:?}"),
    }
}

fn texts(entries: &[HistoryEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.chat.message.body.text().to_owned())
        .collect()
}

fn sync(
    store: &mut Store,
    requester: &str,
    have: &[(&str, &[(u64, u64)])],
    limit: usize,
) -> (Vec<String>, bool) {
    let have = have
        .iter()
        .map(|(who, ranges)| AuthorRanges {
            key: key(who),
            ranges: ranges.to_vec(),
        })
        .collect();
    let answer = read(
        store,
        Read::SyncPage {
            group: group("g"),
            requester: key(requester),
            have,
            limit,
        },
    );
    let Answer::SyncPage { messages, more } = answer else {
        panic!("{answer:?}");
    };
    let ids = messages.iter().map(|m| m.message.id.to_string()).collect();
    (ids, more)
}

#[test]
fn a_reopened_store_loads_what_the_core_needs() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, loaded) = open(dir.path());
    assert_eq!(loaded, Loaded::default());
    let to_alice = private_chat(&me(), "me", 2, key("alice"), "psst");
    write(
        &mut store,
        vec![
            own(
                chat(&me(), "me", 1, Some("g"), "hello"),
                g(),
                &["alice", "bob"],
            ),
            own(to_alice, Conversation::Peer(key("alice")), &["alice"]),
            received(from("alice", 1, "a1"), g(), 20),
            received(from("alice", 2, "a2"), g(), 20),
            received(from("alice", 4, "a4"), g(), 20),
            Write::ListenPort(4000),
        ],
    );
    write(
        &mut store,
        vec![
            Write::Delivered {
                seq: 1,
                to: key("alice"),
            },
            Write::Failed {
                seq: 2,
                to: key("alice"),
                reason: "gone".into(),
            },
            Write::ListenPort(4001),
        ],
    );
    drop(store);

    let (_, loaded) = open(dir.path());
    assert_eq!(loaded.last_seq, 2);
    assert_eq!(loaded.listen_port, Some(4001));
    let g = Some(group("g"));
    let held =
        |k: PublicKey, grp: Option<GroupName>| loaded.held.get(&(k, grp)).map(RangeSet::ranges);
    assert_eq!(held(me().public_key(), g.clone()), Some(vec![(1, 1)]));
    assert_eq!(held(me().public_key(), None), Some(vec![(2, 2)]));
    assert_eq!(held(key("alice"), g), Some(vec![(1, 2), (4, 4)]));
    assert_eq!(loaded.held.len(), 3);
    // Seq 1 still waits for bob only; seq 2 failed for its one recipient.
    assert_eq!(loaded.unsent.len(), 1, "{:?}", loaded.unsent);
    let unsent = &loaded.unsent[0];
    assert_eq!(unsent.chat.message.id.seq, 1);
    assert_eq!(unsent.conversation, Conversation::Group(group("g")));
    assert_eq!(unsent.pending, vec![(key("bob"), name("bob"))]);
    assert_eq!(unsent.expires_at, 1_000);
}

#[test]
fn unsent_messages_come_in_seq_order_with_their_conversation() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let private = private_chat(&me(), "me", 1, key("bob"), "one");
    write(
        &mut store,
        vec![
            own(
                chat(&me(), "me", 2, Some("g"), "two"),
                g(),
                &["alice", "bob"],
            ),
            own(private, Conversation::Peer(key("bob")), &["bob"]),
        ],
    );
    drop(store);
    let (_, loaded) = open(dir.path());
    let seqs: Vec<_> = loaded
        .unsent
        .iter()
        .map(|u| {
            (
                u.chat.message.id.seq,
                u.conversation.clone(),
                u.pending.len(),
            )
        })
        .collect();
    assert_eq!(
        seqs,
        vec![(1, Conversation::Peer(key("bob")), 1), (2, g(), 2)]
    );
}

#[test]
fn statements_are_not_prepared_again_for_new_values() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _) = open(dir.path());
    let qpsg = rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG;
    assert!(
        store
            .connection()
            .db_config(qpsg)
            .expect("read the setting")
    );
}

#[test]
fn a_second_copy_of_a_message_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    write(
        &mut store,
        vec![received(from("alice", 1, "first"), g(), 1)],
    );
    write(
        &mut store,
        vec![
            received(from("alice", 1, "second"), g(), 2),
            received(from("alice", 1, "third"), g(), 3),
        ],
    );
    let entries = history(&mut store, g(), 10);
    assert_eq!(texts(&entries), vec!["first"]);
    assert_eq!(entries[0].stored_at, 1);
}

#[test]
fn a_thousand_writes_are_one_reply_and_reads_come_after() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let mut jobs: Vec<Job> = (1..=1000)
        .map(|seq| Job::Write(seq, received(from("alice", seq, "x"), g(), seq)))
        .collect();
    jobs.push(Job::Read(
        5000,
        Read::History {
            conversation: g(),
            limit: 2000,
        },
    ));
    let replies = store.run(jobs);
    assert_eq!(replies.len(), 2);
    assert_eq!(
        replies[0],
        Reply::Written {
            tokens: (1..=1000).collect(),
            result: Ok(()),
            applied: Vec::new(),
        }
    );
    match &replies[1] {
        Reply::Answered {
            token: 5000,
            result: Ok(Answer::History(entries)),
        } => assert_eq!(entries.len(), 1000),
        other => panic!("{other:?}"),
    }
}

#[test]
fn history_is_the_last_messages_oldest_first_with_each_recipients_state() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    write(
        &mut store,
        vec![
            received(from("alice", 1, "a1"), g(), 1),
            own(
                chat(&me(), "me", 1, Some("g"), "m1"),
                g(),
                &["alice", "bob", "carol"],
            ),
            received(from("bob", 1, "b1"), g(), 3),
            own(chat(&me(), "me", 2, Some("g"), "m2"), g(), &["alice"]),
            // Other conversations are not this one's history.
            received(
                from("alice", 2, "elsewhere").clone(),
                Conversation::Group(group("h")),
                5,
            ),
            received(
                private_chat(
                    &identity_for("alice"),
                    "alice",
                    3,
                    me().public_key(),
                    "private",
                ),
                Conversation::Peer(key("alice")),
                6,
            ),
        ],
    );
    write(
        &mut store,
        vec![
            Write::Delivered {
                seq: 1,
                to: key("alice"),
            },
            Write::Failed {
                seq: 1,
                to: key("bob"),
                reason: "left the group".into(),
            },
            // A late acknowledgement still counts; a late failure undoes nothing.
            Write::Failed {
                seq: 1,
                to: key("alice"),
                reason: "too late".into(),
            },
            Write::Delivered {
                seq: 9,
                to: key("alice"),
            },
        ],
    );
    let all = history(&mut store, g(), 10);
    assert_eq!(texts(&all), vec!["a1", "m1", "b1", "m2"]);
    let last = history(&mut store, g(), 3);
    assert_eq!(texts(&last), vec!["m1", "b1", "m2"]);
    let m1 = &last[0];
    assert!(m1.own && m1.verified);
    let states: Vec<_> = m1
        .recipients
        .iter()
        .map(|r| (r.name.to_string(), r.delivery.clone()))
        .collect();
    assert_eq!(
        states,
        vec![
            ("alice".into(), Delivery::Delivered),
            ("bob".into(), Delivery::Failed("left the group".into())),
            ("carol".into(), Delivery::Pending),
        ]
    );
    assert!(last[1].recipients.is_empty() && !last[1].own);
    let private = history(&mut store, Conversation::Peer(key("alice")), 10);
    assert_eq!(texts(&private), vec!["private"]);
}

#[test]
fn a_sync_page_gives_what_the_requester_lacks_since_it_joined() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let mut writes: Vec<Write> = (1..=3)
        .map(|seq| received(from("bob", seq, "early"), g(), 50))
        .collect();
    writes.extend((1..=5).map(|seq| received(from("alice", seq, "late"), g(), 100 + seq)));
    writes.push(received(
        from("alice", 6, "other group"),
        Conversation::Group(group("h")),
        200,
    ));
    writes.push(received(from("bob", 4, "late"), g(), 150));
    writes.push(Write::MemberSince {
        group: group("g"),
        member: key("carol"),
        at: 100,
    });
    write(&mut store, writes);

    // Nothing for a requester never seen in the group.
    assert_eq!(sync(&mut store, "dave", &[], 10), (vec![], false));
    // bob's first three predate carol; she holds alice's 2 and 3.
    let mut all = sync(&mut store, "carol", &[("alice", &[(2, 3)])], 10);
    all.0.sort();
    assert_eq!(
        all,
        (
            vec![
                "alice/1".into(),
                "alice/4".into(),
                "alice/5".into(),
                "bob/4".into()
            ],
            false
        )
    );
    // A page of two, then the rest once she holds them.
    let (first, more) = sync(&mut store, "carol", &[("alice", &[(2, 3)])], 2);
    assert_eq!(first.len(), 2);
    assert!(more);
    let (exact, more) = sync(&mut store, "carol", &[("alice", &[(1, 3)])], 3);
    assert_eq!(exact.len(), 3);
    assert!(!more, "exactly the last qualifying messages: {exact:?}");
    let (none, more) = sync(
        &mut store,
        "carol",
        &[("alice", &[(1, 5)]), ("bob", &[(4, 4)])],
        2,
    );
    assert_eq!((none, more), (vec![], false));
}

#[test]
fn a_member_who_left_and_rejoined_starts_a_new_since() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let since = |at| Write::MemberSince {
        group: group("g"),
        member: key("carol"),
        at,
    };
    write(
        &mut store,
        vec![
            received(from("alice", 1, "x"), g(), 150),
            since(100),
            since(200),
        ],
    );
    // The first since is kept.
    assert_eq!(sync(&mut store, "carol", &[], 10).0, vec!["alice/1"]);
    write(
        &mut store,
        vec![
            Write::MemberGone {
                group: group("g"),
                member: key("carol"),
            },
            since(300),
        ],
    );
    assert_eq!(sync(&mut store, "carol", &[], 10), (vec![], false));
}

#[test]
fn a_seq_too_large_to_store_is_skipped_not_fatal() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    write(
        &mut store,
        vec![
            received(from("alice", u64::MAX, "huge"), g(), 1),
            received(from("alice", MAX_SEQ, "largest"), g(), 1),
        ],
    );
    assert_eq!(texts(&history(&mut store, g(), 10)), vec!["largest"]);
}

#[test]
fn a_failed_batch_applies_nothing_and_every_write_gets_the_error() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    // The file may not grow: the batch's second (long) message cannot be stored, after
    // its first was.
    let pages: i64 = store
        .connection()
        .pragma_query_value(None, "page_count", |row| row.get(0))
        .expect("pages");
    store
        .connection()
        .pragma_update(None, "max_page_count", pages)
        .expect("a full disk");
    let jobs = vec![
        Job::Write(1, received(from("alice", 1, "a"), g(), 1)),
        Job::Write(2, received(from("alice", 2, &"b".repeat(20_000)), g(), 1)),
    ];
    let replies = store.run(jobs);
    match replies.as_slice() {
        [
            Reply::Written {
                tokens,
                result: Err(e),
                ..
            },
        ] => {
            assert_eq!(tokens, &vec![1, 2]);
            assert!(e.contains(FILE_NAME), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(history(&mut store, g(), 10).is_empty());
    // The first alone fits: the batch failed at the second, and took the first back.
    write(&mut store, vec![received(from("alice", 1, "a"), g(), 1)]);
    assert_eq!(texts(&history(&mut store, g(), 10)), vec!["a"]);
}

/// natter keeps the file's locks while it runs: a program that has the file open in a
/// transaction when natter starts makes the start fail, with an error naming the file,
/// after SQLite's wait for it to finish (rather than natter writing beside it).
#[test]
fn a_file_another_program_is_reading_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("dir");
    drop(open(dir.path()));
    let other = rusqlite::Connection::open(dir.path().join(FILE_NAME)).expect("other");
    other
        .execute_batch("BEGIN; SELECT count(*) FROM messages;")
        .expect("a read transaction");
    let err = Store::open(dir.path(), me().public_key()).expect_err("refused");
    assert!(err.contains(FILE_NAME), "{err}");
    assert!(err.contains("another program is using the file"), "{err}");
    other.execute_batch("COMMIT").expect("end the read");
    drop(other);
    drop(open(dir.path()));
}

#[test]
fn a_row_that_does_not_decode_is_skipped() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    write(
        &mut store,
        vec![
            received(from("alice", 1, "kept"), g(), 1),
            received(from("alice", 2, "damaged"), g(), 1),
        ],
    );
    store
        .connection()
        .execute("UPDATE messages SET chat = '{not json' WHERE seq = 2", [])
        .expect("damage a row");
    assert_eq!(texts(&history(&mut store, g(), 10)), vec!["kept"]);
    drop(store);
    let (_, loaded) = open(dir.path());
    assert!(loaded.held.contains_key(&(key("alice"), Some(group("g")))));
}

#[test]
fn a_file_that_is_not_a_database_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, "this is not a database, only some text ".repeat(100)).expect("write");
    let err = Store::open(dir.path(), me().public_key()).expect_err("garbage");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("not a database"), "{err}");
}

#[test]
fn a_database_from_a_newer_natter_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    drop(open(dir.path()));
    let path = dir.path().join(FILE_NAME);
    rusqlite::Connection::open(&path)
        .and_then(|c| c.pragma_update(None, "user_version", 99))
        .expect("bump the version");
    let err = Store::open(dir.path(), me().public_key()).expect_err("too new");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("newer natter"), "{err}");
    assert!(err.contains("99"), "{err}");
}

#[test]
fn a_directory_in_the_way_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join(FILE_NAME)).expect("mkdir");
    let err = Store::open(dir.path(), me().public_key()).expect_err("a directory");
    assert!(err.contains(FILE_NAME), "{err}");
    assert!(err.contains("cannot open"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_read_only_file_or_directory_is_an_error_naming_the_file() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    let dir = tempfile::tempdir().expect("dir");
    drop(open(dir.path()));
    let path = dir.path().join(FILE_NAME);
    mode(&path, 0o400);
    // Root writes anyway (CI runs as root): nothing to see there.
    if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
        eprintln!("skipped: this user can write read-only files");
        return;
    }
    let err = Store::open(dir.path(), me().public_key()).expect_err("read-only file");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("permission denied"), "{err}");

    // A writable file in a directory where the write-ahead log cannot be made.
    mode(&path, 0o600);
    mode(dir.path(), 0o500);
    let err = Store::open(dir.path(), me().public_key()).expect_err("read-only directory");
    mode(dir.path(), 0o700);
    assert!(err.contains(&path.display().to_string()), "{err}");
}

#[test]
fn the_in_memory_store_works_alike() {
    let (mut store, loaded) = Store::in_memory(me().public_key()).expect("memory");
    assert_eq!(loaded, Loaded::default());
    write(&mut store, vec![received(from("alice", 1, "hi"), g(), 1)]);
    assert_eq!(texts(&history(&mut store, g(), 10)), vec!["hi"]);
}

#[tokio::test]
async fn the_thread_answers_every_job_and_finishes_what_is_queued() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _) = open(dir.path());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let thread = super::spawn_thread(store, tx, std::time::Duration::ZERO).expect("spawn");
    for seq in 1..=100 {
        thread.submit(Job::Write(seq, received(from("alice", seq, "x"), g(), seq)));
    }
    thread.submit(Job::Read(
        1000,
        Read::History {
            conversation: g(),
            limit: 500,
        },
    ));
    thread.finish(Duration::from_secs(10)).await;
    let mut written = Vec::new();
    let mut answered = None;
    let mut synced = 0;
    while let Ok(reply) = rx.try_recv() {
        match reply {
            Reply::Written { tokens, result, .. } => {
                assert_eq!(result, Ok(()));
                // The read is answered after every write queued before it.
                assert!(answered.is_none());
                written.extend(tokens);
            }
            Reply::Answered { token, result } => answered = Some((token, result)),
            Reply::Synced { up_to, result } => {
                assert_eq!(result, Ok(()));
                // Never ahead of the commits.
                assert!(written.contains(&up_to), "{up_to} synced before its commit");
                synced = up_to;
            }
        }
    }
    assert_eq!(written, (1..=100).collect::<Vec<_>>());
    // Every commit is synced before the thread stops.
    assert_eq!(synced, 100);
    match answered {
        Some((1000, Ok(Answer::History(entries)))) => assert_eq!(entries.len(), 100),
        other => panic!("{other:?}"),
    }
}

/// Not an assertion: how much group commit saves on this machine. Run with
/// `cargo test -p natter --release store::tests::group_commit_timing -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a test"]
fn group_commit_timing() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let batch: Vec<Job> = (1..=1000)
        .map(|seq| Job::Write(seq, received(from("alice", seq, "x"), g(), seq)))
        .collect();
    let start = Instant::now();
    store.run(batch);
    let one_batch = start.elapsed();
    let mut wal = store.take_wal().expect("on disk");
    let start = Instant::now();
    for seq in 1001..=2000 {
        store.run(vec![Job::Write(
            seq,
            received(from("alice", seq, "x"), g(), seq),
        )]);
        wal.sync().expect("sync");
    }
    let singles = start.elapsed();
    let (mut memory, _) = Store::in_memory(me().public_key()).expect("memory");
    let batch: Vec<Job> = (1..=1000)
        .map(|seq| Job::Write(seq, received(from("alice", seq, "x"), g(), seq)))
        .collect();
    let start = Instant::now();
    memory.run(batch);
    let in_memory = start.elapsed();
    eprintln!(
        "1,000 received messages: one batch {one_batch:?} (in memory {in_memory:?}), \
         1,000 batches of one, each synced {singles:?}"
    );
}

#[test]
fn a_message_sent_before_a_member_joined_is_not_for_it_even_if_stored_later() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let mut early = chat_message("alice", 1, Some("g"), "before carol");
    early.sent_at = 50;
    let early = signed_chat(&identity_for("alice"), early);
    let now = from("alice", 2, "after carol");
    write(
        &mut store,
        vec![
            Write::MemberSince {
                group: group("g"),
                member: key("carol"),
                at: 100,
            },
            // Stored after carol joined (a late retry), but sent before.
            received(early, g(), 200),
            received(now, g(), 200),
        ],
    );
    assert_eq!(
        sync(&mut store, "carol", &[], 10),
        (vec!["alice/2".to_string()], false)
    );
}

#[test]
fn a_full_member_list_forgets_who_left_unseen() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let list = |members: &[&str], at| Write::MemberList {
        group: group("g"),
        members: members.iter().map(|m| key(m)).collect(),
        at,
    };
    write(&mut store, vec![list(&["bob", "carol"], 100)]);
    write(&mut store, vec![received(from("alice", 1, "x"), g(), 150)]);
    assert_eq!(sync(&mut store, "carol", &[], 10).0.len(), 1);
    // carol left and came back while we were away: her cut starts again.
    write(
        &mut store,
        vec![list(&["bob"], 300), list(&["bob", "carol"], 400)],
    );
    assert_eq!(sync(&mut store, "carol", &[], 10), (vec![], false));
    // bob stayed: his cut holds.
    assert_eq!(sync(&mut store, "bob", &[], 10).0.len(), 1);
}

#[test]
fn a_page_is_cut_by_bytes_too() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let big = "x".repeat(60 * 1024);
    let mut writes = vec![Write::MemberSince {
        group: group("g"),
        member: key("carol"),
        at: 0,
    }];
    writes.extend((1..=20).map(|seq| received(from("alice", seq, &big), g(), 10)));
    write(&mut store, writes);
    let (first, more) = sync(&mut store, "carol", &[], 64);
    assert!(more);
    assert!(first.len() < 20 && first.len() * big.len() <= super::read::PAGE_BYTES);
}

#[test]
fn private_conversations_are_listed_most_recent_first_by_name() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let to_me = |who: &str, seq| {
        let chat = private_chat(&identity_for(who), who, seq, me().public_key(), "hi");
        received(chat, Conversation::Peer(key(who)), 10)
    };
    let mine = private_chat(&me(), "me", 1, key("carol"), "hello carol");
    write(
        &mut store,
        vec![
            to_me("bob", 1),
            own(mine, Conversation::Peer(key("carol")), &["carol"]),
            to_me("dave", 1),
            received(from("erin", 1, "a group message"), g(), 10),
        ],
    );
    drop(store);
    let (_, loaded) = open(dir.path());
    assert_eq!(loaded.peers, vec![name("dave"), name("carol"), name("bob")]);
}

/// Numbering after a restart resumes past the last reservation, even with no message of
/// that number stored (it may have reached someone before its write).
#[test]
fn numbering_resumes_past_the_last_reservation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = open(dir.path());
    write(
        &mut store,
        vec![
            Write::ReserveSeqs(1025),
            own(chat(&me(), "me", 1, Some("g"), "hello"), g(), &["alice"]),
        ],
    );
    drop(store);
    let (mut store, loaded) = open(dir.path());
    assert_eq!(loaded.last_seq, 1025);
    write(&mut store, vec![Write::ReserveSeqs(2049)]);
    drop(store);
    assert_eq!(open(dir.path()).1.last_seq, 2049);
}
