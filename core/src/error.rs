//! One error type for everything a peer (or the local caller) can get wrong, and
//! its single mapping to the wire reaction of PROTOCOL.md section 6.
//!
//! `Display` texts are meant for the person running the program: they name the
//! check that failed and, where it helps, what to do. They never contain key
//! material. Do not send `Debug` output to a peer.

use core::fmt;

use crate::dh::DhError;
use crate::identity::{KeyText, PublicKey};
use crate::message::MessageError;

/// The ERROR codes of PROTOCOL.md section 5, kept beside the error type that
/// maps to them ([`Error::reaction`], [`Refusal::code`],
/// [`MessageError::wire_code`]).
pub mod code {
    /// The body is malformed, or breaks the text rule.
    pub const MALFORMED: u16 = 1;
    /// Unsupported or out-of-place message type.
    pub const UNSUPPORTED_TYPE: u16 = 2;
    /// Not allowed (authentication or policy).
    pub const NOT_ALLOWED: u16 = 3;
    /// A nick, room or target breaks the name rules.
    pub const BAD_NAME: u16 = 4;
    /// The name is in use.
    pub const NAME_IN_USE: u16 = 5;
    /// No such room or nick.
    pub const NO_SUCH_TARGET: u16 = 6;
    /// Rate limited.
    pub const RATE_LIMITED: u16 = 7;
    /// Server busy.
    pub const SERVER_BUSY: u16 = 8;
    /// Internal error.
    pub const INTERNAL: u16 = 9;
}

/// How a peer reacts to an [`Error`] (PROTOCOL.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Close the connection and send nothing.
    CloseSilently,
    /// Send ERROR with this code; the session stays open.
    ErrorAndStay(u16),
    /// Send ERROR with this code, then CLOSE, then close the connection.
    ErrorThenClose(u16),
    /// The peer ended the session (CLOSE, ERROR during the handshake, or end of
    /// stream): stop sending and close, answering nothing.
    Stop,
    /// Drop the record and answer nothing; the session stays open (a
    /// malformed ERROR or PONG, which are never answered with ERROR).
    Ignore,
    /// A local mistake of the caller (buffer too small, message not valid to
    /// send); nothing about the peer is implied and the session may go on.
    Local,
}

/// Failures of the record layer (PROTOCOL.md section 4). Every one ends the
/// session, and nothing of the failed record is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The length field is below 64.
    LengthTooShort(u16),
    /// The length field is above 4160.
    LengthTooLong(u16),
    /// `len - 48` is not a multiple of 16.
    LengthNotAligned(u16),
    /// The record is shorter or longer than its length field says.
    LengthMismatch,
    /// The authentication tag did not match.
    BadTag,
    /// The PKCS#7 padding was invalid (under a valid tag).
    BadPadding,
    /// The plaintext was empty: no message type.
    EmptyPlaintext,
    /// The plaintext carried a body over 4096 bytes.
    PlaintextTooLong,
    /// An earlier record failed: this direction of the session is dead.
    SessionFailed,
    /// The sequence number would wrap: the session must end.
    SequenceExhausted,
    /// A caller's buffer is too small for the record.
    BufferTooSmall,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthTooShort(n) => write!(f, "record length {n} is below the minimum of 64"),
            Self::LengthTooLong(n) => write!(f, "record length {n} is above the maximum of 4160"),
            Self::LengthNotAligned(n) => {
                write!(f, "record length {n} is not 48 plus a multiple of 16")
            }
            Self::LengthMismatch => f.write_str("record is not as long as its length field says"),
            Self::BadTag => f.write_str(
                "record authentication failed: the record was tampered with, replayed or \
                 reordered, or someone is in the middle of the connection",
            ),
            Self::BadPadding => f.write_str("record padding is invalid under a valid tag"),
            Self::EmptyPlaintext => f.write_str("record plaintext is empty (no message type)"),
            Self::PlaintextTooLong => f.write_str("record body is over 4096 bytes"),
            Self::SessionFailed => f.write_str("an earlier record failed; the session is over"),
            Self::SequenceExhausted => {
                f.write_str("record sequence number exhausted; the session must end")
            }
            Self::BufferTooSmall => f.write_str("buffer too small for the record"),
        }
    }
}

impl core::error::Error for RecordError {}

/// Why a client does not trust the key a server presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustError {
    /// The server's key is not known and the user did not (yet) accept it.
    UnknownKey {
        /// The key the server presented.
        received: PublicKey,
    },
    /// The server's key differs from the recorded or pinned one.
    Mismatch {
        /// The key on record (pin or known-hosts entry).
        recorded: PublicKey,
        /// The key the server presented.
        received: PublicKey,
    },
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKey { received } => write!(
                f,
                "the server's key {} is not known; check it with the server's operator \
                 before trusting it",
                KeyText::new(received)
            ),
            Self::Mismatch { recorded, received } => write!(
                f,
                "SERVER KEY MISMATCH: recorded {} but the server presented {}; either the \
                 server's identity changed or someone is in the middle of the connection",
                KeyText::new(recorded),
                KeyText::new(received)
            ),
        }
    }
}

