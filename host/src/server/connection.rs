//! One client's connection from accept to end: the handshake, then WELCOME
//! (or the busy refusal), then the session: a writer task that drains the
//! client's queue, and the reader loop in this task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dhchat_core::driver::asynch;
use dhchat_core::error::{code, Refusal};
use dhchat_core::identity::PublicKey;
use dhchat_core::message::Message;
use dhchat_core::record::MAX_RECORD;
use dhchat_core::ServerConnection;
use tokio::net::TcpStream;

use std::collections::HashSet;

use super::accounts::{self, AdmitError, Service};
use super::bus::{Bus, ClientId, RegisterError, Registered};
use super::commands::Context;
use super::disconnect::Disconnect;
use super::event::Event;
use super::gate::Ticket;
use super::handshake::{Accepted, Handshaker};
use super::offline;
use super::reader::{self, read_loop, RecordBuffer};
use super::rooms::{Hub, LOBBY};
use super::writer::write_loop;
use crate::net::FromTokio;
use crate::rng::HostRng;

/// How long a refusal (ERROR 8, CLOSE) may take to write.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(5);

/// What an established session needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The reader's idle interval and rate limit.
    pub reader: reader::Limits,
    /// Log the text of chat messages.
    pub log_messages: bool,
    /// Server name for WELCOME.
    pub server_name: Arc<str>,
    /// MOTD for WELCOME.
    pub motd: Arc<str>,
    /// The client cap, for the log line of a busy refusal.
    pub max_clients: usize,
}

/// What every connection shares.
pub struct Services {
    /// Runs the handshake.
    pub handshaker: Handshaker,
    /// Settings of the session after the handshake.
    pub settings: Settings,
    /// Clients and rooms of this process.
    pub hub: Arc<Hub>,
    /// Room messages, direct messages, nicks, joins.
    pub bus: Arc<dyn Bus>,
    /// Accounts and offline messages (`None` with `--no-accounts`).
    pub accounts: Option<Service>,
}

/// Serves one accepted TCP connection to its end; `ticket` holds its places
/// at the gate until then.
pub async fn serve(
    services: Arc<Services>,
    stream: TcpStream,
    peer: SocketAddr,
    mut ticket: Ticket,
) {
    tracing::debug!(%peer, "connect");
    // The handshake's future (about 8 KiB: the core's machine and buffers)
    // lives on the heap only while it runs, so the connection's task, which
    // lives as long as the session, holds only the session's state.
    let Some(accepted) = Box::pin(services.handshaker.run(stream, peer, &mut ticket)).await else {
        return;
    };
    let Some(welcomed) = welcome_or_refuse(&services, peer, accepted).await else {
        return;
    };
    let (id, nick) = (welcomed.reg.id, &welcomed.reg.nick);
    tracing::info!(%peer, client = id, nick = %nick, "client joined");
    let mut guard = Unregister {
        bus: services.bus.clone(),
        id,
        reason: "connection ended",
    };
    let end = run_session(&services, welcomed).await;
    tracing::info!(%peer, client = guard.id, "disconnect: {end}");
    guard.reason = end.short_reason();
}

/// A client past WELCOME: registered on the bus, WELCOME first on its queue.
struct Welcomed {
    reg: Registered,
    /// The client's identity key, if it proved one.
    client_key: Option<PublicKey>,
    /// Its nick is an account whose key it proved.
    account: bool,
    io: FromTokio<TcpStream>,
    conn: ServerConnection,
    rng: HostRng,
}

/// How long a session whose key was revoked has to receive ERROR 3 and
/// CLOSE before its connection is closed anyway.
const REVOKED_FAREWELL: Duration = Duration::from_millis(500);

/// The step between the handshake and the session: registers the client on
/// the bus with WELCOME first on its queue or, when the server is full or
/// shutting down, sends the busy refusal (ERROR 8, CLOSE) and returns `None`.
async fn welcome_or_refuse(
    services: &Services,
    peer: SocketAddr,
    accepted: Accepted,
) -> Option<Welcomed> {
    let Accepted {
        mut io,
        mut conn,
        nick,
        client_key,
        mut rng,
    } = accepted;
    let settings = &services.settings;
    let welcome = |nick: &str| Event::welcome(nick, &settings.server_name, &settings.motd);
    let admitted = match &services.accounts {
        None => services
            .bus
            .register(&nick, &HashSet::new(), &welcome)
            .await
            .map(|reg| (reg, false))
            .map_err(|RegisterError::Busy| AdmitError::Busy),
        Some(service) => {
            accounts::admit(
                service,
                services.bus.as_ref(),
                &services.hub,
                &nick,
                client_key,
                &welcome,
            )
            .await
        }
    };
    match admitted {
        Ok((reg, account)) => Some(Welcomed {
            reg,
            client_key,
            account,
            io,
            conn,
            rng,
        }),
        Err(why) => {
            match why {
                AdmitError::Busy => tracing::warn!(
                    %peer,
                    "refused: server busy (--max-clients {})",
                    settings.max_clients
                ),
                AdmitError::Store(e) => {
                    tracing::error!(%peer, error = %e, "refused (as busy): cannot check the nick");
                }
            }
            let mut buf = vec![0u8; 2 * MAX_RECORD];
            let len = conn.refuse(&Refusal::ServerBusy, &mut rng, &mut buf).ok()?;
            let bytes = buf.get(..len).unwrap_or(&[]);
            let _ =
                tokio::time::timeout(FAREWELL_TIMEOUT, asynch::send_bytes(&mut io, bytes)).await;
            None
        }
    }
}

