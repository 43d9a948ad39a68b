//! Command line of `dhchat-server` (clap), and its split into the settings
//! of each layer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use dhchat_core::group::Group;

use super::{connection, event, gate, handshake, history, reader, rooms};

/// Pending handshakes per core by default (see [`Args::max_pending`]); at
/// least [`MIN_PENDING`].
pub const PENDING_PER_CORE: usize = 64;

/// The smallest default of [`Args::max_pending`].
pub const MIN_PENDING: usize = 256;

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
    /// address (an IPv4 address, or an IPv6 /64); further ones are closed
    /// without a byte.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_per_ip: u32,

    /// Most handshakes pending (connected, not yet welcomed) from one source
    /// address (or IPv6 /64); further connections from it are closed
    /// without a byte. Established sessions do not count.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pending_per_ip: u32,

    /// Most handshakes pending in all; past it new connections are closed
    /// without a byte (the `full` of OpenSSH's MaxStartups). Default: 64 per
    /// CPU core, at least 256.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pending: Option<u32>,

    /// Pending handshakes from which new connections are dropped at random
    /// (the `start` of MaxStartups): with --early-drop-rate percent
    /// probability there, rising to 100 % at --max-pending. Established
    /// sessions are never dropped. Default: half of --max-pending.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub early_drop_start: Option<u32>,

    /// Drop probability, in percent, at --early-drop-start pending
    /// handshakes (the `rate` of MaxStartups).
    #[arg(long, value_name = "PERCENT", default_value_t = 30, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub early_drop_rate: u8,

    /// Diffie-Hellman exponentiations computed at once. A handshake holds
    /// one of these CPU permits only while it computes, never while it
    /// waits for the network. Default: one per CPU core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub dh_workers: Option<u32>,

    /// Seconds a client has to finish the handshake.
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

    /// Bytes of messages queued for one client (its send queue); a client
    /// over it cannot keep up and is disconnected. At least room for a
    /// --history replay of full-size messages is used.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub queue_bytes: u64,

    /// Bytes of messages queued for all clients together. Past it, a client
    /// holding more than its share (this bound divided by the clients
    /// connected) is disconnected as too slow.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_queued_bytes: u64,

    /// Seconds a member with messages queued may go without reading any
    /// before senders stop waiting for it. A room message waits while a
    /// member that still reads has its queue more than half full (senders
    /// are slowed down, readers are not dropped); a member that does not
    /// read for this long is disconnected once its queue is full.
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout: u64,

    /// Largest room, in members, whose members are told when someone joins,
    /// leaves or changes nick; in larger rooms only the member who joins or
    /// leaves is told (WHO still lists everyone), so joins cost linear, not
    /// quadratic, notices. In cluster mode each node counts its own members
    /// of the room, plus, for a move on another node, that node's members.
    #[arg(long, value_name = "N", default_value_t = rooms::DEFAULT_ROOM_NOTICE_LIMIT as u32)]
    pub room_notice_limit: u32,

    /// Stored messages replayed when a client joins a room (and #lobby after
    /// WELCOME).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub history: u32,

    /// Messages kept per room in the history database; older ones are
    /// deleted.
    #[arg(long, value_name = "N", default_value_t = 10000)]
    pub retain: u32,

    /// Bytes of stored messages (room, sender and text, plus a per-row
    /// overhead) kept in the history database in all; past it the oldest
    /// messages of any room are deleted. The file stays within about this
    /// size (plus the write-ahead log, itself kept under 4 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20, value_parser = clap::value_parser!(u64).range(65536..))]
    pub history_max_bytes: u64,

    /// Days without a new message after which a room's history is deleted
    /// (0: never).
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub room_expiry_days: u32,

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

    /// Cluster mode over NATS JetStream (off by default: one node, SQLite).
    #[command(flatten)]
    pub cluster: super::cluster::ClusterOptions,

    /// Turn accounts off: a nick belongs to whoever holds it, keyed or not,
    /// no direct message waits for an offline nick, and MESSAGE flags bit 2
    /// is never set. Accounts already stored are kept for a later start.
    #[arg(long)]
    pub no_accounts: bool,

    /// Direct messages kept per account while its owner is offline; a
    /// sender beyond it gets ERROR 7.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub offline_max: u32,

    /// Operator commands on the data directory (the server is not started).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Operator commands of `dhchat-server`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Accounts (nicks bound to identity keys). Safe while the server runs.
    #[command(subcommand)]
    Accounts(AccountsCommand),
}

/// `dhchat-server accounts ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AccountsCommand {
    /// Lists the accounts: nick, owner's key, creation time, messages
    /// waiting.
    List {
        /// The server's data directory.
        #[arg(long, value_name = "DIR", default_value = "dhchat-data")]
        data_dir: PathBuf,
        /// The cluster, instead of a data directory.
        #[command(flatten)]
        cluster: ClusterTarget,
    },
    /// Releases an account: anyone may take the nick again, and the direct
    /// messages waiting for it are deleted.
    Release {
        /// The account's nick.
        nick: String,
        /// The server's data directory.
        #[arg(long, value_name = "DIR", default_value = "dhchat-data")]
        data_dir: PathBuf,
        /// The cluster, instead of a data directory.
        #[command(flatten)]
        cluster: ClusterTarget,
    },
}

