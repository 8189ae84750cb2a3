//! The syncer: a thread beside the store thread that fsyncs the write-ahead log, so that no
//! commit waits for the disk before it is shown, and no commit waits behind an fsync.
//!
//! A commit returns once it is in the log, before any fsync (`synchronous=NORMAL`): a
//! killed process cannot lose it (the kernel holds the pages), a power cut can. After each
//! batch the store thread tells the syncer the highest token it committed; the syncer
//! fsyncs the log once for everything told by the time it starts (the commits piling up
//! during one fsync share the next: group commit) and answers [`Reply::Synced`]. The core
//! acknowledges a received message only then.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use super::Reply;
use crate::node::disk_thread::DiskThread;

/// The first failure to put the store's writes on the disk (a sync, or a checkpoint,
/// which syncs too), shared by the store and the syncer. After one, the kernel may have
/// dropped pages it could not write while reporting them written to anyone who asks
/// later, so no later sync is trusted: every one fails with this.
pub type DiskFailure = Arc<OnceLock<String>>;

/// The store's write-ahead log, as the syncer sees it.
#[derive(Debug)]
pub struct WalFile {
    /// Opened with the store and kept: a write error is reported to every descriptor that
    /// was open when it happened, not to one opened after (and SQLite keeps the log
    /// while its connection is open).
    file: File,
    dir: PathBuf,
    /// The file errors name (the database's).
    label: String,
    /// The directory that lists the log has been synced once.
    listed: bool,
    failure: DiskFailure,
}

impl WalFile {
    /// The log of the database `label` in `dir`, which must exist.
    pub fn open(
        dir: &Path,
        file_name: &str,
        label: String,
        failure: DiskFailure,
    ) -> std::io::Result<Self> {
        let file = File::open(dir.join(format!("{file_name}-wal")))?;
        Ok(Self {
            file,
            dir: dir.to_path_buf(),
            label,
            listed: false,
            failure,
        })
    }

    /// Puts every commit made before this call on the disk.
    pub fn sync(&mut self) -> Result<(), String> {
        if let Some(earlier) = self.failure.get() {
            return Err(earlier.clone());
        }
        let synced = self.file.sync_data().and_then(|()| {
            if !self.listed {
                File::open(&self.dir)?.sync_all()?;
                self.listed = true;
            }
            Ok(())
        });
        synced.map_err(|e| {
            let why = format!(
                "cannot write {}: {e} (syncing it to the disk; what this run stored since \
                 is not acknowledged)",
                self.label
            );
            self.failure.get_or_init(|| why).clone()
        })
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
