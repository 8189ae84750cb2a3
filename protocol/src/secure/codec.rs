//! The encrypted frame codec: typed JSON frames, split into chunks, each chunk one Noise
//! transport message behind a 4-byte big-endian length.
//!
//! A Noise message holds at most 65535 bytes, 16 of them the authentication tag. Inside
//! each, the first plaintext byte says whether more chunks of the same frame follow
//! ([`FLAG_MORE`]) or this is the frame's last chunk ([`FLAG_LAST`]); the rest is up to
//! [`MAX_CHUNK`] bytes of the frame's JSON. The receiver appends chunks until the last one
//! and refuses the frame as soon as it grows past `max_frame`, so it never holds more than
//! `max_frame` plus one chunk, and never allocates a size the sender merely claims.
//!
//! Any failure to decrypt (a flipped bit, a dropped, replayed or reordered message) is an
//! error after which the codec refuses everything: the link must close.

use std::io;
use std::marker::PhantomData;

use bytes::{BufMut, BytesMut};
use serde::de::DeserializeOwned;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec, length_delimited};

use super::frame_json::EncodeFrame;
use crate::codec::{CodecError, DEFAULT_MAX_FRAME};

/// The largest Noise message (ciphertext, tag included).
pub const NOISE_MAX_MESSAGE: usize = 65535;
const TAG_LEN: usize = 16;
const LENGTH_BYTES: usize = 4;
/// The most frame bytes one Noise message carries (after the tag and the flag byte).
pub const MAX_CHUNK: usize = NOISE_MAX_MESSAGE - TAG_LEN - 1;
/// Flag byte: this chunk ends the frame.
pub const FLAG_LAST: u8 = 0;
/// Flag byte: more chunks of this frame follow (such a chunk is never empty).
pub const FLAG_MORE: u8 = 1;
/// The most each scratch buffer keeps between frames. An idle link is most of what a
/// peer or tracker holds, so a buffer grown by a big frame is let go once the frame is
/// done; one of this size serves the common small frame without an allocation.
const KEEP: usize = 2 * 1024;

/// Encodes `Out` frames and decodes `In` frames over an established Noise session.
pub struct SecureCodec<In, Out> {
    transport: snow::TransportState,
    wire: LengthDelimitedCodec,
    max_frame: usize,
    /// The frame being reassembled from chunks.
    partial: BytesMut,
    /// Plaintext of one chunk, in either direction (sized on use, up to a Noise message).
    plain: Vec<u8>,
    /// JSON of the frame being encoded.
    json: Vec<u8>,
    /// Set by a read error that desynchronises the receiving half of the session (a
    /// message that does not decrypt, a bad chunk, a frame over the limit): every later
    /// decode fails. The sending half has its own nonce and stays usable, so the frames
    /// answering what was read before (and a parting error) can still be written.
    read_broken: bool,
    /// Set by a failed seal (the sending nonce may have moved): every later encode fails.
    write_broken: bool,
    _types: PhantomData<fn(Out) -> In>,
}

impl<In, Out> SecureCodec<In, Out> {
    /// A codec over `transport` whose frames (the JSON, before chunking) are at most
    /// `max_frame` bytes in both directions.
    pub fn new(transport: snow::TransportState, max_frame: usize) -> Self {
        let wire = length_delimited::Builder::new()
            .length_field_length(LENGTH_BYTES)
            .big_endian()
            .max_frame_length(NOISE_MAX_MESSAGE)
            .new_codec();
        Self {
            transport,
            wire,
            max_frame,
            partial: BytesMut::new(),
            plain: Vec::new(),
            json: Vec::new(),
            read_broken: false,
            write_broken: false,
            _types: PhantomData,
        }
    }

