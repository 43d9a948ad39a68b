//! An established session: what the handshake yields once authentication has
//! succeeded. It seals outgoing messages and opens incoming records, applying
//! the direction rules of PROTOCOL.md section 6.
//!
//! A session can be split into a [`SendHalf`] and a [`RecvHalf`] so that a
//! reader task and a writer task can own one each.

use rand_core::CryptoRng;

use crate::error::{Error, RecordError};
use crate::group::Group;
use crate::identity::PublicKey;
use crate::kdf::{Fingerprint, SessionKeys, TRANSCRIPT_LEN};
use crate::message::{msg_type, sender_of, Message, MessageError, Sender};
use crate::record::{Opener, Sealer};
use crate::reply::{Received, Reply};

/// Which end of the session this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client end.
    Client,
    /// The server end.
    Server,
}

/// Facts about a session that are safe to show (no key material).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// This end's role.
    pub role: Role,
    /// The DH group used.
    pub group: Group,
    /// The session fingerprint, the same at both ends.
    pub fingerprint: Fingerprint,
    /// The transcript hash `th`.
    pub transcript_hash: [u8; TRANSCRIPT_LEN],
    /// The peer's identity key: always the server's on a client; the client's
    /// on a server when it presented one.
    pub peer_key: Option<PublicKey>,
}

fn is_handshake_type(t: u8) -> bool {
    matches!(
        t,
        msg_type::SERVER_AUTH | msg_type::CLIENT_HELLO | msg_type::WELCOME
    )
}

fn sent_by(role: Role, t: u8) -> bool {
    match sender_of(t) {
        Some(Sender::Both) => true,
        Some(Sender::Client) => role == Role::Client,
        Some(Sender::Server) => role == Role::Server,
        None => false,
    }
}

/// The sending half of a session.
#[derive(Debug)]
pub struct SendHalf {
    role: Role,
    sealer: Sealer,
}

impl SendHalf {
    pub(crate) fn new(role: Role, sealer: Sealer) -> Self {
        Self { role, sealer }
    }

    /// Seals `msg` into `out` as one record; returns the record's length.
    ///
    /// # Errors
    /// [`Error::WrongDirection`] for a type this side never sends,
    /// [`Error::HandshakeType`] for SERVER_AUTH, CLIENT_HELLO or WELCOME
    /// (only the handshake steps send those),
    /// [`Error::InvalidOutgoing`] for a message that breaks a rule of section 5,
    /// [`Error::Record`] for a buffer too small or an exhausted sequence.
    pub fn seal<R: CryptoRng + ?Sized>(
        &mut self,
        msg: &Message<'_>,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.may_send(msg.msg_type())?;
        self.seal_any(msg, rng, out)
    }

    /// Whether a session may seal type `t` on this side: not a handshake
    /// type (only the handshake steps send those), and one this side sends.
    fn may_send(&self, t: u8) -> Result<(), Error> {
        if is_handshake_type(t) {
            Err(Error::HandshakeType(t))
        } else if !sent_by(self.role, t) {
            Err(Error::WrongDirection(t))
        } else {
            Ok(())
        }
    }

    /// Seals a message encoded and checked already (a [`MessageBuf`]: built
    /// by [`MessageBuf::new`] or [`MessageBuf::decode`], which apply the
    /// rules of section 5) as it is: a message sent to many sessions is
    /// encoded once. The same direction and handshake-type checks as
    /// [`SendHalf::seal`].
    ///
    /// # Errors
    /// As [`SendHalf::seal`] ([`Error::InvalidOutgoing`] cannot occur: the
    /// message was checked when it was built).
    #[cfg(feature = "alloc")]
    pub fn seal_buf<R: CryptoRng + ?Sized>(
        &mut self,
        msg: &crate::message::MessageBuf,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.may_send(msg.msg_type())?;
        Ok(self.sealer.seal_plaintext(msg.plaintext(), rng, out)?)
    }

    /// Seals a reply ([`Reply::message`]); see [`SendHalf::seal`].
    ///
    /// # Errors
    /// As [`SendHalf::seal`].
    pub fn seal_reply<R: CryptoRng + ?Sized>(
        &mut self,
        reply: &Reply,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.seal(&reply.message(), rng, out)
    }

    /// Seals any message this side sends, handshake types included: for the
    /// handshake steps.
    pub(crate) fn seal_any<R: CryptoRng + ?Sized>(
        &mut self,
        msg: &Message<'_>,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let t = msg.msg_type();
        if !sent_by(self.role, t) {
            return Err(Error::WrongDirection(t));
        }
        let room = Sealer::plaintext_room(out)?;
        let n = msg.encode(room).map_err(|e| match e {
            MessageError::BufferTooSmall => Error::Record(RecordError::BufferTooSmall),
            other => Error::InvalidOutgoing(other),
        })?;
        Ok(self.sealer.seal_in_place(n, rng, out)?)
    }

    /// Seals raw plaintext (`type || body`) without validating it. For tests
    /// and tools that must send malformed input; see [`Sealer::seal_plaintext`].
    ///
    /// # Errors
    /// [`Error::Record`] as for [`Sealer::seal_plaintext`].
    pub fn seal_plaintext<R: CryptoRng + ?Sized>(
        &mut self,
        plaintext: &[u8],
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        Ok(self.sealer.seal_plaintext(plaintext, rng, out)?)
    }

    /// Records sealed so far.
    pub fn sent(&self) -> u64 {
        self.sealer.next_seq()
    }
}

/// The receiving half of a session.
#[derive(Debug)]
pub struct RecvHalf {
    role: Role,
    opener: Opener,
}

impl RecvHalf {
    pub(crate) fn new(role: Role, opener: Opener) -> Self {
        Self { role, opener }
    }

