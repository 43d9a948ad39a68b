//! The network side, independent of presentation: the handshake (with the
//! trust decision), then a task that owns the connection, turns received
//! messages into [`Event`]s (owned values) and sends the [`Action`]s it is
//! given.
//!
//! The connection is split: a reader task owns the receiving half and the
//! socket's read side (a record read is never cancelled half-way), the writer
//! owns the sending half. PING is answered with PONG and a bad message with
//! ERROR (PROTOCOL.md section 6) through the writer.

use std::path::PathBuf;
use std::time::Duration;

use dhchat_core::driver::{asynch, DriverError};
use dhchat_core::error::{Error, TrustError};
use dhchat_core::handshake::{
    ClientConfig, ClientHandshake, ServerTrust, MAGIC_LEN, SERVER_HELLO_LEN,
};
use dhchat_core::identity::{IdentityKey, PublicKey};
use dhchat_core::message::Message;
use dhchat_core::names::Escaped;
use dhchat_core::record::MAX_RECORD;
use dhchat_core::session::{RecvHalf, SendHalf};
use dhchat_core::Reaction;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::cli::Target;
use super::exit::{self, Failure, Kind};
use super::known_hosts::{self, KnownHosts, Lookup};
use crate::net::FromTokio;
use crate::rng::{new_rng, HostRng};

/// How long connecting and the handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Something to send to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// SAY to a room or `@nick`.
    Say {
        /// Room or `@nick`.
        target: String,
        /// Text.
        text: String,
    },
    /// JOIN.
    Join(String),
    /// PART.
    Part(String),
    /// NICK.
    Nick(String),
    /// WHO.
    Who(String),
    /// CLOSE with this reason; the session ends.
    Close(String),
}

/// What WELCOME said, and the session's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomeInfo {
    /// The nick the server assigned.
    pub nick: String,
    /// The server's name.
    pub server_name: String,
    /// Message of the day.
    pub motd: String,
    /// The server's key, `ed25519:...`.
    pub server_key: String,
    /// The session fingerprint, `xxxx-xxxx-...`.
    pub fingerprint: String,
}

/// A chat message as received (owned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// Server time in ms since the epoch.
    pub time_ms: u64,
    /// Sender.
    pub from: String,
    /// Room, or `@nick` for a direct message.
    pub room: String,
    /// Text.
    pub text: String,
    /// Replayed from history.
    pub history: bool,
    /// From an unauthenticated legacy client.
    pub legacy: bool,
}

/// Something that happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A MESSAGE.
    Message(ChatLine),
    /// A NOTICE (or a local remark about the connection).
    Notice(String),
    /// A complete roster (however many ROSTER records it took).
    Roster {
        /// Room.
        room: String,
        /// Members.
        nicks: Vec<String>,
    },
    /// An ERROR from the server.
    Error {
        /// Code.
        code: u16,
        /// Text.
        text: String,
    },
    /// The session is over (the last event): the server's CLOSE reason or
    /// what went wrong, and the failure if it was not a clean end.
    Ended {
        /// Why.
        reason: String,
        /// The failure, `None` for a server CLOSE after our own CLOSE.
        failure: Option<Failure>,
    },
}

/// How the server's key is checked.
#[derive(Debug, Clone)]
pub enum TrustPolicy {
    /// Only this key (`--server-key`).
    Pinned(PublicKey),
    /// The known-hosts file.
    KnownHosts {
        /// The file.
        path: PathBuf,
        /// Record and trust an unknown key (`--accept-new`).
        accept_new: bool,
    },
}

/// The trust decision during one handshake, as a [`ServerTrust`].
#[derive(Debug)]
pub struct HostTrust {
    policy: TrustPolicy,
    host: String,
    known: Option<KnownHosts>,
    /// A key accepted as new, to be recorded once the server proved it.
    pending: Option<PublicKey>,
    /// The known-hosts line of a mismatch.
    mismatch: Option<known_hosts::Entry>,
}

impl HostTrust {
    /// The trust for `target` under `policy` (loads the known-hosts file).
    ///
    /// # Errors
    /// A local failure for an unreadable or malformed known-hosts file.
    pub fn new(policy: TrustPolicy, target: &Target) -> Result<Self, Failure> {
        let known = match &policy {
            TrustPolicy::Pinned(_) => None,
            TrustPolicy::KnownHosts { path, .. } => {
                Some(KnownHosts::load(path).map_err(Failure::local)?)
            }
        };
        Ok(Self {
            policy,
            host: target.entry(),
            known,
            pending: None,
            mismatch: None,
        })
    }

