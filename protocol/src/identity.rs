//! Long-term identities: an Ed25519 key a peer (or the tracker) is known by, its text form,
//! signatures, and the X25519 static key it runs Noise handshakes with.
//!
//! A peer's identity *is* its Ed25519 public key ([`PublicKey`]); names are labels bound to
//! it. The Noise static key is a separate X25519 key (Noise does Diffie-Hellman, Ed25519
//! signs); [`Identity::binding_signature`] ties the two together, so a handshake that proves
//! possession of the Noise key also proves which identity it speaks for.
//!
//! Every signed message starts with its own domain tag (see [`binding_message`] and
//! [`chat::signing_bytes`]), so a signature made for one purpose never verifies for another.
//! Crates: `ed25519-dalek` (signatures), `curve25519-dalek` (the X25519 public half, the
//! same derivation `snow` uses), `getrandom` (fresh secrets), `base64` (key text), `zeroize`.

pub mod chat;
mod store;

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

pub use chat::{CHAT_DOMAIN, sign_chat, signing_bytes, verify_chat};
pub use store::IdentityError;

/// Length of a Noise (X25519) public or secret key.
pub const NOISE_KEY_LEN: usize = 32;

/// Domain tag of [`binding_message`].
pub const BINDING_DOMAIN: &[u8] = b"natter/noise-static-binding/v1\0";

/// The message an identity signs to vouch for a Noise static public key.
pub fn binding_message(noise_static: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(BINDING_DOMAIN.len() + noise_static.len());
    msg.extend_from_slice(BINDING_DOMAIN);
    msg.extend_from_slice(noise_static);
    msg
}

/// The public half of an identity: what names are bound to and what peers pin.
///
/// Written as 43 characters of unpadded URL-safe base64, in JSON as a string. Holds the
/// 32 compressed bytes.
///
/// Made from text a person gave ([`FromStr`]: the command line, an invite) or from raw
/// bytes ([`PublicKey::from_bytes`]: a handshake, the store), the bytes are checked to be a
/// valid Ed25519 point. Decoded from the wire or a data file (serde), only their base64 and
/// length are: checking the point is a curve decompression, and a storm of N joins decodes
/// about N² member records (a million decompressions for N = 1,000, most of the storm's
/// CPU), nearly all of whose keys are never used to verify anything. The point is checked
/// where a key is used instead: [`PublicKey::verify`] (so a signature never verifies under
/// an invalid point) and the Noise handshake (whose identity payload goes through
/// `from_bytes`, so no connection ever authenticates as one); [`PublicKey::is_valid`]
/// for whoever else needs to know, such as `/trust`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(into = "String")]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Length of the raw key.
    pub const LEN: usize = 32;

    /// The key from its 32 raw bytes, if they are a valid Ed25519 point.
    pub fn from_bytes(bytes: &[u8; Self::LEN]) -> Result<Self, InvalidKeyText> {
        VerifyingKey::from_bytes(bytes)
            .map(|_| Self(*bytes))
            .map_err(|_| InvalidKeyText)
    }

    /// The key with these 32 raw bytes, whether or not they are a valid Ed25519 point (see
    /// the type's comment for where the point is checked).
    pub fn from_raw(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    /// True when the bytes are a valid Ed25519 point: a key that can verify a signature.
    pub fn is_valid(&self) -> bool {
        VerifyingKey::from_bytes(&self.0).is_ok()
    }

    /// True when `sig` is this key's signature over exactly `msg` (strict verification:
    /// no malleable signatures, no weak keys).
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        VerifyingKey::from_bytes(&self.0).is_ok_and(|key| key.verify_strict(msg, &sig.0).is_ok())
    }

    /// True when `sig` shows this identity vouches for the Noise static key `noise_static`.
    pub fn verify_binding(&self, noise_static: &[u8], sig: &Signature) -> bool {
        self.verify(&binding_message(noise_static), sig)
    }

    /// A short form for people to compare aloud: the first 8 bytes in hex, in four groups
    /// (`3f2a:91c0:7b4e:d210`). Not a substitute for the whole key in any check.
    pub fn fingerprint(&self) -> String {
        let hex: Vec<String> = self.0[..8]
            .chunks(2)
            .map(|pair| pair.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        hex.join(":")
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// Why a string is not a key or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid key or signature (expected unpadded URL-safe base64 of the right length)")]
pub struct InvalidKeyText;

fn decode_fixed<const N: usize>(s: &str) -> Result<[u8; N], InvalidKeyText> {
    // Refuse long input before decoding it: base64 of N bytes is under 2N characters.
    if s.len() > 2 * N {
        return Err(InvalidKeyText);
    }
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| InvalidKeyText)?;
    bytes.try_into().map_err(|_| InvalidKeyText)
}

impl FromStr for PublicKey {
    type Err = InvalidKeyText;
    fn from_str(s: &str) -> Result<Self, InvalidKeyText> {
        Self::from_bytes(&decode_fixed::<{ Self::LEN }>(s)?)
    }
}

/// From the wire or a data file: base64 of 32 bytes, the point not checked (see
/// [`PublicKey`]). Borrows the string where the format allows, so a key costs no allocation.
impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PublicKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key: 43 characters of unpadded URL-safe base64")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<PublicKey, E> {
                decode_fixed::<{ PublicKey::LEN }>(s)
                    .map(PublicKey)
                    .map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl From<PublicKey> for String {
    fn from(key: PublicKey) -> String {
        key.to_string()
    }
}

/// An Ed25519 signature, written as 86 characters of unpadded URL-safe base64.
#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Signature(ed25519_dalek::Signature);

impl Signature {
    pub const LEN: usize = 64;

    pub fn from_bytes(bytes: &[u8; Self::LEN]) -> Self {
        Self(ed25519_dalek::Signature::from_bytes(bytes))
    }

    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        self.0.to_bytes()
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.to_bytes()))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl FromStr for Signature {
    type Err = InvalidKeyText;
    fn from_str(s: &str) -> Result<Self, InvalidKeyText> {
        Ok(Self::from_bytes(&decode_fixed::<{ Self::LEN }>(s)?))
    }
}

