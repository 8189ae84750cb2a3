//! The node's errors: one enum, each variant with a stable machine-readable [`ErrorCode`]
//! (the `code` of the headless `error` event, documented in the README) and the
//! conversation it is [`About`], so a front end can show it in the right place.

use std::net::SocketAddr;

use natter_protocol::peer::MessageId;
use natter_protocol::{GroupName, Name, PublicKey};
use serde::Serialize;

use super::api::About;
use super::trust::KeyChange;

/// The stable code of an `error` event. Scripts branch on it; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A line that is not a command, or a command with bad arguments.
    BadCommand,
    /// Input that is not a line of UTF-8 text within the length limit.
    BadInput,
    /// A message longer than the limit.
    TooLong,
    /// A group this peer is not in.
    NotMember,
    /// A peer name nobody knows (no member list holds it and the tracker does not).
    UnknownPeer,
    /// No longer sent (contract 3 queues a message to an offline peer); kept so the code
    /// keeps its meaning for scripts that know it.
    PeerOffline,
    /// A recipient could not be reached or dropped the connection.
    Undeliverable,
    /// No answer in time (an acknowledgement, a tracker look-up).
    Timeout,
    /// The recipient refused the message (a nack).
    RefusedByPeer,
    /// The address belongs to another peer than the one meant.
    AddressMismatch,
    /// A peer's key is not the pinned one; `/trust NAME` accepts it.
    KeyChanged,
    /// A connection claimed a peer's name with a key nobody vouched for; it was refused.
    WrongKey,
    /// `/trust NAME` with no key change waiting.
    NothingToTrust,
    /// `/trust NAME` for a key the tracker does not bind to NAME.
    TrustRefused,
    /// `/unblock NAME` for a peer that is not blocked.
    NotBlocked,
    /// The tracker is not connected (or its link dropped) and the command needs it.
    TrackerUnavailable,
    /// The tracker refused a request or our hello.
    TrackerRefused,
    /// The tracker presented another key than the pinned one.
    TrackerKeyChanged,
    /// Too many requests; slow down.
    RateLimited,
    /// A queue is full or the node is still starting; try again.
    Busy,
    /// A file in the data directory could not be read or written.
    Io,
    /// The outbox holds as many messages as it may (for that recipient, or in all).
    OutboxFull,
    /// The message store (`natter.db`) could not record something.
    StoreFailed,
    /// A message id this peer has never seen (`/reply`, `/edit`, `/delete`, `/react`).
    UnknownMessage,
    /// Only a message's author may edit or delete it.
    NotAuthor,
    /// The message was deleted; it cannot be edited or reacted to.
    MessageDeleted,
    /// The tracker presented another key than the one the user gave (`--tracker-key` or
    /// an invite): not the tracker the user was told about.
    TrackerKeyMismatch,
    /// A tracker key the user gave (`--tracker-key` or an invite) replaced another pinned
    /// for that address: a warning, the link goes on with the key given.
    TrackerKeyReplaced,
}

