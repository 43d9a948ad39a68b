//! The handshake phase of a connection: run the core's server handshake
//! within the deadline, its DH work on the blocking pool under a CPU permit
//! (held only while an exponentiation runs, never across network reads),
//! and log the outcome (failures at most [`FAILURE_LOGS_PER_SECOND`] lines
//! a second, with the count of those left out).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dhchat_core::driver::asynch;
use dhchat_core::driver::{Buffers, DriverError};
use dhchat_core::error::Error;
use dhchat_core::group::Group;
use dhchat_core::identity::{IdentityKey, PublicKey};
use dhchat_core::ServerConnection;
use tokio::net::TcpStream;

use super::authorized_keys::Admission;
use super::gate::Ticket;
use super::loglimit::LogLimit;
use crate::net::{BlockingPool, FromTokio};
use crate::rng::{new_rng, HostRng};

/// What the handshake phase needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The group offered to clients.
    pub group: Group,
    /// Time to finish the handshake.
    pub timeout: Duration,
    /// Exponentiations running at once (CPU permits).
    pub cpu_permits: usize,
}

/// Lines a second logged about failed or refused handshakes; the others are
/// counted, and the count goes with the next line.
pub const FAILURE_LOGS_PER_SECOND: u32 = 5;

/// Runs handshakes: the settings, the server's identity, the admission list
/// and the CPU permits.
pub struct Handshaker {
    settings: Settings,
    identity: Arc<IdentityKey>,
    admission: Admission,
    pool: BlockingPool,
    failures: LogLimit,
}

/// A finished handshake.
pub struct Accepted {
    /// The stream.
    pub io: FromTokio<TcpStream>,
    /// The admitted connection: it sends WELCOME or a refusal next.
    pub conn: ServerConnection,
    /// The nick the client asked for (valid).
    pub nick: String,
    /// Its identity key, if it presented one.
    pub client_key: Option<PublicKey>,
    /// The connection's RNG.
    pub rng: HostRng,
}

/// The result of the core's handshake, before it is logged: the admitted
/// connection, the nick and key of the CLIENT_HELLO, the RNG.
type Outcome =
    Result<(ServerConnection, String, Option<PublicKey>, HostRng), DriverError<std::io::Error>>;

impl Handshaker {
    /// A handshaker with `settings.cpu_permits` CPU permits.
    pub fn new(settings: Settings, identity: Arc<IdentityKey>, admission: Admission) -> Self {
        Handshaker {
            settings,
            identity,
            admission,
            pool: BlockingPool::new(settings.cpu_permits),
            failures: LogLimit::new(FAILURE_LOGS_PER_SECOND),
        }
    }

    /// The admission list.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Logs a failed or refused handshake, unless too many were logged in
    /// the last second (then it is counted, and the count is logged with
    /// the next line).
    fn log_failure(&self, peer: SocketAddr, what: std::fmt::Arguments<'_>) {
        if let Some(skipped) = self.failures.allow() {
            if skipped > 0 {
                tracing::info!(%peer, not_logged = skipped, "{what} ({skipped} more handshake failures not logged)");
            } else {
                tracing::info!(%peer, "{what}");
            }
        }
    }

    /// The group offered to clients.
    pub fn group(&self) -> Group {
        self.settings.group
    }

    /// Time to finish a handshake.
    pub fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// The blocking pool that runs DH work under the CPU permits, for a
    /// handshake run outside [`Handshaker::run`] (the legacy key exchange).
    pub fn pool(&self) -> BlockingPool {
        self.pool.for_handshake()
    }

    /// Runs the handshake; `None` if it failed (logged). The ticket's place
    /// among the pending handshakes is given back when it ends.
    pub async fn run(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        ticket: &mut Ticket,
    ) -> Option<Accepted> {
        let deadline = self.settings.timeout;
        let mut io = FromTokio::new(stream);
        let result = tokio::time::timeout(deadline, self.accept(&mut io)).await;
        ticket.handshake_over();
        match result {
            Err(_) => {
                self.log_failure(
                    peer,
                    format_args!(
                        "handshake failed: not finished within {}s",
                        deadline.as_secs()
                    ),
                );
                None
            }
            Ok(Err(DriverError::Protocol(Error::Refused(r)))) => {
                self.log_failure(peer, format_args!("refused: {r}"));
                None
            }
            Ok(Err(e)) => {
                self.log_failure(peer, format_args!("handshake failed: {e}"));
                None
            }
            Ok(Ok((conn, nick, client_key, rng))) => {
                let key_text = client_key.map_or_else(|| "anonymous".to_owned(), |k| k.to_string());
                tracing::info!(
                    %peer,
                    group = %self.settings.group,
                    client_key = %key_text,
                    fingerprint = %conn.info().map(|i| i.fingerprint.to_string()).unwrap_or_default(),
                    nick = %nick,
                    "handshake complete"
                );
                Some(Accepted {
                    io,
                    conn,
                    nick,
                    client_key,
                    rng,
                })
            }
        }
    }

    /// The core's server handshake, up to the CLIENT_HELLO it admitted.
    async fn accept(&self, io: &mut FromTokio<TcpStream>) -> Outcome {
        let mut bufs = Box::new(Buffers::new());
        let mut policy = self.admission.policy();
        asynch::accept(
            io,
            self.settings.group,
            self.identity.clone(),
            &mut policy,
            new_rng(),
            &mut self.pool.for_handshake(),
            &mut bufs,
        )
        .await
        .map(|(conn, hello, rng)| (conn, hello.nick.to_owned(), hello.client_key, rng))
    }
}
