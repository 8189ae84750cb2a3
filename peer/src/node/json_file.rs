//! JSON files in the data directory (member cache, pins, blocked keys, seen sequences):
//! loaded leniently at start, written atomically (temp file, fsync, rename).
//!
//! A missing file is the default value. A file that cannot be read or parsed is set aside
//! as `NAME.corrupt` and the default is used, with a warning for the user: never a panic.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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

/// Writes `value` to `path` atomically: a temporary file beside it, fsync, rename.
pub fn save<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(dir) = fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
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
}
