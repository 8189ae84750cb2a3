//! Group governance on the wire: roles, and the signed actions of a group's owner and
//! admins (add, invite, kick, op, deop, transfer, topic, invite-only, disband).
//!
//! The tracker is the membership authority and enforces the rules, but it cannot invent
//! an action: each is signed by its actor's identity key over the group, the group's
//! version the actor saw, the actor and the action ([`signing_bytes`]). The tracker
//! checks the signature and the actor's role at that version, applies the action, and
//! pushes it, signature included, with the member-list change it causes; every peer checks
//! the signature again (and that the actor held the role) before it shows the change as
//! done by that member.

use serde::{Deserialize, Serialize};

use crate::identity::chat::{put_opt_str, put_str};
use crate::{GroupName, Identity, Name, PublicKey, Signature};

/// A member's role in a group.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// One per group: every action, and the only one who makes admins or transfers.
    Owner,
    /// Adds, invites, kicks members, sets the topic and invite-only.
    Admin,
    #[default]
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// An owner or an admin.
    pub fn governs(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

/// The most characters of a topic.
pub const MAX_TOPIC_CHARS: usize = 200;
/// The most characters of a kick's reason.
pub const MAX_REASON_CHARS: usize = 200;
/// The most peers `/create` adds at once.
pub const MAX_PARTICIPANTS: usize = 64;

/// What an owner or admin does to a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "act", rename_all = "snake_case")]
pub enum Act {
    /// Creates the group (it must not exist), owned by the actor, with these members.
    Create { participants: Vec<Name> },
    /// Makes `name` a member (it must be registered at the tracker).
    Add { name: Name },
    /// Lets `name` join an invite-only group with `/join`.
    Invite { name: Name },
    /// Removes `name`, which cannot come back until added or invited again.
    Kick {
        name: Name,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Makes member `name` an admin (owner only).
    Op { name: Name },
    /// Makes admin `name` a member again (owner only).
    Deop { name: Name },
    /// Makes member `name` the owner; the actor becomes an admin (owner only). The tracker
    /// pushes one `role` change (`name` → owner); receivers demote the old owner to admin
    /// themselves.
    Transfer { name: Name },
    /// Sets (or, with `None`, clears) the group's topic.
    Topic {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
    /// Makes the group invite-only (`on`) or open.
    Private { on: bool },
    /// Ends the group: every member leaves and the tracker forgets it (owner only).
    Disband,
}

impl Act {
    /// The action's tag, as on the wire (and in the signed bytes).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::Add { .. } => "add",
            Self::Invite { .. } => "invite",
            Self::Kick { .. } => "kick",
            Self::Op { .. } => "op",
            Self::Deop { .. } => "deop",
            Self::Transfer { .. } => "transfer",
            Self::Topic { .. } => "topic",
            Self::Private { .. } => "private",
            Self::Disband => "disband",
        }
    }

    /// The member the action is about, if one.
    pub fn target(&self) -> Option<&Name> {
        match self {
            Self::Add { name }
            | Self::Invite { name }
            | Self::Kick { name, .. }
            | Self::Op { name }
            | Self::Deop { name }
            | Self::Transfer { name } => Some(name),
            Self::Create { .. } | Self::Topic { .. } | Self::Private { .. } | Self::Disband => None,
        }
    }

    /// Why the action's own data is refused (a topic or reason too long or not one line,
    /// too many participants), if it is. Both ends check.
    pub fn refusal(&self) -> Option<String> {
        let line = |what: &str, text: &str, max: usize| {
            if text.chars().count() > max {
                Some(format!("a {what} has at most {max} characters"))
            } else if text.chars().any(char::is_control) {
                Some(format!("a {what} is one line of text"))
            } else {
                None
            }
        };
        match self {
            Self::Topic { topic: Some(topic) } => line("topic", topic, MAX_TOPIC_CHARS),
            Self::Kick {
                reason: Some(reason),
                ..
            } => line("reason", reason, MAX_REASON_CHARS),
            Self::Create { participants } if participants.len() > MAX_PARTICIPANTS => Some(
                format!("a group is created with at most {MAX_PARTICIPANTS} participants"),
            ),
            _ => None,
        }
    }
}

/// An action with who made it and on which version of the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupAction {
    pub group: GroupName,
    /// The group's version the actor saw (0 for a group that does not exist yet): the
    /// action is good for that version only, so it cannot be replayed later.
    pub version: u64,
    pub by: Name,
    /// The actor's identity key: what the signature is checked against, and what must
    /// be bound to `by`.
    pub key: PublicKey,
    #[serde(flatten)]
    pub act: Act,
}

/// A [`GroupAction`] with its actor's signature over [`signing_bytes`] of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAction {
    pub action: GroupAction,
    pub sig: Signature,
}

/// Domain tag of [`signing_bytes`].
pub const ACTION_DOMAIN: &[u8] = b"natter/group-action/v1\0";

