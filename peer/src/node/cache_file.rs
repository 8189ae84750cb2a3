//! `members.json`: the member-list cache on disk, loaded at start and saved atomically.
//!
//! A missing file is an empty cache. A file that cannot be read or parsed is set aside as
//! `members.json.corrupt` with a warning, and the peer starts empty: never a panic.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use natter_protocol::GroupName;
use serde::{Deserialize, Serialize};

use super::members::GroupList;

/// The file name inside the data directory.
pub const FILE_NAME: &str = "members.json";

/// A larger cache file is not read (it cannot be ours).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// What the file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheFile {
    /// The tracker address these lists came from.
    #[serde(default)]
    pub tracker: String,
    #[serde(default)]
    pub groups: BTreeMap<GroupName, GroupList>,
}

/// Loads the cache at `path`. Returns the cache and, when the file was unusable, a warning
/// for the user.
pub fn load(path: &Path) -> (CacheFile, Option<String>) {
    match read(path) {
        Ok(Some(file)) => (file, None),
        Ok(None) => (CacheFile::default(), None),
        Err(reason) => {
            let aside = aside_path(path);
            let kept = match fs::rename(path, &aside) {
                Ok(()) => format!("; the old file is kept as {}", aside.display()),
                Err(_) => String::new(),
            };
            let warning = format!(
                "member cache {} is unusable ({reason}); starting with an empty cache{kept}",
                path.display()
            );
            (CacheFile::default(), Some(warning))
        }
    }
}

fn read(path: &Path) -> Result<Option<CacheFile>, String> {
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

/// Writes the cache atomically: a temporary file beside it, fsync, then rename over it.
pub fn save(path: &Path, cache: &CacheFile) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(cache).map_err(io::Error::other)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    // Make the rename itself durable (best effort: not every platform opens directories).
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
    use natter_protocol::tracker::Member;

    fn sample() -> CacheFile {
        let mut groups = BTreeMap::new();
        groups.insert(
            "rust".parse().expect("group"),
            GroupList {
                version: 7,
                members: vec![Member {
                    name: "bob".parse().expect("name"),
                    addr: "127.0.0.1:4000".parse().expect("addr"),
                    online: true,
                    key: natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key(),
                }],
            },
        );
        CacheFile {
            tracker: "127.0.0.1:7700".into(),
            groups,
        }
    }

    #[test]
    fn round_trips_and_missing_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        assert_eq!(load(&path), (CacheFile::default(), None));
        save(&path, &sample()).expect("save");
        assert_eq!(load(&path), (sample(), None));
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
        assert_eq!(json["groups"]["rust"]["members"][0]["name"], "bob");
        assert_eq!(json["tracker"], "127.0.0.1:7700");
    }

    #[test]
    fn corrupt_file_warns_and_starts_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        for junk in [
            &b"{not json"[..],
            br#"{"groups":{"bad name":{}}}"#,
            b"\xff\xfe",
        ] {
            fs::write(&path, junk).expect("write");
            let (cache, warning) = load(&path);
            assert_eq!(cache, CacheFile::default());
            assert!(warning.expect("a warning").contains("unusable"));
            assert!(dir.path().join("members.json.corrupt").exists());
        }
    }
}
