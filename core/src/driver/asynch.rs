//! The async driver over `embedded-io-async` `Read + Write`: what a tokio
//! program (through an adapter) or an async firmware runs. Each function is a
//! short loop around one [`crate::connection`] machine; the handshakes hand
//! their modular exponentiations to an [`Offload`], so a host can run them
//! off its reactor.
//!
//! # Buffering
//! Reads ask for exactly the bytes the unit in progress still needs, so each
//! record costs two reads (the length field, then the rest). Over a socket,
//! wrap the read side in a buffered reader (e.g. tokio's `BufReader` before
//! the `embedded-io-adapters` adapter) to make that one system call; writes
//! are one `write_all` and one `flush` per record.
//!
//! # Tasks and cancellation
//! [`Connection::split`] gives an owned [`Sender`] and [`Receiver`] for two
//! tasks. [`Receiver::recv`] is cancel-safe: a partial record lives in the
//! receiver (its buffer and count), so dropping the future (a `select!`
//! branch that lost, a timeout) loses nothing; the next call goes on where
//! the last one stopped. The receiver does not send: it hands out each
//! record's [`Reply`] for the sender.
//!
//! See the crate documentation for a complete client.

use core::borrow::{Borrow, BorrowMut};
use core::future::Future;

use embedded_io_async::{Read, Write};
use rand_core::CryptoRng;

use super::{welcome_in, welcome_plaintext_len, Buffers, DriverError, RecordSpace};
use crate::connection::{ClientConnection, ClientEvent, Reader, ServerConnection, ServerEvent};
use crate::dh::{DH_MSG_LEN, LEN_PK};
use crate::error::Error;
use crate::group::Group;
use crate::handshake::{
    ClientConfig, ClientHello, ClientPolicy, ServerTrust, Welcome, CLIENT_KEY_LEN, SERVER_HELLO_LEN,
};
use crate::identity::IdentityKey;
use crate::message::Message;
use crate::reply::{Received, Reply};
use crate::session::{SendHalf, SessionInfo};

/// Reads into `buf` (what a machine's `space` asks for); `Ok(0)` only when
/// nothing is asked for. Cancel-safe when the stream's `read` is.
async fn read_some<T: Read>(io: &mut T, buf: &mut [u8]) -> Result<usize, DriverError<T::Error>> {
    if buf.is_empty() {
        return Ok(0);
    }
    match io.read(buf).await.map_err(DriverError::Io)? {
        0 => Err(DriverError::Protocol(Error::ConnectionLost)),
        n => Ok(n),
    }
}

async fn write_all<T: Write>(io: &mut T, buf: &[u8]) -> Result<(), DriverError<T::Error>> {
    io.write_all(buf).await.map_err(DriverError::Io)?;
    io.flush().await.map_err(DriverError::Io)
}

