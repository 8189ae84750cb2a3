//! Actions on messages, in the store: after a message is inserted, what it does (an edit,
//! a delete, a reaction, a read receipt), and which stored actions were waiting for it (a
//! text). The rules themselves are `node::actions`; this module loads a message's state,
//! applies them and writes the state back, inside the batch's transaction.

use natter_protocol::peer::{Body, MessageId, SignedChat};
use natter_protocol::{Name, PublicKey};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::db::{int, key, uint};
use super::{Conversation, MAX_SEQ};
use crate::node::actions::{self, Act, Applied, Effect, MessageState, Reaction};

/// A message just inserted, as the actions see it.
pub struct Inserted<'a> {
    pub chat: &'a SignedChat,
    pub conversation: &'a Conversation,
    pub own: bool,
    pub verified: bool,
    pub stored_at: u64,
}

/// What the message just inserted does, or lets happen, to other messages.
pub fn after_insert(
    conn: &Connection,
    own_key: &PublicKey,
    new: &Inserted<'_>,
    applied: &mut Vec<Applied>,
) -> rusqlite::Result<()> {
    let message = &new.chat.message;
    match &message.body {
        Body::Text { .. } => {
            // Actions that came before their message apply now, in their authors' order.
            for waiting in waiting_for(conn, &message.id, new.conversation)? {
                let act = Act {
                    author: &waiting.message.key,
                    name: &waiting.message.from,
                    seq: waiting.message.id.seq,
                    sent_at: waiting.message.sent_at,
                    body: &waiting.message.body,
                };
                apply_to(conn, &message.id, new.conversation, act, applied)?;
            }
        }
        Body::Edit { target, .. } | Body::React { target, .. } => {
            let act = act_of(new.chat);
            apply_to(conn, target, new.conversation, act, applied)?;
        }
        Body::Delete { target } => {
            let act = act_of(new.chat);
            let found = apply_to(conn, target, new.conversation, act, applied)?;
            if !found {
                placeholder(conn, target, new)?;
            }
            erase_edits(conn, target, &message.key, new.conversation)?;
        }
        Body::Read { group, up_to } if !new.own => {
            let mine = match group {
                Some(group) => Conversation::Group(group.clone()),
                None => Conversation::Peer(message.key),
            };
            read_by(conn, own_key, &message.key, &mine, *up_to, new.stored_at)?;
        }
        Body::Read { .. } => {}
    }
    Ok(())
}

fn act_of(chat: &SignedChat) -> Act<'_> {
    let m = &chat.message;
    Act {
        author: &m.key,
        name: &m.from,
        seq: m.id.seq,
        sent_at: m.sent_at,
        body: &m.body,
    }
}

/// The SQL that narrows to one conversation (its parameter is `?2`), and its value.
fn in_conversation(conversation: &Conversation) -> (&'static str, Value) {
    match conversation {
        Conversation::Group(group) => ("grp = ?2", Value::Text(group.folded())),
        Conversation::Peer(peer) => (
            "grp IS NULL AND peer_key = ?2",
            Value::Blob(peer.as_bytes().to_vec()),
        ),
    }
}

/// As [`in_conversation`], for a query that looks rows up by an id or a target: the
/// conversation is checked on the rows found (the unary `+` keeps SQLite from searching
/// by it instead, which would visit the whole conversation).
fn of_conversation(conversation: &Conversation) -> (&'static str, Value) {
    match conversation {
        Conversation::Group(group) => ("+grp = ?2", Value::Text(group.folded())),
        Conversation::Peer(peer) => (
            "+grp IS NULL AND +peer_key = ?2",
            Value::Blob(peer.as_bytes().to_vec()),
        ),
    }
}

/// The stored actions of `conversation` that wait for the message `id`, by seq.
///
/// Asked for every text stored, and almost always finding nothing: the rows are sorted
/// here, not by an `ORDER BY`, which would open a sorter for each of those empty answers.
fn waiting_for(
    conn: &Connection,
    id: &MessageId,
    conversation: &Conversation,
) -> rusqlite::Result<Vec<SignedChat>> {
    let (clause, value) = of_conversation(conversation);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT num, chat FROM messages WHERE target = ?1 AND {clause} \
         AND kind IN ('edit', 'delete', 'react') AND erased = 0"
    ))?;
    let mut rows = stmt.query(params![id.to_string(), value])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let (num, chat): (i64, String) = (row.get(0)?, row.get(1)?);
        match serde_json::from_str(&chat) {
            Ok(chat) => out.push(chat),
            Err(error) => {
                tracing::warn!(msg = num, %error, "skipping an action that does not decode")
            }
        }
    }
    // Stable: actions with the same seq (from different authors) stay in row order.
    out.sort_by_key(|chat: &SignedChat| chat.message.id.seq);
    Ok(out)
}

