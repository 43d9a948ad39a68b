//! The client's connection: handshake steps, framing and replies in one
//! sans-io machine.

use rand_core::CryptoRng;

use super::inbox::Inbox;
use super::reader::Reader;
use crate::dh::DH_MSG_LEN;
use crate::error::Error;
use crate::handshake::{
    ClientConfig, ClientExpectAuth, ClientExpectDh, ClientExpectWelcome, ClientHandshake,
    ServerTrust, Welcome, MAGIC_LEN,
};
use crate::reply::Received;
use crate::session::{SendHalf, SessionInfo};

enum State {
    Magic(ClientHandshake),
    Dh(ClientExpectDh),
    /// The DH message is in; the caller runs the [`ClientKeyStep`].
    Computing,
    Auth(ClientExpectAuth),
    Welcome(ClientExpectWelcome),
    Open {
        send: SendHalf,
        reader: Reader,
        info: SessionInfo,
    },
    Failed(Error),
}

/// What the client connection did with the bytes it was given.
#[derive(Debug)]
pub enum ClientEvent<'b> {
    /// The unit in progress is not complete: receive more into
    /// [`ClientConnection::space`].
    NeedBytes,
    /// Send `tx[..n]` (CLIENT_HELLO), then receive on.
    Send(usize),
    /// The server's DH message is in: run the step (one modular
    /// exponentiation, offloadable), send its output, and hand its result to
    /// [`ClientConnection::resume`].
    Compute(ClientKeyStep),
    /// WELCOME: the session is established.
    Welcome(Welcome<'b>),
    /// A record after WELCOME, with its reply.
    Received(Received<'b>),
}

/// The client's key exchange step, owned (`Send + 'static`), so a host can
/// run it off its reactor: checks the server's DH message, draws the
/// client's exponent and writes CLIENT_KEY.
#[derive(Debug)]
pub struct ClientKeyStep(ClientExpectDh);

/// The result of a [`ClientKeyStep`], for [`ClientConnection::resume`].
#[derive(Debug)]
pub struct ClientKeyDone(ClientExpectAuth);

impl ClientKeyStep {
    /// Runs the step on the server's DH message (2064 bytes: `rx[..2064]`
    /// when the step was handed out); writes CLIENT_KEY (1032 bytes) into
    /// `tx` and returns it with its length.
    ///
    /// # Errors
    /// As [`ClientExpectDh::read_dh`]: close and send nothing.
    pub fn run<R: CryptoRng + ?Sized>(
        self,
        dh_msg: &[u8],
        rng: &mut R,
        tx: &mut [u8],
    ) -> Result<(ClientKeyDone, usize), Error> {
        let (state, n) = self.0.read_dh(dh_msg, rng, tx)?;
        Ok((ClientKeyDone(state), n))
    }
}

/// A client connection without I/O: give it the bytes the server sends, and
/// it says what to send back (handshake messages, PONG, ERROR replies) and
/// what arrived.
///
/// ```text
/// loop: read into conn.space(rx) -> n; match conn.received(n, rx, rng, tx)?
///   NeedBytes => read on,   Send(n) => write tx[..n],
///   Compute(step) => step.run(&rx[..DH_MSG_LEN], rng, tx), write, conn.resume(done),
///   Welcome(w) => established,   Received(r) => deliver r.message, seal and send r.reply
/// ```
pub struct ClientConnection<'c, T: ?Sized> {
    config: ClientConfig<'c>,
    trust: &'c mut T,
    state: State,
    inbox: Inbox,
}

impl<T: ?Sized> core::fmt::Debug for ClientConnection<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientConnection").finish_non_exhaustive()
    }
}

impl<'c, T: ServerTrust + ?Sized> ClientConnection<'c, T> {
    /// A connection that asks for `config` and decides about the server's
    /// key with `trust` (a pinned [`crate::identity::PublicKey`] is one). It
    /// first waits for the server's MAGIC.
    pub fn new(config: ClientConfig<'c>, trust: &'c mut T) -> Self {
        Self {
            state: State::Magic(ClientHandshake::new(config.min_group_bits)),
            config,
            trust,
            inbox: Inbox::exact(MAGIC_LEN),
        }
    }

