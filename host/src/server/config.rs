//! Command line of `dhchat-server` (clap), and its split into the settings
//! of each layer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use dhchat_core::group::Group;

use super::{connection, gate, handshake, history, reader, rooms};

/// Handshakes in progress at once, per core, by default (see
/// [`Args::max_handshakes`]).
pub const HANDSHAKES_PER_CORE: usize = 16;

/// Default of [`Args::listen_backlog`]: 1,000 clients connecting at once fit.
pub const DEFAULT_LISTEN_BACKLOG: u32 = 1024;

/// The dhchat multi-user chat server.
///
/// Prints `listening on ADDR` and `server key ed25519:...` on standard output
/// once it listens (give that key to users so they can pin it); logs go to
/// standard error (filter with RUST_LOG, default `info`). SIGHUP re-reads the
/// authorized-keys file; SIGINT or SIGTERM closes every session and exits.
#[derive(Debug, Clone, Parser)]
#[command(name = "dhchat-server", version, about, long_about)]
pub struct Args {
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:39481")]
    pub listen: SocketAddr,

    /// Connections the kernel queues before the server accepts them (the
    /// listen backlog; the kernel caps it at net.core.somaxconn). Too small
    /// a queue makes bursts of connects wait for SYN retransmits (seconds).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LISTEN_BACKLOG, value_parser = clap::value_parser!(u32).range(1..))]
    pub listen_backlog: u32,

    /// Directory for the server's identity key (`server.key`, mode 0600,
    /// created on first start) and its history database (`history.sqlite3`).
    #[arg(long, value_name = "DIR", default_value = "dhchat-data")]
    pub data_dir: PathBuf,

    /// Diffie-Hellman group offered to clients: ffdhe2048, ffdhe3072 or
    /// ffdhe4096.
    #[arg(long, value_name = "GROUP", default_value = "ffdhe3072", value_parser = parse_group)]
    pub group: Group,

    /// Admit only clients whose identity key is listed in FILE (lines
    /// `ed25519:... comment`; `#` starts a comment). Others get ERROR 3.
    /// Without it, anonymous clients are welcome. Re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub authorized_keys: Option<PathBuf>,

    /// Most clients connected at once; a handshake beyond it gets ERROR 8.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: u32,

    /// Most connections (established or in handshake) from one source
    /// address; further ones are closed without a byte.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_per_ip: u32,

    /// Handshakes in progress at once (the DH work is the costly part);
    /// further connections wait for a slot. Default: 16 per CPU core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_handshakes: Option<u32>,

    /// Connections allowed to wait for a handshake slot; past this cap new
    /// connections are closed without a byte. Default: 8 x --max-handshakes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pending: Option<u32>,

    /// Seconds a client has to finish the handshake (and, before that, the
    /// longest wait for a handshake slot).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub handshake_timeout: u64,

    /// Seconds without anything received before the server sends PING; a
    /// client still silent after as long again is disconnected.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,

    /// Messages per second a client may send on average (token bucket);
    /// beyond it messages are dropped with ERROR 7.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,

    /// Messages a client may send in one burst (token bucket size).
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,

    /// Records queued for one client; a client whose queue overflows cannot
    /// keep up and is disconnected. At least --history + 80 is used.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub queue: u32,

    /// Stored messages replayed when a client joins a room (and #lobby after
    /// WELCOME).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub history: u32,

    /// Messages kept per room in the history database; older ones are
    /// deleted.
    #[arg(long, value_name = "N", default_value_t = 10000)]
    pub retain: u32,

    /// Server name sent in WELCOME.
    #[arg(long, value_name = "NAME", default_value = "dhchat")]
    pub name: String,

    /// Message of the day sent in WELCOME.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub motd: String,

    /// LEGACY HOOK. Also listen on ADDR for the original (2018) encrypted-chat
    /// clients, speaking their legacy protocol. WARNING: that protocol has NO
    /// authentication and NO integrity: anyone on the path can read and change
    /// what legacy clients send and receive, or impersonate this server to them.
    /// Legacy clients join #lobby as legacy-XXXXXXXX; their messages are marked
    /// unauthenticated. Off by default.
    #[arg(long, value_name = "ADDR")]
    pub legacy_listen: Option<SocketAddr>,

    /// Also log the text of chat messages (off by default: the operator
    /// can read messages, but need not keep them in logs).
    #[arg(long)]
    pub log_messages: bool,
}

fn parse_group(s: &str) -> Result<Group, String> {
    Group::from_name(s)
        .ok_or_else(|| format!("unknown group {s:?}: use ffdhe2048, ffdhe3072 or ffdhe4096"))
}

/// The arguments, split by the layer that needs them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The gate's limits (per address, pending handshakes).
    pub gate: gate::Limits,
    /// The handshake phase.
    pub handshake: handshake::Settings,
    /// Established sessions.
    pub session: connection::Settings,
    /// The hub (client cap, queue size).
    pub rooms: rooms::Settings,
    /// The history store.
    pub history: history::Settings,
}

impl Args {
    /// The settings of each layer, defaults filled in from the core count.
    pub fn settings(&self) -> Settings {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let max_handshakes = self
            .max_handshakes
            .map_or(HANDSHAKES_PER_CORE * cores, |n| n as usize);
        let max_pending = self
            .max_pending
            .map_or(max_handshakes.saturating_mul(8), |n| n as usize);
        // A queue must hold a room's history replay, and a batch of stored
        // messages relayed at once (see history::MAX_BATCH).
        let queue = (self.queue as usize).max(self.history as usize + history::MAX_BATCH + 16);
        Settings {
            gate: gate::Limits {
                max_per_ip: self.max_per_ip,
                max_pending: max_pending.max(max_handshakes),
            },
            handshake: handshake::Settings {
                group: self.group,
                timeout: Duration::from_secs(self.handshake_timeout),
                max_handshakes,
            },
            session: connection::Settings {
                reader: reader::Limits {
                    idle: Duration::from_secs(self.idle_timeout),
                    rate: self.rate,
                    burst: self.burst,
                },
                log_messages: self.log_messages,
                server_name: Arc::from(self.name.as_str()),
                motd: Arc::from(self.motd.as_str()),
                max_clients: self.max_clients as usize,
            },
            rooms: rooms::Settings {
                max_clients: self.max_clients as usize,
                queue,
            },
            history: history::Settings {
                replay: self.history,
                retain: self.retain,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listen_backlog_defaults_to_at_least_1024_and_is_a_setting() {
        let default = Args::parse_from(["dhchat-server"]);
        assert!(default.listen_backlog >= 1024);
        let set = Args::parse_from(["dhchat-server", "--listen-backlog", "4096"]);
        assert_eq!(set.listen_backlog, 4096);
        assert!(Args::try_parse_from(["dhchat-server", "--listen-backlog", "0"]).is_err());
    }
}
