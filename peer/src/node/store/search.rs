//! `/search` and `/mentions` in the store: the full-text index of message texts
//! (`messages_fts`, schema V4; filled after the commit since V5, see `indexing`, and
//! caught up before either reads it) and how far each conversation was read
//! (`read_marks`).
//!
//! What the user types is never handed to FTS5 as a query: [`search_query`] quotes every
//! word, so no input can be FTS syntax (or a syntax error).

use std::collections::HashMap;

use natter_protocol::Name;
use natter_protocol::peer::MessageId;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::db::{key, uint};
use super::{Conversation, Found};

/// The most messages one search or `/mentions` answers with.
pub const MAX_FOUND: usize = 50;
/// The longest search text taken, in characters.
pub const MAX_SEARCH_CHARS: usize = 500;
/// How many unread rows `/mentions` looks at, at most, before checking each for the name
/// as a whole word.
const MENTION_CANDIDATES: i64 = 1000;

/// The FTS5 query for what the user typed: each word quoted, as a prefix (`deploy`
/// finds `deployed`), all of them required; text in double quotes is one phrase (its
/// words in that order). An error says why there is nothing to search for.
pub fn search_query(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(format!(
            "the search text is at most {MAX_SEARCH_CHARS} characters"
        ));
    }
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let has_word = |s: &str| s.chars().any(char::is_alphanumeric);
    let phrase = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|_| text.len() >= 2);
    let query = match phrase {
        Some(phrase) if has_word(phrase) => quote(phrase),
        Some(_) => String::new(),
        None => text
            .split_whitespace()
            .filter(|w| has_word(w))
            .map(|w| format!("{}*", quote(w)))
            .collect::<Vec<_>>()
            .join(" "),
    };
    if query.is_empty() {
        return Err("nothing to search for: give at least one word".to_owned());
    }
    Ok(query)
}

/// Whether `text` mentions `name` as a whole word (`@name` too), ignoring case.
pub fn mentions(text: &str, name: &str) -> bool {
    let text = text.to_lowercase();
    let name = name.to_lowercase();
    if name.is_empty() {
        return false;
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(&name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// The columns every finding is read from, in [`found`]'s order.
const COLUMNS: &str = "m.num, m.id, m.author_name, m.grp, m.peer_key, m.sent_at, m.own, m.text";

/// [`super::Read::Search`].
pub fn search(
    conn: &Connection,
    text: &str,
    conversation: Option<&Conversation>,
    limit: usize,
) -> rusqlite::Result<Vec<Found>> {
    let Ok(query) = search_query(text) else {
        return Ok(Vec::new());
    };
    let (clause, value) = match conversation {
        Some(Conversation::Group(group)) => ("AND m.grp = ?2", Value::Text(group.folded())),
        Some(Conversation::Peer(peer)) => (
            "AND m.grp IS NULL AND m.peer_key = ?2",
            Value::Blob(peer.as_bytes().to_vec()),
        ),
        None => ("AND ?2 IS NULL", Value::Null),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, snippet(messages_fts, 0, '', '', '…', 12) \
         FROM messages_fts JOIN messages m ON m.num = messages_fts.rowid \
         WHERE messages_fts MATCH ?1 AND m.kind = 'text' AND m.deleted = 0 {clause} \
         ORDER BY messages_fts.rowid DESC LIMIT ?3"
    ))?;
    let mut rows = stmt.query(params![query, value, limit_of(limit)])?;
    let mut names = HashMap::new();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        if let Some(mut hit) = found(conn, row, &mut names)? {
            let snippet: Option<String> = row.get(8)?;
            hit.snippet = snippet.filter(|s| *s != hit.text);
            out.push(hit);
        }
    }
    Ok(out)
}

/// [`super::Read::Mentions`]: unread private messages, and unread group messages that
/// name `name` (found through the index, then checked word by word).
pub fn unread_mentions(
    conn: &Connection,
    name: &Name,
    limit: usize,
) -> rusqlite::Result<Vec<Found>> {
    // The name's words as one phrase: `bob-smith` is found as `bob smith` by the index,
    // and [`mentions`] keeps only the real thing.
    let phrase = name
        .as_str()
        .chars()
        .any(char::is_alphanumeric)
        .then(|| format!("\"{}\"", name.as_str().replace('"', "\"\"")));
    let named = match phrase {
        Some(_) => "m.num IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1)",
        None => "0",
    };
    // Unread: after the conversation's read mark.
    let unread = "m.kind = 'text' AND m.own = 0 AND m.deleted = 0 \
         AND m.num > coalesce((SELECT up_to FROM read_marks WHERE conv = \
             CASE WHEN m.grp IS NOT NULL THEN 'g:' || m.grp ELSE 'p:' || hex(m.peer_key) END), 0)";
    // Two parts, each with an index to search by: private messages through
    // `messages_by_peer` (whose condition is `peer_key IS NOT NULL`), group messages through
    // the full-text index. Left to itself (an `OR`, or this without `INDEXED BY`), SQLite
    // would rather read the whole table in order than sort the private rows.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM messages m INDEXED BY messages_by_peer \
         WHERE m.peer_key IS NOT NULL AND {unread} \
         UNION ALL \
         SELECT {COLUMNS} FROM messages m WHERE m.grp IS NOT NULL AND {named} AND {unread} \
         ORDER BY 1 DESC LIMIT ?2"
    ))?;
    let mut rows = stmt.query(params![phrase, MENTION_CANDIDATES])?;
    let mut names = HashMap::new();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        if out.len() == limit {
            break;
        }
        let Some(hit) = found(conn, row, &mut names)? else {
            continue;
        };
        let private = matches!(hit.conversation, Conversation::Peer(_));
        if private || mentions(&hit.text, name.as_str()) {
            out.push(hit);
        }
    }
    Ok(out)
}

