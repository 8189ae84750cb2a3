//! JSON files in the data directory (member cache, pins, blocked keys):
//! loaded at start, written atomically (a uniquely named temp file, fsync, rename), each
//! readable by its owner only (mode 0600).
//!
//! A missing file is the default value. [`load`] (the member cache) sets a
//! file that cannot be read or parsed aside as `NAME.corrupt` and uses the default, with
//! a warning for the user. [`load_strict`] (pinned and blocked keys: starting empty would
//! silently forget who is trusted or blocked) refuses instead. Never a panic.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use natter_protocol::files;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A larger file is not read: none of ours grows this big (the member cache of many large
/// groups is the largest, at roughly 200 bytes a member).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// Loads `path`. Returns the value and, when the file was unusable, a warning.
pub fn load<T: DeserializeOwned + Default>(path: &Path) -> (T, Option<String>) {
    match read(path) {
        Ok(Some(value)) => (value, None),
        Ok(None) => (T::default(), None),
        Err(reason) => {
            let aside = aside_path(path);
            let kept = match fs::rename(path, &aside) {
                Ok(()) => format!("; the old file is kept as {}", aside.display()),
                Err(_) => String::new(),
            };
            let warning = format!(
                "{} is unusable ({reason}); starting empty{kept}",
                path.display()
            );
            (T::default(), Some(warning))
        }
    }
}

/// Loads `path`, refusing a file that exists but cannot be used: the error names the
/// file and says to fix or remove it.
pub fn load_strict<T: DeserializeOwned + Default>(path: &Path) -> Result<T, String> {
    match read(path) {
        Ok(value) => Ok(value.unwrap_or_default()),
        Err(reason) => Err(format!(
            "{} is unusable ({reason}); fix it or remove it (removing it forgets what it held)",
            path.display()
        )),
    }
}

fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("{} bytes is too large", meta.len()));
    }
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| e.to_string())
}

fn aside_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".corrupt");
    path.with_file_name(name)
}

/// Writes `value` to `path` atomically and readable by its owner only (see
/// [`natter_protocol::files`]).
pub fn save<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    files::write_atomic_private(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn round_trips_missing_is_default_and_corrupt_is_set_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.json");
        let (empty, warning) = load::<BTreeMap<String, u64>>(&path);
        assert!(empty.is_empty() && warning.is_none());
        let value = BTreeMap::from([("a".to_owned(), 1u64)]);
        save(&path, &value).expect("save");
        assert_eq!(load(&path), (value, None));
        fs::write(&path, b"{nope").expect("write");
        let (empty, warning) = load::<BTreeMap<String, u64>>(&path);
        assert!(empty.is_empty());
        assert!(warning.expect("warning").contains("unusable"));
        assert!(dir.path().join("x.json.corrupt").exists());
    }

    #[test]
    fn strict_loading_refuses_an_unusable_file_and_leaves_it_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        assert_eq!(
            load_strict::<BTreeMap<String, u64>>(&path),
            Ok(BTreeMap::new())
        );
        fs::write(&path, b"{nope").expect("write");
        let err = load_strict::<BTreeMap<String, u64>>(&path).expect_err("refused");
        assert!(
            err.contains("keys.json") && err.contains("fix it or remove it"),
            "{err}"
        );
        assert_eq!(fs::read(&path).expect("kept"), b"{nope");
    }

    #[cfg(unix)]
    #[test]
    fn saved_files_are_private_and_leave_no_temp_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.json");
        save(&path, &1u64).expect("save");
        save(&path, &2u64).expect("save again");
        let mode = fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.json")]);
        assert_eq!(load::<u64>(&path), (2, None));
    }
}
