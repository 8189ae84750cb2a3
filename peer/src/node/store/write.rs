//! Carrying out one [`Write`] inside the batch's transaction.
//!
//! Only the disk can fail a write: anything odd about the data itself (a duplicate, an
//! unknown seq, a seq too large to store) is logged and skipped, so one bad message never
//! fails the whole batch it shares a transaction with.

use natter_protocol::PublicKey;
use natter_protocol::peer::SignedChat;
use rusqlite::{Connection, params};

use super::actions::{Inserted, after_insert};
use super::db::int;
use super::{Applied, Conversation, MAX_SEQ, Write};

/// The row of a message to insert.
struct Row<'a> {
    chat: &'a SignedChat,
    author: &'a PublicKey,
    conversation: &'a Conversation,
    stored_at: u64,
    own: bool,
    verified: bool,
    expires_at: Option<u64>,
}

/// Applies `w` (one of a batch, inside its transaction); what its actions changed goes to
/// `applied`.
pub fn apply(
    conn: &Connection,
    own_key: &PublicKey,
    w: &Write,
    applied: &mut Vec<Applied>,
) -> rusqlite::Result<()> {
    match w {
        Write::Own {
            chat,
            conversation,
            recipients,
            stored_at,
            expires_at,
        } => {
            let row = Row {
                chat,
                author: own_key,
                conversation,
                stored_at: *stored_at,
                own: true,
                verified: true,
                expires_at: Some(*expires_at),
            };
            let Some(num) = insert(conn, &row)? else {
                // The core numbers ours from the stored maximum: a bug, but the rest of
                // the batch is fine.
                tracing::warn!(seq = chat.message.id.seq, "our message is already stored");
                return Ok(());
            };
            let mut add = conn.prepare_cached(
                "INSERT OR IGNORE INTO recipients (msg, key, name, state) \
                 VALUES (?1, ?2, ?3, 'pending')",
            )?;
            for (key, name) in recipients {
                add.execute(params![num, key.as_bytes(), name.as_str()])?;
            }
            after_insert(conn, own_key, &inserted(&row), applied)?;
        }
        Write::Received {
            chat,
            conversation,
            stored_at,
            verified,
        } => {
            let row = Row {
                chat,
                author: &chat.message.key,
                conversation,
                stored_at: *stored_at,
                own: false,
                verified: *verified,
                expires_at: None,
            };
            if insert(conn, &row)?.is_some() {
                after_insert(conn, own_key, &inserted(&row), applied)?;
            }
        }
        // An acknowledgement after we gave up still means it arrived: delivered wins.
        Write::Delivered { seq, to } => {
            conn.prepare_cached(DELIVERED)?.execute(params![
                own_key.as_bytes(),
                int(*seq),
                to.as_bytes()
            ])?;
        }
        // Giving up never undoes a delivery.
        Write::Failed { seq, to, reason } => {
            conn.prepare_cached(FAILED)?.execute(params![
                own_key.as_bytes(),
                int(*seq),
                to.as_bytes(),
                reason
            ])?;
        }
        Write::MemberSince { group, member, at } => {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO members_since (grp, member_key, since) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![group.folded(), member.as_bytes(), int(*at)])?;
        }
        Write::MemberList { group, members, at } => {
            // Whoever is not in the list left while we were not looking: a later rejoin
            // starts a new cut.
            let kept: Vec<&[u8]> = members.iter().map(|m| m.as_bytes().as_slice()).collect();
            let mut gone = Vec::new();
            {
                let mut stmt =
                    conn.prepare_cached("SELECT member_key FROM members_since WHERE grp = ?1")?;
                let mut rows = stmt.query(params![group.folded()])?;
                while let Some(row) = rows.next()? {
                    let key: Vec<u8> = row.get(0)?;
                    if !kept.contains(&key.as_slice()) {
                        gone.push(key);
                    }
                }
            }
            for key in gone {
                conn.prepare_cached(
                    "DELETE FROM members_since WHERE grp = ?1 AND member_key = ?2",
                )?
                .execute(params![group.folded(), key])?;
            }
            for member in members {
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO members_since (grp, member_key, since) \
                     VALUES (?1, ?2, ?3)",
                )?
                .execute(params![group.folded(), member.as_bytes(), int(*at)])?;
            }
        }
        Write::MemberGone { group, member } => {
            conn.prepare_cached("DELETE FROM members_since WHERE grp = ?1 AND member_key = ?2")?
                .execute(params![group.folded(), member.as_bytes()])?;
        }
        Write::ListenPort(port) => {
            conn.prepare_cached(
                "INSERT INTO settings (key, value) VALUES ('listen_port', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![port.to_string()])?;
        }
        Write::ReserveSeqs(up_to) => {
            conn.prepare_cached(
                "INSERT INTO settings (key, value) VALUES ('seq_reserved', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![up_to.to_string()])?;
        }
        Write::ReadMark(conversation) => super::search::mark_read(conn, conversation)?,
    }
    Ok(())
}

/// The UPDATEs of one recipient of our message (one per recipient of a group message,
/// so spelled out once rather than formatted each time): ?1 our key, ?2 the seq, ?3 the
/// recipient; `FAILED`'s ?4 the reason.
const DELIVERED: &str = "UPDATE recipients SET state = 'delivered', reason = NULL \
     WHERE key = ?3 AND msg = (SELECT num FROM messages WHERE author_key = ?1 AND seq = ?2)";
const FAILED: &str = "UPDATE recipients SET state = 'failed', reason = ?4 \
     WHERE key = ?3 AND state = 'pending' \
     AND msg = (SELECT num FROM messages WHERE author_key = ?1 AND seq = ?2)";

fn inserted<'a>(row: &Row<'a>) -> Inserted<'a> {
    Inserted {
        chat: row.chat,
        conversation: row.conversation,
        own: row.own,
        verified: row.verified,
        stored_at: row.stored_at,
    }
}

/// Inserts a message unless its (author, seq) is stored already; its row number when new.
fn insert(conn: &Connection, row: &Row<'_>) -> rusqlite::Result<Option<i64>> {
    let message = &row.chat.message;
    if message.id.seq > MAX_SEQ {
        tracing::warn!(id = %message.id, "not storing a message with a seq beyond 2^63");
        return Ok(None);
    }
    let chat = serde_json::to_string(row.chat)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let reply_to = match &message.body {
        natter_protocol::peer::Body::Text {
            reply_to: Some(id), ..
        } => Some(id.to_string()),
        _ => None,
    };
    let (grp, peer_key) = match row.conversation {
        Conversation::Group(group) => (Some(group.folded()), None),
        Conversation::Peer(key) => (None, Some(key.as_bytes().as_slice())),
    };
    let added = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO messages (author_key, seq, id, author_name, grp, peer_key, \
             text, sent_at, stored_at, own, verified, expires_at, chat, kind, target, \
             reply_to) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )?
        .execute(params![
            row.author.as_bytes(),
            int(message.id.seq),
            message.id.to_string(),
            message.from.as_str(),
            grp,
            peer_key,
            message.body.text(),
            int(message.sent_at),
            int(row.stored_at),
            row.own,
            row.verified,
            row.expires_at.map(int),
            chat,
            message.body.kind(),
            message.body.target().map(ToString::to_string),
            reply_to,
        ])?;
    Ok((added == 1).then(|| conn.last_insert_rowid()))
}
