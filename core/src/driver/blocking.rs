//! The blocking driver over `embedded-io` `Read + Write`: what a firmware
//! runs. Each function is a short loop around one
//! [`crate::connection`] machine.
//!
//! Reads ask for exactly the bytes the unit in progress still needs, so each
//! record costs two reads (length field, rest); over a socket, wrap the
//! stream in a buffered reader (`embedded_io::BufRead` implementations, or
//! `std::io::BufReader` behind an adapter) to make that one system call.
//!
//! See the crate documentation for a complete client.

use embedded_io::{Read, Write};
use rand_core::CryptoRng;

use super::{welcome_in, welcome_plaintext_len, Buffers, DriverError};
use crate::connection::{ClientConnection, ClientEvent, Reader, ServerConnection, ServerEvent};
use crate::dh::{DH_MSG_LEN, LEN_PK};
use crate::error::Error;
use crate::group::Group;
use crate::handshake::{ClientConfig, ClientHello, ClientPolicy, ServerTrust, Welcome};
use crate::identity::IdentityKey;
use crate::message::Message;
use crate::reply::Received;
use crate::session::{SendHalf, SessionInfo};

/// Reads into `buf` (what a machine's `space` asks for); `Ok(0)` only when
/// nothing is asked for.
fn read_some<T: Read>(io: &mut T, buf: &mut [u8]) -> Result<usize, DriverError<T::Error>> {
    if buf.is_empty() {
        return Ok(0);
    }
    match io.read(buf).map_err(DriverError::Io)? {
        0 => Err(DriverError::Protocol(Error::ConnectionLost)),
        n => Ok(n),
    }
}

fn write_all<T: Write>(io: &mut T, buf: &[u8]) -> Result<(), DriverError<T::Error>> {
    io.write_all(buf).map_err(DriverError::Io)?;
    io.flush().map_err(DriverError::Io)
}

/// Reads one record (length field checked before reading on) into `buf` and
/// returns it, length field included: the framing of [`Reader`], for tools
/// that open records themselves.
///
/// # Errors
/// [`Error::Record`] for a bad length field or a short `buf`;
/// [`Error::ConnectionLost`] at end of stream; [`DriverError::Io`].
pub fn read_record<'b, T: Read>(
    io: &mut T,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8], DriverError<T::Error>> {
    let mut inbox = crate::connection::Inbox::record();
    loop {
        let n = read_some(io, inbox.space(buf))?;
        if let Some(len) = inbox.advance(buf, n)? {
            return Ok(buf.get_mut(..len).unwrap_or(&mut []));
        }
    }
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
    let Buffers { rx, tx } = &mut *bufs;
    let mut conn = ClientConnection::new(*config, trust);
    let welcome_len = loop {
        let n = read_some(&mut io, conn.space(rx))?;
        match conn.received(n, rx, &mut rng, tx)? {
            ClientEvent::NeedBytes | ClientEvent::Received(_) => {}
            ClientEvent::Send(n) => write_all(&mut io, &tx[..n])?,
            ClientEvent::Compute(step) => {
                let (done, n) = step.run(&rx[..DH_MSG_LEN], &mut rng, &mut tx[..])?;
                write_all(&mut io, &tx[..n])?;
                conn.resume(done);
            }
            ClientEvent::Welcome(w) => break welcome_plaintext_len(&w),
        }
    };
    let Some((send, reader, info)) = conn.split() else {
        return Err(DriverError::Protocol(Error::ConnectionLost));
    };
    Ok(Connection {
        io,
        rng,
        send,
        reader,
        info,
        bufs,
        welcome_len,
    })
}

