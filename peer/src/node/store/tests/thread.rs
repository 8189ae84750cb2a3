//! The store thread and the syncer: writes handed over while the thread is idle commit on
//! the caller's thread, replies keep the jobs' order either way, every commit is synced,
//! and the log is checkpointed by the thread, never by a commit.

use super::*;

/// The next reply, waiting at most 10 s.
async fn next(rx: &mut mpsc::UnboundedReceiver<Reply>) -> Reply {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a reply within 10 s")
        .expect("the store thread is running")
}

#[tokio::test]
async fn a_write_handed_over_while_the_thread_is_idle_commits_at_once_and_is_synced() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _) = open(dir.path());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let thread = super::super::spawn_thread(store, tx, Duration::ZERO).expect("spawn");
    thread.run_or_submit(vec![Job::Write(1, received(from("alice", 1, "x"), g(), 1))]);
    // Committed on this thread: the reply is there before anything was awaited.
    assert!(
        matches!(
            rx.try_recv(),
            Ok(Reply::Written { ref tokens, result: Ok(()), .. }) if tokens == &[1]
        ),
        "not committed inline"
    );
    // The thread hears of it, and the syncer syncs it.
    assert_eq!(
        next(&mut rx).await,
        Reply::Synced {
            up_to: 1,
            result: Ok(())
        }
    );
    thread.finish(Duration::from_secs(10)).await;
}

/// A write never overtakes a job queued before it by committing on the caller's thread:
/// its reply comes after the earlier job's, but when both ran in one batch on the thread
/// (where the writes go first and the read sees them).
#[tokio::test]
async fn in_memory_a_write_handed_over_while_the_thread_is_idle_is_synced_at_once() {
    let (store, _) = Store::in_memory(me().public_key()).expect("memory");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let thread = super::super::spawn_thread(store, tx, Duration::ZERO).expect("spawn");
    thread.run_or_submit(vec![Job::Write(7, received(from("alice", 1, "x"), g(), 1))]);
    assert!(matches!(rx.try_recv(), Ok(Reply::Written { .. })));
    assert_eq!(
        rx.try_recv(),
        Ok(Reply::Synced {
            up_to: 7,
            result: Ok(())
        })
    );
    thread.finish(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_write_never_overtakes_a_job_queued_before_it() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _) = open(dir.path());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let thread = super::super::spawn_thread(store, tx, Duration::ZERO).expect("spawn");
    for seq in 1..=50 {
        let (read, write) = (seq * 2, seq * 2 + 1);
        thread.run_or_submit(vec![Job::Read(
            read,
            Read::History {
                conversation: g(),
                limit: 1,
            },
        )]);
        thread.run_or_submit(vec![Job::Write(
            write,
            received(from("alice", seq, "x"), g(), seq),
        )]);
        let (mut written_first, mut answer) = (false, None);
        while answer.is_none() {
            match next(&mut rx).await {
                Reply::Answered { token, result } => {
                    assert_eq!(token, read);
                    answer = Some(result.expect("history"));
                }
                Reply::Written { tokens, .. } => {
                    assert_eq!(tokens, vec![write]);
                    written_first = answer.is_none();
                }
                Reply::Synced { .. } => {}
            }
        }
        let Some(Answer::History(entries)) = answer else {
            panic!("{answer:?}")
        };
        let saw_the_write = entries.iter().any(|e| e.chat.message.id.seq == seq);
        assert_eq!(saw_the_write, written_first, "message {seq}");
        if !written_first {
            // Its reply is still to come.
            while !matches!(next(&mut rx).await, Reply::Written { .. }) {}
        }
    }
    thread.finish(Duration::from_secs(10)).await;
}

#[test]
fn no_commit_checkpoints_the_log_and_the_thread_does_once_it_is_big() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut store, _) = open(dir.path());
    let file = dir.path().join(FILE_NAME);
    let size = |path: &Path| std::fs::metadata(path).expect("metadata").len();
    let before = size(&file);
    // Some 8 MB of texts: several thousand pages of log, past SQLite's automatic
    // checkpoint (1,000 pages), which would have copied them into the file.
    let text = "x".repeat(1000);
    for batch in 0..8 {
        let writes = (1..=1000)
            .map(|i| {
                let seq = batch * 1000 + i;
                received(from("alice", seq, &text), g(), seq)
            })
            .collect();
        write(&mut store, writes);
    }
    assert_eq!(size(&file), before, "a commit checkpointed the log");
    store.checkpoint_if_due();
    assert!(
        size(&file) > before + 8_000_000,
        "the log was not checkpointed"
    );
    assert_eq!(texts(&history(&mut store, g(), 1)).len(), 1);
}
