//! The durable store, `natter.db`: every message sent and received, each own message's
//! state per recipient, and what history sync needs. SQLite through `rusqlite` (bundled,
//! so nothing is needed on the machine), WAL, versioned by `user_version` migrations (see
//! `schema`).
//!
//! The core never waits on it: the node's shell hands [`Job`]s to the store thread
//! ([`StoreThread`]), which runs every job waiting at that moment in one transaction and
//! answers each with a [`Reply`]; beside it, the syncer fsyncs the commits, all those made
//! by then at once (group commit), and says so ([`Reply::Synced`]). The core holds back what
//! must follow a commit (the `sending` event, a received message's `message` event) until
//! the reply for that job's token comes, and what must follow the fsync (acknowledgements,
//! numbers that may leave before their writes) until the sync.
//!
//! One process per data directory: [`DirLock`] is taken before anything else is opened.

mod actions;
mod db;
mod health;
mod indexing;
mod lock;
mod ranges;
mod read;
mod schema;
mod search;
mod syncer;
mod thread;
mod write;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use natter_protocol::peer::{AuthorRanges, MessageId, SignedChat};
use natter_protocol::{GroupName, Name, PublicKey};

pub use crate::node::actions::Applied;
pub use db::Store;
pub use lock::{DirLock, LockError};
pub use ranges::RangeSet;
pub use search::{MAX_FOUND, mentions, search_query};
pub use thread::{StoreThread, spawn as spawn_thread};

/// The database file in the data directory.
pub const FILE_NAME: &str = "natter.db";

/// The highest seq the store keeps (SQLite's integers are signed). Authors count from 1
/// without gaps, so only a hostile author goes beyond it; such a message is not stored.
pub const MAX_SEQ: u64 = i64::MAX as u64;

/// A conversation, as stored: a group, or the private conversation with one peer (by its
/// key: names can change hands, keys cannot).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Conversation {
    Group(GroupName),
    Peer(PublicKey),
}

/// Where one of our messages stands with one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Not acknowledged yet; retried.
    Pending,
    Delivered,
    /// Will never be delivered, and why.
    Failed(String),
}

/// One recipient of one of our messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub key: PublicKey,
    pub name: Name,
    pub delivery: Delivery,
    /// It sent a read receipt covering the message.
    pub read: bool,
}

/// A change to the store. Every write of one batch commits in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// One of our messages, with every recipient (pending at first).
    Own {
        chat: SignedChat,
        conversation: Conversation,
        recipients: Vec<(PublicKey, Name)>,
        /// Our clock, Unix milliseconds.
        stored_at: u64,
        /// When its pending recipients are given up (Unix milliseconds).
        expires_at: u64,
    },
    /// A message for us (directly or relayed). A second copy of an id already stored
    /// (author key, seq) changes nothing.
    Received {
        chat: SignedChat,
        conversation: Conversation,
        stored_at: u64,
        /// Whether the author's key was checked against a binding for its name.
        verified: bool,
    },
    /// A recipient acknowledged our message `seq`.
    Delivered { seq: u64, to: PublicKey },
    /// A recipient will never get our message `seq`.
    Failed {
        seq: u64,
        to: PublicKey,
        reason: String,
    },
    /// We saw `member` in `group`'s member list (from `at`, our clock, Unix ms): history
    /// sync gives it what we stored from then on. Kept if already known.
    MemberSince {
        group: GroupName,
        member: PublicKey,
        at: u64,
    },
    /// `group`'s whole member list: members not yet known get `since` = `at`, and known
    /// ones missing from it are forgotten (they left while we were away).
    MemberList {
        group: GroupName,
        members: Vec<PublicKey>,
        at: u64,
    },
    /// `member` left `group` (a later rejoin starts a new `since`).
    MemberGone { group: GroupName, member: PublicKey },
    /// The port we listened on, kept for the next start.
    ListenPort(u16),
    /// Our message numbers up to this one are taken (sent before their own write
    /// committed, maybe): numbering after a restart resumes past it.
    ReserveSeqs(u64),
    /// We read `conversation` up to now: what is stored in it so far is no longer news
    /// for `/mentions`.
    ReadMark(Conversation),
}