    /// Records a key accepted as new (after its signature verified).
    fn record_pending(&mut self) -> Result<(), Failure> {
        if let (Some(key), TrustPolicy::KnownHosts { path, .. }) =
            (self.pending.take(), &self.policy)
        {
            known_hosts::append(path, &self.host, &key).map_err(Failure::local)?;
        }
        Ok(())
    }

    /// The failure for a trust error, naming the known-hosts line or pin.
    fn failure(&self, e: &TrustError) -> Failure {
        let mut msg = e.to_string();
        match (&self.policy, e) {
            (TrustPolicy::Pinned(_), _) => {
                msg.push_str(" (pinned with --server-key); nothing was sent")
            }
            (TrustPolicy::KnownHosts { path, .. }, TrustError::Mismatch { .. }) => {
                if let Some(entry) = &self.mismatch {
                    msg.push_str(&format!(
                        "; the recorded key is line {} of {}: \"{} {}\"; nothing was sent",
                        entry.line,
                        path.display(),
                        entry.host,
                        entry.key
                    ));
                }
            }
            (TrustPolicy::KnownHosts { path, .. }, TrustError::UnknownKey { .. }) => {
                msg.push_str(&format!(
                    "; {} is not in {}: refused (pass --accept-new to record it, or \
                     --server-key to pin it); nothing was sent",
                    self.host,
                    path.display()
                ));
            }
        }
        Failure::new(Kind::Trust, msg)
    }
}

impl ServerTrust for HostTrust {
    fn check(&mut self, key: &PublicKey) -> Result<(), TrustError> {
        match &self.policy {
            TrustPolicy::Pinned(pin) => {
                let mut pin = *pin;
                pin.check(key)
            }
            TrustPolicy::KnownHosts { accept_new, .. } => {
                let lookup = self
                    .known
                    .as_ref()
                    .map_or(Lookup::Unknown, |k| k.lookup(&self.host, key));
                match lookup {
                    Lookup::Match => Ok(()),
                    Lookup::Mismatch(entry) => {
                        let recorded = entry.key;
                        self.mismatch = Some(entry);
                        Err(TrustError::Mismatch {
                            recorded,
                            received: *key,
                        })
                    }
                    Lookup::Unknown if *accept_new => {
                        self.pending = Some(*key);
                        Ok(())
                    }
                    Lookup::Unknown => Err(TrustError::UnknownKey { received: *key }),
                }
            }
        }
    }
}

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

/// An established session, ready for [`spawn`].
pub struct Established {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    send: SendHalf,
    recv: RecvHalf,
    rng: HostRng,
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

/// Reads one record with the core's reader (length checked before reading on).
async fn read_record<'b>(
    rd: &mut OwnedReadHalf,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8], DriverError<std::io::Error>> {
    asynch::read_record(&mut FromTokio::new(rd), buf).await
}

/// The failure a read error ends the client with.
fn read_failure(e: DriverError<std::io::Error>) -> Failure {
    match e {
        DriverError::Io(e) => Failure::new(Kind::Connection, format!("the connection failed: {e}")),
        DriverError::Protocol(e) => exit::from_error(&e),
    }
}

/// Connects to `target` and runs the handshake.
///
/// # Errors
/// [`ConnectError`]; on every failure the client has sent nothing after
/// CLIENT_KEY (and, for a trust failure, nothing at all after it).
pub async fn connect(
    target: &Target,
    nick: &str,
    identity: Option<&IdentityKey>,
    trust: &mut HostTrust,
) -> Result<Established, ConnectError> {
    match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        connect_inner(target, nick, identity, trust),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Failed(Failure::new(
            Kind::Connection,
            format!("connecting to {} timed out", target.entry()),
        ))),
    }
}