/// Why the server refuses a CLIENT_HELLO, and why a client's handshake was
/// refused by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The CLIENT_HELLO body was malformed (unknown flag bits, trailing bytes).
    Malformed(MessageError),
    /// The requested nick breaks the nick rules.
    BadNick,
    /// The client's signature did not verify, or its key is weak.
    BadSignature,
    /// The client is anonymous or its key is not on the authorized list.
    NotAuthorized,
    /// The server has as many clients as it allows.
    ServerBusy,
}

impl Refusal {
    /// The ERROR code sent for this refusal.
    pub fn code(&self) -> u16 {
        match self {
            Self::Malformed(_) => code::MALFORMED,
            Self::BadNick => code::BAD_NAME,
            Self::BadSignature | Self::NotAuthorized => code::NOT_ALLOWED,
            Self::ServerBusy => code::SERVER_BUSY,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed CLIENT_HELLO: {e}"),
            Self::BadNick => f.write_str("nick must be 1-32 bytes of A-Z a-z 0-9 _ -"),
            Self::BadSignature => f.write_str("client identity signature did not verify"),
            Self::NotAuthorized => f.write_str("client key is not authorized on this server"),
            Self::ServerBusy => f.write_str("server is full, try again later"),
        }
    }
}

/// Every failure of the protocol core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The peer's first 8 bytes were not `DHCHAT/1`.
    BadMagic {
        /// What the peer sent instead.
        received: [u8; 8],
    },
    /// A Diffie-Hellman check failed (unknown group, value out of range, ...).
    Dh(DhError),
    /// The server's group is smaller than this client accepts.
    GroupTooSmall {
        /// Bits of the offered group.
        offered_bits: u32,
        /// The client's minimum.
        minimum_bits: u32,
    },
    /// A record failed a check of PROTOCOL.md section 4.
    Record(RecordError),
    /// The first record (or the server's second) had the wrong type.
    UnexpectedHandshakeMessage {
        /// The type that was expected.
        expected: u8,
        /// The type received.
        received: u8,
    },
    /// A handshake message's body was malformed.
    MalformedHandshake(MessageError),
    /// The server's SERVER_AUTH signature did not verify, or its key is weak.
    BadServerSignature,
    /// The client does not trust the server's key.
    Trust(TrustError),
    /// The server refuses this client's CLIENT_HELLO (server side).
    Refused(Refusal),
    /// The server answered the CLIENT_HELLO with ERROR (client side).
    RefusedByServer {
        /// The ERROR code the server sent.
        code: u16,
        /// The start of the server's text (control characters not removed:
        /// display it escaped).
        text: ShortText,
    },
    /// After WELCOME: a body was malformed or broke a rule.
    Message {
        /// The received type byte.
        msg_type: u8,
        /// The broken rule.
        error: MessageError,
    },
    /// After WELCOME: a type not sent in this direction, a handshake type or
    /// an unknown type (the received type byte).
    OutOfPlace(u8),
    /// After WELCOME: a malformed ERROR or PONG, dropped unanswered.
    MalformedControl {
        /// The received type byte (ERROR or PONG).
        msg_type: u8,
        /// The broken rule.
        error: MessageError,
    },
    /// The peer sent CLOSE.
    PeerClosed,
    /// The stream ended without CLOSE.
    ConnectionLost,
    /// The local caller tried to send something invalid (not a peer error).
    InvalidOutgoing(MessageError),
    /// The local caller tried to send a type that this side never sends.
    WrongDirection(u8),
    /// The local caller tried to seal a handshake message type (SERVER_AUTH,
    /// CLIENT_HELLO, WELCOME) on a session: only the handshake steps send
    /// those.
    HandshakeType(u8),
}

impl Error {
    /// The reaction PROTOCOL.md section 6 prescribes for this error.
    pub fn reaction(&self) -> Reaction {
        match self {
            Self::Record(RecordError::BufferTooSmall) => Reaction::Local,
            Self::BadMagic { .. }
            | Self::Dh(_)
            | Self::GroupTooSmall { .. }
            | Self::Record(_)
            | Self::UnexpectedHandshakeMessage { .. }
            | Self::MalformedHandshake(_)
            | Self::BadServerSignature
            | Self::Trust(_) => Reaction::CloseSilently,
            Self::Refused(r) => Reaction::ErrorThenClose(r.code()),
            Self::RefusedByServer { .. } | Self::PeerClosed | Self::ConnectionLost => {
                Reaction::Stop
            }
            Self::Message { error, .. } => Reaction::ErrorAndStay(error.wire_code()),
            Self::OutOfPlace(_) => Reaction::ErrorAndStay(code::UNSUPPORTED_TYPE),
            Self::MalformedControl { .. } => Reaction::Ignore,
            Self::InvalidOutgoing(_) | Self::WrongDirection(_) | Self::HandshakeType(_) => {
                Reaction::Local
            }
        }
    }

