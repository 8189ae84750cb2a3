//! `members.json`: the member-list cache on disk, loaded at start and saved atomically.
//!
//! A missing file is an empty cache. A file that cannot be read or parsed is set aside as
//! `members.json.corrupt` with a warning, and the peer starts empty: never a panic.

use std::collections::BTreeMap;
use std::path::Path;

use natter_protocol::GroupName;
use serde::{Deserialize, Serialize};

use super::json_file;
use super::members::GroupList;

/// The file name inside the data directory.
pub const FILE_NAME: &str = "members.json";

/// What the file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheFile {
    /// The tracker address these lists came from.
    #[serde(default)]
    pub tracker: String,
    #[serde(default)]
    pub groups: BTreeMap<GroupName, GroupList>,
}

/// Loads the cache at `path`. Returns the cache and, when the file was unusable (set
/// aside as `members.json.corrupt`), a warning for the user.
pub fn load(path: &Path) -> (CacheFile, Option<String>) {
    let (cache, warning) = json_file::load(path);
    (cache, warning.map(|w| format!("member cache {w}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_protocol::tracker::Member;
    use std::fs;

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
                    last_seen: None,
                    status: None,
                    role: Default::default(),
                }]
                .into(),
                topic: None,
                private: false,
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
        json_file::save(&path, &sample()).expect("save");
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
