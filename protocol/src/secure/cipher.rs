//! The ChaChaPoly that snow runs for every link: ring's ChaCha20-Poly1305, as snow's own
//! ring resolver has it, but holding the 32-byte key rather than a ring key.
//!
//! Why: snow's ring cipher keeps a `ring::aead::LessSafeKey`, an enum as large as ring's
//! biggest AEAD key (the AES-GCM key schedule and its GHASH table), boxed in a 640-byte
//! allocation per cipher state; every established link has two (sending, receiving).
//! A tracker holds thousands of idle links, and those two were about 1.3 KiB of the
//! ~5 KiB each online peer cost it. A ChaCha20 key needs no schedule, so building
//! ring's key on the stack for each message costs a 32-byte copy, and this cipher
//! state is the key alone. The bytes on the wire are the same (the interoperability
//! test below talks to snow's stock cipher); every other primitive (X25519, BLAKE2s,
//! the RNG) is still snow's default choice ([`resolver`]).

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{
    BoxedCryptoResolver, CryptoResolver, DefaultResolver, FallbackResolver, RingResolver,
};
use snow::types::{Cipher, Dh, Hash, Random};
use zeroize::Zeroizing;

/// A ChaChaPoly key is 32 bytes, its tag 16 (the Noise specification's sizes).
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// What every handshake builds from: this module's ChaChaPoly, the rest as
/// `snow::Builder::new` resolves it with `ring-accelerated` (ring first, then snow's
/// pure-Rust primitives).
pub fn resolver() -> BoxedCryptoResolver {
    let stock = FallbackResolver::new(Box::new(RingResolver), Box::new(DefaultResolver));
    Box::new(FallbackResolver::new(
        Box::new(CompactResolver),
        Box::new(stock),
    ))
}

/// Resolves ChaChaPoly only; everything else falls back (see [`resolver`]).
struct CompactResolver;

impl CryptoResolver for CompactResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        None
    }

    fn resolve_dh(&self, _choice: &DHChoice) -> Option<Box<dyn Dh>> {
        None
    }

    fn resolve_hash(&self, _choice: &HashChoice) -> Option<Box<dyn Hash>> {
        None
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        match choice {
            CipherChoice::ChaChaPoly => Some(Box::new(ChaChaPoly::default())),
            _ => None,
        }
    }
}

/// A ChaCha20-Poly1305 cipher state: the key, wiped when dropped.
#[derive(Default)]
struct ChaChaPoly {
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl ChaChaPoly {
    /// ring's key, built on the stack for one message.
    fn ring_key(&self) -> Option<LessSafeKey> {
        UnboundKey::new(&CHACHA20_POLY1305, self.key.as_slice())
            .ok()
            .map(LessSafeKey::new)
    }
}

/// Noise's ChaChaPoly nonce: four zero bytes, then the 64-bit counter, little-endian.
fn nonce(n: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_le_bytes());
    Nonce::assume_unique_for_key(bytes)
}

