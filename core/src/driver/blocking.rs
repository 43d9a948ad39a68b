//! The blocking driver over `embedded-io` `Read + Write`: what a firmware
//! runs.
//!
//! See the crate documentation for a complete client.

use embedded_io::{Read, ReadExactError, Write};
use rand_core::CryptoRng;

use super::{answer_to, welcome_in, welcome_plaintext_len, Answer, Buffers, DriverError};
use crate::error::{Error, RecordError};
use crate::group::Group;
use crate::handshake::{
    ClientConfig, ClientHandshake, ClientHello, ClientPolicy, HelloOutcome, ServerHandshake,
    ServerTrust, Welcome, MAGIC_LEN, SERVER_HELLO_LEN,
};
use crate::identity::IdentityKey;
use crate::message::Message;
use crate::record::{body_len, HEADER_LEN};
use crate::session::{RecvHalf, SendHalf, Session, SessionInfo};

fn read_exact<T: Read>(io: &mut T, buf: &mut [u8]) -> Result<(), DriverError<T::Error>> {
    io.read_exact(buf).map_err(|e| match e {
        ReadExactError::UnexpectedEof => DriverError::Protocol(Error::ConnectionLost),
        ReadExactError::Other(e) => DriverError::Io(e),
    })
}

fn write_all<T: Write>(io: &mut T, buf: &[u8]) -> Result<(), DriverError<T::Error>> {
    io.write_all(buf).map_err(DriverError::Io)?;
    io.flush().map_err(DriverError::Io)
}

/// Reads one record (length field checked before reading on) into `buf` and
/// returns it, length field included.
///
/// # Errors
/// [`Error::Record`] for a bad length field; [`Error::ConnectionLost`] at end
/// of stream; [`DriverError::Io`].
pub fn read_record<'b, T: Read>(
    io: &mut T,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8], DriverError<T::Error>> {
    let mut header = [0u8; HEADER_LEN];
    read_exact(io, &mut header)?;
    let len = body_len(header).map_err(Error::Record)?;
    let record = buf
        .get_mut(..HEADER_LEN + len)
        .ok_or(Error::Record(RecordError::BufferTooSmall))?;
    record[..HEADER_LEN].copy_from_slice(&header);
    read_exact(io, &mut record[HEADER_LEN..])?;
    Ok(record)
}

/// Runs the client handshake over `io` and returns the established
/// connection. `trust` decides about the server's key (a pinned
/// [`crate::identity::PublicKey`] is one).
///
/// # Errors
/// Any handshake error (see [`Error::reaction`]; on all of them the client has
/// sent nothing more and should close), or [`DriverError::Io`].
pub fn connect<'b, T, R, Tr>(
    mut io: T,
    config: &ClientConfig<'_>,
    trust: &mut Tr,
    mut rng: R,
    bufs: &'b mut Buffers,
) -> Result<Connection<'b, T, R>, DriverError<T::Error>>
where
    T: Read + Write,
    R: CryptoRng,
    Tr: ServerTrust + ?Sized,
{
    let Buffers { rx, tx } = bufs;
    let mut magic = [0u8; MAGIC_LEN];
    read_exact(&mut io, &mut magic)?;
    let state = ClientHandshake::new(config.min_group_bits).read_magic(&magic)?;
    let dh_msg = &mut rx[..SERVER_HELLO_LEN - MAGIC_LEN];
    read_exact(&mut io, dh_msg)?;
    let (state, n) = state.read_dh(dh_msg, &mut rng, &mut tx[..])?;
    write_all(&mut io, &tx[..n])?;
    let record = read_record(&mut io, &mut rx[..])?;
    let (state, n) = state.read_server_auth(record, trust, config, &mut rng, &mut tx[..])?;
    write_all(&mut io, &tx[..n])?;
    let record = read_record(&mut io, &mut rx[..])?;
    let (session, welcome) = state.read_welcome(record)?;
    let welcome_len = welcome_plaintext_len(&welcome);
    let (send, recv, info) = session.split();
    Ok(Connection {
        io,
        rng,
        send,
        recv,
        info,
        bufs,
        welcome_len,
        closed: false,
    })
}

