//! The receiving side of an established session: record framing over a
//! caller's buffer, then [`RecvHalf::open`] with its reply.

use super::inbox::Inbox;
use crate::error::Error;
use crate::reply::Received;
use crate::session::RecvHalf;

/// Receives records after WELCOME: says where the next bytes go
/// ([`Reader::space`]), and once a record is complete opens it
/// ([`Reader::received`]).
///
/// The bytes of a partial record stay in the caller's buffer and the count in
/// the reader, so a driver may stop between two reads (drop a future,
/// time out) and go on later with the same buffer: nothing is lost.
#[derive(Debug)]
pub struct Reader {
    recv: RecvHalf,
    inbox: Inbox,
    ended: Option<Error>,
}

impl Reader {
    pub(crate) fn new(recv: RecvHalf) -> Self {
        Self {
            recv,
            inbox: Inbox::record(),
            ended: None,
        }
    }

    /// Where the next received bytes go in `rx`: exactly the bytes the
    /// record in progress still needs (2 for a length field, then the rest),
    /// so a read never takes bytes of the next record. Empty once the
    /// session has ended.
    pub fn space<'b>(&self, rx: &'b mut [u8]) -> &'b mut [u8] {
        if self.ended.is_some() {
            return &mut [];
        }
        self.inbox.space(rx)
    }

    /// True while part of a record has been received.
    pub fn is_partial(&self) -> bool {
        self.inbox.is_partial()
    }

    /// Notes that `n` bytes were written into [`Reader::space`]. Returns
    /// `None` while the record is incomplete, and the opened record once it
    /// is (the message borrows from `rx`). Each [`Received`] carries the
    /// reply section 6 prescribes; after a CLOSE the reader has ended.
    ///
    /// # Errors
    /// Fatal only: [`Error::Record`] (close without sending anything),
    /// [`Error::PeerClosed`] once CLOSE was received.
    pub fn received<'b>(
        &mut self,
        n: usize,
        rx: &'b mut [u8],
    ) -> Result<Option<Received<'b>>, Error> {
        if self.fill(n, rx)? {
            self.open(rx).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The first half of [`Reader::received`]: notes `n` new bytes and says
    /// whether the record is complete (then call [`Reader::open`]).
    ///
    /// # Errors
    /// As [`Reader::received`].
    pub fn fill(&mut self, n: usize, rx: &[u8]) -> Result<bool, Error> {
        if let Some(e) = self.ended {
            return Err(e);
        }
        match self.inbox.advance(rx, n) {
            Ok(done) => Ok(done.is_some()),
            Err(e) => Err(self.end(e)),
        }
    }

    /// The second half of [`Reader::received`]: opens the complete record in
    /// `rx`.
    ///
    /// # Errors
    /// As [`Reader::received`]; [`Error::Record`] with `LengthMismatch` if
    /// the record is not complete yet.
    pub fn open<'b>(&mut self, rx: &'b mut [u8]) -> Result<Received<'b>, Error> {
        if let Some(e) = self.ended {
            return Err(e);
        }
        if self.inbox.needed() != 0 {
            return Err(Error::Record(crate::error::RecordError::LengthMismatch));
        }
        let len = self.inbox.len();
        self.inbox = Inbox::record();
        let record = rx.get_mut(..len).unwrap_or(&mut []);
        match self.recv.open(record) {
            Ok(received) => {
                if received.is_close() {
                    self.ended = Some(Error::PeerClosed);
                }
                Ok(received)
            }
            Err(e) => Err(self.end(e)),
        }
    }

    /// Notes that the stream ended; returns [`Error::ConnectionLost`].
    pub fn eof(&mut self) -> Error {
        match self.ended {
            Some(e) => e,
            None => self.end(Error::ConnectionLost),
        }
    }

    fn end(&mut self, e: Error) -> Error {
        self.ended = Some(e);
        e
    }

    /// Records opened so far.
    pub fn records(&self) -> u64 {
        self.recv.received()
    }
}