/// Runs the writer task and the reader loop until either ends the session
/// (or the hub tells it to end); returns why it ended.
async fn run_session(services: &Services, welcomed: Welcomed) -> Disconnect {
    // The start (its handshake machine, the WELCOME buffer) runs boxed, so
    // the connection's task holds only what the running session needs.
    match Box::pin(start_session(services, welcomed)).await {
        Ok(session) => drive_session(services, session).await,
        Err(end) => end,
    }
}

/// A session past WELCOME: its receiving side here, its writer task running.
struct Running {
    id: ClientId,
    client_key: Option<PublicKey>,
    kill: Arc<tokio::sync::Notify>,
    receiver: reader::Receiver,
    writer: tokio::task::JoinHandle<Disconnect>,
}

/// Joins #lobby (history queued after WELCOME), queues an account's offline
/// messages, writes WELCOME, splits the connection and starts the writer.
async fn start_session(services: &Services, welcomed: Welcomed) -> Result<Running, Disconnect> {
    let Welcomed {
        mut reg,
        client_key,
        account,
        mut io,
        mut conn,
        mut rng,
    } = welcomed;
    // Every client starts in #lobby: a member, with the lobby's history
    // queued after WELCOME, before WELCOME is written (so a client that has
    // WELCOME is in every WHO of #lobby).
    if services.bus.join(reg.id, LOBBY).await.is_err() {
        return Err(Disconnect::HistoryGone);
    }
    // An account's offline direct messages come right after the #lobby
    // history (PROTOCOL.md section 5.1).
    if let (true, Some(service)) = (account, &services.accounts) {
        match offline::deliver(service, &services.hub, reg.id, &reg.nick).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(client = reg.id, messages = n, "offline messages delivered"),
            Err(e) => {
                tracing::error!(client = reg.id, error = %e, "offline messages kept: cannot deliver them")
            }
        }
    }
    // The bus queued WELCOME first; only the admitted connection seals it,
    // and it is written before the writer task starts.
    // Taking it off the queue gives its bytes back, as the writer does.
    let Ok(first) = reg.rx.try_recv() else {
        return Err(Disconnect::WriterFailed);
    };
    reg.bytes.release(first.queued_bytes());
    // Only for WELCOME: freed before the session runs.
    let mut buf = vec![0u8; MAX_RECORD];
    let welcomed = match &first {
        Event::Message(m) => match m.message() {
            Message::Welcome {
                nick,
                server_name,
                motd,
            } => conn.welcome(nick, server_name, motd, &mut rng, &mut buf),
            _ => return Err(Disconnect::WriterFailed),
        },
        Event::Chat(_) | Event::Relay(_) => return Err(Disconnect::WriterFailed),
    };
    let sent = match welcomed {
        Ok(n) => asynch::send_bytes(&mut io, buf.get(..n).unwrap_or(&[])).await,
        Err(e) => return Err(Disconnect::Protocol(e)),
    };
    if let Err(e) = sent {
        return Err(Disconnect::WriteFailed(e.to_string()));
    }
    drop(buf);
    let Some((send, reader, _info)) = conn.split() else {
        return Err(Disconnect::WriterFailed);
    };
    let (rd, wr) = io.into_inner().into_split();
    // The receiver needs one record's worth, not the handshake's two, and
    // holds it only while a record arrives.
    let receiver = asynch::Receiver::new(FromTokio::new(rd), reader, RecordBuffer::default());
    let writer = tokio::spawn(write_loop(wr, send, rng, reg.rx, reg.bytes));
    Ok(Running {
        id: reg.id,
        client_key,
        kill: reg.kill,
        receiver,
        writer,
    })
}

/// Reads the client's records until the session ends, however it ends.
async fn drive_session(services: &Services, session: Running) -> Disconnect {
    let Running {
        id,
        client_key,
        kill,
        receiver,
        mut writer,
    } = session;
    let cx = Context {
        member: id,
        hub: &services.hub,
        bus: services.bus.as_ref(),
        log_messages: services.settings.log_messages,
        client_key,
        accounts: services.accounts.as_ref(),
    };
    let admission = services.handshaker.admission();
    let end = tokio::select! {
        end = read_loop(&cx, &services.settings.reader, receiver) => end,
        w = &mut writer => w.unwrap_or(Disconnect::WriterFailed),
        () = kill.notified() => Disconnect::TooSlow,
        () = admission.revoked(client_key.as_ref()) => {
            services.hub.send_to(
                id,
                Event::error(code::NOT_ALLOWED, "your key is no longer authorized"),
            );
            services.hub.send_to(id, Event::close("key no longer authorized"));
            let _ = tokio::time::timeout(REVOKED_FAREWELL, &mut writer).await;
            Disconnect::Revoked
        }
    };
    writer.abort();
    end
}

/// Takes the client off the bus when its session ends, however it ends,
/// telling the members of its rooms `reason` (the legacy listener's
/// sessions use it too).
pub(super) struct Unregister {
    pub(super) bus: Arc<dyn Bus>,
    pub(super) id: ClientId,
    pub(super) reason: &'static str,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        self.bus.unregister(self.id, self.reason);
    }
}