    /// The type byte of the received record this error is about, when it is
    /// about one that decrypted (after WELCOME: [`Error::Message`],
    /// [`Error::OutOfPlace`], [`Error::MalformedControl`];
    /// [`Error::UnexpectedHandshakeMessage`] during the handshake).
    pub fn received_type(&self) -> Option<u8> {
        match self {
            Self::Message { msg_type, .. } | Self::MalformedControl { msg_type, .. } => {
                Some(*msg_type)
            }
            Self::OutOfPlace(t) => Some(*t),
            Self::UnexpectedHandshakeMessage { received, .. } => Some(*received),
            _ => None,
        }
    }

    /// True when this error ends the session (everything but `ErrorAndStay`,
    /// `Ignore` and local mistakes).
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self.reaction(),
            Reaction::ErrorAndStay(_) | Reaction::Ignore | Reaction::Local
        )
    }
}

/// Writes the first bytes a non-dhchat peer sent, for the error report.
struct Received<'a>(&'a [u8; 8]);

impl fmt::Display for Received<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            if b.is_ascii_graphic() {
                write!(f, "{}", *b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic { received } if received.iter().all(|b| *b == 0) => f.write_str(
                "the peer speaks the unversioned legacy protocol (its first bytes are zero), \
                 not dhchat/1; legacy mode must be asked for explicitly",
            ),
            Self::BadMagic { received } => write!(
                f,
                "the peer is not a dhchat/1 peer: it sent \"{}\" instead of \"DHCHAT/1\"",
                Received(received)
            ),
            Self::Dh(e) => write!(f, "key exchange failed: {e}"),
            Self::GroupTooSmall {
                offered_bits,
                minimum_bits,
            } => write!(
                f,
                "the server offered a {offered_bits}-bit group, below this client's minimum \
                 of {minimum_bits} bits"
            ),
            Self::Record(e) => e.fmt(f),
            Self::UnexpectedHandshakeMessage { expected, received } => write!(
                f,
                "handshake out of order: expected message type 0x{expected:02x}, received \
                 0x{received:02x}"
            ),
            Self::MalformedHandshake(e) => write!(f, "malformed handshake message: {e}"),
            Self::BadServerSignature => f.write_str(
                "the server's handshake signature is invalid: someone may be in the middle",
            ),
            Self::Trust(e) => e.fmt(f),
            Self::Refused(r) => write!(f, "client refused: {r}"),
            Self::RefusedByServer { code, text } => write!(
                f,
                "the server refused this client (error {code}): {}",
                crate::names::Escaped(text.as_str())
            ),
            Self::Message { error, .. } => error.fmt(f),
            Self::MalformedControl { error, .. } => {
                write!(f, "malformed ERROR or PONG dropped: {error}")
            }
            Self::OutOfPlace(t) => {
                write!(
                    f,
                    "message type 0x{t:02x} is not allowed in this direction or now"
                )
            }
            Self::PeerClosed => f.write_str("the peer closed the session"),
            Self::ConnectionLost => f.write_str("the connection was lost (no CLOSE received)"),
            Self::InvalidOutgoing(e) => write!(f, "cannot send this message: {e}"),
            Self::WrongDirection(t) => {
                write!(f, "message type 0x{t:02x} is not sent by this side")
            }
            Self::HandshakeType(t) => write!(
                f,
                "message type 0x{t:02x} belongs to the handshake and is sent only by its steps"
            ),
        }
    }
}

impl core::error::Error for Error {}

impl From<RecordError> for Error {
    fn from(e: RecordError) -> Self {
        Self::Record(e)
    }
}

impl From<DhError> for Error {
    fn from(e: DhError) -> Self {
        Self::Dh(e)
    }
}

impl From<TrustError> for Error {
    fn from(e: TrustError) -> Self {
        Self::Trust(e)
    }
}

/// A short text kept by value (up to 96 bytes, cut at a character boundary),
/// for error reports that must not borrow.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortText {
    buf: [u8; 96],
    len: u8,
}

impl ShortText {
    /// Copies the start of `text`, cut at a character boundary.
    pub fn new(text: &str) -> Self {
        let mut t = Self {
            buf: [0; 96],
            len: 0,
        };
        let _ = fmt::Write::write_str(&mut t, text);
        t
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..usize::from(self.len)).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("")
    }
}

impl Default for ShortText {
    fn default() -> Self {
        Self::new("")
    }
}

impl fmt::Write for ShortText {
    /// Appends as much of `s` as fits, cut at a character boundary.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut end = s.len().min(self.buf.len() - usize::from(self.len));
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let at = usize::from(self.len);
        self.buf[at..at + end].copy_from_slice(&s.as_bytes()[..end]);
        self.len += end as u8;
        Ok(())
    }
}

impl fmt::Debug for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