/// Reads one record (length field checked before reading on) into `buf` and
/// returns it, length field included: the framing of [`Reader`], for tools
/// that open records themselves.
///
/// # Errors
/// [`Error::Record`] for a bad length field or a short `buf`;
/// [`Error::ConnectionLost`] at end of stream; [`DriverError::Io`].
pub async fn read_record<'b, T: Read>(
    io: &mut T,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8], DriverError<T::Error>> {
    let mut inbox = crate::connection::Inbox::record();
    loop {
        let n = read_some(io, inbox.space(buf)).await?;
        if let Some(len) = inbox.advance(buf, n)? {
            return Ok(buf.get_mut(..len).unwrap_or(&mut []));
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

/// Runs the client handshake over `io` and returns the established
/// connection, which owns `bufs` (a `Buffers`, a `Box<Buffers>` or a
/// `&'static mut Buffers`). `trust` decides about the server's key (a pinned
/// [`crate::identity::PublicKey`] is one); the key exchange (one modular
/// exponentiation) runs through `offload`, which is why the RNG is taken by
/// value.
///
/// # Errors
/// Any handshake error (see [`Error::reaction`]; on all of them the client has
/// sent nothing more and should close), or [`DriverError::Io`].
pub async fn connect<T, R, Tr, O, B>(
    mut io: T,
    config: &ClientConfig<'_>,
    trust: &mut Tr,
    rng: R,
    offload: &mut O,
    mut bufs: B,
) -> Result<Connection<T, R, B>, DriverError<T::Error>>
where
    T: Read + Write,
    R: CryptoRng + Send + 'static,
    Tr: ServerTrust + ?Sized,
    O: Offload,
    B: BorrowMut<Buffers>,
{
    let Buffers { rx, tx } = bufs.borrow_mut();
    let mut rng = Some(rng);
    let mut conn = ClientConnection::new(*config, trust);
    let welcome_len = loop {
        let n = read_some(&mut io, conn.space(rx)).await?;
        let Some(r) = rng.as_mut() else {
            return Err(DriverError::Protocol(Error::ConnectionLost));
        };
        match conn.received(n, rx, r, tx)? {
            ClientEvent::NeedBytes | ClientEvent::Received(_) => {}
            ClientEvent::Send(n) => write_all(&mut io, &tx[..n]).await?,
            ClientEvent::Compute(step) => {
                let mut dh_msg = [0u8; DH_MSG_LEN];
                dh_msg.copy_from_slice(&rx[..DH_MSG_LEN]);
                let mut r = rng.take().ok_or(Error::ConnectionLost)?;
                let (done, r, out) = offload
                    .run(move || {
                        let mut out = [0u8; CLIENT_KEY_LEN];
                        let done = step.run(&dh_msg, &mut r, &mut out).map(|(d, _)| d);
                        (done, r, out)
                    })
                    .await;
                rng = Some(r);
                let done = done?;
                write_all(&mut io, &out).await?;
                conn.resume(done);
            }
            ClientEvent::Welcome(w) => break welcome_plaintext_len(&w),
        }
    };
    let (Some((send, reader, info)), Some(rng)) = (conn.split(), rng) else {
        return Err(DriverError::Protocol(Error::ConnectionLost));
    };
    Ok(Connection {
        io,
        sender: SendState { send, rng },
        reader,
        info,
        bufs,
        welcome_len,
    })
}

/// Largest SERVER_AUTH record: 97 bytes of plaintext sealed.
const SERVER_AUTH_RECORD: usize = 162;

/// Runs the server handshake over `io` up to the client's admission; the two
/// modular exponentiations go through `offload`, which is why the RNG and the
/// identity are passed by value (the RNG is handed back). Returns the
/// admitted connection with the client's hello (borrowing the nick from
/// `bufs`); the caller then sends WELCOME ([`ServerConnection::welcome`]) or
/// refuses ([`ServerConnection::refuse`], e.g. ERROR 8 when full). A refused
/// CLIENT_HELLO is answered with ERROR and CLOSE here and returned as
/// [`Error::Refused`].
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
) -> Result<(ServerConnection, ClientHello<'b>, R), DriverError<T::Error>>
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
            let started = ServerConnection::start(group, &mut rng, &mut out).map(|(s, _)| s);
            (started, rng, out)
        })
        .await;
    let mut conn = started?;
    write_all(io, &hello).await?;
    let mut identity = Some(identity);
    loop {
        let n = read_some(io, conn.space(rx)).await?;
        if !conn.fill(n, rx)? {
            continue;
        }
        if conn.awaits_hello() {
            break;
        }
        if let ServerEvent::Compute(step) = conn.process(rx, policy, &mut rng, tx)? {
            let mut packed_y = [0u8; LEN_PK];
            packed_y.copy_from_slice(&rx[..LEN_PK]);
            let id = identity.take().ok_or(Error::ConnectionLost)?;
            let (done, rng_back, auth) = offload
                .run(move || {
                    let mut out = [0u8; SERVER_AUTH_RECORD];
                    let done = step.run(&packed_y, id.borrow(), &mut rng, &mut out);
                    (done, rng, out)
                })
                .await;
            rng = rng_back;
            let (done, n) = done?;
            write_all(io, auth.get(..n).unwrap_or(&[])).await?;
            conn.resume(done);
        }
    }
    match conn.process(rx, policy, &mut rng, tx)? {
        ServerEvent::Hello(hello) => Ok((conn, hello, rng)),
        ServerEvent::Refused { send, refusal } => {
            write_all(io, &tx[..send]).await?;
            Err(DriverError::Protocol(Error::Refused(refusal)))
        }
        _ => Err(DriverError::Protocol(Error::ConnectionLost)),
    }
}

