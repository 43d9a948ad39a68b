//! Messages: the plaintext of a record, `type:u8 || body` (PROTOCOL.md section 5).
//!
//! [`Message::decode`] parses and validates a whole plaintext up front: lengths, field
//! overruns, trailing bytes, UTF-8, flag bits, and the name and text rules of
//! [`crate::names`]. A [`Message`] it returns borrows from the plaintext and is valid;
//! nothing done with it afterwards can fail or panic. [`Message::encode`] refuses
//! exactly the values that decoding its output would refuse, so
//! `Message::decode(&buf[..m.encode(&mut buf)?])` gives back a value equal to `m`.
//!
//! Every failure is a [`MessageError`] naming the broken rule, and
//! [`MessageError::wire_code`] is the one place that maps it to the ERROR code a peer is
//! sent (section 6). Which types each side may send is [`sender_of`]; a server splits a
//! long WHO answer with [`roster_chunks`].

mod chat;
mod codec;
mod error;
mod fields;
mod nicks;
#[cfg(feature = "alloc")]
mod owned;
mod roster;
mod sender;

pub use chat::ChatMessage;
pub use error::MessageError;
pub use nicks::{NickIter, Nicks};
#[cfg(feature = "alloc")]
pub use owned::MessageBuf;
pub use roster::{roster_chunks, RosterChunks};
pub use sender::{sender_of, Sender};

/// Largest body of a message, in bytes (the plaintext is one type byte more).
pub const MAX_BODY: usize = 4096;

/// The message type bytes of section 5.
pub mod msg_type {
    /// SERVER_AUTH, server to client: `server_pk[32] || sig[64]`.
    pub const SERVER_AUTH: u8 = 0x01;
    /// CLIENT_HELLO, client to server: `flags:u8 || [client_pk[32] || sig[64]] || nick:str8`.
    pub const CLIENT_HELLO: u8 = 0x02;
    /// WELCOME, server to client: `nick:str8 || server_name:str8 || motd:str16`.
    pub const WELCOME: u8 = 0x03;
    /// SAY, client to server: `room:str8 || text:rest`.
    pub const SAY: u8 = 0x10;
    /// MESSAGE, server to client:
    /// `time_ms:u64 || flags:u8 || from:str8 || room:str8 || text:rest`.
    pub const MESSAGE: u8 = 0x11;
    /// JOIN, client to server: `room:str8`.
    pub const JOIN: u8 = 0x12;
    /// PART, client to server: `room:str8`.
    pub const PART: u8 = 0x13;
    /// NICK, client to server: `nick:str8`.
    pub const NICK: u8 = 0x14;
    /// WHO, client to server: `room:str8`.
    pub const WHO: u8 = 0x15;
    /// ROSTER, server to client: `room:str8 || flags:u8 || count:u16 || count x nick:str8`.
    pub const ROSTER: u8 = 0x16;
    /// NOTICE, server to client: `text:rest`.
    pub const NOTICE: u8 = 0x17;
    /// ERROR, either direction: `code:u16 || text:rest`.
    pub const ERROR: u8 = 0x18;
    /// PING, either direction: `nonce[8]`.
    pub const PING: u8 = 0x19;
    /// PONG, either direction: `nonce[8]`.
    pub const PONG: u8 = 0x1A;
    /// CLOSE, either direction: `reason:rest`.
    pub const CLOSE: u8 = 0x1F;
}

/// The ERROR codes of section 5 (defined with the error type, in
/// [`crate::error::code`]; re-exported here for compatibility).
pub use crate::error::code as error_code;

/// One message: the decoded form of `type:u8 || body`, borrowing from the plaintext.
///
/// See the module documentation for the guarantees of [`Message::decode`] and
/// [`Message::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// SERVER_AUTH (S->C): the server's Ed25519 identity key and its signature over
    /// `"dhchat/1 server auth" || th`. Not verified here.
    ServerAuth {
        /// The server's Ed25519 public key.
        server_key: &'a [u8; 32],
        /// The signature.
        signature: &'a [u8; 64],
    },
    /// CLIENT_HELLO (C->S): the requested nick and an optional identity.
    ClientHello {
        /// The client's Ed25519 key and its signature over
        /// `"dhchat/1 client auth" || th` (flags bit 0). Not verified here.
        identity: Option<(&'a [u8; 32], &'a [u8; 64])>,
        /// The requested nick.
        nick: &'a str,
    },
    /// WELCOME (S->C): the session is established.
    Welcome {
        /// The nick the server assigned.
        nick: &'a str,
        /// The server's name: any UTF-8 up to 255 bytes, possibly empty.
        server_name: &'a str,
        /// Message of the day: any UTF-8, possibly empty.
        motd: &'a str,
    },
    /// SAY (C->S): send a text to a room or, with `@nick`, to one client.
    Say {
        /// A room, or `@` and a nick.
        room: &'a str,
        /// The text (text rule).
        text: &'a str,
    },
    /// MESSAGE (S->C): a chat line.
    Message(ChatMessage<'a>),
    /// JOIN (C->S): join a room, creating it if needed.
    Join {
        /// The room.
        room: &'a str,
    },
    /// PART (C->S): leave a room.
    Part {
        /// The room.
        room: &'a str,
    },
    /// NICK (C->S): change nick.
    Nick {
        /// The new nick.
        nick: &'a str,
    },
    /// WHO (C->S): ask for a room's members.
    Who {
        /// The room.
        room: &'a str,
    },
    /// ROSTER (S->C): a room's members, possibly one of several records.
    Roster {
        /// The room.
        room: &'a str,
        /// Flags bit 0: more ROSTER records for this room follow.
        more: bool,
        /// The nicks of this record.
        nicks: Nicks<'a>,
    },
    /// NOTICE (S->C): joins, parts, nick changes, server notices.
    Notice {
        /// Any UTF-8, possibly empty.
        text: &'a str,
    },
    /// ERROR (either direction).
    Error {
        /// The error code ([`error_code`]); any `u16` decodes.
        code: u16,
        /// Any UTF-8, possibly empty.
        text: &'a str,
    },
    /// PING (either direction); answered by PONG with the same nonce.
    Ping {
        /// The nonce.
        nonce: [u8; 8],
    },
    /// PONG (either direction).
    Pong {
        /// The nonce of the PING it answers.
        nonce: [u8; 8],
    },
    /// CLOSE (either direction): the sender stops sending.
    Close {
        /// Any UTF-8, possibly empty.
        reason: &'a str,
    },
}

#[cfg(test)]
mod codec_proptests;
#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod error_tests;
#[cfg(all(test, feature = "alloc"))]
mod owned_tests;
#[cfg(test)]
mod roster_tests;
#[cfg(test)]
mod sender_tests;
#[cfg(test)]
mod test_support;