async fn connect_inner(
    target: &Target,
    nick: &str,
    identity: Option<&IdentityKey>,
    trust: &mut HostTrust,
) -> Result<Established, ConnectError> {
    let failed = |f: Failure| ConnectError::Failed(f);
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| {
            failed(Failure::new(
                Kind::Connection,
                format!("cannot connect to {}: {e}", target.entry()),
            ))
        })?;
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut rng = new_rng();
    let mut rx = vec![0u8; MAX_RECORD];
    let mut tx = vec![0u8; MAX_RECORD];
    let io_fail = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            failed(Failure::new(
                Kind::Connection,
                format!(
                    "the server {} closed the connection during the handshake",
                    target.entry()
                ),
            ))
        } else {
            failed(Failure::new(
                Kind::Connection,
                format!("the connection to {} failed: {e}", target.entry()),
            ))
        }
    };
    let proto = |e: Error| failed(exit::from_error(&e));

    let mut magic = [0u8; MAGIC_LEN];
    rd.read_exact(&mut magic).await.map_err(io_fail)?;
    let state = ClientHandshake::new(2048)
        .read_magic(&magic)
        .map_err(proto)?;
    let dh_msg = &mut rx[..SERVER_HELLO_LEN - MAGIC_LEN];
    rd.read_exact(dh_msg).await.map_err(io_fail)?;
    let (state, n) = state.read_dh(dh_msg, &mut rng, &mut tx).map_err(proto)?;
    wr.write_all(&tx[..n]).await.map_err(io_fail)?;

    let record = read_record(&mut rd, &mut rx)
        .await
        .map_err(|e| failed(read_failure(e)))?;
    let mut config = ClientConfig::new(nick);
    config.identity = identity;
    let (state, n) = match state.read_server_auth(record, trust, &config, &mut rng, &mut tx) {
        Ok(x) => x,
        Err(Error::Trust(e)) => {
            let f = trust.failure(&e);
            return Err(match e {
                TrustError::UnknownKey { received } => ConnectError::UnknownKey(received, f),
                TrustError::Mismatch { .. } => ConnectError::Failed(f),
            });
        }
        Err(e) => return Err(proto(e)),
    };
    trust.record_pending().map_err(failed)?;
    wr.write_all(&tx[..n]).await.map_err(io_fail)?;

    let record = read_record(&mut rd, &mut rx)
        .await
        .map_err(|e| failed(read_failure(e)))?;
    let (session, welcome) = state.read_welcome(record).map_err(|e| match e {
        Error::RefusedByServer { code, text } => failed(Failure::new(
            Kind::Refused,
            format!(
                "the server {} refused this client (error {code}): {}",
                target.entry(),
                Escaped(text.as_str())
            ),
        )),
        e => proto(e),
    })?;
    let welcome_nick = welcome.nick.to_string();
    let server_name = welcome.server_name.to_string();
    let motd = welcome.motd.to_string();
    let (send, recv, info) = session.split();
    let welcome = WelcomeInfo {
        nick: welcome_nick,
        server_name,
        motd,
        server_key: info.peer_key.map(|k| k.to_string()).unwrap_or_default(),
        fingerprint: info.fingerprint.to_string(),
    };
    Ok(Established {
        read: rd,
        write: wr,
        send,
        recv,
        rng,
        welcome,
    })
}

/// What the reader asks the writer to send.
enum Control {
    Pong([u8; 8]),
    Error(u16, String),
}

/// The handles of a running session.
#[derive(Debug)]
pub struct Running {
    /// Where to send actions; [`Action::Close`] ends the session.
    pub actions: mpsc::UnboundedSender<Action>,
    /// Where events arrive; [`Event::Ended`] is the last one.
    pub events: mpsc::UnboundedReceiver<Event>,
    /// The writer task: it finishes once CLOSE has been sent.
    pub writer: JoinHandle<()>,
}

impl Running {
    /// Sends CLOSE, then waits (bounded) until the server has closed the
    /// connection, so that everything sent before was received. Events that
    /// arrive meanwhile are passed to `on_event`.
    pub async fn close(mut self, reason: &str, mut on_event: impl FnMut(Event)) {
        let _ = self.actions.send(Action::Close(reason.to_string()));
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = (&mut self.writer).await;
            while let Some(ev) = self.events.recv().await {
                if matches!(ev, Event::Ended { .. }) {
                    break;
                }
                on_event(ev);
            }
        })
        .await;
    }
}

