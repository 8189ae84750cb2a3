//! Answering a [`Read`], and loading what the core needs at start.
//!
//! A row that does not decode (a damaged file, a hand edit) is skipped with a warning:
//! losing one message from view beats refusing to start.

use std::collections::HashMap;

use natter_protocol::peer::SignedChat;
use natter_protocol::{GroupName, Name, PublicKey};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, params};

use super::db::{key, uint};
use super::{
    Answer, Conversation, Delivery, HistoryEntry, Loaded, MAX_PEERS, RangeSet, Read, Recipient,
    TargetInfo, Unsent,
};

pub fn answer(conn: &Connection, own_key: &PublicKey, read: &Read) -> rusqlite::Result<Answer> {
    match read {
        Read::History {
            conversation,
            limit,
        } => history(conn, conversation, *limit).map(Answer::History),
        Read::SyncPage {
            group,
            requester,
            have,
            limit,
        } => {
            let have: HashMap<PublicKey, RangeSet> = have
                .iter()
                .map(|a| (a.key, RangeSet::from_ranges(a.ranges.iter().copied())))
                .collect();
            let (messages, more) = sync_page(conn, group, requester, &have, *limit)?;
            Ok(Answer::SyncPage { messages, more })
        }
        Read::Target { id, emoji } => {
            target(conn, own_key, id, emoji.as_deref()).map(Answer::Target)
        }
        Read::Search {
            text,
            conversation,
            limit,
        } => super::search::search(conn, text, conversation.as_ref(), *limit).map(Answer::Found),
        Read::Mentions { name, limit } => {
            super::search::unread_mentions(conn, name, *limit).map(Answer::Found)
        }
        // The store answers it itself: it needs the data directory.
        Read::Health => Ok(Answer::Health(super::health::check(
            conn,
            None,
            "natter.db",
        ))),
    }
}

/// The text message `id`, the newest row with that id.
fn target(
    conn: &Connection,
    own_key: &PublicKey,
    id: &natter_protocol::peer::MessageId,
    emoji: Option<&str>,
) -> rusqlite::Result<Option<TargetInfo>> {
    // The row, its author, group, peer and whether it is deleted.
    type Found = (i64, Vec<u8>, Option<String>, Option<Vec<u8>>, bool);
    let found: Option<Found> = conn
        .prepare_cached(
            "SELECT num, author_key, grp, peer_key, deleted FROM messages \
             WHERE id = ?1 AND kind = 'text' ORDER BY num DESC LIMIT 1",
        )?
        .query_row([id.to_string()], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .optional()?;
    let Some((num, author, grp, peer, deleted)) = found else {
        return Ok(None);
    };
    let conversation = match (grp, peer) {
        (Some(g), _) => g.parse().ok().map(Conversation::Group),
        (None, Some(p)) => key(&p).map(Conversation::Peer),
        (None, None) => None,
    };
    let (Some(author), Some(conversation)) = (key(&author), conversation) else {
        tracing::warn!(
            msg = num,
            "a message whose author or conversation does not decode"
        );
        return Ok(None);
    };
    let reacted = match emoji {
        Some(emoji) => own_reaction(conn, own_key, num, emoji)?,
        None => false,
    };
    Ok(Some(TargetInfo {
        author,
        conversation,
        deleted,
        reacted,
    }))
}

fn history(
    conn: &Connection,
    conversation: &Conversation,
    limit: usize,
) -> rusqlite::Result<Vec<HistoryEntry>> {
    const COLUMNS: &str = "SELECT num, chat, own, verified, stored_at, text, edited_at, \
                           deleted FROM messages";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = Vec::new();
    let mut push = |row: &rusqlite::Row<'_>| -> rusqlite::Result<()> {
        rows.push(Stored {
            num: row.get(0)?,
            chat: row.get(1)?,
            own: row.get(2)?,
            verified: row.get(3)?,
            stored_at: uint(row.get(4)?),
            text: row.get(5)?,
            edited_at: row.get::<_, Option<i64>>(6)?.map(uint),
            deleted: row.get(7)?,
        });
        Ok(())
    };
    match conversation {
        Conversation::Group(group) => {
            let mut stmt = conn.prepare_cached(&format!(
                "{COLUMNS} WHERE grp = ?1 AND kind = 'text' ORDER BY num DESC LIMIT ?2"
            ))?;
            let mut q = stmt.query(params![group.folded(), limit])?;
            while let Some(row) = q.next()? {
                push(row)?;
            }
        }
        Conversation::Peer(peer) => {
            let mut stmt = conn.prepare_cached(&format!(
                "{COLUMNS} WHERE peer_key = ?1 AND grp IS NULL AND kind = 'text' \
                 ORDER BY num DESC LIMIT ?2"
            ))?;
            let mut q = stmt.query(params![peer.as_bytes(), limit])?;
            while let Some(row) = q.next()? {
                push(row)?;
            }
        }
    }
    let mut entries = Vec::with_capacity(rows.len());
    // Newest first from the query; oldest first for the reader.
    for row in rows.into_iter().rev() {
        let Some(chat) = decode_chat(row.num, &row.chat) else {
            continue;
        };
        let recipients = if row.own {
            recipients(conn, row.num)?
        } else {
            Vec::new()
        };
        entries.push(HistoryEntry {
            chat,
            text: row.text,
            edited_at: row.edited_at,
            deleted: row.deleted,
            reactions: reactions(conn, row.num)?,
            own: row.own,
            verified: row.verified,
            stored_at: row.stored_at,
            recipients,
        });
    }
    Ok(entries)
}

