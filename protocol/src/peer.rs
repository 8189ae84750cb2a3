//! Frames of the direct peer ↔ peer link: chat messages and their acknowledgements.
//!
//! One full-duplex connection serves a pair of peers in both directions. Whoever opens it
//! sends [`PeerFrame::Hello`] first; the other side answers with its own hello (or an
//! error). Each [`ChatMessage`] is answered by id on the same connection: [`PeerFrame::Ack`]
//! when the receiver has it, [`PeerFrame::Nack`] with a code when it refuses it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, GroupName, Name, PublicKey, Signature};

/// A message's id: its sender's name and the sender's sequence number.
///
/// Written as `sender/seq`. Each author numbers its messages 1, 2, 3, … without gaps, and
/// keeps the count on disk, so the author's key and the number identify a message for
/// good: receivers de-duplicate, and members compare what they hold for history sync, by
/// (author key, seq).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageId {
    pub sender: Name,
    pub seq: u64,
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.sender, self.seq)
    }
}

/// Why a string is not a message id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a message id is written sender/sequence-number")]
pub struct InvalidMessageId;

impl FromStr for MessageId {
    type Err = InvalidMessageId;
    fn from_str(s: &str) -> Result<Self, InvalidMessageId> {
        let (sender, seq) = s.rsplit_once('/').ok_or(InvalidMessageId)?;
        Ok(Self {
            sender: sender.parse().map_err(|_| InvalidMessageId)?,
            seq: seq.parse().map_err(|_| InvalidMessageId)?,
        })
    }
}

impl TryFrom<String> for MessageId {
    type Error = InvalidMessageId;
    fn try_from(s: String) -> Result<Self, InvalidMessageId> {
        s.parse()
    }
}

impl From<MessageId> for String {
    fn from(id: MessageId) -> String {
        id.to_string()
    }
}

/// What a message says. Tagged by `kind`. Besides text, a message can be an action on an
/// earlier message (an edit, a delete, a reaction) or a read receipt: each is numbered,
/// signed, stored, retried and synced exactly like a text, so it reaches every member the
/// way a message does, and a member who backfills another brings the actions too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    Text {
        text: String,
        /// The message this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<MessageId>,
    },
    /// The author's new text for its own earlier message `target`. The author's later
    /// edit (by seq) wins; nothing edits a deleted message.
    Edit { target: MessageId, text: String },
    /// The author takes back its own earlier message `target`: every store that gets this
    /// erases the text.
    Delete { target: MessageId },
    /// The author reacts to `target` with `emoji` (`on`), or takes the reaction back.
    React {
        target: MessageId,
        emoji: String,
        on: bool,
    },
    /// A read receipt, sent privately to the author of the messages read: everything of
    /// the recipient's in `group` (or, when `None`, in the private conversation between the
    /// two) up to and including seq `up_to` has been read.
    Read {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<GroupName>,
        up_to: u64,
    },
}

/// The most bytes of a reaction's emoji: a few code points (flags and skin tones take
/// several), never a message.
pub const MAX_EMOJI_BYTES: usize = 32;

impl Body {
    /// A text without a reply.
    pub fn text_only(text: impl Into<String>) -> Self {
        Self::Text {
            text: text.into(),
            reply_to: None,
        }
    }

    /// The variant's tag, as on the wire (and in the signed bytes).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Edit { .. } => "edit",
            Self::Delete { .. } => "delete",
            Self::React { .. } => "react",
            Self::Read { .. } => "read",
        }
    }

    /// The text a person reads: a text's, an edit's new text; empty for the rest.
    pub fn text(&self) -> &str {
        match self {
            Self::Text { text, .. } | Self::Edit { text, .. } => text,
            Self::Delete { .. } | Self::React { .. } | Self::Read { .. } => "",
        }
    }

    /// The earlier message an edit, delete or reaction acts on.
    pub fn target(&self) -> Option<&MessageId> {
        match self {
            Self::Edit { target, .. } | Self::Delete { target } | Self::React { target, .. } => {
                Some(target)
            }
            Self::Text { .. } | Self::Read { .. } => None,
        }
    }

    /// Whether this is something a person reads as a message (not an action on one).
    pub fn is_text(&self) -> bool {
        matches!(self, Self::Text { .. })
    }
}

