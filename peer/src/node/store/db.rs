//! [`Store`]: the connection to `natter.db`, opened once, and a batch of jobs run on it.
//!
//! Every error comes back as a sentence naming the file and what went wrong in plain
//! words (damaged, read-only, disk full…), for the user: the store never panics on what
//! it finds on disk.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use natter_protocol::PublicKey;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::schema::{self, MIGRATIONS, Migrate};
use super::syncer::{DiskFailure, WalFile};
use super::{
    Answer, Applied, FILE_NAME, Job, Loaded, Read, Reply, Write, health, indexing, read, write,
};

/// The open database. One per data directory (see [`super::DirLock`]), used by one thread.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// Whose messages are "ours" (author of `Own`, and of the seqs `Delivered` names).
    own_key: PublicKey,
    /// The file, as errors name it.
    label: String,
    /// The data directory (`None` in memory), for `/doctor`.
    dir: Option<std::path::PathBuf>,
    /// At most how many rows wait for the full-text index (see `indexing`).
    unindexed: u64,
    /// How many pages the write-ahead log holds, as its hook last said.
    wal_pages: Arc<AtomicU32>,
    /// The log, until the syncer takes it (`None` in memory).
    wal: Option<WalFile>,
    /// The first failure to put writes on the disk (see `syncer`).
    failure: DiskFailure,
}

/// The log's size, in pages, past which the store thread checkpoints it (SQLite's own
/// automatic checkpoint would run in whichever commit crossed it, fsyncs included).
const CHECKPOINT_PAGES: u32 = 1000;

impl Store {
    /// Opens (creating it if needed) `dir/natter.db`, brings its schema up to date and
    /// loads what the core needs at start.
    pub fn open(dir: &Path, own_key: PublicKey) -> Result<(Self, Loaded), String> {
        let path = dir.join(FILE_NAME);
        let label = path.display().to_string();
        make_private(&path).map_err(|e| format!("cannot open {label}: {e}"))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(&path, flags).map_err(|e| describe(&label, "open", &e))?;
        // SQLite quietly falls back to read-only for a file it may not write; we would
        // only find out at the first message.
        if conn
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(|e| describe(&label, "open", &e))?
        {
            return Err(format!(
                "cannot open {label}: permission denied (the file is read-only for this user)"
            ));
        }
        let (mut store, loaded) = Self::init(conn, own_key, label.clone(), true)?;
        store.dir = Some(dir.to_path_buf());
        let mut wal = WalFile::open(dir, FILE_NAME, label.clone(), store.failure.clone())
            .map_err(|e| format!("cannot open {label}'s write-ahead log: {e}"))?;
        // What a killed run committed but never synced is on the disk before anything
        // loaded now is acknowledged or numbered on.
        wal.sync()?;
        store.wal = Some(wal);
        Ok((store, loaded))
    }

    /// The same store in memory (nothing is kept): for measuring the node without the disk.
    pub fn in_memory(own_key: PublicKey) -> Result<(Self, Loaded), String> {
        let label = "the in-memory store".to_string();
        let conn = Connection::open_in_memory().map_err(|e| describe(&label, "open", &e))?;
        Self::init(conn, own_key, label, false)
    }