/// The bytes an actor signs: [`ACTION_DOMAIN`], the group, the version, `by`, the key,
/// the act's kind, then its fields in order (names and texts length-prefixed, an optional
/// text as a 0/1 byte then the text, a flag as one byte, a list as its count then each).
pub fn signing_bytes(action: &GroupAction) -> Vec<u8> {
    let mut out = Vec::with_capacity(ACTION_DOMAIN.len() + 128);
    out.extend_from_slice(ACTION_DOMAIN);
    put_str(&mut out, action.group.as_str());
    out.extend_from_slice(&action.version.to_be_bytes());
    put_str(&mut out, action.by.as_str());
    out.extend_from_slice(action.key.as_bytes());
    put_str(&mut out, action.act.kind());
    match &action.act {
        Act::Create { participants } => {
            let count = u32::try_from(participants.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for name in participants {
                put_str(&mut out, name.as_str());
            }
        }
        Act::Add { name }
        | Act::Invite { name }
        | Act::Op { name }
        | Act::Deop { name }
        | Act::Transfer { name } => put_str(&mut out, name.as_str()),
        Act::Kick { name, reason } => {
            put_str(&mut out, name.as_str());
            put_opt_str(&mut out, reason.as_deref());
        }
        Act::Topic { topic } => put_opt_str(&mut out, topic.as_deref()),
        Act::Private { on } => out.push(u8::from(*on)),
        Act::Disband => {}
    }
    out
}

/// `actor`'s signed `action`.
pub fn sign(actor: &Identity, action: GroupAction) -> SignedAction {
    let sig = actor.sign(&signing_bytes(&action));
    SignedAction { action, sig }
}

impl SignedAction {
    /// True when the signature is the action key's over exactly this action.
    pub fn verifies(&self) -> bool {
        self.action
            .key
            .verify(&signing_bytes(&self.action), &self.sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(act: Act) -> GroupAction {
        let actor = Identity::from_secrets(&[1; 32], &[2; 32]);
        GroupAction {
            group: "rust".parse().expect("group"),
            version: 7,
            by: "alice".parse().expect("name"),
            key: actor.public_key(),
            act,
        }
    }

    fn bob() -> Name {
        "bob".parse().expect("name")
    }

    #[test]
    fn signed_actions_verify_and_any_change_breaks_them() {
        let actor = Identity::from_secrets(&[1; 32], &[2; 32]);
        let signed = sign(&actor, action(Act::Op { name: bob() }));
        assert!(signed.verifies());
        let mut replayed = signed.clone();
        replayed.action.version = 8;
        assert!(!replayed.verifies(), "another version");
        let mut other = signed.clone();
        other.action.act = Act::Deop { name: bob() };
        assert!(!other.verifies(), "another act");
        let mut elsewhere = signed;
        elsewhere.action.group = "go".parse().expect("group");
        assert!(!elsewhere.verifies(), "another group");
    }

    #[test]
    fn every_act_signs_differently() {
        let acts = [
            Act::Create {
                participants: vec![bob()],
            },
            Act::Create {
                participants: vec![],
            },
            Act::Add { name: bob() },
            Act::Invite { name: bob() },
            Act::Kick {
                name: bob(),
                reason: None,
            },
            Act::Kick {
                name: bob(),
                reason: Some("spam".into()),
            },
            Act::Op { name: bob() },
            Act::Deop { name: bob() },
            Act::Transfer { name: bob() },
            Act::Topic { topic: None },
            Act::Topic {
                topic: Some("rust".into()),
            },
            Act::Private { on: true },
            Act::Private { on: false },
            Act::Disband,
        ];
        let mut seen = std::collections::HashSet::new();
        for act in acts {
            assert!(seen.insert(signing_bytes(&action(act.clone()))), "{act:?}");
        }
    }

    #[test]
    fn wire_shape() {
        let json = serde_json::to_value(action(Act::Kick {
            name: bob(),
            reason: Some("spam".into()),
        }))
        .expect("json");
        assert_eq!(json["act"], "kick");
        assert_eq!(json["name"], "bob");
        assert_eq!(json["reason"], "spam");
        assert_eq!(json["version"], 7);
        let back: GroupAction = serde_json::from_value(json).expect("parse");
        assert_eq!(back.act.target(), Some(&bob()));
    }

    #[test]
    fn topics_and_reasons_are_one_short_line() {
        let long = Act::Topic {
            topic: Some("x".repeat(MAX_TOPIC_CHARS + 1)),
        };
        assert!(long.refusal().is_some());
        let two_lines = Act::Kick {
            name: bob(),
            reason: Some("a\nb".into()),
        };
        assert!(two_lines.refusal().is_some());
        let fine = Act::Topic {
            topic: Some("é".repeat(MAX_TOPIC_CHARS)),
        };
        assert_eq!(fine.refusal(), None);
    }
}
