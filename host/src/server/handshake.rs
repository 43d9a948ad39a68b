//! The handshake phase of a connection: wait for a handshake slot, run the
//! core's server handshake (DH work on the blocking pool) within the
//! deadline, and log the outcome.

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
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::authorized_keys::Admission;
use super::gate::Ticket;
use crate::net::{BlockingPool, FromTokio};
use crate::rng::{new_rng, HostRng};

/// What the handshake phase needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The group offered to clients.
    pub group: Group,
    /// Time to get a handshake slot, and then to finish the handshake.
    pub timeout: Duration,
    /// Handshakes in progress at once.
    pub max_handshakes: usize,
}

/// Runs handshakes: the settings, the server's identity, the admission list
/// and the handshake slots.
pub struct Handshaker {
    settings: Settings,
    identity: Arc<IdentityKey>,
    admission: Admission,
    slots: Arc<Semaphore>,
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
    /// A handshaker with `settings.max_handshakes` slots.
    pub fn new(settings: Settings, identity: Arc<IdentityKey>, admission: Admission) -> Self {
        Handshaker {
            settings,
            identity,
            admission,
            slots: Arc::new(Semaphore::new(settings.max_handshakes)),
        }
    }

    /// The group offered to clients.
    pub fn group(&self) -> Group {
        self.settings.group
    }

    /// Time to get a handshake slot, and then to finish the handshake.
    pub fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// Waits (until `deadline`) for a handshake slot, for a handshake run
    /// outside [`Handshaker::run`] (the legacy key exchange); `None` at the
    /// deadline or when the slots are closed.
    pub async fn slot(&self, deadline: tokio::time::Instant) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned())
            .await
            .ok()?
            .ok()
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
        let permit = match tokio::time::timeout(deadline, self.slots.clone().acquire_owned()).await
        {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return None,
            Err(_) => {
                tracing::warn!(%peer, "refused: no handshake slot free within the deadline");
                return None;
            }
        };
        let mut io = FromTokio::new(stream);
        let result = tokio::time::timeout(deadline, self.accept(&mut io)).await;
        drop(permit);
        ticket.handshake_over();
        match result {
            Err(_) => {
                tracing::info!(%peer, "handshake failed: not finished within {}s", deadline.as_secs());
                None
            }
            Ok(Err(DriverError::Protocol(Error::Refused(r)))) => {
                tracing::info!(%peer, "refused: {r}");
                None
            }
            Ok(Err(e)) => {
                tracing::info!(%peer, "handshake failed: {e}");
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
            &mut BlockingPool,
            &mut bufs,
        )
        .await
        .map(|(conn, hello, rng)| (conn, hello.nick.to_owned(), hello.client_key, rng))
    }
}
