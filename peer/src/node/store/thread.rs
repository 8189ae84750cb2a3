//! [`StoreThread`]: the thread that runs the [`Store`]'s jobs, so no runtime worker ever
//! waits on the disk.
//!
//! It sleeps until a job comes, then takes every job already queued behind it (up to
//! [`BATCH`]) and runs them as one batch, in one transaction, and tells the syncer (see
//! `syncer`) what it committed: the fsync happens there, so no commit waits for one.
//!
//! One shortcut: writes handed over while the thread has nothing to do commit at once on
//! the caller's thread ([`StoreThread::run_or_submit`]), sparing a quiet node's message
//! two cross-thread wake-ups (the thread's, and the caller's for the reply). A commit
//! writes to the log without an fsync, the log is checkpointed (synced) only by the
//! thread (see [`Store::checkpoint_if_due`]), and the commit that starts the log afresh
//! after a checkpoint (which SQLite syncs) is left to the thread too, so the caller never
//! waits on the disk either, only on the pages written to the kernel's cache. The thread still hears of
//! every such commit on disk, to have it synced (in memory, a commit is as good as synced
//! at once).
//!
//! Texts reach the full-text index after the commit that stored them (see `indexing`): a
//! chunk at a time once no job has come for [`IDLE`], or between batches while more than
//! [`MAX_BEHIND`] rows wait.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use tokio::sync::mpsc;

use super::indexing::{CHUNK, MAX_BEHIND};
use super::syncer::{self, Syncer};
use super::{Job, Reply, Store};
use crate::node::disk_thread::DiskThread;

/// The most jobs in one batch: bounds a transaction (and the wait for its replies).
pub const BATCH: usize = 4096;

/// How long no job must come before the store indexes a chunk of texts: long enough that
/// a burst (a paste, a sync, a busy group) is indexed in one go, short enough that the
/// index is ready long before anyone searches.
pub const IDLE: Duration = Duration::from_millis(250);

/// The most writes that commit on the caller's thread at once: a larger batch (a sync page,
/// a burst) goes to the thread, which would not hold up the caller's other work for it.
pub const INLINE_MAX: usize = 32;

/// What the store thread is handed.
#[derive(Debug)]
// Moved once, through a channel, and nearly always a job: see `Job`.
#[allow(clippy::large_enum_variant)]
enum Task {
    Job(Job),
    /// Writes up to this token committed on the caller's thread: to be synced.
    Committed(u64),
    /// Writes committed on the caller's thread in memory (nothing to sync) left many texts
    /// for the full-text index.
    Index,
}

/// The store and how many jobs the thread has yet to answer, shared with the caller.
#[derive(Debug)]
struct Shared {
    store: Mutex<Store>,
    /// Jobs submitted whose replies are not sent yet: a write may only commit on the
    /// caller's thread when there are none, so replies keep the jobs' order.
    pending: AtomicUsize,
    /// The next commit may start the log afresh (the first after opening it, or after a
    /// checkpoint), which SQLite syncs: it is left to the thread.
    log_restart: AtomicBool,
}

/// The store thread's handle.
#[derive(Debug)]
pub struct StoreThread {
    thread: DiskThread<Task>,
    shared: Arc<Shared>,
    replies: mpsc::UnboundedSender<Reply>,
    /// Writes may commit on the caller's thread (not when tests slow the store down).
    inline: bool,
    /// The store is on disk: its commits are synced by the syncer (else there is nothing
    /// to sync, and a commit is as good as synced).
    on_disk: bool,
}

/// Starts the store thread, which owns `store` from now on; replies go to `replies`.
/// `delay` (zero but in tests) is waited before each batch.
pub fn spawn(
    mut store: Store,
    replies: mpsc::UnboundedSender<Reply>,
    delay: Duration,
) -> std::io::Result<StoreThread> {
    let syncer = store
        .take_wal()
        .map(|wal| syncer::spawn(wal, replies.clone()))
        .transpose()?;
    let on_disk = syncer.is_some();
    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        pending: AtomicUsize::new(0),
        log_restart: AtomicBool::new(true),
    });
    let thread = {
        let (shared, replies) = (shared.clone(), replies.clone());
        DiskThread::spawn("natter-store", move |rx| {
            run(&shared, &rx, &replies, syncer, delay);
        })?
    };
    Ok(StoreThread {
        thread,
        shared,
        replies,
        inline: delay.is_zero(),
        on_disk,
    })
}

impl StoreThread {
    /// Queues a job (never blocks).
    pub fn submit(&self, job: Job) {
        self.shared.pending.fetch_add(1, Ordering::SeqCst);
        self.thread.submit(Task::Job(job));
    }

