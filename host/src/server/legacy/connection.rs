//! One legacy client: the key exchange within the handshake limits, registration in
//! `#lobby` as `legacy-XXXXXXXX`, and the reader that relays its text.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dhchat_core::legacy::{
    self, LegacyKey, LegacyNick, ServerExchange, CLIENT_KEY_LEN, EXIT_ANSWER, EXIT_COMMAND,
    MAX_READ, SERVER_KEY_LEN,
};
use dhchat_core::names::{text_check, Escaped};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;

use super::super::connection::now_ms;
use super::super::event::{Chat, Event};
use super::super::listener::{IpSlot, PendingSlot};
use super::super::ratelimit::TokenBucket;
use super::super::rooms::{self, ClientId, Hub, LOBBY};
use super::super::Shared;
use super::writer::{self, End};
use crate::rng::new_rng;

/// How long the last line (`Acknowledged`, a refusal) may take to write.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one legacy connection to its end.
pub async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    _ip_slot: IpSlot,
    pending: PendingSlot,
) {
    tracing::debug!(%peer, "legacy connect");
    let Some((stream, key)) = exchange(&shared, stream, peer, pending).await else {
        return;
    };
    let nick = LegacyNick::of(&peer.to_string());
    let welcome = |nick: &str| Event::Welcome {
        nick: nick.to_owned(),
        server_name: shared.server_name.clone(),
        motd: shared.motd.clone(),
    };
    let (rd, wr) = stream.into_split();
    let reg = match shared.hub.register(nick.as_str(), welcome) {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(%peer, "legacy client refused: server busy (--max-clients {})", shared.args.max_clients);
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let _ = tx.try_send(Event::Close("server is full, try again later".into()));
            drop(tx);
            let _ = tokio::time::timeout(FAREWELL_TIMEOUT, writer::run(wr, key, rx)).await;
            return;
        }
    };
    let id = reg.id;
    tracing::info!(%peer, client = id, nick = %reg.nick, "legacy client joined (unauthenticated)");
    let mut guard = Unregister {
        hub: shared.hub.clone(),
        id,
        reason: "connection lost".into(),
    };
    let mut writer = tokio::spawn(writer::run(wr, key.clone(), reg.rx));
    let (reason, wait_writer) = tokio::select! {
        r = read_loop(&shared, id, &key, rd) => r,
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
        "quit".into()
    } else if reason.contains("cannot keep up") {
        "too slow".into()
    } else {
        "connection lost".into()
    };
}

/// Takes the client out of the shared state however its connection ends.
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

/// The key exchange: a handshake slot, then the 2064-byte key message in one write and
/// the client's 1024 bytes, all within the handshake deadline. `None` if it failed
/// (logged); the slot and the pending place are released either way.
async fn exchange(
    shared: &Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    pending: PendingSlot,
) -> Option<(TcpStream, LegacyKey)> {
    let deadline = Duration::from_secs(shared.args.handshake_timeout);
    let end = tokio::time::Instant::now() + deadline;
    let permit = match tokio::time::timeout_at(end, shared.handshakes.clone().acquire_owned()).await
    {
        Ok(Ok(p)) => p,
        Ok(Err(_)) => return None,
        Err(_) => {
            tracing::warn!(%peer, "legacy client refused: no handshake slot free within the deadline");
            return None;
        }
    };
    let group = shared.args.group;
    let prepared = tokio::task::spawn_blocking(move || {
        let server = ServerExchange::new(group, &mut new_rng());
        let mut msg = vec![0u8; SERVER_KEY_LEN];
        server.write_key_message(&mut msg).map(|_| (server, msg))
    })
    .await;
    let (server, msg) = match prepared {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::error!(%peer, "legacy key exchange: {e}");
            return None;
        }
        Err(_) => return None,
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
    let key = tokio::task::spawn_blocking(move || server.finish(&client_key)).await;
    drop(permit);
    drop(pending);
    match key {
        Ok(Ok(key)) => {
            tracing::info!(%peer, group = %group, "legacy key exchange complete (unauthenticated)");
            Some((stream, key))
        }
        Ok(Err(e)) => {
            tracing::info!(%peer, "legacy key exchange failed: {e}");
            None
        }
        Err(_) => None,
    }
}

/// Reads the client's messages (each read one message) and relays their text to
/// `#lobby` until the client leaves or misbehaves. Returns the reason and whether the
/// writer should be given time to finish (after `!exit`).
async fn read_loop(
    shared: &Shared,
    id: ClientId,
    key: &LegacyKey,
    mut rd: OwnedReadHalf,
) -> (String, bool) {
    if shared.history.join(id, LOBBY).await.is_none() {
        return ("server shutting down".into(), false);
    }
    // A legacy client cannot answer PING: silence for as long as a version 1 client may
    // be silent (idle timeout, then as long again after PING) ends it.
    let idle = Duration::from_secs(shared.args.idle_timeout.saturating_mul(2));
    let mut bucket = TokenBucket::new(shared.args.rate, shared.args.burst);
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
                    shared.args.rate, shared.args.burst
                ),
                false,
            );
        }
        if text == EXIT_COMMAND {
            shared.hub.send_to(id, Event::Close(EXIT_ANSWER.into()));
            return ("client closed: !exit".into(), true);
        }
        if text.is_empty() {
            continue;
        }
        if let Err(e) = text_check(text) {
            shared
                .hub
                .send_to(id, Event::Notice(format!("not relayed: {e}")));
            continue;
        }
        let Some(from) = shared.hub.nick_of(id) else {
            return ("unregistered".into(), false);
        };
        if shared.args.log_messages {
            tracing::info!(client = id, room = LOBBY, text = %Escaped(text), "legacy message");
        }
        let chat = Chat {
            time_ms: now_ms(),
            history: false,
            from,
            room: shared.hub.room_name(&rooms::key(LOBBY), LOBBY),
            text: text.to_owned(),
            legacy: true,
        };
        if !shared.history.say(id, Arc::new(chat)).await {
            return ("server shutting down".into(), false);
        }
    }
}
