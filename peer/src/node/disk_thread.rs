//! A thread that owns some disk work (the data files' writer, the store), fed over a
//! channel, so no runtime worker ever waits on the disk.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The handle of a disk thread taking `T`s.
#[derive(Debug)]
pub struct DiskThread<T> {
    jobs: std_mpsc::Sender<T>,
    thread: JoinHandle<()>,
    name: &'static str,
}

impl<T: Send + 'static> DiskThread<T> {
    /// Starts thread `name`, which runs `work` on the jobs until the handle is finished.
    pub fn spawn(
        name: &'static str,
        work: impl FnOnce(std_mpsc::Receiver<T>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (jobs, rx) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || work(rx))?;
        Ok(Self { jobs, thread, name })
    }

    /// Queues a job (never blocks).
    pub fn submit(&self, job: T) {
        // The thread only stops once this handle is finished.
        let _ = self.jobs.send(job);
    }

    /// Runs what is queued and stops, waiting for it (from another disk thread).
    pub fn join(self) {
        let Self { jobs, thread, name } = self;
        drop(jobs);
        if thread.join().is_err() {
            tracing::warn!("{name} panicked");
        }
    }

    /// Runs what is queued and stops, waiting at most `limit`.
    pub async fn finish(self, limit: Duration) {
        let Self { jobs, thread, name } = self;
        drop(jobs);
        let joined = tokio::task::spawn_blocking(move || thread.join());
        if tokio::time::timeout(limit, joined).await.is_err() {
            tracing::warn!("{name} did not finish in time");
        }
    }
}
