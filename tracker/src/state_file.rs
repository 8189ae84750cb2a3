//! The tracker's durable membership: groups, their versions and members, as one JSON file.
//!
//! The file is rewritten whole after every membership change, atomically: a temp file in
//! the same directory, fsync, then rename over the old one, so a crash (even `kill -9`)
//! leaves either the old or the new state, never half of one. Who is online is not stored:
//! after a restart everyone is offline until they reconnect.
//!
//! Besides the groups it keeps every name's key binding (`keys`: name → the public key that
//! first registered it). Format 1 (before keys) is still read, with no bindings.
//!
//! It also keeps when each offline name was last seen online (`last_seen`) and each key's
//! status line (`statuses`). Both were added to format 2 without a new number: a file
//! without them loads with none, and an older tracker reading a newer file ignores them.
//!
//! Governance (issue 10) was added the same way, inside each group: its owner, admins,
//! when each member joined (`joined`, for who inherits the group), topic, invite-only
//! flag, kick bans and pending invites; and, beside the groups, disbanded groups whose
//! offline members have not been told yet (`disbanded`). Every one is optional on disk: a file without them
//! loads as open groups without topic, bans or invites, whose owner the registry picks on
//! load (see `Registry::with_caps`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use natter_protocol::govern::SignedAction;
use natter_protocol::{GroupName, Name, PublicKey};
use serde::{Deserialize, Serialize};

/// The layout version written in every state file.
const FORMAT: u32 = 2;
/// The layout before name → key bindings, still readable.
const FORMAT_WITHOUT_KEYS: u32 = 1;

/// One group as persisted: its version, each member's last known address, and how it is
/// governed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub version: u64,
    pub members: BTreeMap<Name, SocketAddr>,
    /// The one owner (`None` only in a file from before owners, until loaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Name>,
    /// The admins (never the owner).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub admins: BTreeSet<Name>,
    /// Member → the group's version when it joined: the join order, so ownership passes
    /// to the longest-standing admin or member. A member without one (from an older
    /// file) counts as joined before every member with one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub joined: BTreeMap<Name, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Invite-only: joining takes an invite (or an admin's `/add`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
    /// Kicked name → the kick (who, why, signed): refused a join until added or invited
    /// again, and told of the kick if it comes back believing it is still a member.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub banned: BTreeMap<Name, SignedAction>,
    /// Invitee → the inviter's signed action, until the invitee joins or is added.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub invites: BTreeMap<Name, SignedAction>,
}

/// A disbanded group, remembered only for its members that were offline when it ended:
/// each is told on its next hello instead of re-creating the group from its own list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disbanded {
    /// The owner's signed `disband`.
    pub action: SignedAction,
    /// The members not told yet.
    pub pending: BTreeSet<Name>,
}

/// Everything the tracker keeps across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub groups: BTreeMap<GroupName, GroupState>,
    /// Name → the identity key it is bound to.
    pub keys: BTreeMap<Name, PublicKey>,
    /// Name → when it last went offline (the tracker's clock, Unix milliseconds); only
    /// names offline at the time of the write.
    pub last_seen: BTreeMap<Name, u64>,
    /// Key → its status line.
    pub statuses: BTreeMap<PublicKey, String>,
    /// Disbanded groups some member has not heard of yet.
    pub disbanded: BTreeMap<GroupName, Disbanded>,
}

impl State {
    /// The state borrowed, for [`encode`].
    pub fn borrowed(&self) -> Borrowed<'_> {
        Borrowed {
            groups: &self.groups,
            keys: &self.keys,
            last_seen: &self.last_seen,
            statuses: &self.statuses,
            disbanded: &self.disbanded,
        }
    }
}

/// A [`State`] held elsewhere (the registry's own maps), to encode without copying.
#[derive(Debug, Clone, Copy)]
pub struct Borrowed<'a> {
    pub groups: &'a BTreeMap<GroupName, GroupState>,
    pub keys: &'a BTreeMap<Name, PublicKey>,
    pub last_seen: &'a BTreeMap<Name, u64>,
    pub statuses: &'a BTreeMap<PublicKey, String>,
    pub disbanded: &'a BTreeMap<GroupName, Disbanded>,
}

impl Borrowed<'_> {
    /// A copy to own (a test's restart, say).
    pub fn to_state(self) -> State {
        State {
            groups: self.groups.clone(),
            keys: self.keys.clone(),
            last_seen: self.last_seen.clone(),
            statuses: self.statuses.clone(),
            disbanded: self.disbanded.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct OnDisk<G, K, L, S, D> {
    format: u32,
    groups: G,
    #[serde(default)]
    keys: K,
    #[serde(default)]
    last_seen: L,
    #[serde(default)]
    statuses: S,
    #[serde(default)]
    disbanded: D,
}

/// The file as read.
type Loaded = OnDisk<
    BTreeMap<GroupName, GroupState>,
    // As written (names then compared with case), so two bindings that now are one name
    // can be told apart: see `first_binding_wins`.
    BTreeMap<String, PublicKey>,
    BTreeMap<Name, u64>,
    BTreeMap<PublicKey, String>,
    BTreeMap<GroupName, Disbanded>,
>;

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("cannot read the tracker state file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the tracker state file {path} is corrupt ({error}); fix or remove it")]
    Corrupt {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("the tracker state file {path} has format {found}, this tracker reads format {FORMAT}")]
    Format { path: PathBuf, found: u32 },
    #[error("cannot write the tracker state file {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot encode the tracker state: {0}")]
    Encode(serde_json::Error),
}