    fn init(
        mut conn: Connection,
        own_key: PublicKey,
        label: String,
        on_disk: bool,
    ) -> Result<(Self, Loaded), String> {
        set_pragmas(&conn, on_disk, &label)?;
        // Replaces SQLite's automatic checkpoint, which is itself a log hook.
        let wal_pages = Arc::new(AtomicU32::new(0));
        let seen = wal_pages.clone();
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            seen.store(u32::try_from(pages).unwrap_or(0), Ordering::Relaxed);
            Ok(())
        }))
        .map_err(|e| describe(&label, "open", &e))?;
        schema::migrate(&mut conn).map_err(|e| match e {
            Migrate::TooNew { version } => format!(
                "cannot open {label}: it was written by a newer natter (schema version \
                 {version}; this one knows up to {}); run that newer natter, or move the \
                 file aside to start afresh",
                MIGRATIONS.len()
            ),
            Migrate::Sqlite(e) => describe(&label, "set up", &e),
        })?;
        // Statements run once per message: keep every one of them prepared. The store has
        // about 40 (some in a group and a private form), so 32 would let a read evict a
        // statement of the write path, to be prepared again at the next message.
        conn.set_prepared_statement_cache_capacity(64);
        let loaded = read::load(&conn, &own_key).map_err(|e| describe(&label, "read", &e))?;
        let unindexed = indexing::behind(&conn).map_err(|e| describe(&label, "read", &e))?;
        Ok((
            Self {
                conn,
                own_key,
                label,
                dir: None,
                unindexed,
                wal_pages,
                wal: None,
                failure: DiskFailure::default(),
            },
            loaded,
        ))
    }

    /// Runs a batch: every write in one transaction (synced later, by the syncer), then
    /// every read. The replies: one [`Reply::Written`] for all the writes' tokens (first,
    /// if there were writes), then one [`Reply::Answered`] per read, in order. A read
    /// sees every write of the batch, so it is answered after the writes queued before it.
    pub fn run(&mut self, jobs: Vec<Job>) -> Vec<Reply> {
        let mut tokens = Vec::new();
        let mut writes = Vec::new();
        let mut reads = Vec::new();
        for job in jobs {
            match job {
                Job::Write(token, w) => {
                    tokens.push(token);
                    writes.push(w);
                }
                Job::Read(token, r) => reads.push((token, r)),
            }
        }
        let mut replies = Vec::with_capacity(reads.len() + 1);
        if !tokens.is_empty() {
            let mut applied = Vec::new();
            let result = self
                .write_all(&writes, &mut applied)
                .map_err(|e| describe(&self.label, "write", &e));
            match &result {
                Ok(()) => self.count_unindexed(),
                Err(error) => {
                    tracing::warn!(%error, writes = writes.len(), "a batch of writes failed");
                    applied.clear();
                }
            }
            replies.push(Reply::Written {
                tokens,
                result,
                applied,
            });
        }
        for (token, r) in reads {
            let result = match r {
                Read::Health => Ok(Answer::Health(health::check(
                    &self.conn,
                    self.dir.as_deref(),
                    &self.label,
                ))),
                r @ (Read::Search { .. } | Read::Mentions { .. }) => self
                    .index_everything()
                    .and_then(|()| read::answer(&self.conn, &self.own_key, &r))
                    .map_err(|e| describe(&self.label, "read", &e)),
                r => read::answer(&self.conn, &self.own_key, &r)
                    .map_err(|e| describe(&self.label, "read", &e)),
            };
            replies.push(Reply::Answered { token, result });
        }
        replies
    }

    /// Its write-ahead log, for the syncer (`None` in memory: nothing to sync).
    pub fn take_wal(&mut self) -> Option<WalFile> {
        self.wal.take()
    }

    /// Copies the write-ahead log into the database file (and syncs both) once it has
    /// grown past [`CHECKPOINT_PAGES`]; whether it did. A failure is logged, and fails
    /// every later sync (see `syncer`): the checkpoint syncs the log first.
    pub fn checkpoint_if_due(&mut self) -> bool {
        if self.wal_pages.load(Ordering::Relaxed) < CHECKPOINT_PAGES {
            return false;
        }
        self.wal_pages.store(0, Ordering::Relaxed);
        let done = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if let Err(e) = done {
            let error = describe(&self.label, "checkpoint", &e);
            tracing::warn!(%error, "the write-ahead log could not be checkpointed");
            self.failure.get_or_init(|| error);
        }
        true
    }

    /// At most how many stored rows the full-text index has yet to take in.
    pub fn unindexed(&self) -> u64 {
        self.unindexed
    }

    /// Indexes up to `limit` of the rows waiting for the full-text index, between jobs. A
    /// failure is logged and stops this until more is stored: a search indexes what it
    /// needs itself (and reports a failure).
    pub fn index_some(&mut self, limit: usize) {
        match indexing::index_after(&mut self.conn, Some(limit)) {
            Ok(passed) if passed < limit as u64 => self.unindexed = 0,
            Ok(passed) => self.unindexed = self.unindexed.saturating_sub(passed),
            Err(e) => {
                let error = describe(&self.label, "index", &e);
                tracing::warn!(%error, "the full-text index could not catch up");
                self.unindexed = 0;
            }
        }
    }

    /// Counts the rows waiting for the full-text index again, after a batch stored some. (A
    /// failure leaves the count as it was: a search still indexes everything first.)
    fn count_unindexed(&mut self) {
        match indexing::behind(&self.conn) {
            Ok(n) => self.unindexed = n,
            Err(e) => tracing::warn!(error = %e, "cannot count the rows waiting for the index"),
        }
    }

    /// Indexes every row waiting for the full-text index: a search sees every message.
    fn index_everything(&mut self) -> rusqlite::Result<()> {
        indexing::index_after(&mut self.conn, None)?;
        self.unindexed = 0;
        Ok(())
    }

    /// The connection, for tests that damage or lock the file.
    #[cfg(test)]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The connection, for tests that watch what SQLite does.
    #[cfg(test)]
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// All of `writes` or none: the transaction rolls back when dropped uncommitted.
    fn write_all(&mut self, writes: &[Write], applied: &mut Vec<Applied>) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        for w in writes {
            write::apply(&tx, &self.own_key, w, applied)?;
        }
        tx.commit()
    }
}

