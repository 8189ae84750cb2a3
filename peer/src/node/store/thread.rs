//! [`StoreThread`]: the one thread that owns the [`Store`], so no runtime worker ever waits
//! on the disk.
//!
//! It sleeps until a job comes, then takes every job already queued behind it (up to
//! [`BATCH`]) and runs them as one batch, in one transaction, and tells the syncer (see
//! `syncer`) what it committed: the fsync happens there, so no commit waits for one.
//!
//! Texts reach the full-text index after the commit that stored them (see `indexing`): a
//! chunk at a time once no job has come for [`IDLE`], or between batches while more than
//! [`MAX_BEHIND`] rows wait.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::indexing::{CHUNK, MAX_BEHIND};
use super::syncer::{self, Syncer};
use super::{Job, Reply, Store};
use crate::node::disk_thread::DiskThread;

/// The most jobs in one batch: bounds a transaction (and the wait for its replies).
pub const BATCH: usize = 4096;

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
    let syncer = store
        .wal()
        .map(|wal| syncer::spawn(wal, replies.clone()))
        .transpose()?;
    DiskThread::spawn("natter-store", move |rx| {
        run(store, &rx, &replies, syncer, delay);
    })
}

fn run(
    mut store: Store,
    rx: &std_mpsc::Receiver<Job>,
    replies: &mpsc::UnboundedSender<Reply>,
    syncer: Option<Syncer>,
    delay: Duration,
) {
    while let Some(first) = next_job(&mut store, rx) {
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
        let mut committed = None;
        for reply in store.run(batch) {
            if let Reply::Written {
                tokens,
                result: Ok(()),
                ..
            } = &reply
            {
                committed = tokens.iter().copied().max();
            }
            // Nobody listening: the node is stopping; keep committing what is queued.
            let _ = replies.send(reply);
        }
        match (committed, &syncer) {
            (Some(up_to), Some(syncer)) => syncer.submit(up_to),
            // In memory: nothing to sync.
            (Some(up_to), None) => {
                let _ = replies.send(Reply::Synced {
                    up_to,
                    result: Ok(()),
                });
            }
            (None, _) => {}
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
