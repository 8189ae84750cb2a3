//! Property tests for every decoder that reads network bytes, with random and mutated input:
//! the encrypted codec for each frame type (peer frames, and both directions of the tracker
//! link), and both sides of the Noise handshake, including a real Noise counterpart that
//! sends arbitrary identity payloads. Nothing may panic, allocate past the documented
//! limits, or authenticate what it should not. The fuzz targets in `fuzz/` cover the same
//! decoders with coverage guidance; these run in the normal suite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use natter_protocol::identity::{Identity, PublicKey, sign_chat};
use natter_protocol::peer::{ChatMessage, MessageId, PeerFrame, SignedChat};
use natter_protocol::secure::codec::{FLAG_LAST, FLAG_MORE};
use natter_protocol::secure::{self, HandshakeError, NOISE_MAX_MESSAGE};
use natter_protocol::testkit::noise::{
    self, finish, identity_payload, scripted_initiator, scripted_responder, transport_pair,
};
use natter_protocol::tracker::{Member, MemberChange, PeerToTracker, TrackerToPeer};
use natter_protocol::{CodecError, ErrorCode, PROTOCOL_VERSION, SecureCodec};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::codec::{Decoder, Encoder};

/// The frame limit of the codecs under test.
const MAX_FRAME: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------
// Sessions and sample frames
// ---------------------------------------------------------------------------------------

/// Seals one plaintext chunk (flag byte included) as a length-prefixed Noise message.
fn seal_chunk(sender: &mut snow::TransportState, plain: &[u8], wire: &mut BytesMut) {
    assert!(noise::seal_chunk(sender, plain, wire), "seal");
}

fn member(name: &str) -> Member {
    let key = Identity::from_secrets(&[7; 32], &[8; 32]).public_key();
    natter_protocol::testkit::member_at(name, key, "127.0.0.1:4000".parse().expect("addr"), true)
}

fn to_tracker_frames() -> Vec<PeerToTracker> {
    vec![
        PeerToTracker::Hello {
            version: PROTOCOL_VERSION,
            name: "alice".parse().expect("name"),
            listen_port: 4000,
            groups: vec![
                "rust".parse().expect("group"),
                "chat".parse().expect("group"),
            ],
        },
        PeerToTracker::Join {
            req: None,
            group: "rust".parse().expect("group"),
        },
        PeerToTracker::Leave {
            req: None,
            group: "rust".parse().expect("group"),
        },
        PeerToTracker::Lookup {
            req: None,
            name: "bob".parse().expect("name"),
        },
        PeerToTracker::Snapshot {
            req: None,
            group: "rust".parse().expect("group"),
        },
        PeerToTracker::SetStatus {
            status: Some("at lunch".into()),
            req: Some(5),
        },
        PeerToTracker::Ping { nonce: 7 },
        PeerToTracker::Pong { nonce: u64::MAX },
    ]
}

fn from_tracker_frames() -> Vec<TrackerToPeer> {
    vec![
        TrackerToPeer::Welcome {
            version: PROTOCOL_VERSION,
            name: "alice".parse().expect("name"),
            addr: "127.0.0.1:4000".parse().expect("addr"),
            heartbeat_secs: 10,
        },
        TrackerToPeer::Members {
            req: None,
            group: "rust".parse().expect("group"),
            version: 3,
            members: vec![member("alice"), member("bob")],
            owner: None,
            topic: None,
            private: false,
            by: Default::default(),
        },
        TrackerToPeer::MemberUpdate {
            group: "rust".parse().expect("group"),
            version: 4,
            change: MemberChange::Joined {
                member: member("carol"),
            },
        },
        TrackerToPeer::MemberUpdate {
            group: "rust".parse().expect("group"),
            version: 5,
            change: MemberChange::Offline {
                name: "bob".parse().expect("name"),
                last_seen: Some(1_700_000_000_000),
            },
        },
        TrackerToPeer::MemberUpdate {
            group: "rust".parse().expect("group"),
            version: 6,
            change: MemberChange::Updated {
                member: member("carol"),
            },
        },
        TrackerToPeer::StatusSet {
            status: Some("at lunch".into()),
            req: Some(5),
        },
        TrackerToPeer::Left {
            req: None,
            group: "rust".parse().expect("group"),
            by: None,
            reason: None,
            disbanded: false,
            action: None,
        },
        TrackerToPeer::LookupResult {
            req: None,
            name: "bob".parse().expect("name"),
            member: Some(member("bob")),
        },
        TrackerToPeer::Error {
            req: None,
            code: ErrorCode::NameOwned,
            message: "name 'alice' belongs to another key".into(),
        },
        TrackerToPeer::Ping { nonce: 1 },
    ]
}