/// Reads the state file; a missing file is an empty state.
/// Name bindings from a file written when names still compared with case: where two
/// (`Bob`, `bob`) are now one name, the one that sorts first keeps it and the other key
/// must register under another name (a warning says so). Names that do not parse are
/// skipped with a warning.
fn first_binding_wins(keys: BTreeMap<String, PublicKey>) -> BTreeMap<Name, PublicKey> {
    let mut out: BTreeMap<Name, PublicKey> = BTreeMap::new();
    for (written, key) in keys {
        let Ok(name) = written.parse::<Name>() else {
            tracing::warn!(name = %written, "skipping a binding whose name does not parse");
            continue;
        };
        match out.get_key_value(&name) {
            Some((kept, kept_key)) if *kept_key != key => tracing::warn!(
                %kept, dropped = %written, "two bindings are now one name (names compare \
                 without case): the first keeps it"
            ),
            Some(_) => {}
            None => {
                out.insert(name, key);
            }
        }
    }
    out
}

pub fn load(path: &Path) -> Result<State, StateFileError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(error) => {
            return Err(StateFileError::Read {
                path: path.to_owned(),
                error,
            });
        }
    };
    let disk: Loaded = serde_json::from_slice(&bytes).map_err(|error| StateFileError::Corrupt {
        path: path.to_owned(),
        error,
    })?;
    if disk.format != FORMAT && disk.format != FORMAT_WITHOUT_KEYS {
        return Err(StateFileError::Format {
            path: path.to_owned(),
            found: disk.format,
        });
    }
    Ok(State {
        groups: disk.groups,
        keys: first_binding_wins(disk.keys),
        last_seen: disk.last_seen,
        statuses: disk.statuses,
        disbanded: disk.disbanded,
    })
}

/// Serialises the state to the file's bytes (cheap; done by the registry's owner so the
/// slow part, [`write_atomic`], can run off the async threads).
pub fn encode(state: Borrowed<'_>) -> Result<Vec<u8>, StateFileError> {
    let disk = OnDisk {
        format: FORMAT,
        groups: state.groups,
        keys: state.keys,
        last_seen: state.last_seen,
        statuses: state.statuses,
        disbanded: state.disbanded,
    };
    serde_json::to_vec_pretty(&disk).map_err(StateFileError::Encode)
}

