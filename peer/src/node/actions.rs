//! The rules for actions on a message (edits, deletes, reactions), as a pure state
//! machine: what one action does to the state of the message it names.
//!
//! Every receiver applies them, not just the sender's client, and in whatever order the
//! actions arrive (directly, by a retry after a restart, or by history sync, which can
//! bring an edit before the message it edits). So the outcome depends only on the set of
//! actions, never on their arrival order:
//! - only the message's author may edit or delete it (checked by key);
//! - an author's edits are ordered by the author's own numbering: the highest seq wins,
//!   whatever came first;
//! - a delete is final: nothing edits a deleted message back to life, and its text (and
//!   that of every edit of it) is erased;
//! - each reactor's reaction with one emoji is on or off by its latest seq.
//!
//! The store keeps the state in SQLite (`store/write.rs`) and the core's test store keeps
//! it in memory; both call [`apply`].

use std::collections::BTreeMap;

use natter_protocol::peer::{Body, ChatMessage, MessageId};
use natter_protocol::{Name, PublicKey};

/// What an action can change of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageState {
    /// The current text: the original's, or the winning edit's; empty once deleted.
    pub text: String,
    /// The author's clock at the winning edit.
    pub edited_at: Option<u64>,
    /// The seq of the winning edit.
    pub edit_seq: Option<u64>,
    pub deleted: bool,
    /// Per (emoji, reactor key): the latest reaction's seq, whether it is on, and the
    /// reactor's name.
    pub reactions: BTreeMap<(String, PublicKey), Reaction>,
}

/// One reactor's latest reaction with one emoji.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub seq: u64,
    pub on: bool,
    pub name: Name,
}

/// An action, as the rules see it: who made it (by key and name), its seq in the
/// author's numbering, and the author's clock.
#[derive(Debug, Clone, Copy)]
pub struct Act<'a> {
    pub author: &'a PublicKey,
    pub name: &'a Name,
    pub seq: u64,
    pub sent_at: u64,
    pub body: &'a Body,
}

/// What an action changed, to tell the front ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Edited {
        id: MessageId,
        from: Name,
        text: String,
        edited_at: u64,
    },
    Deleted {
        id: MessageId,
        from: Name,
    },
    Reacted {
        id: MessageId,
        from: Name,
        emoji: String,
        on: bool,
    },
}

/// An [`Effect`] with the action that caused it (its author's key and seq), so the core
/// can tell which of its own requests it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub author: PublicKey,
    pub seq: u64,
    pub effect: Effect,
}

/// Applies `act` to the message `id` by `message_author`, in `state`. Returns what
/// changed, or `None` when nothing did (a stale edit, a second delete, an action by
/// someone who may not, a reaction older than the one in place).
pub fn apply(
    state: &mut MessageState,
    id: &MessageId,
    message_author: &PublicKey,
    act: Act<'_>,
) -> Option<Effect> {
    let by_author = act.author == message_author;
    match act.body {
        Body::Edit { text, .. } => {
            if !by_author || state.deleted || state.edit_seq.is_some_and(|s| s >= act.seq) {
                return None;
            }
            state.text.clone_from(text);
            state.edited_at = Some(act.sent_at);
            state.edit_seq = Some(act.seq);
            Some(Effect::Edited {
                id: id.clone(),
                from: act.name.clone(),
                text: text.clone(),
                edited_at: act.sent_at,
            })
        }
        Body::Delete { .. } => {
            if !by_author || state.deleted {
                return None;
            }
            *state = MessageState {
                deleted: true,
                ..MessageState::default()
            };
            Some(Effect::Deleted {
                id: id.clone(),
                from: act.name.clone(),
            })
        }
        Body::React { emoji, on, .. } => {
            if state.deleted {
                return None;
            }
            let key = (emoji.clone(), *act.author);
            if state.reactions.get(&key).is_some_and(|r| r.seq >= act.seq) {
                return None;
            }
            let reaction = Reaction {
                seq: act.seq,
                on: *on,
                name: act.name.clone(),
            };
            state.reactions.insert(key, reaction);
            Some(Effect::Reacted {
                id: id.clone(),
                from: act.name.clone(),
                emoji: emoji.clone(),
                on: *on,
            })
        }
        Body::Text { .. } | Body::Read { .. } => None,
    }
}

/// Why a received message's body is refused (the author's identity is checked
/// elsewhere): an edit or delete of another author's message or of a later one, a
/// reaction that is no emoji, a read receipt that is not private or covers nothing.
pub fn check_body(message: &ChatMessage) -> Result<(), String> {
    let (from, seq, body) = (&message.from, message.id.seq, &message.body);
    match body {
        Body::Edit { target, .. } | Body::Delete { target } => {
            if target.sender != *from {
                return Err(format!(
                    "only {} may {} {target}",
                    target.sender,
                    body.kind()
                ));
            }
            if target.seq >= seq {
                return Err(format!("a {} acts on an earlier message", body.kind()));
            }
            Ok(())
        }
        Body::React { emoji, .. } => valid_emoji(emoji),
        Body::Read { .. } if message.group.is_some() => {
            Err("a read receipt goes privately to the author".into())
        }
        Body::Read { up_to, .. } if *up_to == 0 => Err("a read receipt up to 0".into()),
        Body::Text { .. } | Body::Read { .. } => Ok(()),
    }
}

/// A reaction is one short emoji-like string: no spaces or control characters.
pub fn valid_emoji(emoji: &str) -> Result<(), String> {
    use natter_protocol::peer::MAX_EMOJI_BYTES;
    if emoji.is_empty()
        || emoji.len() > MAX_EMOJI_BYTES
        || emoji.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "a reaction is one emoji of at most {MAX_EMOJI_BYTES} bytes"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "actions_tests.rs"]
mod tests;
