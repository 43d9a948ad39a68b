//! Command line of `dhchat-bench`.

use std::net::SocketAddr;

use clap::Parser;
use dhchat_core::identity::PublicKey;

/// The JSON report, documented for `--help` (and in docs/PERFORMANCE.md).
pub const JSON_KEYS: &str = "\
JSON report (--json), one object; times in milliseconds, rates per second:
  clients, senders, messages, size, rate, room   the run's settings
  connect.ok, connect.failed                     handshakes that gave a WELCOME / did not
  connect.wall_ms                                first TCP connect to last WELCOME
  connect.handshakes_per_s                       connect.ok / connect.wall_ms
  connect.p50_ms, connect.p99_ms, connect.max_ms per client: TCP connect to WELCOME
  connect.first_error                            text of the first failure, or null
  deliveries.expected                            messages sent x members that should see each
                                                 (every room member but the sender)
  deliveries.received                            distinct (sender, sequence) pairs received
  deliveries.lost                                expected - received (must be 0)
  deliveries.duplicates                          copies received more than once
  deliveries.wall_ms                             first send to last receipt
  deliveries.per_s                               received / deliveries.wall_ms
  latency.p50_ms, latency.p99_ms, latency.max_ms send (timestamp in the text) to receipt
  errors                                         ERROR records the server sent (e.g. 7, rate)
  first_error                                    the first of them, as `code: text`, or null
  server                                         null without --server-pid, else:
    server.rss_kib_before, server.rss_kib_connected  VmRSS before connecting / all connected
    server.rss_kib_per_client                    the difference divided by connect.ok
    server.cpu_ms_connect                        server CPU (user+system) during the connects: from
                                                 before the first until every client has connected
                                                 and the server has gone idle (no client joins the
                                                 bench room before that, so no JOIN/WHO is counted)
    server.cpu_ms_per_handshake                  cpu_ms_connect / connect.ok
    server.cpu_ms_messages                       server CPU from the first send to the end
    server.cpu_us_per_delivery                   cpu_ms_messages x 1000 / received
Exit status: 0 when every client connected and nothing was lost, 2 otherwise, 1 on a usage
or setup error.";

/// A load generator for a running dhchat server.
///
/// Connects --clients clients at once (each through the core's async driver,
/// pinning --server-key), has them all join one fresh room, then lets the
/// first --senders of them send --messages messages each at --rate messages
/// per second. Every text carries its sender, a sequence number and a send
/// timestamp, so each member counts what it should receive (`lost` must be
/// 0) and the send-to-receipt latency.
///
/// The server's per-address limit (--max-per-ip, 256 by default) and rate
/// limit (--rate 50/s, --burst 200 by default) apply to the bench like to any
/// client: for more clients from one address start the server with a larger
/// --max-per-ip, and keep --rate below the server's.
#[derive(Debug, Clone, Parser)]
#[command(name = "dhchat-bench", version, about, long_about, after_long_help = JSON_KEYS)]
pub struct Args {
    /// The server's address. Several (comma-separated or the option
    /// repeated) spread the clients over them round robin (client i to
    /// address i mod n): for nodes of one cluster, which share one key.
    #[arg(long, value_name = "ADDR", value_delimiter = ',', required = true)]
    pub server: Vec<SocketAddr>,

    /// The server's identity key (`ed25519:...`, as it prints at start);
    /// every client pins it.
    #[arg(long, value_name = "KEY")]
    pub server_key: PublicKey,

    /// Clients connected at once.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub clients: u32,

    /// Messages each sender sends.
    #[arg(long, value_name = "M", default_value_t = 100)]
    pub messages: u32,

    /// Bytes of text per message (at least the 30-odd bytes of the
    /// sender/sequence/timestamp header; at most 4000).
    #[arg(long, value_name = "BYTES", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4000))]
    pub size: u32,

    /// Clients that send (the first K); all clients receive.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub senders: u32,

    /// Messages per second per sender (0: as fast as the connection takes
    /// them, which the server's rate limit answers with ERROR 7).
    #[arg(long, value_name = "R", default_value_t = 20.0)]
    pub rate: f64,

    /// Room to use (default: a fresh `#bench-XXXXXX`, so no history is
    /// replayed).
    #[arg(long, value_name = "ROOM")]
    pub room: Option<String>,

    /// The server's process id: report its memory and CPU per client from
    /// /proc (same machine only). Several (comma-separated or repeated):
    /// the `server` figures are the sums over these processes.
    #[arg(long, value_name = "PID", value_delimiter = ',')]
    pub server_pid: Vec<u32>,

    /// Spread the clients over this many loopback source addresses
    /// (127.0.0.1, 127.0.0.2, ...), round robin, so that many clients on one
    /// machine stay within the server's per-address limit at its default.
    /// Only for a server on 127.0.0.0/8.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=250))]
    pub sources: u8,

    /// Seconds to wait for the last deliveries after the last send (and for
    /// each phase: connects, joins).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,

    /// Print the report as one JSON object (keys below).
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// Checks what clap cannot.
    ///
    /// # Errors
    /// A sentence naming the bad setting.
    pub fn check(&self) -> Result<(), String> {
        if self.senders > self.clients {
            return Err(format!(
                "--senders {} exceeds --clients {}",
                self.senders, self.clients
            ));
        }
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return Err("--rate must be a number of messages per second, 0 or more".into());
        }
        if self.sources > 1 && !self.server.iter().all(|s| s.ip().is_loopback()) {
            return Err("--sources needs servers on loopback addresses".into());
        }
        if let Some(room) = &self.room {
            if !dhchat_core::names::is_valid_room(room) {
                return Err(format!(
                    "--room {room:?} is not a room name (# and 1-31 of A-Z a-z 0-9 _ -)"
                ));
            }
        }
        Ok(())
    }
}
