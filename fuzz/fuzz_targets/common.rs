//! Shared pieces of the fuzz targets: a Noise session made in memory with fixed keys, the
//! sending side's sealing of fuzzer-chosen chunks, and the decode loop every encrypted
//! target runs.
#![allow(dead_code)]

use bytes::{BufMut, BytesMut};
use natter_protocol::secure::{NOISE_MAX_MESSAGE, NOISE_PARAMS, PROLOGUE};
use natter_protocol::{CodecError, SecureCodec};
use serde::de::DeserializeOwned;
use tokio_util::codec::Decoder;

pub const TAG_LEN: usize = 16;
/// The frame limit the encrypted targets use: small enough that the fuzzer reaches it.
pub const MAX_FRAME: usize = 256 * 1024;

/// A snow builder for natter's pattern and prologue with fixed static and ephemeral keys,
/// so runs are reproducible.
pub fn builder<'a>(static_key: &'a [u8; 32], ephemeral: &'a [u8; 32]) -> Option<snow::Builder<'a>> {
    let params = NOISE_PARAMS.parse().ok()?;
    Some(
        snow::Builder::new(params)
            .local_private_key(static_key)
            .ok()?
            .prologue(PROLOGUE)
            .ok()?
            .fixed_ephemeral_key_for_testing_only(ephemeral),
    )
}

/// A session established in memory with fixed keys: (sender, receiver).
pub fn sessions() -> Option<(snow::TransportState, snow::TransportState)> {
    let mut a = builder(&[1; 32], &[3; 32])?.build_initiator().ok()?;
    let mut b = builder(&[2; 32], &[4; 32])?.build_responder().ok()?;
    let mut msg = [0u8; 1024];
    let mut payload = [0u8; 1024];
    let n = a.write_message(&[], &mut msg).ok()?;
    b.read_message(&msg[..n], &mut payload).ok()?;
    let n = b.write_message(&[], &mut msg).ok()?;
    a.read_message(&msg[..n], &mut payload).ok()?;
    let n = a.write_message(&[], &mut msg).ok()?;
    b.read_message(&msg[..n], &mut payload).ok()?;
    Some((a.into_transport_mode().ok()?, b.into_transport_mode().ok()?))
}

/// Seals `data`, read as a list of chunks (each a 2-byte big-endian length and that many
/// plaintext bytes, the first being the chunk flag), each as one length-prefixed Noise
/// transport message from `sender`.
pub fn seal(sender: &mut snow::TransportState, mut data: &[u8]) -> BytesMut {
    let mut wire = BytesMut::new();
    let mut out = vec![0u8; NOISE_MAX_MESSAGE];
    while data.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let len = len.min(data.len() - 2).min(out.len() - TAG_LEN);
        let plain = &data[2..2 + len];
        data = &data[2 + len..];
        let Ok(n) = sender.write_message(plain, &mut out) else {
            break;
        };
        wire.put_u32(n as u32);
        wire.put_slice(&out[..n]);
    }
    wire
}

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
/// is chunks for [`seal`], sealed with the real sending side of the session: that drives
/// chunk flags, reassembly, the frame limit and the JSON parsing of `In`.
pub fn secure_codec<In: DeserializeOwned>(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((mut sender, receiver)) = sessions() else {
        return;
    };
    let mut codec = SecureCodec::<In, In>::new(receiver, MAX_FRAME);
    let mut buf = if mode % 2 == 0 {
        BytesMut::from(rest)
    } else {
        seal(&mut sender, rest)
    };
    decode_all(&mut codec, &mut buf);
}
