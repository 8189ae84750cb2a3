//! The plain frame codec: a 4-byte big-endian length prefix around one JSON object, no
//! encryption. Test-only (feature `test-util`): no link carries it; tests, the latency
//! benchmark's baseline and the `frame_*` fuzz targets use it to exercise the JSON layer.
//!
//! Decoding goes through tokio-util's `LengthDelimitedCodec` with an explicit maximum, so a
//! claimed length over the limit is refused before anything is allocated for it. Encoding
//! serialises straight into the output buffer behind a length placeholder (one copy, no
//! temporary `Vec`).

use std::io;
use std::marker::PhantomData;

use bytes::{BufMut, BytesMut};
use serde::{Serialize, de::DeserializeOwned};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec, length_delimited};

use super::{CodecError, DEFAULT_MAX_FRAME, LENGTH_BYTES};

/// Encodes `Out` frames and decodes `In` frames, unencrypted. Real links use
/// [`crate::SecureCodec`].
#[derive(Debug)]
pub struct FrameCodec<In, Out> {
    inner: LengthDelimitedCodec,
    max_frame: usize,
    _types: PhantomData<fn(Out) -> In>,
}

impl<In, Out> FrameCodec<In, Out> {
    /// A codec whose frames (the JSON body, without the length prefix) are at most
    /// `max_frame` bytes in both directions.
    pub fn new(max_frame: usize) -> Self {
        let inner = length_delimited::Builder::new()
            .length_field_length(LENGTH_BYTES)
            .big_endian()
            .max_frame_length(max_frame)
            .new_codec();
        Self {
            inner,
            max_frame,
            _types: PhantomData,
        }
    }

    pub fn max_frame(&self) -> usize {
        self.max_frame
    }
}

impl<In, Out> Default for FrameCodec<In, Out> {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl<In: DeserializeOwned, Out> Decoder for FrameCodec<In, Out> {
    type Item = In;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, CodecError> {
        let frame = match self.inner.decode(src) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(None),
            Err(e) if is_length_error(&e) => {
                return Err(CodecError::IncomingTooLarge {
                    max: self.max_frame,
                });
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Some(serde_json::from_slice(&frame)?))
    }
}

fn is_length_error(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<length_delimited::LengthDelimitedCodecError>())
}

impl<In, Out: Serialize> Encoder<Out> for FrameCodec<In, Out> {
    type Error = CodecError;

    fn encode(&mut self, item: Out, dst: &mut BytesMut) -> Result<(), CodecError> {
        let start = dst.len();
        dst.put_u32(0);
        let result = serde_json::to_writer(dst.writer(), &item);
        let len = dst.len() - start - LENGTH_BYTES;
        let outcome = match result {
            Err(e) => Err(CodecError::Malformed(e)),
            Ok(()) if len > self.max_frame => Err(CodecError::TooLarge {
                len,
                max: self.max_frame,
            }),
            Ok(()) => match u32::try_from(len) {
                Ok(len32) => {
                    dst[start..start + LENGTH_BYTES].copy_from_slice(&len32.to_be_bytes());
                    return Ok(());
                }
                Err(_) => Err(CodecError::TooLarge {
                    len,
                    max: self.max_frame,
                }),
            },
        };
        // Leave the buffer as it was: a refused frame must not half-appear on the wire.
        dst.truncate(start);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Msg {
        Say { text: String },
        Nothing,
    }

    type Codec = FrameCodec<Msg, Msg>;

    #[test]
    fn encodes_exact_bytes() {
        let mut buf = BytesMut::new();
        Codec::default()
            .encode(Msg::Nothing, &mut buf)
            .expect("encode");
        let body = br#"{"type":"nothing"}"#;
        let mut expected = (body.len() as u32).to_be_bytes().to_vec();
        expected.extend_from_slice(body);
        assert_eq!(&buf[..], &expected[..]);
    }

    #[test]
    fn round_trips_across_split_buffers() {
        let mut codec = Codec::default();
        let mut wire = BytesMut::new();
        let msg = || Msg::Say {
            text: "héllo 🌍".into(),
        };
        codec.encode(msg(), &mut wire).expect("encode");
        codec.encode(Msg::Nothing, &mut wire).expect("encode");
        let mut rx = BytesMut::new();
        let mut got = Vec::new();
        for byte in wire {
            rx.put_u8(byte);
            while let Some(m) = codec.decode(&mut rx).expect("decode") {
                got.push(m);
            }
        }
        assert_eq!(got, vec![msg(), Msg::Nothing]);
    }

    #[test]
    fn refuses_oversize_incoming_without_allocating() {
        let mut codec = FrameCodec::<Msg, Msg>::new(16);
        let mut rx = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        let err = codec.decode(&mut rx).expect_err("must refuse");
        assert!(matches!(err, CodecError::IncomingTooLarge { max: 16 }));
        assert!(err.is_protocol_violation());
        assert!(rx.capacity() < 1024);
    }

    #[test]
    fn refuses_oversize_outgoing_and_leaves_buffer_clean() {
        let mut codec = FrameCodec::<Msg, Msg>::new(16);
        let mut buf = BytesMut::from(&b"xy"[..]);
        let err = codec
            .encode(
                Msg::Say {
                    text: "x".repeat(100),
                },
                &mut buf,
            )
            .expect_err("must refuse");
        assert!(matches!(err, CodecError::TooLarge { max: 16, .. }));
        assert_eq!(&buf[..], b"xy");
    }

    #[test]
    fn malformed_and_unknown_frames_are_errors() {
        let mut codec = Codec::default();
        for body in [&b"not json"[..], br#"{"type":"launch"}"#, b"[1,2]"] {
            let mut rx = BytesMut::new();
            rx.put_u32(body.len() as u32);
            rx.put_slice(body);
            let err = codec.decode(&mut rx).expect_err("must refuse");
            assert!(err.is_protocol_violation(), "{err}");
        }
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let mut codec = FrameCodec::<Msg, Msg>::new(128);
            let mut rx = BytesMut::from(&bytes[..]);
            // Either frames, a need for more bytes, or an error: never a panic.
            for _ in 0..64 {
                match codec.decode(&mut rx) {
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
