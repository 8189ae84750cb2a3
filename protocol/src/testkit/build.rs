//! Builders of test data: identities, names, signed chat messages, members and hellos.
//! Each panics with the offending input when it is not valid (a bug in the test).

use std::net::SocketAddr;

use crate::identity::sign_chat;
use crate::peer::{Body, ChatMessage, MessageId, PeerFrame, SignedChat};
use crate::tracker::{Member, PeerToTracker};
use crate::{GroupName, Identity, Name, PROTOCOL_VERSION, PublicKey};

use super::NOWHERE;

/// A fresh random identity.
pub fn identity() -> Identity {
    Identity::generate().expect("a fresh identity")
}

/// A key whose 32 bytes are not a valid Ed25519 point: what a hostile tracker could put in
/// a member record (decoding keeps it; nothing may verify under it or trust it).
pub fn invalid_point_key() -> PublicKey {
    (0..=u8::MAX)
        .map(|n| {
            let mut bytes = [0u8; PublicKey::LEN];
            bytes[0] = n;
            bytes[1] = 0x5a;
            PublicKey::from_raw(bytes)
        })
        .find(|key| !key.is_valid())
        .expect("some y coordinate has no point")
}

/// The same identity every time for `name` (its bytes seed both secrets), so a name
/// reconnects with the same key and a test can know a key before the peer exists.
pub fn identity_for(name: &str) -> Identity {
    let mut seed = [3u8; 32];
    for (slot, byte) in seed.iter_mut().zip(name.bytes()) {
        *slot = byte;
    }
    Identity::from_secrets(&seed, &seed)
}

/// `s` as a [`Name`].
pub fn name(s: &str) -> Name {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a name: {e}"))
}

/// `s` as a [`GroupName`].
pub fn group(s: &str) -> GroupName {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a group name: {e}"))
}

/// A text message with id `from/seq`, from `from` (with the key of [`identity_for`]
/// `from`), to `group` (or private, to nobody in particular), sent now.
pub fn chat_message(from: &str, seq: u64, group: Option<&str>, text: &str) -> ChatMessage {
    ChatMessage {
        id: MessageId {
            sender: name(from),
            seq,
        },
        from: name(from),
        key: identity_for(from).public_key(),
        group: group.map(self::group),
        to: None,
        body: Body::text_only(text),
        sent_at: crate::unix_millis(),
    }
}

/// `message` with `author`'s signature (which need not be the key `from` is bound to:
/// that is how a test forges one).
pub fn signed_chat(author: &Identity, message: ChatMessage) -> SignedChat {
    SignedChat {
        sig: sign_chat(author, &message),
        message,
    }
}

/// `message` signed by `author`, as a [`PeerFrame::Chat`].
pub fn chat_frame(author: &Identity, message: ChatMessage) -> PeerFrame {
    PeerFrame::Chat(signed_chat(author, message))
}

/// [`chat_message`] claiming and signed by `signer`'s key, in one call.
pub fn chat(
    signer: &Identity,
    from: &str,
    seq: u64,
    group: Option<&str>,
    text: &str,
) -> SignedChat {
    let mut message = chat_message(from, seq, group, text);
    message.key = signer.public_key();
    signed_chat(signer, message)
}

/// A private message from `signer` (as `from`) for the peer whose key is `to`.
pub fn private_chat(
    signer: &Identity,
    from: &str,
    seq: u64,
    to: PublicKey,
    text: &str,
) -> SignedChat {
    let mut message = chat_message(from, seq, None, text);
    message.key = signer.public_key();
    message.to = Some(to);
    signed_chat(signer, message)
}

/// A member with `key`, listed at [`NOWHERE`] (`127.0.0.1:9`).
pub fn member(name: &str, key: PublicKey, online: bool) -> Member {
    member_at(name, key, NOWHERE, online)
}

/// A member with `key`, listed at `addr`.
pub fn member_at(name: &str, key: PublicKey, addr: SocketAddr, online: bool) -> Member {
    Member {
        name: self::name(name),
        addr,
        online,
        key,
        last_seen: None,
        status: None,
        role: Default::default(),
    }
}

/// The peer-to-peer hello of the current protocol version.
pub fn peer_hello(name: &str) -> PeerFrame {
    PeerFrame::Hello {
        version: PROTOCOL_VERSION,
        name: self::name(name),
        listen_port: None,
    }
}

/// The tracker hello of the current protocol version, listening on `listen_port`, (re-)
/// joining `groups`.
pub fn tracker_hello<G: AsRef<str>>(name: &str, listen_port: u16, groups: &[G]) -> PeerToTracker {
    PeerToTracker::Hello {
        version: PROTOCOL_VERSION,
        name: self::name(name),
        listen_port,
        groups: groups.iter().map(|g| group(g.as_ref())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_chat_verifies_and_names_are_stable() {
        let alice = identity_for("alice");
        assert_eq!(alice.public_key(), identity_for("alice").public_key());
        assert_ne!(alice.public_key(), identity_for("bob").public_key());
        let signed = chat(&alice, "alice", 3, Some("g"), "hi");
        assert_eq!(signed.message.id.to_string(), "alice/3");
        assert!(crate::identity::verify_chat(
            &alice.public_key(),
            &signed.message,
            &signed.sig
        ));
    }
}