impl Cipher for ChaChaPoly {
    fn name(&self) -> &'static str {
        "ChaChaPoly"
    }

    fn set(&mut self, key: &[u8; KEY_LEN]) {
        *self.key = *key;
    }

    /// `out` holds at least the plaintext and the tag (snow checks). ring refuses only
    /// a key of the wrong length or an input over 256 GiB, neither of which can happen
    /// here; were it to, nothing is written (0 bytes, which no peer can decrypt) and the
    /// plaintext copied into `out` is wiped.
    fn encrypt(&self, n: u64, authtext: &[u8], plaintext: &[u8], out: &mut [u8]) -> usize {
        let len = plaintext.len();
        let Some((body, rest)) = out.split_at_mut_checked(len) else {
            return 0;
        };
        body.copy_from_slice(plaintext);
        let tag = self.ring_key().and_then(|key| {
            key.seal_in_place_separate_tag(nonce(n), Aad::from(authtext), body)
                .ok()
        });
        match (tag, rest.get_mut(..TAG_LEN)) {
            (Some(tag), Some(slot)) => {
                slot.copy_from_slice(tag.as_ref());
                len + TAG_LEN
            }
            _ => {
                body.fill(0);
                0
            }
        }
    }

    fn decrypt(
        &self,
        n: u64,
        authtext: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, snow::Error> {
        let key = self.ring_key().ok_or(snow::Error::Decrypt)?;
        let open = |in_out: &mut [u8]| -> Result<usize, snow::Error> {
            key.open_in_place(nonce(n), Aad::from(authtext), in_out)
                .map(|plain| plain.len())
                .map_err(|_| snow::Error::Decrypt)
        };
        if let Some(in_out) = out.get_mut(..ciphertext.len()) {
            in_out.copy_from_slice(ciphertext);
            return open(in_out);
        }
        // `out` has room for the plaintext only: open a copy (as snow's ring cipher does).
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let len = open(&mut in_out)?;
        let slot = out.get_mut(..len).ok_or(snow::Error::Decrypt)?;
        slot.copy_from_slice(&in_out[..len]);
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secure::NOISE_PARAMS;

    /// A finished XX handshake: the initiator with this module's resolver or snow's stock one,
    /// the responder with the other.
    fn pair(compact_initiator: bool) -> (snow::TransportState, snow::TransportState) {
        let params = || NOISE_PARAMS.parse().expect("params");
        let keys = [[1u8; 32], [2u8; 32]];
        let build = |compact: bool, key| {
            let builder = if compact {
                snow::Builder::with_resolver(params(), resolver())
            } else {
                snow::Builder::new(params())
            };
            builder.local_private_key(key).expect("key")
        };
        let mut init = build(compact_initiator, &keys[0])
            .build_initiator()
            .expect("initiator");
        let mut resp = build(!compact_initiator, &keys[1])
            .build_responder()
            .expect("responder");
        let (mut msg, mut buf) = ([0u8; 1024], [0u8; 1024]);
        for sender_is_init in [true, false, true] {
            let (from, to) = if sender_is_init {
                (&mut init, &mut resp)
            } else {
                (&mut resp, &mut init)
            };
            let n = from.write_message(b"payload", &mut msg).expect("write");
            to.read_message(&msg[..n], &mut buf).expect("read");
        }
        (
            init.into_transport_mode().expect("transport"),
            resp.into_transport_mode().expect("transport"),
        )
    }

    #[test]
    fn talks_to_snows_own_chachapoly_both_ways() {
        for compact_initiator in [true, false] {
            let (mut a, mut b) = pair(compact_initiator);
            let (mut wire, mut plain) = (vec![0u8; 70_000], vec![0u8; 70_000]);
            for (i, len) in [0usize, 1, 100, 65_535 - TAG_LEN].into_iter().enumerate() {
                let text: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
                let (from, to) = if i % 2 == 0 {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                let n = from.write_message(&text, &mut wire).expect("seal");
                assert_eq!(n, len + TAG_LEN);
                let m = to.read_message(&wire[..n], &mut plain).expect("open");
                assert_eq!(&plain[..m], &text[..]);
            }
        }
    }

    #[test]
    fn a_flipped_bit_or_a_replay_does_not_open() {
        let (mut a, mut b) = pair(true);
        let (mut wire, mut plain) = ([0u8; 64], [0u8; 64]);
        let n = a.write_message(b"hello", &mut wire).expect("seal");
        let mut bad = wire;
        bad[2] ^= 1;
        assert!(b.read_message(&bad[..n], &mut plain).is_err());
        assert_eq!(b.read_message(&wire[..n], &mut plain).expect("open"), 5);
        // The receiving nonce has moved on: the same message again is refused.
        assert!(b.read_message(&wire[..n], &mut plain).is_err());
    }

    #[test]
    fn opens_into_a_buffer_with_room_for_the_plaintext_only() {
        let mut ours = ChaChaPoly::default();
        ours.set(&[7u8; KEY_LEN]);
        let mut sealed = [0u8; 5 + TAG_LEN];
        assert_eq!(ours.encrypt(3, b"ad", b"hello", &mut sealed), 5 + TAG_LEN);
        let mut plain = [0u8; 5];
        assert_eq!(
            ours.decrypt(3, b"ad", &sealed, &mut plain).expect("open"),
            5
        );
        assert_eq!(&plain, b"hello");
        assert!(ours.decrypt(4, b"ad", &sealed, &mut plain).is_err());
        // Too small an output: nothing sealed.
        assert_eq!(ours.encrypt(3, b"", b"hello", &mut [0u8; 8]), 0);
    }

    #[test]
    fn a_cipher_state_is_the_key_alone() {
        assert_eq!(std::mem::size_of::<ChaChaPoly>(), KEY_LEN);
    }
}
