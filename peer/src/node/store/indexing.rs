//! Catching the full-text index up with the messages stored (schema V5): the texts are
//! indexed after the commit that stored (and acknowledged) them, in bulk, not inside it.
//!
//! `fts_progress.up_to` is the mark: the index holds exactly the current texts of the
//! text rows numbered up to it (the triggers keep those in step with edits and
//! erasures). [`index_after`] moves it forward over the rows stored since, in one
//! transaction with what it indexes, so a crash leaves the mark and the index in
//! agreement. That transaction is synced like any other (the durability level is never
//! switched off and on around it): under load it runs once per [`CHUNK`] rows, and at
//! the pace people type, once per pause in the conversation (see `thread`).

use rusqlite::{Connection, OptionalExtension, params};

/// How many rows one catch-up in the background indexes: bounds how long a job that comes
/// meanwhile waits (a few milliseconds).
pub const CHUNK: usize = 256;

/// How many rows may wait to be indexed before the store indexes between busy batches
/// too (back under this): bounds the work a search may have to do first.
pub const MAX_BEHIND: u64 = 4096;

/// The mark: the highest row number the index covers.
pub fn mark(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT up_to FROM fts_progress")?
        .query_row([], |row| row.get(0))
}

/// At most how many rows are stored above the mark (not all of them texts): the last
/// row's number past it, found through the rowid alone.
pub fn behind(conn: &Connection) -> rusqlite::Result<u64> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT coalesce(max(num), 0) - (SELECT up_to FROM fts_progress) FROM messages",
        )?
        .query_row([], |row| row.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Indexes the texts of the (at most `limit`, or all) rows stored above the mark and moves
/// the mark past them, in one transaction; how many rows it passed (fewer than `limit`
/// when none are left).
pub fn index_after(conn: &mut Connection, limit: Option<usize>) -> rusqlite::Result<u64> {
    // SQLite reads a negative LIMIT as none.
    let limit = limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let tx = conn.transaction()?;
    let from = mark(&tx)?;
    let (to, passed): (Option<i64>, i64) = tx
        .prepare_cached(
            "SELECT max(num), count(*) FROM \
             (SELECT num FROM messages WHERE num > ?1 ORDER BY num LIMIT ?2)",
        )?
        .query_row(params![from, limit], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .unwrap_or((None, 0));
    let Some(to) = to else {
        return Ok(0);
    };
    tx.prepare_cached(
        "INSERT INTO messages_fts (rowid, text) \
         SELECT num, text FROM messages WHERE num > ?1 AND num <= ?2 AND kind = 'text'",
    )?
    .execute(params![from, to])?;
    tx.prepare_cached("UPDATE fts_progress SET up_to = ?1")?
        .execute([to])?;
    tx.commit()?;
    Ok(u64::try_from(passed).unwrap_or(0))
}
