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

use core::fmt;
use core::iter::FusedIterator;

use crate::names::{is_valid_nick, is_valid_room, is_valid_target, text_check, TextError};

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

/// Flag bit of CLIENT_HELLO: an identity key and signature follow.
const HELLO_IDENTITY: u8 = 0x01;
/// Flag bit of MESSAGE: the message comes from the room's history.
const MESSAGE_HISTORY: u8 = 0x01;
/// Flag bit of MESSAGE: the sender is an unauthenticated legacy client.
const MESSAGE_LEGACY: u8 = 0x02;
/// Flag bit of MESSAGE: the sender's nick is an account and its session proved the
/// account's key (section 5.1).
const MESSAGE_ACCOUNT: u8 = 0x04;
/// Flag bit of ROSTER: more ROSTER records for this room follow.
const ROSTER_MORE: u8 = 0x01;

/// Why a plaintext is not a valid message, or a [`Message`] cannot be encoded.
///
/// The `Display` text says what rule was broken; it names no peer data, so it is safe
/// to log and to send back as the text of an ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The plaintext has no bytes, not even a type.
    Empty,
    /// The type byte is not one of section 5.
    UnknownType(u8),
    /// The body is longer than [`MAX_BODY`] bytes.
    BodyTooLong,
    /// A field runs past the end of the body.
    Truncated,
    /// Bytes are left after the last field of the body.
    TrailingBytes,
    /// A string field is not valid UTF-8.
    NotUtf8,
    /// A flags byte (CLIENT_HELLO, MESSAGE, ROSTER) has a bit set that this version
    /// does not define.
    UnknownFlags,
    /// A nick breaks the nick rule.
    BadNick,
    /// A room breaks the room rule.
    BadRoom,
    /// The room field of SAY or MESSAGE is neither a room nor `@` and a nick.
    BadTarget,
    /// The text of SAY or MESSAGE breaks the text rule.
    BadText(TextError),
    /// Encoding only: a field is too long for its length prefix (255 bytes for `str8`,
    /// 65535 for `str16`, 65535 nicks in a ROSTER).
    FieldTooLong,
    /// Encoding only: the output buffer is shorter than [`Message::encoded_len`].
    BufferTooSmall,
}

impl MessageError {
    /// The ERROR code (section 5) a peer is sent for this failure: structural problems
    /// and bad text are 1 (malformed), an unknown type is 2, a bad nick, room or target
    /// is 4. [`MessageError::BufferTooSmall`] is a local failure that never comes from
    /// peer input; it maps to 9 (internal).
    pub fn wire_code(&self) -> u16 {
        match self {
            MessageError::Empty
            | MessageError::BodyTooLong
            | MessageError::Truncated
            | MessageError::TrailingBytes
            | MessageError::NotUtf8
            | MessageError::UnknownFlags
            | MessageError::BadText(_)
            | MessageError::FieldTooLong => error_code::MALFORMED,
            MessageError::UnknownType(_) => error_code::UNSUPPORTED_TYPE,
            MessageError::BadNick | MessageError::BadRoom | MessageError::BadTarget => {
                error_code::BAD_NAME
            }
            MessageError::BufferTooSmall => error_code::INTERNAL,
        }
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sentence = match self {
            MessageError::UnknownType(t) => return write!(f, "unknown message type 0x{t:02x}"),
            MessageError::BadText(e) => return fmt::Display::fmt(e, f),
            MessageError::Empty => "empty message: a message needs a type byte",
            MessageError::BodyTooLong => "message body must be at most 4096 bytes",
            MessageError::Truncated => "malformed message: a field runs past the end of the body",
            MessageError::TrailingBytes => "malformed message: bytes follow the last field",
            MessageError::NotUtf8 => "malformed message: a string field is not valid UTF-8",
            MessageError::UnknownFlags => {
                "malformed message: a flags byte has bits set that protocol version 1 \
                 does not define"
            }
            MessageError::BadNick => "nick must be 1-32 bytes of A-Z a-z 0-9 _ -",
            MessageError::BadRoom => "room must be # followed by 1-31 bytes of A-Z a-z 0-9 _ -",
            MessageError::BadTarget => {
                "target must be a room (# followed by 1-31 bytes of A-Z a-z 0-9 _ -) \
                 or @ followed by a nick (1-32 bytes of A-Z a-z 0-9 _ -)"
            }
            MessageError::FieldTooLong => {
                "a field is too long for its length prefix \
                 (255 bytes for a server name, 65535 for the MOTD)"
            }
            MessageError::BufferTooSmall => "the output buffer is shorter than the encoded message",
        };
        f.write_str(sentence)
    }
}

impl core::error::Error for MessageError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            MessageError::BadText(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TextError> for MessageError {
    fn from(e: TextError) -> Self {
        MessageError::BadText(e)
    }
}

/// Which side may send a message type (the direction column of section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// Only the client sends it (C->S).
    Client,
    /// Only the server sends it (S->C).
    Server,
    /// Either side sends it.
    Both,
}

/// Which side may send `msg_type`, or `None` for a type section 5 does not define.
pub fn sender_of(msg_type: u8) -> Option<Sender> {
    use msg_type::*;
    match msg_type {
        SERVER_AUTH | WELCOME | MESSAGE | ROSTER | NOTICE => Some(Sender::Server),
        CLIENT_HELLO | SAY | JOIN | PART | NICK | WHO => Some(Sender::Client),
        ERROR | PING | PONG | CLOSE => Some(Sender::Both),
        _ => None,
    }
}

/// A MESSAGE: a chat line the server delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatMessage<'a> {
    /// The server's clock when it accepted the message, in milliseconds since the Unix
    /// epoch.
    pub time_ms: u64,
    /// Flags bit 0: the message is replayed from the room's history.
    pub history: bool,
    /// Flags bit 1: the sender is an unauthenticated legacy client.
    pub legacy: bool,
    /// Flags bit 2: the sender's nick is an account and the sender's session proved the
    /// account's identity key (section 5.1).
    pub account: bool,
    /// The sender's nick.
    pub from: &'a str,
    /// The room, or `@` and the recipient's nick for a direct message.
    pub room: &'a str,
    /// The text (the text rule of [`crate::names::text_check`]).
    pub text: &'a str,
}

/// The nicks of a ROSTER.
///
/// [`Message::decode`] produces `Encoded`, a view of the validated wire bytes; a sender
/// builds `List`. Both iterate as `&str`, and equality compares the sequences of nicks,
/// so a `List` equals the `Encoded` it encodes to.
#[derive(Debug, Clone, Copy)]
pub enum Nicks<'a> {
    /// The nicks as on the wire: `count` nicks, each a `str8`, filling `bytes` exactly.
    ///
    /// Decoding yields only valid values. One built by hand is checked again by
    /// [`Message::encode`]; iterating a malformed one stops at the first entry that
    /// overruns `bytes` or is not UTF-8.
    Encoded {
        /// Number of nicks.
        count: u16,
        /// The `count x nick:str8` region of the body.
        bytes: &'a [u8],
    },
    /// The nicks as a list, for sending.
    List(&'a [&'a str]),
}

impl<'a> Nicks<'a> {
    /// The nicks in order.
    pub fn iter(&self) -> NickIter<'a> {
        NickIter {
            inner: match *self {
                Nicks::Encoded { count, bytes } => NickIterInner::Encoded {
                    remaining: count,
                    bytes,
                },
                Nicks::List(list) => NickIterInner::List(list.iter()),
            },
        }
    }

    /// Number of nicks (`count` for `Encoded`).
    pub fn len(&self) -> usize {
        match *self {
            Nicks::Encoded { count, .. } => usize::from(count),
            Nicks::List(list) => list.len(),
        }
    }

    /// Whether there are no nicks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the `count x nick:str8` region.
    fn wire_len(&self) -> usize {
        match *self {
            Nicks::Encoded { bytes, .. } => bytes.len(),
            Nicks::List(list) => list
                .iter()
                .fold(0usize, |n, s| n.saturating_add(1).saturating_add(s.len())),
        }
    }
}

impl PartialEq for Nicks<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Nicks<'_> {}

impl<'a> IntoIterator for Nicks<'a> {
    type Item = &'a str;
    type IntoIter = NickIter<'a>;
    fn into_iter(self) -> NickIter<'a> {
        self.iter()
    }
}

