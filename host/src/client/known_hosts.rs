//! The known-hosts file: which identity key each server (`HOST:PORT`) has
//! presented before, as in SSH.
//!
//! One entry a line, `HOST:PORT ed25519:...` (`[ADDR]:PORT` for IPv6), blank
//! lines and lines starting with `#` ignored. A malformed line is an error,
//! never skipped: skipping it could turn a recorded key into an unknown one.
//! New entries are appended (the file is opened in append mode, so a line is
//! written in one piece).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use dhchat_core::identity::PublicKey;

/// One recorded server key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Line number in the file, from 1.
    pub line: usize,
    /// `HOST:PORT` as written.
    pub host: String,
    /// The key.
    pub key: PublicKey,
}

/// What the file says about a server's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// No line for this host.
    Unknown,
    /// A line for this host holds this key.
    Match,
    /// The host has lines, none with this key; the first one.
    Mismatch(Entry),
}

/// A loaded known-hosts file.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    /// Where it is.
    pub path: PathBuf,
    /// Its entries, in order.
    pub entries: Vec<Entry>,
}

/// The file's default place: `dhchat/known_hosts` in the user's
/// configuration directory.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("dhchat").join("known_hosts"))
}

/// The host part of a known-hosts line for `host` and `port`: `host:port`,
/// or `[host]:port` when `host` is an IPv6 address.
pub fn host_entry(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Parses the text of a known-hosts file.
///
/// # Errors
/// A sentence naming the first malformed line.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(host), Some(key), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!(
                "line {} is not of the form \"HOST:PORT ed25519:...\"",
                i + 1
            ));
        };
        let key: PublicKey = key
            .parse()
            .map_err(|e| format!("line {} holds an invalid key: {e}", i + 1))?;
        entries.push(Entry {
            line: i + 1,
            host: host.to_string(),
            key,
        });
    }
    Ok(entries)
}

impl KnownHosts {
    /// Loads the file; a missing file has no entries.
    ///
    /// # Errors
    /// A sentence for an unreadable or malformed file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(format!(
                    "cannot read the known-hosts file {}: {e}",
                    path.display()
                ))
            }
        };
        let entries = parse(&text)
            .map_err(|e| format!("the known-hosts file {} is malformed: {e}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// What the file says about `key` for `host` (a [`host_entry`]).
    /// Hosts compare ASCII-case-insensitively.
    pub fn lookup(&self, host: &str, key: &PublicKey) -> Lookup {
        let mut first = None;
        for e in self
            .entries
            .iter()
            .filter(|e| e.host.eq_ignore_ascii_case(host))
        {
            if e.key == *key {
                return Lookup::Match;
            }
            first.get_or_insert(e);
        }
        first.map_or(Lookup::Unknown, |e| Lookup::Mismatch(e.clone()))
    }
}

/// Appends the line `host key` to the file at `path`, creating the file and
/// its directory when needed.
///
/// # Errors
/// A sentence for an I/O failure.
pub fn append(path: &Path, host: &str, key: &PublicKey) -> Result<(), String> {
    let fail =
        |e: std::io::Error| format!("cannot record the server key in {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(fail)?;
    }
    // A file that does not end in a newline gets one first.
    let needs_newline = fs::read(path)
        .map(|b| b.last().is_some_and(|&c| c != b'\n'))
        .unwrap_or(false);
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(fail)?;
    let line = format!("{}{host} {key}\n", if needs_newline { "\n" } else { "" });
    file.write_all(line.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PublicKey {
        let id = dhchat_core::identity::IdentityKey::from_seed(&[1; 32]).expect("seed");
        id.public_key()
    }

    fn other_key() -> PublicKey {
        let id = dhchat_core::identity::IdentityKey::from_seed(&[7; 32]).expect("seed");
        id.public_key()
    }

    #[test]
    fn known_hosts_lines_comments_and_blank_lines_parse() {
        let k1 = key().to_string();
        let text = format!("# comment\n\n127.0.0.1:39481 {k1}\n  [::1]:4000   {k1}  \n");
        let entries = parse(&text).expect("parse");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].line, 3);
        assert_eq!(entries[0].host, "127.0.0.1:39481");
        assert_eq!(entries[1].host, "[::1]:4000");
        assert_eq!(entries[1].key, key());
    }

    #[test]
    fn known_hosts_malformed_lines_are_errors_naming_the_line() {
        let k1 = key().to_string();
        let e = parse("127.0.0.1:1\n").expect_err("missing key");
        assert!(e.contains("line 1"), "{e}");
        let e = parse(&format!("# x\nh:1 {k1} extra\n")).expect_err("extra field");
        assert!(e.contains("line 2"), "{e}");
        let e = parse("h:1 ed25519:nope\n").expect_err("bad key");
        assert!(e.contains("invalid key"), "{e}");
    }

    #[test]
    fn known_hosts_lookup_distinguishes_unknown_match_and_mismatch() {
        let k1 = key().to_string();
        let kh = KnownHosts {
            path: PathBuf::new(),
            entries: parse(&format!("a:1 {k1}\n")).expect("parse"),
        };
        assert_eq!(kh.lookup("a:1", &key()), Lookup::Match);
        assert_eq!(kh.lookup("A:1", &key()), Lookup::Match);
        assert_eq!(kh.lookup("a:2", &key()), Lookup::Unknown);
        match kh.lookup("a:1", &other_key()) {
            Lookup::Mismatch(e) => assert_eq!((e.line, e.key), (1, key())),
            other => panic!("expected mismatch, got {other:?}"),
        }
    }

    #[test]
    fn host_entries_bracket_ipv6() {
        assert_eq!(host_entry("127.0.0.1", 39481), "127.0.0.1:39481");
        assert_eq!(host_entry("::1", 5), "[::1]:5");
        assert_eq!(host_entry("example.org", 7), "example.org:7");
    }

    #[test]
    fn appended_entries_load_back_and_missing_file_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("known_hosts");
        assert!(KnownHosts::load(&path).expect("load").entries.is_empty());
        append(&path, "[::1]:9", &key()).expect("append");
        append(&path, "h:1", &other_key()).expect("append");
        let kh = KnownHosts::load(&path).expect("load");
        assert_eq!(kh.lookup("[::1]:9", &key()), Lookup::Match);
        assert_eq!(kh.lookup("h:1", &other_key()), Lookup::Match);
        assert_eq!(kh.entries[1].line, 2);
    }
}
