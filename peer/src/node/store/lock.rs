//! [`DirLock`]: one natter per data directory.
//!
//! Two processes writing the same `natter.db` and JSON files would each believe its own
//! view (its own seq counter, its own member cache), so the second is refused before it
//! opens anything. The lock is the OS's (`flock`-style, through `File::try_lock`): it goes
//! with the process however it ends, even by `kill -9`, so there is never a stale lock to
//! clean up. The holder's pid is written into the file only to tell the user who holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file in the data directory.
pub const LOCK_FILE: &str = "natter.lock";

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock. `path` is the data directory.
    #[error(
        "another natter{} is using the data directory {}; quit it first, or give this one another --data-dir",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        path.display()
    )]
    Held { path: PathBuf, pid: Option<u32> },
    /// The lock file (`path`) could not be opened, locked or written.
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The data directory's lock, held while this value lives (keep it for the process's
/// lifetime).
#[derive(Debug)]
pub struct DirLock {
    /// Open for as long as we hold the lock: closing it would release it.
    _file: File,
}

impl DirLock {
    /// Takes the lock on `dir` (which must exist), or says who holds it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        // Not truncated on open: the file may be the holder's, with its pid in it.
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    path: dir.to_path_buf(),
                    pid: read_pid(&mut file),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self { _file: file })
    }
}

/// The holder's pid, when the file has one (it may be empty for an instant while the
/// holder writes it).
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_with_the_pid() {
        let dir = tempfile::tempdir().expect("dir");
        let held = DirLock::acquire(dir.path()).expect("first lock");
        // The lock belongs to the open file, so a second open in this same process
        // conflicts just as another process would.
        let err = DirLock::acquire(dir.path()).expect_err("second lock");
        match &err {
            LockError::Held { path, pid } => {
                assert_eq!(path, dir.path());
                assert_eq!(*pid, Some(std::process::id()));
            }
            LockError::Io { .. } => panic!("{err}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(&format!("(pid {})", std::process::id())),
            "{text}"
        );
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        drop(held);
        DirLock::acquire(dir.path()).expect("free again once dropped");
    }

    #[cfg(unix)]
    #[test]
    fn the_lock_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let _lock = DirLock::acquire(dir.path()).expect("lock");
        let mode = std::fs::metadata(dir.path().join(LOCK_FILE))
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("nope");
        let err = DirLock::acquire(&missing).expect_err("no directory");
        assert!(matches!(err, LockError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains(LOCK_FILE), "{err}");
    }
}