/// A row of a conversation's history.
struct Stored {
    num: i64,
    chat: String,
    own: bool,
    verified: bool,
    stored_at: u64,
    text: String,
    edited_at: Option<u64>,
    deleted: bool,
}

/// Whether our reaction `emoji` is on row `num`.
fn own_reaction(
    conn: &Connection,
    own_key: &PublicKey,
    num: i64,
    emoji: &str,
) -> rusqlite::Result<bool> {
    let own: Option<bool> = conn
        .prepare_cached(
            "SELECT active FROM reactions WHERE msg = ?1 AND emoji = ?2 AND reactor_key = ?3",
        )?
        .query_row(params![num, emoji, own_key.as_bytes()], |row| row.get(0))
        .optional()?;
    Ok(own.unwrap_or(false))
}

/// Who reacted to row `num` with what: by emoji in the order of their first use, the
/// reactors in the order they reacted.
fn reactions(conn: &Connection, num: i64) -> rusqlite::Result<Vec<(String, Vec<Name>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT emoji, reactor FROM reactions WHERE msg = ?1 AND active = 1 ORDER BY rowid",
    )?;
    let mut rows = stmt.query([num])?;
    let mut out: Vec<(String, Vec<Name>)> = Vec::new();
    while let Some(row) = rows.next()? {
        let (emoji, reactor): (String, String) = (row.get(0)?, row.get(1)?);
        let Ok(reactor) = reactor.parse::<Name>() else {
            continue;
        };
        match out.iter_mut().find(|(e, _)| *e == emoji) {
            Some((_, names)) => names.push(reactor),
            None => out.push((emoji, vec![reactor])),
        }
    }
    Ok(out)
}

/// Every recipient of our message in row `num`, in the order they were given.
fn recipients(conn: &Connection, num: i64) -> rusqlite::Result<Vec<Recipient>> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, name, state, reason, read_at IS NOT NULL FROM recipients WHERE msg = ?1 \
         ORDER BY rowid",
    )?;
    let mut q = stmt.query([num])?;
    let mut out = Vec::new();
    while let Some(row) = q.next()? {
        let (k, n, state, reason, read): (Vec<u8>, String, String, Option<String>, bool) = (
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
        );
        let delivery = match state.as_str() {
            "pending" => Some(Delivery::Pending),
            "delivered" => Some(Delivery::Delivered),
            "failed" => Some(Delivery::Failed(reason.unwrap_or_default())),
            _ => None,
        };
        match (key(&k), n.parse::<Name>(), delivery) {
            (Some(key), Ok(name), Some(delivery)) => out.push(Recipient {
                key,
                name,
                delivery,
                read,
            }),
            _ => tracing::warn!(msg = num, "skipping a recipient that does not decode"),
        }
    }
    Ok(out)
}

/// The most bytes of messages (their JSON) in one sync page, well inside the 1 MiB frame.
pub const PAGE_BYTES: usize = 512 * 1024;