    /// Runs `jobs` here and now if they are a few writes (up to [`INLINE_MAX`]) and the
    /// thread has nothing to do (never waiting for it: a busy thread gets them queued),
    /// else queues them. The replies go out the same way either way.
    pub fn run_or_submit(&self, jobs: Vec<Job>) {
        let here = self.inline
            && may_commit_here(
                &jobs,
                self.shared.pending.load(Ordering::SeqCst),
                self.shared.log_restart.load(Ordering::SeqCst),
            );
        if here {
            let store = match self.shared.store.try_lock() {
                Ok(store) => Some(store),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            if let Some(mut store) = store {
                let replies = store.run(jobs);
                let behind = store.unindexed() > MAX_BEHIND;
                drop(store);
                match send(replies, &self.replies) {
                    Some(up_to) if self.on_disk => self.thread.submit(Task::Committed(up_to)),
                    Some(up_to) => {
                        let _ = self.replies.send(Reply::synced(up_to));
                        if behind {
                            self.thread.submit(Task::Index);
                        }
                    }
                    None => {}
                }
                return;
            }
        }
        for job in jobs {
            self.submit(job);
        }
    }

    /// Runs what is queued and stops, waiting at most `limit`.
    pub async fn finish(self, limit: Duration) {
        // The thread's share is the last: the store closes there, after the syncer.
        let Self { thread, shared, .. } = self;
        drop(shared);
        thread.finish(limit).await;
    }
}

/// Whether `jobs` may commit on the caller's thread: a few writes, no job left to answer
/// before them (`pending`), and no log restart due (an fsync).
fn may_commit_here(jobs: &[Job], pending: usize, log_restart: bool) -> bool {
    pending == 0
        && !log_restart
        && jobs.len() <= INLINE_MAX
        && jobs.iter().all(|job| matches!(job, Job::Write(..)))
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    // A panic while it was held left nothing half done that the next transaction cares
    // about (an unfinished transaction rolls back).
    store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends `replies`; the highest token of the writes that committed among them.
fn send(replies: Vec<Reply>, to: &mpsc::UnboundedSender<Reply>) -> Option<u64> {
    let mut committed = None;
    for reply in replies {
        if let Reply::Written {
            tokens,
            result: Ok(()),
            ..
        } = &reply
        {
            committed = committed.max(tokens.iter().copied().max());
        }
        // Nobody listening: the node is stopping; keep committing what is queued.
        let _ = to.send(reply);
    }
    committed
}

fn run(
    shared: &Shared,
    rx: &std_mpsc::Receiver<Task>,
    replies: &mpsc::UnboundedSender<Reply>,
    syncer: Option<Syncer>,
    delay: Duration,
) {
    while let Some(first) = next_job(&shared.store, rx) {
        let mut batch = Vec::new();
        let mut committed = None;
        for task in std::iter::once(first).chain(rx.try_iter().take(BATCH - 1)) {
            match task {
                Task::Job(job) => batch.push(job),
                Task::Committed(up_to) => committed = committed.max(Some(up_to)),
                Task::Index => {}
            }
        }
        if !batch.is_empty() {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            let jobs = batch.len();
            let answered = lock(&shared.store).run(batch);
            let written = send(answered, replies);
            if written.is_some() {
                shared.log_restart.store(false, Ordering::SeqCst);
            }
            committed = committed.max(written);
            // Only now, after the replies: see `Shared::pending`.
            shared.pending.fetch_sub(jobs, Ordering::SeqCst);
        }
        match (committed, &syncer) {
            (Some(up_to), Some(syncer)) => syncer.submit(up_to),
            // In memory: nothing to sync.
            (Some(up_to), None) => {
                let _ = replies.send(Reply::synced(up_to));
            }
            (None, _) => {}
        }
        let mut store = lock(&shared.store);
        if store.checkpoint_if_due() {
            shared.log_restart.store(true, Ordering::SeqCst);
        }
        // Back under the bound (a batch may have added up to 4,096 rows).
        while store.unindexed() > MAX_BEHIND {
            store.index_some(CHUNK);
        }
    }
    // Every commit synced before the store closes (which may remove its log).
    if let Some(syncer) = syncer {
        syncer.join();
    }
}

/// Waits for the next task, indexing texts, a chunk at a time, once none came for
/// [`IDLE`] (and then for as long as none comes); `None` once the node stops.
pub(super) fn next_job<T>(store: &Mutex<Store>, rx: &std_mpsc::Receiver<T>) -> Option<T> {
    use std_mpsc::{RecvTimeoutError, TryRecvError};
    let mut idle = false;
    while lock(store).unindexed() > 0 {
        let next = if idle {
            rx.try_recv().map_err(|e| match e {
                TryRecvError::Empty => RecvTimeoutError::Timeout,
                TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            })
        } else {
            rx.recv_timeout(IDLE)
        };
        match next {
            Ok(task) => return Some(task),
            Err(RecvTimeoutError::Timeout) => {
                lock(store).index_some(CHUNK);
                idle = true;
            }
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
    rx.recv().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::store::{Read, Write};

    #[test]
    fn only_a_few_writes_with_nothing_before_them_and_no_log_restart_commit_here() {
        let write = || Job::Write(1, Write::ListenPort(1));
        let read = Job::Read(2, Read::Health);
        assert!(may_commit_here(&[write(), write()], 0, false));
        // A job not answered yet would be overtaken.
        assert!(!may_commit_here(&[write()], 1, false));
        // The log's restart syncs.
        assert!(!may_commit_here(&[write()], 0, true));
        // A read may be long (a search indexes first).
        assert!(!may_commit_here(&[write(), read], 0, false));
        let many: Vec<Job> = (0..=INLINE_MAX).map(|_| write()).collect();
        assert!(!may_commit_here(&many, 0, false));
        assert!(may_commit_here(&many[1..], 0, false));
    }
}
