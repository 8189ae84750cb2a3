//! The Noise XX handshake that opens every link, as two async functions over any byte
//! stream: [`initiate`] (the side that connected) and [`accept`].
//!
//! ```text
//! -> e                                   (32 bytes, empty payload)
//! <- e, ee, s, es   + responder identity (192 bytes)
//! -> s, se          + initiator identity (160 bytes)
//! ```
//!
//! Each identity payload is 96 bytes: the Ed25519 public key, then its signature over the
//! sender's Noise static key ([`crate::identity::binding_message`]). It is checked against
//! the static key the handshake authenticated (`get_remote_static`), so the key returned to
//! the caller is the one that completed the handshake. Handshake messages are at most
//! [`HANDSHAKE_MAX_MESSAGE`] bytes, and the whole exchange is bounded by a timeout, so
//! garbage, truncated or slow handshakes fail fast with an error and small buffers.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, FramedParts, LengthDelimitedCodec, length_delimited};

use super::codec::SecureCodec;
use super::frame_json::EncodeFrame;
use crate::codec::DEFAULT_MAX_FRAME;
use crate::identity::{Identity, PublicKey, Signature};

/// The Noise protocol every link runs (see the module documentation of [`super`] for why).
pub const NOISE_PARAMS: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";
/// Mixed into the handshake hash: both sides must speak this protocol and version.
pub const PROLOGUE: &[u8] = b"natter/noise/v1";
/// How long a handshake may take unless the caller says otherwise.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest handshake message either side accepts (ours are at most 192 bytes).
pub const HANDSHAKE_MAX_MESSAGE: usize = 1024;
const IDENTITY_PAYLOAD_LEN: usize = PublicKey::LEN + Signature::LEN;

/// Why a handshake failed. Whatever the reason, the connection should be closed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("handshake did not finish within {0:?}")]
    Timeout(Duration),
    #[error("connection closed during the handshake")]
    Closed,
    #[error("i/o error during the handshake: {0}")]
    Io(#[from] io::Error),
    #[error("handshake failed: {0}")]
    Noise(#[from] snow::Error),
    #[error("bad handshake message: {0}")]
    BadMessage(&'static str),
    #[error("the remote's identity key did not sign its Noise static key")]
    BadBinding,
    #[error(
        "the remote's key is {got} (fingerprint {}), not the expected {expected} (fingerprint {})",
        got.fingerprint(),
        expected.fingerprint()
    )]
    KeyMismatch { expected: PublicKey, got: PublicKey },
}

/// The link returned by a finished handshake.
pub type SecureFramed<T, In, Out> = Framed<T, SecureCodec<In, Out>>;

/// Runs the initiator's side of the handshake on `io` within `timeout`. With `expected`,
/// the responder must be that identity ([`HandshakeError::KeyMismatch`] otherwise, found
/// before this side reveals its own identity). Returns the encrypted link, with the
/// default 1 MiB frame limit, and the responder's authenticated identity.
pub async fn initiate<T, In, Out>(
    io: T,
    identity: &Identity,
    expected: Option<&PublicKey>,
    timeout: Duration,
) -> Result<(SecureFramed<T, In, Out>, PublicKey), HandshakeError>
where
    T: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: EncodeFrame,
{
    tokio::time::timeout(timeout, run_initiator(io, identity, expected))
        .await
        .map_err(|_| HandshakeError::Timeout(timeout))?
}

/// Runs the responder's side of the handshake on `io` within `timeout`. Returns the
/// encrypted link, with the default 1 MiB frame limit, and the initiator's authenticated
/// identity.
pub async fn accept<T, In, Out>(
    io: T,
    identity: &Identity,
    timeout: Duration,
) -> Result<(SecureFramed<T, In, Out>, PublicKey), HandshakeError>
where
    T: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: EncodeFrame,
{
    tokio::time::timeout(timeout, run_responder(io, identity))
        .await
        .map_err(|_| HandshakeError::Timeout(timeout))?
}

async fn run_initiator<T, In, Out>(
    io: T,
    identity: &Identity,
    expected: Option<&PublicKey>,
) -> Result<(SecureFramed<T, In, Out>, PublicKey), HandshakeError>
where
    T: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: EncodeFrame,
{
    let mut noise = builder(identity)?.build_initiator()?;
    let mut framed = handshake_framed(io);
    let mut buf = [0u8; HANDSHAKE_MAX_MESSAGE];
    let n = noise.write_message(&[], &mut buf)?;
    framed.send(Bytes::copy_from_slice(&buf[..n])).await?;

    let message = receive(&mut framed).await?;
    let n = noise.read_message(&message, &mut buf)?;
    let remote = check_identity(&buf[..n], noise.get_remote_static())?;
    if let Some(&expected) = expected.filter(|&&key| key != remote) {
        return Err(HandshakeError::KeyMismatch {
            expected,
            got: remote,
        });
    }

    let n = noise.write_message(&identity_payload(identity), &mut buf)?;
    framed.send(Bytes::copy_from_slice(&buf[..n])).await?;
    Ok((secure(framed, noise.into_transport_mode()?), remote))
}