/// Iterator over the nicks of a [`Nicks`], from [`Nicks::iter`].
#[derive(Debug, Clone)]
pub struct NickIter<'a> {
    inner: NickIterInner<'a>,
}

#[derive(Debug, Clone)]
enum NickIterInner<'a> {
    Encoded { remaining: u16, bytes: &'a [u8] },
    List(core::slice::Iter<'a, &'a str>),
}

impl<'a> Iterator for NickIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match &mut self.inner {
            NickIterInner::List(it) => it.next().copied(),
            NickIterInner::Encoded { remaining, bytes } => {
                if *remaining == 0 {
                    return None;
                }
                let mut r = Reader { rest: bytes };
                let nick = r.str8().ok().and_then(|b| core::str::from_utf8(b).ok());
                match nick {
                    Some(_) => {
                        *remaining = remaining.saturating_sub(1);
                        *bytes = r.rest;
                    }
                    // Only for a malformed hand-built `Encoded`: stop for good.
                    None => *remaining = 0,
                }
                nick
            }
        }
    }
}

impl FusedIterator for NickIter<'_> {}

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

/// A cursor over a body; every read is bounds-checked.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MessageError> {
        let (field, rest) = self
            .rest
            .split_at_checked(n)
            .ok_or(MessageError::Truncated)?;
        self.rest = rest;
        Ok(field)
    }

    fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], MessageError> {
        self.take(N)?
            .try_into()
            .map_err(|_| MessageError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, MessageError> {
        Ok(u8::from_be_bytes(*self.array()?))
    }

    fn u16(&mut self) -> Result<u16, MessageError> {
        Ok(u16::from_be_bytes(*self.array()?))
    }

    fn u64(&mut self) -> Result<u64, MessageError> {
        Ok(u64::from_be_bytes(*self.array()?))
    }

    fn str8(&mut self) -> Result<&'a [u8], MessageError> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    fn str16(&mut self) -> Result<&'a [u8], MessageError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    fn finish(self) -> Result<(), MessageError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(MessageError::TrailingBytes)
        }
    }
}

fn utf8(b: &[u8]) -> Result<&str, MessageError> {
    core::str::from_utf8(b).map_err(|_| MessageError::NotUtf8)
}

fn check_nick(s: &str) -> Result<(), MessageError> {
    if is_valid_nick(s) {
        Ok(())
    } else {
        Err(MessageError::BadNick)
    }
}

fn check_room(s: &str) -> Result<(), MessageError> {
    if is_valid_room(s) {
        Ok(())
    } else {
        Err(MessageError::BadRoom)
    }
}

fn check_target(s: &str) -> Result<(), MessageError> {
    if is_valid_target(s) {
        Ok(())
    } else {
        Err(MessageError::BadTarget)
    }
}

fn nick(b: &[u8]) -> Result<&str, MessageError> {
    let s = utf8(b)?;
    check_nick(s)?;
    Ok(s)
}

fn room(b: &[u8]) -> Result<&str, MessageError> {
    let s = utf8(b)?;
    check_room(s)?;
    Ok(s)
}

fn target(b: &[u8]) -> Result<&str, MessageError> {
    let s = utf8(b)?;
    check_target(s)?;
    Ok(s)
}

fn text(b: &[u8]) -> Result<&str, MessageError> {
    let s = utf8(b)?;
    text_check(s)?;
    Ok(s)
}

/// Checks that `bytes` is exactly `count` `str8` fields, each a valid nick: first the
/// structure (overrun, trailing bytes), then each nick in order.
fn check_encoded_nicks(count: u16, bytes: &[u8]) -> Result<(), MessageError> {
    let mut r = Reader { rest: bytes };
    for _ in 0..count {
        r.str8()?;
    }
    r.finish()?;
    let mut r = Reader { rest: bytes };
    for _ in 0..count {
        nick(r.str8()?)?;
    }
    Ok(())
}

/// Length of a `str8` field holding `s`, or `FieldTooLong`.
fn str8_len(s: &str) -> Result<u8, MessageError> {
    u8::try_from(s.len()).map_err(|_| MessageError::FieldTooLong)
}

/// Length of a `str16` field holding `s`, or `FieldTooLong`.
fn str16_len(s: &str) -> Result<u16, MessageError> {
    u16::try_from(s.len()).map_err(|_| MessageError::FieldTooLong)
}

/// A cursor over an output buffer; every write is bounds-checked.
struct Writer<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<(), MessageError> {
        let end = self
            .pos
            .checked_add(b.len())
            .ok_or(MessageError::BufferTooSmall)?;
        self.out
            .get_mut(self.pos..end)
            .ok_or(MessageError::BufferTooSmall)?
            .copy_from_slice(b);
        self.pos = end;
        Ok(())
    }

    fn u8(&mut self, v: u8) -> Result<(), MessageError> {
        self.bytes(&[v])
    }

    fn u16(&mut self, v: u16) -> Result<(), MessageError> {
        self.bytes(&v.to_be_bytes())
    }

    fn str8(&mut self, s: &str) -> Result<(), MessageError> {
        self.u8(str8_len(s)?)?;
        self.bytes(s.as_bytes())
    }

    fn str16(&mut self, s: &str) -> Result<(), MessageError> {
        self.u16(str16_len(s)?)?;
        self.bytes(s.as_bytes())
    }
}

/// `1 + s.len()`, saturating.
fn str8_wire(s: &str) -> usize {
    s.len().saturating_add(1)
}

impl<'a> Message<'a> {
    /// The type byte of this message ([`msg_type`]).
    pub fn msg_type(&self) -> u8 {
        match self {
            Message::ServerAuth { .. } => msg_type::SERVER_AUTH,
            Message::ClientHello { .. } => msg_type::CLIENT_HELLO,
            Message::Welcome { .. } => msg_type::WELCOME,
            Message::Say { .. } => msg_type::SAY,
            Message::Message(_) => msg_type::MESSAGE,
            Message::Join { .. } => msg_type::JOIN,
            Message::Part { .. } => msg_type::PART,
            Message::Nick { .. } => msg_type::NICK,
            Message::Who { .. } => msg_type::WHO,
            Message::Roster { .. } => msg_type::ROSTER,
            Message::Notice { .. } => msg_type::NOTICE,
            Message::Error { .. } => msg_type::ERROR,
            Message::Ping { .. } => msg_type::PING,
            Message::Pong { .. } => msg_type::PONG,
            Message::Close { .. } => msg_type::CLOSE,
        }
    }

    /// Length of the encoded plaintext, `type || body`: what [`Message::encode`] writes
    /// when it succeeds. (For a value `encode` refuses, the length its fields would
    /// take, saturating at `usize::MAX`.)
    pub fn encoded_len(&self) -> usize {
        1usize.saturating_add(self.body_len())
    }

    fn body_len(&self) -> usize {
        match *self {
            Message::ServerAuth { .. } => 32 + 64,
            Message::ClientHello { identity, nick } => {
                let id: usize = if identity.is_some() { 32 + 64 } else { 0 };
                (1 + id).saturating_add(str8_wire(nick))
            }
            Message::Welcome {
                nick,
                server_name,
                motd,
            } => str8_wire(nick)
                .saturating_add(str8_wire(server_name))
                .saturating_add(motd.len().saturating_add(2)),
            Message::Say { room, text } => str8_wire(room).saturating_add(text.len()),
            Message::Message(m) => (8 + 1usize)
                .saturating_add(str8_wire(m.from))
                .saturating_add(str8_wire(m.room))
                .saturating_add(m.text.len()),
            Message::Join { room } | Message::Part { room } | Message::Who { room } => {
                str8_wire(room)
            }
            Message::Nick { nick } => str8_wire(nick),
            Message::Roster { room, nicks, .. } => str8_wire(room)
                .saturating_add(1 + 2)
                .saturating_add(nicks.wire_len()),
            Message::Notice { text } => text.len(),
            Message::Error { text, .. } => text.len().saturating_add(2),
            Message::Ping { .. } | Message::Pong { .. } => 8,
            Message::Close { reason } => reason.len(),
        }
    }

