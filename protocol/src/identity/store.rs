//! The identity key file: JSON holding the two secret keys, readable by its owner only,
//! written atomically (a 0600 temp file in the same directory, fsync, rename).
//!
//! Loading refuses, with an error that names the file, anything that is not a key file
//! this version wrote: unreadable JSON, wrong lengths, a public key that does not match
//! the secret, and (on Unix) a file that group or others may read.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Identity, PublicKey};

/// The key file format written and read by this version.
const FILE_VERSION: u32 = 1;

/// A key file is a few hundred bytes; anything much larger is not one.
const MAX_FILE_BYTES: u64 = 16 * 1024;

/// Why an identity could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("identity file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "identity file {path} may be read by other users (mode {mode:o}); \
         run `chmod 600 {path}` if it is yours, or remove it to start a new identity"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "identity file {path} is damaged ({reason}); restore it from a backup or remove it to start a new identity"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("the operating system gave no randomness for a new key: {0}")]
    Random(getrandom::Error),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    /// For people reading the file; checked against the secret on load.
    public_key: PublicKey,
    ed25519_secret: Zeroizing<String>,
    x25519_secret: Zeroizing<String>,
}

pub(super) fn load_or_create(path: &Path) -> Result<(Identity, bool), IdentityError> {
    match load(path) {
        Ok(identity) => Ok((identity, false)),
        Err(IdentityError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            let identity = Identity::generate()?;
            save(&identity, path)?;
            Ok((identity, true))
        }
        Err(e) => Err(e),
    }
}

pub(super) fn load(path: &Path) -> Result<Identity, IdentityError> {
    let io_err = |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    };
    let corrupt = |reason: String| IdentityError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let file = File::open(path).map_err(io_err)?;
    check_private(path, &file)?;
    let mut text = Zeroizing::new(Vec::new());
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(io_err)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(corrupt(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    let parsed: KeyFile = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
    if parsed.version != FILE_VERSION {
        return Err(corrupt(format!(
            "format version {} (this program reads version {FILE_VERSION})",
            parsed.version
        )));
    }
    let signing = decode_secret(&parsed.ed25519_secret)
        .ok_or_else(|| corrupt("bad ed25519_secret".into()))?;
    let noise =
        decode_secret(&parsed.x25519_secret).ok_or_else(|| corrupt("bad x25519_secret".into()))?;
    let identity = Identity::from_secrets(&signing, &noise);
    if identity.public_key() != parsed.public_key {
        return Err(corrupt("public_key does not match ed25519_secret".into()));
    }
    Ok(identity)
}

fn decode_secret(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    if text.len() > 64 {
        return None;
    }
    let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(text).ok()?);
    let mut out = Zeroizing::new([0u8; 32]);
    if bytes.len() != out.len() {
        return None;
    }
    out.copy_from_slice(&bytes);
    Some(out)
}

#[cfg(unix)]
fn check_private(path: &Path, file: &File) -> Result<(), IdentityError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = file.metadata().map_err(|source| IdentityError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _file: &File) -> Result<(), IdentityError> {
    Ok(())
}

pub(super) fn save(identity: &Identity, path: &Path) -> Result<(), IdentityError> {
    let io_err = |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    };
    let contents = KeyFile {
        version: FILE_VERSION,
        public_key: identity.public_key(),
        ed25519_secret: Zeroizing::new(URL_SAFE_NO_PAD.encode(*identity.signing_secret())),
        x25519_secret: Zeroizing::new(URL_SAFE_NO_PAD.encode(identity.noise_secret())),
    };
    let mut json =
        Zeroizing::new(serde_json::to_vec_pretty(&contents).map_err(|e| io_err(e.into()))?);
    json.push(b'\n');
    crate::files::write_atomic_private(path, &json).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn creates_then_loads_the_same_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("identity.json");
        let (first, created) = Identity::load_or_create(&path).expect("create");
        assert!(created);
        let (second, created) = Identity::load_or_create(&path).expect("load");
        assert!(!created);
        assert_eq!(first.public_key(), second.public_key());
        assert_eq!(first.noise_public(), second.noise_public());
        // Only the key file is left behind, no temp files.
        let names: Vec<_> = fs::read_dir(path.parent().expect("dir"))
            .expect("read dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("identity.json")]);
    }

    #[cfg(unix)]
    #[test]
    fn file_is_owner_only_and_others_readable_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("id.json");
        Identity::load_or_create(&path).expect("create");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = Identity::load_or_create(&path).expect_err("must refuse");
        assert!(
            matches!(err, IdentityError::Permissions { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn corrupt_files_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("id.json");
        let good = Identity::from_secrets(&[1; 32], &[2; 32]);
        good.save(&path).expect("save");
        let text = fs::read_to_string(&path).expect("read");
        let other = Identity::from_secrets(&[3; 32], &[2; 32])
            .public_key()
            .to_string();
        let cases = [
            String::new(),
            "not json".into(),
            "{}".into(),
            text.replace("\"version\": 1", "\"version\": 9"),
            text.replace(&good.public_key().to_string(), &other),
            text.replace("\"ed25519_secret\": \"", "\"ed25519_secret\": \"AA"),
            text.replace("}", ", \"extra\": 1}"),
            "x".repeat(MAX_FILE_BYTES as usize + 10),
        ];
        for (i, case) in cases.iter().enumerate() {
            crate::files::write_atomic_private(&dir.path().join(format!("c{i}")), case.as_bytes())
                .expect("write");
            let err =
                Identity::load_or_create(&dir.path().join(format!("c{i}"))).expect_err("corrupt");
            assert!(
                matches!(err, IdentityError::Corrupt { .. }),
                "case {i}: {err}"
            );
            assert!(err.to_string().contains(&format!("c{i}")), "names the file");
        }
        // The good file still loads.
        assert_eq!(
            Identity::load(&path).expect("load").public_key(),
            good.public_key()
        );
    }

    #[test]
    fn missing_file_is_not_found_for_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Identity::load(&dir.path().join("none")).expect_err("missing");
        assert!(
            matches!(err, IdentityError::Io { ref source, .. } if source.kind() == io::ErrorKind::NotFound)
        );
    }
}
