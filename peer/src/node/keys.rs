//! Pinned keys: the key pinned for each peer name (`keys.json`; a peer's key is pinned the
//! first time the tracker vouches for it, never on a hello's word alone) and for each
//! tracker address (`trackers.json`, trust on first use), and the blocked keys
//! (`blocked.json`).
//!
//! Pure maps with serde; [`super::json_file`] loads and saves them. A pin, once made, only
//! changes on purpose (`/trust NAME`, `--tracker-key KEY`): a different key presented for a
//! pinned name is reported, never silently taken.

use std::collections::BTreeMap;

use natter_protocol::{Name, PublicKey};
use serde::{Deserialize, Serialize};

/// Pinned peer keys, by name.
pub const PEER_PINS_FILE: &str = "keys.json";
/// Pinned tracker keys, by tracker address.
pub const TRACKER_PINS_FILE: &str = "trackers.json";
/// Blocked keys, with the name each was blocked under.
pub const BLOCKED_FILE: &str = "blocked.json";

/// The most pins kept. Past it, new names are not pinned (they are checked against the
/// member lists only), so a flood of made-up names cannot grow the file without bound.
pub const MAX_PINS: usize = 64 * 1024;
/// The most keys that can be blocked.
pub const MAX_BLOCKED: usize = 64 * 1024;

/// What checking a presented key against the pins found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    /// The key is the pinned one.
    Known,
    /// Nothing was pinned: the key is pinned now (trust on first use).
    New,
    /// Another key is pinned: refuse until the user accepts the new one.
    Changed { pinned: PublicKey },
}

/// Keys pinned by some label (a peer name, a tracker address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pins<K: Ord> {
    map: BTreeMap<K, PublicKey>,
}

impl<K: Ord> Default for Pins<K> {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
        }
    }
}

/// Pinned peer keys (`keys.json`).
pub type PeerPins = Pins<Name>;
/// Pinned tracker keys (`trackers.json`).
pub type TrackerPins = Pins<String>;

impl<K: Ord + Clone> Pins<K> {
    pub fn get(&self, label: &K) -> Option<PublicKey> {
        self.map.get(label).copied()
    }

    /// Checks `key` for `label`, pinning it when nothing is pinned yet.
    pub fn check(&mut self, label: &K, key: PublicKey) -> PinCheck {
        match self.map.get(label) {
            Some(&pinned) if pinned == key => PinCheck::Known,
            Some(&pinned) => PinCheck::Changed { pinned },
            None => {
                if self.map.len() < MAX_PINS {
                    self.map.insert(label.clone(), key);
                }
                PinCheck::New
            }
        }
    }

    /// Pins `key` for `label` on purpose, replacing any other. Returns whether it changed.
    pub fn set(&mut self, label: K, key: PublicKey) -> bool {
        self.map.insert(label, key) != Some(key)
    }
}

/// Blocked keys, each with the name it was blocked under (for display and `/unblock`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Blocked {
    map: BTreeMap<PublicKey, Name>,
}

impl Blocked {
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.map.contains_key(key)
    }

    /// Blocks `key`. Returns false when it was already blocked, or the list is full.
    pub fn block(&mut self, key: PublicKey, name: Name) -> bool {
        if self.map.contains_key(&key) || self.map.len() >= MAX_BLOCKED {
            return false;
        }
        self.map.insert(key, name);
        true
    }

    /// Unblocks `key` and every key blocked under `name`. Returns whether any was blocked.
    pub fn unblock(&mut self, key: Option<PublicKey>, name: &Name) -> bool {
        let before = self.map.len();
        if let Some(key) = key {
            self.map.remove(&key);
        }
        self.map.retain(|_, n| n != name);
        self.map.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_protocol::Identity;

    fn key(n: u8) -> PublicKey {
        Identity::from_secrets(&[n; 32], &[n; 32]).public_key()
    }

    fn name(s: &str) -> Name {
        s.parse().expect("name")
    }

    #[test]
    fn first_use_pins_and_a_change_is_reported_not_taken() {
        let mut pins = PeerPins::default();
        assert_eq!(pins.check(&name("bob"), key(1)), PinCheck::New);
        assert_eq!(pins.check(&name("bob"), key(1)), PinCheck::Known);
        assert_eq!(
            pins.check(&name("bob"), key(2)),
            PinCheck::Changed { pinned: key(1) }
        );
        assert_eq!(pins.get(&name("bob")), Some(key(1)));
        assert!(pins.set(name("bob"), key(2)));
        assert!(!pins.set(name("bob"), key(2)));
        assert_eq!(pins.check(&name("bob"), key(2)), PinCheck::Known);
        assert_eq!(pins.map.len(), 1);
    }

    #[test]
    fn pins_and_blocks_round_trip_as_json() {
        let mut pins = TrackerPins::default();
        pins.check(&"127.0.0.1:7700".to_owned(), key(3));
        let json = serde_json::to_value(&pins).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"127.0.0.1:7700": key(3).to_string()})
        );
        let back: TrackerPins = serde_json::from_value(json).expect("parse");
        assert_eq!(back, pins);

        let mut blocked = Blocked::default();
        assert!(blocked.block(key(4), name("mallory")));
        assert!(!blocked.block(key(4), name("mallory")));
        let json = serde_json::to_string(&blocked).expect("json");
        let back: Blocked = serde_json::from_str(&json).expect("parse");
        assert!(back.contains(&key(4)));
        assert!(serde_json::from_str::<Blocked>(r#"{"not a key":"x"}"#).is_err());
    }

    #[test]
    fn unblock_by_key_or_by_the_name_it_was_blocked_under() {
        let mut blocked = Blocked::default();
        blocked.block(key(1), name("a"));
        blocked.block(key(2), name("b"));
        assert!(!blocked.unblock(Some(key(9)), &name("zed")));
        // The name now points elsewhere, but the old key was blocked under that name.
        assert!(blocked.unblock(Some(key(9)), &name("a")));
        assert!(!blocked.contains(&key(1)));
        assert!(blocked.unblock(Some(key(2)), &name("other")));
        assert!(!blocked.contains(&key(2)));
    }
}