/// [`super::Write::ReadMark`]: everything stored in `conversation` so far is read.
pub fn mark_read(conn: &Connection, conversation: &Conversation) -> rusqlite::Result<()> {
    let (conv, clause, value) = match conversation {
        Conversation::Group(group) => (
            format!("g:{}", group.folded()),
            "grp = ?2",
            Value::Text(group.folded()),
        ),
        Conversation::Peer(peer) => {
            let hex: String = peer.as_bytes().iter().map(|b| format!("{b:02X}")).collect();
            (
                format!("p:{hex}"),
                "grp IS NULL AND peer_key = ?2",
                Value::Blob(peer.as_bytes().to_vec()),
            )
        }
    };
    conn.prepare_cached(&format!(
        "INSERT INTO read_marks (conv, up_to) \
         SELECT ?1, coalesce(max(num), 0) FROM messages WHERE {clause} \
         ON CONFLICT (conv) DO UPDATE SET up_to = max(up_to, excluded.up_to)"
    ))?
    .execute(params![conv, value])?;
    Ok(())
}

/// One row of [`COLUMNS`] as a finding; `None` (with a warning) for a row that does not
/// decode. `names` keeps the peers' names looked up so far.
fn found(
    conn: &Connection,
    row: &rusqlite::Row<'_>,
    names: &mut HashMap<Vec<u8>, Option<Name>>,
) -> rusqlite::Result<Option<Found>> {
    let num: i64 = row.get(0)?;
    let id: String = row.get(1)?;
    let from: String = row.get(2)?;
    let grp: Option<String> = row.get(3)?;
    let peer: Option<Vec<u8>> = row.get(4)?;
    let (conversation, peer_name) = match (grp, peer) {
        (Some(g), _) => (g.parse().ok().map(Conversation::Group), None),
        (None, Some(p)) => {
            let name = match names.get(&p) {
                Some(name) => name.clone(),
                None => {
                    let name = peer_name(conn, &p)?;
                    names.insert(p.clone(), name.clone());
                    name
                }
            };
            (key(&p).map(Conversation::Peer), name)
        }
        (None, None) => (None, None),
    };
    let (Ok(id), Ok(from), Some(conversation)) =
        (id.parse::<MessageId>(), from.parse::<Name>(), conversation)
    else {
        tracing::warn!(msg = num, "skipping a found message that does not decode");
        return Ok(None);
    };
    Ok(Some(Found {
        id,
        from,
        conversation,
        peer_name,
        sent_at: uint(row.get(5)?),
        own: row.get(6)?,
        text: row.get(7)?,
        snippet: None,
    }))
}

/// The name the peer with key `peer` last had here: its own on its messages, or the one
/// we sent to.
fn peer_name(conn: &Connection, peer: &[u8]) -> rusqlite::Result<Option<Name>> {
    let name: Option<String> = conn
        .prepare_cached(
            "SELECT name FROM ( \
               SELECT author_name AS name, num FROM messages WHERE author_key = ?1 \
               UNION ALL \
               SELECT r.name, r.msg AS num FROM recipients r WHERE r.key = ?1 \
             ) ORDER BY num DESC LIMIT 1",
        )?
        .query_row([peer], |row| row.get(0))
        .optional()?;
    Ok(name.and_then(|n| n.parse().ok()))
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_quoted_so_no_input_is_fts_syntax() {
        assert_eq!(
            search_query("deploy friday"),
            Ok("\"deploy\"* \"friday\"*".into())
        );
        assert_eq!(
            search_query("a\"b OR NEAR(x) -y ^z"),
            Ok("\"a\"\"b\"* \"OR\"* \"NEAR(x)\"* \"-y\"* \"^z\"*".into())
        );
        assert_eq!(
            search_query("\"meet me in paris\""),
            Ok("\"meet me in paris\"".into())
        );
        assert!(search_query("  ").is_err());
        assert!(search_query("*** ( )").is_err());
        assert!(search_query("\"\"").is_err());
        assert!(search_query("\"").is_err());
        assert!(search_query(&"x".repeat(MAX_SEARCH_CHARS + 1)).is_err());
    }

    #[test]
    fn a_mention_is_the_name_as_a_word() {
        assert!(mentions("hi bob", "bob"));
        assert!(mentions("@Bob: look", "bob"));
        assert!(mentions("BOB!", "Bob"));
        assert!(!mentions("bobby", "bob"));
        assert!(!mentions("kabob", "bob"));
        assert!(mentions("ask bob-smith", "bob-smith"));
        assert!(!mentions("anything", ""));
    }
}
