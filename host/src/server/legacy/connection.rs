//! One legacy client: the key exchange within the handshake limits, registration in
//! `#lobby` as `legacy-XXXXXXXX`, and the reader that relays its text.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dhchat_core::driver::asynch::Offload as _;
use dhchat_core::legacy::{
    self, LegacyKey, LegacyNick, ServerExchange, CLIENT_KEY_LEN, EXIT_ANSWER, EXIT_COMMAND,
    MAX_READ, SERVER_KEY_LEN,
};
use dhchat_core::names::{text_check, Escaped};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;

use super::super::bus::{self, ClientId, RegisterError};
use super::super::connection::{Services, Unregister};
use super::super::event::{now_ms, Chat, Event};
use super::super::gate::Ticket;
use super::super::ratelimit::TokenBucket;
use super::super::rooms::LOBBY;
use super::writer::{self, End};
use crate::rng::new_rng;

/// How long the last line (`Acknowledged`, a refusal) may take to write.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one legacy connection to its end.
pub async fn serve(
    services: Arc<Services>,
    stream: TcpStream,
    peer: SocketAddr,
    mut ticket: Ticket,
) {
    tracing::debug!(%peer, "legacy connect");
    let exchanged = exchange(&services, stream, peer).await;
    ticket.handshake_over();
    let Some((stream, key)) = exchanged else {
        return;
    };
    let nick = LegacyNick::of(&peer.to_string());
    let settings = &services.settings;
    let welcome = |nick: &str| Event::welcome(nick, &settings.server_name, &settings.motd);
    let (rd, wr) = stream.into_split();
    // A legacy client is anonymous: it gets no account's nick.
    let reserved = match &services.accounts {
        Some(a) => a.reserved(nick.as_str(), None).await.map_err(|e| {
            tracing::error!(%peer, error = %e, "legacy client refused: cannot check the nick");
        }),
        None => Ok(std::collections::HashSet::new()),
    };
    let registered = match reserved {
        Ok(r) => services.bus.register(nick.as_str(), &r, &welcome).await,
        Err(()) => Err(RegisterError::Busy),
    };
    let reg = match registered {
        Ok(r) => r,
        Err(RegisterError::Busy) => {
            tracing::warn!(%peer, "legacy client refused: server busy (--max-clients {})", settings.max_clients);
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let _ = tx.try_send(Event::close("server is full, try again later"));
            drop(tx);
            let _ = tokio::time::timeout(FAREWELL_TIMEOUT, writer::run(wr, key, rx, None)).await;
            return;
        }
    };
    let id = reg.id;
    tracing::info!(%peer, client = id, nick = %reg.nick, "legacy client joined (unauthenticated)");
    let mut guard = Unregister {
        bus: services.bus.clone(),
        id,
        reason: "connection lost",
    };
    // In #lobby, with its history queued, before the writer starts: the writer
    // then sees the whole replay at once and cuts it to the last lines.
    if services.bus.join(id, LOBBY).await.is_err() {
        return;
    }
    let mut writer = tokio::spawn(writer::run(
        wr,
        key.clone(),
        reg.rx,
        Some(reg.bytes.clone()),
    ));
    let (reason, wait_writer) = tokio::select! {
        r = read_loop(&services, id, &key, rd) => r,
        w = &mut writer => (match w {
            Ok(End::Closed) => "server closed the session".to_owned(),
            Ok(End::Failed(e)) => format!("connection lost (write: {e})"),
            Ok(End::QueueGone) => "queue closed".to_owned(),
            Err(_) => "internal error in the writer".to_owned(),
        }, false),
        () = reg.kill.notified() => ("disconnected: cannot keep up (outgoing queue full)".to_owned(), false),
    };
    if wait_writer {
        let _ = tokio::time::timeout(FAREWELL_TIMEOUT, &mut writer).await;
    }
    writer.abort();
    tracing::info!(%peer, client = id, "legacy disconnect: {reason}");
    guard.reason = if reason.starts_with("client closed") {
        "quit"
    } else if reason.contains("cannot keep up") {
        "too slow"
    } else {
        "connection lost"
    };
}

