//! The encrypted, authenticated link: a Noise handshake, then typed frames in Noise
//! transport messages. Every natter connection (peer to tracker, peer to peer) runs it: it
//! sits below the message layer, which sees only typed frames. [`SecureCodec`] is the
//! production codec; the plain `FrameCodec` is a test-only tool (feature `test-util`).
//!
//! # Why Noise XX (`Noise_XX_25519_ChaChaPoly_BLAKE2s`)
//!
//! * Neither side needs the other's static key in advance: a peer meets other peers
//!   through member lists and the tracker on first contact (trust on first use), so
//!   patterns that need a pre-known key (IK, NK, KK) would not fit every link.
//! * Both static keys travel encrypted (the responder's under the ephemeral-ephemeral
//!   secret, the initiator's also under the responder's static), so a passive observer
//!   learns neither identity.
//! * Authentication is mutual: each side proves possession of its static key, and each
//!   handshake payload carries the sender's Ed25519 identity key with a signature binding it
//!   to that static key (see [`crate::identity::Identity::binding_signature`]).
//! * The initiator checks the responder's identity (and a pinned key, if any) before it sends
//!   its own, so it never reveals who it is to an impostor.
//!
//! ChaChaPoly and BLAKE2s are fast in software on every platform. snow's `ring-accelerated`
//! feature (enabled in the workspace) takes ChaChaPoly and the RNG from ring, ≈8x faster
//! per message than the pure-Rust default, which still provides X25519 and BLAKE2s. The
//! ChaChaPoly cipher state itself is ours ([`cipher`]): ring's cipher, holding its 32-byte
//! key instead of a ring key ten times that size, twice per link.
//!
//! # Wire format
//!
//! Every Noise message (handshake and transport) is sent behind a 4-byte big-endian length,
//! at most 65535 bytes (the Noise limit). See [`codec`] for how frames are split into
//! transport messages and [`handshake`] for the three handshake messages and their limits.

mod cipher;
pub mod codec;
pub mod frame_json;
pub mod handshake;

pub use codec::{MAX_CHUNK, NOISE_MAX_MESSAGE, SecureCodec};
pub use frame_json::{EncodeFrame, FrameJson, Outgoing};
pub use handshake::{
    DEFAULT_HANDSHAKE_TIMEOUT, HANDSHAKE_MAX_MESSAGE, HandshakeError, NOISE_PARAMS, PROLOGUE,
    SecureFramed, accept, initiate,
};
