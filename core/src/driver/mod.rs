//! Drivers: thin layers that move bytes between the sans-io state machines
//! and a stream, over `embedded-io` ([`blocking`]) or `embedded-io-async`
//! ([`asynch`]). A firmware and a tokio program run the same handshake and
//! record code through them.
//!
//! Each is a short loop around one [`crate::connection`] machine, which holds
//! the handshake, the framing and the replies of PROTOCOL.md section 6. Both
//! work in [`Buffers`] (two records' worth, 8 KiB) and draw randomness from a
//! caller's RNG.

pub mod asynch;
pub mod blocking;

use core::fmt;

use crate::error::Error;
use crate::message::Message;
use crate::record::MAX_RECORD;

/// A driver failure: the stream's own error, or a protocol error.
#[derive(Debug)]
pub enum DriverError<E> {
    /// Reading or writing the stream failed.
    Io(E),
    /// The protocol core refused something (see [`Error::reaction`]).
    Protocol(Error),
}

impl<E> DriverError<E> {
    /// The protocol error, if this is one.
    pub fn protocol(&self) -> Option<&Error> {
        match self {
            Self::Protocol(e) => Some(e),
            Self::Io(_) => None,
        }
    }

    /// True unless this is a protocol error after which the session stays
    /// open (the peer was answered with ERROR).
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Io(_) => true,
            Self::Protocol(e) => e.is_fatal(),
        }
    }
}

impl<E> From<Error> for DriverError<E> {
    fn from(e: Error) -> Self {
        Self::Protocol(e)
    }
}

impl<E: fmt::Display> fmt::Display for DriverError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "connection error: {e}"),
            Self::Protocol(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for DriverError<E> {}

/// Where a split connection's [`asynch::Receiver`] reads records: one
/// record's worth of bytes ([`MAX_RECORD`]). A receiver needs only this half of
/// [`Buffers`]; a server with many idle sessions gives each receiver its own
/// `[u8; MAX_RECORD]` (boxed) instead of a whole [`Buffers`].
pub trait RecordSpace {
    /// The buffer a record is read into.
    fn record_space(&mut self) -> &mut [u8; MAX_RECORD];
}

impl RecordSpace for [u8; MAX_RECORD] {
    fn record_space(&mut self) -> &mut [u8; MAX_RECORD] {
        self
    }
}

impl RecordSpace for Buffers {
    fn record_space(&mut self) -> &mut [u8; MAX_RECORD] {
        &mut self.rx
    }
}

impl<S: RecordSpace + ?Sized> RecordSpace for &mut S {
    fn record_space(&mut self) -> &mut [u8; MAX_RECORD] {
        (**self).record_space()
    }
}

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "alloc")]
impl<S: RecordSpace + ?Sized> RecordSpace for alloc::boxed::Box<S> {
    fn record_space(&mut self) -> &mut [u8; MAX_RECORD] {
        (**self).record_space()
    }
}

/// The buffers a connection works in: one for received records, one for
/// records being sent. Each holds the largest record (and SERVER_HELLO).
pub struct Buffers {
    pub(crate) rx: [u8; MAX_RECORD],
    pub(crate) tx: [u8; MAX_RECORD],
}

impl Buffers {
    /// Zeroed buffers.
    pub const fn new() -> Self {
        Self {
            rx: [0; MAX_RECORD],
            tx: [0; MAX_RECORD],
        }
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Buffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Buffers")
    }
}

/// The plaintext length of a WELCOME (type byte and body).
pub(crate) fn welcome_plaintext_len(w: &crate::handshake::Welcome<'_>) -> Option<usize> {
    Some(
        Message::Welcome {
            nick: w.nick,
            server_name: w.server_name,
            motd: w.motd,
        }
        .encoded_len(),
    )
}

/// Decodes the WELCOME whose plaintext of `len` bytes is still in the
/// receive buffer, where the record layer decrypted it.
pub(crate) fn welcome_in(rx: &[u8], len: usize) -> Option<crate::handshake::Welcome<'_>> {
    let start = crate::record::PLAINTEXT_AT;
    match Message::decode(rx.get(start..start + len)?) {
        Ok(Message::Welcome {
            nick,
            server_name,
            motd,
        }) => Some(crate::handshake::Welcome {
            nick,
            server_name,
            motd,
        }),
        _ => None,
    }
}