fn peer_frames() -> Vec<PeerFrame> {
    let author = Identity::from_secrets(&[5; 32], &[6; 32]);
    let message = ChatMessage {
        id: MessageId {
            sender: "alice".parse().expect("name"),
            seq: 42,
        },
        from: "alice".parse().expect("name"),
        key: author.public_key(),
        group: Some("rust".parse().expect("group")),
        to: None,
        body: natter_protocol::peer::Body::text_only("hello \u{1f980} world"),
        sent_at: 1_700_000_000_000,
    };
    let sig = sign_chat(&author, &message);
    vec![
        PeerFrame::Hello {
            version: PROTOCOL_VERSION,
            name: "alice".parse().expect("name"),
            listen_port: Some(4000),
        },
        PeerFrame::Chat(SignedChat {
            message: message.clone(),
            sig,
        }),
        PeerFrame::SyncAsk {
            group: "rust".parse().expect("group"),
            have: vec![natter_protocol::peer::AuthorRanges {
                key: author.public_key(),
                ranges: vec![(1, 40), (42, 42)],
            }],
        },
        PeerFrame::SyncPage {
            group: "rust".parse().expect("group"),
            messages: vec![SignedChat { message, sig }],
            more: true,
        },
        PeerFrame::Ack {
            id: "alice/42".parse().expect("id"),
        },
        PeerFrame::Error {
            code: ErrorCode::Unauthorized,
            message: "no".into(),
        },
    ]
}

/// A byte-level mutation of a frame's JSON.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
    /// Replace a byte with one of JSON's structural characters.
    Structural(usize, u8),
}