/// One chat message, private (`group` is `None`) or to a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: MessageId,
    /// The author. On a direct link it is the link's peer; a relayed message is checked
    /// against the author's key, whoever relays it.
    pub from: Name,
    /// The author's identity key: what the signature is checked against, and what must be
    /// bound to `from` (by a member list or a pin) for the message to be shown.
    pub key: PublicKey,
    pub group: Option<GroupName>,
    /// A private message's recipient (its identity key), so the signature covers whom it
    /// was for and a receiver can refuse a private message that was meant for someone
    /// else. `None` for a group message.
    #[serde(default)]
    pub to: Option<PublicKey>,
    pub body: Body,
    /// The sender's clock, milliseconds since the Unix epoch.
    pub sent_at: u64,
}

/// A chat message with its author's signature over
/// [`signing_bytes`](crate::identity::signing_bytes) of it: checked by every receiver
/// against the author's key, so a relay can neither forge nor alter it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedChat {
    pub message: ChatMessage,
    pub sig: Signature,
}

/// Peer ↔ peer.
// Most frames are chats (the large variant) and each is built once and shared in an `Arc`:
// boxing the chat would cost an allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerFrame {
    /// The first frame in each direction.
    Hello {
        version: u32,
        name: Name,
        /// The port the sender listens on, so a peer that restarted on a new port while the
        /// tracker was away can tell the members it reaches where it is now (the session is
        /// authenticated, so this is as good as signed by its key).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        listen_port: Option<u16>,
    },
    Chat(SignedChat),
    /// The receiver has the message with this id (and has shown it to its user).
    Ack {
        id: MessageId,
    },
    /// The receiver refuses the message with this id; the connection stays up.
    Nack {
        id: MessageId,
        code: ErrorCode,
        message: String,
    },
    /// A refused connection (a bad hello, a protocol violation): it closes after this.
    Error {
        code: ErrorCode,
        message: String,
    },
    /// The sender is typing in the private conversation with the receiver (`group`
    /// `None`) or in `group`. Not stored and not retried: it only matters now, so it goes
    /// only over a connection that is already open.
    Typing {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<GroupName>,
    },
    /// History sync: "of `group`, I hold these sequence numbers of each author; send me
    /// what I lack". Answered by one [`PeerFrame::SyncPage`].
    SyncAsk {
        group: GroupName,
        have: Vec<AuthorRanges>,
    },
    /// History sync: up to [`SYNC_PAGE`] messages of `group` the asker lacked, each with
    /// its author's signature (checked against the author's key, not the relay's). `more`:
    /// ask again for the rest.
    SyncPage {
        group: GroupName,
        messages: Vec<SignedChat>,
        more: bool,
    },
}

/// The most messages in one [`PeerFrame::SyncPage`].
pub const SYNC_PAGE: usize = 64;
/// The most authors in one [`PeerFrame::SyncAsk`]; the rest are left for the next round.
/// With [`SYNC_MAX_RANGES`], an ask stays under half a MiB (the frame limit is 1 MiB).
pub const SYNC_MAX_AUTHORS: usize = 256;
/// The most ranges per author in one [`PeerFrame::SyncAsk`].
pub const SYNC_MAX_RANGES: usize = 64;

/// An author's sequence numbers, as inclusive `[first, last]` ranges in ascending order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorRanges {
    pub key: PublicKey,
    pub ranges: Vec<(u64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_round_trips_as_string() {
        let id: MessageId = "alice/42".parse().expect("id");
        assert_eq!(id.seq, 42);
        assert_eq!(serde_json::to_string(&id).expect("json"), "\"alice/42\"");
        assert!("alice".parse::<MessageId>().is_err());
        assert!("a b/1".parse::<MessageId>().is_err());
        assert!("alice/x".parse::<MessageId>().is_err());
    }

    #[test]
    fn chat_wire_shape() {
        let author = crate::Identity::generate().expect("identity");
        let message = ChatMessage {
            id: "bob/7".parse().expect("id"),
            from: "bob".parse().expect("name"),
            key: author.public_key(),
            group: None,
            to: None,
            body: Body::text_only("hi"),
            sent_at: 5,
        };
        let sig = crate::identity::sign_chat(&author, &message);
        let frame = PeerFrame::Chat(SignedChat { message, sig });
        let json = serde_json::to_value(&frame).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type":"chat","message":{"id":"bob/7","from":"bob","key":author.public_key().to_string(),"group":null,"to":null,"body":{"kind":"text","text":"hi"},"sent_at":5},"sig":sig.to_string()})
        );
        let back: PeerFrame = serde_json::from_value(json).expect("parse");
        assert_eq!(back, frame);
    }
}
