//! The server's connection: handshake steps, admission, framing and replies
//! in one sans-io machine.

use rand_core::CryptoRng;

use super::inbox::Inbox;
use super::reader::Reader;
use crate::dh::LEN_PK;
use crate::error::{Error, RecordError, Refusal};
use crate::group::Group;
use crate::handshake::{
    Admitted, ClientHello, ClientPolicy, HelloOutcome, ServerExpectHello, ServerExpectKey,
    ServerExpectMagic, ServerHandshake, MAGIC_LEN,
};
use crate::identity::IdentityKey;
use crate::reply::Received;
use crate::session::{SendHalf, SessionInfo};

enum State {
    Magic(ServerExpectMagic),
    Key(ServerExpectKey),
    /// The client's key is in; the caller runs the [`ServerKeyStep`].
    Computing,
    Hello(ServerExpectHello),
    Admitted(Admitted),
    Open {
        send: SendHalf,
        reader: Reader,
        info: SessionInfo,
    },
    Failed(Error),
}

/// What the server connection did with the bytes it was given.
#[derive(Debug)]
pub enum ServerEvent<'b> {
    /// The unit in progress is not complete: receive more into
    /// [`ServerConnection::space`].
    NeedBytes,
    /// The client's public value is in: run the step (one modular
    /// exponentiation, offloadable), send its output (SERVER_AUTH) and hand
    /// its result to [`ServerConnection::resume`].
    Compute(ServerKeyStep),
    /// The client is authenticated and admitted: answer with
    /// [`ServerConnection::welcome`] or [`ServerConnection::refuse`].
    Hello(ClientHello<'b>),
    /// The CLIENT_HELLO was refused: send `tx[..n]` (ERROR, CLOSE), then
    /// close. The connection has ended.
    Refused {
        /// Bytes to send from `tx`.
        send: usize,
        /// Why.
        refusal: Refusal,
    },
    /// A record after WELCOME, with its reply.
    Received(Received<'b>),
}

/// The server's key exchange step, owned (`Send + 'static`), so a host can
/// run it off its reactor: checks the client's public value, derives the
/// keys and writes SERVER_AUTH.
#[derive(Debug)]
pub struct ServerKeyStep(ServerExpectKey);

/// The result of a [`ServerKeyStep`], for [`ServerConnection::resume`].
#[derive(Debug)]
pub struct ServerKeyDone(ServerExpectHello);

impl ServerKeyStep {
    /// Runs the step on the client's packed public value (1024 bytes:
    /// `rx[..1024]` when the step was handed out); writes SERVER_AUTH, signed
    /// with `identity`, into `tx` and returns it with its length.
    ///
    /// # Errors
    /// As [`ServerExpectKey::read_client_key`]: close and send nothing.
    pub fn run<R: CryptoRng + ?Sized>(
        self,
        packed_y: &[u8],
        identity: &IdentityKey,
        rng: &mut R,
        tx: &mut [u8],
    ) -> Result<(ServerKeyDone, usize), Error> {
        let (state, n) = self.0.read_client_key(packed_y, identity, rng, tx)?;
        Ok((ServerKeyDone(state), n))
    }
}

/// A server connection without I/O: give it the bytes the client sends,
/// and it says what to send back and what arrived.
///
/// ```text
/// (conn, n) = ServerConnection::start(group, rng, tx)?; write tx[..n]
/// loop: read into conn.space(rx) -> n; match conn.received(n, rx, policy)?
///   NeedBytes => read on,
///   Compute(step) => step.run(&rx[..1024], identity, rng, tx), write, conn.resume(done),
///   Hello(h) => conn.welcome(..) or conn.refuse(..), write,
///   Refused { send, .. } => write tx[..send], close,
///   Received(r) => act on r.message, seal and send r.reply
/// ```
pub struct ServerConnection {
    state: State,
    inbox: Inbox,
}

impl core::fmt::Debug for ServerConnection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerConnection").finish_non_exhaustive()
    }
}

