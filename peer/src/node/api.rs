//! The node API: what a front end (the TUI or the headless mode) sends in and gets out.
//!
//! Front ends never touch sockets. They send [`Command`]s through a [`NodeHandle`], each
//! with an optional request id, and read [`Notice`]s (an [`Event`] and the id of the
//! request that caused it) from the node's event channel. A `Notice` serialises to exactly
//! the JSON lines of the headless scripting contract (see the README), so the two front
//! ends cannot drift.

use std::fmt;
use std::net::SocketAddr;

use natter_protocol::govern::Act;
use natter_protocol::peer::MessageId;
use natter_protocol::tracker::{Member, MemberChange};
use natter_protocol::{GroupName, Name, PublicKey, RequestId};
use serde::{Serialize, Serializer};
use tokio::sync::mpsc;

use super::actions::Effect;
pub use super::diagnosis::Check;
pub use super::error::{ErrorCode, NodeError};

/// The version of the scripting contract (the events and their fields), carried by
/// `ready`. Version 2: `members` events for a change carry the change without the whole
/// list; events carry the `req` of the command that caused them; errors carry a `code`.
/// Version 3: messages are stored and retried: `sending` means durably queued, `sent`
/// gains `pending` (offline recipients are pending, not failed), then `delivered` and
/// `failed` per recipient; `message` carries `verified`; `/history` answers `history`.
/// Version 4: replies, edits, deletes, reactions, read receipts, typing, presence (`message`
/// and `sending` gain `reply_to`; the events `edited`, `deleted`, `reaction`, `receipt`,
/// `typing`, `whois`, `status`, `setting`; `members` entries gain `last_seen` and
/// `status`; history items gain the current text, `edited_at`, `deleted`, `reactions` and
/// `read`).
pub const CONTRACT_VERSION: u32 = 4;

/// What an error or event is about: a conversation, as `/msg` names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum About {
    Group(GroupName),
    Peer(Name),
    Addr(SocketAddr),
    /// A message, by id (when its conversation is not known).
    Message(MessageId),
}

impl fmt::Display for About {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Group(group) => write!(f, "{group}"),
            Self::Peer(name) => write!(f, "{name}"),
            Self::Addr(addr) => write!(f, "{addr}"),
            Self::Message(id) => write!(f, "{id}"),
        }
    }
}

/// On the wire `about` stays a string: `#group`, a peer's name or `IP:PORT`.
impl Serialize for About {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl From<&Target> for About {
    fn from(target: &Target) -> Self {
        match target {
            Target::Group(group) => Self::Group(group.clone()),
            Target::Peer(name) => Self::Peer(name.clone()),
            Target::Addr(addr) => Self::Addr(*addr),
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Group(GroupName),
    /// A peer by name: resolved from the cached member lists, else by asking the tracker.
    Peer(Name),
    /// A peer at a bare address, whatever its name.
    Addr(SocketAddr),
}

/// A command with the id the front end gave it (echoed on every event it causes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub req: Option<RequestId>,
    pub command: Command,
}

/// A request to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Join(GroupName),
    Leave(GroupName),
    Send {
        target: Target,
        text: String,
    },
    /// Answered by an [`Event::Members`] (or an error).
    Members(GroupName),
    /// Answered by an [`Event::Groups`].
    Groups,
    /// The last `limit` messages of a conversation, answered by an [`Event::History`].
    History {
        target: Target,
        limit: usize,
    },
    /// Drop everything from this peer's key from now on (persisted).
    Block(Name),
    Unblock(Name),
    /// Accept the key `name` now presents in place of the one pinned for it.
    Trust(Name),
    /// An owner's or admin's action on `group` (signed with our key; the tracker checks
    /// our role). Answered by [`Event::Governed`] once done.
    Govern {
        group: GroupName,
        act: Act,
    },
    /// The invites waiting for us, answered by [`Event::Invites`].
    Invites,
    /// Act on the message `id` (ours or another's, in any conversation): the action goes
    /// to that message's conversation.
    Act {
        id: MessageId,
        action: Action,
    },
    /// Everything received in the conversation up to now is read: a read receipt goes to
    /// each author with something newly read (unless receipts are off).
    Read(Target),
    /// We are typing in the conversation: its members with an open connection are told
    /// (unless typing notices are off).
    Typing(Target),
    /// What is known of a peer, answered by an [`Event::Whois`].
    Whois(Name),
    /// Our status line, shown to the members of our groups (empty: none).
    Status(String),
    /// Send read receipts (on by default).
    Receipts(bool),
    /// Send typing notices (on by default).
    TypingNotices(bool),
    /// Close every connection and stop; the node's event stream ends after this.
    Quit,
    /// Stored messages whose text has the words of `text`, in `target` or everywhere:
    /// answered by an [`Event::Search`] (the newest 50).
    Search {
        text: String,
        target: Option<Target>,
    },
    /// Messages from others not read yet that mention us or are private: answered by an
    /// [`Event::Mentions`].
    Mentions,
    /// Check the tracker, our reachability, the clock, the members of our groups and the
    /// store; answered by one [`Event::Doctor`] (within a few seconds).
    Doctor,
}

/// What [`Command::Act`] does to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A new message to the same conversation, answering this one.
    Reply(String),
    /// New text for one of our own messages.
    Edit(String),
    /// Take back one of our own messages: its text is erased everywhere it arrived.
    Delete,
    /// React with an emoji, or take the reaction back if ours is already there.
    React(String),
}