impl TryFrom<String> for Signature {
    type Error = InvalidKeyText;
    fn try_from(s: String) -> Result<Self, InvalidKeyText> {
        s.parse()
    }
}

impl From<Signature> for String {
    fn from(sig: Signature) -> String {
        sig.to_string()
    }
}

/// A long-term identity: the Ed25519 signing key and the X25519 Noise static key.
///
/// Secrets are wiped from memory on drop and never printed by `Debug`.
pub struct Identity {
    signing: SigningKey,
    noise_secret: Zeroizing<[u8; NOISE_KEY_LEN]>,
    noise_public: [u8; NOISE_KEY_LEN],
}

impl Identity {
    /// A fresh identity from the operating system's randomness.
    pub fn generate() -> Result<Self, IdentityError> {
        let mut signing = Zeroizing::new([0u8; 32]);
        let mut noise = Zeroizing::new([0u8; NOISE_KEY_LEN]);
        getrandom::fill(&mut signing[..]).map_err(IdentityError::Random)?;
        getrandom::fill(&mut noise[..]).map_err(IdentityError::Random)?;
        Ok(Self::from_secrets(&signing, &noise))
    }

    /// The identity with these two secret keys (every 32 bytes are valid for both).
    pub fn from_secrets(signing: &[u8; 32], noise: &[u8; NOISE_KEY_LEN]) -> Self {
        let noise_public = curve25519_dalek::MontgomeryPoint::mul_base_clamped(*noise).to_bytes();
        Self {
            signing: SigningKey::from_bytes(signing),
            noise_secret: Zeroizing::new(*noise),
            noise_public,
        }
    }

    /// Loads the identity at `path`, or creates one there if there is no file. The flag
    /// is true when the identity was just created. See [`IdentityError`] for refusals.
    pub fn load_or_create(path: &std::path::Path) -> Result<(Self, bool), IdentityError> {
        store::load_or_create(path)
    }

    /// Loads the identity at `path`; a missing file is an error.
    pub fn load(path: &std::path::Path) -> Result<Self, IdentityError> {
        store::load(path)
    }

    /// Writes the identity to `path` atomically, readable by its owner only.
    pub fn save(&self, path: &std::path::Path) -> Result<(), IdentityError> {
        store::save(self, path)
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `msg` as is. Callers start `msg` with a domain tag of their own, as
    /// [`binding_message`] and [`chat::signing_bytes`] do.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.signing.sign(msg))
    }

    /// This identity's signature over [`binding_message`] of its Noise static public key.
    pub fn binding_signature(&self) -> Signature {
        self.sign(&binding_message(&self.noise_public))
    }

    /// The X25519 public key this identity's Noise handshakes present.
    pub fn noise_public(&self) -> &[u8; NOISE_KEY_LEN] {
        &self.noise_public
    }

    pub(crate) fn noise_secret(&self) -> &[u8; NOISE_KEY_LEN] {
        &self.noise_secret
    }

    pub(crate) fn signing_secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(n: u8) -> Identity {
        Identity::from_secrets(&[n; 32], &[n.wrapping_add(100); 32])
    }

    #[test]
    fn sign_and_verify() {
        let id = Identity::generate().expect("random");
        let sig = id.sign(b"hello");
        assert!(id.public_key().verify(b"hello", &sig));
        assert!(!id.public_key().verify(b"hellO", &sig));
        assert!(!fixed(1).public_key().verify(b"hello", &sig));
        let mut bytes = sig.to_bytes();
        bytes[10] ^= 1;
        assert!(
            !id.public_key()
                .verify(b"hello", &Signature::from_bytes(&bytes))
        );
    }

