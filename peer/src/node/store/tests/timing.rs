//! Not assertions: what a message costs the store thread, per variant of its settings.
//! Run with `cargo test -p natter --release --lib store::tests::timing -- --ignored
//! --nocapture` (with `TMPDIR=/dev/shm` to take the disk out).

use super::*;

/// Private messages from alice, as the 1:1 stream stores them.
fn messages(n: u64) -> Vec<SignedChat> {
    let alice = identity_for("alice");
    (1..=n)
        .map(|seq| {
            let text = format!(
                "message {seq} about the deploy of build {} and a few other words to index",
                seq * 7
            );
            natter_protocol::testkit::build::private_chat(
                &alice,
                "alice",
                seq,
                me().public_key(),
                &text,
            )
        })
        .collect()
}

/// Stores `chats` in batches of `batch`; the time per message.
fn per_message(store: &mut Store, chats: &[SignedChat], batch: usize) -> Duration {
    let alice = Conversation::Peer(key("alice"));
    let start = Instant::now();
    for (b, chunk) in chats.chunks(batch).enumerate() {
        let jobs = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Job::Write(
                    (b * batch + i) as u64,
                    received(c.clone(), alice.clone(), 1),
                )
            })
            .collect();
        store.run(jobs);
    }
    start.elapsed() / u32::try_from(chats.len()).expect("few")
}

#[test]
#[ignore = "a measurement, not a test"]
fn timing() {
    let variants: &[(&str, &str)] = &[
        ("as is", ""),
        ("as is again", ""),
        (
            "(indexed in the commit: V4)",
            "UPDATE fts_progress SET up_to = 1e18;",
        ),
        (
            "fts automerge 16",
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 16);",
        ),
        (
            "fts crisismerge 64",
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('crisismerge', 64);",
        ),
        (
            "wal_autocheckpoint 10000",
            "PRAGMA wal_autocheckpoint = 10000;",
        ),
        ("(secure_delete off)", "PRAGMA secure_delete = OFF;"),
        (
            "(fts secure-delete off)",
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 0);",
        ),
        (
            "(no fts at all)",
            "DROP TRIGGER messages_fts_insert; DROP TRIGGER messages_fts_update; \
             DROP TRIGGER messages_fts_delete; UPDATE fts_progress SET up_to = 1e18;",
        ),
        (
            "(no secondary index)",
            "DROP INDEX messages_by_group; DROP INDEX messages_by_peer; DROP INDEX messages_by_author; DROP INDEX messages_by_id;",
        ),
        ("(synchronous normal)", "PRAGMA synchronous = NORMAL;"),
    ];
    let chats = messages(4000);
    for (label, sql) in variants {
        for batch in [1, 32] {
            let dir = tempfile::tempdir().expect("dir");
            let (mut store, _) = open(dir.path());
            store.connection().execute_batch(sql).expect("variant");
            let t = per_message(&mut store, &chats, batch);
            // What the store thread does later, when idle: the full-text index catching up.
            let start = Instant::now();
            while store.unindexed() > 0 {
                store.index_some(super::super::indexing::CHUNK);
            }
            let catch_up = start.elapsed() / u32::try_from(chats.len()).expect("few");
            eprintln!(
                "{label:28} batch {batch:3}: {:6.1} µs/msg, then indexed in chunks: {:6.1} µs/msg",
                t.as_secs_f64() * 1e6,
                catch_up.as_secs_f64() * 1e6
            );
        }
    }
}
