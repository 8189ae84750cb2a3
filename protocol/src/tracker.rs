//! Frames of the peer ↔ tracker link: membership only, never a chat message.
//!
//! A peer opens the link with [`PeerToTracker::Hello`], which registers its name and listen
//! port and re-announces the groups it believes it is in (so a tracker that lost its state
//! rebuilds it from the peers). The tracker answers with [`TrackerToPeer::Welcome`] or an
//! error, then pushes a full [`TrackerToPeer::Members`] list for each group the peer joins
//! and only [`TrackerToPeer::MemberUpdate`] deltas after that. Every push carries the
//! group's version; a peer that sees a gap asks for a [`PeerToTracker::Snapshot`].
//!
//! Requests that get an answer (join, leave, look-up, snapshot) may carry a `req` id; the
//! answer or the error that refuses the request echoes it.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::govern::{Role, SignedAction};
use crate::{ErrorCode, GroupName, Name, PublicKey, RequestId};

/// One member of a group as the tracker last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: Name,
    /// Where the member listens: the IP its tracker connection came from and the port it
    /// announced. For an offline member, the last address it was seen at.
    pub addr: SocketAddr,
    pub online: bool,
    /// The identity key the name is bound to at the tracker: the key that completed the
    /// Noise handshake when the member registered.
    pub key: PublicKey,
    /// For an offline member: when the tracker last saw it online (the tracker's clock,
    /// Unix milliseconds). Absent while it is online, or when nobody knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<u64>,
    /// The member's status line (`/status`), at most [`MAX_STATUS_CHARS`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Its role in the group of the list (`member` in a look-up).
    #[serde(default)]
    pub role: Role,
}

/// The most characters of a status line.
pub const MAX_STATUS_CHARS: usize = 100;

/// Why `status` cannot be a status line (too long, or a control character such as a line
/// break), if it cannot. Both ends check: the peer before sending, the tracker before
/// storing and pushing it to every group the member is in.
pub fn status_refusal(status: &str) -> Option<String> {
    if status.chars().count() > MAX_STATUS_CHARS {
        return Some(format!(
            "a status line has at most {MAX_STATUS_CHARS} characters"
        ));
    }
    if status.chars().any(char::is_control) {
        return Some("a status line is one line of text, without control characters".into());
    }
    None
}