fn set_pragmas(conn: &Connection, on_disk: bool, label: &str) -> Result<(), String> {
    let open = |e: rusqlite::Error| describe(label, "open", &e);
    // One natter per data directory (`lock.rs`), so the file's locks are taken once and
    // kept, not taken and given back with `fcntl` calls in every transaction (some seven
    // system calls a commit); set before the log is first used, it also keeps the log's
    // index in our memory instead of a shared `-shm` file. (A commit alone: 40–48 → 32–40
    // µs, `store/tests/timing.rs`.) No other process can read the file while we run.
    if on_disk {
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(open)?;
    }
    // Also the first read of the file: a file that is not a database fails here.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open)?;
    if on_disk && !mode.eq_ignore_ascii_case("wal") {
        return Err(format!(
            "cannot open {label}: it stays in journal mode {mode:?} instead of write-ahead \
             logging (SQLite refused to switch it)"
        ));
    }
    // NORMAL: a commit returns once it is in the write-ahead log, before the fsync, which
    // the syncer does after it (see `syncer`), once for every commit made by then: the core
    // shows a message at its commit and acknowledges it after the sync. SQLite itself
    // still syncs the log before each checkpoint and the file after it.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(open)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open)?;
    // A deleted message's text is overwritten with zeros in the file, not just unlinked
    // (the old page may live on in the write-ahead log until its next checkpoint).
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(open)?;
    // Plans that never look at bound values: else a statement whose plan could depend on
    // one (a partial index, `LIMIT ?`) is prepared again each time it is bound anew, which
    // was a fifth of the store thread's time per message. No statistics are kept for the
    // planner to use anyway.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(open)?;
    Ok(())
}

/// `e` while doing `doing` (open, read, write…) on `label`, in words a user can act on,
/// with SQLite's own message after them.
pub fn describe(label: &str, doing: &str, e: &rusqlite::Error) -> String {
    let plain = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Some(
            "it is not a database (damaged, or some other kind of file); move it aside to start afresh",
        ),
        Some(ErrorCode::DatabaseCorrupt) => {
            Some("the database is damaged; move it aside to start afresh")
        }
        Some(ErrorCode::CannotOpen) => Some(
            "the file cannot be opened (is it a directory, is the directory missing, or may this user not write there?)",
        ),
        Some(ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            Some("permission denied (the file or its directory is read-only for this user)")
        }
        Some(ErrorCode::DiskFull) => Some("the disk is full"),
        Some(ErrorCode::SystemIoFailure) => Some("the disk reported an error"),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            Some("another program is using the file")
        }
        _ => None,
    };
    match plain {
        Some(plain) => format!("cannot {doing} {label}: {plain} ({e})"),
        None => format!("cannot {doing} {label}: {e}"),
    }
}

/// A `u64` for an INTEGER column (SQLite's are signed). Times and our own seqs never come
/// near the limit; a larger value is stored as the largest.
pub fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// An INTEGER column read back as a `u64` (a negative one, which we never write, as 0).
pub fn uint(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A key stored as a 32-byte BLOB, if it is one.
pub fn key(bytes: &[u8]) -> Option<PublicKey> {
    let bytes: &[u8; PublicKey::LEN] = bytes.try_into().ok()?;
    PublicKey::from_bytes(bytes).ok()
}

/// Creates the database file readable by its owner only (SQLite gives its `-wal` and
/// `-shm` files the same mode), or makes an existing one so, like every data file.
fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