/// The key exchange: the 2064-byte key message in one write and the client's 1024
/// bytes, all within the handshake deadline; the two exponentiations run on the
/// handshaker's blocking pool under its CPU permits (held only while they compute,
/// never across the network reads), as for version 1 handshakes. `None` if it failed
/// (logged).
async fn exchange(
    services: &Services,
    mut stream: TcpStream,
    peer: SocketAddr,
) -> Option<(TcpStream, LegacyKey)> {
    let handshaker = &services.handshaker;
    let deadline = handshaker.timeout();
    let end = tokio::time::Instant::now() + deadline;
    let mut pool = handshaker.pool();
    let group = handshaker.group();
    let prepared = tokio::time::timeout_at(
        end,
        pool.run(move || {
            let server = ServerExchange::new(group, &mut new_rng());
            let mut msg = vec![0u8; SERVER_KEY_LEN];
            server.write_key_message(&mut msg).map(|_| (server, msg))
        }),
    )
    .await;
    let (server, msg) = match prepared {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::error!(%peer, "legacy key exchange: {e}");
            return None;
        }
        Err(_) => {
            tracing::info!(%peer, "legacy key exchange failed: no CPU permit within {}s", deadline.as_secs());
            return None;
        }
    };
    let io = tokio::time::timeout_at(end, async {
        stream.write_all(&msg).await?;
        let mut client_key = vec![0u8; CLIENT_KEY_LEN];
        stream.read_exact(&mut client_key).await?;
        Ok::<_, std::io::Error>(client_key)
    })
    .await;
    let client_key = match io {
        Ok(Ok(k)) => k,
        Ok(Err(e)) => {
            tracing::info!(%peer, "legacy key exchange failed: {e}");
            return None;
        }
        Err(_) => {
            tracing::info!(%peer, "legacy key exchange failed: not finished within {}s", deadline.as_secs());
            return None;
        }
    };
    let key = tokio::time::timeout_at(end, pool.run(move || server.finish(&client_key))).await;
    match key {
        Ok(Ok(key)) => {
            tracing::info!(%peer, group = %group, "legacy key exchange complete (unauthenticated)");
            Some((stream, key))
        }
        Ok(Err(e)) => {
            tracing::info!(%peer, "legacy key exchange failed: {e}");
            None
        }
        Err(_) => {
            tracing::info!(%peer, "legacy key exchange failed: not finished within {}s", deadline.as_secs());
            None
        }
    }
}

/// Reads the client's messages (each read one message) and relays their text to
/// `#lobby` until the client leaves or misbehaves. Returns the reason and whether the
/// writer should be given time to finish (after `!exit`).
async fn read_loop(
    services: &Services,
    id: ClientId,
    key: &LegacyKey,
    mut rd: OwnedReadHalf,
) -> (String, bool) {
    let limits = &services.settings.reader;
    let hub = &services.hub;
    // A legacy client cannot answer PING: silence for as long as a version 1 client may
    // be silent (idle timeout, then as long again after PING) ends it.
    let idle = limits.idle.saturating_mul(2);
    let mut bucket = TokenBucket::new(limits.rate, limits.burst);
    // One byte more than a message may have, to see an oversized read.
    let mut buf = vec![0u8; MAX_READ + 1];
    loop {
        let n = match tokio::time::timeout(idle, rd.read(&mut buf)).await {
            Err(_) => {
                return (
                    format!("idle timeout: nothing received for {}s", idle.as_secs()),
                    false,
                )
            }
            Ok(Err(e)) => return (format!("connection lost: {e}"), false),
            Ok(Ok(0)) => return ("connection lost: end of stream".into(), false),
            Ok(Ok(n)) => n,
        };
        let text = match buf.get_mut(..n).map(|read| legacy::open(key, read)) {
            Some(Ok(t)) => t,
            Some(Err(e)) => return (format!("bad legacy input: {e}"), false),
            None => return ("bad legacy input".into(), false),
        };
        if !bucket.take() {
            return (
                format!(
                    "flood: more than {} messages per second (burst {})",
                    limits.rate, limits.burst
                ),
                false,
            );
        }
        if text == EXIT_COMMAND {
            hub.send_to(id, Event::close(EXIT_ANSWER));
            return ("client closed: !exit".into(), true);
        }
        if text.is_empty() {
            continue;
        }
        if let Err(e) = text_check(text) {
            hub.send_to(id, Event::notice(&format!("not relayed: {e}")));
            continue;
        }
        let Some(from) = hub.nick_of(id) else {
            return ("unregistered".into(), false);
        };
        if services.settings.log_messages {
            tracing::info!(client = id, room = LOBBY, text = %Escaped(text), "legacy message");
        }
        let chat = Chat {
            time_ms: now_ms(),
            history: false,
            from,
            room: hub.room_name(&bus::key(LOBBY), LOBBY),
            text: text.to_owned(),
            legacy: true,
            account: false,
        };
        if services.bus.publish(id, Arc::new(chat)).await.is_err() {
            return ("server shutting down".into(), false);
        }
    }
}
