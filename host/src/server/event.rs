//! What the server sends a client, as owned values: the room logic hands
//! these to each member's queue, and each writer seals them for its own
//! session (hop-by-hop: every client has its own keys).
//!
//! An event is one of two things. Every message but MESSAGE is an
//! [`Event::Message`]: a [`MessageBuf`], the one owned form of a message
//! (its encoded plaintext, checked once when it is made), built by the
//! constructors [`Event::welcome`], [`Event::notice`], [`Event::error`],
//! [`Event::close`], [`Event::ping`] and [`Event::pong`], which cannot fail:
//! a text too long for its body is cut at a character boundary. A chat line
//! is an [`Event::Chat`] (a replayed or direct message: the stored record,
//! which its one writer encodes) or, live in a room, an [`Event::Relay`]: the
//! record and its MESSAGE encoding, made and checked once per fan-out and
//! shared through an [`Arc`] by every member's queue, so that a writer only
//! seals it (the encoding and the text check do not run once per recipient).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use dhchat_core::message::{msg_type, ChatMessage, Message, MessageBuf, MessageError, MAX_BODY};
use dhchat_core::record::MAX_PLAINTEXT;

/// What one queued event costs besides its bytes (the enum, the queue
/// slot, allocation headers), as counted against the queue byte budget.
pub const EVENT_OVERHEAD: usize = 64;

/// The most [`Event::queued_bytes`] of one event whose message fits a
/// record.
pub const MAX_EVENT_BYTES: usize = EVENT_OVERHEAD + MAX_PLAINTEXT;

/// The most bytes of a WELCOME's server name (a `str8`).
const MAX_SERVER_NAME: usize = 255;

/// The reason of the CLOSE that [`Event::welcome`] gives instead of a
/// WELCOME it cannot build (a nick the hub should never have assigned).
const NO_WELCOME: &str = "internal error: no valid WELCOME for this session";

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A chat line as stored and relayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    /// Server clock at acceptance, ms since the Unix epoch.
    pub time_ms: u64,
    /// Replayed from history.
    pub history: bool,
    /// Sender nick.
    pub from: String,
    /// Room, or `@nick` for a direct message.
    pub room: String,
    /// Text.
    pub text: String,
    /// LEGACY HOOK: sent by an unauthenticated legacy client (MESSAGE flags bit 1).
    pub legacy: bool,
    /// Sent by a session that proved the key of the account its nick is
    /// (MESSAGE flags bit 2, PROTOCOL.md section 5.1).
    pub account: bool,
}

/// A live room message as every member's writer sends it: the stored
/// record (for legacy writers, and the bytes counted) and its MESSAGE
/// plaintext, encoded and checked once for the whole room.
#[derive(Debug)]
pub struct Relay {
    chat: Arc<Chat>,
    message: MessageBuf,
}

impl Relay {
    /// Encodes `chat` once, for every member it is relayed to.
    ///
    /// # Errors
    /// As [`MessageBuf::new`]: a record that is not a valid MESSAGE (a nick,
    /// room or text the server should never have accepted).
    pub fn new(chat: Arc<Chat>) -> Result<Relay, MessageError> {
        let message = MessageBuf::new(&chat_message(&chat))?;
        Ok(Relay { chat, message })
    }

    /// The stored record.
    pub fn chat(&self) -> &Chat {
        &self.chat
    }

    /// The MESSAGE, encoded, as the record layer seals it.
    pub fn encoded(&self) -> &MessageBuf {
        &self.message
    }
}

/// The bytes of a record counted against a queue: its strings.
fn chat_bytes(c: &Chat) -> usize {
    c.from.len() + c.room.len() + c.text.len()
}

/// The MESSAGE of a stored record.
fn chat_message(c: &Chat) -> Message<'_> {
    Message::Message(ChatMessage {
        time_ms: c.time_ms,
        history: c.history,
        legacy: c.legacy,
        account: c.account,
        from: &c.from,
        room: &c.room,
        text: &c.text,
    })
}

/// One record to send to a client.
#[derive(Debug, Clone)]
pub enum Event {
    /// MESSAGE: a stored record (a replay or a direct message), encoded by
    /// the writer that sends it.
    Chat(Arc<Chat>),
    /// MESSAGE: a live room message, encoded once and shared between the
    /// members of the room.
    Relay(Arc<Relay>),
    /// Any other message, encoded once (WELCOME, NOTICE, ERROR, ROSTER,
    /// PING, PONG, CLOSE).
    Message(MessageBuf),
}