/// Runs the server handshake over `io` and returns the session with the
/// client's hello (borrowing the nick from `bufs`); the caller then sends
/// WELCOME (or ERROR 8 then CLOSE). A refused CLIENT_HELLO is answered with
/// ERROR and CLOSE here and returned as [`Error::Refused`].
///
/// # Errors
/// Any handshake error, or [`DriverError::Io`].
pub fn accept<'b, T, R, P>(
    io: &mut T,
    group: Group,
    identity: &IdentityKey,
    policy: &mut P,
    rng: &mut R,
    bufs: &'b mut Buffers,
) -> Result<(Session, ClientHello<'b>), DriverError<T::Error>>
where
    T: Read + Write,
    R: CryptoRng,
    P: ClientPolicy + ?Sized,
{
    let Buffers { rx, tx } = bufs;
    let (state, n) = ServerHandshake::start(group, rng, &mut tx[..])?;
    write_all(io, &tx[..n])?;
    let mut magic = [0u8; MAGIC_LEN];
    read_exact(io, &mut magic)?;
    let state = state.read_magic(&magic)?;
    let packed_y = &mut rx[..crate::dh::LEN_PK];
    read_exact(io, packed_y)?;
    let (state, n) = state.read_client_key(packed_y, identity, rng, &mut tx[..])?;
    write_all(io, &tx[..n])?;
    let record = read_record(io, &mut rx[..])?;
    match state.read_client_hello(record, policy)? {
        HelloOutcome::Accepted(session, hello) => Ok((session, hello)),
        HelloOutcome::Refused(farewell, refusal) => {
            let n = farewell.write(&refusal, rng, &mut tx[..])?;
            write_all(io, &tx[..n])?;
            Err(DriverError::Protocol(Error::Refused(refusal)))
        }
    }
}

/// An established client connection over a blocking stream.
pub struct Connection<'b, T, R> {
    io: T,
    rng: R,
    send: SendHalf,
    recv: RecvHalf,
    info: SessionInfo,
    bufs: &'b mut Buffers,
    /// Length of WELCOME's plaintext, while it is still in `bufs.rx`.
    welcome_len: Option<usize>,
    closed: bool,
}

impl<T, R> core::fmt::Debug for Connection<'_, T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<'b, T, R> Connection<'b, T, R>
where
    T: Read + Write,
    R: CryptoRng,
{
    /// Facts about the session (fingerprint, server key, group).
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// The server's WELCOME, available until the first [`Connection::recv`].
    pub fn welcome(&self) -> Option<Welcome<'_>> {
        welcome_in(&self.bufs.rx, self.welcome_len?)
    }

    /// Sends one message.
    ///
    /// # Errors
    /// [`Error::WrongDirection`], [`Error::InvalidOutgoing`], a record error,
    /// or [`DriverError::Io`].
    pub fn send(&mut self, msg: &Message<'_>) -> Result<(), DriverError<T::Error>> {
        let n = self.send.seal(msg, &mut self.rng, &mut self.bufs.tx)?;
        write_all(&mut self.io, &self.bufs.tx[..n])
    }

    /// Receives the next message. PING is answered with PONG (and returned);
    /// a broken rule is answered with ERROR and returned as a non-fatal error
    /// ([`DriverError::is_fatal`] is false: call `recv` again). CLOSE is
    /// returned, after which the connection is closed.
    ///
    /// # Errors
    /// Fatal: record errors, [`Error::ConnectionLost`], [`Error::PeerClosed`]
    /// after CLOSE, [`DriverError::Io`]. Non-fatal: [`Error::Message`],
    /// [`Error::OutOfPlace`].
    pub fn recv(&mut self) -> Result<Message<'_>, DriverError<T::Error>> {
        if self.closed {
            return Err(DriverError::Protocol(Error::PeerClosed));
        }
        self.welcome_len = None;
        let record = read_record(&mut self.io, &mut self.bufs.rx)?;
        let outcome = self.recv.open(record);
        match answer_to(&outcome) {
            Answer::None => {}
            Answer::Pong(nonce) => {
                let n =
                    self.send
                        .seal(&Message::Pong { nonce }, &mut self.rng, &mut self.bufs.tx)?;
                write_all(&mut self.io, &self.bufs.tx[..n])?;
            }
            Answer::Error(code, text) => {
                let msg = Message::Error {
                    code,
                    text: text.as_str(),
                };
                let n = self.send.seal(&msg, &mut self.rng, &mut self.bufs.tx)?;
                write_all(&mut self.io, &self.bufs.tx[..n])?;
            }
        }
        if let Ok(Message::Close { .. }) = outcome {
            self.closed = true;
        }
        Ok(outcome?)
    }

    /// Sends CLOSE with `reason` and returns the stream.
    ///
    /// # Errors
    /// A record error or [`DriverError::Io`].
    pub fn close(mut self, reason: &str) -> Result<T, DriverError<T::Error>> {
        self.send(&Message::Close { reason })?;
        Ok(self.io)
    }
}
