//! [`StoreThread`]: the one thread that owns the [`Store`], so no runtime worker ever waits
//! on the disk.
//!
//! It sleeps until a job comes, then takes every job already queued behind it (up to
//! [`BATCH`]) and runs them as one batch: while one commit is being synced the next burst
//! piles up, so the more the core sends, the fewer fsyncs per message (group commit).

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Job, Reply, Store};
use crate::node::disk_thread::DiskThread;

/// The most jobs in one batch: bounds a transaction (and the wait for its replies).
pub const BATCH: usize = 4096;

/// The store thread's handle: [`StoreThread::submit`] queues a job.
pub type StoreThread = DiskThread<Job>;

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
    while let Ok(first) = rx.recv() {
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
            // Nobody listening: the node is stopping; keep committing what is queued.
            let _ = replies.send(reply);
        }
    }
}