/// The longest prefix of `text` of at most `max` bytes that ends at a
/// character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// Encodes a message whose fields the caller made fit: every rule of a
/// NOTICE, ERROR, CLOSE, PING or PONG body is its length.
fn encoded(message: &Message<'_>) -> MessageBuf {
    MessageBuf::new(message).unwrap_or_else(|e| unreachable!("a body cut to fit encodes ({e:?})"))
}

impl Event {
    /// WELCOME for `nick` (a nick the hub assigned, so a valid one).
    /// `server_name` is cut to 255 bytes and `motd` to what is left of the
    /// body, each at a character boundary (the server's `--name` and
    /// `--motd` are checked at start-up to fit with the longest nick, so
    /// nothing is cut then).
    ///
    /// Never fails: should `nick` break the nick rule (a bug of the hub,
    /// never a peer's input), the event is CLOSE with an internal-error
    /// reason instead, which ends the session cleanly.
    pub fn welcome(nick: &str, server_name: &str, motd: &str) -> Event {
        let server_name = cut(server_name, MAX_SERVER_NAME);
        // nick:str8 || server_name:str8 || motd:str16
        let room_for_motd = MAX_BODY
            .saturating_sub(1 + nick.len())
            .saturating_sub(1 + server_name.len())
            .saturating_sub(2);
        let welcome = Message::Welcome {
            nick,
            server_name,
            motd: cut(motd, room_for_motd),
        };
        match MessageBuf::new(&welcome) {
            Ok(m) => Event::Message(m),
            Err(e) => {
                tracing::error!(error = %e, "no valid WELCOME for an assigned nick; closing the session");
                Event::close(NO_WELCOME)
            }
        }
    }

    /// NOTICE with `text`, cut to a body ([`MAX_BODY`] bytes) at a
    /// character boundary.
    pub fn notice(text: &str) -> Event {
        Event::Message(encoded(&Message::Notice {
            text: cut(text, MAX_BODY),
        }))
    }

    /// ERROR `code` with `text`, cut to what a body leaves after the code
    /// at a character boundary.
    pub fn error(code: u16, text: &str) -> Event {
        Event::Message(encoded(&Message::Error {
            code,
            text: cut(text, MAX_BODY - 2),
        }))
    }

    /// CLOSE with `reason`, cut to a body ([`MAX_BODY`] bytes) at a
    /// character boundary. A writer stops after it.
    pub fn close(reason: &str) -> Event {
        Event::Message(encoded(&Message::Close {
            reason: cut(reason, MAX_BODY),
        }))
    }

    /// PING with `nonce`.
    pub fn ping(nonce: [u8; 8]) -> Event {
        Event::Message(encoded(&Message::Ping { nonce }))
    }

    /// PONG with `nonce`.
    pub fn pong(nonce: [u8; 8]) -> Event {
        Event::Message(encoded(&Message::Pong { nonce }))
    }

    /// Whether this is CLOSE (the writer stops after it).
    pub fn is_close(&self) -> bool {
        matches!(self, Event::Message(m) if m.msg_type() == msg_type::CLOSE)
    }

    /// What this event counts against its client's queue byte budget: its
    /// bytes (a MESSAGE: its strings; any other: its encoded plaintext)
    /// plus [`EVENT_OVERHEAD`]. A room message shared between members
    /// counts in full for each of them (each writer seals its own record of
    /// it).
    pub fn queued_bytes(&self) -> usize {
        let bytes = match self {
            Event::Chat(c) => chat_bytes(c),
            Event::Relay(r) => chat_bytes(&r.chat),
            Event::Message(m) => m.plaintext().len(),
        };
        EVENT_OVERHEAD + bytes
    }

    /// Calls `f` with the wire message for this event.
    pub fn with_message<T>(&self, f: impl FnOnce(&Message<'_>) -> T) -> T {
        match self {
            Event::Chat(c) => f(&chat_message(c)),
            Event::Relay(r) => f(&chat_message(&r.chat)),
            Event::Message(m) => f(&m.message()),
        }
    }

    /// This event's message if it is encoded already (checked when it was
    /// made): every event but [`Event::Chat`].
    pub fn encoded(&self) -> Option<&MessageBuf> {
        match self {
            Event::Chat(_) => None,
            Event::Relay(r) => Some(r.encoded()),
            Event::Message(m) => Some(m),
        }
    }

    /// A live room message for every member of its room: encoded once
    /// ([`Event::Relay`]), or, should the record not encode (a bug, never a
    /// peer's input), the record itself, which each writer then refuses and
    /// logs as it does any message it cannot seal.
    pub fn relay(chat: Arc<Chat>) -> Event {
        match Relay::new(chat.clone()) {
            Ok(r) => Event::Relay(Arc::new(r)),
            Err(_) => Event::Chat(chat),
        }
    }
}

#[cfg(test)]
mod tests;
