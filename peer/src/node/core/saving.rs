//! When each data file is written, and which ones could not be.
//!
//! Files that change in bursts are written at most once per interval: the member cache
//! and the pinned keys (a join in a big group reaches every member at once; a reconnect
//! brings every snapshot) every `members_every`. Blocks and tracker pins, which change rarely, are written at once. Every
//! write hands over one snapshot, so the writer's queue never grows with the burst. A file
//! that cannot be saved is reported once, and again only after a save of it succeeded.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// The peer's data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataFile {
    Members,
    PeerPins,
    Blocked,
    TrackerPins,
}

#[derive(Debug)]
pub struct Saves {
    members_every: Duration,
    /// When each changed file is next written.
    due: HashMap<DataFile, Instant>,
    /// When each file was last handed to the writer.
    last: HashMap<DataFile, Instant>,
    /// Files whose last save failed (reported once).
    unsaved: HashSet<DataFile>,
}

impl Saves {
    /// `now`: the start, which counts as a save (the files were just loaded).
    pub fn new(members_every: Duration, now: Instant) -> Self {
        let last = [DataFile::Members, DataFile::PeerPins]
            .into_iter()
            .map(|f| (f, now))
            .collect();
        Self {
            members_every,
            due: HashMap::new(),
            last,
            unsaved: HashSet::new(),
        }
    }

    fn every(&self, file: DataFile) -> Duration {
        match file {
            // Pins come in bursts too: every member of a list joined at once is pinned.
            DataFile::Members | DataFile::PeerPins => self.members_every,
            DataFile::Blocked | DataFile::TrackerPins => Duration::ZERO,
        }
    }

    /// `file` changed: schedule its write, no sooner than its interval after the last one.
    pub fn changed(&mut self, file: DataFile, now: Instant) {
        let earliest = self.last.get(&file).map(|t| *t + self.every(file));
        let at = earliest.map_or(now, |t| t.max(now));
        self.due.entry(file).or_insert(at);
    }

    /// The files to write now (all changed ones when `all`, at quit), in a fixed order.
    pub fn due(&mut self, now: Instant, all: bool) -> Vec<DataFile> {
        let mut files: Vec<DataFile> = self
            .due
            .iter()
            .filter(|(_, at)| all || **at <= now)
            .map(|(f, _)| *f)
            .collect();
        files.sort();
        for f in &files {
            self.due.remove(f);
            self.last.insert(*f, now);
        }
        files
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    /// The writer's answer. Returns the message to show, the first time a file fails.
    pub fn saved(&mut self, file: DataFile, result: Result<(), String>) -> Option<String> {
        match result {
            Ok(()) => {
                self.unsaved.remove(&file);
                None
            }
            Err(message) => self
                .unsaved
                .insert(file)
                .then(|| format!("{message} (changes are kept in memory only)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_are_written_once_per_interval() {
        let t0 = Instant::now();
        let every = Duration::from_millis(500);
        let mut saves = Saves::new(every, t0);
        saves.changed(DataFile::Members, t0 + Duration::from_millis(100));
        saves.changed(DataFile::Members, t0 + Duration::from_millis(200));
        assert_eq!(saves.next_due(), Some(t0 + every));
        assert!(saves.due(t0 + Duration::from_millis(499), false).is_empty());
        assert_eq!(saves.due(t0 + every, false), vec![DataFile::Members]);
        assert_eq!(saves.next_due(), None);
        // Long quiet: the next change is written at once.
        let later = t0 + Duration::from_secs(10);
        saves.changed(DataFile::Members, later);
        assert_eq!(saves.next_due(), Some(later));
        // Pins have no interval; at quit everything goes.
        saves.changed(DataFile::TrackerPins, later);
        saves.changed(DataFile::Blocked, later);
        assert_eq!(saves.due(later, true).len(), 3);
    }

    #[test]
    fn a_failing_file_is_reported_once_until_it_works_again() {
        let mut saves = Saves::new(Duration::ZERO, Instant::now());
        let fail = || Err("cannot save x: denied".to_owned());
        assert!(saves.saved(DataFile::Members, fail()).is_some());
        assert!(saves.saved(DataFile::Members, fail()).is_none());
        assert!(saves.saved(DataFile::Members, Ok(())).is_none());
        assert!(saves.saved(DataFile::Members, fail()).is_some());
    }
}
