//! The data directory's files: where each lives, loading them all at start, and the one
//! writer thread that saves them (so no file is written on the async runtime's workers).
//!
//! `keys.json`, `blocked.json` and `trackers.json` must load (starting empty would
//! silently forget whom the user trusts or blocks); an unusable `members.json` is set aside
//! with a warning. The writer takes [`Save`]s over a channel, keeps only the newest of each
//! file when several wait, writes each atomically and answers with the result (an error
//! names the file). Messages live in the store (`super::store`), on a thread of its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;

use tokio::sync::mpsc;

use super::cache_file::{self, CacheFile};
use super::core::Save;
use super::core::saving::DataFile;
use super::disk_thread::DiskThread;
use super::json_file;
use super::keys::{BLOCKED_FILE, PEER_PINS_FILE, TRACKER_PINS_FILE, TrackerPins};
use super::trust::Trust;

/// Where `file` lives in `dir`.
pub fn path(dir: &Path, file: DataFile) -> PathBuf {
    dir.join(match file {
        DataFile::Members => cache_file::FILE_NAME,
        DataFile::PeerPins => PEER_PINS_FILE,
        DataFile::Blocked => BLOCKED_FILE,
        DataFile::TrackerPins => TRACKER_PINS_FILE,
    })
}

/// Everything loaded at start.
#[derive(Debug, Default)]
pub struct Loaded {
    pub cache: CacheFile,
    pub trust: Trust,
    pub tracker_pins: TrackerPins,
    /// Files that could not be used and were set aside, for the user.
    pub warnings: Vec<String>,
}

/// Loads every file in `dir`; fails on an unusable trust file.
pub fn load(dir: &Path) -> Result<Loaded, String> {
    let pins = json_file::load_strict(&path(dir, DataFile::PeerPins))?;
    let blocked = json_file::load_strict(&path(dir, DataFile::Blocked))?;
    let tracker_pins = json_file::load_strict(&path(dir, DataFile::TrackerPins))?;
    let mut warnings = Vec::new();
    let (cache, warning) = cache_file::load(&path(dir, DataFile::Members));
    warnings.extend(warning);
    Ok(Loaded {
        cache,
        trust: Trust::new(pins, blocked),
        tracker_pins,
        warnings,
    })
}

/// A file's save result, for the core.
pub type Saved = (DataFile, Result<(), String>);

/// The writer thread's handle: [`Writer::submit`] queues a save.
pub type Writer = DiskThread<Save>;

/// Starts the writer for `dir`; results go to `results`.
pub fn spawn_writer(
    dir: PathBuf,
    results: mpsc::UnboundedSender<Saved>,
) -> std::io::Result<Writer> {
    DiskThread::spawn("natter-writer", move |rx| write_all(&dir, &rx, &results))
}

fn write_all(dir: &Path, rx: &std_mpsc::Receiver<Save>, results: &mpsc::UnboundedSender<Saved>) {
    while let Ok(first) = rx.recv() {
        // Only the newest version of each file matters.
        let mut batch = BTreeMap::new();
        batch.insert(first.file(), first);
        while let Ok(next) = rx.try_recv() {
            batch.insert(next.file(), next);
        }
        for (file, save) in batch {
            let path = path(dir, file);
            let result = match &save {
                Save::Members(cache) => json_file::save(&path, cache),
                Save::PeerPins(pins) => json_file::save(&path, pins),
                Save::Blocked(blocked) => json_file::save(&path, blocked),
                Save::TrackerPins(pins) => json_file::save(&path, pins),
            }
            .map_err(|e| {
                tracing::warn!(path = %path.display(), error = %e, "cannot save");
                format!("cannot save {}: {e}", path.display())
            });
            let _ = results.send((file, result));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_writer_saves_the_newest_and_reports_failures() {
        let dir = tempfile::tempdir().expect("dir");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let writer = spawn_writer(dir.path().to_path_buf(), tx).expect("writer");
        let mut cache = CacheFile {
            tracker: "one".into(),
            ..CacheFile::default()
        };
        writer.submit(Save::Members(cache.clone()));
        cache.tracker = "two".into();
        writer.submit(Save::Members(cache.clone()));
        // A directory where the pins file should be: that save fails, naming the file.
        std::fs::create_dir(path(dir.path(), DataFile::PeerPins)).expect("mkdir");
        writer.submit(Save::PeerPins(Default::default()));
        writer.finish(std::time::Duration::from_secs(10)).await;
        let mut results = Vec::new();
        while let Ok(r) = rx.try_recv() {
            results.push(r);
        }
        assert!(
            results.contains(&(DataFile::Members, Ok(()))),
            "{results:?}"
        );
        let failed = results
            .iter()
            .find(|(f, _)| *f == DataFile::PeerPins)
            .and_then(|(_, r)| r.clone().err())
            .expect("a failure");
        assert!(failed.contains("keys.json"), "{failed}");
        let (loaded, _) = cache_file::load(&path(dir.path(), DataFile::Members));
        assert_eq!(loaded.tracker, "two");
    }
}
