//! One client's connection after the handshake: registration (nick, client
//! cap, WELCOME), a writer task that owns the sending half of the session and
//! drains the client's bounded queue, and the reader loop that opens records
//! and acts on them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dhchat_core::connection::Reader;
use dhchat_core::driver::{asynch, Buffers, DriverError};
use dhchat_core::error::{code, Error, Reaction, Refusal};
use dhchat_core::message::{roster_chunks, Message};
use dhchat_core::names::Escaped;
use dhchat_core::record::MAX_RECORD;
use dhchat_core::session::SendHalf;
use dhchat_core::Reply;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::event::{Chat, Event};
use super::handshake::{self, Accepted};
use super::listener::{IpSlot, PendingSlot};
use super::ratelimit::TokenBucket;
use super::rooms::{key, ClientId, Hub, Rename, LOBBY, MAX_ROOMS_PER_CLIENT};
use super::Shared;
use crate::net::FromTokio;
use crate::rng::HostRng;

/// Bytes the writer gathers before writing them in one go.
const WRITE_BATCH: usize = 32 * 1024;

/// How long a refusal (ERROR 8, CLOSE) may take to write.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(5);

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Serves one accepted TCP connection to its end.
pub async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    _ip_slot: IpSlot,
    pending: PendingSlot,
) {
    tracing::debug!(%peer, "connect");
    let Some(accepted) = handshake::run(&shared, stream, peer, pending).await else {
        return;
    };
    let Accepted {
        mut io,
        mut conn,
        nick,
        client_key: _,
        mut rng,
    } = accepted;

    let welcome = |nick: &str| Event::Welcome {
        nick: nick.to_owned(),
        server_name: shared.server_name.clone(),
        motd: shared.motd.clone(),
    };
    let mut reg = match shared.hub.register(&nick, welcome) {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(%peer, "refused: server busy (--max-clients {})", shared.args.max_clients);
            let mut buf = vec![0u8; 2 * MAX_RECORD];
            let Ok(len) = conn.refuse(&Refusal::ServerBusy, &mut rng, &mut buf) else {
                return;
            };
            let _ =
                tokio::time::timeout(FAREWELL_TIMEOUT, asynch::send_bytes(&mut io, &buf[..len]))
                    .await;
            return;
        }
    };
    let id = reg.id;
    tracing::info!(%peer, client = id, nick = %reg.nick, "client joined");
    let mut guard = Unregister {
        hub: shared.hub.clone(),
        id,
        reason: "connection ended".into(),
    };

    // The hub queued WELCOME first; only the admitted connection seals it.
    let mut buf = vec![0u8; MAX_RECORD];
    let welcomed = match reg.rx.try_recv() {
        Ok(Event::Welcome {
            nick,
            server_name,
            motd,
        }) => conn.welcome(&nick, &server_name, &motd, &mut rng, &mut buf),
        _ => Err(Error::ConnectionLost),
    };
    let sent = match welcomed {
        Ok(n) => asynch::send_bytes(&mut io, &buf[..n]).await.is_ok(),
        Err(e) => {
            tracing::error!(%peer, "WELCOME not sent: {e}");
            false
        }
    };
    let Some((send, recv, _info)) = conn.split() else {
        return;
    };
    if !sent {
        return;
    }
    let (rd, wr) = io.into_inner().into_split();
    let mut writer = tokio::spawn(write_loop(wr, send, rng, reg.rx));
    let reason = tokio::select! {
        r = read_loop(&shared, id, recv, FromTokio::new(rd)) => r,
        w = &mut writer => match w {
            Ok(WriterEnd::Closed) => "server closed the session".to_owned(),
            Ok(WriterEnd::Failed(e)) => format!("connection lost (write: {e})"),
            Ok(WriterEnd::QueueGone) => "queue closed".to_owned(),
            Err(_) => "internal error in the writer".to_owned(),
        },
        () = reg.kill.notified() => "disconnected: cannot keep up (outgoing queue full)".to_owned(),
    };
    writer.abort();
    tracing::info!(%peer, client = id, "disconnect: {reason}");
    guard.reason = short_reason(&reason);
}

