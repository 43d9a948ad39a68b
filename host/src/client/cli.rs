//! The command line (clap), the server address and the default nick.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use dhchat_core::identity::PublicKey;
use dhchat_core::names::MAX_NICK;

use super::exit::EXIT_CODES_HELP;

/// The port used when none is given.
pub const DEFAULT_PORT: u16 = 39481;
/// The host used when none is given.
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// dhchat terminal client.
///
/// Interactive (full-screen) when standard input is a terminal; batch mode
/// (commands on stdin, one JSON event per line on stdout) with --batch or
/// when standard input is not a terminal.
#[derive(Debug, Parser)]
#[command(
    name = "dhchat-client",
    version,
    after_help = EXIT_CODES_HELP,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Create a key file instead of chatting.
    #[command(subcommand)]
    pub command: Option<Sub>,
    /// Server as HOST[:PORT] (IPv6 as [ADDR]:PORT) [default: 127.0.0.1:39481].
    pub server: Option<String>,
    /// Nick to ask for [default: $USER made valid, or "guest"].
    #[arg(long, value_name = "NAME")]
    pub nick: Option<String>,
    /// Room to join after WELCOME and make current.
    #[arg(long, value_name = "ROOM")]
    pub room: Option<String>,
    /// Batch mode even if standard input is a terminal.
    #[arg(long)]
    pub batch: bool,
    /// Batch mode: seconds to stay connected after standard input ends.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub linger: u64,
    /// Batch mode: trust and record the key of a server not yet known.
    #[arg(long)]
    pub accept_new: bool,
    /// Trust only this server key (ed25519:...); the known-hosts file is not used.
    #[arg(long, value_name = "KEY")]
    pub server_key: Option<PublicKey>,
    /// Known-hosts file [default: dhchat/known_hosts in the user's config directory].
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// LEGACY HOOK. Join an original (2018) encrypted-chat server at HOST[:PORT]
    /// (default port 39482) with its legacy protocol. WARNING: NO authentication
    /// and NO integrity; anyone on the path can read, change or pose as the server.
    #[arg(long, value_name = "HOST[:PORT]", conflicts_with_all = ["server", "server_key", "identity", "accept_new", "nick"])]
    pub legacy: Option<String>,
    /// Identity key file (create one with `dhchat-client keygen FILE`).
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Smallest DH group accepted, in bits (2048, 3072 or 4096); a server
    /// offering a smaller one is refused before anything is sent.
    #[arg(long, value_name = "BITS", default_value_t = 2048,
          value_parser = clap::builder::TypedValueParser::map(
              clap::builder::PossibleValuesParser::new(["2048", "3072", "4096"]),
              |s: String| s.parse::<u32>().unwrap_or(2048)))]
    pub min_group_bits: u32,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Create a new identity key file (mode 0600) and print its public key.
    Keygen {
        /// The file to create; an existing file is never overwritten.
        file: PathBuf,
    },
}

/// A server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Target {
    /// `HOST:PORT`, `[ADDR]:PORT` for IPv6: the known-hosts form.
    pub fn entry(&self) -> String {
        super::known_hosts::host_entry(&self.host, self.port)
    }
}

/// Parses `HOST`, `HOST:PORT`, `[ADDR]`, `[ADDR]:PORT` or a bare IPv6
/// address; a missing port is [`DEFAULT_PORT`].
///
/// # Errors
/// A sentence saying what is wrong.
pub fn parse_target(s: &str) -> Result<Target, String> {
    let bad_port = |p: &str| format!("invalid port \"{p}\" in server address \"{s}\"");
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("missing ']' in server address \"{s}\""))?;
        let port = match after {
            "" => DEFAULT_PORT,
            p => {
                let p = p.strip_prefix(':').ok_or_else(|| bad_port(p))?;
                p.parse().map_err(|_| bad_port(p))?
            }
        };
        if host.is_empty() {
            return Err(format!("empty host in server address \"{s}\""));
        }
        return Ok(Target {
            host: host.to_string(),
            port,
        });
    }
    if s.matches(':').count() > 1 {
        // A bare IPv6 address, no port.
        return Ok(Target {
            host: s.to_string(),
            port: DEFAULT_PORT,
        });
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| bad_port(p))?),
        None => (s, DEFAULT_PORT),
    };
    if host.is_empty() {
        return Err(format!("empty host in server address \"{s}\""));
    }
    Ok(Target {
        host: host.to_string(),
        port,
    })
}

/// A valid nick made from a user name: characters outside `[A-Za-z0-9_-]`
/// dropped, cut to 32 bytes, `guest` if nothing is left.
pub fn nick_from_user(user: Option<&str>) -> String {
    let mut nick: String = user
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    nick.truncate(MAX_NICK);
    if nick.is_empty() {
        "guest".to_string()
    } else {
        nick
    }
}

/// `name` as a room: a leading `#` is added if missing.
pub fn as_room(name: &str) -> String {
    if name.starts_with('#') {
        name.to_string()
    } else {
        format!("#{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_from_user_drops_bad_characters_cuts_and_defaults_to_guest() {
        assert_eq!(nick_from_user(Some("alice")), "alice");
        assert_eq!(nick_from_user(Some("j.doe@example")), "jdoeexample");
        assert_eq!(nick_from_user(Some("é日本")), "guest");
        assert_eq!(nick_from_user(Some("")), "guest");
        assert_eq!(nick_from_user(None), "guest");
        let long = "a".repeat(40);
        assert_eq!(nick_from_user(Some(&long)), "a".repeat(32));
        assert!(dhchat_core::names::is_valid_nick(&nick_from_user(Some(
            "x y\tz\u{1b}"
        ))));
    }

    #[test]
    fn server_addresses_parse_with_default_port_and_ipv6_brackets() {
        let t = |s| parse_target(s).expect(s);
        assert_eq!(
            t("example.org"),
            Target {
                host: "example.org".into(),
                port: DEFAULT_PORT
            }
        );
        assert_eq!(
            t("127.0.0.1:5000"),
            Target {
                host: "127.0.0.1".into(),
                port: 5000
            }
        );
        assert_eq!(t("[::1]:7").entry(), "[::1]:7");
        assert_eq!(t("[::1]").entry(), "[::1]:39481");
        assert_eq!(t("::1").entry(), "[::1]:39481");
        assert_eq!(t("localhost").entry(), "localhost:39481");
        assert!(parse_target("host:notaport").is_err());
        assert!(parse_target("host:70000").is_err());
        assert!(parse_target("[::1").is_err());
        assert!(parse_target(":5").is_err());
    }

    #[test]
    fn command_line_accepts_the_documented_options_and_keygen() {
        let cli = Cli::try_parse_from([
            "dhchat-client",
            "h:1",
            "--nick",
            "n",
            "--room",
            "#r",
            "--batch",
            "--linger",
            "3",
            "--accept-new",
            "--known-hosts",
            "kh",
            "--identity",
            "id",
        ])
        .expect("parse");
        assert_eq!(cli.server.as_deref(), Some("h:1"));
        assert_eq!(cli.linger, 3);
        assert!(cli.batch && cli.accept_new);
        let cli = Cli::try_parse_from(["dhchat-client", "keygen", "f"]).expect("keygen");
        assert!(matches!(cli.command, Some(Sub::Keygen { .. })));
        assert!(Cli::try_parse_from(["dhchat-client", "--server-key", "ed25519:x"]).is_err());
    }
}