async fn run_responder<T, In, Out>(
    io: T,
    identity: &Identity,
) -> Result<(SecureFramed<T, In, Out>, PublicKey), HandshakeError>
where
    T: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: EncodeFrame,
{
    let mut noise = builder(identity)?.build_responder()?;
    let mut framed = handshake_framed(io);
    let mut buf = [0u8; HANDSHAKE_MAX_MESSAGE];
    let message = receive(&mut framed).await?;
    if noise.read_message(&message, &mut buf)? != 0 {
        return Err(HandshakeError::BadMessage(
            "unexpected payload in the first message",
        ));
    }

    let n = noise.write_message(&identity_payload(identity), &mut buf)?;
    framed.send(Bytes::copy_from_slice(&buf[..n])).await?;

    let message = receive(&mut framed).await?;
    let n = noise.read_message(&message, &mut buf)?;
    let remote = check_identity(&buf[..n], noise.get_remote_static())?;
    Ok((secure(framed, noise.into_transport_mode()?), remote))
}

fn builder(identity: &Identity) -> Result<snow::Builder<'_>, HandshakeError> {
    let params = NOISE_PARAMS.parse()?;
    Ok(
        snow::Builder::with_resolver(params, super::cipher::resolver())
            .local_private_key(identity.noise_secret())?
            .prologue(PROLOGUE)?,
    )
}

/// The handshake's framing, with buffers sized for its messages rather than `Framed`'s
/// default 8 KiB each: a listener may hold hundreds of connections stalled mid-handshake.
/// (The transport that follows gets the usual 8 KiB buffers.)
fn handshake_framed<T: AsyncRead + AsyncWrite>(io: T) -> Framed<T, LengthDelimitedCodec> {
    Framed::with_capacity(io, handshake_codec(), HANDSHAKE_MAX_MESSAGE + 4)
}

fn handshake_codec() -> LengthDelimitedCodec {
    length_delimited::Builder::new()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(HANDSHAKE_MAX_MESSAGE)
        .new_codec()
}

async fn receive<T>(
    framed: &mut Framed<T, LengthDelimitedCodec>,
) -> Result<bytes::BytesMut, HandshakeError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    match framed.next().await {
        None => Err(HandshakeError::Closed),
        Some(Ok(message)) => Ok(message),
        Some(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Err(HandshakeError::Closed),
        Some(Err(e))
            if e.get_ref()
                .is_some_and(|inner| inner.is::<length_delimited::LengthDelimitedCodecError>()) =>
        {
            Err(HandshakeError::BadMessage("handshake message too large"))
        }
        Some(Err(e)) => Err(e.into()),
    }
}

fn identity_payload(identity: &Identity) -> [u8; IDENTITY_PAYLOAD_LEN] {
    let mut payload = [0u8; IDENTITY_PAYLOAD_LEN];
    payload[..PublicKey::LEN].copy_from_slice(identity.public_key().as_bytes());
    payload[PublicKey::LEN..].copy_from_slice(&identity.binding_signature().to_bytes());
    payload
}

/// The identity in a handshake payload, if it signed the static key Noise authenticated.
fn check_identity(
    payload: &[u8],
    remote_static: Option<&[u8]>,
) -> Result<PublicKey, HandshakeError> {
    const WRONG_LENGTH: HandshakeError =
        HandshakeError::BadMessage("identity payload of the wrong length");
    let (key, sig) = payload
        .split_first_chunk::<{ PublicKey::LEN }>()
        .ok_or(WRONG_LENGTH)?;
    let sig = <&[u8; Signature::LEN]>::try_from(sig).map_err(|_| WRONG_LENGTH)?;
    let key = PublicKey::from_bytes(key)
        .map_err(|_| HandshakeError::BadMessage("identity key is not a valid Ed25519 key"))?;
    let remote_static = remote_static.ok_or(HandshakeError::BadMessage("no static key"))?;
    if !key.verify_binding(remote_static, &Signature::from_bytes(sig)) {
        return Err(HandshakeError::BadBinding);
    }
    Ok(key)
}

/// Swaps the handshake codec for the encrypted one, keeping any bytes already read past the
/// handshake (the initiator may send its first frame right behind its last handshake
/// message) and any not yet written.
fn secure<T, In, Out>(
    framed: Framed<T, LengthDelimitedCodec>,
    transport: snow::TransportState,
) -> SecureFramed<T, In, Out>
where
    T: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: EncodeFrame,
{
    let old = framed.into_parts();
    let mut parts = FramedParts::new::<Out>(old.io, SecureCodec::new(transport, DEFAULT_MAX_FRAME));
    parts.read_buf = old.read_buf;
    parts.write_buf = old.write_buf;
    Framed::from_parts(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_payload_checks() {
        let id = Identity::from_secrets(&[1; 32], &[2; 32]);
        let other = Identity::from_secrets(&[3; 32], &[4; 32]);
        let payload = identity_payload(&id);
        let key = check_identity(&payload, Some(id.noise_public())).expect("valid");
        assert_eq!(key, id.public_key());
        // Someone else's identity payload replayed over our own Noise key does not bind.
        assert!(matches!(
            check_identity(&payload, Some(other.noise_public())),
            Err(HandshakeError::BadBinding)
        ));
        assert!(matches!(
            check_identity(&payload[..95], Some(id.noise_public())),
            Err(HandshakeError::BadMessage(_))
        ));
        assert!(check_identity(&payload, None).is_err());
    }
}
