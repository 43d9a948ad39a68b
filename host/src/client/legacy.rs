//! `dhchat-client --legacy HOST[:PORT]`: the client side of the legacy protocol
//! (LEGACY.md), for joining an original (2018) encrypted-chat server. **No
//! authentication and no integrity**; a loud warning says so at start.
//!
//! The connection is presented as a [`Running`] session, so interactive and batch mode
//! work as for version 1: received lines `"<ip>: <text>"` become messages from `<ip>` in
//! `#lobby` (marked legacy), other lines notices; `/quit` sends `!exit` and waits for
//! `Acknowledged`. What an original server cannot take is refused locally and never
//! sent (error code 0): text that is not plain ASCII or longer than 990 bytes, and the
//! commands it does not have.

use std::net::IpAddr;
use std::time::Duration;

use dhchat_core::legacy::{
    self, respond_to_server, CLIENT_KEY_LEN, EXIT_ANSWER, EXIT_COMMAND, IV_LEN, MAX_READ,
    MAX_TEXT_TO_ORIGINAL, SERVER_KEY_LEN,
};
use dhchat_core::message::Message;
use rand_core::Rng as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::cli::Target;
use super::exit::{Failure, Kind};
use super::session::{Action, ChatLine, Event, Running, WelcomeInfo};
use crate::rng::new_rng;

/// The original programs' port, used when none is given.
pub const DEFAULT_PORT: u16 = legacy::DEFAULT_PORT;

/// The warning shown at start.
pub const WARNING: &str = "WARNING: legacy mode. The legacy protocol has NO authentication \
    and NO integrity: anyone on the network path can read and change what you send and \
    receive, or pose as the server. Names are IP addresses and prove nothing.";

/// How long to wait for the server's key message.
const KEY_TIMEOUT: Duration = Duration::from_secs(30);
/// The pause between two writes (the original takes each read as one message).
const PAUSE: Duration = Duration::from_millis(25);

/// Parses `HOST[:PORT]` as for version 1, with the original's port 39482 by default.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn parse_target(s: &str) -> Result<Target, String> {
    let mut t = super::cli::parse_target(s)?;
    let explicit = format!(":{}", super::cli::DEFAULT_PORT);
    if t.port == super::cli::DEFAULT_PORT && !s.ends_with(&explicit) {
        t.port = DEFAULT_PORT;
    }
    Ok(t)
}

/// Why text cannot go to an original server, if it cannot.
///
/// # Errors
/// A sentence for text that is not plain ASCII or longer than 990 bytes.
pub fn check_text(text: &str) -> Result<(), String> {
    if !text.is_ascii() {
        return Err("not sent: a legacy server can only relay plain ASCII text".into());
    }
    if text.len() > MAX_TEXT_TO_ORIGINAL {
        return Err(format!(
            "not sent: a legacy server relays at most {MAX_TEXT_TO_ORIGINAL} bytes of text"
        ));
    }
    Ok(())
}

