//! natter's wire format, shared by the tracker and the peers.
//!
//! Every link is a Noise session ([`secure`]): a handshake, generic over any async byte
//! stream, then typed frames (one JSON object tagged by `type`) through the encrypting
//! [`SecureCodec`], each Noise message behind a 4-byte big-endian length. This crate holds
//! the typed frames of each link, the validated names they carry, the frame limit and codec
//! errors ([`codec`]), identities and signatures ([`identity`]), and the encrypted link.
//! Apart from the handshake's async shell, [`net`] and [`files`], none of it does I/O.
//!
//! [`net`] is the network shell the tracker and the peer share: binding, timeouts,
//! admission and the accept loop (it and the handshake are the crate's only socket code).
//!
//! The plain, unencrypted `FrameCodec` (length prefix around JSON) is not on any network
//! path; it exists only with the dev-only `test-util` feature, together with `testkit`:
//! the scripted peers, trackers and Noise pairs every test suite and fuzz target shares.

pub mod codec;
pub mod files;
pub mod govern;
pub mod identity;
pub mod names;
pub mod net;
pub mod peer;
pub mod secure;
#[cfg(any(test, feature = "test-util"))]
pub mod testkit;
pub mod tracker;

#[cfg(any(test, feature = "test-util"))]
pub use codec::FrameCodec;
pub use codec::{CodecError, DEFAULT_MAX_FRAME};
pub use identity::{Identity, IdentityError, PublicKey, Signature};
pub use names::{GroupName, InvalidName, Name};
pub use secure::{HandshakeError, SecureCodec};

/// The version every hello carries. A peer or tracker refuses any other version.
/// Version 2: every link is a Noise session, members carry keys, chat messages are signed.
/// Version 3: one duplex peer connection, a message `body` (tagged by `kind`), nacks by
/// message id, request ids on tracker requests and their answers.
/// Version 4: a message carries its author's key and (private) its recipient's key, both
/// signed; ids are per-author sequence numbers without gaps; history sync frames; the
/// hello carries the listen port.
/// Version 5: message bodies for replies, edits, deletes, reactions and read receipts; the
/// typing frame; members carry their last-seen time and status text.
/// Version 6: groups with owners: members carry a role, member lists the group's owner,
/// topic and invite-only flag; signed group actions and their member changes; invites.
pub const PROTOCOL_VERSION: u32 = 6;

/// A request's id, chosen by whoever asks, echoed in the answer or error.
pub type RequestId = u64;

/// Milliseconds since the Unix epoch: the clock every `sent_at` is written in.
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Why a frame was refused, sent back in an `error` frame before the connection closes
/// (or, for a request-level problem, while it stays open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The hello named a protocol version this side does not speak.
    VersionMismatch,
    /// The first frame was not a hello, or a hello came twice.
    HelloExpected,
    /// The frame could not be decoded (not JSON, unknown type, bad field, too large).
    BadFrame,
    /// The name is held by another live connection.
    NameTaken,
    /// The name is bound to another identity key (even while its owner is offline).
    NameOwned,
    /// The request names a group the sender is not a member of.
    NotMember,
    /// Too many requests or connections; slow down.
    RateLimited,
    /// The authenticated key may not do this (a non-member's group message, a name that
    /// does not match the key).
    Unauthorized,
    /// Anything else the receiver refuses to do, with the reason in the message.
    Refused,
    /// A group action signed for a version of the group that is no longer current: sign
    /// it again for the version now current.
    Stale,
}