/// Starts the reader and writer tasks of an established session.
pub fn spawn(est: Established) -> Running {
    let Established {
        read,
        write,
        send,
        recv,
        rng,
        ..
    } = est;
    let (action_tx, action_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    tokio::spawn(reader(read, recv, event_tx.clone(), ctl_tx));
    let writer = tokio::spawn(writer(write, send, rng, action_rx, ctl_rx, event_tx));
    Running {
        actions: action_tx,
        events: event_rx,
        writer,
    }
}

async fn reader(
    mut rd: OwnedReadHalf,
    mut recv: RecvHalf,
    events: mpsc::UnboundedSender<Event>,
    ctl: mpsc::UnboundedSender<Control>,
) {
    let mut buf = vec![0u8; MAX_RECORD];
    let mut rosters: Vec<(String, Vec<String>)> = Vec::new();
    let mut last_error: Option<(u16, String)> = None;
    let end = loop {
        let record = match read_record(&mut rd, &mut buf).await {
            Ok(r) => r,
            Err(e) => {
                let f = read_failure(e);
                break Event::Ended {
                    reason: f.message.clone(),
                    failure: Some(f),
                };
            }
        };
        let msg = match recv.open(record) {
            Ok(m) => m,
            Err(e) => match e.reaction() {
                Reaction::ErrorAndStay(code) => {
                    let _ = ctl.send(Control::Error(code, e.to_string()));
                    let _ = events.send(Event::Notice(format!(
                        "ignored a message from the server that breaks the protocol: {e}"
                    )));
                    continue;
                }
                _ if !e.is_fatal() => continue,
                _ => {
                    let f = exit::from_error(&e);
                    break Event::Ended {
                        reason: f.message.clone(),
                        failure: Some(f),
                    };
                }
            },
        };
        let error_before = last_error.take();
        let event = match msg {
            Message::Message(c) => Event::Message(ChatLine {
                time_ms: c.time_ms,
                from: c.from.to_string(),
                room: c.room.to_string(),
                text: c.text.to_string(),
                history: c.history,
                legacy: c.legacy,
            }),
            Message::Notice { text } => Event::Notice(text.to_string()),
            Message::Roster { room, more, nicks } => {
                let i = match rosters.iter().position(|(r, _)| r == room) {
                    Some(i) => i,
                    None => {
                        rosters.push((room.to_string(), Vec::new()));
                        rosters.len() - 1
                    }
                };
                rosters[i].1.extend(nicks.iter().map(str::to_string));
                if more {
                    continue;
                }
                let (room, nicks) = rosters.remove(i);
                Event::Roster { room, nicks }
            }
            Message::Error { code, text } => {
                last_error = Some((code, text.to_string()));
                Event::Error {
                    code,
                    text: text.to_string(),
                }
            }
            Message::Ping { nonce } => {
                let _ = ctl.send(Control::Pong(nonce));
                last_error = error_before;
                continue;
            }
            Message::Close { reason } => {
                let failure = match error_before {
                    Some((code, text)) => Failure::new(
                        Kind::Refused,
                        format!(
                            "the server refused this client and closed the session (error {code}: {})",
                            Escaped(&text)
                        ),
                    ),
                    None if reason.is_empty() => {
                        Failure::new(Kind::Connection, "the server closed the session")
                    }
                    None => Failure::new(
                        Kind::Connection,
                        format!("the server closed the session: {}", Escaped(reason)),
                    ),
                };
                break Event::Ended {
                    reason: reason.to_string(),
                    failure: Some(failure),
                };
            }
            _ => {
                last_error = error_before;
                continue;
            }
        };
        if events.send(event).is_err() {
            return;
        }
    };
    let _ = events.send(end);
}

async fn writer(
    mut wr: OwnedWriteHalf,
    mut send: SendHalf,
    mut rng: HostRng,
    mut actions: mpsc::UnboundedReceiver<Action>,
    mut ctl: mpsc::UnboundedReceiver<Control>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut tx = vec![0u8; MAX_RECORD];
    loop {
        let (msg_owned, closing) = tokio::select! {
            biased;
            c = ctl.recv() => match c {
                Some(Control::Pong(nonce)) => (Owned::Pong(nonce), false),
                Some(Control::Error(code, text)) => (Owned::Error(code, text), false),
                None => return, // the reader ended: the session is over
            },
            a = actions.recv() => match a {
                Some(Action::Close(reason)) => (Owned::Close(reason), true),
                None => (Owned::Close(String::new()), true),
                Some(a) => (Owned::Action(a), false),
            },
        };
        let msg = msg_owned.as_message();
        match send.seal(&msg, &mut rng, &mut tx) {
            Ok(n) => {
                if wr.write_all(&tx[..n]).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = events.send(Event::Notice(format!("not sent: {e}")));
            }
        }
        if closing {
            let _ = wr.shutdown().await;
            return;
        }
    }
}

enum Owned {
    Pong([u8; 8]),
    Error(u16, String),
    Close(String),
    Action(Action),
}

impl Owned {
    fn as_message(&self) -> Message<'_> {
        match self {
            Owned::Pong(nonce) => Message::Pong { nonce: *nonce },
            Owned::Error(code, text) => Message::Error { code: *code, text },
            Owned::Close(reason) => Message::Close { reason },
            Owned::Action(a) => match a {
                Action::Say { target, text } => Message::Say { room: target, text },
                Action::Join(room) => Message::Join { room },
                Action::Part(room) => Message::Part { room },
                Action::Nick(nick) => Message::Nick { nick },
                Action::Who(room) => Message::Who { room },
                Action::Close(reason) => Message::Close { reason },
            },
        }
    }
}