    #[test]
    fn binding_verifies_only_for_its_noise_key() {
        let id = fixed(7);
        let sig = id.binding_signature();
        let key = id.public_key();
        assert!(key.verify_binding(id.noise_public(), &sig));
        assert!(!key.verify_binding(fixed(8).noise_public(), &sig));
        // A signature over the bare key (no domain tag) is not a binding.
        let bare = id.sign(id.noise_public());
        assert!(!key.verify_binding(id.noise_public(), &bare));
    }

    #[test]
    fn public_key_text_round_trips() {
        let key = fixed(3).public_key();
        let text = key.to_string();
        assert_eq!(text.len(), 43);
        assert_eq!(text.parse::<PublicKey>(), Ok(key));
        let json = serde_json::to_string(&key).expect("json");
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(
            serde_json::from_str::<PublicKey>(&json).expect("parse"),
            key
        );
        for bad in ["", "abc", "!!!", &"A".repeat(10_000), &format!("{text}A")] {
            assert!(bad.parse::<PublicKey>().is_err(), "{bad:.20}");
        }
        assert!(serde_json::from_str::<PublicKey>("\"nope\"").is_err());
    }

    /// 32 bytes that are not an Ed25519 point (about half of all y coordinates are not).
    fn invalid_point() -> [u8; 32] {
        (0..=u8::MAX)
            .map(|n| {
                let mut bytes = [0u8; 32];
                bytes[0] = n;
                bytes[1] = 0x5a;
                bytes
            })
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .expect("some y coordinate has no point")
    }

    #[test]
    fn an_invalid_point_decodes_from_the_wire_but_verifies_nothing() {
        let bytes = invalid_point();
        let text = URL_SAFE_NO_PAD.encode(bytes);
        // Typed or raw, it is refused.
        assert_eq!(PublicKey::from_bytes(&bytes), Err(InvalidKeyText));
        assert_eq!(text.parse::<PublicKey>(), Err(InvalidKeyText));
        // From the wire, only the base64 and the length are checked.
        let key: PublicKey = serde_json::from_str(&format!("\"{text}\"")).expect("decodes");
        assert_eq!(key, PublicKey::from_raw(bytes));
        assert!(!key.is_valid());
        assert_eq!(
            serde_json::to_string(&key).expect("json"),
            format!("\"{text}\"")
        );
        // No signature verifies under it, whatever the signature.
        let id = fixed(1);
        let sig = id.sign(b"hello");
        assert!(!key.verify(b"hello", &sig));
        assert!(!key.verify(b"hello", &Signature::from_bytes(&[0; 64])));
        assert!(!key.verify_binding(id.noise_public(), &id.binding_signature()));
        // Wrong lengths and bad text are still refused at decode.
        for bad in ["\"\"", "\"abc\"", "\"!!!\"", &format!("\"{text}A\""), "12"] {
            assert!(serde_json::from_str::<PublicKey>(bad).is_err(), "{bad}");
        }
        assert!(fixed(1).public_key().is_valid());
    }

    #[test]
    fn signature_text_round_trips() {
        let sig = fixed(4).sign(b"x");
        let text = sig.to_string();
        assert_eq!(text.len(), 86);
        assert_eq!(text.parse::<Signature>(), Ok(sig));
        let json = serde_json::to_string(&sig).expect("json");
        assert_eq!(
            serde_json::from_str::<Signature>(&json).expect("parse"),
            sig
        );
        assert!("short".parse::<Signature>().is_err());
    }

    #[test]
    fn fingerprint_is_short_and_stable() {
        let key = fixed(5).public_key();
        let fp = key.fingerprint();
        assert_eq!(fp.len(), 19);
        assert_eq!(fp, key.fingerprint());
        assert_ne!(fp, fixed(6).public_key().fingerprint());
    }

    #[test]
    fn noise_public_matches_snow() {
        let id = fixed(9);
        let params = crate::secure::NOISE_PARAMS.parse().expect("params");
        let builder = snow::Builder::new(params);
        // snow derives the public key from the private one the same way.
        let mut hs = builder
            .local_private_key(id.noise_secret())
            .expect("key")
            .build_initiator()
            .expect("build");
        let mut msg = [0u8; 128];
        let _ = hs.write_message(&[], &mut msg).expect("write");
        let mut responder =
            snow::Builder::new(crate::secure::NOISE_PARAMS.parse().expect("params"))
                .local_private_key(&[1; 32])
                .expect("key")
                .build_responder()
                .expect("build");
        let mut out = [0u8; 256];
        let mut payload = [0u8; 256];
        responder
            .read_message(&msg[..32], &mut payload)
            .expect("read");
        let n = responder.write_message(&[], &mut out).expect("write");
        hs.read_message(&out[..n], &mut payload).expect("read");
        let n = hs.write_message(&[], &mut out).expect("write");
        responder
            .read_message(&out[..n], &mut payload)
            .expect("read");
        assert_eq!(responder.get_remote_static(), Some(&id.noise_public()[..]));
    }

    #[test]
    fn debug_hides_secrets() {
        let id = fixed(2);
        let text = format!("{id:?}");
        assert!(text.contains(&id.public_key().to_string()));
        assert!(!text.contains("noise_secret"));
    }
}