    /// A codec with the default 1 MiB frame limit.
    pub fn with_default_limit(transport: snow::TransportState) -> Self {
        Self::new(transport, DEFAULT_MAX_FRAME)
    }

    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Changes the frame limit for frames not yet started.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = max_frame;
    }

    /// Lets the scratch buffers go (a partly read frame stays): for a link about to wait
    /// idle, when what it keeps counts once per connection (a tracker holds thousands).
    /// The next frame allocates what it needs again.
    pub fn release_scratch(&mut self) {
        self.plain = Vec::new();
        self.json = Vec::new();
        if self.partial.is_empty() {
            self.partial = BytesMut::new();
        }
    }

    /// The remote's Noise static public key.
    pub fn remote_static(&self) -> Option<&[u8]> {
        self.transport.get_remote_static()
    }

    fn fail(&mut self, err: CodecError) -> CodecError {
        self.read_broken = true;
        self.partial = BytesMut::new();
        err
    }

    /// Decrypts one Noise message and adds its chunk; a whole frame's JSON when it ends one.
    fn take_chunk(&mut self, message: &[u8]) -> Result<Option<BytesMut>, CodecError> {
        let plain = plain_of(&mut self.plain, message.len());
        let n = match self.transport.read_message(message, plain) {
            Ok(n) => n,
            Err(e) => return Err(self.fail(CodecError::Crypto(e))),
        };
        let Some((&flag, data)) = self.plain[..n].split_first() else {
            return Err(self.fail(CodecError::BadChunk("empty chunk")));
        };
        if self.partial.len() + data.len() > self.max_frame {
            let max = self.max_frame;
            return Err(self.fail(CodecError::IncomingTooLarge { max }));
        }
        match flag {
            FLAG_MORE if data.is_empty() => {
                Err(self.fail(CodecError::BadChunk("empty continuation")))
            }
            FLAG_MORE => {
                self.partial.extend_from_slice(data);
                Ok(None)
            }
            FLAG_LAST => {
                self.partial.extend_from_slice(data);
                let frame = self.partial.split();
                // `split` leaves the rest of a big frame's allocation here: let it go.
                if self.partial.capacity() > KEEP {
                    self.partial = BytesMut::new();
                }
                Ok(Some(frame))
            }
            _ => Err(self.fail(CodecError::BadChunk("unknown chunk flag"))),
        }
    }
}

impl<In, Out> std::fmt::Debug for SecureCodec<In, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureCodec")
            .field("max_frame", &self.max_frame)
            .field("partial", &self.partial.len())
            .field("read_broken", &self.read_broken)
            .field("write_broken", &self.write_broken)
            .finish_non_exhaustive()
    }
}

/// The scratch buffer, at least `len` bytes long.
fn plain_of(plain: &mut Vec<u8>, len: usize) -> &mut [u8] {
    if plain.len() < len {
        // From nothing, room for the common small chunk at once.
        plain.reserve(len.max(KEEP) - plain.len());
        plain.resize(len, 0);
    }
    plain
}

/// Lets a scratch buffer grown past [`KEEP`] go.
fn relax(plain: &mut Vec<u8>) {
    if plain.capacity() > KEEP {
        *plain = Vec::new();
    }
}

fn broken_error() -> CodecError {
    CodecError::BadChunk("link already failed")
}

impl<In: DeserializeOwned, Out> Decoder for SecureCodec<In, Out> {
    type Item = In;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, CodecError> {
        loop {
            if self.read_broken {
                return Err(broken_error());
            }
            let message = match self.wire.decode(src) {
                Ok(Some(message)) => message,
                Ok(None) => return Ok(None),
                Err(e) if is_length_error(&e) => {
                    return Err(self.fail(CodecError::BadChunk("noise message over 65535 bytes")));
                }
                Err(e) => return Err(self.fail(e.into())),
            };
            let chunk = self.take_chunk(&message);
            relax(&mut self.plain);
            if let Some(frame) = chunk? {
                // A frame that is not valid JSON leaves the session intact, as with FrameCodec.
                return Ok(Some(serde_json::from_slice(&frame)?));
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<In>, CodecError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() && self.partial.is_empty() => Ok(None),
            None => Err(self.fail(CodecError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "encrypted link closed in the middle of a frame",
            )))),
        }
    }
}

fn is_length_error(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<length_delimited::LengthDelimitedCodecError>())
}

impl<In, Out: EncodeFrame> Encoder<Out> for SecureCodec<In, Out> {
    type Error = CodecError;

    fn encode(&mut self, item: Out, dst: &mut BytesMut) -> Result<(), CodecError> {
        if self.write_broken {
            return Err(broken_error());
        }
        let mut json = std::mem::take(&mut self.json);
        json.clear();
        let result = match item.json(&mut json) {
            Ok(bytes) => self.seal_frame(bytes, dst),
            Err(e) => Err(e.into()),
        };
        // Keep the buffer for the next frame unless this one was large.
        if json.capacity() <= KEEP {
            self.json = json;
        }
        relax(&mut self.plain);
        result
    }
}

