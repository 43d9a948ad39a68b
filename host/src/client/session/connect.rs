//! Connecting: TCP, then the core's client handshake (the key exchange on
//! tokio's blocking pool), with the trust decision and the configured
//! minimum group size.

use dhchat_core::driver::asynch::{self, Receiver, Sender};
use dhchat_core::driver::{Buffers, DriverError};
use dhchat_core::error::{Error, TrustError};
use dhchat_core::handshake::ClientConfig;
use dhchat_core::identity::{IdentityKey, PublicKey};
use dhchat_core::names::Escaped;
use dhchat_core::record::MAX_RECORD;
use tokio::io::BufReader;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::trust::HostTrust;
use super::{WelcomeInfo, HANDSHAKE_TIMEOUT};
use crate::client::cli::Target;
use crate::client::exit::{self, Failure, Kind};
use crate::net::{BlockingPool, FromTokio};
use crate::rng::{new_rng, HostRng};

/// Why a handshake did not give a session.
#[derive(Debug)]
pub enum ConnectError {
    /// The server's key is not known (and was not accepted): the caller may
    /// ask the user, record it and connect again.
    UnknownKey(PublicKey, Failure),
    /// Any other failure.
    Failed(Failure),
}

impl ConnectError {
    /// The failure.
    pub fn into_failure(self) -> Failure {
        match self {
            Self::UnknownKey(_, f) | Self::Failed(f) => f,
        }
    }
}

/// The receiving half: buffered, so a record costs one system call.
pub(super) type RecvSide = Receiver<FromTokio<BufReader<OwnedReadHalf>>, Box<Buffers>>;
/// The sending half.
pub(super) type SendSide = Sender<FromTokio<OwnedWriteHalf>, HostRng, Vec<u8>>;

/// An established session, ready for [`super::spawn`].
pub struct Established {
    pub(super) send: SendSide,
    pub(super) recv: RecvSide,
    /// WELCOME and the session's facts.
    pub welcome: WelcomeInfo,
}

impl std::fmt::Debug for Established {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Established")
            .field("welcome", &self.welcome)
            .finish_non_exhaustive()
    }
}

/// Connects to `target` and runs the handshake, accepting groups of at least
/// `min_group_bits`.
///
/// # Errors
/// [`ConnectError`]; on every failure the client has sent nothing after
/// CLIENT_KEY (and, for a trust failure, nothing at all after it).
pub async fn connect(
    target: &Target,
    nick: &str,
    identity: Option<&IdentityKey>,
    min_group_bits: u32,
    trust: &mut HostTrust,
) -> Result<Established, ConnectError> {
    let mut config = ClientConfig::new(nick);
    config.identity = identity;
    config.min_group_bits = min_group_bits;
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect_inner(target, &config, trust)).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Failed(Failure::new(
            Kind::Connection,
            format!("connecting to {} timed out", target.entry()),
        ))),
    }
}

async fn connect_inner(
    target: &Target,
    config: &ClientConfig<'_>,
    trust: &mut HostTrust,
) -> Result<Established, ConnectError> {
    let failed = ConnectError::Failed;
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| {
            failed(Failure::new(
                Kind::Connection,
                format!("cannot connect to {}: {e}", target.entry()),
            ))
        })?;
    let _ = stream.set_nodelay(true);
    let result = asynch::connect(
        FromTokio::new(stream),
        config,
        trust,
        new_rng(),
        &mut BlockingPool::new(1),
        Box::new(Buffers::new()),
    )
    .await;
    // A key accepted as new is recorded once it proved itself (its signature
    // verified), whatever happened after.
    trust.record_pending().map_err(failed)?;
    let conn = result.map_err(|e| match e {
        DriverError::Io(e) => failed(Failure::new(
            Kind::Connection,
            format!("the connection to {} failed: {e}", target.entry()),
        )),
        DriverError::Protocol(Error::ConnectionLost) => failed(Failure::new(
            Kind::Connection,
            format!(
                "the server {} closed the connection during the handshake",
                target.entry()
            ),
        )),
        DriverError::Protocol(Error::Trust(e)) => {
            let f = trust.failure(&e);
            match e {
                TrustError::UnknownKey { received } => ConnectError::UnknownKey(received, f),
                TrustError::Mismatch { .. } => failed(f),
            }
        }
        DriverError::Protocol(Error::RefusedByServer { code, text }) => failed(Failure::new(
            Kind::Refused,
            format!(
                "the server {} refused this client (error {code}): {}",
                target.entry(),
                Escaped(text.as_str())
            ),
        )),
        DriverError::Protocol(e) => failed(exit::from_error(&e)),
    })?;
    let info = *conn.info();
    let welcome = conn.welcome().map(|w| WelcomeInfo {
        nick: w.nick.to_string(),
        server_name: w.server_name.to_string(),
        motd: w.motd.to_string(),
        server_key: info.peer_key.map(|k| k.to_string()).unwrap_or_default(),
        fingerprint: info.fingerprint.to_string(),
    });
    let Some(welcome) = welcome else {
        return Err(failed(Failure::new(Kind::Connection, "no WELCOME")));
    };
    let (send, recv, _info) = conn.split(vec![0u8; MAX_RECORD], |io| {
        let (rd, wr) = io.into_inner().into_split();
        (FromTokio::new(BufReader::new(rd)), FromTokio::new(wr))
    });
    Ok(Established {
        send,
        recv,
        welcome,
    })
}
