//! Fuzzes the tracker's decoder of peer frames: any bytes give frames, "need more" or an
//! error, never a panic or an allocation past the frame limit.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use natter_protocol::FrameCodec;
use natter_protocol::tracker::{PeerToTracker, TrackerToPeer};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = FrameCodec::<PeerToTracker, TrackerToPeer>::new(64 * 1024);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
    let _ = codec.decode_eof(&mut buf);
});
