//! The async driver over `embedded-io-async` `Read + Write`: what a tokio
//! program (through an adapter) or an async firmware runs. The server's
//! handshake hands its two modular exponentiations to an [`Offload`], so a
//! host can run them off its reactor.
//!
//! See the crate documentation for a complete client.

use core::borrow::Borrow;
use core::future::Future;

use embedded_io_async::{Read, ReadExactError, Write};
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

async fn read_exact<T: Read>(io: &mut T, buf: &mut [u8]) -> Result<(), DriverError<T::Error>> {
    io.read_exact(buf).await.map_err(|e| match e {
        ReadExactError::UnexpectedEof => DriverError::Protocol(Error::ConnectionLost),
        ReadExactError::Other(e) => DriverError::Io(e),
    })
}

async fn write_all<T: Write>(io: &mut T, buf: &[u8]) -> Result<(), DriverError<T::Error>> {
    io.write_all(buf).await.map_err(DriverError::Io)?;
    io.flush().await.map_err(DriverError::Io)
}

/// Reads one record (length field checked before reading on) into `buf` and
/// returns it, length field included.
///
/// # Errors
/// [`Error::Record`] for a bad length field; [`Error::ConnectionLost`] at end
/// of stream; [`DriverError::Io`].
pub async fn read_record<'b, T: Read>(
    io: &mut T,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8], DriverError<T::Error>> {
    let mut header = [0u8; HEADER_LEN];
    read_exact(io, &mut header).await?;
    let len = body_len(header).map_err(Error::Record)?;
    let record = buf
        .get_mut(..HEADER_LEN + len)
        .ok_or(Error::Record(RecordError::BufferTooSmall))?;
    record[..HEADER_LEN].copy_from_slice(&header);
    read_exact(io, &mut record[HEADER_LEN..]).await?;
    Ok(record)
}

/// Runs the client handshake over `io` and returns the established
/// connection. `trust` decides about the server's key (a pinned
/// [`crate::identity::PublicKey`] is one).
///
/// # Errors
/// Any handshake error (see [`Error::reaction`]; on all of them the client has
/// sent nothing more and should close), or [`DriverError::Io`].
pub async fn connect<'b, T, R, Tr>(
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
    read_exact(&mut io, &mut magic).await?;
    let state = ClientHandshake::new(config.min_group_bits).read_magic(&magic)?;
    let dh_msg = &mut rx[..SERVER_HELLO_LEN - MAGIC_LEN];
    read_exact(&mut io, dh_msg).await?;
    let (state, n) = state.read_dh(dh_msg, &mut rng, &mut tx[..])?;
    write_all(&mut io, &tx[..n]).await?;
    let record = read_record(&mut io, &mut rx[..]).await?;
    let (state, n) = state.read_server_auth(record, trust, config, &mut rng, &mut tx[..])?;
    write_all(&mut io, &tx[..n]).await?;
    let record = read_record(&mut io, &mut rx[..]).await?;
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

/// Runs a CPU-heavy handshake step. A tokio host implements it with
/// `spawn_blocking`, so handshakes never stall established sessions; a
/// single-threaded program uses [`Inline`].
pub trait Offload {
    /// Runs `f` to completion and yields its result.
    fn run<F, O>(&mut self, f: F) -> impl Future<Output = O>
    where
        F: FnOnce() -> O + Send + 'static,
        O: Send + 'static;
}

/// Runs each step in place, on the calling task.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inline;

impl Offload for Inline {
    fn run<F, O>(&mut self, f: F) -> impl Future<Output = O>
    where
        F: FnOnce() -> O + Send + 'static,
        O: Send + 'static,
    {
        core::future::ready(f())
    }
}

/// Largest SERVER_AUTH record: 97 bytes of plaintext sealed.
const SERVER_AUTH_RECORD: usize = 162;