/// The reason other clients are told when someone leaves.
fn short_reason(reason: &str) -> String {
    if reason.starts_with("client closed") {
        "quit".into()
    } else if reason.contains("cannot keep up") {
        "too slow".into()
    } else if reason.contains("idle") {
        "idle timeout".into()
    } else if reason.starts_with("server closed") {
        "server shutting down".into()
    } else {
        "connection lost".into()
    }
}

/// Takes the client out of the shared state when its connection ends, however
/// it ends.
struct Unregister {
    hub: Arc<Hub>,
    id: ClientId,
    reason: String,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        self.hub.unregister(self.id, &self.reason);
    }
}

enum WriterEnd {
    /// CLOSE was sent.
    Closed,
    /// Writing failed.
    Failed(String),
    /// Every sender of the queue is gone.
    QueueGone,
}

async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut send: SendHalf,
    mut rng: HostRng,
    mut rx: mpsc::Receiver<Event>,
) -> WriterEnd {
    let mut record = vec![0u8; MAX_RECORD];
    let mut out = Vec::with_capacity(WRITE_BATCH + MAX_RECORD);
    while let Some(first) = rx.recv().await {
        out.clear();
        let mut next = Some(first);
        let mut close = false;
        while let Some(ev) = next.take() {
            match ev.with_message(|m| send.seal(m, &mut rng, &mut record)) {
                Ok(n) => out.extend_from_slice(record.get(..n).unwrap_or(&[])),
                Err(e @ Error::Record(_)) => return WriterEnd::Failed(e.to_string()),
                Err(e) => tracing::error!("not sent: {e}"),
            }
            if matches!(ev, Event::Close(_)) {
                close = true;
                break;
            }
            if out.len() < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if let Err(e) = wr.write_all(&out).await {
            return WriterEnd::Failed(e.to_string());
        }
        if close {
            let _ = wr.shutdown().await;
            return WriterEnd::Closed;
        }
    }
    WriterEnd::QueueGone
}

async fn read_loop(
    shared: &Shared,
    id: ClientId,
    recv: Reader,
    io: FromTokio<OwnedReadHalf>,
) -> String {
    // Every client starts in #lobby: history first, then live messages.
    if shared.history.join(id, LOBBY).await.is_none() {
        return "server shutting down".into();
    }
    let idle = Duration::from_secs(shared.args.idle_timeout);
    let mut bucket = TokenBucket::new(shared.args.rate, shared.args.burst);
    let mut rx = asynch::Receiver::new(io, recv, Box::new(Buffers::new()));
    loop {
        let mut pinged = false;
        let read = loop {
            // Receiver::recv is cancel-safe: a partial record survives the
            // idle timer firing.
            tokio::select! {
                r = rx.recv() => break r,
                () = tokio::time::sleep(idle) => {
                    if pinged {
                        return format!("idle timeout: nothing received for {}s after PING", idle.as_secs());
                    }
                    pinged = true;
                    shared.hub.send_to(id, Event::Ping(now_ms().to_be_bytes()));
                }
            }
        };
        let received = match read {
            Ok(r) => r,
            Err(DriverError::Io(e)) => return format!("connection lost: {e}"),
            Err(DriverError::Protocol(Error::ConnectionLost)) => {
                return "connection lost: end of stream without CLOSE".into()
            }
            Err(DriverError::Protocol(e)) => return format!("bad record: {e}"),
        };
        // Rate limiting wraps the core's reply: ERROR 7 replaces it, and the
        // message is not acted on.
        if received.is_answerable() && !bucket.take() {
            let text = format!(
                "rate limited: at most {} messages per second",
                shared.args.rate
            );
            shared
                .hub
                .send_to(id, Event::Error(code::RATE_LIMITED, text));
            continue;
        }
        match received.reply {
            Some(Reply::Pong(nonce)) => shared.hub.send_to(id, Event::Pong(nonce)),
            Some(Reply::Error { code, text }) => shared
                .hub
                .send_to(id, Event::Error(code, text.as_str().to_owned())),
            None => {}
        }
        let msg = match received.message {
            Ok(m) => m,
            Err(e) => match e.reaction() {
                Reaction::Stop => return "connection lost".into(),
                Reaction::CloseSilently | Reaction::ErrorThenClose(_) => {
                    return format!("protocol error: {e}")
                }
                Reaction::ErrorAndStay(_) | Reaction::Ignore | Reaction::Local => continue,
            },
        };
        if let Some(reason) = handle(shared, id, msg).await {
            return reason;
        }
    }
}

fn error(shared: &Shared, id: ClientId, code: u16, text: String) {
    shared.hub.send_to(id, Event::Error(code, text));
}

/// Acts on one message; `Some(reason)` ends the connection.
async fn handle(shared: &Shared, id: ClientId, msg: Message<'_>) -> Option<String> {
    let hub = &shared.hub;
    match msg {
        Message::Say { room, text } => {
            let time_ms = now_ms();
            if let Some(nick) = room.strip_prefix('@') {
                if shared.args.log_messages {
                    tracing::info!(client = id, to = %room, text = %Escaped(text), "direct message");
                }
                if !hub.direct(id, nick, time_ms, text) {
                    error(
                        shared,
                        id,
                        code::NO_SUCH_TARGET,
                        format!("no such nick: {nick}"),
                    );
                }
                return None;
            }
            let room_key = key(room);
            if !hub.is_member(id, &room_key) {
                error(
                    shared,
                    id,
                    code::NO_SUCH_TARGET,
                    format!("you are not in {room}"),
                );
                return None;
            }
            let Some(from) = hub.nick_of(id) else {
                return Some("unregistered".into());
            };
            if shared.args.log_messages {
                tracing::info!(client = id, %room, text = %Escaped(text), "message");
            }
            let chat = Chat {
                time_ms,
                history: false,
                from,
                room: hub.room_name(&room_key, room),
                text: text.to_owned(),
            };
            if !shared.history.say(id, Arc::new(chat)).await {
                return Some("server shutting down".into());
            }
        }
        Message::Join { room } => {
            if hub.rooms_of(id) >= MAX_ROOMS_PER_CLIENT && !hub.is_member(id, &key(room)) {
                error(
                    shared,
                    id,
                    code::NOT_ALLOWED,
                    format!("at most {MAX_ROOMS_PER_CLIENT} rooms at once"),
                );
                return None;
            }
            match shared.history.join(id, room).await {
                None => return Some("server shutting down".into()),
                Some(joined) => tracing::debug!(client = id, %room, joined, "join"),
            }
        }
        Message::Part { room } => {
            if !hub.part(id, room) {
                error(
                    shared,
                    id,
                    code::NO_SUCH_TARGET,
                    format!("you are not in {room}"),
                );
            }
        }
        Message::Nick { nick } => match hub.rename(id, nick) {
            Rename::Taken => error(
                shared,
                id,
                code::NAME_IN_USE,
                format!("nick {nick} is in use"),
            ),
            Rename::Changed(old) => tracing::info!(client = id, %old, new = %nick, "nick change"),
        },
        Message::Who { room } => match hub.roster(room) {
            None => error(
                shared,
                id,
                code::NO_SUCH_TARGET,
                format!("no such room: {room}"),
            ),
            Some((name, nicks)) => {
                let list: Vec<&str> = nicks.iter().map(String::as_str).collect();
                for chunk in roster_chunks(&name, &list) {
                    if let Message::Roster { room, more, nicks } = chunk {
                        hub.send_to(
                            id,
                            Event::Roster {
                                room: room.to_owned(),
                                more,
                                nicks: nicks.iter().map(str::to_owned).collect(),
                            },
                        );
                    }
                }
            }
        },
        // The core's reply (PONG) was queued by the read loop.
        Message::Ping { .. } | Message::Pong { .. } => {}
        Message::Error { code, text } => {
            tracing::debug!(client = id, code, text = %Escaped(text), "client reported an error");
        }
        Message::Close { reason } => return Some(format!("client closed: {}", Escaped(reason))),
        // RecvHalf::open refuses every other type as out of place.
        other => {
            error(
                shared,
                id,
                code::UNSUPPORTED_TYPE,
                format!("unexpected message type 0x{:02x}", other.msg_type()),
            );
        }
    }
    None
}
