//! `/doctor`'s look at the disk, run on the store thread: can a file be made in the data
//! directory, does SQLite's `quick_check` pass, and can the database take a write lock.

use std::io::Write as _;
use std::path::Path;

use rusqlite::Connection;

use super::db::describe;
use crate::node::diagnosis::Health;

/// The most problems `quick_check` reports (it lists one per damaged spot).
const MAX_PROBLEMS: usize = 3;

/// The store's health: `dir` is the data directory (`None` for a store in memory), `label`
/// the database file as errors name it.
pub fn check(conn: &Connection, dir: Option<&Path>, label: &str) -> Health {
    Health {
        dir: dir.map(|d| d.display().to_string()),
        writable: dir.map_or(Ok(()), writable),
        file: label.to_owned(),
        database: quick_check(conn).and_then(|()| {
            // A write lock, taken and given back: a read-only file shows here rather than
            // at the next message. (No other program can hold the file: the store keeps
            // its locks from its start, and a start the file was held at fails.)
            conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
                .map_err(|e| describe(label, "lock", &e))
        }),
    }
}

fn quick_check(conn: &Connection) -> Result<(), String> {
    let mut statement = conn
        .prepare("PRAGMA quick_check")
        .map_err(|e| e.to_string())?;
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    for row in rows.take(MAX_PROBLEMS) {
        let row = row.map_err(|e| e.to_string())?;
        if row != "ok" {
            problems.push(row);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("quick_check found: {}", problems.join("; ")))
    }
}

/// Makes, writes and removes a small file in `dir`.
fn writable(dir: &Path) -> Result<(), String> {
    let path = dir.join(format!(".doctor-{}.tmp", std::process::id()));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(b"natter doctor\n").and_then(|()| f.sync_all()));
    let removed = std::fs::remove_file(&path);
    result.and(removed).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_store_in_a_writable_dir_is_healthy() {
        let dir = tempfile::tempdir().expect("dir");
        let conn = Connection::open(dir.path().join("x.db")).expect("open");
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .expect("fill");
        let health = check(&conn, Some(dir.path()), "x.db");
        assert_eq!(health.writable, Ok(()));
        assert_eq!(health.database, Ok(()));
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "nothing left behind"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_dir_is_reported() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let conn = Connection::open_in_memory().expect("open");
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).expect("mkdir");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).expect("chmod");
        let health = check(&conn, Some(&ro), "mem");
        // Root may write anywhere; only check when the directory really refuses us.
        if std::fs::write(ro.join("probe"), b"x").is_err() {
            assert!(health.writable.is_err());
        }
        assert_eq!(health.database, Ok(()));
    }
}
