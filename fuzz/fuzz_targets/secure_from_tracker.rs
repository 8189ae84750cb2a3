//! Fuzzes the peer's encrypted decoder of tracker frames (`SecureCodec<TrackerToPeer, _>`):
//! what a hostile tracker (or one the peer has not pinned yet) can send. Input format as in
//! `common::secure_codec`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use natter_protocol::tracker::TrackerToPeer;

fuzz_target!(|data: &[u8]| common::secure_codec::<TrackerToPeer>(data));