/// A received line as an event: `"<ip>: <text>"` is a message from `<ip>`.
pub fn event_of(line: &str, now_ms: u64) -> Event {
    if let Some((ip, text)) = line.split_once(": ") {
        if ip.parse::<IpAddr>().is_ok() {
            return Event::Message(ChatLine {
                time_ms: now_ms,
                from: ip.to_owned(),
                room: "#lobby".to_owned(),
                text: text.to_owned(),
                history: false,
                legacy: true,
                account: false,
            });
        }
    }
    Event::Notice(line.to_owned())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Connects and runs the key exchange: the key message goes out in one write at once,
/// and once the server's key message has arrived the exchange is always completed
/// (an original server stalls or crashes on a client that closes mid-exchange).
///
/// # Errors
/// Connection failures and a refused key message.
pub async fn connect(target: &Target) -> Result<(Running, WelcomeInfo), Failure> {
    let lost = |what: &str, e: &dyn std::fmt::Display| {
        Failure::new(Kind::Connection, format!("{}: {what}: {e}", target.entry()))
    };
    let mut stream = tokio::time::timeout(
        KEY_TIMEOUT,
        TcpStream::connect((target.host.as_str(), target.port)),
    )
    .await
    .map_err(|e| lost("cannot connect", &e))?
    .map_err(|e| lost("cannot connect", &e))?;
    stream.set_nodelay(true).ok();
    let mut msg = vec![0u8; SERVER_KEY_LEN];
    tokio::time::timeout(KEY_TIMEOUT, stream.read_exact(&mut msg))
        .await
        .map_err(|e| lost("no legacy key message", &e))?
        .map_err(|e| lost("no legacy key message", &e))?;
    let mut reply = vec![0u8; CLIENT_KEY_LEN];
    let key = match respond_to_server(&msg, &mut new_rng(), &mut reply) {
        Ok(k) => k,
        Err(e) => {
            // Complete the exchange with a harmless value (2) before closing, so that
            // an original server is not left waiting or crashing.
            reply.fill(0);
            if let Some(last) = reply.last_mut() {
                *last = 2;
            }
            let _ = stream.write_all(&reply).await;
            return Err(Failure::new(
                Kind::Refused,
                format!("{}: legacy key message refused: {e}", target.entry()),
            ));
        }
    };
    stream
        .write_all(&reply)
        .await
        .map_err(|e| lost("cannot send the key", &e))?;
    let nick = stream
        .local_addr()
        .map_or_else(|_| "me".to_owned(), |a| a.ip().to_string());
    let welcome = WelcomeInfo {
        nick,
        server_name: format!("legacy server {}", target.entry()),
        motd: WARNING.to_owned(),
        server_key: String::new(),
        fingerprint: String::new(),
    };
    let (rd, mut wr) = stream.into_split();
    let (actions, mut action_rx) = mpsc::unbounded_channel::<Action>();
    // Bounded as for a dhchat server: a slow consumer stops the reading.
    let (event_tx, events) = mpsc::channel::<Event>(super::session::EVENT_QUEUE);
    let (exit_tx, exit_rx) = tokio::sync::watch::channel(false);

    let writer_events = event_tx.clone();
    let write_key = key.clone();
    let writer = tokio::spawn(async move {
        let mut rng = new_rng();
        let mut buf = vec![0u8; MAX_READ];
        let mut last: Option<Instant> = None;
        let refuse = |text: String| {
            // A local remark: dropped only if the consumer is 256 behind.
            let _ = writer_events.try_send(Event::Error { code: 0, text });
        };
        while let Some(action) = action_rx.recv().await {
            let text = match action.message() {
                Message::Say { room: target, text } => {
                    if target.starts_with('@') {
                        refuse("not sent: a legacy server has no direct messages".into());
                        continue;
                    }
                    if let Err(e) = check_text(text) {
                        refuse(e);
                        continue;
                    }
                    text.to_owned()
                }
                Message::Close { .. } => EXIT_COMMAND.to_owned(),
                _ => {
                    refuse(
                        "not sent: a legacy server has only #lobby, no nicks and no /who".into(),
                    );
                    continue;
                }
            };
            if let Some(last) = last {
                tokio::time::sleep_until(last + PAUSE).await;
            }
            let mut iv = [0u8; IV_LEN];
            rng.fill_bytes(&mut iv);
            let Ok(n) = legacy::seal(&write_key, &iv, &text, &mut buf) else {
                refuse("not sent: text too long for one legacy message".into());
                continue;
            };
            if wr
                .write_all(buf.get(..n).unwrap_or_default())
                .await
                .is_err()
            {
                return;
            }
            last = Some(Instant::now());
            if text == EXIT_COMMAND {
                let _ = exit_tx.send(true);
                return;
            }
        }
    });

    tokio::spawn(read_loop(rd, key, event_tx, exit_rx, target.entry()));
    Ok((
        Running {
            actions,
            events,
            writer,
        },
        welcome,
    ))
}

/// Reads the server's messages (each read one message) into events, to the end.
async fn read_loop(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    key: legacy::LegacyKey,
    events: mpsc::Sender<Event>,
    exit: tokio::sync::watch::Receiver<bool>,
    server: String,
) {
    let mut buf = vec![0u8; MAX_READ + 1];
    let end = |reason: String, failure: Option<Failure>| {
        let events = events.clone();
        async move {
            let _ = events.send(Event::Ended { reason, failure }).await;
        }
    };
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) if *exit.borrow() => {
                return end("the legacy server closed the connection".into(), None).await
            }
            Ok(0) => {
                let msg = format!("{server}: the legacy server closed the connection");
                return end(msg.clone(), Some(Failure::new(Kind::Connection, msg))).await;
            }
            Err(e) => {
                let msg = format!("{server}: connection lost: {e}");
                return end(msg.clone(), Some(Failure::new(Kind::Connection, msg))).await;
            }
            Ok(n) => n,
        };
        let text = match buf.get_mut(..n).map(|read| legacy::open(&key, read)) {
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                let msg = format!("{server}: bad legacy message: {e}");
                return end(msg.clone(), Some(Failure::new(Kind::Connection, msg))).await;
            }
            None => continue,
        };
        if text == EXIT_ANSWER && *exit.borrow() {
            return end("quit".into(), None).await;
        }
        if text.is_empty() {
            continue;
        }
        let _ = events.send(event_of(text, now_ms())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_the_form_ip_colon_text_are_messages_and_others_notices() {
        match event_of("10.0.0.7: hi: there", 5) {
            Event::Message(m) => {
                assert_eq!(
                    (m.from.as_str(), m.text.as_str()),
                    ("10.0.0.7", "hi: there")
                );
                assert!(m.legacy);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(event_of("::1: v6", 0), Event::Message(_)));
        assert_eq!(
            event_of("10.0.0.7 has joined", 0),
            Event::Notice("10.0.0.7 has joined".into())
        );
        assert!(matches!(event_of("bob: hi", 0), Event::Notice(_)));
    }

    #[test]
    fn legacy_targets_default_to_the_original_port() {
        assert_eq!(parse_target("h").expect("h").port, 39482);
        assert_eq!(parse_target("h:39481").expect("h").port, 39481);
        assert_eq!(parse_target("[::1]:5").expect("v6").port, 5);
    }

    #[test]
    fn text_that_is_not_ascii_or_over_990_bytes_is_refused_locally() {
        assert!(check_text("plain").is_ok());
        assert!(check_text(&"a".repeat(990)).is_ok());
        assert!(check_text(&"a".repeat(991)).is_err());
        assert!(check_text("héllo").is_err());
    }
}