/// JSON's structural characters, and a few that start numbers and literals.
const STRUCTURAL: &[u8] = b"{}[]\":,\\0-etn";

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, x)| Mutation::Flip(at, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<usize>().prop_map(Mutation::Remove),
        (any::<usize>(), 0..STRUCTURAL.len())
            .prop_map(|(at, i)| Mutation::Structural(at, STRUCTURAL[i])),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip(at, x) if !bytes.is_empty() => bytes[at % len] ^= x,
            Mutation::Truncate(at) => bytes.truncate(at % len),
            Mutation::Insert(at, b) => bytes.insert(at % (bytes.len() + 1), b),
            Mutation::Remove(at) if !bytes.is_empty() => {
                bytes.remove(at % len);
            }
            Mutation::Structural(at, b) if !bytes.is_empty() => bytes[at % len] = b,
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// The encrypted codec, for each frame type
// ---------------------------------------------------------------------------------------

/// Decodes `wire` to the end: frames, malformed frames (which keep the session), then a
/// fatal error or "need more". The buffer never grows past what was fed plus one Noise
/// message: a claimed length is never allocated on trust.
fn decode_everything<In: DeserializeOwned>(wire: &[u8]) -> Vec<Result<In, CodecError>> {
    let (_, receiver) = transport_pair();
    let mut codec = SecureCodec::<In, In>::new(receiver, MAX_FRAME);
    let mut rx = BytesMut::from(wire);
    let mut out = Vec::new();
    for _ in 0..64 {
        match codec.decode(&mut rx) {
            Ok(Some(frame)) => out.push(Ok(frame)),
            Ok(None) => break,
            Err(e) => {
                let fatal = !matches!(e, CodecError::Malformed(_));
                out.push(Err(e));
                if fatal {
                    break;
                }
            }
        }
    }
    assert!(
        rx.capacity() <= wire.len().max(64) + NOISE_MAX_MESSAGE + 4,
        "buffer grew to {} for {} bytes of input",
        rx.capacity(),
        wire.len()
    );
    let _ = codec.decode_eof(&mut rx);
    out
}

/// Random chunks (flag byte and data), each sealed with the real sender, never panic, and
/// what fails is one of the documented errors.
fn sealed_chunks_never_panic<In: DeserializeOwned + Debug>(chunks: &[(u8, Vec<u8>)]) {
    let (mut sender, receiver) = transport_pair();
    let mut codec = SecureCodec::<In, In>::new(receiver, MAX_FRAME);
    let mut wire = BytesMut::new();
    for (flag, data) in chunks {
        let mut plain = vec![flag % 3];
        plain.extend_from_slice(data);
        seal_chunk(&mut sender, &plain, &mut wire);
    }
    for _ in 0..64 {
        match codec.decode(&mut wire) {
            Ok(Some(_)) | Err(CodecError::Malformed(_)) => {}
            Ok(None) => break,
            Err(CodecError::BadChunk(_) | CodecError::IncomingTooLarge { .. }) => break,
            Err(other) => panic!("unexpected error for sealed chunks: {other}"),
        }
    }
}

/// A real frame whose JSON was mutated, sealed as one valid chunk, then the frame itself:
/// the mutated one decodes to some frame or is malformed, and either way the session
/// survives and the next frame arrives intact.
fn mutated_frame_keeps_the_session<T>(frame: &T, mutations: &[Mutation])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug + Clone,
{
    let (mut sender, receiver) = transport_pair();
    let mut json = serde_json::to_vec(frame).expect("json");
    mutate(&mut json, mutations);
    let mut wire = BytesMut::new();
    let mut plain = vec![FLAG_LAST];
    plain.extend_from_slice(&json);
    seal_chunk(&mut sender, &plain, &mut wire);
    // The honest frame after it, through the real encoder on the same session.
    let mut encoder = SecureCodec::<T, T>::new(sender, MAX_FRAME);
    encoder.encode(frame.clone(), &mut wire).expect("encode");

    let mut codec = SecureCodec::<T, T>::new(receiver, MAX_FRAME);
    match codec.decode(&mut wire) {
        Ok(Some(_)) | Err(CodecError::Malformed(_)) => {}
        other => panic!("mutated JSON gave {other:?}"),
    }
    assert_eq!(
        codec.decode(&mut wire).expect("next frame"),
        Some(frame.clone())
    );
}

/// Random bytes behind a plausible length prefix reach the decryption check, and fail it.
fn framed_garbage_fails_decryption<In: DeserializeOwned + Debug>(body: &[u8]) {
    let mut wire = BytesMut::new();
    wire.put_u32(body.len() as u32);
    wire.put_slice(body);
    match decode_everything::<In>(&wire).as_slice() {
        [Err(CodecError::Crypto(_))] => {}
        other => panic!("garbage decoded to {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_bytes_never_panic_for_any_frame_type(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        decode_everything::<PeerFrame>(&bytes);
        decode_everything::<PeerToTracker>(&bytes);
        decode_everything::<TrackerToPeer>(&bytes);
    }

    #[test]
    fn random_bytes_behind_a_length_never_decrypt(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        framed_garbage_fails_decryption::<PeerFrame>(&bytes);
        framed_garbage_fails_decryption::<PeerToTracker>(&bytes);
        framed_garbage_fails_decryption::<TrackerToPeer>(&bytes);
    }

    #[test]
    fn sealed_random_chunks_never_panic_for_any_frame_type(
        chunks in proptest::collection::vec(
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..512)),
            0..8,
        ),
    ) {
        sealed_chunks_never_panic::<PeerFrame>(&chunks);
        sealed_chunks_never_panic::<PeerToTracker>(&chunks);
        sealed_chunks_never_panic::<TrackerToPeer>(&chunks);
    }

    #[test]
    fn mutated_frames_to_the_tracker_keep_the_session(
        pick in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let frames = to_tracker_frames();
        mutated_frame_keeps_the_session(pick.get(&frames), &mutations);
    }

    #[test]
    fn mutated_frames_from_the_tracker_keep_the_session(
        pick in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let frames = from_tracker_frames();
        mutated_frame_keeps_the_session(pick.get(&frames), &mutations);
    }

    #[test]
    fn mutated_peer_frames_keep_the_session(
        pick in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let frames = peer_frames();
        mutated_frame_keeps_the_session(pick.get(&frames), &mutations);
    }
}

#[test]
fn every_sample_frame_round_trips() {
    fn round_trip<T>(frames: Vec<T>)
    where
        T: Serialize + DeserializeOwned + PartialEq + Debug + Clone,
    {
        let (a, b) = transport_pair();
        let (mut a, mut b) = (
            SecureCodec::<T, T>::new(a, MAX_FRAME),
            SecureCodec::<T, T>::new(b, MAX_FRAME),
        );
        let mut wire = BytesMut::new();
        for f in &frames {
            a.encode(f.clone(), &mut wire).expect("encode");
        }
        for f in frames {
            assert_eq!(b.decode(&mut wire).expect("decode"), Some(f));
        }
    }
    round_trip(to_tracker_frames());
    round_trip(from_tracker_frames());
    round_trip(peer_frames());
}