/// How far one of our messages got with one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptState {
    Delivered,
    Read,
}

/// The tracker link's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackerStatus {
    Connected,
    Disconnected,
}

/// A notification from the node. Serialises as one headless JSON line, tagged by `event`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The node listens at `listen` (the address actually bound).
    Ready {
        name: Name,
        listen: SocketAddr,
        tracker: String,
        /// This peer's identity: its long-term public key.
        key: PublicKey,
        /// The scripting contract's version ([`CONTRACT_VERSION`]).
        contract: u32,
        /// The peer-to-peer and tracker protocol's version.
        protocol: u32,
    },
    /// The tracker link came up or went down.
    Tracker {
        status: TrackerStatus,
        tracker: String,
    },
    /// A group's member list. A full list (`members`, with `change` null) for a join, a
    /// snapshot or an answer to `/members`; after that only the `change` (without the
    /// list), so a join in a group of M costs O(M) across the group, not O(M²).
    Members {
        group: GroupName,
        version: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        members: Option<Vec<Member>>,
        /// A governance change carries `by` only when its actor's signature and role
        /// checked out here; its signed action is never passed on.
        change: Option<MemberChange>,
        /// The group's owner, topic and whether it is invite-only, as they now stand.
        owner: Option<Name>,
        topic: Option<String>,
        private: bool,
        /// On a full list that came because an admin added us: who (when its signed
        /// action checked out here).
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<Name>,
    },
    /// We are no longer in `group`: in answer to `/leave`, or an admin removed us (`by`,
    /// `reason`), or the owner disbanded the group (`disbanded`).
    Left {
        group: GroupName,
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<Name>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        disbanded: bool,
    },
    /// Our governance action on `group` is done (`action`: its kind, as `/create`, `/kick`…
    /// without the slash); the members were told first.
    Governed {
        group: GroupName,
        action: String,
    },
    /// `by` invited us to the invite-only `group`: `/join` it to accept.
    Invited {
        group: GroupName,
        by: Name,
    },
    /// The answer to `/invites`.
    Invites {
        invites: Vec<InviteItem>,
    },
    /// A message of ours is stored and on its way: from here it reaches every recipient
    /// exactly once (retried across restarts) or is reported failed. A front end shows it
    /// and matches the later [`Event::Sent`] by `id`.
    Sending {
        id: MessageId,
        to: Option<String>,
        group: Option<GroupName>,
        text: String,
        sent_at: u64,
        /// The message this one answers.
        reply_to: Option<MessageId>,
    },
    /// A message for us (stored before it is shown; shown once per id).
    Message {
        id: MessageId,
        from: Name,
        group: Option<GroupName>,
        text: String,
        sent_at: u64,
        /// False when the author's key could not be checked against a binding for its name
        /// (first contact by address while the tracker is down).
        verified: bool,
        /// The message this one answers.
        reply_to: Option<MessageId>,
    },
    /// The message `id` (by `from`, ours included) now reads `text`; `edited_at` is the
    /// author's clock at the edit.
    Edited {
        id: MessageId,
        from: Name,
        text: String,
        edited_at: u64,
    },
    /// The message `id` was taken back by its author `from`; its text is erased here.
    Deleted {
        id: MessageId,
        from: Name,
    },
    /// `from` put a reaction on the message `id` (`on`) or took it back.
    Reaction {
        id: MessageId,
        from: Name,
        emoji: String,
        on: bool,
    },
    /// How far one of our messages got with `from`: `delivered` (it acknowledged `id`),
    /// or `read` (it read everything of ours in that conversation up to `id`).
    Receipt {
        id: MessageId,
        from: Name,
        state: ReceiptState,
        /// For `read`: the conversation read (`#group`, or `from` for the private one).
        #[serde(skip_serializing_if = "Option::is_none")]
        target: Option<About>,
    },
    /// `from` is typing in `target` (a group, or the private conversation with `from`).
    /// A front end shows it for a few seconds; another notice comes while it goes on.
    Typing {
        from: Name,
        target: About,
    },
    /// The answer to `/whois`: a peer's key, presence, status and the groups we share.
    Whois {
        name: Name,
        key: PublicKey,
        online: bool,
        last_seen: Option<u64>,
        status: Option<String>,
        groups: Vec<GroupName>,
    },
    /// The answer to `/status`: our status line now (`null`: none).
    Status {
        status: Option<String>,
    },
    /// The answer to `/receipts` and `/typing-notices`: the setting `name` is now `on`.
    Setting {
        name: String,
        on: bool,
    },
    /// The first attempt of one of our messages is over: each recipient acknowledged it,
    /// refused it (`failed`), or could not be reached yet (`pending`: retried until it
    /// acknowledges, then [`Event::Delivered`], or until it expires, then
    /// [`Event::Failed`]).
    Sent {
        id: MessageId,
        delivered: Vec<String>,
        failed: Vec<String>,
        pending: Vec<String>,
    },
    /// A pending recipient acknowledged one of our messages.
    Delivered {
        id: MessageId,
        to: Name,
    },
    /// A pending recipient will never get one of our messages.
    Failed {
        id: MessageId,
        to: Name,
        reason: String,
    },
    /// At start, when there are any: the peers of our private conversations, the most
    /// recent first (a front end reopens them and asks for their history).
    Conversations {
        peers: Vec<Name>,
    },
    /// The answer to `/history`: the conversation's last messages, oldest first.
    History {
        target: About,
        messages: Vec<HistoryItem>,
    },
    Groups {
        groups: Vec<GroupName>,
    },
    /// A peer was blocked or unblocked (in answer to `/block` or `/unblock`).
    Blocked {
        name: Name,
        blocked: bool,
    },
    /// `name` presented a key other than the one pinned for it (in a member list or a
    /// handshake). Messages to and from `name` are refused until `/trust NAME`.
    KeyChanged {
        name: Name,
        pinned: PublicKey,
        presented: PublicKey,
    },
    /// `/trust NAME` pinned `key` for `name`.
    Trusted {
        name: Name,
        key: PublicKey,
    },
    /// A command that could not be done, or a problem the user should know about.
    /// `code` is stable and machine-readable (see [`ErrorCode`]); `about` names the
    /// conversation it concerns, when there is one: `#group` or a peer's name (or
    /// address), as in `/msg`.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        about: Option<About>,
    },
    /// The answer to `/search`: the newest matching messages (at most 50), newest first.
    Search {
        /// The text searched for, as given.
        text: String,
        /// The conversation searched (`null`: all of them).
        target: Option<About>,
        messages: Vec<FoundItem>,
    },
    /// The answer to `/mentions`: messages from others not read yet that mention us (our
    /// name as a word, `@name` too) or were sent to us privately, newest first (at most 50).
    Mentions {
        messages: Vec<FoundItem>,
    },
    /// The answer to `/doctor`: one entry per check, each with what was found and, when it
    /// failed, what to do.
    Doctor {
        checks: Vec<Check>,
    },
}