    /// Opens and decodes one record (length field included), decrypting in
    /// place; the message borrows from `record`. The [`Received`] carries the
    /// type byte, the message or the non-fatal error, and the reply section 6
    /// prescribes (PONG to PING, ERROR to a broken rule).
    ///
    /// # Errors
    /// [`Error::Record`]: the session ends (close silently); nothing of the
    /// record is delivered. After WELCOME, [`Error::OutOfPlace`] (a type the
    /// peer does not send, a handshake type, an unknown type) and
    /// [`Error::Message`] (malformed body or broken rule) come back inside
    /// [`Received::message`] with an ERROR reply, and the session stays open.
    pub fn open<'r>(&mut self, record: &'r mut [u8]) -> Result<Received<'r>, Error> {
        let plaintext = self.opener.open(record)?;
        let t = *plaintext
            .first()
            .ok_or(Error::Record(RecordError::EmptyPlaintext))?;
        let message = self.decode(t, plaintext);
        let reply = Reply::to(t, &message);
        Ok(Received {
            msg_type: t,
            message,
            reply,
        })
    }

    fn decode<'r>(&self, t: u8, plaintext: &'r [u8]) -> Result<Message<'r>, Error> {
        let peer = match self.role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        if is_handshake_type(t) || !sent_by(peer, t) {
            return Err(Error::OutOfPlace(t));
        }
        Message::decode(plaintext).map_err(|error| match (error, t) {
            (MessageError::UnknownType(t), _) => Error::OutOfPlace(t),
            // Never answered with ERROR: a CLOSE ends the session whatever
            // its reason says; a malformed ERROR or PONG is dropped.
            (_, msg_type::CLOSE) => Error::PeerClosed,
            (error, msg_type::ERROR | msg_type::PONG) => {
                Error::MalformedControl { msg_type: t, error }
            }
            (error, msg_type) => Error::Message { msg_type, error },
        })
    }

    /// Opens one record and returns its plaintext without decoding. Used by
    /// the handshake, whose first records follow other rules.
    pub(crate) fn open_plaintext<'r>(&mut self, record: &'r mut [u8]) -> Result<&'r [u8], Error> {
        Ok(self.opener.open(record)?)
    }

    /// Records opened so far.
    pub fn received(&self) -> u64 {
        self.opener.next_seq()
    }
}

/// An authenticated session.
#[derive(Debug)]
pub struct Session {
    info: SessionInfo,
    send: SendHalf,
    recv: RecvHalf,
}

impl Session {
    /// Builds the two halves from the derived keys.
    pub(crate) fn new(
        role: Role,
        group: Group,
        keys: SessionKeys,
        transcript_hash: [u8; TRANSCRIPT_LEN],
    ) -> Self {
        let SessionKeys {
            c2s,
            s2c,
            fingerprint,
        } = keys;
        let (seal_keys, open_keys) = match role {
            Role::Client => (c2s, s2c),
            Role::Server => (s2c, c2s),
        };
        Self {
            info: SessionInfo {
                role,
                group,
                fingerprint,
                transcript_hash,
                peer_key: None,
            },
            send: SendHalf::new(role, Sealer::new(seal_keys)),
            recv: RecvHalf::new(role, Opener::new(open_keys)),
        }
    }

    /// Where the session's secret key state lives (address and length of
    /// each piece: the sealer's, then the opener's), so that the
    /// constant-time check can mark it secret. `test-tools` only.
    #[cfg(feature = "test-tools")]
    pub fn secret_regions(&self) -> [(*const u8, usize); 4] {
        let [a, b] = self.send.sealer.secret_regions();
        let [c, d] = self.recv.opener.secret_regions();
        [a, b, c, d]
    }

    pub(crate) fn set_peer_key(&mut self, key: Option<PublicKey>) {
        self.info.peer_key = key;
    }

    pub(crate) fn parts_mut(&mut self) -> (&mut SendHalf, &mut RecvHalf) {
        (&mut self.send, &mut self.recv)
    }

    /// What can be shown about this session.
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// The session fingerprint (shown as `xxxx-xxxx-...`).
    pub fn fingerprint(&self) -> Fingerprint {
        self.info.fingerprint
    }

    /// Seals a message; see [`SendHalf::seal`].
    ///
    /// # Errors
    /// As [`SendHalf::seal`].
    pub fn seal<R: CryptoRng + ?Sized>(
        &mut self,
        msg: &Message<'_>,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.send.seal(msg, rng, out)
    }

    /// Seals a reply; see [`SendHalf::seal_reply`].
    ///
    /// # Errors
    /// As [`SendHalf::seal`].
    pub fn seal_reply<R: CryptoRng + ?Sized>(
        &mut self,
        reply: &Reply,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.send.seal_reply(reply, rng, out)
    }

    /// Seals any message, handshake types included (handshake steps only).
    pub(crate) fn seal_any<R: CryptoRng + ?Sized>(
        &mut self,
        msg: &Message<'_>,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.send.seal_any(msg, rng, out)
    }

    /// Seals raw plaintext; see [`SendHalf::seal_plaintext`].
    ///
    /// # Errors
    /// As [`SendHalf::seal_plaintext`].
    pub fn seal_plaintext<R: CryptoRng + ?Sized>(
        &mut self,
        plaintext: &[u8],
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.send.seal_plaintext(plaintext, rng, out)
    }

    /// Opens a record; see [`RecvHalf::open`].
    ///
    /// # Errors
    /// As [`RecvHalf::open`].
    pub fn open<'r>(&mut self, record: &'r mut [u8]) -> Result<Received<'r>, Error> {
        self.recv.open(record)
    }

    /// Splits the session into its halves and its shareable facts.
    pub fn split(self) -> (SendHalf, RecvHalf, SessionInfo) {
        (self.send, self.recv, self.info)
    }
}