/// Continuation chunks past the limit are refused as soon as the frame outgrows it, for
/// the tracker's decoder as for the others: the receiver holds at most the limit plus one
/// chunk, however much the sender streams.
#[test]
fn endless_continuation_to_the_tracker_is_cut_at_the_limit() {
    let (mut sender, receiver) = transport_pair();
    let mut codec = SecureCodec::<PeerToTracker, TrackerToPeer>::new(receiver, MAX_FRAME);
    let mut chunk = vec![FLAG_MORE];
    chunk.extend_from_slice(&[b' '; 16 * 1024]);
    let mut fed = 0;
    let err = loop {
        let mut wire = BytesMut::new();
        seal_chunk(&mut sender, &chunk, &mut wire);
        fed += chunk.len() - 1;
        match codec.decode(&mut wire) {
            Ok(None) => assert!(fed <= MAX_FRAME, "accepted {fed} bytes of one frame"),
            other => break other,
        }
    };
    assert!(
        matches!(err, Err(CodecError::IncomingTooLarge { max: MAX_FRAME })),
        "{err:?}"
    );
    assert!(fed <= MAX_FRAME + chunk.len());
}

// ---------------------------------------------------------------------------------------
// The handshake, both sides
// ---------------------------------------------------------------------------------------

const TIMEOUT: Duration = Duration::from_secs(2);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn natter_identity() -> Identity {
    Identity::from_secrets(&[10; 32], &[11; 32])
}

fn counterpart_identity() -> Identity {
    Identity::from_secrets(&[20; 32], &[21; 32])
}

/// `initiate` against a responder that writes `bytes`, then closes its sending side.
async fn initiate_against_bytes(bytes: &[u8]) -> Result<PublicKey, HandshakeError> {
    let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
    let me = natter_identity();
    let counterpart = async {
        let _ = theirs.write_all(bytes).await;
        finish(theirs).await;
    };
    let natter = async {
        secure::initiate::<_, TrackerToPeer, PeerToTracker>(ours, &me, None, TIMEOUT)
            .await
            .map(|(_, key)| key)
    };
    tokio::join!(natter, counterpart).0
}

/// `accept` against a real Noise initiator that sends `first` as message 1's payload and
/// `third` as message 3's.
async fn accept_scripted(first: &[u8], third: &[u8]) -> Result<PublicKey, HandshakeError> {
    let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
    let me = natter_identity();
    let counterpart = async {
        let _ = scripted_initiator(&mut theirs, &counterpart_identity(), first, third).await;
        finish(theirs).await;
    };
    let natter = async {
        secure::accept::<_, PeerToTracker, TrackerToPeer>(ours, &me, TIMEOUT)
            .await
            .map(|(_, key)| key)
    };
    tokio::join!(natter, counterpart).0
}

/// `initiate` against a real Noise responder that sends `second` as message 2's payload.
async fn initiate_scripted(
    second: &[u8],
    expected: Option<&PublicKey>,
) -> Result<PublicKey, HandshakeError> {
    let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
    let me = natter_identity();
    let counterpart = async {
        let _ = scripted_responder(&mut theirs, &counterpart_identity(), second).await;
        finish(theirs).await;
    };
    let natter = async {
        secure::initiate::<_, TrackerToPeer, PeerToTracker>(ours, &me, expected, TIMEOUT)
            .await
            .map(|(_, key)| key)
    };
    tokio::join!(natter, counterpart).0
}

