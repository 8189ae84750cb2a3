//! The syncer: a thread beside the store thread that fsyncs the write-ahead log, so that no
//! commit waits for the disk before it is shown, and no commit waits behind an fsync.
//!
//! A commit returns once it is in the log, before any fsync (`synchronous=NORMAL`): a
//! killed process cannot lose it (the kernel holds the pages), a power cut can. After each
//! batch the store thread tells the syncer the highest token it committed; the syncer
//! fsyncs the log once for everything told by the time it starts (the commits piling up
//! during one fsync share the next: group commit) and answers [`Reply::Synced`]. The core
//! acknowledges a received message only then.

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;

use tokio::sync::mpsc;

use super::Reply;
use crate::node::disk_thread::DiskThread;

/// The store's write-ahead log, as the syncer sees it.
#[derive(Debug)]
pub struct WalFile {
    path: PathBuf,
    /// The file errors name (the database's).
    label: String,
    /// The directory that lists the log has been synced once.
    listed: bool,
}

impl WalFile {
    /// The log of the database `label` in `dir`.
    pub fn new(dir: &std::path::Path, file_name: &str, label: String) -> Self {
        Self {
            path: dir.join(format!("{file_name}-wal")),
            label,
            listed: false,
        }
    }

    /// Puts every commit made before this call on the disk.
    pub fn sync(&mut self) -> Result<(), String> {
        let synced = (|| {
            // Opened anew each time rather than kept: an fsync of any descriptor of the
            // file writes out all of its pages, and a new one always names the log that
            // SQLite is using.
            std::fs::File::open(&self.path)?.sync_data()?;
            if !self.listed
                && let Some(dir) = self.path.parent()
            {
                std::fs::File::open(dir)?.sync_all()?;
                self.listed = true;
            }
            Ok::<(), std::io::Error>(())
        })();
        synced.map_err(|e| format!("cannot write {}: {e} (syncing it to the disk)", self.label))
    }
}

/// The syncer's handle: [`DiskThread::submit`] tells it the highest token committed.
pub type Syncer = DiskThread<u64>;

/// Starts the syncer of `wal`; its replies go to `replies`.
pub fn spawn(wal: WalFile, replies: mpsc::UnboundedSender<Reply>) -> std::io::Result<Syncer> {
    DiskThread::spawn("natter-sync", move |rx| run(wal, &rx, &replies))
}

fn run(mut wal: WalFile, rx: &std_mpsc::Receiver<u64>, replies: &mpsc::UnboundedSender<Reply>) {
    while let Ok(first) = rx.recv() {
        let up_to = rx.try_iter().fold(first, u64::max);
        let result = wal.sync();
        // Nobody listening: the node is stopping; the commits are synced all the same.
        let _ = replies.send(Reply::Synced { up_to, result });
    }
}