/// Runs the server handshake over `io`; the two modular exponentiations go
/// through `offload`, which is why the RNG and the identity are passed by value
/// (the RNG is handed back). Returns the session with the client's hello
/// (borrowing the nick from `bufs`); the caller then sends WELCOME (or ERROR 8
/// then CLOSE). A refused CLIENT_HELLO is answered with ERROR and CLOSE here
/// and returned as [`Error::Refused`].
///
/// # Errors
/// Any handshake error, or [`DriverError::Io`].
#[allow(clippy::too_many_arguments)]
pub async fn accept<'b, T, R, P, K, O>(
    io: &mut T,
    group: Group,
    identity: K,
    policy: &mut P,
    rng: R,
    offload: &mut O,
    bufs: &'b mut Buffers,
) -> Result<(Session, ClientHello<'b>, R), DriverError<T::Error>>
where
    T: Read + Write,
    R: CryptoRng + Send + 'static,
    P: ClientPolicy + ?Sized,
    K: Borrow<IdentityKey> + Send + 'static,
    O: Offload,
{
    let Buffers { rx, tx } = bufs;
    let (started, mut rng, hello) = offload
        .run(move || {
            let mut rng = rng;
            let mut out = [0u8; SERVER_HELLO_LEN];
            let started = ServerHandshake::start(group, &mut rng, &mut out).map(|(s, _)| s);
            (started, rng, out)
        })
        .await;
    let state = started?;
    write_all(io, &hello).await?;
    let mut magic = [0u8; MAGIC_LEN];
    read_exact(io, &mut magic).await?;
    let state = state.read_magic(&magic)?;
    let mut packed_y = [0u8; crate::dh::LEN_PK];
    read_exact(io, &mut packed_y).await?;
    let (keyed, rng_back, auth) = offload
        .run(move || {
            let mut out = [0u8; SERVER_AUTH_RECORD];
            let keyed = state.read_client_key(&packed_y, identity.borrow(), &mut rng, &mut out);
            (keyed, rng, out)
        })
        .await;
    rng = rng_back;
    let (state, n) = keyed?;
    write_all(io, auth.get(..n).unwrap_or(&[])).await?;
    let record = read_record(io, &mut rx[..]).await?;
    match state.read_client_hello(record, policy)? {
        HelloOutcome::Accepted(session, hello) => Ok((session, hello, rng)),
        HelloOutcome::Refused(farewell, refusal) => {
            let n = farewell.write(&refusal, &mut rng, &mut tx[..])?;
            write_all(io, &tx[..n]).await?;
            Err(DriverError::Protocol(Error::Refused(refusal)))
        }
    }
}

/// Writes `bytes` and flushes.
///
/// # Errors
/// [`DriverError::Io`].
pub async fn send_bytes<T: Write>(io: &mut T, bytes: &[u8]) -> Result<(), DriverError<T::Error>> {
    write_all(io, bytes).await
}

/// An established client connection over an async stream.
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
    pub async fn send(&mut self, msg: &Message<'_>) -> Result<(), DriverError<T::Error>> {
        let n = self.send.seal(msg, &mut self.rng, &mut self.bufs.tx)?;
        write_all(&mut self.io, &self.bufs.tx[..n]).await
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
    pub async fn recv(&mut self) -> Result<Message<'_>, DriverError<T::Error>> {
        if self.closed {
            return Err(DriverError::Protocol(Error::PeerClosed));
        }
        self.welcome_len = None;
        let record = read_record(&mut self.io, &mut self.bufs.rx).await?;
        let outcome = self.recv.open(record);
        match answer_to(&outcome) {
            Answer::None => {}
            Answer::Pong(nonce) => {
                let n =
                    self.send
                        .seal(&Message::Pong { nonce }, &mut self.rng, &mut self.bufs.tx)?;
                write_all(&mut self.io, &self.bufs.tx[..n]).await?;
            }
            Answer::Error(code, text) => {
                let msg = Message::Error {
                    code,
                    text: text.as_str(),
                };
                let n = self.send.seal(&msg, &mut self.rng, &mut self.bufs.tx)?;
                write_all(&mut self.io, &self.bufs.tx[..n]).await?;
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
    pub async fn close(mut self, reason: &str) -> Result<T, DriverError<T::Error>> {
        self.send(&Message::Close { reason }).await?;
        Ok(self.io)
    }
}