/// One message in a [`Event::History`]: the fields of a `message` event, and for our own
/// messages whom they went `to` (a private one) and where each recipient stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryItem {
    pub id: MessageId,
    pub from: Name,
    pub group: Option<GroupName>,
    /// The current text (the last edit's; empty once deleted).
    pub text: String,
    pub sent_at: u64,
    pub verified: bool,
    pub reply_to: Option<MessageId>,
    /// The author's clock at the last edit, if it was edited.
    pub edited_at: Option<u64>,
    pub deleted: bool,
    /// The reactions on it, by emoji in the order they first came.
    pub reactions: Vec<Reactions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryState>,
}

/// One message found by `/search` or `/mentions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundItem {
    pub id: MessageId,
    pub from: Name,
    /// Its conversation: `#group`, or the peer's name for a private one.
    pub conversation: About,
    /// The group (`null` for a private message).
    pub group: Option<GroupName>,
    pub sent_at: u64,
    /// The current text (the last edit's).
    pub text: String,
    /// For a search, when the text is long: the words around the match, `…` where text
    /// was left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

/// One invite waiting for us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InviteItem {
    pub group: GroupName,
    pub by: Name,
}

/// Who reacted to a message with one emoji.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reactions {
    pub emoji: String,
    pub from: Vec<Name>,
}