/// A real responder's bytes, with `mutate` applied to what reaches the initiator.
async fn initiate_through_mutated_responder(
    mutations: &[Mutation],
) -> Result<PublicKey, HandshakeError> {
    // Record what an honest responder sends first, for an initiator with fixed keys...
    let responder = counterpart_identity();
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let me = natter_identity();
    let recorded = async {
        let mut theirs = theirs;
        let mut first = [0u8; 36];
        theirs.read_exact(&mut first).await.expect("message 1");
        // A real responder needs the real message 1; run one on a second pipe.
        let (front, back) = tokio::io::duplex(64 * 1024);
        let server = async {
            let _ = secure::accept::<_, PeerFrame, PeerFrame>(back, &responder, TIMEOUT).await;
        };
        let relay = async {
            let mut front = front;
            front.write_all(&first).await.expect("relay message 1");
            let mut len = [0u8; 4];
            front.read_exact(&mut len).await.expect("message 2 length");
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            front.read_exact(&mut body).await.expect("message 2");
            let mut second = len.to_vec();
            second.extend_from_slice(&body);
            mutate(&mut second, mutations);
            let _ = theirs.write_all(&second).await;
            drop(front);
            finish(theirs).await;
        };
        tokio::join!(server, relay);
    };
    let natter = async {
        secure::initiate::<_, PeerFrame, PeerFrame>(ours, &me, None, TIMEOUT)
            .await
            .map(|(_, key)| key)
    };
    tokio::join!(natter, recorded).0
}

#[test]
fn the_scripted_counterparts_complete_with_a_valid_identity() {
    let rt = runtime();
    let key = counterpart_identity().public_key();
    let payload = identity_payload(&counterpart_identity());
    assert_eq!(
        rt.block_on(accept_scripted(&[], &payload)).expect("accept"),
        key
    );
    assert_eq!(
        rt.block_on(initiate_scripted(&payload, Some(&key)))
            .expect("initiate"),
        key
    );
    // Pinned to someone else: refused before the initiator reveals itself.
    let other = natter_identity().public_key();
    assert!(matches!(
        rt.block_on(initiate_scripted(&payload, Some(&other))),
        Err(HandshakeError::KeyMismatch { .. })
    ));
    // The honest relay with no mutation authenticates.
    assert_eq!(
        rt.block_on(initiate_through_mutated_responder(&[]))
            .expect("unmutated"),
        key
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_bytes_to_the_initiator_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        prefix in any::<bool>(),
    ) {
        // With `prefix`, the garbage sits behind a plausible length, so it reaches Noise.
        let mut wire = Vec::new();
        if prefix {
            wire.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        }
        wire.extend_from_slice(&bytes);
        let result = runtime().block_on(initiate_against_bytes(&wire));
        prop_assert!(
            matches!(
                result,
                Err(HandshakeError::BadMessage(_)
                    | HandshakeError::Noise(_)
                    | HandshakeError::Closed
                    | HandshakeError::Io(_))
            ),
            "{:?}",
            result
        );
    }

    #[test]
    fn mutated_responder_bytes_never_authenticate(
        mutations in proptest::collection::vec(mutation(), 1..3),
    ) {
        match runtime().block_on(initiate_through_mutated_responder(&mutations)) {
            // Only a mutation that changed nothing (insert then truncate it away) may pass,
            // and then with the responder's real key.
            Ok(key) => prop_assert_eq!(key, counterpart_identity().public_key()),
            Err(HandshakeError::Timeout(_)) => prop_assert!(false, "a mutated handshake hung"),
            Err(_) => {}
        }
    }

    #[test]
    fn arbitrary_identity_payloads_never_authenticate_a_responder(
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        pin in any::<bool>(),
    ) {
        let key = counterpart_identity().public_key();
        let result = runtime().block_on(initiate_scripted(&payload, pin.then_some(&key)));
        prop_assert!(
            matches!(result, Err(HandshakeError::BadMessage(_) | HandshakeError::BadBinding)),
            "{:?}",
            result
        );
    }

    #[test]
    fn arbitrary_payloads_never_authenticate_an_initiator(
        first in proptest::collection::vec(any::<u8>(), 0..64),
        third in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let result = runtime().block_on(accept_scripted(&first, &third));
        prop_assert!(
            matches!(result, Err(HandshakeError::BadMessage(_) | HandshakeError::BadBinding)),
            "{:?}",
            result
        );
    }

    #[test]
    fn a_valid_identity_with_a_flipped_bit_never_authenticates(at in 0usize..96, bit in 0u8..8) {
        let mut payload = identity_payload(&counterpart_identity());
        payload[at] ^= 1 << bit;
        let rt = runtime();
        let result = rt.block_on(initiate_scripted(&payload, None));
        prop_assert!(
            matches!(result, Err(HandshakeError::BadMessage(_) | HandshakeError::BadBinding)),
            "{:?}",
            result
        );
        let result = rt.block_on(accept_scripted(&[], &payload));
        prop_assert!(
            matches!(result, Err(HandshakeError::BadMessage(_) | HandshakeError::BadBinding)),
            "{:?}",
            result
        );
    }
}
