//! [`StoreThread`]: the one thread that owns the [`Store`], so no runtime worker ever waits
//! on the disk.
//!
//! It sleeps until a job comes, then takes every job already queued behind it (up to
//! [`BATCH`]) and runs them as one batch: while one commit is being synced the next burst
//! piles up, so the more the core sends, the fewer fsyncs per message (group commit).

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Job, Reply, Store};

/// The most jobs in one batch: bounds a transaction (and the wait for its replies).
pub const BATCH: usize = 4096;

/// The store thread's handle.
#[derive(Debug)]
pub struct StoreThread {
    jobs: std_mpsc::Sender<Job>,
    thread: JoinHandle<()>,
}

impl StoreThread {
    /// Starts the thread, which owns `store` from now on; replies go to `replies`.
    pub fn spawn(store: Store, replies: mpsc::UnboundedSender<Reply>) -> std::io::Result<Self> {
        let (jobs, rx) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("natter-store".into())
            .spawn(move || run(store, &rx, &replies))?;
        Ok(Self { jobs, thread })
    }

    /// Queues a job (never blocks).
    pub fn submit(&self, job: Job) {
        // The thread only stops when this handle is finished.
        let _ = self.jobs.send(job);
    }

    /// Runs what is queued and stops, waiting at most `limit`.
    pub async fn finish(self, limit: Duration) {
        let Self { jobs, thread } = self;
        drop(jobs);
        let joined = tokio::task::spawn_blocking(move || thread.join());
        if tokio::time::timeout(limit, joined).await.is_err() {
            tracing::warn!("the store did not finish in time");
        }
    }
}

fn run(mut store: Store, rx: &std_mpsc::Receiver<Job>, replies: &mpsc::UnboundedSender<Reply>) {
    while let Ok(first) = rx.recv() {
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
