//! Fuzzes the encrypted frame decoder for peer-to-peer links (`SecureCodec<PeerFrame, _>`,
//! both directions). See `common::secure_codec` for the input format (raw wire bytes, or
//! plaintext chunks sealed with the real sending side of the session).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use natter_protocol::peer::PeerFrame;

fuzz_target!(|data: &[u8]| common::secure_codec::<PeerFrame>(data));
