//! The database's schema, as numbered migration steps.
//!
//! `PRAGMA user_version` says how many steps a file has had. Opening applies the missing
//! ones in order, each in its own transaction with the version bump, so a crash between
//! steps leaves a file at a known version. A step, once released, is never edited: a
//! change is a new step appended to [`MIGRATIONS`]. A file whose version is higher than we
//! know was written by a newer natter and is refused rather than misread.

use rusqlite::Connection;

/// Step `i` takes a database from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6];

/// The first schema.
///
/// `messages` is a rowid table: insertion order is the order history is shown in, and
/// `num` (the rowid) is what `recipients` refers to (our seq alone is not unique if the identity was
/// ever replaced). `chat` is the whole signed message as received, so it can be relayed
/// byte-for-byte verifiable; the other columns are what queries look at. `peer_key` is a
/// private conversation's other party (the recipient of ours, the author of theirs).
/// Times are Unix milliseconds.
const V1: &str = "
CREATE TABLE messages (
    num         INTEGER PRIMARY KEY,
    author_key  BLOB    NOT NULL,
    seq         INTEGER NOT NULL,
    id          TEXT    NOT NULL,
    author_name TEXT    NOT NULL,
    grp         TEXT,
    peer_key    BLOB,
    text        TEXT    NOT NULL,
    sent_at     INTEGER NOT NULL,
    stored_at   INTEGER NOT NULL,
    own         INTEGER NOT NULL,
    verified    INTEGER NOT NULL,
    expires_at  INTEGER,
    chat        TEXT    NOT NULL,
    UNIQUE (author_key, seq)
);
-- History of a conversation, newest first.
CREATE INDEX messages_by_group ON messages (grp, num);
CREATE INDEX messages_by_peer ON messages (peer_key, num);
-- History sync and what is held at start: the scan never visits the table for rows
-- it skips (stored_at is in the index).
CREATE INDEX messages_by_author ON messages (grp, author_key, seq, stored_at);

-- Each recipient of one of our messages, and where the message stands with it.
CREATE TABLE recipients (
    msg    INTEGER NOT NULL REFERENCES messages (num) ON DELETE CASCADE,
    key    BLOB    NOT NULL,
    name   TEXT    NOT NULL,
    state  TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    reason TEXT,
    PRIMARY KEY (msg, key)
);
CREATE INDEX recipients_pending ON recipients (state, msg);

-- Since when (our clock) each member has been in a group: history sync gives it what
-- was stored from then on.
CREATE TABLE members_since (
    grp        TEXT    NOT NULL,
    member_key BLOB    NOT NULL,
    since      INTEGER NOT NULL,
    PRIMARY KEY (grp, member_key)
) WITHOUT ROWID;

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

/// Actions on messages (issue 9).
///
/// `kind` is the body's kind (`text`, `edit`, `delete`, `react`, `read`), or `gone`: the
/// placeholder of a message whose delete came before it (so the message, should it come
/// later, is a duplicate and never shown). `target` is the id an edit, delete or reaction
/// acts on: one that waits for its message finds it by this index when the message
/// comes. A text's `text` is its current text (the winning edit's, `edit_seq`); `erased`
/// rows had their text taken out by a delete and are never relayed (their signature no
/// longer matches). `reactions` keeps each reactor's latest reaction per emoji; `read_at`
/// when a recipient read our message.
const V2: &str = "
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
ALTER TABLE messages ADD COLUMN target TEXT;
ALTER TABLE messages ADD COLUMN reply_to TEXT;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN edit_seq INTEGER;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN erased INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_by_target ON messages (target) WHERE target IS NOT NULL;
CREATE INDEX messages_by_id ON messages (id);
ALTER TABLE recipients ADD COLUMN read_at INTEGER;
CREATE TABLE reactions (
    msg         INTEGER NOT NULL REFERENCES messages (num) ON DELETE CASCADE,
    emoji       TEXT    NOT NULL,
    reactor_key BLOB    NOT NULL,
    reactor     TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    active      INTEGER NOT NULL,
    PRIMARY KEY (msg, emoji, reactor_key)
);
";

/// Group names compare without case (issue 10): a group is stored under its folded name,
/// so `#Rust` and `#rust` are one conversation. (SQLite's `lower` folds ASCII only; a
/// group named with other capital letters in an older file keeps its spelling there.)
const V3: &str = "
UPDATE messages SET grp = lower(grp) WHERE grp IS NOT NULL;
UPDATE OR IGNORE members_since SET grp = lower(grp);
DELETE FROM members_since WHERE grp <> lower(grp);
";

