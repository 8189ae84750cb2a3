//! The trust files in the data directory (`keys.json`, `trackers.json`, `blocked.json`,
//! `seen.json`): loaded at start, saved by the actor when they change (`seen.json` at most
//! once a second, and at quit).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Actor, SEEN_SAVE_EVERY};
use crate::node::json_file;
use crate::node::keys::{BLOCKED_FILE, PEER_PINS_FILE, TRACKER_PINS_FILE, TrackerPins};
use crate::node::replay::{self, ReplayGuard};
use crate::node::trust::Trust;

/// The loaded files and where they live.
#[derive(Debug, Default)]
pub struct Stores {
    trust: Trust,
    pub tracker_pins: TrackerPins,
    pub tracker_pins_path: PathBuf,
    pins_path: PathBuf,
    blocked_path: PathBuf,
    seen_path: PathBuf,
    /// A file that could not be used (`seen.json`: set aside, started empty).
    pub warnings: Vec<String>,
}

impl Stores {
    /// Loads the files in `dir`. An unusable `keys.json`, `blocked.json` or
    /// `trackers.json` is an error (the node must not start and silently forget whom it
    /// trusts or blocks); an unusable `seen.json` is set aside with a warning.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut warnings = Vec::new();
        let (pins, pins_path) = load_strict(dir, PEER_PINS_FILE)?;
        let (blocked, blocked_path) = load_strict(dir, BLOCKED_FILE)?;
        let (tracker_pins, tracker_pins_path) = load_strict(dir, TRACKER_PINS_FILE)?;
        let (seen, seen_path) = load(dir, replay::FILE_NAME, &mut warnings);
        Ok(Self {
            trust: Trust::new(pins, blocked, ReplayGuard::from_file(seen)),
            tracker_pins,
            tracker_pins_path,
            pins_path,
            blocked_path,
            seen_path,
            warnings,
        })
    }

    pub fn with_tracker_pins(mut self, pins: TrackerPins) -> Self {
        self.tracker_pins = pins;
        self
    }

    /// Hands the loaded trust state to its owner.
    pub fn take_trust(&mut self) -> Trust {
        std::mem::take(&mut self.trust)
    }
}

fn load_strict<T: serde::de::DeserializeOwned + Default>(
    dir: &Path,
    name: &str,
) -> Result<(T, PathBuf), String> {
    let path = dir.join(name);
    Ok((json_file::load_strict(&path)?, path))
}

fn load<T: serde::de::DeserializeOwned + Default>(
    dir: &Path,
    name: &str,
    warnings: &mut Vec<String>,
) -> (T, PathBuf) {
    let path = dir.join(name);
    let (value, warning) = json_file::load(&path);
    warnings.extend(warning);
    (value, path)
}

impl Actor {
    /// Saves whatever trust file changed; `seen.json` only every [`SEEN_SAVE_EVERY`]
    /// unless `now`.
    pub(super) async fn save_trust(&mut self, now: bool) {
        let mut results = Vec::new();
        if let Some(pins) = self.trust.take_dirty_pins() {
            let path = &self.stores.pins_path;
            results.push((path.clone(), json_file::save(path, pins)));
        }
        if let Some(blocked) = self.trust.take_dirty_blocked() {
            let path = &self.stores.blocked_path;
            results.push((path.clone(), json_file::save(path, blocked)));
        }
        if now || self.last_seen_save.elapsed() >= SEEN_SAVE_EVERY {
            self.last_seen_save = Instant::now();
            if let Some(seen) = self.trust.take_dirty_seen() {
                let path = &self.stores.seen_path;
                results.push((path.clone(), json_file::save(path, &seen)));
            }
        }
        for (path, result) in results {
            self.saved(&path, result).await;
        }
    }

    pub(super) async fn save_tracker_pins(&mut self) {
        let path = self.stores.tracker_pins_path.clone();
        let result = json_file::save(&path, &self.stores.tracker_pins);
        self.saved(&path, result).await;
    }
}