/// Everything that can go wrong that a user or a script hears about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    BadCommand(String),
    #[error("{0}")]
    BadInput(String),
    #[error("message too long (at most {max} bytes)")]
    TooLong { about: About, max: usize },
    #[error("you are not in {group}")]
    NotMember { group: GroupName },
    #[error("you are not in {group}; /join {group} first")]
    NotMemberToSend { group: GroupName },
    #[error("unknown peer {name}{detail}")]
    UnknownPeer { name: Name, detail: String },
    #[error("unknown peer {name}: no key is known for it, so it cannot be blocked")]
    NoKeyToBlock { name: Name },
    #[error("cannot send to {to}: {why}")]
    CannotSend { to: String, why: String },
    #[error("cannot send to {to} at {addr}: that address now belongs to {owner}")]
    AddressMismatch {
        to: String,
        addr: SocketAddr,
        owner: Name,
    },
    #[error("cannot deliver to {}: {why}", at(to, addr))]
    Undeliverable {
        to: String,
        addr: SocketAddr,
        why: String,
    },
    #[error("cannot deliver to {}: no acknowledgement within {}s", at(to, addr), after.as_secs_f32())]
    NoAck {
        to: String,
        addr: SocketAddr,
        after: std::time::Duration,
    },
    #[error("cannot deliver to {}: refused by the recipient: {why}", at(to, addr))]
    RefusedByPeer {
        to: String,
        addr: SocketAddr,
        why: String,
    },
    #[error("{}", .0.message())]
    KeyChanged(KeyChange),
    #[error(
        "a connection claimed to be {name} with key {presented} ({}), which the tracker does not bind to {name}; refused",
        presented.fingerprint()
    )]
    WrongKey { name: Name, presented: PublicKey },
    #[error("{name}'s key changed ({why}); /trust {name} to accept it")]
    KeyNotTrusted { name: Name, why: String },
    #[error("no key change is waiting for {name}; nothing to trust")]
    NothingToTrust { name: Name },
    #[error("cannot trust {name}'s new key: {why}")]
    TrustRefused { name: Name, why: String },
    #[error("cannot trust {name}'s new key: {why}")]
    TrustUnanswered { name: Name, why: String },
    #[error("you cannot block yourself")]
    BlockSelf,
    #[error("{name} is not blocked")]
    NotBlocked { name: Name },
    #[error("tracker {tracker} is not connected; cannot {what} now")]
    TrackerDown {
        tracker: String,
        what: String,
        about: Option<About>,
    },
    #[error("cannot {what}: the tracker link dropped ({reason}); try again")]
    TrackerDropped {
        what: String,
        reason: String,
        about: Option<About>,
    },
    #[error("no answer from the tracker about {name}")]
    LookupUnanswered { name: Name },
    #[error("tracker {tracker} refused us: {message}")]
    TrackerRefusedUs { tracker: String, message: String },
    #[error("tracker: {message}")]
    TrackerRefusedRequest {
        code: natter_protocol::ErrorCode,
        message: String,
        about: Option<About>,
    },
    #[error(
        "tracker {tracker} key changed: pinned {pinned} ({}), it now presents {presented} ({}); \
         refusing it. If you trust the new key, run with --tracker-key {presented}",
        pinned.fingerprint(),
        presented.fingerprint()
    )]
    TrackerKeyChanged {
        tracker: String,
        pinned: PublicKey,
        presented: PublicKey,
    },
    #[error(
        "tracker {tracker} presented the key {presented} ({}), not the key you were given \
         ({given}, {}, with --tracker-key or an invite); refusing it. It is not the tracker \
         you were told about: check the address and the key with whoever gave them to you",
        presented.fingerprint(),
        given.fingerprint()
    )]
    TrackerKeyMismatch {
        tracker: String,
        given: PublicKey,
        presented: PublicKey,
    },
    /// A key that changes is what an impostor's invite would look like, so it never
    /// happens unseen.
    #[error(
        "the tracker key given for {tracker} (by an invite or --tracker-key), {given} ({}), \
         replaces the key pinned for it before, {pinned} ({}); unless you took this key on \
         purpose, ask whoever runs the tracker whether its key changed before you chat",
        given.fingerprint(),
        pinned.fingerprint()
    )]
    TrackerKeyReplaced {
        tracker: String,
        pinned: PublicKey,
        given: PublicKey,
    },
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Io(String),
    #[error("cannot send to {about}: {why}")]
    OutboxFull { about: About, why: String },
    #[error("{0}")]
    Store(String),
    #[error("{to} refused the message: {why}")]
    Refused { to: String, why: String },
    #[error("cannot send to {addr}: no peer said hello there in time")]
    NoHello { addr: SocketAddr },
    #[error("no message {id} is known here")]
    UnknownMessage { id: MessageId },
    #[error("only the author of {id} can {what} it")]
    NotAuthor {
        id: MessageId,
        what: &'static str,
        about: Option<About>,
    },
    #[error("{id} was deleted by its author")]
    MessageDeleted { id: MessageId, about: Option<About> },
}

/// `label` alone when it is the address itself, else `label at addr`.
fn at(label: &str, addr: &SocketAddr) -> String {
    if label == addr.to_string() {
        label.to_owned()
    } else {
        format!("{label} at {addr}")
    }
}

/// A recipient's label as a conversation: a peer's name or an address.
fn about_label(label: &str) -> Option<About> {
    if let Ok(addr) = label.parse::<SocketAddr>() {
        return Some(About::Addr(addr));
    }
    label.parse::<Name>().ok().map(About::Peer)
}

