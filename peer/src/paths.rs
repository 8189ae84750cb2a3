//! Where the peer keeps its files: the data directory (keys, caches, a hosted tracker's
//! state) and the directory of the TUI's logs.

use std::path::PathBuf;

/// The directories one peer uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places {
    /// Keys, member cache, trust files, a hosted tracker's state.
    pub data: PathBuf,
    /// The TUI's rotated log files.
    pub logs: PathBuf,
}

/// The name of the log directory inside its parent.
const LOGS: &str = "logs";

impl Places {
    /// The directories of the peer `name`: inside `data_dir` when it is given (everything
    /// of one instance in one place, as a second profile or a test wants), else
    /// `natter/NAME` in the user's data directory, with the logs in the user's state
    /// directory (XDG: `~/.local/state`), or beside the data where the system has no
    /// state directory (macOS, Windows). `None` when no data directory can be found.
    pub fn new(name: &str, data_dir: Option<PathBuf>) -> Option<Places> {
        Self::choose(name, data_dir, dirs::data_dir(), dirs::state_dir())
    }

    /// [`Places::new`] given the user's data and state directories.
    fn choose(
        name: &str,
        data_dir: Option<PathBuf>,
        user_data: Option<PathBuf>,
        user_state: Option<PathBuf>,
    ) -> Option<Places> {
        if let Some(data) = data_dir {
            let logs = data.join(LOGS);
            return Some(Places { data, logs });
        }
        let data = user_data?.join("natter").join(name);
        let logs = match user_state {
            Some(state) => state.join("natter").join(name).join(LOGS),
            None => data.join(LOGS),
        };
        Some(Places { data, logs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn a_given_data_dir_holds_the_logs_too() {
        let places = Places::choose("alice", Some(p("/d")), Some(p("/u")), Some(p("/s")));
        assert_eq!(
            places,
            Some(Places {
                data: p("/d"),
                logs: p("/d/logs"),
            })
        );
    }

    #[test]
    fn logs_go_to_the_state_dir_where_there_is_one() {
        let places = Places::choose("alice", None, Some(p("/u")), Some(p("/s")));
        assert_eq!(
            places,
            Some(Places {
                data: p("/u/natter/alice"),
                logs: p("/s/natter/alice/logs"),
            })
        );
    }

    #[test]
    fn without_a_state_dir_logs_go_beside_the_data() {
        let places = Places::choose("bob", None, Some(p("/u")), None);
        assert_eq!(
            places,
            Some(Places {
                data: p("/u/natter/bob"),
                logs: p("/u/natter/bob/logs"),
            })
        );
    }

    #[test]
    fn no_data_dir_at_all_is_none() {
        assert_eq!(Places::choose("bob", None, None, Some(p("/s"))), None);
    }
}
