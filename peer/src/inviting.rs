//! Which invite a user hands out (`natter invite`, the TUI's `/invite-link`): for a user
//! who hosts the tracker, this machine's address as others reach it and the tracker's own
//! key; for a user of someone else's tracker, that tracker and the key the user gave
//! (`--tracker-key`, an invite) or pinned on first contact (`trackers.json`).

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use natter_protocol::{GroupName, PublicKey};

use crate::invite::Invite;
use crate::reach::reachable_addr;

/// The tracker address used when none is given.
pub const DEFAULT_TRACKER: &str = "127.0.0.1:7700";
/// Where `--host-tracker` binds when `--tracker` is not given.
pub const DEFAULT_HOSTED_TRACKER: &str = "0.0.0.0:7700";
/// A hosted tracker's key file in the data directory.
pub const HOSTED_KEY_FILE: &str = "tracker.key";

/// Where a hosted tracker last listened, in the data directory: `natter invite` run beside
/// `natter --host-tracker --tracker ADDR` (without repeating `--tracker`) names that
/// address, not the default port.
pub const HOSTED_ADDR_FILE: &str = "tracker.addr";

/// Notes where the tracker this process hosts listens (`bound`).
pub fn remember_hosted(data_dir: &Path, bound: SocketAddr) -> std::io::Result<()> {
    std::fs::write(data_dir.join(HOSTED_ADDR_FILE), format!("{bound}\n"))
}

/// Where the hosted tracker last listened, if it was noted (and is an address).
pub fn hosted_addr(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join(HOSTED_ADDR_FILE)).ok()?;
    let addr = text.trim().parse::<SocketAddr>().ok()?;
    Some(addr.to_string())
}

/// The tracker the member cache (`members.json`) last came from: for a user who joined
/// with `--join INVITE` and was given no `--tracker`, the tracker `natter invite` names.
/// Only read here, never set aside when unusable (the running natter does that).
pub fn cached_tracker(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join(crate::node::CACHE_FILE_NAME)).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let tracker = json.get("tracker")?.as_str()?;
    crate::invite::check_host_port(tracker).ok()
}

/// Whether this user hosts the tracker: `--host-tracker`, or a hosted tracker's key in the
/// data directory while no other tracker is named.
pub fn hosts(host_tracker: bool, tracker: Option<&str>, data_dir: &Path) -> bool {
    host_tracker || (tracker.is_none() && data_dir.join(HOSTED_KEY_FILE).exists())
}

/// The invite to a tracker this process hosts at `addr` (as given, or as bound) with
/// `key`; `host` is this machine as others name it (an address on every interface
/// becomes `host:PORT`).
pub fn hosted(addr: &str, key: PublicKey, host: &str, group: Option<GroupName>) -> Invite {
    Invite {
        tracker: reachable(addr, host),
        key,
        group,
    }
}

/// The invite to the tracker at `tracker`, with `key` when the user gave one, else the key
/// pinned for it in `data_dir`.
pub fn joined(
    tracker: &str,
    key: Option<PublicKey>,
    data_dir: &Path,
    host: &str,
    group: Option<GroupName>,
) -> Result<Invite, String> {
    let key = match key {
        Some(key) => key,
        None => pinned(tracker, data_dir)?.ok_or_else(|| {
            format!(
                "no key is known for the tracker {tracker}: connect to it once (its key is \
                 pinned then), or pass --tracker-key KEY as its host prints it"
            )
        })?,
    };
    Ok(Invite {
        tracker: reachable(tracker, host),
        key,
        group,
    })
}

/// Whether the invite's tracker address is one only this machine reaches (a warning for
/// the person handing it out).
pub fn local_only(invite: &Invite) -> bool {
    invite
        .tracker
        .parse::<SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback())
        || invite.tracker.starts_with("localhost:")
}

/// `addr` as others dial it: an address on every interface becomes `host:PORT`.
fn reachable(addr: &str, host: &str) -> String {
    match addr.parse::<SocketAddr>() {
        Ok(bound) => reachable_addr(bound, host),
        Err(_) => addr.to_owned(),
    }
}

