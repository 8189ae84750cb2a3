//! The node API: what a front end (the TUI or the headless mode) sends in and gets out.
//!
//! Front ends never touch sockets. They send [`Command`]s through a [`NodeHandle`] and read
//! [`Event`]s from the node's event channel. `Event` serialises to exactly the JSON lines of
//! the headless scripting contract (see the README), so the two front ends cannot drift.

use std::net::SocketAddr;

use natter_protocol::peer::MessageId;
use natter_protocol::tracker::{Member, MemberChange};
use natter_protocol::{GroupName, Name, PublicKey};
use serde::Serialize;
use tokio::sync::mpsc;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Group(GroupName),
    /// A peer by name: resolved from the cached member lists, else by asking the tracker.
    Peer(Name),
    /// A peer at a bare address, whatever its name.
    Addr(SocketAddr),
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
    /// Drop everything from this peer's key from now on (persisted).
    Block(Name),
    Unblock(Name),
    /// Accept the key `name` now presents in place of the one pinned for it.
    Trust(Name),
    /// Close every connection and stop; the node's event stream ends after this.
    Quit,
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
    },
    /// The tracker link came up or went down.
    Tracker {
        status: TrackerStatus,
        tracker: String,
    },
    /// The member list of a group the node is in, after a change (`change` says which;
    /// `None` for a full list: a join, a snapshot or an answer to `/members`).
    Members {
        group: GroupName,
        version: u64,
        members: Vec<Member>,
        change: Option<MemberChange>,
    },
    /// The node left `group` (in answer to `/leave`).
    Left {
        group: GroupName,
    },
    /// A message of ours is on its way: emitted at once, before any acknowledgement, so a
    /// front end can show it and match the later [`Event::Sent`] by `id`.
    Sending {
        id: MessageId,
        to: Option<String>,
        group: Option<GroupName>,
        text: String,
        sent_at: u64,
    },
    /// A message for us.
    Message {
        id: MessageId,
        from: Name,
        group: Option<GroupName>,
        text: String,
        sent_at: u64,
    },
    /// Every recipient of one of our messages has acknowledged it or failed.
    Sent {
        id: MessageId,
        delivered: Vec<String>,
        failed: Vec<String>,
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
    /// `about` names the conversation it concerns, when there is one: `#group` or a
    /// peer's name (or address), as in `/msg`.
    Error {
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        about: Option<String>,
    },
}

impl Event {
    pub fn error(message: impl Into<String>) -> Self {
        Self::Error {
            message: message.into(),
            about: None,
        }
    }

    /// An error about one conversation: `#group`, or a peer's name or address.
    pub fn error_about(about: impl std::fmt::Display, message: impl Into<String>) -> Self {
        Self::Error {
            message: message.into(),
            about: Some(about.to_string()),
        }
    }
}

/// A cloneable way to send commands to a running node.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    commands: mpsc::Sender<Command>,
}

impl NodeHandle {
    pub fn new(commands: mpsc::Sender<Command>) -> Self {
        Self { commands }
    }

    /// Queues a command. Fails only when the node has stopped.
    pub async fn send(&self, command: Command) -> Result<(), NodeStopped> {
        self.commands.send(command).await.map_err(|_| NodeStopped)
    }

    /// Queues a command without waiting (for a UI that must never block); fails when the
    /// queue is full or the node has stopped.
    pub fn try_send(&self, command: Command) -> Result<(), NodeStopped> {
        self.commands.try_send(command).map_err(|_| NodeStopped)
    }
}

/// The node is gone (it quit or failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the node has stopped")]
pub struct NodeStopped;