/// Search and mentions (issue 12).
///
/// `messages_fts` is a full-text index (FTS5) of the current text of every text message,
/// with `messages` as its external content (the text is not stored twice). The triggers
/// keep it in step with every insert, edit (an `UPDATE` of `text`) and erasure (a delete
/// sets `text` to ''), and the `secure-delete` option makes FTS5 take a deleted text's
/// words out of the index pages themselves, not only mark them deleted, so an erased
/// message leaves no trace there either (with `PRAGMA secure_delete`, the freed bytes are
/// overwritten). Existing messages are indexed here, once.
///
/// `read_marks` is how far we read each conversation (`g:` and the folded group name, or
/// `p:` and the peer's key in hex): the highest message row stored when we last read it.
/// What came later is unread for `/mentions`. On upgrade, everything stored so far counts
/// as read.
const V4: &str = "
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text,
    content = 'messages',
    content_rowid = 'num',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO messages_fts (rowid, text)
    SELECT num, text FROM messages WHERE kind = 'text';
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.kind = 'text' BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.num, new.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages WHEN old.kind = 'text' BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.num, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.num, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.kind = 'text' BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.num, old.text);
END;

CREATE TABLE read_marks (
    conv  TEXT    PRIMARY KEY,
    up_to INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO read_marks (conv, up_to)
    SELECT CASE WHEN grp IS NOT NULL THEN 'g:' || grp ELSE 'p:' || hex(peer_key) END, max(num)
    FROM messages WHERE grp IS NOT NULL OR peer_key IS NOT NULL GROUP BY 1;
";

/// The full-text index catches up after the commit, not inside it (issue 11).
///
/// V4's triggers indexed every text in the transaction that stored it, which was most of
/// a stored message's cost, on the path of every acknowledgement. Now `fts_progress`
/// holds a mark: the index holds exactly the text rows numbered up to it. Rows above it
/// are indexed in bulk later (`indexing.rs`: when the store is idle, when too many wait,
/// and before a search). The triggers keep the rows at or below the mark in step as
/// before, so an edit or an erasure of an indexed text still reaches the index in its
/// own transaction; one above the mark is simply indexed as it is by then (an erased
/// text, as nothing). A row numbered at or below the mark after the mark moved (a number
/// used again) is indexed at once by the insert trigger. Everything stored so far was
/// indexed by V4's triggers, so the mark starts at the last row.
const V5: &str = "
CREATE TABLE fts_progress (
    only  INTEGER PRIMARY KEY CHECK (only = 0),
    up_to INTEGER NOT NULL
);
INSERT INTO fts_progress (only, up_to) SELECT 0, coalesce(max(num), 0) FROM messages;
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
WHEN new.kind = 'text' AND new.num <= (SELECT up_to FROM fts_progress) BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.num, new.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
WHEN old.kind = 'text' AND old.num <= (SELECT up_to FROM fts_progress) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.num, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.num, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.kind = 'text' AND old.num <= (SELECT up_to FROM fts_progress) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.num, old.text);
END;
";

/// Each conversation index holds only the rows it can serve (issue 11).
///
/// A private message has no group and a group message no peer, yet every message was an
/// entry in all three of these indexes: each entry is a page to change in the commit
/// that stores the message, on the path of every hop. Now a private message is in
/// `messages_by_peer` only and a group message in `messages_by_group` and
/// `messages_by_author` only. (The held seqs of private messages, which the start read
/// from `messages_by_author`, are now what the unique `(author_key, seq)` index holds
/// beyond the group rows: `read.rs`, `held`.)
const V6: &str = "
DROP INDEX messages_by_group;
CREATE INDEX messages_by_group ON messages (grp, num) WHERE grp IS NOT NULL;
DROP INDEX messages_by_peer;
CREATE INDEX messages_by_peer ON messages (peer_key, num) WHERE peer_key IS NOT NULL;
DROP INDEX messages_by_author;
CREATE INDEX messages_by_author ON messages (grp, author_key, seq, stored_at) WHERE grp IS NOT NULL;
";

/// Brings `conn` up to the newest schema. Errors are SQLite's, except a file from the
/// future, which is [`Migrate::TooNew`].
pub fn migrate(conn: &mut Connection) -> Result<(), Migrate> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let known = MIGRATIONS.len();
    let Ok(from) = usize::try_from(version) else {
        return Err(Migrate::TooNew { version });
    };
    if from > known {
        return Err(Migrate::TooNew { version });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(step + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// Why [`migrate`] failed.
#[derive(Debug)]
pub enum Migrate {
    /// Written by a newer natter (or not by natter at all: negative).
    TooNew {
        version: i64,
    },
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for Migrate {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_changes_nothing() {
        let mut conn = Connection::open_in_memory().expect("db");
        migrate(&mut conn).expect("first");
        migrate(&mut conn).expect("second");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("version");
        assert_eq!(usize::try_from(version).ok(), Some(MIGRATIONS.len()));
    }

    #[test]
    fn a_newer_file_is_refused() {
        let mut conn = Connection::open_in_memory().expect("db");
        conn.pragma_update(None, "user_version", 99)
            .expect("set version");
        assert!(matches!(
            migrate(&mut conn),
            Err(Migrate::TooNew { version: 99 })
        ));
    }
}
