//! Shared pieces of the fuzz targets: the decode loop every encrypted target runs. The
//! Noise session with fixed keys and the sealing of fuzzer-chosen chunks are the shared
//! test kit's (`natter_protocol::testkit::noise`).
#![allow(dead_code)]

use bytes::BytesMut;
use natter_protocol::testkit::noise;
use natter_protocol::{CodecError, SecureCodec};
use serde::de::DeserializeOwned;
use tokio_util::codec::Decoder;

/// The frame limit the encrypted targets use: small enough that the fuzzer reaches it.
pub const MAX_FRAME: usize = 256 * 1024;

/// Decodes every frame in `buf`, going on past malformed JSON (which keeps the session) and
/// stopping at "need more" or a fatal error, then decodes at end of input.
pub fn decode_all<In: DeserializeOwned, Out>(codec: &mut SecureCodec<In, Out>, buf: &mut BytesMut) {
    loop {
        match codec.decode(buf) {
            Ok(Some(_)) => continue,
            Err(CodecError::Malformed(_)) => continue,
            Ok(None) | Err(_) => break,
        }
    }
    let _ = codec.decode_eof(buf);
}

/// The body of every `SecureCodec` target. Raw bytes only ever reach the decryption check,
/// so the input's first byte picks the mode. Even: the rest is raw wire bytes. Odd: the rest
/// is chunks for [`noise::seal_chunks`] (each a 2-byte big-endian length and that many
/// plaintext bytes, the first the chunk flag), sealed with the real sending side of the
/// session: that drives chunk flags, reassembly, the frame limit and the JSON parsing of `In`.
pub fn secure_codec<In: DeserializeOwned>(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (mut sender, receiver) = noise::transport_pair();
    let mut codec = SecureCodec::<In, In>::new(receiver, MAX_FRAME);
    let mut buf = if mode % 2 == 0 {
        BytesMut::from(rest)
    } else {
        noise::seal_chunks(&mut sender, rest)
    };
    decode_all(&mut codec, &mut buf);
}
