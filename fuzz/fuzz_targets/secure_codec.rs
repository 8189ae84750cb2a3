//! Fuzzes the encrypted frame decoder. Raw bytes only ever reach the decryption check, so
//! the target also seals fuzzer-chosen plaintext chunks with the real sending side of the
//! session: that drives chunk flags, reassembly, the frame limit and JSON parsing.
//!
//! Input: the first byte picks the mode. Even: the rest is raw wire bytes. Odd: the rest is
//! a list of chunks, each a 2-byte big-endian length and that many plaintext bytes (the
//! first being the chunk flag), each sealed as one Noise transport message.
#![no_main]

use bytes::{BufMut, BytesMut};
use libfuzzer_sys::fuzz_target;
use natter_protocol::SecureCodec;
use natter_protocol::peer::PeerFrame;
use tokio_util::codec::Decoder;

const TAG_LEN: usize = 16;

/// A session established in memory with fixed keys, so runs are reproducible.
fn sessions() -> Option<(snow::TransportState, snow::TransportState)> {
    let params = || natter_protocol::secure::NOISE_PARAMS.parse().ok();
    let mut a = snow::Builder::new(params()?)
        .local_private_key(&[1; 32])
        .ok()?
        .fixed_ephemeral_key_for_testing_only(&[3; 32])
        .build_initiator()
        .ok()?;
    let mut b = snow::Builder::new(params()?)
        .local_private_key(&[2; 32])
        .ok()?
        .fixed_ephemeral_key_for_testing_only(&[4; 32])
        .build_responder()
        .ok()?;
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

fn sealed(sender: &mut snow::TransportState, mut data: &[u8]) -> BytesMut {
    let mut wire = BytesMut::new();
    let mut out = vec![0u8; natter_protocol::secure::NOISE_MAX_MESSAGE];
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

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((mut sender, receiver)) = sessions() else {
        return;
    };
    let mut codec = SecureCodec::<PeerFrame, PeerFrame>::new(receiver, 256 * 1024);
    let mut buf = if mode % 2 == 0 {
        BytesMut::from(rest)
    } else {
        sealed(&mut sender, rest)
    };
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(_)) => continue,
            // A malformed frame keeps the session: go on to the next one.
            Err(natter_protocol::CodecError::Malformed(_)) => continue,
            Ok(None) | Err(_) => break,
        }
    }
    let _ = codec.decode_eof(&mut buf);
});
