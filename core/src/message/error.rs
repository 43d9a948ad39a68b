//! Why a plaintext is not a valid message: [`MessageError`] and its ERROR codes
//! (PROTOCOL.md sections 5 and 6).

use core::fmt;

use super::error_code;
use crate::names::TextError;

/// Why a plaintext is not a valid message, or a [`Message`](super::Message) cannot be encoded.
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
    /// The body is longer than [`MAX_BODY`](super::MAX_BODY) bytes.
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
    /// Encoding only: the output buffer is shorter than [`Message::encoded_len`](super::Message::encoded_len).
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
