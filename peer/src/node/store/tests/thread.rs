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

/// Hands writes over one by one until one commits on this thread (its reply there
/// before anything was awaited; the thread may have held the store for a moment, or had
/// the log's restart to do, and then it commits the write itself); its token.
async fn commit_here(thread: &StoreThread, rx: &mut mpsc::UnboundedReceiver<Reply>) -> u64 {
    for seq in 1..=50 {
        thread.run_or_submit(vec![Job::Write(
            seq,
            received(from("alice", seq, "x"), g(), seq),
        )]);
        if let Ok(Reply::Written { tokens, .. }) = rx.try_recv() {
            assert_eq!(tokens, vec![seq]);
            return seq;
        }
        // Committed by the thread: let it settle.
        while !matches!(next(rx).await, Reply::Synced { up_to, .. } if up_to == seq) {}
    }
    panic!("no write committed on this thread");
}

#[tokio::test]
async fn a_write_handed_over_while_the_thread_is_idle_commits_at_once_and_is_synced() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, _) = open(dir.path());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let thread = super::super::spawn_thread(store, tx, Duration::ZERO).expect("spawn");
    let token = commit_here(&thread, &mut rx).await;
    // The thread hears of it, and the syncer syncs it.
    assert_eq!(next(&mut rx).await, Reply::synced(token));
    thread.finish(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn in_memory_a_write_handed_over_while_the_thread_is_idle_is_synced_at_once() {
    let (store, _) = Store::in_memory(me().public_key()).expect("memory");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let thread = super::super::spawn_thread(store, tx, Duration::ZERO).expect("spawn");
    let token = commit_here(&thread, &mut rx).await;
    assert_eq!(rx.try_recv(), Ok(Reply::synced(token)));
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
