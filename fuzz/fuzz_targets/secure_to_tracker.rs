//! Fuzzes the tracker's encrypted frame decoder (`SecureCodec<PeerToTracker, _>`): what any
//! client that completed a handshake can send it. Input format as in `common::secure_codec`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use natter_protocol::tracker::PeerToTracker;

fuzz_target!(|data: &[u8]| common::secure_codec::<PeerToTracker>(data));