    /// Checks every field rule, in the order decoding checks them (the body length is
    /// checked before this).
    fn validate(&self) -> Result<(), MessageError> {
        match *self {
            Message::ServerAuth { .. } | Message::Ping { .. } | Message::Pong { .. } => Ok(()),
            Message::ClientHello { nick, .. } | Message::Nick { nick } => check_nick(nick),
            Message::Welcome {
                nick,
                server_name,
                motd,
            } => {
                str8_len(server_name)?;
                str16_len(motd)?;
                check_nick(nick)
            }
            Message::Say { room, text } => {
                check_target(room)?;
                Ok(text_check(text)?)
            }
            Message::Message(m) => {
                check_nick(m.from)?;
                check_target(m.room)?;
                Ok(text_check(m.text)?)
            }
            Message::Join { room } | Message::Part { room } | Message::Who { room } => {
                check_room(room)
            }
            Message::Roster { room, nicks, .. } => {
                match nicks {
                    Nicks::Encoded { count, bytes } => {
                        // Structure first, as decoding does.
                        let mut r = Reader { rest: bytes };
                        for _ in 0..count {
                            r.str8()?;
                        }
                        r.finish()?;
                        check_room(room)?;
                        check_encoded_nicks(count, bytes)
                    }
                    Nicks::List(list) => {
                        u16::try_from(list.len()).map_err(|_| MessageError::FieldTooLong)?;
                        check_room(room)?;
                        list.iter().try_for_each(|n| check_nick(n))
                    }
                }
            }
            Message::Notice { .. } | Message::Error { .. } | Message::Close { .. } => Ok(()),
        }
    }

    /// Writes `type || body` to the start of `out` and returns its length
    /// ([`Message::encoded_len`]).
    ///
    /// # Errors
    ///
    /// Every value [`Message::decode`] would refuse after decoding the output is refused
    /// here, with the same error where the wire can express the fault:
    /// [`MessageError::BodyTooLong`] (body over [`MAX_BODY`]), [`MessageError::BadNick`],
    /// [`MessageError::BadRoom`], [`MessageError::BadTarget`],
    /// [`MessageError::BadText`], and for a hand-built [`Nicks::Encoded`] also
    /// [`MessageError::Truncated`], [`MessageError::TrailingBytes`] and
    /// [`MessageError::NotUtf8`]. [`MessageError::FieldTooLong`] if a WELCOME server
    /// name is over 255 bytes. [`MessageError::BufferTooSmall`] if the value is valid
    /// but `out` is shorter than `encoded_len()`; then `out` is left unchanged.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, MessageError> {
        let len = self.encoded_len();
        if len.saturating_sub(1) > MAX_BODY {
            return Err(MessageError::BodyTooLong);
        }
        self.validate()?;
        let out = out.get_mut(..len).ok_or(MessageError::BufferTooSmall)?;
        let mut w = Writer { out, pos: 0 };
        w.u8(self.msg_type())?;
        match *self {
            Message::ServerAuth {
                server_key,
                signature,
            } => {
                w.bytes(server_key)?;
                w.bytes(signature)?;
            }
            Message::ClientHello { identity, nick } => {
                match identity {
                    Some((key, sig)) => {
                        w.u8(HELLO_IDENTITY)?;
                        w.bytes(key)?;
                        w.bytes(sig)?;
                    }
                    None => w.u8(0)?,
                }
                w.str8(nick)?;
            }
            Message::Welcome {
                nick,
                server_name,
                motd,
            } => {
                w.str8(nick)?;
                w.str8(server_name)?;
                w.str16(motd)?;
            }
            Message::Say { room, text } => {
                w.str8(room)?;
                w.bytes(text.as_bytes())?;
            }
            Message::Message(m) => {
                w.bytes(&m.time_ms.to_be_bytes())?;
                let mut flags = 0;
                if m.history {
                    flags |= MESSAGE_HISTORY;
                }
                if m.legacy {
                    flags |= MESSAGE_LEGACY;
                }
                if m.account {
                    flags |= MESSAGE_ACCOUNT;
                }
                w.u8(flags)?;
                w.str8(m.from)?;
                w.str8(m.room)?;
                w.bytes(m.text.as_bytes())?;
            }
            Message::Join { room } | Message::Part { room } | Message::Who { room } => {
                w.str8(room)?;
            }
            Message::Nick { nick } => w.str8(nick)?,
            Message::Roster { room, more, nicks } => {
                w.str8(room)?;
                w.u8(if more { ROSTER_MORE } else { 0 })?;
                let count = u16::try_from(nicks.len()).map_err(|_| MessageError::FieldTooLong)?;
                w.u16(count)?;
                match nicks {
                    Nicks::Encoded { bytes, .. } => w.bytes(bytes)?,
                    Nicks::List(list) => {
                        for n in list {
                            w.str8(n)?;
                        }
                    }
                }
            }
            Message::Notice { text } => w.bytes(text.as_bytes())?,
            Message::Error { code, text } => {
                w.u16(code)?;
                w.bytes(text.as_bytes())?;
            }
            Message::Ping { nonce } | Message::Pong { nonce } => w.bytes(&nonce)?,
            Message::Close { reason } => w.bytes(reason.as_bytes())?,
        }
        Ok(w.pos)
    }

    /// Parses and validates a record's plaintext, `type:u8 || body`.
    ///
    /// The structure of the body (lengths, overruns, flags, trailing bytes) is checked
    /// before the contents of its fields (UTF-8, names, text), so a body that is both
    /// malformed and holds a bad name is reported as malformed.
    ///
    /// # Errors
    ///
    /// [`MessageError::Empty`] for no bytes; [`MessageError::UnknownType`];
    /// [`MessageError::BodyTooLong`] for a body over [`MAX_BODY`];
    /// [`MessageError::Truncated`] if a field overruns the body;
    /// [`MessageError::UnknownFlags`] for undefined flag bits in CLIENT_HELLO, MESSAGE
    /// or ROSTER; [`MessageError::TrailingBytes`]; [`MessageError::NotUtf8`];
    /// [`MessageError::BadNick`], [`MessageError::BadRoom`],
    /// [`MessageError::BadTarget`] and [`MessageError::BadText`] for fields that break
    /// the rules of [`crate::names`].
    pub fn decode(plaintext: &'a [u8]) -> Result<Message<'a>, MessageError> {
        let (&ty, body) = plaintext.split_first().ok_or(MessageError::Empty)?;
        if sender_of(ty).is_none() {
            return Err(MessageError::UnknownType(ty));
        }
        if body.len() > MAX_BODY {
            return Err(MessageError::BodyTooLong);
        }
        let mut r = Reader { rest: body };
        let msg = match ty {
            msg_type::SERVER_AUTH => {
                let server_key = r.array::<32>()?;
                let signature = r.array::<64>()?;
                r.finish()?;
                Message::ServerAuth {
                    server_key,
                    signature,
                }
            }
            msg_type::CLIENT_HELLO => {
                let flags = r.u8()?;
                if flags & !HELLO_IDENTITY != 0 {
                    return Err(MessageError::UnknownFlags);
                }
                let identity = if flags & HELLO_IDENTITY != 0 {
                    Some((r.array::<32>()?, r.array::<64>()?))
                } else {
                    None
                };
                let n = r.str8()?;
                r.finish()?;
                Message::ClientHello {
                    identity,
                    nick: nick(n)?,
                }
            }
            msg_type::WELCOME => {
                let n = r.str8()?;
                let server_name = r.str8()?;
                let motd = r.str16()?;
                r.finish()?;
                Message::Welcome {
                    nick: nick(n)?,
                    server_name: utf8(server_name)?,
                    motd: utf8(motd)?,
                }
            }
            msg_type::SAY => {
                let room = r.str8()?;
                let t = r.rest();
                Message::Say {
                    room: target(room)?,
                    text: text(t)?,
                }
            }
            msg_type::MESSAGE => {
                let time_ms = r.u64()?;
                let flags = r.u8()?;
                if flags & !(MESSAGE_HISTORY | MESSAGE_LEGACY | MESSAGE_ACCOUNT) != 0 {
                    return Err(MessageError::UnknownFlags);
                }
                let from = r.str8()?;
                let room = r.str8()?;
                let t = r.rest();
                Message::Message(ChatMessage {
                    time_ms,
                    history: flags & MESSAGE_HISTORY != 0,
                    legacy: flags & MESSAGE_LEGACY != 0,
                    account: flags & MESSAGE_ACCOUNT != 0,
                    from: nick(from)?,
                    room: target(room)?,
                    text: text(t)?,
                })
            }
            msg_type::JOIN | msg_type::PART | msg_type::WHO => {
                let b = r.str8()?;
                r.finish()?;
                let room = room(b)?;
                match ty {
                    msg_type::JOIN => Message::Join { room },
                    msg_type::PART => Message::Part { room },
                    _ => Message::Who { room },
                }
            }
            msg_type::NICK => {
                let b = r.str8()?;
                r.finish()?;
                Message::Nick { nick: nick(b)? }
            }
            msg_type::ROSTER => {
                let room_bytes = r.str8()?;
                let flags = r.u8()?;
                if flags & !ROSTER_MORE != 0 {
                    return Err(MessageError::UnknownFlags);
                }
                let count = r.u16()?;
                let bytes = r.rest();
                // Checks the structure of the list before the room's name.
                let mut list = Reader { rest: bytes };
                for _ in 0..count {
                    list.str8()?;
                }
                list.finish()?;
                let room = room(room_bytes)?;
                check_encoded_nicks(count, bytes)?;
                Message::Roster {
                    room,
                    more: flags & ROSTER_MORE != 0,
                    nicks: Nicks::Encoded { count, bytes },
                }
            }
            msg_type::NOTICE => Message::Notice {
                text: utf8(r.rest())?,
            },
            msg_type::ERROR => {
                let code = r.u16()?;
                Message::Error {
                    code,
                    text: utf8(r.rest())?,
                }
            }
            msg_type::PING | msg_type::PONG => {
                let nonce = *r.array::<8>()?;
                r.finish()?;
                if ty == msg_type::PING {
                    Message::Ping { nonce }
                } else {
                    Message::Pong { nonce }
                }
            }
            msg_type::CLOSE => Message::Close {
                reason: utf8(r.rest())?,
            },
            other => return Err(MessageError::UnknownType(other)),
        };
        Ok(msg)
    }
}

