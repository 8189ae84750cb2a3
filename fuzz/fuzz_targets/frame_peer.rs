//! Fuzzes the peer-to-peer frame decoder (both directions of the link use `PeerFrame`).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use natter_protocol::FrameCodec;
use natter_protocol::peer::PeerFrame;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = FrameCodec::<PeerFrame, PeerFrame>::new(64 * 1024);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
    let _ = codec.decode_eof(&mut buf);
});