/// The key pinned for `tracker` in `data_dir/trackers.json`, where pins are kept by the
/// address a name resolved to.
fn pinned(tracker: &str, data_dir: &Path) -> Result<Option<PublicKey>, String> {
    let path = data_dir.join(crate::node::TRACKER_PINS_FILE);
    let pins: BTreeMap<String, PublicKey> = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("{} is unusable: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let addrs: Vec<SocketAddr> = match tracker.parse::<SocketAddr>() {
        Ok(addr) => vec![addr],
        Err(_) => tracker
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {tracker}: {e}"))?
            .collect(),
    };
    Ok(addrs
        .iter()
        .find_map(|addr| pins.get(&addr.to_string()).copied()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        natter_protocol::Identity::from_secrets(&[n; 32], &[2; 32]).public_key()
    }

    #[test]
    fn a_hosted_tracker_is_named_as_others_reach_it() {
        let invite = hosted("0.0.0.0:7700", key(1), "10.0.0.2", None);
        assert_eq!(invite.tracker, "10.0.0.2:7700");
        assert!(!local_only(&invite));
        let invite = hosted("127.0.0.1:7700", key(1), "10.0.0.2", None);
        assert_eq!(invite.tracker, "127.0.0.1:7700");
        assert!(local_only(&invite));
    }

    #[test]
    fn the_hosted_address_is_remembered_for_natter_invite() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(hosted_addr(dir.path()), None);
        let bound: SocketAddr = "127.0.0.1:44485".parse().expect("addr");
        remember_hosted(dir.path(), bound).expect("write");
        assert_eq!(hosted_addr(dir.path()).as_deref(), Some("127.0.0.1:44485"));
        std::fs::write(dir.path().join(HOSTED_ADDR_FILE), "not an address").expect("write");
        assert_eq!(hosted_addr(dir.path()), None);
    }

    #[test]
    fn the_tracker_of_the_member_cache_is_found() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(cached_tracker(dir.path()), None);
        let file = dir.path().join(crate::node::CACHE_FILE_NAME);
        std::fs::write(&file, r#"{"tracker": "127.0.0.1:44485", "groups": {}}"#).expect("write");
        assert_eq!(
            cached_tracker(dir.path()).as_deref(),
            Some("127.0.0.1:44485")
        );
        for bad in [
            "{",
            r#"{"tracker": ""}"#,
            r#"{"tracker": 7}"#,
            r#"{"groups": {}}"#,
        ] {
            std::fs::write(&file, bad).expect("write");
            assert_eq!(cached_tracker(dir.path()), None, "{bad}");
        }
    }

    #[test]
    fn hosting_is_the_flag_or_a_tracker_key_without_another_tracker() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(!hosts(false, None, dir.path()));
        assert!(hosts(true, Some("h:1"), dir.path()));
        std::fs::write(dir.path().join(HOSTED_KEY_FILE), "x").expect("write");
        assert!(hosts(false, None, dir.path()));
        assert!(!hosts(false, Some("h:1"), dir.path()));
    }

    #[test]
    fn another_tracker_comes_with_the_given_or_pinned_key() {
        let dir = tempfile::tempdir().expect("dir");
        let err = joined("127.0.0.1:7700", None, dir.path(), "h", None).expect_err("none");
        assert!(err.contains("--tracker-key"), "{err}");
        let given = joined("127.0.0.1:7700", Some(key(1)), dir.path(), "h", None);
        assert_eq!(given.map(|i| i.key), Ok(key(1)));

        let pins = format!("{{\"127.0.0.1:7700\": \"{}\"}}", key(2));
        std::fs::write(dir.path().join("trackers.json"), pins).expect("write");
        let group = GroupName::parse_user("room").ok();
        let invite = joined("127.0.0.1:7700", None, dir.path(), "h", group.clone());
        assert_eq!(
            invite,
            Ok(Invite {
                tracker: "127.0.0.1:7700".into(),
                key: key(2),
                group,
            })
        );
        // The key given wins over the pin.
        let given = joined("127.0.0.1:7700", Some(key(1)), dir.path(), "h", None);
        assert_eq!(given.map(|i| i.key), Ok(key(1)));

        std::fs::write(dir.path().join("trackers.json"), "{").expect("write");
        let err = joined("127.0.0.1:7700", None, dir.path(), "h", None).expect_err("bad");
        assert!(err.contains("trackers.json"), "{err}");
    }
}