/// The sending state: the session's sending half and the RNG for IVs.
#[derive(Debug)]
struct SendState<R> {
    send: SendHalf,
    rng: R,
}

impl<R: CryptoRng> SendState<R> {
    async fn send<T: Write>(
        &mut self,
        io: &mut T,
        tx: &mut [u8],
        msg: &Message<'_>,
    ) -> Result<(), DriverError<T::Error>> {
        let n = self.send.seal(msg, &mut self.rng, tx)?;
        write_all(io, &tx[..n]).await
    }
}

/// An established client connection over an async stream; it owns its
/// buffers, so it can move into a spawned task.
pub struct Connection<T, R, B> {
    io: T,
    sender: SendState<R>,
    reader: Reader,
    info: SessionInfo,
    bufs: B,
    /// Length of WELCOME's plaintext, while it is still in `bufs.rx`.
    welcome_len: Option<usize>,
}

impl<T, R, B> core::fmt::Debug for Connection<T, R, B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<T, R, B> Connection<T, R, B>
where
    T: Read + Write,
    R: CryptoRng,
    B: BorrowMut<Buffers>,
{
    /// Facts about the session (fingerprint, server key, group).
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// The server's WELCOME, available until the first [`Connection::recv`].
    pub fn welcome(&self) -> Option<Welcome<'_>> {
        welcome_in(&self.bufs.borrow().rx, self.welcome_len?)
    }

    /// Sends one message.
    ///
    /// # Errors
    /// [`Error::WrongDirection`], [`Error::HandshakeType`],
    /// [`Error::InvalidOutgoing`], a record error, or [`DriverError::Io`].
    pub async fn send(&mut self, msg: &Message<'_>) -> Result<(), DriverError<T::Error>> {
        let tx = &mut self.bufs.borrow_mut().tx;
        self.sender.send(&mut self.io, tx, msg).await
    }

    /// Receives the next record and sends the reply section 6 prescribes
    /// (PONG to PING, ERROR to a broken rule). Returns the message (PING and
    /// CLOSE included; after CLOSE the connection has ended), or a non-fatal
    /// error ([`DriverError::is_fatal`] is false: call `recv` again).
    ///
    /// Cancel-safe while it waits for bytes (a partial record stays in the
    /// connection); not while it writes a reply.
    ///
    /// # Errors
    /// Fatal: record errors, [`Error::ConnectionLost`], [`Error::PeerClosed`]
    /// after CLOSE, [`DriverError::Io`]. Non-fatal: [`Error::Message`],
    /// [`Error::OutOfPlace`], [`Error::MalformedControl`].
    pub async fn recv(&mut self) -> Result<Message<'_>, DriverError<T::Error>> {
        self.welcome_len = None;
        let Buffers { rx, tx } = self.bufs.borrow_mut();
        fill(&mut self.io, &mut self.reader, rx).await?;
        let received = self.reader.open(rx)?;
        if let Some(reply) = &received.reply {
            self.sender.send(&mut self.io, tx, &reply.message()).await?;
        }
        Ok(received.message?)
    }

    /// Sends CLOSE with `reason` and returns the stream.
    ///
    /// # Errors
    /// A record error or [`DriverError::Io`].
    pub async fn close(mut self, reason: &str) -> Result<T, DriverError<T::Error>> {
        self.send(&Message::Close { reason }).await?;
        Ok(self.io)
    }

    /// Splits the connection into an owned [`Sender`] and [`Receiver`] for
    /// two tasks. `halves` splits the stream (for tokio's `TcpStream`,
    /// `into_split` and the adapter on each half); `tx` is the sender's
    /// record buffer (at least [`crate::record::MAX_RECORD`] bytes), the
    /// receiver keeps `bufs`.
    pub fn split<Rd, Wr, Tx>(
        self,
        tx: Tx,
        halves: impl FnOnce(T) -> (Rd, Wr),
    ) -> (Sender<Wr, R, Tx>, Receiver<Rd, B>, SessionInfo) {
        let (rd, wr) = halves(self.io);
        (
            Sender {
                io: wr,
                state: self.sender,
                tx,
            },
            Receiver {
                io: rd,
                reader: self.reader,
                bufs: self.bufs,
            },
            self.info,
        )
    }
}

