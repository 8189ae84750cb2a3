//! Framing shared by every codec: the frame limit, the length prefix and the error type.
//!
//! The production codec is [`crate::SecureCodec`] (every link is a Noise session). The
//! plain, unencrypted `FrameCodec` (a length prefix around one JSON object) is a test
//! tool for the JSON layer: it exists only with the dev-only `test-util` feature.

use std::io;

use bytes::Buf;

#[cfg(any(test, feature = "test-util"))]
mod plain;
#[cfg(any(test, feature = "test-util"))]
pub use plain::FrameCodec;

/// The largest frame either side accepts unless configured otherwise: 1 MiB.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// The length prefix of every frame and Noise message: a big-endian u32.
pub(crate) const LENGTH_BYTES: usize = 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("frame of {len} bytes is over the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("frame over the limit of {max} bytes")]
    IncomingTooLarge { max: usize },
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
    /// An encrypted message did not decrypt and authenticate (or could not be encrypted):
    /// the encrypted link is unusable and must close.
    #[error("encrypted link failed: {0}")]
    Crypto(snow::Error),
    /// A decrypted message is not a valid chunk of a frame (see `secure::codec`).
    #[error("malformed encrypted chunk: {0}")]
    BadChunk(&'static str),
}

impl CodecError {
    /// True when the peer sent something that is not our protocol (as opposed to the
    /// connection failing): worth an error frame before closing.
    pub fn is_protocol_violation(&self) -> bool {
        matches!(
            self,
            Self::IncomingTooLarge { .. }
                | Self::Malformed(_)
                | Self::Crypto(_)
                | Self::BadChunk(_)
        )
    }
}

/// Reads the length prefix of a frame at the head of `buf`, if all four bytes are there.
/// Useful for tests and tools that look at raw bytes.
pub fn peek_length(buf: &[u8]) -> Option<u32> {
    let mut head = buf.get(..LENGTH_BYTES)?;
    Some(head.get_u32())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_length_reads_prefix() {
        assert_eq!(peek_length(&[0, 0, 1, 0, 9]), Some(256));
        assert_eq!(peek_length(&[0, 0]), None);
    }
}