/// Runs the server handshake over `io` up to the client's admission and
/// returns the admitted connection with the client's hello (borrowing the
/// nick from `bufs`); the caller then sends WELCOME
/// ([`ServerConnection::welcome`]) or refuses ([`ServerConnection::refuse`]).
/// A refused CLIENT_HELLO is answered with ERROR and CLOSE here and returned
/// as [`Error::Refused`].
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
) -> Result<(ServerConnection, ClientHello<'b>), DriverError<T::Error>>
where
    T: Read + Write,
    R: CryptoRng,
    P: ClientPolicy + ?Sized,
{
    let Buffers { rx, tx } = bufs;
    let (mut conn, n) = ServerConnection::start(group, rng, &mut tx[..])?;
    write_all(io, &tx[..n])?;
    loop {
        let n = read_some(io, conn.space(rx))?;
        if !conn.fill(n, rx)? {
            continue;
        }
        if conn.awaits_hello() {
            break;
        }
        if let ServerEvent::Compute(step) = conn.process(rx, policy, rng, tx)? {
            let (done, n) = step.run(&rx[..LEN_PK], identity, rng, &mut tx[..])?;
            write_all(io, &tx[..n])?;
            conn.resume(done);
        }
    }
    match conn.process(rx, policy, rng, tx)? {
        ServerEvent::Hello(hello) => Ok((conn, hello)),
        ServerEvent::Refused { send, refusal } => {
            write_all(io, &tx[..send])?;
            Err(DriverError::Protocol(Error::Refused(refusal)))
        }
        _ => Err(DriverError::Protocol(Error::ConnectionLost)),
    }
}

/// An established client connection over a blocking stream.
pub struct Connection<'b, T, R> {
    io: T,
    rng: R,
    send: SendHalf,
    reader: Reader,
    info: SessionInfo,
    bufs: &'b mut Buffers,
    /// Length of WELCOME's plaintext, while it is still in `bufs.rx`.
    welcome_len: Option<usize>,
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
    /// [`Error::WrongDirection`], [`Error::HandshakeType`],
    /// [`Error::InvalidOutgoing`], a record error, or [`DriverError::Io`].
    pub fn send(&mut self, msg: &Message<'_>) -> Result<(), DriverError<T::Error>> {
        let n = self.send.seal(msg, &mut self.rng, &mut self.bufs.tx)?;
        write_all(&mut self.io, &self.bufs.tx[..n])
    }

    /// Receives the next record and sends the reply section 6 prescribes
    /// (PONG to PING, ERROR to a broken rule). Returns the message (PING and
    /// CLOSE included; after CLOSE the connection has ended), or a non-fatal
    /// error ([`DriverError::is_fatal`] is false: call `recv` again).
    ///
    /// # Errors
    /// Fatal: record errors, [`Error::ConnectionLost`], [`Error::PeerClosed`]
    /// after CLOSE, [`DriverError::Io`]. Non-fatal: [`Error::Message`],
    /// [`Error::OutOfPlace`], [`Error::MalformedControl`].
    pub fn recv(&mut self) -> Result<Message<'_>, DriverError<T::Error>> {
        self.welcome_len = None;
        loop {
            let space = self.reader.space(&mut self.bufs.rx);
            let n = match read_some(&mut self.io, space) {
                Err(DriverError::Protocol(Error::ConnectionLost)) => {
                    return Err(self.reader.eof().into())
                }
                other => other?,
            };
            if self.reader.fill(n, &self.bufs.rx)? {
                break;
            }
        }
        let received = self.reader.open(&mut self.bufs.rx)?;
        reply(
            &mut self.io,
            &mut self.send,
            &mut self.rng,
            &mut self.bufs.tx,
            &received,
        )?;
        Ok(received.message?)
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

/// Seals and sends the reply a received record calls for, if any.
fn reply<T: Write, R: CryptoRng>(
    io: &mut T,
    send: &mut SendHalf,
    rng: &mut R,
    tx: &mut [u8],
    received: &Received<'_>,
) -> Result<(), DriverError<T::Error>> {
    if let Some(reply) = &received.reply {
        let n = send.seal_reply(reply, rng, tx)?;
        write_all(io, &tx[..n])?;
    }
    Ok(())
}