/// Reads until the record in progress is complete. Cancel-safe: every byte
/// read is counted in `reader` before the next await.
async fn fill<T: Read>(
    io: &mut T,
    reader: &mut Reader,
    rx: &mut [u8],
) -> Result<(), DriverError<T::Error>> {
    loop {
        let n = match read_some(io, reader.space(rx)).await {
            Err(DriverError::Protocol(Error::ConnectionLost)) => return Err(reader.eof().into()),
            other => other?,
        };
        if reader.fill(n, rx)? {
            return Ok(());
        }
    }
}

/// The sending half of a split connection.
pub struct Sender<T, R, Tx> {
    io: T,
    state: SendState<R>,
    tx: Tx,
}

impl<T, R, Tx> core::fmt::Debug for Sender<T, R, Tx> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T: Write, R: CryptoRng, Tx: AsMut<[u8]>> Sender<T, R, Tx> {
    /// Sends one message.
    ///
    /// # Errors
    /// As [`Connection::send`].
    pub async fn send(&mut self, msg: &Message<'_>) -> Result<(), DriverError<T::Error>> {
        self.state.send(&mut self.io, self.tx.as_mut(), msg).await
    }

    /// Sends a reply the [`Receiver`] handed out (or the caller's
    /// replacement, e.g. [`Reply::rate_limited`]).
    ///
    /// # Errors
    /// As [`Connection::send`].
    pub async fn send_reply(&mut self, reply: &Reply) -> Result<(), DriverError<T::Error>> {
        self.send(&reply.message()).await
    }

    /// The stream, e.g. to shut it down after CLOSE.
    pub fn io_mut(&mut self) -> &mut T {
        &mut self.io
    }
}

/// The receiving half of a split connection.
pub struct Receiver<T, B> {
    io: T,
    reader: Reader,
    bufs: B,
}

impl<T, B> core::fmt::Debug for Receiver<T, B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl<T: Read, B: RecordSpace> Receiver<T, B> {
    /// A receiver over `io` for a session's [`Reader`] (e.g. from
    /// [`ServerConnection::split`]), reading records into `bufs`: a
    /// [`Buffers`] (of which it uses the receiving half) or one record's
    /// worth, `[u8; MAX_RECORD]`, either owned, boxed or borrowed.
    pub fn new(io: T, reader: Reader, bufs: B) -> Self {
        Self { io, reader, bufs }
    }

    /// Receives the next record: its message (or non-fatal error) and the
    /// reply to hand to the [`Sender`]. Cancel-safe: dropping the future
    /// loses nothing; the next call goes on with the partial record.
    ///
    /// # Errors
    /// Fatal only: record errors, [`Error::ConnectionLost`],
    /// [`Error::PeerClosed`] after CLOSE, [`DriverError::Io`].
    pub async fn recv(&mut self) -> Result<Received<'_>, DriverError<T::Error>> {
        let rx = self.bufs.record_space();
        fill(&mut self.io, &mut self.reader, rx).await?;
        Ok(self.reader.open(rx)?)
    }

    /// True while part of a record has been received.
    pub fn is_partial(&self) -> bool {
        self.reader.is_partial()
    }

    /// The stream, e.g. to wait until it is readable before a record starts.
    pub fn io_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// The buffer records are read into, e.g. to give it back while no
    /// record is in progress ([`Receiver::is_partial`] false): the next
    /// [`Receiver::recv`] asks the [`RecordSpace`] for it again. Giving it
    /// back during a partial record would lose that record's bytes.
    pub fn bufs_mut(&mut self) -> &mut B {
        &mut self.bufs
    }
}
