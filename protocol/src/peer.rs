//! Frames of the direct peer ↔ peer link: chat messages and their acknowledgements.
//!
//! One full-duplex connection serves a pair of peers in both directions. Whoever opens it
//! sends [`PeerFrame::Hello`] first; the other side answers with its own hello (or an
//! error). Each [`ChatMessage`] is answered by id on the same connection: [`PeerFrame::Ack`]
//! when the receiver has it, [`PeerFrame::Nack`] with a code when it refuses it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, GroupName, Name, Signature};

/// A message's globally unique id: its sender and the sender's sequence number.
///
/// Written as `sender/seq`. The pair is what later work keys acknowledgements, retries,
/// de-duplication and history sync on.
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

/// What a message says. Tagged by `kind`, so replies, edits, deletes, reactions and receipts
/// become new variants here rather than new frame shapes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    Text { text: String },
}

impl Body {
    /// The variant's tag, as on the wire (and in the signed bytes).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
        }
    }

    /// The text a person reads.
    pub fn text(&self) -> &str {
        match self {
            Self::Text { text } => text,
        }
    }
}

/// One chat message, private (`group` is `None`) or to a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: MessageId,
    /// The author. On a direct link it is the link's peer; a relayed message is checked
    /// against the author's key, whoever relays it.
    pub from: Name,
    pub group: Option<GroupName>,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerFrame {
    /// The first frame in each direction.
    Hello {
        version: u32,
        name: Name,
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
            group: None,
            body: Body::Text { text: "hi".into() },
            sent_at: 5,
        };
        let sig = crate::identity::sign_chat(&author, &message);
        let frame = PeerFrame::Chat(SignedChat { message, sig });
        let json = serde_json::to_value(&frame).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type":"chat","message":{"id":"bob/7","from":"bob","group":null,"body":{"kind":"text","text":"hi"},"sent_at":5},"sig":sig.to_string()})
        );
        let back: PeerFrame = serde_json::from_value(json).expect("parse");
        assert_eq!(back, frame);
    }
}