impl ServerConnection {
    /// Draws the server's exponent for `group` and writes SERVER_HELLO
    /// (2072 bytes) into `tx`. One modular exponentiation: a host runs it
    /// off its reactor (the connection is `Send + 'static`).
    ///
    /// # Errors
    /// [`Error::Record`] with `BufferTooSmall` if `tx` is under 2072 bytes.
    pub fn start<R: CryptoRng + ?Sized>(
        group: Group,
        rng: &mut R,
        tx: &mut [u8],
    ) -> Result<(Self, usize), Error> {
        let (state, n) = ServerHandshake::start(group, rng, tx)?;
        Ok((
            Self {
                state: State::Magic(state),
                inbox: Inbox::exact(MAGIC_LEN),
            },
            n,
        ))
    }

    /// Where the next received bytes go in `rx` (a buffer of
    /// [`crate::record::MAX_RECORD`] bytes): exactly the bytes the unit in
    /// progress still needs. Empty while waiting for the caller (a step to
    /// run, an admitted client to answer) and after the end.
    pub fn space<'b>(&self, rx: &'b mut [u8]) -> &'b mut [u8] {
        match &self.state {
            State::Open { reader, .. } => reader.space(rx),
            State::Magic(_) | State::Key(_) | State::Hello(_) => self.inbox.space(rx),
            _ => &mut [],
        }
    }

    /// Notes that `n` bytes were written into [`ServerConnection::space`]
    /// and acts on the unit once it is complete; `policy` decides about the
    /// client's key at CLIENT_HELLO.
    ///
    /// # Errors
    /// Every error is fatal and leaves the connection failed; each names its
    /// reaction ([`Error::reaction`]): handshake and record errors (close,
    /// send nothing), [`Error::PeerClosed`] after CLOSE. Refusals answered on
    /// the wire come as [`ServerEvent::Refused`]; errors the session survives
    /// come inside [`ServerEvent::Received`].
    pub fn received<'b, P: ClientPolicy + ?Sized>(
        &mut self,
        n: usize,
        rx: &'b mut [u8],
        policy: &mut P,
        rng: &mut (impl CryptoRng + ?Sized),
        tx: &mut [u8],
    ) -> Result<ServerEvent<'b>, Error> {
        if self.fill(n, rx)? {
            self.process(rx, policy, rng, tx)
        } else {
            Ok(ServerEvent::NeedBytes)
        }
    }

    /// The first half of [`ServerConnection::received`]: notes `n` new bytes
    /// and says whether the unit is complete (then call
    /// [`ServerConnection::process`]).
    ///
    /// # Errors
    /// As [`ServerConnection::received`].
    pub fn fill(&mut self, n: usize, rx: &[u8]) -> Result<bool, Error> {
        let out = match &mut self.state {
            State::Open { reader, .. } => reader.fill(n, rx),
            State::Magic(_) | State::Key(_) | State::Hello(_) => {
                self.inbox.advance(rx, n).map(|done| done.is_some())
            }
            State::Failed(e) => Err(*e),
            _ => Ok(false),
        };
        self.fail_on(out)
    }

    /// The second half of [`ServerConnection::received`]: acts on the
    /// complete unit in `rx`.
    ///
    /// # Errors
    /// As [`ServerConnection::received`].
    pub fn process<'b, P: ClientPolicy + ?Sized>(
        &mut self,
        rx: &'b mut [u8],
        policy: &mut P,
        rng: &mut (impl CryptoRng + ?Sized),
        tx: &mut [u8],
    ) -> Result<ServerEvent<'b>, Error> {
        let out = self.step(rx, policy, rng, tx);
        self.fail_on(out)
    }

    /// True while the connection waits for CLIENT_HELLO.
    pub fn awaits_hello(&self) -> bool {
        matches!(self.state, State::Hello(_))
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

    fn step<'b, P: ClientPolicy + ?Sized>(
        &mut self,
        rx: &'b mut [u8],
        policy: &mut P,
        rng: &mut (impl CryptoRng + ?Sized),
        tx: &mut [u8],
    ) -> Result<ServerEvent<'b>, Error> {
        if let State::Open { reader, .. } = &mut self.state {
            return reader.open(rx).map(ServerEvent::Received);
        }
        if self.inbox.needed() != 0 {
            return Err(Error::Record(RecordError::LengthMismatch));
        }
        let unit = rx.get_mut(..self.inbox.len()).unwrap_or(&mut []);
        match core::mem::replace(&mut self.state, State::Computing) {
            State::Magic(state) => {
                let magic: [u8; MAGIC_LEN] = unit.try_into().map_err(|_| Error::ConnectionLost)?;
                self.state = State::Key(state.read_magic(&magic)?);
                self.inbox = Inbox::exact(LEN_PK);
                Ok(ServerEvent::NeedBytes)
            }
            State::Key(state) => Ok(ServerEvent::Compute(ServerKeyStep(state))),
            State::Hello(state) => match state.read_client_hello(unit, policy)? {
                HelloOutcome::Accepted(admitted, hello) => {
                    self.state = State::Admitted(admitted);
                    Ok(ServerEvent::Hello(hello))
                }
                HelloOutcome::Refused(farewell, refusal) => {
                    self.state = State::Failed(Error::Refused(refusal));
                    let send = farewell.write(&refusal, rng, tx)?;
                    Ok(ServerEvent::Refused { send, refusal })
                }
            },
            State::Failed(e) => Err(e),
            _ => Err(Error::Record(RecordError::SessionFailed)),
        }
    }

    /// Takes the result of the [`ServerKeyStep`]: the connection then waits
    /// for CLIENT_HELLO.
    pub fn resume(&mut self, done: ServerKeyDone) {
        if matches!(self.state, State::Computing) {
            self.state = State::Hello(done.0);
            self.inbox = Inbox::record();
        }
    }

    /// The admitted client's session facts (after [`ServerEvent::Hello`]) or
    /// the established session's.
    pub fn info(&self) -> Option<&SessionInfo> {
        match &self.state {
            State::Admitted(a) => Some(a.info()),
            State::Open { info, .. } => Some(info),
            _ => None,
        }
    }

    /// Welcomes the admitted client: writes WELCOME into `tx` and returns
    /// its length; the session is then established.
    ///
    /// # Errors
    /// As [`Admitted::welcome`]; [`Error::WrongDirection`] (WELCOME's type) if
    /// no client is waiting to be welcomed.
    pub fn welcome<R: CryptoRng + ?Sized>(
        &mut self,
        nick: &str,
        server_name: &str,
        motd: &str,
        rng: &mut R,
        tx: &mut [u8],
    ) -> Result<usize, Error> {
        let State::Admitted(admitted) = core::mem::replace(&mut self.state, State::Computing)
        else {
            return Err(self.not_admitted());
        };
        match admitted.welcome(nick, server_name, motd, rng, tx) {
            Ok((session, n)) => {
                let (send, recv, info) = session.split();
                self.state = State::Open {
                    send,
                    reader: Reader::new(recv),
                    info,
                };
                Ok(n)
            }
            Err(e) => {
                self.state = State::Failed(e);
                Err(e)
            }
        }
    }

    /// Refuses the admitted client (e.g. [`Refusal::ServerBusy`], ERROR 8):
    /// writes ERROR and CLOSE into `tx` and returns their length; the
    /// connection has then ended.
    ///
    /// # Errors
    /// As [`Admitted::refuse`]; [`Error::WrongDirection`] if no client is waiting
    /// to be answered.
    pub fn refuse<R: CryptoRng + ?Sized>(
        &mut self,
        refusal: &Refusal,
        rng: &mut R,
        tx: &mut [u8],
    ) -> Result<usize, Error> {
        let State::Admitted(admitted) = core::mem::replace(&mut self.state, State::Computing)
        else {
            return Err(self.not_admitted());
        };
        self.state = State::Failed(Error::Refused(*refusal));
        admitted.refuse(refusal, rng, tx)
    }

    fn not_admitted(&mut self) -> Error {
        let e = Error::WrongDirection(crate::message::msg_type::WELCOME);
        self.state = State::Failed(e);
        e
    }

    /// The sending half, once established.
    pub fn sender(&mut self) -> Option<&mut SendHalf> {
        match &mut self.state {
            State::Open { send, .. } => Some(send),
            _ => None,
        }
    }

    /// Splits an established connection into its owned halves and facts.
    /// `None` (the connection is dropped) before WELCOME.
    pub fn split(self) -> Option<(SendHalf, Reader, SessionInfo)> {
        match self.state {
            State::Open { send, reader, info } => Some((send, reader, info)),
            _ => None,
        }
    }
}