/// The cluster an accounts command acts on: the nodes' NATS servers, cluster
/// name and credentials options (see [`ClusterOptions`](super::cluster::ClusterOptions)).
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterTarget {
    /// Act on the accounts of the cluster whose NATS servers are at URLS
    /// (as given to its nodes' --cluster) instead of a data directory's.
    #[arg(long = "cluster", value_name = "URLS", value_delimiter = ',')]
    pub urls: Vec<String>,

    /// The nodes' --cluster-name.
    #[arg(long, value_name = "NAME", default_value = "dhchat", value_parser = super::cluster::options::parse_name)]
    pub cluster_name: String,

    /// Credentials and TLS for the links to NATS, as the nodes'.
    #[command(flatten)]
    pub access: super::cluster::options::NatsAccess,
}

impl ClusterTarget {
    /// The connection options these flags describe (the node-only settings,
    /// replicas and nick TTL, at their defaults: an accounts command uses
    /// neither).
    pub fn options(&self) -> super::cluster::ClusterOptions {
        super::cluster::ClusterOptions {
            urls: self.urls.clone(),
            cluster_name: self.cluster_name.clone(),
            cluster_replicas: None,
            cluster_nick_ttl: super::cluster::options::DEFAULT_NICK_TTL_SECS,
            access: self.access.clone(),
        }
    }
}

fn parse_group(s: &str) -> Result<Group, String> {
    Group::from_name(s)
        .ok_or_else(|| format!("unknown group {s:?}: use ffdhe2048, ffdhe3072 or ffdhe4096"))
}

/// The most bytes `--name` and `--motd` may take together: WELCOME's body
/// ([`MAX_BODY`](dhchat_core::message::MAX_BODY)) less the longest nick and
/// the length prefixes.
pub const MAX_WELCOME_TEXT: usize =
    dhchat_core::message::MAX_BODY - (1 + dhchat_core::names::MAX_NICK) - 1 - 2;

/// The most bytes of `--name` (a `str8` in WELCOME).
pub const MAX_NAME: usize = 255;

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
    /// Checks what clap cannot: that WELCOME with `--name` and `--motd` fits
    /// a record for every nick a client may get.
    ///
    /// # Errors
    /// A message naming the flag and the limit (the server exits 2).
    pub fn check(&self) -> Result<(), String> {
        use dhchat_core::message::Message;
        if self.name.len() > MAX_NAME {
            return Err(format!(
                "--name is {} bytes; WELCOME allows at most {MAX_NAME}",
                self.name.len()
            ));
        }
        let nick = "n".repeat(dhchat_core::names::MAX_NICK);
        let welcome = Message::Welcome {
            nick: &nick,
            server_name: &self.name,
            motd: &self.motd,
        };
        let mut buf = vec![0u8; dhchat_core::record::MAX_PLAINTEXT];
        welcome.encode(&mut buf).map(|_| ()).map_err(|e| {
            format!(
                "--name and --motd are {} bytes together; WELCOME allows at most \
                 {MAX_WELCOME_TEXT} ({e})",
                self.name.len() + self.motd.len()
            )
        })
    }

    /// The settings of each layer, defaults filled in from the core count.
    pub fn settings(&self) -> Settings {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let cpu_permits = self.dh_workers.map_or(cores, |n| n as usize);
        let max_pending = self
            .max_pending
            .map_or(MIN_PENDING.max(PENDING_PER_CORE * cores), |n| n as usize);
        let early_start = self
            .early_drop_start
            .map_or(max_pending / 2, |n| n as usize);
        // A queue must hold a room's history replay, and a batch of stored
        // messages relayed at once (see history::MAX_BATCH).
        // With accounts, an owner's offline messages come after the lobby's
        // history, before the writer starts.
        let offline = if self.no_accounts {
            0
        } else {
            self.offline_max as usize
        };
        let replay = self.history as usize + offline + history::MAX_BATCH + 16;
        let queue = (self.queue as usize).max(replay);
        let replay_bytes = replay.saturating_mul(event::MAX_EVENT_BYTES);
        let queue_bytes = usize::try_from(self.queue_bytes)
            .unwrap_or(usize::MAX)
            .max(replay_bytes);
        Settings {
            gate: gate::Limits {
                max_per_ip: self.max_per_ip,
                max_pending_per_ip: self.max_pending_per_ip,
                max_pending,
                early_drop: gate::EarlyDrop {
                    start: early_start,
                    rate: self.early_drop_rate,
                },
            },
            handshake: handshake::Settings {
                group: self.group,
                timeout: Duration::from_secs(self.handshake_timeout),
                cpu_permits,
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
                queue_bytes,
                max_queued_bytes: usize::try_from(self.max_queued_bytes)
                    .unwrap_or(usize::MAX)
                    .max(queue_bytes),
                stall: Duration::from_secs(self.stall_timeout),
                room_notice_limit: self.room_notice_limit as usize,
            },
            history: history::Settings {
                replay: self.history,
                retain: self.retain,
                max_bytes: self.history_max_bytes,
                room_expiry: match self.room_expiry_days {
                    0 => None,
                    days => Some(Duration::from_secs(u64::from(days) * 86_400)),
                },
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

    #[test]
    fn the_room_notice_limit_defaults_to_200_and_is_a_setting() {
        let default = Args::parse_from(["dhchat-server"]);
        assert_eq!(
            default.settings().rooms.room_notice_limit,
            rooms::DEFAULT_ROOM_NOTICE_LIMIT
        );
        assert_eq!(rooms::DEFAULT_ROOM_NOTICE_LIMIT, 200);
        let set = Args::parse_from(["dhchat-server", "--room-notice-limit", "0"]);
        assert_eq!(set.settings().rooms.room_notice_limit, 0);
    }
}
