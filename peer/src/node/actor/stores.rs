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
    /// A file that could not be used (set aside, started empty).
    pub warnings: Vec<String>,
}

impl Stores {
    pub fn load(dir: &Path) -> Self {
        let mut warnings = Vec::new();
        let (pins, pins_path) = load(dir, PEER_PINS_FILE, &mut warnings);
        let (blocked, blocked_path) = load(dir, BLOCKED_FILE, &mut warnings);
        let (seen, seen_path) = load(dir, replay::FILE_NAME, &mut warnings);
        let (tracker_pins, tracker_pins_path) = load(dir, TRACKER_PINS_FILE, &mut warnings);
        Self {
            trust: Trust::new(pins, blocked, ReplayGuard::from_file(seen)),
            tracker_pins,
            tracker_pins_path,
            pins_path,
            blocked_path,
            seen_path,
            warnings,
        }
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

fn save_or_warn<T: serde::Serialize>(path: &Path, value: &T) {
    if let Err(e) = json_file::save(path, value) {
        tracing::warn!(path = %path.display(), error = %e, "cannot save");
    }
}

impl Actor {
    /// Saves whatever trust file changed; `seen.json` only every [`SEEN_SAVE_EVERY`]
    /// unless `now`.
    pub(super) fn save_trust(&mut self, now: bool) {
        if let Some(pins) = self.trust.take_dirty_pins() {
            save_or_warn(&self.stores.pins_path, pins);
        }
        if let Some(blocked) = self.trust.take_dirty_blocked() {
            save_or_warn(&self.stores.blocked_path, blocked);
        }
        if now || self.last_seen_save.elapsed() >= SEEN_SAVE_EVERY {
            self.last_seen_save = Instant::now();
            if let Some(seen) = self.trust.take_dirty_seen() {
                save_or_warn(&self.stores.seen_path, &seen);
            }
        }
    }

    pub(super) fn save_tracker_pins(&self) {
        save_or_warn(&self.stores.tracker_pins_path, &self.stores.tracker_pins);
    }
}
