//! Signatures over chat messages, so a message relayed by anyone can be checked against
//! its author's key.
//!
//! The signed bytes are built field by field, each length-prefixed, after a domain tag:
//! they do not depend on JSON field order, whitespace or escaping, and no two different
//! messages share an encoding.

use crate::peer::{Body, ChatMessage};

use super::{Identity, PublicKey, Signature};

/// Domain tag of [`signing_bytes`].
pub const CHAT_DOMAIN: &[u8] = b"natter/chat-message/v4\0";

/// The canonical bytes an author signs for `msg`:
/// `CHAT_DOMAIN`, then id.sender, id.seq, from, key, group, to, sent_at, then the body: its
/// kind, then its fields in order. Strings are a u32 big-endian length then UTF-8, numbers
/// are u64 big-endian, keys are their 32 bytes, flags one byte, and an optional (group,
/// to) is one byte (0 absent, 1 present) followed, when present, by the value. The body's
/// fields:
/// - `text`: the text, then, only for a reply, the byte 1 and the id it answers (a text
///   without a reply is signed exactly as in protocol 4, so stored messages still verify;
///   the length prefix of the text keeps the two apart);
/// - `edit`: the target id, the new text; `delete`: the target id;
/// - `react`: the target id, the emoji, `on` as 0 or 1;
/// - `read`: the optional group, `up_to`.
///
/// An id is written as its string `sender/seq`.
pub fn signing_bytes(msg: &ChatMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHAT_DOMAIN.len() + 64 + msg.body.text().len());
    out.extend_from_slice(CHAT_DOMAIN);
    put_str(&mut out, msg.id.sender.as_str());
    out.extend_from_slice(&msg.id.seq.to_be_bytes());
    put_str(&mut out, msg.from.as_str());
    out.extend_from_slice(msg.key.as_bytes());
    put_opt_str(&mut out, msg.group.as_ref().map(|g| g.as_str()));
    match &msg.to {
        None => out.push(0),
        Some(to) => {
            out.push(1);
            out.extend_from_slice(to.as_bytes());
        }
    }
    out.extend_from_slice(&msg.sent_at.to_be_bytes());
    put_str(&mut out, msg.body.kind());
    match &msg.body {
        Body::Text { text, reply_to } => {
            put_str(&mut out, text);
            if let Some(id) = reply_to {
                out.push(1);
                put_str(&mut out, &id.to_string());
            }
        }
        Body::Edit { target, text } => {
            put_str(&mut out, &target.to_string());
            put_str(&mut out, text);
        }
        Body::Delete { target } => put_str(&mut out, &target.to_string()),
        Body::React { target, emoji, on } => {
            put_str(&mut out, &target.to_string());
            put_str(&mut out, emoji);
            out.push(u8::from(*on));
        }
        Body::Read { group, up_to } => {
            put_opt_str(&mut out, group.as_ref().map(|g| g.as_str()));
            out.extend_from_slice(&up_to.to_be_bytes());
        }
    }
    out
}

/// A string in signed bytes: its length (u32 big-endian), then its UTF-8.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    // Frames are far below 4 GiB (the codec's limit), so the length always fits; saturate
    // rather than wrap if a caller ever builds a larger message by hand.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// An optional string in signed bytes: 0, or 1 then the string.
pub(crate) fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

/// The author's signature over `msg`.
pub fn sign_chat(author: &Identity, msg: &ChatMessage) -> Signature {
    author.sign(&signing_bytes(msg))
}

