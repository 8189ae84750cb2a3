//! Drives natter's real handshake ([`natter_protocol::secure::accept`] or
//! [`natter_protocol::secure::initiate`]) in a current-thread runtime with paused time,
//! over an in-memory pipe whose other end (the counterpart) writes what the fuzz input says.
//! Paused time means a handshake waiting for bytes that never come hits its timeout at once
//! instead of hanging the fuzzer. When the handshake succeeds, the returned link decodes
//! whatever follows until the counterpart's end closes.
//!
//! Input: byte 0 holds flags, the rest depends on bit 0.
//! * bit 0 clear (raw): the rest is exactly what the counterpart writes (length prefixes
//!   included); then it closes its sending side.
//! * bit 0 set (scripted): the counterpart is a real Noise peer with fixed keys, so the
//!   fuzzer gets past the cryptography. The rest is the payload of the counterpart's first
//!   handshake message (2-byte big-endian length, then the bytes), the payload of its second
//!   (same form), then what follows the handshake: chunks sealed as by `testkit::noise::seal_chunks`, or
//!   raw bytes if bit 2 is set. Bit 1 replaces the second payload with a valid identity
//!   (key and binding signature), so the handshake can succeed and the link be fuzzed.
//!   The initiator's counterpart (a responder) sends one message, so it uses only the
//!   second payload.
//! * bits 3-4: the frame type the link decodes: `PeerFrame`, `PeerToTracker`,
//!   `TrackerToPeer`.
//! * bits 5-6 (initiator only): no pinned key, the counterpart's key pinned, another key
//!   pinned.

#![allow(dead_code)] // each target drives one side

use std::time::Duration;

use futures::StreamExt as _;
use natter_protocol::identity::{Identity, PublicKey};
use natter_protocol::peer::PeerFrame;
use natter_protocol::secure;
use natter_protocol::testkit::noise::{
    finish, identity_payload, scripted_initiator, scripted_responder, seal_chunks,
};
use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncWriteExt as _, DuplexStream};

/// The handshake timeout under test; with paused time it costs nothing.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The most frames read from a link after a successful handshake.
const MAX_FRAMES: usize = 256;

/// Which side of the handshake natter plays.
#[derive(Clone, Copy)]
pub enum Side {
    Responder,
    Initiator,
}

/// What the counterpart sends, parsed from the fuzz input.
struct Script<'a> {
    flags: u8,
    first: &'a [u8],
    second: &'a [u8],
    after: &'a [u8],
}

fn take_prefixed(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return (&[], &[]);
    };
    let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    rest.split_at(len)
}

impl<'a> Script<'a> {
    fn parse(flags: u8, data: &'a [u8]) -> Self {
        let (first, rest) = take_prefixed(data);
        let (second, after) = take_prefixed(rest);
        Script {
            flags,
            first,
            second,
            after,
        }
    }
}

fn counterpart_identity() -> Identity {
    Identity::from_secrets(&[20; 32], &[21; 32])
}

/// Runs one input against `side`.
pub fn run(side: Side, data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        // A bound on the whole run, in paused (free) time, in case anything waits forever.
        let _ = tokio::time::timeout(Duration::from_secs(600), exchange(side, flags, rest)).await;
    });
}

async fn exchange(side: Side, flags: u8, rest: &[u8]) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let counterpart = counterpart(side, theirs, flags, rest);
    match (flags >> 3) % 3 {
        0 => tokio::join!(natter::<PeerFrame>(side, flags, ours), counterpart),
        1 => tokio::join!(natter::<PeerToTracker>(side, flags, ours), counterpart),
        _ => tokio::join!(natter::<TrackerToPeer>(side, flags, ours), counterpart),
    };
}

/// natter's side: the handshake, then every frame the link yields.
async fn natter<In: DeserializeOwned>(side: Side, flags: u8, io: DuplexStream) {
    let me = Identity::from_secrets(&[10; 32], &[11; 32]);
    let result = match side {
        Side::Responder => secure::accept::<_, In, PeerFrame>(io, &me, TIMEOUT).await,
        Side::Initiator => {
            let other = Identity::from_secrets(&[30; 32], &[31; 32]).public_key();
            let expected: Option<PublicKey> = match (flags >> 5) % 3 {
                0 => None,
                1 => Some(counterpart_identity().public_key()),
                _ => Some(other),
            };
            secure::initiate::<_, In, PeerFrame>(io, &me, expected.as_ref(), TIMEOUT).await
        }
    };
    if let Ok((mut link, _key)) = result {
        // Framed ends its stream after the first error it yields.
        for _ in 0..MAX_FRAMES {
            if link.next().await.is_none() {
                break;
            }
        }
    }
}

/// The other end: writes what the input says, closes its sending side, then reads until
/// natter's side closes (so natter's writes never fail for want of a reader).
async fn counterpart(side: Side, mut io: DuplexStream, flags: u8, rest: &[u8]) {
    if flags & 1 == 0 {
        let _ = io.write_all(rest).await;
    } else {
        let script = Script::parse(flags, rest);
        let me = counterpart_identity();
        let second = second_payload(&script);
        let noise = match side {
            Side::Responder => scripted_initiator(&mut io, &me, script.first, &second).await,
            Side::Initiator => scripted_responder(&mut io, &me, &second).await,
        };
        if let Some(bytes) = noise.and_then(|noise| after(&script, noise)) {
            let _ = io.write_all(&bytes).await;
        }
    }
    finish(io).await;
}

fn second_payload(script: &Script<'_>) -> Vec<u8> {
    if script.flags & 2 != 0 {
        identity_payload(&counterpart_identity())
    } else {
        script.second.to_vec()
    }
}

/// What follows the handshake, sealed with the counterpart's transport or raw.
fn after(script: &Script<'_>, noise: snow::HandshakeState) -> Option<Vec<u8>> {
    if script.flags & 4 != 0 {
        return Some(script.after.to_vec());
    }
    let mut transport = noise.into_transport_mode().ok()?;
    Some(seal_chunks(&mut transport, script.after).to_vec())
}