impl<In, Out> SecureCodec<In, Out> {
    /// Seals one frame's JSON, chunk by chunk, after `dst`'s bytes.
    fn seal_frame(&mut self, json: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        if json.len() > self.max_frame {
            return Err(CodecError::TooLarge {
                len: json.len(),
                max: self.max_frame,
            });
        }
        let start = dst.len();
        let count = json.len().div_ceil(MAX_CHUNK).max(1);
        dst.reserve(json.len() + count * (LENGTH_BYTES + TAG_LEN + 1));
        let mut chunks = json.chunks(MAX_CHUNK).peekable();
        loop {
            let chunk = chunks.next().unwrap_or(&[]);
            let last = chunks.peek().is_none();
            if let Err(e) = self.seal_chunk(chunk, last, dst) {
                // The session's nonce may have moved: nothing more can be sent on it.
                dst.truncate(start);
                self.write_broken = true;
                return Err(e);
            }
            if last {
                return Ok(());
            }
        }
    }

    fn seal_chunk(
        &mut self,
        chunk: &[u8],
        last: bool,
        dst: &mut BytesMut,
    ) -> Result<(), CodecError> {
        let plain_len = chunk.len() + 1;
        let plain = plain_of(&mut self.plain, plain_len);
        plain[0] = if last { FLAG_LAST } else { FLAG_MORE };
        plain[1..plain_len].copy_from_slice(chunk);
        let sealed_len = plain_len + TAG_LEN;
        // sealed_len <= NOISE_MAX_MESSAGE, so it fits a u32.
        dst.put_u32(sealed_len as u32);
        let at = dst.len();
        dst.resize(at + sealed_len, 0);
        let written = self
            .transport
            .write_message(&self.plain[..plain_len], &mut dst[at..])
            .map_err(CodecError::Crypto)?;
        dst.truncate(at + written);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secure::{FrameJson, Outgoing};
    use crate::testkit::noise::transport_pair;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Msg {
        Say { text: String },
        Nothing,
    }

    type Codec = SecureCodec<Msg, Msg>;

    fn pair(max_frame: usize) -> (Codec, Codec) {
        let (a, b) = transport_pair();
        (Codec::new(a, max_frame), Codec::new(b, max_frame))
    }

    fn big(len: usize) -> Msg {
        Msg::Say {
            text: "x".repeat(len),
        }
    }

    #[test]
    fn round_trips_both_ways_across_split_buffers() {
        let (mut a, mut b) = pair(DEFAULT_MAX_FRAME);
        let mut wire = BytesMut::new();
        a.encode(Msg::Nothing, &mut wire).expect("encode");
        a.encode(big(10), &mut wire).expect("encode");
        let mut rx = BytesMut::new();
        let mut got = Vec::new();
        for byte in wire {
            rx.put_u8(byte);
            while let Some(m) = b.decode(&mut rx).expect("decode") {
                got.push(m);
            }
        }
        assert_eq!(got, vec![Msg::Nothing, big(10)]);
        let mut back = BytesMut::new();
        b.encode(big(3), &mut back).expect("encode");
        assert_eq!(a.decode(&mut back).expect("decode"), Some(big(3)));
    }

    #[test]
    fn ciphertext_hides_plaintext() {
        let (mut a, _) = pair(DEFAULT_MAX_FRAME);
        let mut wire = BytesMut::new();
        a.encode(
            Msg::Say {
                text: "secret words".into(),
            },
            &mut wire,
        )
        .expect("encode");
        let hay = &wire[..];
        for needle in [&b"secret"[..], b"say", b"type"] {
            assert!(!hay.windows(needle.len()).any(|w| w == needle));
        }
    }

    #[test]
    fn chunks_and_reassembles_a_300_kib_frame() {
        let (mut a, mut b) = pair(DEFAULT_MAX_FRAME);
        let msg = big(300 * 1024);
        let mut wire = BytesMut::new();
        a.encode(msg.clone(), &mut wire).expect("encode");
        // Five chunks, every Noise message within the limit.
        assert_eq!(count_messages(&wire), 5);
        assert_eq!(b.decode(&mut wire).expect("decode"), Some(msg));
        assert!(wire.is_empty());
    }

    fn count_messages(mut wire: &[u8]) -> usize {
        let mut count = 0;
        while let Some(len) = crate::codec::peek_length(wire) {
            assert!(len as usize <= NOISE_MAX_MESSAGE);
            wire = &wire[LENGTH_BYTES + len as usize..];
            count += 1;
        }
        assert!(wire.is_empty());
        count
    }

    #[test]
    fn exact_chunk_boundary_round_trips() {
        let (mut a, mut b) = pair(DEFAULT_MAX_FRAME);
        // `{"type":"say","text":"…"}` is 24 bytes around the text.
        for (len, messages) in [
            (MAX_CHUNK - 24, 1),
            (MAX_CHUNK - 23, 2),
            (2 * MAX_CHUNK - 24, 2),
            (2 * MAX_CHUNK - 23, 3),
        ] {
            let mut wire = BytesMut::new();
            a.encode(big(len), &mut wire).expect("encode");
            assert_eq!(count_messages(&wire), messages, "text of {len}");
            assert_eq!(b.decode(&mut wire).expect("decode"), Some(big(len)));
        }
    }

    /// A link whose frames are sometimes made ahead.
    fn ahead_pair(max_frame: usize) -> (SecureCodec<Msg, Outgoing<Msg>>, Codec) {
        let (a, b) = transport_pair();
        (SecureCodec::new(a, max_frame), Codec::new(b, max_frame))
    }

    #[test]
    fn json_made_ahead_writes_what_the_frame_would() {
        let (mut a, mut b) = ahead_pair(DEFAULT_MAX_FRAME);
        // One chunk, several chunks, and the smallest frame.
        for msg in [Msg::Nothing, big(10), big(2 * MAX_CHUNK + 5)] {
            let json = FrameJson::of(&msg).expect("json");
            let mut typed = BytesMut::new();
            a.encode(Outgoing::Frame(msg.clone()), &mut typed)
                .expect("encode");
            let mut ahead = BytesMut::new();
            a.encode(Outgoing::Json(json), &mut ahead)
                .expect("encode json");
            // The same layout (only the nonce differs), and both read back as the frame.
            assert_eq!(typed.len(), ahead.len());
            assert_eq!(count_messages(&typed), count_messages(&ahead));
            let mut wire = typed;
            wire.extend_from_slice(&ahead);
            assert_eq!(b.decode(&mut wire).expect("decode"), Some(msg.clone()));
            assert_eq!(b.decode(&mut wire).expect("decode"), Some(msg));
            assert!(wire.is_empty());
        }
    }

    #[test]
    fn json_made_ahead_keeps_the_frame_limit() {
        let (mut a, mut b) = ahead_pair(100_000);
        let json = FrameJson::of(&big(200_000)).expect("json");
        let mut wire = BytesMut::from(&b"xy"[..]);
        let err = a
            .encode(Outgoing::Json(json), &mut wire)
            .expect_err("too large");
        assert!(matches!(err, CodecError::TooLarge { max: 100_000, .. }));
        assert_eq!(&wire[..], b"xy");
        let mut wire = BytesMut::new();
        let json = FrameJson::of(&Msg::Nothing).expect("json");
        a.encode(Outgoing::Json(json), &mut wire)
            .expect("still usable");
        assert_eq!(b.decode(&mut wire).expect("decode"), Some(Msg::Nothing));
    }

    #[test]
    fn refuses_oversize_outgoing_without_writing_or_breaking() {
        let (mut a, mut b) = pair(100_000);
        let mut wire = BytesMut::from(&b"xy"[..]);
        let err = a.encode(big(200_000), &mut wire).expect_err("too large");
        assert!(matches!(err, CodecError::TooLarge { max: 100_000, .. }));
        assert_eq!(&wire[..], b"xy");
        let mut wire = BytesMut::new();
        a.encode(Msg::Nothing, &mut wire).expect("still usable");
        assert_eq!(b.decode(&mut wire).expect("decode"), Some(Msg::Nothing));
    }

    #[test]
    fn refuses_oversize_reassembly_early() {
        let (ta, tb) = transport_pair();
        let mut a = Codec::new(ta, DEFAULT_MAX_FRAME);
        let mut b = Codec::new(tb, 100_000);
        let mut wire = BytesMut::new();
        a.encode(big(300 * 1024), &mut wire).expect("encode");
        let total = wire.len();
        let err = b.decode(&mut wire).expect_err("too large");
        assert!(
            matches!(err, CodecError::IncomingTooLarge { max: 100_000 }),
            "{err}"
        );
        // Refused at the second chunk, not after reading the whole frame.
        assert!(total - wire.len() <= 2 * (NOISE_MAX_MESSAGE + LENGTH_BYTES));
        assert!(b.partial.capacity() <= 2 * MAX_CHUNK);
        assert!(b.decode(&mut wire).is_err(), "stays failed");
    }

    #[test]
    fn a_big_frame_leaves_no_big_buffer_behind() {
        let (mut a, mut b) = pair(DEFAULT_MAX_FRAME);
        for len in [10, 300_000, 1_000, 70_000] {
            let mut wire = BytesMut::new();
            a.encode(big(len), &mut wire).expect("encode");
            assert_eq!(b.decode(&mut wire).expect("decode"), Some(big(len)));
            for codec in [&a, &b] {
                assert!(codec.plain.capacity() <= KEEP, "after {len}");
                assert!(codec.json.capacity() <= KEEP, "after {len}");
                assert!(codec.partial.capacity() <= KEEP, "after {len}");
            }
        }
    }

    #[test]
    fn released_scratch_is_let_go_and_the_link_goes_on() {
        let (mut a, mut b) = pair(DEFAULT_MAX_FRAME);
        for len in [10, 1_000, 70_000, 20] {
            let mut wire = BytesMut::new();
            a.encode(big(len), &mut wire).expect("encode");
            assert_eq!(b.decode(&mut wire).expect("decode"), Some(big(len)));
            for codec in [&mut a, &mut b] {
                codec.release_scratch();
                assert_eq!(codec.plain.capacity(), 0, "after {len}");
                assert_eq!(codec.json.capacity(), 0, "after {len}");
                assert_eq!(codec.partial.capacity(), 0, "after {len}");
            }
        }
    }

    #[test]
    fn released_scratch_keeps_a_partly_read_frame() {
        let (mut a, mut b) = pair(DEFAULT_MAX_FRAME);
        let mut wire = BytesMut::new();
        a.encode(big(2 * MAX_CHUNK), &mut wire).expect("encode");
        // The first chunk alone: the frame is partly read.
        let first = LENGTH_BYTES + NOISE_MAX_MESSAGE;
        let mut head = wire.split_to(first);
        assert_eq!(b.decode(&mut head).expect("decode"), None);
        b.release_scratch();
        assert_eq!(
            b.decode(&mut wire).expect("decode"),
            Some(big(2 * MAX_CHUNK))
        );
    }

    /// A receiver and two messages sealed for it ("one", then "two").
    fn two_sent() -> (Codec, BytesMut, BytesMut) {
        let (mut a, b) = pair(DEFAULT_MAX_FRAME);
        let mut seal = |text: &str| {
            let mut w = BytesMut::new();
            a.encode(Msg::Say { text: text.into() }, &mut w)
                .expect("encode");
            w
        };
        let one = seal("one");
        let two = seal("two");
        (b, one, two)
    }

    #[test]
    fn tampered_replayed_or_dropped_messages_fail() {
        // Flipped bit.
        let (mut b, mut one, mut two) = two_sent();
        let last = one.len() - 1;
        one[last] ^= 1;
        assert!(matches!(b.decode(&mut one), Err(CodecError::Crypto(_))));
        assert!(b.decode(&mut two).is_err(), "stays failed");
        // Replay.
        let (mut b, one, _) = two_sent();
        assert!(b.decode(&mut one.clone()).expect("first").is_some());
        assert!(matches!(
            b.decode(&mut one.clone()),
            Err(CodecError::Crypto(_))
        ));
        // Dropped message (the second arrives first).
        let (mut b, _, mut two) = two_sent();
        assert!(matches!(b.decode(&mut two), Err(CodecError::Crypto(_))));
    }

    #[test]
    fn a_read_failure_leaves_the_sending_half_usable() {
        // What a peer relies on to ack the frames before a bad one, then say why it closes.
        let (mut a, mut b) = pair(DEFAULT_MAX_FRAME);
        let mut wire = BytesMut::new();
        a.encode(Msg::Say { text: "ok".into() }, &mut wire)
            .expect("encode");
        let mut tampered = BytesMut::new();
        a.encode(Msg::Say { text: "no".into() }, &mut tampered)
            .expect("encode");
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        wire.extend_from_slice(&tampered);
        assert_eq!(
            b.decode(&mut wire).expect("first"),
            Some(Msg::Say { text: "ok".into() })
        );
        assert!(matches!(b.decode(&mut wire), Err(CodecError::Crypto(_))));
        assert!(b.decode(&mut wire).is_err(), "reading stays failed");
        let mut back = BytesMut::new();
        for text in ["ack", "bye"] {
            b.encode(Msg::Say { text: text.into() }, &mut back)
                .expect("writing goes on");
        }
        assert_eq!(
            a.decode(&mut back).expect("ack"),
            Some(Msg::Say { text: "ack".into() })
        );
        assert_eq!(
            a.decode(&mut back).expect("bye"),
            Some(Msg::Say { text: "bye".into() })
        );
    }

    #[test]
    fn bad_chunks_are_refused() {
        // Hand-sealed plaintexts that the encoder never produces.
        for (plain, what) in [
            (&[][..], "empty chunk"),
            (&[FLAG_MORE][..], "empty continuation"),
            (&[7, b'{', b'}'][..], "unknown chunk flag"),
        ] {
            let (mut a, b) = transport_pair();
            let mut b = Codec::new(b, DEFAULT_MAX_FRAME);
            let mut sealed = vec![0u8; plain.len() + TAG_LEN];
            a.write_message(plain, &mut sealed).expect("seal");
            let mut wire = BytesMut::new();
            wire.put_u32(sealed.len() as u32);
            wire.put_slice(&sealed);
            match b.decode(&mut wire) {
                Err(CodecError::BadChunk(got)) => assert_eq!(got, what),
                other => panic!("{what}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_json_is_an_error_that_keeps_the_session() {
        let (mut a, b) = transport_pair();
        let mut b = Codec::new(b, DEFAULT_MAX_FRAME);
        let mut wire = BytesMut::new();
        for plain in [&b"\0not json"[..], b"\0{\"type\":\"nothing\"}"] {
            let mut sealed = vec![0u8; plain.len() + TAG_LEN];
            a.write_message(plain, &mut sealed).expect("seal");
            wire.put_u32(sealed.len() as u32);
            wire.put_slice(&sealed);
        }
        assert!(matches!(b.decode(&mut wire), Err(CodecError::Malformed(_))));
        assert_eq!(b.decode(&mut wire).expect("next"), Some(Msg::Nothing));
    }

    #[test]
    fn oversize_noise_length_is_refused_without_allocating() {
        let (_, b) = transport_pair();
        let mut b = Codec::new(b, DEFAULT_MAX_FRAME);
        let mut rx = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        assert!(matches!(b.decode(&mut rx), Err(CodecError::BadChunk(_))));
        assert!(rx.capacity() < 1024);
    }

    #[test]
    fn eof_inside_a_frame_is_an_error() {
        let (mut a, mut b) = pair(DEFAULT_MAX_FRAME);
        let mut wire = BytesMut::new();
        a.encode(big(100_000), &mut wire).expect("encode");
        wire.truncate(wire.len() - 10);
        assert_eq!(b.decode(&mut wire).expect("partial"), None);
        assert!(b.decode_eof(&mut wire).is_err());
        let (_, mut c) = pair(DEFAULT_MAX_FRAME);
        assert_eq!(c.decode_eof(&mut BytesMut::new()).expect("clean eof"), None);
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let (_, b) = transport_pair();
            let mut b = Codec::new(b, 4096);
            let mut rx = BytesMut::from(&bytes[..]);
            for _ in 0..16 {
                match b.decode(&mut rx) {
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
        }

        #[test]
        fn mutated_ciphertext_never_panics_and_never_decodes_altered(
            len in 0usize..200_000,
            cuts in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 1..4),
        ) {
            let (mut a, mut b) = pair(DEFAULT_MAX_FRAME);
            let mut wire = BytesMut::new();
            a.encode(big(len), &mut wire).expect("encode");
            let mut bytes = wire.to_vec();
            for (at, xor) in cuts {
                let at = at % bytes.len();
                match xor % 3 {
                    0 => bytes[at] ^= xor | 1,
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, xor),
                }
            }
            let mut rx = BytesMut::from(&bytes[..]);
            for _ in 0..8 {
                match b.decode(&mut rx) {
                    // Whatever decodes is exactly what was sent (a mutation that changed
                    // nothing, like inserting then truncating away, may still decode).
                    Ok(Some(m)) => proptest::prop_assert_eq!(m, big(len)),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
