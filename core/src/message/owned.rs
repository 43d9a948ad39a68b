//! [`MessageBuf`]: one owned message (feature `alloc`), for queues, channels and
//! shared fan-out where a borrowed [`Message`] cannot live long enough.

extern crate alloc;

use alloc::boxed::Box;
use core::fmt;

use super::{Message, MessageError};

/// An owned, valid message: its encoded plaintext, `type:u8 || body`, checked once when
/// it is made; [`MessageBuf::message`] gives the borrowed [`Message`] back through the
/// same codec.
///
/// Holding the encoding keeps one owned form for every message type (no per-type copy
/// of the fields) and lets a sender hand [`MessageBuf::plaintext`] to the record layer
/// without encoding again. Equality compares the plaintexts, which is the same as
/// comparing the messages (the encoding is canonical).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MessageBuf {
    /// A plaintext that [`Message::decode`] accepts.
    plaintext: Box<[u8]>,
}

impl MessageBuf {
    /// Encodes `message` into an owned value.
    ///
    /// # Errors
    /// As [`Message::encode`]: a value that decoding its encoding would refuse (a bad
    /// nick, room, target or text, a body over [`super::MAX_BODY`], ...).
    pub fn new(message: &Message<'_>) -> Result<Self, MessageError> {
        let mut plaintext = alloc::vec![0u8; message.encoded_len()];
        let n = message.encode(&mut plaintext)?;
        plaintext.truncate(n);
        Ok(Self {
            plaintext: plaintext.into_boxed_slice(),
        })
    }

    /// Checks a received plaintext and keeps a copy of it.
    ///
    /// # Errors
    /// As [`Message::decode`].
    pub fn decode(plaintext: &[u8]) -> Result<Self, MessageError> {
        Message::decode(plaintext)?;
        Ok(Self {
            plaintext: plaintext.into(),
        })
    }

    /// The message, borrowing from this value.
    pub fn message(&self) -> Message<'_> {
        // Both constructors checked that the plaintext decodes, and it cannot change
        // since; a failure here would be a bug of the codec, never peer input.
        Message::decode(&self.plaintext)
            .unwrap_or_else(|_| unreachable!("a MessageBuf holds a valid plaintext"))
    }

    /// The type byte ([`super::msg_type`]).
    pub fn msg_type(&self) -> u8 {
        self.plaintext.first().copied().unwrap_or_default()
    }

    /// The encoded plaintext, `type:u8 || body`, as the record layer seals it.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }
}

impl TryFrom<&Message<'_>> for MessageBuf {
    type Error = MessageError;

    fn try_from(message: &Message<'_>) -> Result<Self, MessageError> {
        Self::new(message)
    }
}

impl TryFrom<Message<'_>> for MessageBuf {
    type Error = MessageError;

    fn try_from(message: Message<'_>) -> Result<Self, MessageError> {
        Self::new(&message)
    }
}

impl PartialEq<Message<'_>> for MessageBuf {
    fn eq(&self, other: &Message<'_>) -> bool {
        self.message() == *other
    }
}

impl fmt::Debug for MessageBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.message(), f)
    }
}