    /// Where the next received bytes go in `rx` (a buffer of
    /// [`crate::record::MAX_RECORD`] bytes): exactly the bytes the unit in
    /// progress still needs.
    pub fn space<'b>(&self, rx: &'b mut [u8]) -> &'b mut [u8] {
        match &self.state {
            State::Open { reader, .. } => reader.space(rx),
            State::Computing | State::Failed(_) => &mut [],
            _ => self.inbox.space(rx),
        }
    }

    /// True once WELCOME has arrived.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// Notes that `n` bytes were written into [`ClientConnection::space`]
    /// and acts on the unit once it is complete.
    ///
    /// # Errors
    /// Every error is fatal and leaves the connection failed (each names its
    /// reaction, [`Error::reaction`]): handshake errors (close and send
    /// nothing), [`Error::RefusedByServer`], record errors,
    /// [`Error::PeerClosed`] after CLOSE. Errors the session survives come
    /// inside [`ClientEvent::Received`].
    pub fn received<'b, R: CryptoRng + ?Sized>(
        &mut self,
        n: usize,
        rx: &'b mut [u8],
        rng: &mut R,
        tx: &mut [u8],
    ) -> Result<ClientEvent<'b>, Error> {
        if self.fill(n, rx)? {
            self.process(rx, rng, tx)
        } else {
            Ok(ClientEvent::NeedBytes)
        }
    }

    /// The first half of [`ClientConnection::received`]: notes `n` new bytes
    /// and says whether the unit is complete (then call
    /// [`ClientConnection::process`]).
    ///
    /// # Errors
    /// As [`ClientConnection::received`].
    pub fn fill(&mut self, n: usize, rx: &[u8]) -> Result<bool, Error> {
        let out = match &mut self.state {
            State::Open { reader, .. } => reader.fill(n, rx),
            State::Failed(e) => Err(*e),
            State::Computing => Ok(false),
            _ => self.inbox.advance(rx, n).map(|done| done.is_some()),
        };
        self.fail_on(out)
    }

    /// The second half of [`ClientConnection::received`]: acts on the
    /// complete unit in `rx`.
    ///
    /// # Errors
    /// As [`ClientConnection::received`].
    pub fn process<'b, R: CryptoRng + ?Sized>(
        &mut self,
        rx: &'b mut [u8],
        rng: &mut R,
        tx: &mut [u8],
    ) -> Result<ClientEvent<'b>, Error> {
        let out = self.step(rx, rng, tx);
        self.fail_on(out)
    }

    fn fail_on<O>(&mut self, out: Result<O, Error>) -> Result<O, Error> {
        if let Err(e) = &out {
            self.fail(*e);
        }
        out
    }

    /// Leaves the connection failed with `e` (its state, keys included, dropped
    /// and zeroized). Out of line: one copy of the state's drop for every caller.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, e: Error) {
        self.state = State::Failed(e);
    }

    fn step<'b, R: CryptoRng + ?Sized>(
        &mut self,
        rx: &'b mut [u8],
        rng: &mut R,
        tx: &mut [u8],
    ) -> Result<ClientEvent<'b>, Error> {
        if let State::Open { reader, .. } = &mut self.state {
            return reader.open(rx).map(ClientEvent::Received);
        }
        if self.inbox.needed() != 0 {
            return Err(Error::Record(crate::error::RecordError::LengthMismatch));
        }
        let unit = rx.get_mut(..self.inbox.len()).unwrap_or(&mut []);
        match core::mem::replace(&mut self.state, State::Computing) {
            State::Magic(state) => {
                let magic: [u8; MAGIC_LEN] = unit.try_into().map_err(|_| Error::ConnectionLost)?;
                self.state = State::Dh(state.read_magic(&magic)?);
                self.inbox = Inbox::exact(DH_MSG_LEN);
                Ok(ClientEvent::NeedBytes)
            }
            State::Dh(state) => Ok(ClientEvent::Compute(ClientKeyStep(state))),
            State::Auth(state) => {
                let (state, n) = state.read_server_auth(unit, self.trust, &self.config, rng, tx)?;
                self.state = State::Welcome(state);
                self.inbox = Inbox::record();
                Ok(ClientEvent::Send(n))
            }
            State::Welcome(state) => {
                let (session, welcome) = state.read_welcome(unit)?;
                let (send, recv, info) = session.split();
                self.state = State::Open {
                    send,
                    reader: Reader::new(recv),
                    info,
                };
                Ok(ClientEvent::Welcome(welcome))
            }
            State::Failed(e) => Err(e),
            State::Computing | State::Open { .. } => {
                Err(Error::Record(crate::error::RecordError::SessionFailed))
            }
        }
    }

    /// Takes the result of the [`ClientKeyStep`]: the connection then waits
    /// for SERVER_AUTH.
    pub fn resume(&mut self, done: ClientKeyDone) {
        if matches!(self.state, State::Computing) {
            self.state = State::Auth(done.0);
            self.inbox = Inbox::record();
        }
    }

    /// Facts about the session, once established.
    pub fn info(&self) -> Option<&SessionInfo> {
        match &self.state {
            State::Open { info, .. } => Some(info),
            _ => None,
        }
    }

    /// The sending half, once established (to seal messages and replies).
    pub fn sender(&mut self) -> Option<&mut SendHalf> {
        match &mut self.state {
            State::Open { send, .. } => Some(send),
            _ => None,
        }
    }

    /// Splits an established connection into its sending half, its
    /// receiving half and the session's facts (each owned, for two tasks).
    /// `None` (the connection is dropped) before WELCOME.
    pub fn split(self) -> Option<(SendHalf, Reader, SessionInfo)> {
        match self.state {
            State::Open { send, reader, info } => Some((send, reader, info)),
            _ => None,
        }
    }
}