/// True when `sig` is `author`'s signature over exactly this message.
pub fn verify_chat(author: &PublicKey, msg: &ChatMessage, sig: &Signature) -> bool {
    author.verify(&signing_bytes(msg), sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Body {
        Body::text_only(t)
    }

    fn id(s: &str) -> crate::peer::MessageId {
        s.parse().expect("id")
    }

    fn key(n: u8) -> PublicKey {
        Identity::from_secrets(&[n; 32], &[n; 32]).public_key()
    }

    fn message() -> ChatMessage {
        ChatMessage {
            id: "alice/7".parse().expect("id"),
            from: "alice".parse().expect("name"),
            key: key(1),
            group: Some("rust".parse().expect("group")),
            to: None,
            body: text("hello"),
            sent_at: 1_700_000_000_000,
        }
    }

    #[test]
    fn exact_layout() {
        let mut msg = message();
        msg.group = None;
        msg.body = text("hi");
        msg.sent_at = 5;
        let mut want = CHAT_DOMAIN.to_vec();
        want.extend_from_slice(&[0, 0, 0, 5]);
        want.extend_from_slice(b"alice");
        want.extend_from_slice(&7u64.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 5]);
        want.extend_from_slice(b"alice");
        want.extend_from_slice(key(1).as_bytes());
        want.push(0);
        want.push(0);
        want.extend_from_slice(&5u64.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 4]);
        want.extend_from_slice(b"text");
        want.extend_from_slice(&[0, 0, 0, 2]);
        want.extend_from_slice(b"hi");
        assert_eq!(signing_bytes(&msg), want);
    }

    #[test]
    fn every_field_changes_the_bytes() {
        let base = signing_bytes(&message());
        type Change = Box<dyn Fn(&mut ChatMessage)>;
        let variants: Vec<Change> = vec![
            Box::new(|m| m.id.sender = "bob".parse().expect("name")),
            Box::new(|m| m.id.seq += 1),
            Box::new(|m| m.from = "bob".parse().expect("name")),
            Box::new(|m| m.group = None),
            Box::new(|m| m.group = Some("rusty".parse().expect("group"))),
            Box::new(|m| m.key = key(2)),
            Box::new(|m| m.to = Some(key(3))),
            Box::new(|m| m.body = text("hello!")),
            Box::new(|m| {
                m.body = Body::Text {
                    text: "hello".into(),
                    reply_to: Some(id("bob/1")),
                }
            }),
            Box::new(|m| {
                m.body = Body::Edit {
                    target: id("alice/1"),
                    text: "hello".into(),
                }
            }),
            Box::new(|m| {
                m.body = Body::Delete {
                    target: id("alice/1"),
                }
            }),
            Box::new(|m| m.sent_at += 1),
        ];
        for (i, change) in variants.iter().enumerate() {
            let mut m = message();
            change(&mut m);
            assert_ne!(signing_bytes(&m), base, "variant {i}");
        }
    }

    #[test]
    fn length_prefixes_prevent_shifting_text_between_fields() {
        let mut a = message();
        a.group = Some("ab".parse().expect("group"));
        a.body = text("c");
        let mut b = message();
        b.group = Some("a".parse().expect("group"));
        b.body = text("bc");
        assert_ne!(signing_bytes(&a), signing_bytes(&b));
    }

    #[test]
    fn every_field_of_each_action_changes_the_bytes() {
        let bodies = [
            Body::Text {
                text: "hi".into(),
                reply_to: Some(id("bob/1")),
            },
            Body::Text {
                text: "hi".into(),
                reply_to: Some(id("bob/2")),
            },
            Body::Edit {
                target: id("alice/1"),
                text: "hi".into(),
            },
            Body::Edit {
                target: id("alice/2"),
                text: "hi".into(),
            },
            Body::Edit {
                target: id("alice/1"),
                text: "ho".into(),
            },
            Body::Delete {
                target: id("alice/1"),
            },
            Body::Delete {
                target: id("alice/2"),
            },
            Body::React {
                target: id("bob/1"),
                emoji: "👍".into(),
                on: true,
            },
            Body::React {
                target: id("bob/1"),
                emoji: "👍".into(),
                on: false,
            },
            Body::React {
                target: id("bob/1"),
                emoji: "🎉".into(),
                on: true,
            },
            Body::Read {
                group: None,
                up_to: 3,
            },
            Body::Read {
                group: None,
                up_to: 4,
            },
            Body::Read {
                group: Some("rust".parse().expect("group")),
                up_to: 3,
            },
        ];
        let mut seen = std::collections::HashSet::new();
        for body in bodies {
            let mut m = message();
            m.body = body.clone();
            assert!(
                seen.insert(signing_bytes(&m)),
                "{body:?} signs like another"
            );
        }
    }

    #[test]
    fn independent_of_json_field_order() {
        let json = format!(
            r#"{{"body":{{"text":"hello","kind":"text"}},"sent_at":1700000000000,"group":"rust","key":"{}","from":"alice","id":"alice/7"}}"#,
            key(1)
        );
        let parsed: ChatMessage = serde_json::from_str(&json).expect("json");
        assert_eq!(signing_bytes(&parsed), signing_bytes(&message()));
    }

    #[test]
    fn sign_and_verify_and_tamper() {
        let author = Identity::from_secrets(&[1; 32], &[2; 32]);
        let msg = message();
        let sig = sign_chat(&author, &msg);
        assert!(verify_chat(&author.public_key(), &msg, &sig));
        let mut tampered = msg.clone();
        tampered.body = text("hellO");
        assert!(!verify_chat(&author.public_key(), &tampered, &sig));
        let other = Identity::from_secrets(&[3; 32], &[2; 32]);
        assert!(!verify_chat(&other.public_key(), &msg, &sig));
        // A signature over the message's JSON is not a chat signature.
        let json = serde_json::to_vec(&msg).expect("json");
        assert!(!verify_chat(
            &author.public_key(),
            &msg,
            &author.sign(&json)
        ));
    }
}
