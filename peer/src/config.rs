//! The config file, `config.toml` in natter's directory of the user's config directory
//! (`$XDG_CONFIG_HOME/natter/config.toml`, by default `~/.config/natter/config.toml`), or
//! the file `--config PATH` names. It holds the settings a user gives every time:
//!
//! ```toml
//! name = "alice"
//! tracker = "192.168.1.20:7700"
//! tracker_key = "KEY"
//! receipts = true
//! typing_notices = true
//! notify = "auto"
//! ```
//!
//! Every key is optional. What wins: the command line, then the environment (`NATTER_*`,
//! read by clap along with the command line), then this file, then the default
//! ([`choose`]). A file that is not valid TOML, or holds an unknown key or a bad value, is
//! an error naming the file and the line: a typo silently ignored would be worse.

use std::path::{Path, PathBuf};

use natter_protocol::{Name, PublicKey};

use crate::tui::notify::NotifyMode;
use serde::Deserialize;

/// The file's name inside natter's config directory.
pub const FILE_NAME: &str = "config.toml";

/// What the config file says; `None` for what it leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub name: Option<Name>,
    #[serde(default, deserialize_with = "host_port")]
    pub tracker: Option<String>,
    pub tracker_key: Option<PublicKey>,
    pub receipts: Option<bool>,
    pub typing_notices: Option<bool>,
    /// How private messages and mentions get attention (`--notify`).
    pub notify: Option<NotifyMode>,
}

/// What the command line and the environment gave (clap merges those two); `None` for
/// what neither gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Given {
    pub name: Option<Name>,
    pub tracker: Option<String>,
    pub tracker_key: Option<PublicKey>,
    /// `Some(false)` for `--no-receipts`.
    pub receipts: Option<bool>,
    /// `Some(false)` for `--no-typing-notices`.
    pub typing_notices: Option<bool>,
    pub notify: Option<NotifyMode>,
}

/// The settings in force: what was given, else what the file says, else the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Still `None` when nobody gave one: the binary asks for it, or stops.
    pub name: Option<Name>,
    /// `None`: the default tracker (which depends on whether this process hosts it).
    pub tracker: Option<String>,
    pub tracker_key: Option<PublicKey>,
    pub receipts: bool,
    pub typing_notices: bool,
    pub notify: Option<NotifyMode>,
}

/// Applies the precedence: given (command line, then environment) > file > default.
pub fn choose(given: Given, file: FileConfig) -> Settings {
    Settings {
        name: given.name.or(file.name),
        tracker: given.tracker.or(file.tracker),
        tracker_key: given.tracker_key.or(file.tracker_key),
        receipts: given.receipts.or(file.receipts).unwrap_or(true),
        typing_notices: given.typing_notices.or(file.typing_notices).unwrap_or(true),
        notify: given.notify.or(file.notify),
    }
}

/// Why the config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {why}")]
    Invalid { path: PathBuf, why: String },
}

/// The default config file: `natter/config.toml` in the user's config directory (which
/// honours `XDG_CONFIG_HOME`); `None` where the system has none.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("natter").join(FILE_NAME))
}

/// Reads the config file at `path`. A missing file is an empty config when it is the
/// default one, and an error when the user named it (`named`).
pub fn load(path: &Path, named: bool) -> Result<FileConfig, ConfigError> {
    let text = match read_bounded(path) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                why: format!("it is larger than {MAX_FILE} bytes (a config file is a few lines)"),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => {
            return Ok(FileConfig::default());
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse(&text).map_err(|why| ConfigError::Invalid {
        path: path.to_owned(),
        why,
    })
}

/// The largest config file read, in bytes: more is refused rather than read whole
/// (`--config /dev/zero` would never end).
pub const MAX_FILE: u64 = 1024 * 1024;

/// The file's text; `None` when it holds more than [`MAX_FILE`] bytes.
fn read_bounded(path: &Path) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE + 1)
        .read_to_string(&mut text)?;
    Ok((u64::try_from(text.len()).unwrap_or(u64::MAX) <= MAX_FILE).then_some(text))
}

/// Parses the text of a config file; the error names the line (and column) at fault.
pub fn parse(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| {
        let place = e
            .span()
            .map(|span| line_and_column(text, span.start))
            .map(|(line, column)| format!("line {line}, column {column}: "))
            .unwrap_or_default();
        format!("{place}{}", e.message().trim_end())
    })
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[start..].chars().count() + 1;
    (line, column)
}