/// Splits a room's members over ROSTER messages whose bodies fit in [`MAX_BODY`]
/// (section 5: all but the last with `more` set). Made by [`roster_chunks`].
///
/// Each message takes as many nicks, in order, as fit; an empty list gives one ROSTER
/// with no nicks. The iterator does not check names: a message holding an invalid room
/// or nick is refused by [`Message::encode`]. A nick too long to fit at all still gets
/// a message of its own (which `encode` refuses), so the iterator always ends.
#[derive(Debug, Clone)]
pub struct RosterChunks<'a> {
    room: &'a str,
    rest: &'a [&'a str],
    done: bool,
}

/// The ROSTER messages that answer a WHO for `room` with members `nicks`; see
/// [`RosterChunks`].
pub fn roster_chunks<'a>(room: &'a str, nicks: &'a [&'a str]) -> RosterChunks<'a> {
    RosterChunks {
        room,
        rest: nicks,
        done: false,
    }
}

impl<'a> Iterator for RosterChunks<'a> {
    type Item = Message<'a>;

    fn next(&mut self) -> Option<Message<'a>> {
        if self.done {
            return None;
        }
        // room:str8 || flags:u8 || count:u16
        let mut body = str8_wire(self.room).saturating_add(1 + 2);
        let mut take = 0usize;
        for n in self.rest {
            let next = body.saturating_add(str8_wire(n));
            if next > MAX_BODY || take == usize::from(u16::MAX) {
                break;
            }
            body = next;
            take += 1;
        }
        if take == 0 && !self.rest.is_empty() {
            take = 1;
        }
        let (chunk, rest) = self.rest.split_at_checked(take).unwrap_or((self.rest, &[]));
        self.rest = rest;
        let more = !rest.is_empty();
        self.done = !more;
        Some(Message::Roster {
            room: self.room,
            more,
            nicks: Nicks::List(chunk),
        })
    }
}

