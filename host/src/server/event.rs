//! What the server sends a client, as owned values: the room logic hands
//! these to each member's queue, and each writer seals them for its own
//! session (hop-by-hop: every client has its own keys).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use dhchat_core::message::{ChatMessage, Message, MessageBuf};
use dhchat_core::record::MAX_PLAINTEXT;

/// What one queued event costs besides its strings (the enum, the queue
/// slot, allocation headers), as counted against the queue byte budget.
pub const EVENT_OVERHEAD: usize = 64;

/// The most [`Event::queued_bytes`] of one event whose message fits a
/// record.
pub const MAX_EVENT_BYTES: usize = EVENT_OVERHEAD + MAX_PLAINTEXT;

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

/// One record to send to a client.
#[derive(Debug, Clone)]
pub enum Event {
    /// WELCOME.
    Welcome {
        /// Assigned nick.
        nick: String,
        /// Server name.
        server_name: Arc<str>,
        /// MOTD.
        motd: Arc<str>,
    },
    /// MESSAGE (shared between the members of a room).
    Chat(Arc<Chat>),
    /// NOTICE.
    Notice(String),
    /// ERROR.
    Error(u16, String),
    /// One ROSTER record, encoded once when the WHO is answered (one owned
    /// value instead of a list of nick strings rebuilt for sealing).
    Roster(MessageBuf),
    /// PING.
    Ping([u8; 8]),
    /// PONG.
    Pong([u8; 8]),
    /// CLOSE; the writer stops after it.
    Close(String),
}

impl Event {
    /// What this event counts against its client's queue byte budget: its
    /// strings (a ROSTER: its encoded plaintext) plus [`EVENT_OVERHEAD`]. A room message shared between
    /// members counts in full for each of them (each writer seals its own
    /// record of it).
    pub fn queued_bytes(&self) -> usize {
        let strings = match self {
            Event::Welcome {
                nick,
                server_name,
                motd,
            } => nick.len() + server_name.len() + motd.len(),
            Event::Chat(c) => c.from.len() + c.room.len() + c.text.len(),
            Event::Notice(text) | Event::Error(_, text) | Event::Close(text) => text.len(),
            Event::Roster(roster) => roster.plaintext().len(),
            Event::Ping(_) | Event::Pong(_) => 8,
        };
        EVENT_OVERHEAD + strings
    }

    /// Calls `f` with the wire message for this event.
    pub fn with_message<T>(&self, f: impl FnOnce(&Message<'_>) -> T) -> T {
        match self {
            Event::Welcome {
                nick,
                server_name,
                motd,
            } => f(&Message::Welcome {
                nick,
                server_name,
                motd,
            }),
            Event::Chat(c) => f(&Message::Message(ChatMessage {
                time_ms: c.time_ms,
                history: c.history,
                legacy: c.legacy,
                account: c.account,
                from: &c.from,
                room: &c.room,
                text: &c.text,
            })),
            Event::Notice(text) => f(&Message::Notice { text }),
            Event::Error(code, text) => f(&Message::Error { code: *code, text }),
            Event::Roster(roster) => f(&roster.message()),
            Event::Ping(nonce) => f(&Message::Ping { nonce: *nonce }),
            Event::Pong(nonce) => f(&Message::Pong { nonce: *nonce }),
            Event::Close(reason) => f(&Message::Close { reason }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhchat_core::message::{roster_chunks, Nicks};

    #[test]
    fn a_roster_event_gives_back_its_record_and_counts_its_encoded_bytes() {
        let nicks = ["alice", "bob"];
        let chunks: Vec<Message<'_>> = roster_chunks("#lobby", &nicks).collect();
        let [chunk] = chunks.as_slice() else {
            panic!("two short nicks fit one ROSTER: {chunks:?}");
        };
        let roster = MessageBuf::new(chunk).expect("a valid ROSTER");
        let bytes = roster.plaintext().len();
        let ev = Event::Roster(roster);
        assert_eq!(ev.queued_bytes(), EVENT_OVERHEAD + bytes);
        let expected = Message::Roster {
            room: "#lobby",
            more: false,
            nicks: Nicks::List(&nicks),
        };
        assert!(ev.with_message(|m| *m == expected));
    }
}
