//! Receive framing: which bytes the peer must send next, and when a whole unit
//! (a handshake message of fixed size, or one record) has arrived.
//!
//! The inbox never asks for more than the unit in progress still needs, so no
//! byte of the next unit is ever read early. A record's length field is
//! checked (PROTOCOL.md section 4, step 1) as soon as its two bytes are in,
//! before anything more is read.

use crate::error::{Error, RecordError};
use crate::record::{body_len, HEADER_LEN};

/// The unit being received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A handshake message of exactly this many bytes.
    Exact(usize),
    /// A record: the length field, then what it announces.
    Record,
}

/// How far the unit in progress has arrived, in the caller's receive buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inbox {
    unit: Unit,
    /// Bytes of the unit received so far, at `rx[..filled]`.
    filled: usize,
    /// Bytes the unit has in all, as far as known (2 for a record whose
    /// length field has not arrived yet).
    total: usize,
}

impl Inbox {
    /// Waiting for a fixed-size unit of `n` bytes.
    pub(crate) fn exact(n: usize) -> Self {
        Self {
            unit: Unit::Exact(n),
            filled: 0,
            total: n,
        }
    }

    /// Waiting for a record.
    pub(crate) fn record() -> Self {
        Self {
            unit: Unit::Record,
            filled: 0,
            total: HEADER_LEN,
        }
    }

    /// Bytes still needed before the unit is complete (0 once it is).
    pub(crate) fn needed(&self) -> usize {
        self.total - self.filled
    }

    /// Bytes of the unit in all, as far as known.
    pub(crate) fn len(&self) -> usize {
        self.total
    }

    /// True while part of a unit has arrived.
    pub(crate) fn is_partial(&self) -> bool {
        self.filled > 0 && self.filled < self.total
    }

    /// Where the next received bytes go: exactly the bytes still needed.
    pub(crate) fn space<'b>(&self, rx: &'b mut [u8]) -> &'b mut [u8] {
        rx.get_mut(self.filled..self.total).unwrap_or(&mut [])
    }

    /// Notes that `n` bytes were written into [`Inbox::space`]; returns the
    /// complete unit's length once it is in `rx[..len]`.
    ///
    /// # Errors
    /// [`RecordError`]s of the length field (close without reading on);
    /// [`RecordError::BufferTooSmall`] if `rx` cannot hold the unit.
    pub(crate) fn advance(&mut self, rx: &[u8], n: usize) -> Result<Option<usize>, Error> {
        self.filled = self.filled.saturating_add(n).min(self.total);
        if self.unit == Unit::Record && self.filled == HEADER_LEN && self.total == HEADER_LEN {
            let header = [
                *rx.first().ok_or(RecordError::BufferTooSmall)?,
                *rx.get(1).ok_or(RecordError::BufferTooSmall)?,
            ];
            self.total = HEADER_LEN + body_len(header)?;
        }
        if self.total > rx.len() {
            return Err(Error::Record(RecordError::BufferTooSmall));
        }
        if self.filled == self.total {
            Ok(Some(self.total))
        } else {
            Ok(None)
        }
    }
}
