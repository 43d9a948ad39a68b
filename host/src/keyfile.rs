//! Identity key files: the 32-byte Ed25519 seed as `ed25519-seed:<hex>` on one
//! line, mode 0600. A key file readable by group or others is refused.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use dhchat_core::identity::IdentityKey;

const SEED_PREFIX: &str = "ed25519-seed:";

/// Errors loading or creating a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is readable or writable by others than its owner.
    #[error("{path}: key file permissions are {mode:o}; it must not be accessible by group or others (run: chmod 600 {path})")]
    Permissions {
        /// The file.
        path: String,
        /// Its mode bits.
        mode: u32,
    },
    /// The content is not a key.
    #[error("{path}: not a dhchat key file (expected one line \"ed25519-seed:<64 hex digits>\")")]
    Format {
        /// The file.
        path: String,
    },
    /// The file exists already (keygen does not overwrite).
    #[error("{path}: file exists; refusing to overwrite a key")]
    Exists {
        /// The file.
        path: String,
    },
}

fn io_err(path: &Path, source: std::io::Error) -> KeyFileError {
    KeyFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Loads a key file, refusing one that group or others can access.
///
/// # Errors
/// [`KeyFileError`] for I/O, permissions or format problems.
pub fn load(path: &Path) -> Result<IdentityKey, KeyFileError> {
    let meta = fs::metadata(path).map_err(|e| io_err(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.display().to_string(),
            mode,
        });
    }
    let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(|e| io_err(path, e))?);
    let format = || KeyFileError::Format {
        path: path.display().to_string(),
    };
    let hex_seed = text.trim().strip_prefix(SEED_PREFIX).ok_or_else(format)?;
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_seed, &mut seed[..]).map_err(|_| format())?;
    IdentityKey::from_seed(&seed).map_err(|_| format())
}

/// Creates a new key file (mode 0600) holding `key`; never overwrites.
///
/// # Errors
/// [`KeyFileError::Exists`] if the file exists, or an I/O error.
pub fn create(path: &Path, key: &IdentityKey) -> Result<(), KeyFileError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyFileError::Exists {
                    path: path.display().to_string(),
                }
            } else {
                io_err(path, e)
            }
        })?;
    let seed = key.to_seed();
    let line = zeroize::Zeroizing::new(format!("{SEED_PREFIX}{}\n", hex::encode(&seed[..])));
    file.write_all(line.as_bytes())
        .map_err(|e| io_err(path, e))?;
    file.sync_all().map_err(|e| io_err(path, e))
}

/// Loads the key at `path`, creating a fresh one first if there is none.
///
/// # Errors
/// As [`load`] and [`create`].
pub fn load_or_create(path: &Path) -> Result<IdentityKey, KeyFileError> {
    if !path.exists() {
        let key = IdentityKey::generate(&mut crate::rng::new_rng());
        create(path, &key)?;
    }
    load(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_loads_back_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("id");
        let key = load_or_create(&path).expect("create");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&path).expect("load").public_key(), key.public_key());
        assert!(matches!(
            create(&path, &key),
            Err(KeyFileError::Exists { .. })
        ));
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("id");
        load_or_create(&path).expect("create");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            load(&path),
            Err(KeyFileError::Permissions { mode: 0o644, .. })
        ));
    }

    #[test]
    fn garbage_is_not_a_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("id");
        fs::write(&path, "hello").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(matches!(load(&path), Err(KeyFileError::Format { .. })));
    }
}
