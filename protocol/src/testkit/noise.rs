//! Sans-IO Noise pieces for tests and fuzz targets that work below natter's handshake and
//! codec: a transport pair with fixed keys, sealing raw chunks, raw handshake messages, and
//! scripted counterparts (a real Noise initiator or responder whose payloads the caller
//! picks, so hostile input gets past the cryptography).
//!
//! Everything here uses fixed keys, so runs are reproducible (the fuzzer relies on it).

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::Identity;
use crate::secure::{HANDSHAKE_MAX_MESSAGE, NOISE_MAX_MESSAGE, NOISE_PARAMS, PROLOGUE};

/// The authentication tag every Noise transport message carries.
pub const TAG_LEN: usize = 16;
/// The ephemeral key of every scripted counterpart.
pub const COUNTERPART_EPHEMERAL: [u8; 32] = [22; 32];

/// A snow builder for natter's pattern and prologue with a fixed static and ephemeral key.
pub fn builder<'a>(static_key: &'a [u8; 32], ephemeral: &'a [u8; 32]) -> snow::Builder<'a> {
    snow::Builder::new(NOISE_PARAMS.parse().expect("natter's Noise parameters"))
        .local_private_key(static_key)
        .expect("a static key")
        .prologue(PROLOGUE)
        .expect("the prologue")
        .fixed_ephemeral_key_for_testing_only(ephemeral)
}

/// A Noise session completed in memory with fixed keys: (initiator, responder). Feed
/// each to [`crate::SecureCodec::new`] for a codec pair, or seal raw chunks with
/// [`seal_chunk`].
pub fn transport_pair() -> (snow::TransportState, snow::TransportState) {
    let mut a = builder(&[1; 32], &[3; 32])
        .build_initiator()
        .expect("initiator");
    let mut b = builder(&[2; 32], &[4; 32])
        .build_responder()
        .expect("responder");
    let mut msg = [0u8; 1024];
    let mut payload = [0u8; 1024];
    let n = a.write_message(&[], &mut msg).expect("message 1");
    b.read_message(&msg[..n], &mut payload).expect("message 1");
    let n = b.write_message(&[], &mut msg).expect("message 2");
    a.read_message(&msg[..n], &mut payload).expect("message 2");
    let n = a.write_message(&[], &mut msg).expect("message 3");
    b.read_message(&msg[..n], &mut payload).expect("message 3");
    (
        a.into_transport_mode().expect("initiator transport"),
        b.into_transport_mode().expect("responder transport"),
    )
}

/// Seals one plaintext chunk (the flag byte included, see [`crate::secure::codec`]) as a
/// length-prefixed Noise message onto `wire`. Returns false (writing nothing) when snow
/// refuses it (a chunk over the Noise limit).
pub fn seal_chunk(sender: &mut snow::TransportState, plain: &[u8], wire: &mut BytesMut) -> bool {
    let mut sealed = vec![0u8; plain.len() + TAG_LEN];
    let Ok(n) = sender.write_message(plain, &mut sealed) else {
        return false;
    };
    wire.put_u32(u32::try_from(n).expect("a Noise message fits a u32"));
    wire.put_slice(&sealed[..n]);
    true
}

/// Seals `data`, read as a list of chunks (each a 2-byte big-endian length and that many
/// plaintext bytes, the first being the chunk flag; a short last chunk takes what is left),
/// each as one length-prefixed Noise message from `sender`. The fuzz targets' input format.
pub fn seal_chunks(sender: &mut snow::TransportState, mut data: &[u8]) -> BytesMut {
    let mut wire = BytesMut::new();
    while let Some((len, rest)) = data.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len))
            .min(rest.len())
            .min(NOISE_MAX_MESSAGE - TAG_LEN);
        let (plain, rest) = rest.split_at(len);
        data = rest;
        if !seal_chunk(sender, plain, &mut wire) {
            break;
        }
    }
    wire
}

/// What an honest party sends as its identity in the handshake: its Ed25519 key, then its
/// signature binding its Noise static key.
pub fn identity_payload(identity: &Identity) -> Vec<u8> {
    let mut payload = identity.public_key().as_bytes().to_vec();
    payload.extend_from_slice(&identity.binding_signature().to_bytes());
    payload
}

/// Writes one handshake message behind its 4-byte length; `None` when the pipe is closed.
pub async fn write_message<T: AsyncWrite + Unpin>(io: &mut T, message: &[u8]) -> Option<()> {
    let len = u32::try_from(message.len()).ok()?;
    io.write_all(&len.to_be_bytes()).await.ok()?;
    io.write_all(message).await.ok()
}

/// Reads one handshake message natter sent; `None` when the pipe closed first. Panics if
/// natter sent more than [`HANDSHAKE_MAX_MESSAGE`] bytes (natter's own limit: a bug).
pub async fn read_message<T: AsyncRead + Unpin>(io: &mut T) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await.ok()?;
    let len = u32::from_be_bytes(len) as usize;
    assert!(
        len <= HANDSHAKE_MAX_MESSAGE,
        "natter sent a {len}-byte handshake message"
    );
    let mut message = vec![0u8; len];
    io.read_exact(&mut message).await.ok()?;
    Some(message)
}

/// Closes the counterpart's sending side and reads until natter's side is done, so
/// natter's writes never fail for want of a reader.
pub async fn finish<T: AsyncRead + AsyncWrite + Unpin>(mut io: T) {
    let _ = io.shutdown().await;
    let mut sink = [0u8; 4096];
    while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// A real Noise initiator as `me` against natter's `accept`: sends message 1 with payload
/// `first` (honest: empty), reads message 2, sends message 3 with payload `third` (honest:
/// [`identity_payload`] of `me`). Returns the finished handshake state (turn it into a
/// transport to seal what follows), or `None` when any step failed.
pub async fn scripted_initiator<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut T,
    me: &Identity,
    first: &[u8],
    third: &[u8],
) -> Option<snow::HandshakeState> {
    let mut noise = builder(me.noise_secret(), &COUNTERPART_EPHEMERAL)
        .build_initiator()
        .ok()?;
    let mut buf = vec![0u8; NOISE_MAX_MESSAGE];
    let n = noise.write_message(first, &mut buf).ok()?;
    write_message(io, &buf[..n]).await?;
    let message = read_message(io).await?;
    let mut payload = vec![0u8; NOISE_MAX_MESSAGE];
    noise.read_message(&message, &mut payload).ok()?;
    let n = noise.write_message(third, &mut buf).ok()?;
    write_message(io, &buf[..n]).await?;
    Some(noise)
}

/// A real Noise responder as `me` against natter's `initiate`: reads message 1, sends
/// message 2 with payload `second` (honest: [`identity_payload`] of `me`), reads message 3.
/// Returns the finished handshake state, or `None` when any step failed.
pub async fn scripted_responder<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut T,
    me: &Identity,
    second: &[u8],
) -> Option<snow::HandshakeState> {
    let mut noise = builder(me.noise_secret(), &COUNTERPART_EPHEMERAL)
        .build_responder()
        .ok()?;
    let mut buf = vec![0u8; NOISE_MAX_MESSAGE];
    let message = read_message(io).await?;
    noise.read_message(&message, &mut buf).ok()?;
    let n = noise.write_message(second, &mut buf).ok()?;
    write_message(io, &buf[..n]).await?;
    let message = read_message(io).await?;
    noise.read_message(&message, &mut buf).ok()?;
    Some(noise)
}
