//! The authorized-keys list: which client identity keys are admitted.
//!
//! Format: one key per line, `ed25519:<base64> optional comment`; blank lines
//! and lines starting with `#` are ignored. A bad line is an error naming its
//! line number.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use dhchat_core::handshake::ClientPolicy;
use dhchat_core::identity::PublicKey;

/// A parsed list of authorized keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyList {
    keys: HashSet<[u8; 32]>,
}

impl KeyList {
    /// Parses the text of an authorized-keys file.
    ///
    /// # Errors
    /// The first bad line, with its number.
    pub fn parse(text: &str) -> Result<KeyList, String> {
        let mut keys = HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let word = line.split_whitespace().next().unwrap_or("");
            let key: PublicKey = word.parse().map_err(|e| {
                format!(
                    "line {}: not a key ({e}); expected \"ed25519:... comment\"",
                    i + 1
                )
            })?;
            keys.insert(key.to_bytes());
        }
        Ok(KeyList { keys })
    }

    /// Reads and parses a file.
    ///
    /// # Errors
    /// I/O errors and bad lines, naming the file.
    pub fn load(path: &Path) -> Result<KeyList, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether `key` is listed.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.keys.contains(&key.to_bytes())
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The admission policy shared by all handshakes: everyone (no file), or the
/// keys of the current list (replaced on reload). Sessions watch it
/// ([`Admission::subscribe`]) to end when their key is taken off the list.
#[derive(Debug, Clone)]
pub struct Admission {
    path: Option<PathBuf>,
    list: Arc<RwLock<Arc<KeyList>>>,
    reloads: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Admission {
    /// Loads the list at `path` if any.
    ///
    /// # Errors
    /// As [`KeyList::load`].
    pub fn new(path: Option<PathBuf>) -> Result<Admission, String> {
        let list = match &path {
            Some(p) => KeyList::load(p)?,
            None => KeyList::default(),
        };
        Ok(Admission {
            path,
            list: Arc::new(RwLock::new(Arc::new(list))),
            reloads: Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }

    /// Whether a list is in force.
    pub fn restricted(&self) -> bool {
        self.path.is_some()
    }

    /// Number of keys in the current list.
    pub fn key_count(&self) -> usize {
        self.current().len()
    }

    fn current(&self) -> Arc<KeyList> {
        match self.list.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the file; on error the old list stays and the error is
    /// returned. Returns the number of keys now listed.
    ///
    /// # Errors
    /// As [`KeyList::load`].
    pub fn reload(&self) -> Result<usize, String> {
        let Some(path) = &self.path else { return Ok(0) };
        let list = KeyList::load(path)?;
        let n = list.len();
        match self.list.write() {
            Ok(mut g) => *g = Arc::new(list),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(list),
        }
        self.reloads.send_modify(|n| *n += 1);
        Ok(n)
    }

    /// Whether a session with `key` (`None`: anonymous) may stay: always
    /// without a list, else if its key is listed now.
    pub fn admits(&self, key: Option<&PublicKey>) -> bool {
        match key {
            _ if !self.restricted() => true,
            Some(k) => self.current().contains(k),
            None => false,
        }
    }

    /// Waits until a reload leaves `key` off the list (never returns while
    /// no list is in force or the key stays listed).
    pub async fn revoked(&self, key: Option<&PublicKey>) {
        // Subscribed before the first look, so no reload falls in between.
        let mut rx = self.reloads.subscribe();
        while self.admits(key) {
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// A policy value for one handshake.
    pub fn policy(&self) -> Policy {
        Policy {
            list: if self.restricted() {
                Some(self.current())
            } else {
                None
            },
        }
    }
}

/// One handshake's view of the admission rules.
#[derive(Debug, Clone)]
pub struct Policy {
    list: Option<Arc<KeyList>>,
}

impl ClientPolicy for Policy {
    fn admit(&mut self, key: Option<&PublicKey>) -> bool {
        match (&self.list, key) {
            (None, _) => true,
            (Some(list), Some(key)) => list.contains(key),
            (Some(_), None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_comments_and_blank_lines() {
        let key = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let text = format!("# team\n\n{key} alice@laptop\n  {key}\n");
        let list = KeyList::parse(&text).expect("parse");
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = KeyList::parse("# ok\nnot-a-key\n").expect_err("bad");
        assert!(err.starts_with("line 2:"), "{err}");
    }
}
