//! The handshake phase of a connection: wait for a handshake slot, run the
//! core's server handshake (DH work on the blocking pool) within the
//! deadline, and log the outcome.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dhchat_core::driver::asynch;
use dhchat_core::driver::{Buffers, DriverError};
use dhchat_core::error::Error;
use dhchat_core::identity::PublicKey;
use dhchat_core::ServerConnection;
use tokio::net::TcpStream;

use super::listener::PendingSlot;
use super::Shared;
use crate::net::{BlockingPool, FromTokio};
use crate::rng::{new_rng, HostRng};

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

/// Runs the handshake; `None` if it failed (logged).
pub async fn run(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    pending: PendingSlot,
) -> Option<Accepted> {
    let deadline = Duration::from_secs(shared.args.handshake_timeout);
    let permit =
        match tokio::time::timeout(deadline, shared.handshakes.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return None,
            Err(_) => {
                tracing::warn!(%peer, "refused: no handshake slot free within the deadline");
                return None;
            }
        };
    let mut io = FromTokio::new(stream);
    let mut bufs = Box::new(Buffers::new());
    let mut policy = shared.admission.policy();
    let result = tokio::time::timeout(
        deadline,
        asynch::accept(
            &mut io,
            shared.args.group,
            shared.identity.clone(),
            &mut policy,
            new_rng(),
            &mut BlockingPool,
            &mut bufs,
        ),
    )
    .await;
    drop(permit);
    drop(pending);
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
        Ok(Ok((conn, hello, rng))) => {
            let nick = hello.nick.to_owned();
            let client_key = hello.client_key;
            let key_text = client_key.map_or_else(|| "anonymous".to_owned(), |k| k.to_string());
            tracing::info!(
                %peer,
                group = %shared.args.group,
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