/// Peer → tracker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerToTracker {
    /// Always the first frame. Registers `name` at the connection's IP and `listen_port`,
    /// and (re-)joins every group in `groups`.
    Hello {
        version: u32,
        name: Name,
        listen_port: u16,
        #[serde(default)]
        groups: Vec<GroupName>,
    },
    Join {
        group: GroupName,
        /// Echoed in the answer (or error), so the peer can tell which request it settles.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    Leave {
        group: GroupName,
        /// Echoed in the answer (or error), so the peer can tell which request it settles.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    /// Where is `name`? Answered by [`TrackerToPeer::LookupResult`].
    Lookup {
        name: Name,
        /// Echoed in the answer (or error), so the peer can tell which request it settles.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    /// Send me the full member list of `group` again (after a version gap).
    Snapshot {
        group: GroupName,
        /// Echoed in the answer (or error), so the peer can tell which request it settles.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    /// Sets (or, with `None`, clears) our status line, shown to every member of our groups.
    /// Answered by [`TrackerToPeer::StatusSet`].
    SetStatus {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        /// Echoed in the answer (or error), so the peer can tell which request it settles.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    /// An owner's or admin's signed action on a group. Answered by
    /// [`TrackerToPeer::Governed`] once it is done (and pushed to the members), or an error.
    Govern {
        action: Box<SignedAction>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    /// The invites waiting for us. Answered by [`TrackerToPeer::Invites`].
    Invites {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
    /// Can the tracker reach me? The tracker dials back, with a short timeout, the listen
    /// port of our hello at the IP our connection comes from (never an address we name, so
    /// the tracker cannot be made to scan others), runs the Noise handshake demanding our
    /// key, hangs up, and answers [`TrackerToPeer::ProbeResult`]. Charged to the join and
    /// leave budgets; past them an `error` (`rate_limited`, the link stays up).
    Probe {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
}

/// Who did a governance change: the actor's name and its signed action, which every
/// member checks. The tracker sends both (none for what it does itself, such as passing
/// ownership on when the owner leaves); a peer shows `by` to its front end only when the
/// action's signature and the actor's role check out, and never passes `action` on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActedBy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Name>,
    /// Boxed: most changes carry none, and a change is moved through several queues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Box<SignedAction>>,
}

impl ActedBy {
    /// `action`, done by its actor.
    pub fn signed(action: SignedAction) -> Self {
        Self {
            by: Some(action.action.by.clone()),
            action: Some(Box::new(action)),
        }
    }
}

/// An invite to an invite-only group, waiting for its invitee's `/join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub group: GroupName,
    pub by: Name,
    /// The inviter's signed action.
    pub action: SignedAction,
}

/// How one member of a group changed, pushed to every other member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MemberChange {
    Joined {
        member: Member,
    },
    Left {
        name: Name,
    },
    Offline {
        name: Name,
        /// When the tracker saw it go (the tracker's clock, Unix milliseconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seen: Option<u64>,
    },
    /// Came back online, possibly at a new address.
    Online {
        member: Member,
    },
    /// Something else about the member changed (its status line); `member` is how it is now.
    Updated {
        member: Member,
    },
    /// An owner or admin made `member` a member (by `/add` or `/create`).
    Added {
        member: Member,
        #[serde(flatten)]
        by: ActedBy,
    },
    /// An owner or admin removed `name`.
    Kicked {
        name: Name,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(flatten)]
        by: ActedBy,
    },
    /// `name` has a new role. A new owner makes the old owner an admin: after a `transfer`
    /// only this change (`role: owner`) is pushed, and each receiver makes the previous
    /// owner an admin itself, as the tracker did (one version bump, not two). Without `by`
    /// (and `action`) it is the tracker's doing: the owner left, and ownership passed to
    /// the longest-standing admin, else member (the old owner is gone: nobody to demote).
    Role {
        name: Name,
        role: Role,
        #[serde(flatten)]
        by: ActedBy,
    },
    /// The group's topic changed (`None`: cleared).
    Topic {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        #[serde(flatten)]
        by: ActedBy,
    },
    /// The group became invite-only (`on`) or open.
    Private {
        on: bool,
        #[serde(flatten)]
        by: ActedBy,
    },
}

impl MemberChange {
    /// The member the change is about (`None` for a change of the group itself).
    pub fn member_name(&self) -> Option<&Name> {
        match self {
            Self::Joined { member }
            | Self::Online { member }
            | Self::Updated { member }
            | Self::Added { member, .. } => Some(&member.name),
            Self::Left { name }
            | Self::Offline { name, .. }
            | Self::Kicked { name, .. }
            | Self::Role { name, .. } => Some(name),
            Self::Topic { .. } | Self::Private { .. } => None,
        }
    }
}

/// Tracker → peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TrackerToPeer {
    /// Answer to a good hello. `addr` is the address the tracker will hand out for this
    /// peer; the tracker pings every `heartbeat_secs` and drops a peer that stays silent
    /// for three of those.
    Welcome {
        version: u32,
        name: Name,
        addr: SocketAddr,
        heartbeat_secs: u64,
    },
    /// The full member list of a group: sent to a peer when it joins (or re-joins, or asks).
    Members {
        group: GroupName,
        version: u64,
        members: Vec<Member>,
        /// The group's owner, topic and whether it is invite-only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<Name>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        private: bool,
        /// Who added the receiver, when the list comes because an admin did (`/add`,
        /// `/create`).
        #[serde(flatten)]
        by: ActedBy,
        /// The request this answers, when it answers one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    /// One change to a group the receiver is in; `version` is the group's new version.
    MemberUpdate {
        group: GroupName,
        version: u64,
        change: MemberChange,
    },
    /// The receiver is no longer in `group`: its leave took effect, an admin kicked it
    /// (`by`, `reason`, `action`), or the owner disbanded the group (`disbanded`).
    Left {
        group: GroupName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Name>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        disbanded: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<Box<SignedAction>>,
    },
    /// A [`PeerToTracker::Govern`] is done (its change was pushed to the members first).
    Governed {
        group: GroupName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    /// We were invited to an invite-only group (pushed when it happens, if we are online).
    Invited {
        invite: Invite,
    },
    /// The invites waiting for us; answers [`PeerToTracker::Invites`].
    Invites {
        invites: Vec<Invite>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    LookupResult {
        name: Name,
        member: Option<Member>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    /// The receiver's status line is now `status` (`None`: cleared); answers a
    /// [`PeerToTracker::SetStatus`].
    StatusSet {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    /// A refused request (the link stays up; `req` names it) or a protocol violation (the
    /// link closes).
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
    /// The answer to a [`PeerToTracker::Probe`]: the address the tracker dialled, whether
    /// the receiver answered there with its own key, why not (`error`), and the tracker's
    /// clock when it answered (Unix milliseconds), for a clock-skew check.
    ProbeResult {
        addr: SocketAddr,
        reachable: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        clock: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<RequestId>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_wire_shape() {
        let hello = PeerToTracker::Hello {
            version: 1,
            name: "alice".parse().expect("name"),
            listen_port: 4000,
            groups: vec!["rust".parse().expect("group")],
        };
        let json = serde_json::to_value(&hello).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type":"hello","version":1,"name":"alice","listen_port":4000,"groups":["rust"]})
        );
    }

    #[test]
    fn update_wire_shape() {
        let push = TrackerToPeer::MemberUpdate {
            group: "g".parse().expect("group"),
            version: 3,
            change: MemberChange::Offline {
                name: "bob".parse().expect("name"),
                last_seen: None,
            },
        };
        let json = serde_json::to_value(&push).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type":"member_update","group":"g","version":3,"change":{"kind":"offline","name":"bob"}})
        );
        let back: TrackerToPeer = serde_json::from_value(json).expect("parse");
        assert_eq!(back, push);
    }

    #[test]
    fn a_governance_change_carries_its_actor_and_signed_action_flat() {
        use crate::govern::{Act, GroupAction, sign};
        let alice = crate::Identity::from_secrets(&[1; 32], &[2; 32]);
        let action = GroupAction {
            group: "g".parse().expect("group"),
            version: 4,
            by: "alice".parse().expect("name"),
            key: alice.public_key(),
            act: Act::Kick {
                name: "bob".parse().expect("name"),
                reason: Some("spam".into()),
            },
        };
        let change = MemberChange::Kicked {
            name: "bob".parse().expect("name"),
            reason: Some("spam".into()),
            by: ActedBy::signed(sign(&alice, action)),
        };
        let json = serde_json::to_value(&change).expect("json");
        assert_eq!(json["kind"], "kicked");
        assert_eq!(json["by"], "alice");
        assert_eq!(json["reason"], "spam");
        assert_eq!(json["action"]["action"]["act"], "kick");
        let back: MemberChange = serde_json::from_value(json).expect("parse");
        assert_eq!(back, change);
        let bare = serde_json::json!({"kind":"role","name":"bob","role":"owner"});
        let back: MemberChange = serde_json::from_value(bare).expect("parse");
        assert_eq!(
            back,
            MemberChange::Role {
                name: "bob".parse().expect("name"),
                role: crate::govern::Role::Owner,
                by: ActedBy::default(),
            }
        );
    }

    #[test]
    fn offline_carries_last_seen() {
        let json = serde_json::json!({"kind":"offline","name":"bob","last_seen":1700000000000_u64});
        let change: MemberChange = serde_json::from_value(json.clone()).expect("parse");
        assert_eq!(
            change,
            MemberChange::Offline {
                name: "bob".parse().expect("name"),
                last_seen: Some(1_700_000_000_000),
            }
        );
        assert_eq!(serde_json::to_value(&change).expect("json"), json);
    }

    #[test]
    fn status_frames_wire_shape() {
        let set = PeerToTracker::SetStatus {
            status: Some("at lunch".into()),
            req: Some(4),
        };
        assert_eq!(
            serde_json::to_value(&set).expect("json"),
            serde_json::json!({"type":"set_status","status":"at lunch","req":4})
        );
        let clear: PeerToTracker = serde_json::from_str(r#"{"type":"set_status"}"#).expect("parse");
        assert_eq!(
            clear,
            PeerToTracker::SetStatus {
                status: None,
                req: None
            }
        );
        let answer = TrackerToPeer::StatusSet {
            status: None,
            req: Some(4),
        };
        assert_eq!(
            serde_json::to_value(&answer).expect("json"),
            serde_json::json!({"type":"status_set","req":4})
        );
    }

    #[test]
    fn status_lines_are_checked() {
        assert_eq!(status_refusal("at lunch"), None);
        assert_eq!(status_refusal(""), None);
        assert_eq!(status_refusal(&"é".repeat(MAX_STATUS_CHARS)), None);
        assert!(status_refusal(&"x".repeat(MAX_STATUS_CHARS + 1)).is_some());
        assert!(status_refusal("two\nlines").is_some());
        assert!(status_refusal("bell\u{7}").is_some());
    }

    #[test]
    fn probe_frames_wire_shape() {
        let ask = PeerToTracker::Probe { req: Some(3) };
        assert_eq!(
            serde_json::to_value(&ask).expect("json"),
            serde_json::json!({"type":"probe","req":3})
        );
        let answer = TrackerToPeer::ProbeResult {
            addr: "203.0.113.7:4000".parse().expect("addr"),
            reachable: false,
            error: Some("connection refused".into()),
            clock: 1_700_000_000_000,
            req: Some(3),
        };
        let json = serde_json::to_value(&answer).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type":"probe_result","addr":"203.0.113.7:4000","reachable":false,
                "error":"connection refused","clock":1_700_000_000_000_u64,"req":3})
        );
        let back: TrackerToPeer = serde_json::from_value(json).expect("parse");
        assert_eq!(back, answer);
    }

    #[test]
    fn invalid_names_are_refused_on_the_wire() {
        let bad = r#"{"type":"join","group":"has space"}"#;
        assert!(serde_json::from_str::<PeerToTracker>(bad).is_err());
    }
}
