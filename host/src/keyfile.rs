//! Identity key files: the 32-byte Ed25519 seed as `ed25519-seed:<hex>` on one
//! line, mode 0600. A key file readable by group or others is refused.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use dhchat_core::identity::IdentityKey;
use zeroize::Zeroizing;

const SEED_PREFIX: &str = "ed25519-seed:";
/// Bytes in a seed.
const SEED_LEN: usize = 32;
/// Bytes in a key file's line: the prefix, 64 hex digits and a newline.
const LINE_LEN: usize = SEED_PREFIX.len() + 2 * SEED_LEN + 1;
/// Largest key file read: the line with room for surrounding white space.
const MAX_KEY_FILE: usize = 256;

/// Reads the whole file at `path` into `buf`, returning its length, or `None`
/// when it does not fit (it is then no key file).
fn read_small(
    file: &mut fs::File,
    path: &Path,
    buf: &mut [u8],
) -> Result<Option<usize>, KeyFileError> {
    let mut len = 0;
    loop {
        let Some(free) = buf.get_mut(len..) else {
            return Ok(None);
        };
        if free.is_empty() {
            // Full: one more byte means the file is too long.
            let mut probe = [0u8; 1];
            return match file.read(&mut probe).map_err(|e| io_err(path, e))? {
                0 => Ok(Some(len)),
                _ => Ok(None),
            };
        }
        match file.read(free) {
            Ok(0) => return Ok(Some(len)),
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(path, e)),
        }
    }
}

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
    // The mode is checked on the opened file, so that it is the file read.
    let mut file = fs::File::open(path).map_err(|e| io_err(path, e))?;
    let meta = file.metadata().map_err(|e| io_err(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.display().to_string(),
            mode,
        });
    }
    let format = || KeyFileError::Format {
        path: path.display().to_string(),
    };
    // The file is read into a fixed buffer that is wiped on drop: a growing
    // `String` or `Vec` would leave unwiped copies of the seed behind each
    // reallocation.
    let mut text = Zeroizing::new([0u8; MAX_KEY_FILE]);
    let len = read_small(&mut file, path, &mut text[..])?.ok_or_else(format)?;
    let line = text.get(..len).ok_or_else(format)?;
    let line = std::str::from_utf8(line).map_err(|_| format())?;
    let hex_seed = line.trim().strip_prefix(SEED_PREFIX).ok_or_else(format)?;
    let mut seed = Zeroizing::new([0u8; 32]);
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
    // The line is built in a fixed buffer wiped on drop (no heap copy of the
    // hex seed, which `hex::encode` or `format!` would leave behind).
    let seed = key.to_seed();
    let mut line = Zeroizing::new([0u8; LINE_LEN]);
    let (prefix, rest) = line.split_at_mut(SEED_PREFIX.len());
    prefix.copy_from_slice(SEED_PREFIX.as_bytes());
    let (hex_part, newline) = rest.split_at_mut(2 * SEED_LEN);
    hex::encode_to_slice(&seed[..], hex_part).map_err(|_| {
        io_err(
            path,
            std::io::Error::other("internal error: key line buffer size"),
        )
    })?;
    newline.copy_from_slice(b"\n");
    file.write_all(&line[..]).map_err(|e| io_err(path, e))?;
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

    #[test]
    fn the_written_line_is_the_prefix_the_hex_seed_and_a_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("id");
        let key = IdentityKey::from_seed(&[0xab; 32]).expect("key");
        create(&path, &key).expect("create");
        let text = fs::read_to_string(&path).expect("read");
        assert_eq!(text, format!("ed25519-seed:{}\n", "ab".repeat(32)));
    }

    #[test]
    fn surrounding_white_space_is_allowed_and_an_oversized_file_is_not_a_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("id");
        let line = format!("ed25519-seed:{}", "cd".repeat(32));
        fs::write(&path, format!("  {line}\r\n\n")).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        let expected = IdentityKey::from_seed(&[0xcd; 32]).expect("key");
        assert_eq!(
            load(&path).expect("load").public_key(),
            expected.public_key()
        );
        // A valid line followed by enough blank space to pass the read limit.
        fs::write(&path, format!("{line}{}", " ".repeat(MAX_KEY_FILE))).expect("write");
        assert!(matches!(load(&path), Err(KeyFileError::Format { .. })));
        // Exactly at the limit still loads.
        let pad = MAX_KEY_FILE - line.len();
        fs::write(&path, format!("{line}{}", "\n".repeat(pad))).expect("write");
        assert!(load(&path).is_ok());
    }
}