/// Up to `limit` messages (and [`PAGE_BYTES`]) of `group` sent and stored since
/// `requester` joined and not in its `have`, by author then seq; and whether more remain.
/// Both times count: a message we stored late (by a retry or a sync) but that was sent
/// before the requester joined is not for it.
fn sync_page(
    conn: &Connection,
    group: &GroupName,
    requester: &PublicKey,
    have: &HashMap<PublicKey, RangeSet>,
    limit: usize,
) -> rusqlite::Result<(Vec<SignedChat>, bool)> {
    let since: Option<i64> = conn
        .prepare_cached("SELECT since FROM members_since WHERE grp = ?1 AND member_key = ?2")?
        .query_row(params![group.folded(), requester.as_bytes()], |row| {
            row.get(0)
        })
        .optional()?;
    let Some(since) = since else {
        return Ok((Vec::new(), false));
    };
    // The scan reads only the index; the table is visited for the messages sent.
    let mut scan = conn.prepare_cached(
        "SELECT num, author_key, seq, erased FROM messages \
         WHERE grp = ?1 AND stored_at >= ?2 AND sent_at >= ?2 ORDER BY author_key, seq",
    )?;
    let mut fetch = conn.prepare_cached("SELECT chat FROM messages WHERE num = ?1")?;
    let mut rows = scan.query(params![group.folded(), since])?;
    let mut messages = Vec::new();
    let mut bytes = 0;
    // The author of the last row and its ranges in `have` (rows come grouped by author).
    let mut author: Option<(Vec<u8>, Option<&RangeSet>)> = None;
    while let Some(row) = rows.next()? {
        let num: i64 = row.get(0)?;
        let author_key: Vec<u8> = row.get(1)?;
        let seq = uint(row.get(2)?);
        if author.as_ref().is_none_or(|(k, _)| *k != author_key) {
            let held = key(&author_key).and_then(|k| have.get(&k));
            author = Some((author_key, held));
        }
        if let Some((_, Some(held))) = &author
            && held.contains(seq)
        {
            continue;
        }
        // Its text was taken out by a delete: its signature no longer matches, and the
        // delete (which is relayed) tells the asker all it needs.
        let erased: bool = row.get(3)?;
        if erased {
            continue;
        }
        if messages.len() == limit {
            return Ok((messages, true));
        }
        let chat: String = fetch.query_row([num], |row| row.get(0))?;
        if !messages.is_empty() && bytes + chat.len() > PAGE_BYTES {
            return Ok((messages, true));
        }
        bytes += chat.len();
        if let Some(chat) = decode_chat(num, &chat) {
            messages.push(chat);
        }
    }
    Ok((messages, false))
}

/// What the core needs at start.
pub fn load(conn: &Connection, own_key: &PublicKey) -> rusqlite::Result<Loaded> {
    let last_seq: Option<i64> = conn.query_row(
        "SELECT max(seq) FROM messages WHERE author_key = ?1",
        [own_key.as_bytes()],
        |row| row.get(0),
    )?;
    let setting = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| {
            row.get(0)
        })
        .optional()
    };
    let port = setting("listen_port")?;
    // A reservation that does not parse was not written by us, and guessing could reuse
    // a number: the file is refused.
    let reserved = setting("seq_reserved")?
        .map(|v| v.parse::<u64>())
        .transpose()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(e)))?;
    Ok(Loaded {
        last_seq: last_seq.map_or(0, uint).max(reserved.unwrap_or(0)),
        held: held(conn)?,
        unsent: unsent(conn, own_key)?,
        listen_port: port.and_then(|p| p.parse().ok()),
        peers: peers(conn)?,
    })
}

/// The peers of private conversations, the most recent first (at most [`MAX_PEERS`]), by
/// the name they last had: their own, or the one we sent to.
fn peers(conn: &Connection) -> rusqlite::Result<Vec<Name>> {
    let mut stmt = conn.prepare(
        "SELECT peer_key, max(num) AS last FROM messages WHERE peer_key IS NOT NULL \
         AND kind = 'text' GROUP BY peer_key ORDER BY last DESC LIMIT ?1",
    )?;
    let mut named = conn.prepare(
        "SELECT name FROM ( \
           SELECT author_name AS name, num FROM messages WHERE author_key = ?1 \
           UNION ALL \
           SELECT r.name, r.msg AS num FROM recipients r WHERE r.key = ?1 \
         ) ORDER BY num DESC LIMIT 1",
    )?;
    let mut out = Vec::new();
    let mut rows = stmt.query([i64::try_from(MAX_PEERS).unwrap_or(i64::MAX)])?;
    while let Some(row) = rows.next()? {
        let key: Vec<u8> = row.get(0)?;
        let name: Option<String> = named.query_row([&key], |r| r.get(0)).optional()?;
        match name.and_then(|n| n.parse::<Name>().ok()) {
            Some(name) if !out.contains(&name) => out.push(name),
            Some(_) => {}
            None => tracing::warn!("a private conversation without a usable name skipped"),
        }
    }
    Ok(out)
}

/// The seqs held of each author (and group, `None` for private messages).
type Held = HashMap<(PublicKey, Option<GroupName>), RangeSet>;