/// Where one of our messages stands with its recipients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryState {
    pub delivered: Vec<String>,
    pub pending: Vec<String>,
    pub failed: Vec<String>,
    /// The recipients who read it (they are also in `delivered`).
    pub read: Vec<String>,
}

/// What an action did, as the front ends hear it.
impl From<Effect> for Event {
    fn from(effect: Effect) -> Self {
        match effect {
            Effect::Edited {
                id,
                from,
                text,
                edited_at,
            } => Self::Edited {
                id,
                from,
                text,
                edited_at,
            },
            Effect::Deleted { id, from } => Self::Deleted { id, from },
            Effect::Reacted {
                id,
                from,
                emoji,
                on,
            } => Self::Reaction {
                id,
                from,
                emoji,
                on,
            },
        }
    }
}

impl From<NodeError> for Event {
    fn from(error: NodeError) -> Self {
        Self::Error {
            code: error.code(),
            about: error.about(),
            message: error.to_string(),
        }
    }
}

/// An event, with the id of the request that caused it (if one did). Serialises as the
/// event's JSON object with a `req` field added when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub req: Option<RequestId>,
    #[serde(flatten)]
    pub event: Event,
}

impl From<Event> for Notice {
    fn from(event: Event) -> Self {
        Self { req: None, event }
    }
}

/// A cloneable way to send commands to a running node.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    commands: mpsc::Sender<Request>,
}

impl NodeHandle {
    pub fn new(commands: mpsc::Sender<Request>) -> Self {
        Self { commands }
    }

    /// Queues a command without a request id. Fails only when the node has stopped.
    pub async fn send(&self, command: Command) -> Result<(), NodeStopped> {
        self.request(None, command).await
    }

    /// Queues a command whose events will carry `req`. Fails only when the node has
    /// stopped.
    pub async fn request(
        &self,
        req: Option<RequestId>,
        command: Command,
    ) -> Result<(), NodeStopped> {
        let request = Request { req, command };
        self.commands.send(request).await.map_err(|_| NodeStopped)
    }

    /// Queues a command without waiting (for a UI that must never block); fails when the
    /// queue is full or the node has stopped.
    pub fn try_request(&self, req: Option<RequestId>, command: Command) -> Result<(), NodeStopped> {
        let request = Request { req, command };
        self.commands.try_send(request).map_err(|_| NodeStopped)
    }
}

/// The node is gone (it quit or failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the node has stopped")]
pub struct NodeStopped;
