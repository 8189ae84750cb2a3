//! What goes into the core and what comes out: the time, connection ids and events, the
//! inputs, and the outputs the shell carries out. Plain data.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use natter_protocol::peer::PeerFrame;
use natter_protocol::tracker::PeerToTracker;
use natter_protocol::{GroupName, Name, PublicKey};

use super::TrackerInput;
use super::saving::DataFile;
use crate::node::api::{Notice, Request};
use crate::node::cache_file::CacheFile;
use crate::node::keys::{Blocked, PeerPins, TrackerPins};
use crate::node::store::{Job, Reply};

/// The time, as the shell read it: the monotonic clock for deadlines, the wall clock for
/// message ids and `sent_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub at: Instant,
    pub unix_micros: u64,
}

impl Now {
    pub fn unix_millis(&self) -> u64 {
        self.unix_micros / 1000
    }
}

/// A peer connection's id: dialled by us (numbered by the core) or accepted by the
/// listener (numbered by the shell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnId {
    Dialed(u64),
    Accepted(u64),
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dialed(n) => write!(f, "out-{n}"),
            Self::Accepted(n) => write!(f, "in-{n}"),
        }
    }
}

/// What a peer connection reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    /// An accepted connection finished its handshake; its hello is next.
    Accepted,
    /// The far side said hello as `name` over a session authenticated as `key`, listening
    /// at `listen` (its address's IP and the port its hello gave, if it gave one). The
    /// connection writes nothing until [`Output::Accept`] (or closes on [`Output::Close`]).
    Hello {
        name: Name,
        key: PublicKey,
        listen: Option<SocketAddr>,
    },
    /// A dialled connection's handshake met another key than the one it demanded.
    KeyMismatch { presented: PublicKey },
    /// A frame after the hellos, in the order it came.
    Frame(PeerFrame),
    /// Reading ended: the far side closed, the connection failed, or a frame was bad
    /// (`parting` is then the error frame to send before closing, if the session can
    /// still carry one).
    Ended {
        reason: String,
        parting: Option<Parting>,
    },
}

/// An error frame sent to the far side just before a connection closes.
pub type Parting = (natter_protocol::ErrorCode, String);

/// Everything the core is told.
#[derive(Debug, Clone)]
pub enum Input {
    /// A front end's command.
    Request(Request),
    Tracker(TrackerInput),
    Conn {
        conn: ConnId,
        event: ConnEvent,
    },
    /// The writer's answer for a file.
    Saved {
        file: DataFile,
        result: Result<(), String>,
    },
    /// The store's answer to a job.
    Stored(Reply),
}

/// A file for the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Save {
    Members(CacheFile),
    PeerPins(PeerPins),
    Blocked(Blocked),
    TrackerPins(TrackerPins),
}

impl Save {
    pub fn file(&self) -> DataFile {
        match self {
            Self::Members(_) => DataFile::Members,
            Self::PeerPins(_) => DataFile::PeerPins,
            Self::Blocked(_) => DataFile::Blocked,
            Self::TrackerPins(_) => DataFile::TrackerPins,
        }
    }
}

/// Everything the core asks the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// An event for the front end.
    Notice(Notice),
    /// A frame for the tracker link.
    Tracker(PeerToTracker),
    /// The groups this peer is in changed: the tracker link announces these on every
    /// (re)connection.
    Groups(Vec<GroupName>),
    /// Open a connection to `addr`, demanding `expect` in the handshake when given.
    Dial {
        conn: ConnId,
        addr: SocketAddr,
        expect: Option<PublicKey>,
    },
    /// Let the connection on after its hello (an accepted one answers with our hello).
    Accept {
        conn: ConnId,
    },
    /// Queue a frame on a connection.
    Send {
        conn: ConnId,
        /// Shared: a message to many recipients is one frame behind many handles.
        frame: Arc<PeerFrame>,
    },
    /// Close a connection once what is queued on it is written (then `parting`, if any).
    Close {
        conn: ConnId,
        parting: Option<Parting>,
    },
    Save(Save),
    /// A job for the store (`natter.db`); its reply comes back as [`Input::Stored`].
    Store(Job),
}