/// Replaces `path` with `bytes` atomically, readable by its owner only (it holds every
/// name-to-key binding and who is in which group).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateFileError> {
    natter_protocol::files::write_atomic_private(path, bytes).map_err(|error| {
        StateFileError::Write {
            path: path.to_owned(),
            error,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        let mut group = GroupState {
            version: 7,
            ..GroupState::default()
        };
        group.members.insert(
            "alice".parse().expect("name"),
            "10.0.0.1:4000".parse().expect("addr"),
        );
        group.members.insert(
            "bob".parse().expect("name"),
            "[::1]:5000".parse().expect("addr"),
        );
        let mut state = State::default();
        state.groups.insert("rust".parse().expect("group"), group);
        let key = natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key();
        state.keys.insert("alice".parse().expect("name"), key);
        state
            .last_seen
            .insert("bob".parse().expect("name"), 1_700_000_000_000);
        state.statuses.insert(key, "at lunch".into());
        governed(&mut state);
        state
    }

    /// Gives the sample's group every governance field: owner, admin, join times, topic,
    /// invite-only, a ban and an invite.
    fn governed(state: &mut State) {
        use natter_protocol::govern::{Act, GroupAction, sign};
        let name = |s: &str| s.parse::<Name>().expect("name");
        let alice = natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]);
        let invite = sign(
            &alice,
            GroupAction {
                group: "rust".parse().expect("group"),
                version: 7,
                by: name("alice"),
                key: alice.public_key(),
                act: Act::Invite {
                    name: name("carol"),
                },
            },
        );
        let Some(group) = state.groups.values_mut().next() else {
            return;
        };
        group.owner = Some(name("alice"));
        group.admins.insert(name("bob"));
        group.joined.insert(name("alice"), 1);
        group.joined.insert(name("bob"), 2);
        group.topic = Some("rust talk".into());
        group.private = true;
        group.banned.insert(name("dave"), invite.clone());
        group.invites.insert(name("carol"), invite.clone());
        state.disbanded.insert(
            "old".parse().expect("group"),
            Disbanded {
                action: invite,
                pending: [name("erin")].into(),
            },
        );
    }

    #[test]
    fn missing_file_is_empty_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = load(&dir.path().join("nope.json")).expect("load");
        assert_eq!(state, State::default());
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("tracker.json");
        let state = sample();
        write_atomic(&path, &encode(state.borrowed()).expect("encode")).expect("write");
        assert_eq!(load(&path).expect("load"), state);
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tracker.json");
        std::fs::write(&path, b"old").expect("seed");
        let state = sample();
        write_atomic(&path, &encode(state.borrowed()).expect("encode")).expect("write");
        assert_eq!(load(&path).expect("load"), state);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("tracker.json")]);
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tracker.json");
        for junk in [
            &b"{not json"[..],
            br#"{"format":1,"groups":{"bad name":{}}}"#,
        ] {
            std::fs::write(&path, junk).expect("seed");
            let err = load(&path).expect_err("must refuse");
            assert!(matches!(err, StateFileError::Corrupt { .. }), "{err}");
            assert!(err.to_string().contains("tracker.json"), "{err}");
        }
    }

    #[test]
    fn unknown_format_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tracker.json");
        std::fs::write(&path, br#"{"format":99,"groups":{}}"#).expect("seed");
        assert!(matches!(
            load(&path),
            Err(StateFileError::Format { found: 99, .. })
        ));
    }

    #[test]
    fn wire_shape_is_readable() {
        let json = String::from_utf8(encode(sample().borrowed()).expect("encode")).expect("utf8");
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(value["groups"]["rust"]["version"], 7);
        assert_eq!(value["groups"]["rust"]["members"]["alice"], "10.0.0.1:4000");
        assert_eq!(value["format"], 2);
        assert_eq!(
            value["keys"]["alice"],
            sample().keys[&"alice".parse::<Name>().expect("name")].to_string()
        );
        assert_eq!(value["last_seen"]["bob"], 1_700_000_000_000_u64);
        let key = sample().keys[&"alice".parse::<Name>().expect("name")];
        assert_eq!(value["statuses"][key.to_string()], "at lunch");
        let rust = &value["groups"]["rust"];
        assert_eq!(rust["owner"], "alice");
        assert_eq!(rust["admins"], serde_json::json!(["bob"]));
        assert_eq!(rust["joined"]["bob"], 2);
        assert_eq!(rust["topic"], "rust talk");
        assert_eq!(rust["private"], true);
        assert_eq!(rust["banned"]["dave"]["action"]["by"], "alice");
        assert_eq!(
            value["disbanded"]["old"]["pending"],
            serde_json::json!(["erin"])
        );
        assert_eq!(rust["invites"]["carol"]["action"]["act"], "invite");
    }

    #[test]
    fn a_file_without_last_seen_or_statuses_still_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tracker.json");
        let key = sample().keys[&"alice".parse::<Name>().expect("name")];
        let old = format!(
            r#"{{"format":2,"groups":{{"rust":{{"version":3,"members":{{"alice":"10.0.0.1:1"}}}}}},"keys":{{"alice":"{key}"}}}}"#
        );
        std::fs::write(&path, old).expect("seed");
        let state = load(&path).expect("load");
        assert_eq!(state.keys.len(), 1);
        assert!(state.last_seen.is_empty());
        assert!(state.statuses.is_empty());
        assert!(state.disbanded.is_empty());
        // Nor governance: an open group with no owner yet (the registry picks one).
        let group = &state.groups[&"rust".parse::<GroupName>().expect("group")];
        assert_eq!(group.owner, None);
        assert!(group.admins.is_empty() && group.joined.is_empty());
        assert!(!group.private && group.topic.is_none());
        assert!(group.banned.is_empty() && group.invites.is_empty());
    }

    #[test]
    fn two_old_bindings_that_differ_by_case_keep_the_first() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tracker.json");
        let (one, two) = (
            natter_protocol::testkit::build::identity_for("one").public_key(),
            natter_protocol::testkit::build::identity_for("two").public_key(),
        );
        let json =
            format!(r#"{{"format":2,"groups":{{}},"keys":{{"bob":"{two}","Bob":"{one}"}}}}"#);
        std::fs::write(&path, json).expect("seed");
        let state = load(&path).expect("load");
        assert_eq!(state.keys.len(), 1);
        let (name, key) = state.keys.iter().next().expect("one");
        assert_eq!((name.as_str(), *key), ("Bob", one));
    }

    #[test]
    fn format_1_without_keys_is_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tracker.json");
        std::fs::write(
            &path,
            br#"{"format":1,"groups":{"rust":{"version":3,"members":{"bob":"10.0.0.1:1"}}}}"#,
        )
        .expect("seed");
        let state = load(&path).expect("load");
        assert!(state.keys.is_empty());
        assert_eq!(state.groups.len(), 1);
    }

    #[test]
    fn a_bad_key_is_a_corrupt_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tracker.json");
        std::fs::write(&path, br#"{"format":2,"groups":{},"keys":{"bob":"nope"}}"#).expect("seed");
        assert!(matches!(load(&path), Err(StateFileError::Corrupt { .. })));
    }
}
