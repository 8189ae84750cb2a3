//! Fuzzes the responder's handshake (`secure::accept`, run by the tracker and by every peer's
//! listener) against a client whose bytes come from the input, then the link it returns.
//! See `handshake.rs` for the input format.
#![no_main]

mod handshake;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| handshake::run(handshake::Side::Responder, data));