impl FusedIterator for RosterChunks<'_> {}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::names::{MAX_NICK, MAX_TEXT};
    use proptest::prelude::*;
    use std::format;
    use std::string::{String, ToString};
    use std::vec;
    use std::vec::Vec;

    /// Test-only hex decoder (the vectors are hex).
    fn hex(s: &str) -> Vec<u8> {
        assert!(s.len().is_multiple_of(2), "odd hex length");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
            .collect()
    }

    fn encode_vec(m: &Message<'_>) -> Result<Vec<u8>, MessageError> {
        let mut buf = vec![0u8; m.encoded_len()];
        let n = m.encode(&mut buf)?;
        assert_eq!(n, buf.len(), "encode wrote encoded_len() bytes");
        Ok(buf)
    }

    /// `m` encodes to exactly `wire`, and `wire` decodes to `m`.
    fn assert_wire(m: Message<'_>, wire: &[u8]) {
        assert_eq!(encode_vec(&m).as_deref(), Ok(wire), "encoding of {m:?}");
        assert_eq!(Message::decode(wire), Ok(m), "decoding of {wire:02x?}");
        assert_eq!(m.msg_type(), wire[0]);
    }

    fn dec(wire: &[u8]) -> Result<Message<'_>, MessageError> {
        Message::decode(wire)
    }

    // Vectors of the independent implementation (vectors/handshake-ffdhe2048.json).
    const SERVER_PK: &str = "93ea370086ab986c8bf9a3e02ae92fbe6163ef388431e7a81be04ba92c02859d";
    const SERVER_AUTH_PT: &str = "0193ea370086ab986c8bf9a3e02ae92fbe6163ef388431e7a81be04ba92c02859d07e9d00cc96d0ebead154f7f371ff81d99df0fff7c0b25293824a38b3eacf8fcff1bc00ba5f7e60f69b23482b09273ac1199984c0a061b9d8ce395eb8f56070c";
    const CLIENT_PK: &str = "3648f2195c8872bf6cf19d4ba78e5018300f1c7ba52a0506563c028040964450";
    const CLIENT_HELLO_PT: &str = "02013648f2195c8872bf6cf19d4ba78e5018300f1c7ba52a0506563c028040964450a8079bdce9d78531cc3d8b8f6f1b9aa207266bf97944ae50a1740e4f2d092b169e12a60473fcd0fc34bb7cb907fd3cea4c782ae7064822c3d6596ebc17bcb50505616c696365";
    const WELCOME_PT: &str = "0305616c69636512646863686174207465737420736572766572001a77656c636f6d6520746f20746865207465737420736572766572";
    const SAY_PT: &str = "1006236c6f62627968656c6c6f2c20776f726c64";
    const MESSAGE_PT: &str =
        "110000018bcfe568000005616c69636506236c6f62627968656c6c6f2c20776f726c64";
    const PING_PT: &str = "199a6d242a322ce1cc";
    const CLOSE_PT: &str = "1f";
    const HELLO_ANON_PT: &str = "020003626f62";

    #[test]
    fn server_auth_vector() {
        let wire = hex(SERVER_AUTH_PT);
        let key: [u8; 32] = hex(SERVER_PK).try_into().expect("32 bytes");
        let sig: [u8; 64] = wire[33..].try_into().expect("64 bytes");
        assert_wire(
            Message::ServerAuth {
                server_key: &key,
                signature: &sig,
            },
            &wire,
        );
    }

    #[test]
    fn client_hello_with_identity_vector() {
        let wire = hex(CLIENT_HELLO_PT);
        let key: [u8; 32] = hex(CLIENT_PK).try_into().expect("32 bytes");
        let sig: [u8; 64] = wire[34..98].try_into().expect("64 bytes");
        assert_wire(
            Message::ClientHello {
                identity: Some((&key, &sig)),
                nick: "alice",
            },
            &wire,
        );
    }

    #[test]
    fn client_hello_anonymous_vector() {
        assert_wire(
            Message::ClientHello {
                identity: None,
                nick: "bob",
            },
            &hex(HELLO_ANON_PT),
        );
    }

    #[test]
    fn welcome_vector() {
        assert_wire(
            Message::Welcome {
                nick: "alice",
                server_name: "dhchat test server",
                motd: "welcome to the test server",
            },
            &hex(WELCOME_PT),
        );
    }

    #[test]
    fn say_vector() {
        assert_wire(
            Message::Say {
                room: "#lobby",
                text: "hello, world",
            },
            &hex(SAY_PT),
        );
    }

    #[test]
    fn message_vector() {
        assert_wire(
            Message::Message(ChatMessage {
                time_ms: 0x18b_cfe5_6800,
                history: false,
                legacy: false,
                account: false,
                from: "alice",
                room: "#lobby",
                text: "hello, world",
            }),
            &hex(MESSAGE_PT),
        );
    }

    #[test]
    fn ping_vector() {
        assert_wire(
            Message::Ping {
                nonce: [0x9a, 0x6d, 0x24, 0x2a, 0x32, 0x2c, 0xe1, 0xcc],
            },
            &hex(PING_PT),
        );
    }

    #[test]
    fn close_empty_vector() {
        assert_wire(Message::Close { reason: "" }, &hex(CLOSE_PT));
    }

    #[test]
    fn notice_of_largest_body_vector() {
        let text = "y".repeat(MAX_BODY);
        let mut wire = vec![0x17];
        wire.extend_from_slice(text.as_bytes());
        assert_wire(Message::Notice { text: &text }, &wire);
        let text = "y".repeat(MAX_BODY + 1);
        wire.push(b'y');
        assert_eq!(dec(&wire), Err(MessageError::BodyTooLong));
        assert_eq!(
            Message::Notice { text: &text }.encode(&mut [0; 8192]),
            Err(MessageError::BodyTooLong)
        );
    }

    #[test]
    fn other_types_encode_to_exact_bytes() {
        assert_wire(Message::Join { room: "#a" }, b"\x12\x02#a");
        assert_wire(Message::Part { room: "#lobby" }, b"\x13\x06#lobby");
        assert_wire(Message::Nick { nick: "bob" }, b"\x14\x03bob");
        assert_wire(Message::Who { room: "#x-y" }, b"\x15\x04#x-y");
        assert_wire(Message::Notice { text: "" }, b"\x17");
        assert_wire(Message::Notice { text: "hi" }, b"\x17hi");
        assert_wire(
            Message::Error {
                code: 4,
                text: "bad",
            },
            b"\x18\x00\x04bad",
        );
        assert_wire(
            Message::Pong { nonce: [1; 8] },
            b"\x1a\x01\x01\x01\x01\x01\x01\x01\x01",
        );
        assert_wire(Message::Close { reason: "bye" }, b"\x1fbye");
        assert_wire(
            Message::Say {
                room: "@bob",
                text: "a\tb",
            },
            b"\x10\x04@boba\tb",
        );
        assert_wire(
            Message::Message(ChatMessage {
                time_ms: 1,
                history: true,
                legacy: true,
                account: true,
                from: "a",
                room: "@b",
                text: "t",
            }),
            b"\x11\x00\x00\x00\x00\x00\x00\x00\x01\x07\x01a\x02@bt",
        );
        assert_wire(
            Message::Roster {
                room: "#r",
                more: true,
                nicks: Nicks::List(&["al", "b"]),
            },
            b"\x16\x02#r\x01\x00\x02\x02al\x01b",
        );
        assert_wire(
            Message::Roster {
                room: "#r",
                more: false,
                nicks: Nicks::List(&[]),
            },
            b"\x16\x02#r\x00\x00\x00",
        );
    }

    #[test]
    fn empty_plaintext_is_refused() {
        assert_eq!(dec(&[]), Err(MessageError::Empty));
    }

    #[test]
    fn unknown_types_are_refused() {
        for t in [0x00, 0x04, 0x0f, 0x1b, 0x1e, 0x20, 0xff] {
            assert_eq!(dec(&[t]), Err(MessageError::UnknownType(t)));
            assert_eq!(sender_of(t), None);
        }
        // Unknown type is reported even with an oversized body.
        assert_eq!(dec(&[0x42; 5000]), Err(MessageError::UnknownType(0x42)));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut ping = hex(PING_PT);
        ping.push(0);
        assert_eq!(dec(&ping), Err(MessageError::TrailingBytes));
        let mut auth = hex(SERVER_AUTH_PT);
        auth.push(0);
        assert_eq!(dec(&auth), Err(MessageError::TrailingBytes));
        let mut hello = hex(HELLO_ANON_PT);
        hello.push(b'x');
        assert_eq!(dec(&hello), Err(MessageError::TrailingBytes));
        let mut welcome = hex(WELCOME_PT);
        welcome.push(b'x');
        assert_eq!(dec(&welcome), Err(MessageError::TrailingBytes));
        assert_eq!(dec(b"\x12\x02#ax"), Err(MessageError::TrailingBytes));
        assert_eq!(dec(b"\x14\x03bobx"), Err(MessageError::TrailingBytes));
        assert_eq!(
            dec(b"\x16\x02#r\x00\x00\x01\x01ax"),
            Err(MessageError::TrailingBytes)
        );
        // Structure is checked before names: bad room and trailing byte is malformed.
        assert_eq!(dec(b"\x12\x02a!x"), Err(MessageError::TrailingBytes));
    }

    #[test]
    fn overruns_are_refused() {
        let ping = hex(PING_PT);
        assert_eq!(dec(&ping[..8]), Err(MessageError::Truncated));
        let auth = hex(SERVER_AUTH_PT);
        assert_eq!(dec(&auth[..96]), Err(MessageError::Truncated));
        assert_eq!(dec(&auth[..1]), Err(MessageError::Truncated));
        let hello = hex(CLIENT_HELLO_PT);
        assert_eq!(dec(&hello[..hello.len() - 1]), Err(MessageError::Truncated));
        assert_eq!(dec(&hello[..50]), Err(MessageError::Truncated));
        assert_eq!(dec(b"\x02"), Err(MessageError::Truncated));
        assert_eq!(dec(b"\x12"), Err(MessageError::Truncated));
        assert_eq!(dec(b"\x12\x03#a"), Err(MessageError::Truncated));
        assert_eq!(dec(b"\x10\x07#lobby"), Err(MessageError::Truncated));
        let msg = hex(MESSAGE_PT);
        assert_eq!(dec(&msg[..9]), Err(MessageError::Truncated));
        assert_eq!(dec(&msg[..12]), Err(MessageError::Truncated));
        let welcome = hex(WELCOME_PT);
        assert_eq!(
            dec(&welcome[..welcome.len() - 1]),
            Err(MessageError::Truncated)
        );
        assert_eq!(
            dec(b"\x16\x02#r\x00\x00\x02\x01a"),
            Err(MessageError::Truncated)
        );
        assert_eq!(dec(b"\x16\x02#r\x00\x00"), Err(MessageError::Truncated));
        assert_eq!(dec(b"\x18\x00"), Err(MessageError::Truncated));
        assert_eq!(dec(b"\x1a"), Err(MessageError::Truncated));
    }

    #[test]
    fn unknown_flags_are_refused() {
        for flags in [0x02, 0x03, 0x80, 0xff] {
            let wire = [0x02, flags, 3, b'b', b'o', b'b'];
            assert_eq!(
                dec(&wire),
                Err(MessageError::UnknownFlags),
                "hello {flags:#x}"
            );
        }
        for flags in [0x08, 0x0f, 0x80] {
            let mut wire = hex(MESSAGE_PT);
            wire[9] = flags;
            assert_eq!(
                dec(&wire),
                Err(MessageError::UnknownFlags),
                "message {flags:#x}"
            );
        }
        for flags in 0..=7u8 {
            let mut wire = hex(MESSAGE_PT);
            wire[9] = flags;
            let Ok(Message::Message(m)) = dec(&wire) else {
                panic!("flags {flags} refused");
            };
            assert_eq!(
                (m.history, m.legacy, m.account),
                (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0)
            );
        }
        for flags in [0x02, 0x81] {
            let wire = [0x16, 2, b'#', b'r', flags, 0, 0];
            assert_eq!(
                dec(&wire),
                Err(MessageError::UnknownFlags),
                "roster {flags:#x}"
            );
        }
    }

    #[test]
    fn non_utf8_fields_are_refused() {
        assert_eq!(dec(b"\x17\xff"), Err(MessageError::NotUtf8));
        assert_eq!(dec(b"\x1f\xc3"), Err(MessageError::NotUtf8));
        assert_eq!(dec(b"\x18\x00\x01\xc3("), Err(MessageError::NotUtf8));
        assert_eq!(dec(b"\x14\x02\xc3("), Err(MessageError::NotUtf8));
        assert_eq!(dec(b"\x10\x02#a\xff"), Err(MessageError::NotUtf8));
        assert_eq!(
            dec(b"\x03\x01a\x01\xff\x00\x00"),
            Err(MessageError::NotUtf8)
        );
        assert_eq!(
            dec(b"\x03\x01a\x00\x00\x01\xff"),
            Err(MessageError::NotUtf8)
        );
        assert_eq!(
            dec(b"\x16\x02#r\x00\x00\x01\x01\xff"),
            Err(MessageError::NotUtf8)
        );
    }

    #[test]
    fn nick_rule_at_its_boundaries() {
        let n32 = "n".repeat(MAX_NICK);
        let n33 = "n".repeat(MAX_NICK + 1);
        assert_eq!(
            dec(&Message::Nick { nick: &n32 }.test_bytes()),
            Ok(Message::Nick { nick: &n32 })
        );
        let mut wire = vec![0x14, 33];
        wire.extend_from_slice(n33.as_bytes());
        assert_eq!(dec(&wire), Err(MessageError::BadNick));
        assert_eq!(
            Message::Nick { nick: &n33 }.encode(&mut [0; 64]),
            Err(MessageError::BadNick)
        );
        assert_eq!(dec(b"\x14\x00"), Err(MessageError::BadNick));
        assert_eq!(dec(b"\x14\x03a b"), Err(MessageError::BadNick));
        assert_eq!(dec(b"\x02\x00\x04@bob"), Err(MessageError::BadNick));
        assert_eq!(dec(b"\x03\x01!\x00\x00\x00"), Err(MessageError::BadNick));
        // MESSAGE from must be a nick, not a target.
        assert_eq!(
            dec(b"\x11\0\0\0\0\0\0\0\0\0\x04@bob\x02#at"),
            Err(MessageError::BadNick)
        );
        for bad in ["", "a b", "@bob", "#a", &n33] {
            for m in [
                Message::Nick { nick: bad },
                Message::ClientHello {
                    identity: None,
                    nick: bad,
                },
                Message::Welcome {
                    nick: bad,
                    server_name: "",
                    motd: "",
                },
                Message::Roster {
                    room: "#r",
                    more: false,
                    nicks: Nicks::List(&["ok", bad]),
                },
            ] {
                assert_eq!(encode_vec(&m), Err(MessageError::BadNick), "{m:?}");
            }
        }
    }

    #[test]
    fn room_rule_at_its_boundaries() {
        let r31 = format!("#{}", "r".repeat(31));
        let r32 = format!("#{}", "r".repeat(32));
        assert!(encode_vec(&Message::Join { room: &r31 }).is_ok());
        let mut wire = vec![0x12, 33];
        wire.extend_from_slice(r32.as_bytes());
        assert_eq!(dec(&wire), Err(MessageError::BadRoom));
        for bad in ["#", "lobby", "@bob", "#a b", "##", &r32] {
            for m in [
                Message::Join { room: bad },
                Message::Part { room: bad },
                Message::Who { room: bad },
                Message::Roster {
                    room: bad,
                    more: false,
                    nicks: Nicks::List(&[]),
                },
            ] {
                assert_eq!(encode_vec(&m), Err(MessageError::BadRoom), "{m:?}");
            }
        }
        assert_eq!(dec(b"\x12\x04@bob"), Err(MessageError::BadRoom));
    }

    #[test]
    fn target_rule_allows_room_or_at_nick() {
        let at32 = format!("@{}", "n".repeat(32));
        let at33 = format!("@{}", "n".repeat(33));
        for good in ["#lobby", "@bob", &at32] {
            let m = Message::Say {
                room: good,
                text: "hi",
            };
            assert_eq!(dec(&m.test_bytes()), Ok(m));
        }
        for bad in ["bob", "@", "#", "@#a", "#@a", &at33] {
            let say = Message::Say {
                room: bad,
                text: "hi",
            };
            assert_eq!(encode_vec(&say), Err(MessageError::BadTarget), "{bad}");
            let mut wire = vec![0x10, bad.len() as u8];
            wire.extend_from_slice(bad.as_bytes());
            wire.extend_from_slice(b"hi");
            assert_eq!(dec(&wire), Err(MessageError::BadTarget), "{bad}");
            let msg = Message::Message(ChatMessage {
                time_ms: 0,
                history: false,
                legacy: false,
                account: false,
                from: "a",
                room: bad,
                text: "hi",
            });
            assert_eq!(encode_vec(&msg), Err(MessageError::BadTarget), "{bad}");
        }
    }

    #[test]
    fn text_rule_on_say_and_message() {
        let say = |text: &str| -> Result<(), MessageError> {
            let mut wire = b"\x10\x02#a".to_vec();
            wire.extend_from_slice(text.as_bytes());
            let from_wire = dec(&wire).map(|_| ());
            let from_value = encode_vec(&Message::Say { room: "#a", text }).map(|_| ());
            assert_eq!(from_wire, from_value, "decode and encode agree on {text:?}");
            from_wire
        };
        assert_eq!(say(&"x".repeat(MAX_TEXT)), Ok(()));
        assert_eq!(
            say(&"x".repeat(MAX_TEXT + 1)),
            Err(MessageError::BadText(TextError::TooLong))
        );
        assert_eq!(say("a\tb"), Ok(()));
        assert_eq!(say(""), Err(MessageError::BadText(TextError::Empty)));
        for bad in ["\x1b[2J", "a\u{85}", "\x7f", "a\nb", "\0"] {
            assert_eq!(
                say(bad),
                Err(MessageError::BadText(TextError::ControlCharacter)),
                "{bad:?}"
            );
        }
        let mut msg = hex(MESSAGE_PT);
        msg.push(0x1b);
        assert_eq!(
            dec(&msg),
            Err(MessageError::BadText(TextError::ControlCharacter))
        );
        // Other texts are any UTF-8, empty included.
        assert!(dec(b"\x17\x1b[2J\n").is_ok());
        assert!(dec(b"\x1f\x00").is_ok());
        assert!(dec(b"\x18\x00\x09\x07").is_ok());
        assert!(dec(b"\x03\x01a\x01\x1b\x00\x01\n").is_ok());
    }

    #[test]
    fn encode_checks_the_buffer_last() {
        let m = Message::Say {
            room: "#lobby",
            text: "hello, world",
        };
        let len = m.encoded_len();
        assert_eq!(len, 20);
        let mut small = [0xaa; 19];
        assert_eq!(m.encode(&mut small), Err(MessageError::BufferTooSmall));
        assert_eq!(small, [0xaa; 19], "a refused encode writes nothing");
        let mut big = [0u8; 64];
        assert_eq!(m.encode(&mut big), Ok(20));
        assert_eq!(&big[..20], hex(SAY_PT).as_slice());
        // An invalid value is reported as such even into a too-small buffer.
        let bad = Message::Say {
            room: "lobby",
            text: "x",
        };
        assert_eq!(bad.encode(&mut []), Err(MessageError::BadTarget));
    }

    #[test]
    fn encode_refuses_fields_too_long_for_their_prefix() {
        let name = "s".repeat(256);
        let m = Message::Welcome {
            nick: "a",
            server_name: &name,
            motd: "",
        };
        assert_eq!(encode_vec(&m), Err(MessageError::FieldTooLong));
        let name = "s".repeat(255);
        let m = Message::Welcome {
            nick: "a",
            server_name: &name,
            motd: "",
        };
        assert_eq!(dec(&m.test_bytes()), Ok(m));
        // A body over 4096 is refused before any field.
        let motd = "m".repeat(70_000);
        let m = Message::Welcome {
            nick: "a",
            server_name: "",
            motd: &motd,
        };
        assert_eq!(encode_vec(&m), Err(MessageError::BodyTooLong));
    }

    #[test]
    fn hand_built_encoded_nicks_are_checked() {
        let refused = |count, bytes| {
            Message::Roster {
                room: "#r",
                more: false,
                nicks: Nicks::Encoded { count, bytes },
            }
            .encode(&mut [0; 64])
        };
        assert_eq!(refused(2, b"\x01a"), Err(MessageError::Truncated));
        assert_eq!(refused(1, b"\x01ab"), Err(MessageError::TrailingBytes));
        assert_eq!(refused(1, b"\x01\xff"), Err(MessageError::NotUtf8));
        assert_eq!(refused(1, b"\x01!"), Err(MessageError::BadNick));
        assert_eq!(refused(1, b"\x01a"), Ok(9));
        // Iterating a malformed one stops at the bad entry.
        let bad = Nicks::Encoded {
            count: 3,
            bytes: b"\x01a\x05b",
        };
        assert_eq!(bad.iter().collect::<Vec<_>>(), ["a"]);
        assert_eq!(bad.len(), 3);
        assert_ne!(bad, Nicks::List(&["a"]));
    }

    #[test]
    fn nicks_list_equals_its_encoding() {
        let list = Nicks::List(&["alice", "Bob", "c-3"]);
        let m = Message::Roster {
            room: "#lobby",
            more: false,
            nicks: list,
        };
        let wire = m.test_bytes();
        let Ok(Message::Roster { nicks, .. }) = dec(&wire) else {
            panic!("roster refused");
        };
        assert!(matches!(nicks, Nicks::Encoded { count: 3, .. }));
        assert_eq!(nicks, list);
        assert_eq!(list, nicks);
        assert_eq!(nicks.len(), 3);
        assert!(!nicks.is_empty());
        assert_eq!(nicks.iter().collect::<Vec<_>>(), ["alice", "Bob", "c-3"]);
        assert_eq!(nicks.into_iter().count(), 3);
        assert_ne!(nicks, Nicks::List(&["alice", "Bob"]));
        assert_ne!(nicks, Nicks::List(&["alice", "bob", "c-3"]));
        assert!(Nicks::List(&[]).is_empty());
        assert_eq!(
            Nicks::List(&[]),
            Nicks::Encoded {
                count: 0,
                bytes: &[]
            }
        );
    }

    #[test]
    fn wire_codes_follow_section_5() {
        use MessageError::*;
        for e in [
            Empty,
            BodyTooLong,
            Truncated,
            TrailingBytes,
            NotUtf8,
            UnknownFlags,
            BadText(TextError::Empty),
            BadText(TextError::TooLong),
            BadText(TextError::ControlCharacter),
            FieldTooLong,
        ] {
            assert_eq!(e.wire_code(), 1, "{e:?}");
        }
        assert_eq!(UnknownType(0x42).wire_code(), 2);
        for e in [BadNick, BadRoom, BadTarget] {
            assert_eq!(e.wire_code(), 4, "{e:?}");
        }
        assert_eq!(BufferTooSmall.wire_code(), 9);
    }

    #[test]
    fn errors_display_an_actionable_sentence() {
        assert_eq!(
            MessageError::BadNick.to_string(),
            "nick must be 1-32 bytes of A-Z a-z 0-9 _ -"
        );
        assert_eq!(
            MessageError::UnknownType(0x42).to_string(),
            "unknown message type 0x42"
        );
        assert_eq!(
            MessageError::BadText(TextError::TooLong).to_string(),
            "message text must be at most 4000 bytes"
        );
        let e: &dyn core::error::Error = &MessageError::BadText(TextError::Empty);
        assert!(e.source().is_some());
        assert!(MessageError::Truncated.to_string().contains("past the end"));
        for e in [
            MessageError::Empty,
            MessageError::BodyTooLong,
            MessageError::TrailingBytes,
            MessageError::NotUtf8,
            MessageError::UnknownFlags,
            MessageError::BadRoom,
            MessageError::BadTarget,
            MessageError::FieldTooLong,
            MessageError::BufferTooSmall,
        ] {
            let s = e.to_string();
            assert!(!s.is_empty() && !s.contains(&format!("{e:?}")), "{s}");
        }
    }

    #[test]
    fn senders_follow_the_direction_column() {
        use msg_type::*;
        for t in [SERVER_AUTH, WELCOME, MESSAGE, ROSTER, NOTICE] {
            assert_eq!(sender_of(t), Some(Sender::Server));
        }
        for t in [CLIENT_HELLO, SAY, JOIN, PART, NICK, WHO] {
            assert_eq!(sender_of(t), Some(Sender::Client));
        }
        for t in [ERROR, PING, PONG, CLOSE] {
            assert_eq!(sender_of(t), Some(Sender::Both));
        }
        let known = (0..=255u8).filter(|&t| sender_of(t).is_some()).count();
        assert_eq!(known, 15);
    }

    /// Checks a ROSTER split: every chunk encodes within the limit, decodes, has the
    /// right flag, and together they hold `nicks` in order.
    fn check_chunks(room: &str, nicks: &[&str]) -> usize {
        let mut seen: Vec<String> = Vec::new();
        let chunks: Vec<_> = roster_chunks(room, nicks).collect();
        assert!(!chunks.is_empty());
        for (i, chunk) in chunks.iter().enumerate() {
            let wire = encode_vec(chunk).expect("chunk encodes");
            assert!(wire.len() - 1 <= MAX_BODY);
            let Ok(Message::Roster {
                room: r,
                more,
                nicks: got,
            }) = dec(&wire)
            else {
                panic!("chunk {i} does not decode");
            };
            assert_eq!(r, room);
            assert_eq!(more, i + 1 < chunks.len(), "more flag of chunk {i}");
            seen.extend(got.iter().map(String::from));
        }
        assert_eq!(seen, nicks);
        chunks.len()
    }

    #[test]
    fn roster_splits_1000_long_nicks() {
        let owned: Vec<String> = (0..1000).map(|i| format!("{i:0>32}")).collect();
        let nicks: Vec<&str> = owned.iter().map(String::as_str).collect();
        assert!(nicks.iter().all(|n| n.len() == 32));
        let room = format!("#{}", "r".repeat(31));
        let n = check_chunks(&room, &nicks);
        // (4096 - 36) / 33 = 123 nicks per full chunk.
        assert_eq!(n, 1000usize.div_ceil(123));
        let first = roster_chunks(&room, &nicks).next().expect("a chunk");
        let body = first.encoded_len() - 1;
        assert!(body <= MAX_BODY && body + 33 > MAX_BODY, "chunks are full");
    }

    #[test]
    fn roster_of_no_nicks_is_one_empty_record() {
        let chunks: Vec<_> = roster_chunks("#lobby", &[]).collect();
        assert_eq!(
            chunks,
            [Message::Roster {
                room: "#lobby",
                more: false,
                nicks: Nicks::List(&[]),
            }]
        );
        assert_eq!(check_chunks("#lobby", &[]), 1);
    }

    #[test]
    fn roster_split_at_exact_fit() {
        // Header: room "#a" (3) + flags (1) + count (2) = 6 bytes. 123 nicks of 32
        // bytes (123 x 33 = 4059) and one of 30 (31) fill the body to exactly 4096.
        let mut owned: Vec<String> = (0..123).map(|i| format!("{i:0>32}")).collect();
        owned.push("z".repeat(30));
        let nicks: Vec<&str> = owned.iter().map(String::as_str).collect();
        assert_eq!(check_chunks("#a", &nicks), 1);
        owned.push("q".to_string());
        let nicks: Vec<&str> = owned.iter().map(String::as_str).collect();
        assert_eq!(check_chunks("#a", &nicks), 2);
    }

    #[test]
    fn roster_chunks_end_even_for_unfit_names() {
        let huge = "n".repeat(5000);
        let nicks = [huge.as_str(), "a", huge.as_str()];
        let chunks: Vec<_> = roster_chunks("#a", &nicks).collect();
        assert_eq!(chunks.len(), 3);
        assert_eq!(encode_vec(&chunks[0]), Err(MessageError::BodyTooLong));
        let room = "#".repeat(5000);
        assert_eq!(roster_chunks(&room, &["a", "b"]).count(), 2);
    }

    impl Message<'_> {
        fn test_bytes(&self) -> Vec<u8> {
            encode_vec(self).expect("valid test message")
        }
    }

    // ---- property tests ----

    fn nick() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_-]{1,32}"
    }

    fn room() -> impl Strategy<Value = String> {
        "#[A-Za-z0-9_-]{1,31}"
    }

    fn target() -> impl Strategy<Value = String> {
        prop_oneof![room(), nick().prop_map(|n| format!("@{n}"))]
    }

    /// Valid SAY/MESSAGE text: short and varied, or long up to the 4000-byte limit.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "([^\\p{Cc}]|\t){1,200}",
            1 => "[ -~\t]{3900,4000}",
            1 => "[^\\p{Cc}]{900,1000}",
        ]
    }

    /// Any UTF-8 (controls included) of at most 240 bytes.
    fn any_text() -> impl Strategy<Value = String> {
        "(?s).{0,60}"
    }

    /// Names near the rules, valid or not, for checking encode against decode.
    fn name_like() -> impl Strategy<Value = String> {
        prop_oneof![nick(), room(), target(), "[A-Za-z0-9_#@ !\u{1b}é-]{0,40}",]
    }

    fn text_like() -> impl Strategy<Value = String> {
        prop_oneof![text(), "(?s).{0,20}", "x{3995,4005}"]
    }

    fn roundtrip(m: Message<'_>) -> Result<(), TestCaseError> {
        let mut buf = [0u8; 1 + MAX_BODY];
        let n = m
            .encode(&mut buf)
            .map_err(|e| TestCaseError::fail(format!("{m:?}: {e}")))?;
        prop_assert_eq!(n, m.encoded_len());
        prop_assert_eq!(Message::decode(&buf[..n]), Ok(m));
        Ok(())
    }

    /// Encoding `m` agrees with decoding the bytes `wire` laid out by hand: both
    /// succeed (with equal values and bytes) or both fail with the same error.
    fn agrees(m: Message<'_>, wire: &[u8]) -> Result<(), TestCaseError> {
        match (encode_vec(&m), Message::decode(wire)) {
            (Ok(bytes), Ok(d)) => {
                prop_assert_eq!(bytes.as_slice(), wire);
                prop_assert_eq!(d, m);
            }
            (Err(e1), Err(e2)) => prop_assert_eq!(e1, e2),
            (a, b) => prop_assert!(false, "encode {:?} but decode {:?}", a, b),
        }
        Ok(())
    }

    fn str8(out: &mut Vec<u8>, s: &str) {
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    }

    proptest! {
        #[test]
        fn roundtrip_server_auth(k in any::<[u8; 32]>(), s in proptest::collection::vec(any::<u8>(), 64)) {
            let s: [u8; 64] = s.try_into().expect("64");
            roundtrip(Message::ServerAuth { server_key: &k, signature: &s })?;
        }

        #[test]
        fn roundtrip_client_hello(
            id in proptest::option::of((any::<[u8; 32]>(), proptest::collection::vec(any::<u8>(), 64))),
            n in nick(),
        ) {
            let id: Option<([u8; 32], [u8; 64])> = id.map(|(k, s)| (k, s.try_into().expect("64")));
            roundtrip(Message::ClientHello { identity: id.as_ref().map(|(k, s)| (k, s)), nick: &n })?;
        }

        #[test]
        fn roundtrip_welcome(n in nick(), name in any_text(), motd in prop_oneof![any_text(), "(?s).{0,1000}"]) {
            roundtrip(Message::Welcome { nick: &n, server_name: &name, motd: &motd })?;
        }

        #[test]
        fn roundtrip_say(room in target(), t in text()) {
            roundtrip(Message::Say { room: &room, text: &t })?;
        }

        #[test]
        fn roundtrip_message(
            time_ms in any::<u64>(), history in any::<bool>(), legacy in any::<bool>(),
            account in any::<bool>(), from in nick(), room in target(), t in text(),
        ) {
            roundtrip(Message::Message(ChatMessage {
                time_ms, history, legacy, account, from: &from, room: &room, text: &t,
            }))?;
        }

        #[test]
        fn roundtrip_room_and_nick_messages(r in room(), n in nick()) {
            roundtrip(Message::Join { room: &r })?;
            roundtrip(Message::Part { room: &r })?;
            roundtrip(Message::Who { room: &r })?;
            roundtrip(Message::Nick { nick: &n })?;
        }

        #[test]
        fn roundtrip_roster(r in room(), more in any::<bool>(), owned in proptest::collection::vec(nick(), 0..110)) {
            let nicks: Vec<&str> = owned.iter().map(String::as_str).collect();
            roundtrip(Message::Roster { room: &r, more, nicks: Nicks::List(&nicks) })?;
        }

        #[test]
        fn roundtrip_free_texts(
            t in prop_oneof![any_text(), "(?s).{0,1024}"], code in any::<u16>(), nonce in any::<[u8; 8]>(),
        ) {
            roundtrip(Message::Notice { text: &t })?;
            roundtrip(Message::Error { code, text: &t })?;
            roundtrip(Message::Close { reason: &t })?;
            roundtrip(Message::Ping { nonce })?;
            roundtrip(Message::Pong { nonce })?;
        }

        #[test]
        fn roster_chunks_cover_any_list(r in room(), owned in proptest::collection::vec(nick(), 0..400)) {
            let nicks: Vec<&str> = owned.iter().map(String::as_str).collect();
            check_chunks(&r, &nicks);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let _ = Message::decode(&bytes);
        }

        #[test]
        fn decode_of_typed_bytes_never_panics_and_is_canonical(
            ty in proptest::sample::select(&[0x01u8, 0x02, 0x03, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1f][..]),
            body in proptest::collection::vec(prop_oneof![any::<u8>(), 0u8..4, Just(b'#'), Just(b'a')], 0..120),
        ) {
            let mut wire = vec![ty];
            wire.extend_from_slice(&body);
            if let Ok(m) = Message::decode(&wire) {
                // Whatever decodes re-encodes to the same bytes.
                prop_assert_eq!(encode_vec(&m), Ok(wire.clone()));
            }
        }

        #[test]
        fn mutated_valid_messages_decode_canonically(
            which in 0usize..6, pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>(),
        ) {
            let mut wire = hex([SAY_PT, MESSAGE_PT, CLIENT_HELLO_PT, WELCOME_PT, PING_PT, HELLO_ANON_PT][which]);
            let i = pos.index(wire.len());
            if cut { wire.truncate(i); } else { wire[i] = byte; }
            if let Ok(m) = Message::decode(&wire) {
                prop_assert_eq!(encode_vec(&m), Ok(wire.clone()));
            }
        }

        #[test]
        fn encode_and_decode_agree_on_say(room in name_like(), t in text_like()) {
            let mut wire = vec![msg_type::SAY];
            str8(&mut wire, &room);
            wire.extend_from_slice(t.as_bytes());
            agrees(Message::Say { room: &room, text: &t }, &wire)?;
        }

        #[test]
        fn encode_and_decode_agree_on_message(
            time_ms in any::<u64>(), flags in 0u8..8, from in name_like(), room in name_like(), t in text_like(),
        ) {
            let mut wire = vec![msg_type::MESSAGE];
            wire.extend_from_slice(&time_ms.to_be_bytes());
            wire.push(flags);
            str8(&mut wire, &from);
            str8(&mut wire, &room);
            wire.extend_from_slice(t.as_bytes());
            agrees(Message::Message(ChatMessage {
                time_ms, history: flags & 1 != 0, legacy: flags & 2 != 0, account: flags & 4 != 0, from: &from, room: &room, text: &t,
            }), &wire)?;
        }

        #[test]
        fn encode_and_decode_agree_on_names(n in name_like()) {
            for (ty, m) in [
                (msg_type::JOIN, Message::Join { room: &n }),
                (msg_type::PART, Message::Part { room: &n }),
                (msg_type::WHO, Message::Who { room: &n }),
                (msg_type::NICK, Message::Nick { nick: &n }),
            ] {
                let mut wire = vec![ty];
                str8(&mut wire, &n);
                agrees(m, &wire)?;
            }
            let mut wire = vec![msg_type::CLIENT_HELLO, 0];
            str8(&mut wire, &n);
            agrees(Message::ClientHello { identity: None, nick: &n }, &wire)?;
            let mut wire = vec![msg_type::WELCOME];
            str8(&mut wire, &n);
            wire.extend_from_slice(&[0, 0, 0]);
            agrees(Message::Welcome { nick: &n, server_name: "", motd: "" }, &wire)?;
        }

        #[test]
        fn encode_and_decode_agree_on_roster(
            r in name_like(), more in any::<bool>(), owned in proptest::collection::vec(name_like(), 0..130),
        ) {
            let nicks: Vec<&str> = owned.iter().map(String::as_str).collect();
            let mut wire = vec![msg_type::ROSTER];
            str8(&mut wire, &r);
            wire.push(u8::from(more));
            wire.extend_from_slice(&(nicks.len() as u16).to_be_bytes());
            for n in &nicks {
                str8(&mut wire, n);
            }
            agrees(Message::Roster { room: &r, more, nicks: Nicks::List(&nicks) }, &wire)?;
        }
    }
}
