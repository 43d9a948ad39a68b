//! The server's side of the handshake.

use core::fmt::Write as _;

use rand_core::CryptoRng;

use super::{check_magic, first_type, ClientPolicy, MAGIC, MAGIC_LEN, SERVER_HELLO_LEN};
use crate::dh::{self, PrivateKey, SharedValue, LEN_PK};
use crate::error::{Error, RecordError, Refusal, ShortText};
use crate::group::Group;
use crate::identity::{IdentityKey, PublicKey, CLIENT_AUTH_CONTEXT, SERVER_AUTH_CONTEXT};
use crate::kdf::{self, Transcript, TRANSCRIPT_LEN};
use crate::message::{msg_type, Message, MessageError};
use crate::session::{Role, SendHalf, Session, SessionInfo};

/// The start of a server handshake: draws the exponent and writes
/// SERVER_HELLO.
pub struct ServerHandshake;

impl ServerHandshake {
    /// Draws the server's exponent for `group` and writes SERVER_HELLO (2072
    /// bytes) into `out`. This is one modular exponentiation: a host runs it
    /// off its async reactor.
    ///
    /// # Errors
    /// [`Error::Record`] with `BufferTooSmall` if `out` is under 2072 bytes.
    pub fn start<R: CryptoRng + ?Sized>(
        group: Group,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<(ServerExpectMagic, usize), Error> {
        let out = out
            .get_mut(..SERVER_HELLO_LEN)
            .ok_or(Error::Record(RecordError::BufferTooSmall))?;
        let x = PrivateKey::generate(group, rng);
        let mut y = [0u8; dh::MAX_PLEN];
        let plen = x.public_value(&mut y)?;
        out[..MAGIC_LEN].copy_from_slice(MAGIC);
        dh::write_dh_message(group, &y[..plen], &mut out[MAGIC_LEN..])?;
        let mut transcript = Transcript::new();
        transcript.update(out);
        Ok((ServerExpectMagic { x, transcript }, SERVER_HELLO_LEN))
    }
}

/// Waiting for the client's MAGIC.
pub struct ServerExpectMagic {
    x: PrivateKey,
    transcript: Transcript,
}

impl core::fmt::Debug for ServerExpectMagic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ServerExpectMagic")
    }
}

impl ServerExpectMagic {
    /// Checks the client's first 8 bytes.
    ///
    /// # Errors
    /// [`Error::BadMagic`]: close and send nothing.
    pub fn read_magic(mut self, first8: &[u8; MAGIC_LEN]) -> Result<ServerExpectKey, Error> {
        check_magic(first8)?;
        self.transcript.update(MAGIC);
        Ok(ServerExpectKey {
            x: self.x,
            transcript: self.transcript,
        })
    }
}

/// Waiting for the client's public value (the 1024 bytes after its MAGIC).
pub struct ServerExpectKey {
    x: PrivateKey,
    transcript: Transcript,
}

impl core::fmt::Debug for ServerExpectKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ServerExpectKey")
    }
}

impl ServerExpectKey {
    /// Checks the client's public value, computes the shared value and the
    /// keys, and writes SERVER_AUTH (signed with `identity`) as a record into
    /// `out`. One modular exponentiation: run it off the async reactor.
    ///
    /// # Errors
    /// [`Error::Dh`] (value too wide, out of range, shared value 1): close and
    /// send nothing. [`Error::Record`] with `BufferTooSmall` for a short `out`.
    pub fn read_client_key<R: CryptoRng + ?Sized>(
        mut self,
        packed_y: &[u8],
        identity: &IdentityKey,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<(ServerExpectHello, usize), Error> {
        if packed_y.len() != LEN_PK {
            return Err(Error::Dh(dh::DhError::BadLength));
        }
        let group = self.x.group();
        let y_c = dh::unpack(packed_y, group.plen())?;
        let mut shared = SharedValue::default();
        self.x.shared_value(y_c, &mut shared)?;
        self.transcript.update(packed_y);
        let th = self.transcript.finish();
        let keys = kdf::derive(shared.as_bytes(), &th);
        drop(shared);
        let mut session = Session::new(Role::Server, group, keys, th);
        let server_key = identity.public_key().to_bytes();
        let signature = identity.sign(SERVER_AUTH_CONTEXT, &th);
        let auth = Message::ServerAuth {
            server_key: &server_key,
            signature: &signature,
        };
        let n = session.seal_any(&auth, rng, out)?;
        Ok((ServerExpectHello { session, th }, n))
    }
}

/// Waiting for CLIENT_HELLO.
#[derive(Debug)]
pub struct ServerExpectHello {
    session: Session,
    th: [u8; TRANSCRIPT_LEN],
}

/// What an admitted client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// The requested nick (valid; the server may still assign a variant).
    pub nick: &'a str,
    /// The client's verified identity key, if it presented one.
    pub client_key: Option<PublicKey>,
}

/// The result of reading CLIENT_HELLO.
// Both variants are moved once, right away; boxing is not available without
// an allocator.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum HelloOutcome<'r> {
    /// The client is authenticated and admitted: the server now sends WELCOME
    /// ([`Admitted::welcome`]) or refuses it ([`Admitted::refuse`], e.g.
    /// ERROR 8 then CLOSE when it is full).
    Accepted(Admitted, ClientHello<'r>),
    /// The CLIENT_HELLO is refused: send the [`Farewell`] (ERROR, CLOSE) and
    /// close.
    Refused(Farewell, Refusal),
}

