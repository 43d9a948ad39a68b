//! The network side, independent of presentation: the handshake through the
//! core's async driver ([`connect`], with the trust decision of [`trust`]),
//! then two tasks ([`tasks`]) that own the connection's halves, turn received
//! messages into [`Event`]s (owned values) and send the [`Action`]s they are
//! given.
//!
//! The reader task owns the core's cancel-safe receiving half; the writer
//! owns the sending half. The core decides the replies of PROTOCOL.md
//! section 6 (PONG to PING, ERROR to a bad message); the reader hands them to
//! the writer.

mod connect;
mod roster;
mod tasks;
mod trust;

use std::time::Duration;

pub use connect::{connect, ConnectError, Established};
pub use tasks::{spawn, Running, EVENT_QUEUE, REPLY_QUEUE};
pub use trust::{HostTrust, TrustPolicy};

use crate::client::exit::Failure;

/// How long connecting and the handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Something to send to the server: one owned, already checked message
/// (SAY, JOIN, PART, NICK, WHO or CLOSE; CLOSE ends the session).
///
/// The commands build it; building checks the message as the server's decoder
/// would (names, text, size), so the writer only seals the kept plaintext.
pub type Action = dhchat_core::message::MessageBuf;

/// The CLOSE to send for `reason`; an empty reason if `reason` is not one a
/// CLOSE may carry (the session ends either way).
pub fn close_action(reason: &str) -> Action {
    use dhchat_core::message::Message;
    Action::new(&Message::Close { reason })
        .or_else(|_| Action::new(&Message::Close { reason: "" }))
        .unwrap_or_else(|_| unreachable!("an empty CLOSE always encodes"))
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
    /// The sender's nick is an account and its session proved the account's
    /// key (MESSAGE flags bit 2).
    pub account: bool,
}

/// Who the server vouches a message's sender is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// The nick is an account and the sender proved its key (flags bit 2).
    Account,
    /// An ordinary client: its nick is only in use, not owned.
    Anonymous,
    /// An unauthenticated legacy client (flags bit 1).
    Legacy,
}

impl Sender {
    /// The name used in the batch JSON (`"account"`, `"anonymous"`,
    /// `"legacy"`).
    pub fn name(self) -> &'static str {
        match self {
            Sender::Account => "account",
            Sender::Anonymous => "anonymous",
            Sender::Legacy => "legacy",
        }
    }
}

impl ChatLine {
    /// What the server vouches for about the sender (legacy wins: a message
    /// marked both is treated as the weaker).
    pub fn sender(&self) -> Sender {
        if self.legacy {
            Sender::Legacy
        } else if self.account {
            Sender::Account
        } else {
            Sender::Anonymous
        }
    }

    /// A direct message that waited on the server while this client's
    /// account was offline (delivered on connect with the history flag;
    /// direct messages are never part of a room's history).
    pub fn offline(&self) -> bool {
        self.history && self.room.starts_with('@')
    }
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
