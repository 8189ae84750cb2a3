//! Fuzzes the initiator's handshake (`secure::initiate`, run by a peer connecting to the
//! tracker or to another peer) against a responder whose bytes come from the input, then the
//! link it returns. See `handshake.rs` for the input format.
#![no_main]

mod handshake;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| handshake::run(handshake::Side::Initiator, data));