/// A tracker address must be `HOST:PORT`, as on the command line.
fn host_port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    crate::invite::check_host_port(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        natter_protocol::Identity::from_secrets(&[n; 32], &[2; 32]).public_key()
    }

    fn name(s: &str) -> Name {
        s.parse().expect("name")
    }

    #[test]
    fn every_key_is_read() {
        let k = key(1);
        let text = format!(
            "# mine\nname = \"alice\"\ntracker = \"10.0.0.2:7700\"\ntracker_key = \"{k}\"\n\
             receipts = false\ntyping_notices = false\nnotify = \"osc9\"\n"
        );
        assert_eq!(
            parse(&text),
            Ok(FileConfig {
                name: Some(name("alice")),
                tracker: Some("10.0.0.2:7700".into()),
                tracker_key: Some(k),
                receipts: Some(false),
                typing_notices: Some(false),
                notify: Some(NotifyMode::Osc9),
            })
        );
        assert_eq!(parse(""), Ok(FileConfig::default()));
    }

    #[test]
    fn a_bad_file_names_the_line() {
        for (text, line, says) in [
            ("name = \"alice\"\nnmae = \"bob\"\n", 2, "unknown field"),
            ("name = \"alice\"\n\nname = \"bob\"\n", 3, "duplicate"),
            ("receipts = \"yes\"\n", 1, "bool"),
            ("\nname = \"bad name!\"\n", 2, "is not allowed in a name"),
            ("tracker = \"nowhere\"\n", 1, "HOST:PORT"),
            ("tracker_key = \"abc\"\n", 1, ""),
            ("name = alice\n", 1, ""),
        ] {
            let err = parse(text).expect_err(text);
            assert!(
                err.starts_with(&format!("line {line}, ")),
                "{text:?}: {err}"
            );
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_command_line_and_environment_win_over_the_file() {
        let file = FileConfig {
            name: Some(name("file")),
            tracker: Some("file:1".into()),
            tracker_key: Some(key(1)),
            receipts: Some(false),
            typing_notices: Some(false),
            notify: Some(NotifyMode::Bell),
        };
        let given = Given {
            name: Some(name("given")),
            tracker: Some("given:2".into()),
            tracker_key: Some(key(2)),
            receipts: None,
            typing_notices: Some(false),
            notify: Some(NotifyMode::Off),
        };
        let chosen = choose(given, file.clone());
        assert_eq!(chosen.name, Some(name("given")));
        assert_eq!(chosen.tracker.as_deref(), Some("given:2"));
        assert_eq!(chosen.tracker_key, Some(key(2)));
        // Not given: the file's word.
        assert!(!chosen.receipts);
        assert!(!chosen.typing_notices);
        assert_eq!(chosen.notify, Some(NotifyMode::Off));
        // Nothing given: the file, whole.
        let chosen = choose(Given::default(), file);
        assert_eq!(chosen.name, Some(name("file")));
        assert_eq!(chosen.tracker.as_deref(), Some("file:1"));
        assert_eq!(chosen.tracker_key, Some(key(1)));
        assert_eq!(chosen.notify, Some(NotifyMode::Bell));
    }

    #[test]
    fn without_either_the_defaults_hold() {
        let chosen = choose(Given::default(), FileConfig::default());
        assert_eq!(
            chosen,
            Settings {
                name: None,
                tracker: None,
                tracker_key: None,
                receipts: true,
                typing_notices: true,
                notify: None,
            }
        );
    }

    #[test]
    fn a_huge_file_is_refused_without_being_read_whole() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("config.toml");
        let size = usize::try_from(MAX_FILE).expect("size");
        // A valid file (comments), one byte too long.
        let mut text = "# x\n".repeat(size / 4);
        text.push_str("name = \"alice\"\n");
        std::fs::write(&path, &text[text.len() - size - 1..]).expect("write");
        let err = load(&path, true).expect_err("too large").to_string();
        assert!(
            err.contains("config.toml") && err.contains("larger"),
            "{err}"
        );
        // At the limit it is read.
        std::fs::write(&path, &text[text.len() - size..]).expect("write");
        assert_eq!(load(&path, true).expect("read").name, Some(name("alice")));
        // Something endless is refused too.
        let err = load(Path::new("/dev/zero"), true).expect_err("endless");
        assert!(err.to_string().contains("larger"), "{err}");
    }

    #[test]
    fn a_missing_file_is_empty_unless_named() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("config.toml");
        assert_eq!(load(&path, false).ok(), Some(FileConfig::default()));
        let err = load(&path, true).expect_err("named");
        assert!(err.to_string().contains("config.toml"), "{err}");
        std::fs::write(&path, "name = 1\n").expect("write");
        let err = load(&path, false).expect_err("bad").to_string();
        assert!(
            err.contains("config.toml") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn the_default_file_is_natters_in_the_config_dir() {
        if let Some(path) = default_path() {
            assert!(path.ends_with("natter/config.toml"), "{}", path.display());
        }
    }
}