/// A question to the store, answered after the writes queued before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The text message `id` (the newest row with it, should a name have changed hands):
    /// who wrote it, where, whether it is deleted and whether our reaction `emoji` is on.
    Target {
        id: MessageId,
        emoji: Option<String>,
    },
    /// The last `limit` messages of `conversation`, oldest first.
    History {
        conversation: Conversation,
        limit: usize,
    },
    /// Messages of `group` that `requester` lacks (not in `have`) and that we stored at or
    /// after we first saw `requester` in the group ([`Write::MemberSince`]); at most
    /// `limit`, each author's in ascending seq. Nothing when `requester` has no `since`.
    SyncPage {
        group: GroupName,
        requester: PublicKey,
        have: Vec<AuthorRanges>,
        limit: usize,
    },
    /// The newest `limit` text messages (not deleted) whose current text has every word
    /// of `text` (see [`search_query`]), in `conversation` or in all of them; newest first.
    Search {
        text: String,
        conversation: Option<Conversation>,
        limit: usize,
    },
    /// The newest `limit` messages from others not read yet ([`Write::ReadMark`]) that
    /// are private or mention `name` as a word (`@name` too); newest first.
    Mentions { name: Name, limit: usize },
    /// `/doctor`: the data directory writable, `quick_check` and a write lock.
    Health,
}

/// One message of a conversation's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The message as it came (its text erased if it was deleted).
    pub chat: SignedChat,
    /// The current text (the last edit's).
    pub text: String,
    /// The author's clock at the last edit.
    pub edited_at: Option<u64>,
    pub deleted: bool,
    /// Who reacted with each emoji, by emoji in the order they were first used.
    pub reactions: Vec<(String, Vec<Name>)>,
    /// Ours: then `recipients` holds each recipient's state.
    pub own: bool,
    pub verified: bool,
    pub stored_at: u64,
    pub recipients: Vec<Recipient>,
}

/// What a [`Read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    History(Vec<HistoryEntry>),
    SyncPage {
        messages: Vec<SignedChat>,
        /// More remain after these.
        more: bool,
    },
    /// The text message with that id, if we hold it.
    Target(Option<TargetInfo>),
    Health(crate::node::diagnosis::Health),
    /// What [`Read::Search`] or [`Read::Mentions`] found, newest first.
    Found(Vec<Found>),
}

/// One message found by [`Read::Search`] or [`Read::Mentions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: MessageId,
    pub from: Name,
    pub conversation: Conversation,
    /// A private conversation's peer, by the name it last had here.
    pub peer_name: Option<Name>,
    pub sent_at: u64,
    pub own: bool,
    /// The current text (the last edit's).
    pub text: String,
    /// For a search: the words around the match (`…` where text was left out).
    pub snippet: Option<String>,
}

/// What [`Read::Target`] found of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    pub author: PublicKey,
    pub conversation: Conversation,
    pub deleted: bool,
    /// We have a reaction with the emoji asked about on it.
    pub reacted: bool,
}

/// A job for the store thread, numbered by the core (the token comes back in its reply).
#[derive(Debug, Clone, PartialEq, Eq)]
// A job is moved once, through a channel, and most are `Own`/`Received` writes (the large
// ones): boxing them would cost an allocation each for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Job {
    Write(u64, Write),
    Read(u64, Read),
}

/// The store thread's answer to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The writes with these tokens committed together (or failed together: the error
    /// names the file and what went wrong).
    Written {
        tokens: Vec<u64>,
        result: Result<(), String>,
        /// What the batch's actions changed (none when it failed), in the order they
        /// applied: an action applies when it is stored, or when the message it waited
        /// for is.
        applied: Vec<Applied>,
    },
    Answered {
        token: u64,
        result: Result<Answer, String>,
    },
    /// Every write committed with a token up to `up_to` is on the disk (fsynced), or, on
    /// an error, may not be.
    Synced {
        up_to: u64,
        result: Result<(), String>,
    },
}

impl Reply {
    /// Every write committed up to `up_to` is on the disk.
    pub fn synced(up_to: u64) -> Self {
        Self::Synced {
            up_to,
            result: Ok(()),
        }
    }
}

/// One of our messages not yet delivered to everyone, as found at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsent {
    pub chat: SignedChat,
    pub conversation: Conversation,
    /// Only the recipients still pending.
    pub pending: Vec<(PublicKey, Name)>,
    pub expires_at: u64,
}

/// What the store holds that the core needs at start.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The highest seq of our own messages (by our key) or reserved for them
    /// ([`Write::ReserveSeqs`]); 0 for none. The next is one more.
    pub last_seq: u64,
    /// The seqs held of each author in each conversation (our own included).
    pub held: HashMap<(PublicKey, Option<GroupName>), RangeSet>,
    /// Our messages with recipients still pending, in seq order.
    pub unsent: Vec<Unsent>,
    /// The port we listened on last time.
    pub listen_port: Option<u16>,
    /// The peers of our private conversations, the most recent first.
    pub peers: Vec<Name>,
}

/// The most private conversations [`Loaded::peers`] lists.
pub const MAX_PEERS: usize = 100;
