//! [`StoreThread`]: the one thread that owns the [`Store`], so no runtime worker ever waits
//! on the disk.
//!
//! It sleeps until a job comes, then takes every job already queued behind it (up to
//! [`BATCH`]) and runs them as one batch, in one transaction. A commit is not synced to
//! the disk at once: the thread first runs whatever jobs came meanwhile, and fsyncs once
//! none is waiting (or [`SYNC_WITHIN`] after the first commit not synced), for every
//! commit so far: the more the core sends, the fewer fsyncs per message (group commit),
//! and no commit waits for an fsync before it is shown.
//!
//! Texts reach the full-text index after the commit that stored them (see `indexing`): a
//! chunk at a time once no job has come for [`IDLE`], or between batches while more than
//! [`MAX_BEHIND`] rows wait.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::indexing::{CHUNK, MAX_BEHIND};
use super::{Job, Reply, Store};
use crate::node::disk_thread::DiskThread;

/// The most jobs in one batch: bounds a transaction (and the wait for its replies).
pub const BATCH: usize = 4096;

/// At most how long a commit waits for its fsync while jobs keep coming: bounds the wait
/// for acknowledgements under a steady stream.
pub const SYNC_WITHIN: Duration = Duration::from_millis(10);

/// The store thread's handle: [`StoreThread::submit`] queues a job.
pub type StoreThread = DiskThread<Job>;

/// How long no job must come before the store indexes a chunk of texts: long enough that
/// a burst (a paste, a sync, a busy group) is indexed in one go, short enough that the
/// index is ready long before anyone searches.
pub const IDLE: Duration = Duration::from_millis(250);

/// Starts the store thread, which owns `store` from now on; replies go to `replies`.
/// `delay` (zero but in tests) is waited before each batch.
pub fn spawn(
    store: Store,
    replies: mpsc::UnboundedSender<Reply>,
    delay: Duration,
) -> std::io::Result<StoreThread> {
    DiskThread::spawn("natter-store", move |rx| run(store, &rx, &replies, delay))
}

fn run(
    mut store: Store,
    rx: &std_mpsc::Receiver<Job>,
    replies: &mpsc::UnboundedSender<Reply>,
    delay: Duration,
) {
    // The highest token committed but not synced yet, and since when.
    let mut unsynced: Option<(u64, Instant)> = None;
    loop {
        let waiting = match unsynced {
            Some((_, since)) if since.elapsed() < SYNC_WITHIN => rx.try_recv().ok(),
            _ => None,
        };
        let first = match waiting {
            Some(job) => job,
            None => {
                sync(&mut store, &mut unsynced, replies);
                match next_job(&mut store, rx) {
                    Some(job) => job,
                    None => break,
                }
            }
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        for reply in store.run(batch) {
            if let Reply::Written {
                tokens,
                result: Ok(()),
                ..
            } = &reply
            {
                let (before, since) = unsynced.unwrap_or((0, Instant::now()));
                let up_to = tokens.iter().copied().fold(before, u64::max);
                unsynced = Some((up_to, since));
            }
            // Nobody listening: the node is stopping; keep committing what is queued.
            let _ = replies.send(reply);
        }
        // Back under the bound (a batch may have added up to 4,096 rows).
        while store.unindexed() > MAX_BEHIND {
            store.index_some(CHUNK);
        }
    }
}

/// Syncs what was committed since the last sync, if anything, and says so.
fn sync(
    store: &mut Store,
    unsynced: &mut Option<(u64, Instant)>,
    replies: &mpsc::UnboundedSender<Reply>,
) {
    if let Some((up_to, _)) = unsynced.take() {
        let result = store.sync();
        let _ = replies.send(Reply::Synced { up_to, result });
    }
}

/// Waits for the next job, indexing texts, a chunk at a time, once none came for [`IDLE`]
/// (and then for as long as none comes); `None` once the node stops.
pub(super) fn next_job(store: &mut Store, rx: &std_mpsc::Receiver<Job>) -> Option<Job> {
    use std_mpsc::{RecvTimeoutError, TryRecvError};
    let mut idle = false;
    while store.unindexed() > 0 {
        let next = if idle {
            rx.try_recv().map_err(|e| match e {
                TryRecvError::Empty => RecvTimeoutError::Timeout,
                TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            })
        } else {
            rx.recv_timeout(IDLE)
        };
        match next {
            Ok(job) => return Some(job),
            Err(RecvTimeoutError::Timeout) => {
                store.index_some(CHUNK);
                idle = true;
            }
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
    rx.recv().ok()
}