/// Applies `act` to the message `id` of `conversation` if it is stored; whether it is.
fn apply_to(
    conn: &Connection,
    id: &MessageId,
    conversation: &Conversation,
    act: Act<'_>,
    applied: &mut Vec<Applied>,
) -> rusqlite::Result<bool> {
    let (clause, value) = of_conversation(conversation);
    // The row, its author, and its state but for the reactions.
    let found: Option<(i64, Vec<u8>, MessageState)> = conn
        .prepare_cached(&format!(
            "SELECT num, author_key, text, edited_at, edit_seq, deleted FROM messages \
             WHERE id = ?1 AND {clause} AND kind IN ('text', 'gone') \
             ORDER BY num DESC LIMIT 1"
        ))?
        .query_row(params![id.to_string(), value], |row| {
            let state = MessageState {
                text: row.get(2)?,
                edited_at: row.get::<_, Option<i64>>(3)?.map(uint),
                edit_seq: row.get::<_, Option<i64>>(4)?.map(uint),
                deleted: row.get(5)?,
                reactions: Default::default(),
            };
            Ok((row.get(0)?, row.get(1)?, state))
        })
        .optional()?;
    let Some((num, author, mut state)) = found else {
        return Ok(false);
    };
    let deleted = state.deleted;
    let Some(author) = key(&author) else {
        tracing::warn!(
            msg = num,
            "skipping an action on a message whose author does not decode"
        );
        return Ok(true);
    };
    state.reactions = reactions_of(conn, num)?;
    let Some(effect) = actions::apply(&mut state, id, &author, act) else {
        if deleted && matches!(act.body, Body::Edit { .. }) {
            // An edit that came after the delete: its text goes too.
            erase_edits(conn, id, act.author, conversation)?;
        }
        return Ok(true);
    };
    match &effect {
        Effect::Edited { text, .. } => {
            conn.prepare_cached(
                "UPDATE messages SET text = ?2, edited_at = ?3, edit_seq = ?4 WHERE num = ?1",
            )?
            .execute(params![
                num,
                text,
                state.edited_at.map(int),
                state.edit_seq.map(int)
            ])?;
        }
        Effect::Deleted { .. } => {
            erase(conn, num)?;
            conn.prepare_cached(
                "UPDATE messages SET deleted = 1, edited_at = NULL WHERE num = ?1",
            )?
            .execute([num])?;
            conn.prepare_cached("DELETE FROM reactions WHERE msg = ?1")?
                .execute([num])?;
            // Ours, still on its way to someone: it no longer goes (the delete does).
            conn.prepare_cached(
                "UPDATE recipients SET state = 'failed', reason = 'deleted by its author' \
                 WHERE msg = ?1 AND state = 'pending'",
            )?
            .execute([num])?;
        }
        Effect::Reacted {
            emoji, on, from, ..
        } => {
            conn.prepare_cached(
                "INSERT INTO reactions (msg, emoji, reactor_key, reactor, seq, active) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (msg, emoji, reactor_key) DO UPDATE SET \
                 reactor = excluded.reactor, seq = excluded.seq, active = excluded.active",
            )?
            .execute(params![
                num,
                emoji,
                act.author.as_bytes(),
                from.as_str(),
                int(act.seq),
                on
            ])?;
        }
    }
    applied.push(Applied {
        author: *act.author,
        seq: act.seq,
        effect,
    });
    Ok(true)
}

/// Every reactor's latest reaction on row `num`.
fn reactions_of(
    conn: &Connection,
    num: i64,
) -> rusqlite::Result<std::collections::BTreeMap<(String, PublicKey), Reaction>> {
    let mut stmt = conn.prepare_cached(
        "SELECT emoji, reactor_key, reactor, seq, active FROM reactions WHERE msg = ?1",
    )?;
    let mut rows = stmt.query([num])?;
    let mut out = std::collections::BTreeMap::new();
    while let Some(row) = rows.next()? {
        let (emoji, k, name, seq, on): (String, Vec<u8>, String, i64, bool) = (
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
        );
        if let (Some(k), Ok(name)) = (key(&k), name.parse::<Name>()) {
            let seq = uint(seq);
            out.insert((emoji, k), Reaction { seq, on, name });
        }
    }
    Ok(out)
}