impl ServerExpectHello {
    /// Opens the client's first record, which must be CLIENT_HELLO, verifies
    /// the optional identity signature and asks `policy` about the key.
    ///
    /// # Errors
    /// [`Error::Record`] or [`Error::UnexpectedHandshakeMessage`]: close and
    /// send nothing. Refusals that are answered on the wire come back as
    /// [`HelloOutcome::Refused`], not as errors.
    pub fn read_client_hello<'r, P: ClientPolicy + ?Sized>(
        mut self,
        record: &'r mut [u8],
        policy: &mut P,
    ) -> Result<HelloOutcome<'r>, Error> {
        let (_, recv) = self.session.parts_mut();
        let plaintext = recv.open_plaintext(record)?;
        let t = first_type(plaintext)?;
        if t != msg_type::CLIENT_HELLO {
            return Err(Error::UnexpectedHandshakeMessage {
                expected: msg_type::CLIENT_HELLO,
                received: t,
            });
        }
        let refuse =
            |session: Session, why: Refusal| Ok(HelloOutcome::Refused(session.into(), why));
        let (identity, nick) = match Message::decode(plaintext) {
            Ok(Message::ClientHello { identity, nick }) => (identity, nick),
            Err(MessageError::BadNick) => return refuse(self.session, Refusal::BadNick),
            Err(e) => return refuse(self.session, Refusal::Malformed(e)),
            Ok(_) => return refuse(self.session, Refusal::Malformed(MessageError::Truncated)),
        };
        let client_key = match identity {
            None => None,
            Some((key, sig)) => match PublicKey::from_bytes(key) {
                Ok(k) if k.verify(CLIENT_AUTH_CONTEXT, &self.th, sig) => Some(k),
                _ => return refuse(self.session, Refusal::BadSignature),
            },
        };
        if !policy.admit(client_key.as_ref()) {
            return refuse(self.session, Refusal::NotAuthorized);
        }
        self.session.set_peer_key(client_key);
        Ok(HelloOutcome::Accepted(
            Admitted {
                session: self.session,
            },
            ClientHello { nick, client_key },
        ))
    }
}

/// An authenticated client that has not been welcomed yet. Its only ways on
/// are [`Admitted::welcome`], which yields the [`Session`], and
/// [`Admitted::refuse`], which ends it: no chat message can be sealed or
/// opened before WELCOME.
#[derive(Debug)]
pub struct Admitted {
    session: Session,
}

impl Admitted {
    /// What can be shown about the session (fingerprint, client key).
    pub fn info(&self) -> &SessionInfo {
        self.session.info()
    }

    /// Writes WELCOME (the assigned `nick`, the server's name and MOTD) as a
    /// record into `out` and yields the session; returns the bytes written.
    ///
    /// # Errors
    /// [`Error::InvalidOutgoing`] for a nick that breaks the nick rule or a
    /// server name over 255 bytes; [`Error::Record`] with `BufferTooSmall`
    /// for a short `out`. The admission is then spent: close the connection.
    pub fn welcome<R: CryptoRng + ?Sized>(
        mut self,
        nick: &str,
        server_name: &str,
        motd: &str,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<(Session, usize), Error> {
        let welcome = Message::Welcome {
            nick,
            server_name,
            motd,
        };
        let n = self.session.seal_any(&welcome, rng, out)?;
        Ok((self.session, n))
    }

    /// Refuses the client: writes ERROR (the refusal's code and text) and
    /// then CLOSE as two records into `out`; returns the bytes written. A
    /// full server refuses with [`Refusal::ServerBusy`] (ERROR 8).
    ///
    /// # Errors
    /// [`Error::Record`] with `BufferTooSmall` if `out` cannot hold both
    /// records.
    pub fn refuse<R: CryptoRng + ?Sized>(
        self,
        refusal: &Refusal,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        Farewell::from(self.session).write(refusal, rng, out)
    }
}

/// What is left of a refused session: enough to say ERROR and CLOSE.
#[derive(Debug)]
pub struct Farewell {
    send: SendHalf,
}

impl Farewell {
    /// Writes ERROR (the refusal's code and text) and then CLOSE as two
    /// records into `out`; returns the bytes written.
    ///
    /// # Errors
    /// [`Error::Record`] with `BufferTooSmall` if `out` cannot hold both.
    pub fn write<R: CryptoRng + ?Sized>(
        self,
        refusal: &Refusal,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let mut text = ShortText::default();
        let _ = write!(text, "{refusal}");
        self.write_error(refusal.code(), text.as_str(), rng, out)
    }

    /// Writes ERROR with `code` and `text`, then CLOSE with the same text,
    /// as two records into `out`; returns the bytes written.
    fn write_error<R: CryptoRng + ?Sized>(
        mut self,
        code: u16,
        text: &str,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let n = self.send.seal(&Message::Error { code, text }, rng, out)?;
        let rest = out
            .get_mut(n..)
            .ok_or(Error::Record(RecordError::BufferTooSmall))?;
        let m = self
            .send
            .seal(&Message::Close { reason: text }, rng, rest)?;
        Ok(n + m)
    }
}

impl From<Session> for Farewell {
    fn from(session: Session) -> Self {
        let (send, _, _) = session.split();
        Self { send }
    }
}