impl NodeError {
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Self::BadCommand(_) | Self::BlockSelf => C::BadCommand,
            Self::BadInput(_) => C::BadInput,
            Self::TooLong { .. } => C::TooLong,
            Self::NotMember { .. } | Self::NotMemberToSend { .. } => C::NotMember,
            Self::UnknownPeer { .. } | Self::NoKeyToBlock { .. } => C::UnknownPeer,
            Self::CannotSend { .. } | Self::Undeliverable { .. } => C::Undeliverable,
            Self::AddressMismatch { .. } => C::AddressMismatch,
            Self::NoAck { .. } | Self::LookupUnanswered { .. } => C::Timeout,
            Self::RefusedByPeer { .. } => C::RefusedByPeer,
            Self::KeyChanged(_) | Self::KeyNotTrusted { .. } => C::KeyChanged,
            Self::WrongKey { .. } => C::WrongKey,
            Self::NothingToTrust { .. } => C::NothingToTrust,
            Self::TrustRefused { .. } => C::TrustRefused,
            Self::TrustUnanswered { .. } | Self::TrackerDown { .. } => C::TrackerUnavailable,
            Self::TrackerDropped { .. } => C::TrackerUnavailable,
            Self::NotBlocked { .. } => C::NotBlocked,
            Self::TrackerRefusedUs { .. } => C::TrackerRefused,
            Self::TrackerRefusedRequest { code, .. } => match code {
                natter_protocol::ErrorCode::NotMember => C::NotMember,
                natter_protocol::ErrorCode::RateLimited => C::RateLimited,
                _ => C::TrackerRefused,
            },
            Self::TrackerKeyChanged { .. } => C::TrackerKeyChanged,
            Self::TrackerKeyMismatch { .. } => C::TrackerKeyMismatch,
            Self::TrackerKeyReplaced { .. } => C::TrackerKeyReplaced,
            Self::Busy(_) => C::Busy,
            Self::Io(_) => C::Io,
            Self::OutboxFull { .. } => C::OutboxFull,
            Self::Store(_) => C::StoreFailed,
            Self::Refused { .. } => C::RefusedByPeer,
            Self::NoHello { .. } => C::Timeout,
            Self::UnknownMessage { .. } => C::UnknownMessage,
            Self::NotAuthor { .. } => C::NotAuthor,
            Self::MessageDeleted { .. } => C::MessageDeleted,
        }
    }

    /// The conversation the error concerns, if one.
    pub fn about(&self) -> Option<About> {
        match self {
            Self::TooLong { about, .. } | Self::OutboxFull { about, .. } => Some(about.clone()),
            Self::NotMember { group } | Self::NotMemberToSend { group } => {
                Some(About::Group(group.clone()))
            }
            Self::UnknownPeer { name, .. }
            | Self::KeyNotTrusted { name, .. }
            | Self::WrongKey { name, .. }
            | Self::NoKeyToBlock { name }
            | Self::LookupUnanswered { name }
            | Self::NothingToTrust { name }
            | Self::TrustRefused { name, .. }
            | Self::TrustUnanswered { name, .. }
            | Self::NotBlocked { name } => Some(About::Peer(name.clone())),
            Self::KeyChanged(change) => Some(About::Peer(change.name.clone())),
            Self::CannotSend { to, .. }
            | Self::AddressMismatch { to, .. }
            | Self::Undeliverable { to, .. }
            | Self::NoAck { to, .. }
            | Self::RefusedByPeer { to, .. }
            | Self::Refused { to, .. } => about_label(to),
            Self::NoHello { addr } => Some(About::Addr(*addr)),
            Self::UnknownMessage { id } => Some(About::Message(id.clone())),
            Self::NotAuthor { about, id, .. } | Self::MessageDeleted { about, id } => {
                Some(about.clone().unwrap_or_else(|| About::Message(id.clone())))
            }
            Self::TrackerDown { about, .. }
            | Self::TrackerDropped { about, .. }
            | Self::TrackerRefusedRequest { about, .. } => about.clone(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_conversations() {
        let group: GroupName = "rust".parse().expect("group");
        let e = NodeError::NotMemberToSend {
            group: group.clone(),
        };
        assert_eq!(e.code(), ErrorCode::NotMember);
        assert_eq!(e.about(), Some(About::Group(group)));
        assert_eq!(e.to_string(), "you are not in #rust; /join #rust first");
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let e = NodeError::NoAck {
            to: addr.to_string(),
            addr,
            after: std::time::Duration::from_secs(10),
        };
        assert_eq!(e.about(), Some(About::Addr(addr)));
        assert_eq!(
            e.to_string(),
            "cannot deliver to 127.0.0.1:9: no acknowledgement within 10s"
        );
        let json = serde_json::to_value(ErrorCode::TrackerUnavailable).expect("json");
        assert_eq!(json, "tracker_unavailable");
    }
}