/// Takes the text out of row `num`: the column, and the stored message (whose signature
/// then no longer matches, so it is never relayed again).
fn erase(conn: &Connection, num: i64) -> rusqlite::Result<()> {
    let chat: String = conn
        .prepare_cached("SELECT chat FROM messages WHERE num = ?1")?
        .query_row([num], |row| row.get(0))?;
    let erased = match serde_json::from_str::<SignedChat>(&chat) {
        Ok(mut chat) => {
            match &mut chat.message.body {
                Body::Text { text, .. } | Body::Edit { text, .. } => text.clear(),
                Body::Delete { .. } | Body::React { .. } | Body::Read { .. } => {}
            }
            serde_json::to_string(&chat).unwrap_or_default()
        }
        // Not decodable: nothing of it can be shown or relayed anyway.
        Err(_) => String::new(),
    };
    conn.prepare_cached("UPDATE messages SET text = '', chat = ?2, erased = 1 WHERE num = ?1")?
        .execute(params![num, erased])?;
    Ok(())
}

/// Erases every stored edit of `id` by its author.
fn erase_edits(
    conn: &Connection,
    id: &MessageId,
    author: &PublicKey,
    conversation: &Conversation,
) -> rusqlite::Result<()> {
    let (clause, value) = of_conversation(conversation);
    let nums: Vec<i64> = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT num FROM messages WHERE target = ?1 AND {clause} AND kind = 'edit' \
             AND author_key = ?3 AND erased = 0"
        ))?;
        let rows = stmt.query_map(params![id.to_string(), value, author.as_bytes()], |row| {
            row.get(0)
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for num in nums {
        erase(conn, num)?;
    }
    Ok(())
}

/// A delete came before its message: a placeholder row holds the message's place (its
/// author key and seq), so the message is a duplicate if it comes later and is never
/// shown or stored.
fn placeholder(
    conn: &Connection,
    target: &MessageId,
    delete: &Inserted<'_>,
) -> rusqlite::Result<()> {
    let m = &delete.chat.message;
    if target.seq > MAX_SEQ {
        return Ok(());
    }
    let (grp, peer_key) = match delete.conversation {
        Conversation::Group(group) => (Some(group.folded()), None),
        Conversation::Peer(key) => (None, Some(key.as_bytes().as_slice())),
    };
    conn.prepare_cached(
        "INSERT OR IGNORE INTO messages (author_key, seq, id, author_name, grp, peer_key, \
         text, sent_at, stored_at, own, verified, chat, kind, deleted, erased) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, '', ?7, ?8, ?9, ?10, '', 'gone', 1, 1)",
    )?
    .execute(params![
        m.key.as_bytes(),
        int(target.seq),
        target.to_string(),
        target.sender.as_str(),
        grp,
        peer_key,
        int(m.sent_at),
        int(delete.stored_at),
        delete.own,
        delete.verified,
    ])?;
    Ok(())
}

/// `reader` read everything of ours in `conversation` up to our seq `up_to`.
///
/// A receipt marks everything of ours up to a seq, and what we send later has higher
/// seqs, so what a reader has read of a conversation is always everything below some
/// point. The walk goes down from `up_to` and stops at the first message it finds read:
/// a receipt costs what it newly marks (in a private conversation, with what we sent
/// elsewhere in between: the walk follows our seqs), not the conversation's history.
fn read_by(
    conn: &Connection,
    own_key: &PublicKey,
    reader: &PublicKey,
    conversation: &Conversation,
    up_to: u64,
    at: u64,
) -> rusqlite::Result<()> {
    let (clause, value) = in_conversation(conversation);
    let mut ours = conn.prepare_cached(&format!(
        "SELECT num FROM messages WHERE {clause} AND author_key = ?3 AND seq <= ?4 \
         AND own = 1 AND kind = 'text' ORDER BY seq DESC"
    ))?;
    let mut read = conn
        .prepare_cached("SELECT read_at IS NOT NULL FROM recipients WHERE msg = ?1 AND key = ?2")?;
    // `?1` is not in the query (the conversation's clause is written for `?2`); the
    // reader stands there only to keep the numbering.
    let mut rows = ours.query(params![
        reader.as_bytes(),
        value,
        own_key.as_bytes(),
        int(up_to.min(MAX_SEQ)),
    ])?;
    let mut newly = Vec::new();
    while let Some(row) = rows.next()? {
        let num: i64 = row.get(0)?;
        let was_read: Option<bool> = read
            .query_row(params![num, reader.as_bytes()], |row| row.get(0))
            .optional()?;
        match was_read {
            Some(true) => break,
            Some(false) => newly.push(num),
            // Not sent to this reader (not a member then).
            None => {}
        }
    }
    drop(rows);
    let mut mark =
        conn.prepare_cached("UPDATE recipients SET read_at = ?3 WHERE msg = ?1 AND key = ?2")?;
    for num in newly {
        mark.execute(params![num, reader.as_bytes(), int(at)])?;
    }
    Ok(())
}