/// The seqs held of each author in each conversation, in two ordered scans of indexes
/// (never the table): the group rows of `messages_by_author`, then every row of the
/// unique `(author_key, seq)` index, whose seqs in no group of their author are private.
fn held(conn: &Connection) -> rusqlite::Result<Held> {
    let mut held = Held::new();
    // Each author's seqs in any group.
    let mut in_groups: HashMap<Vec<u8>, RangeSet> = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT grp, author_key, seq FROM messages WHERE grp IS NOT NULL \
         ORDER BY grp, author_key, seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut run = Run::default();
    while let Some(row) = rows.next()? {
        let grp: String = row.get(0)?;
        let author: Vec<u8> = row.get(1)?;
        let seq = uint(row.get(2)?);
        match in_groups.get_mut(&author) {
            Some(set) => {
                set.insert(seq);
            }
            None => {
                in_groups.insert(author.clone(), RangeSet::from_ranges([(seq, seq)]));
            }
        }
        run.add(Some(grp), author, seq, &mut held);
    }
    run.finish(&mut held);
    let mut stmt = conn.prepare("SELECT author_key, seq FROM messages ORDER BY author_key, seq")?;
    let mut rows = stmt.query([])?;
    let mut run = Run::default();
    while let Some(row) = rows.next()? {
        let author: Vec<u8> = row.get(0)?;
        let seq = uint(row.get(1)?);
        if !in_groups.get(&author).is_some_and(|set| set.contains(seq)) {
            run.add(None, author, seq, &mut held);
        }
    }
    run.finish(&mut held);
    Ok(held)
}

/// The seqs of one author in one conversation, as rows sorted by both come in.
#[derive(Default)]
struct Run(Option<(Option<String>, Vec<u8>, RangeSet)>);

impl Run {
    /// Adds a row's seq: to this run if it is of the same author and conversation, else
    /// to a new one, the finished run going to `held`.
    fn add(&mut self, grp: Option<String>, author: Vec<u8>, seq: u64, held: &mut Held) {
        match &mut self.0 {
            Some((g, a, set)) if *g == grp && *a == author => {
                set.insert(seq);
            }
            _ => {
                let mut set = RangeSet::default();
                set.insert(seq);
                if let Some(done) = self.0.replace((grp, author, set)) {
                    Self::store(done, held);
                }
            }
        }
    }

    fn finish(self, held: &mut Held) {
        if let Some(done) = self.0 {
            Self::store(done, held);
        }
    }

    fn store((grp, author, set): (Option<String>, Vec<u8>, RangeSet), held: &mut Held) {
        let group = grp.map(|g| g.parse::<GroupName>());
        match (key(&author), group.transpose()) {
            (Some(k), Ok(group)) => {
                held.insert((k, group), set);
            }
            _ => tracing::warn!("skipping messages whose author or group does not decode"),
        }
    }
}

/// Our messages with recipients still pending (only those listed), in seq order.
fn unsent(conn: &Connection, own_key: &PublicKey) -> rusqlite::Result<Vec<Unsent>> {
    let mut stmt = conn.prepare(
        "SELECT m.num, m.chat, m.grp, m.peer_key, m.expires_at, r.key, r.name \
         FROM messages m JOIN recipients r ON r.msg = m.num \
         WHERE m.author_key = ?1 AND m.own = 1 AND r.state = 'pending' \
         ORDER BY m.seq, r.rowid",
    )?;
    let mut rows = stmt.query([own_key.as_bytes()])?;
    let mut out: Vec<Unsent> = Vec::new();
    // The message of the last row, and whether it decoded (its entry is `out`'s last).
    let mut last: Option<(i64, bool)> = None;
    while let Some(row) = rows.next()? {
        let num: i64 = row.get(0)?;
        if last.is_none_or(|(n, _)| n != num) {
            let chat: String = row.get(1)?;
            let grp: Option<String> = row.get(2)?;
            let peer: Option<Vec<u8>> = row.get(3)?;
            let expires_at: Option<i64> = row.get(4)?;
            let conversation = match (grp, peer) {
                (Some(g), _) => g.parse().ok().map(Conversation::Group),
                (None, Some(p)) => key(&p).map(Conversation::Peer),
                (None, None) => None,
            };
            let decoded = match (decode_chat(num, &chat), conversation) {
                (Some(chat), Some(conversation)) => {
                    out.push(Unsent {
                        chat,
                        conversation,
                        pending: Vec::new(),
                        expires_at: expires_at.map_or(0, uint),
                    });
                    true
                }
                _ => {
                    tracing::warn!(msg = num, "skipping an unsent message that does not decode");
                    false
                }
            };
            last = Some((num, decoded));
        }
        // The rows of a message that did not decode belong to no entry.
        let Some(entry) = out.last_mut().filter(|_| last.is_some_and(|(_, ok)| ok)) else {
            continue;
        };
        let (k, n): (Vec<u8>, String) = (row.get(5)?, row.get(6)?);
        match (key(&k), n.parse::<Name>()) {
            (Some(k), Ok(n)) => entry.pending.push((k, n)),
            _ => tracing::warn!(msg = num, "skipping a recipient that does not decode"),
        }
    }
    Ok(out)
}

/// A stored signed message, or a warning.
fn decode_chat(num: i64, json: &str) -> Option<SignedChat> {
    match serde_json::from_str(json) {
        Ok(chat) => Some(chat),
        Err(error) => {
            tracing::warn!(msg = num, %error, "skipping a stored message that does not decode");
            None
        }
    }
}
