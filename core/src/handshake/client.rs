//! The client's side of the handshake.

use rand_core::CryptoRng;

use super::{check_magic, first_type, ServerTrust, CLIENT_KEY_LEN, MAGIC, MAGIC_LEN};
use crate::dh::{self, PrivateKey, SharedValue, LEN_PK};
use crate::error::{Error, ShortText};
use crate::group::Group;
use crate::identity::{IdentityKey, PublicKey, CLIENT_AUTH_CONTEXT, SERVER_AUTH_CONTEXT};
use crate::kdf::{self, Transcript, TRANSCRIPT_LEN};
use crate::message::{msg_type, Message};
use crate::session::{Role, Session};

/// What the client asks for in its CLIENT_HELLO, and what it accepts.
#[derive(Debug, Clone, Copy)]
pub struct ClientConfig<'a> {
    /// The nick requested (the server may assign a free variant).
    pub nick: &'a str,
    /// The client's identity key, for servers with an authorized-keys list.
    pub identity: Option<&'a IdentityKey>,
    /// The smallest group accepted, in bits (default 2048).
    pub min_group_bits: u32,
}

impl<'a> ClientConfig<'a> {
    /// An anonymous client asking for `nick`, accepting groups of 2048 bits
    /// and more.
    pub fn new(nick: &'a str) -> Self {
        Self {
            nick,
            identity: None,
            min_group_bits: 2048,
        }
    }
}

/// The start: waiting for the server's MAGIC.
#[derive(Debug)]
pub struct ClientHandshake {
    min_group_bits: u32,
}

impl ClientHandshake {
    /// A client handshake accepting groups of at least `min_group_bits`.
    pub fn new(min_group_bits: u32) -> Self {
        Self { min_group_bits }
    }

    /// Checks the first 8 bytes the server sent.
    ///
    /// # Errors
    /// [`Error::BadMagic`]: close and send nothing.
    pub fn read_magic(self, first8: &[u8; MAGIC_LEN]) -> Result<ClientExpectDh, Error> {
        check_magic(first8)?;
        let mut transcript = Transcript::new();
        transcript.update(MAGIC);
        Ok(ClientExpectDh {
            min_group_bits: self.min_group_bits,
            transcript,
        })
    }
}

/// Waiting for the DH message that follows the server's MAGIC.
pub struct ClientExpectDh {
    min_group_bits: u32,
    transcript: Transcript,
}

impl core::fmt::Debug for ClientExpectDh {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ClientExpectDh")
    }
}

impl ClientExpectDh {
    /// Reads the 2064-byte DH message, checks the group and the server's
    /// public value, draws the client's exponent, and writes CLIENT_KEY
    /// (1032 bytes) into `out`. Returns the next state and the bytes written.
    ///
    /// # Errors
    /// [`Error::Dh`] (unknown group, value too wide, public value out of range,
    /// shared value 1) or [`Error::GroupTooSmall`]: close and send nothing.
    /// [`Error::Record`] with `BufferTooSmall` if `out` is under 1032 bytes.
    pub fn read_dh<R: CryptoRng + ?Sized>(
        mut self,
        dh_msg: &[u8],
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<(ClientExpectAuth, usize), Error> {
        let (group, y_s) = dh::parse_dh_message(dh_msg)?;
        if group.bits() < self.min_group_bits {
            return Err(Error::GroupTooSmall {
                offered_bits: group.bits(),
                minimum_bits: self.min_group_bits,
            });
        }
        dh::check_public(group, y_s)?;
        let out = out
            .get_mut(..CLIENT_KEY_LEN)
            .ok_or(Error::Record(crate::error::RecordError::BufferTooSmall))?;
        let x = PrivateKey::generate(group, rng);
        let mut shared = SharedValue::default();
        x.shared_value(y_s, &mut shared)?;
        out[..MAGIC_LEN].copy_from_slice(MAGIC);
        let mut y_c = [0u8; dh::MAX_PLEN];
        let plen = x.public_value(&mut y_c)?;
        dh::pack(&y_c[..plen], &mut out[MAGIC_LEN..MAGIC_LEN + LEN_PK])?;
        drop(x);
        self.transcript.update(dh_msg);
        self.transcript.update(out);
        let th = self.transcript.finish();
        let keys = kdf::derive(shared.as_bytes(), &th);
        let session = Session::new(Role::Client, group, keys, th);
        Ok((ClientExpectAuth { session, th }, CLIENT_KEY_LEN))
    }
}

/// Waiting for the server's first record, SERVER_AUTH.
#[derive(Debug)]
pub struct ClientExpectAuth {
    session: Session,
    th: [u8; TRANSCRIPT_LEN],
}

impl ClientExpectAuth {
    /// The group the server chose.
    pub fn group(&self) -> Group {
        self.session.info().group
    }

    /// Opens SERVER_AUTH (`record` is the whole record, length field
    /// included), verifies the signature, asks `trust` about the key, and
    /// writes CLIENT_HELLO as a record into `out`.
    ///
    /// # Errors
    /// [`Error::Record`], [`Error::UnexpectedHandshakeMessage`],
    /// [`Error::MalformedHandshake`], [`Error::BadServerSignature`] or
    /// [`Error::Trust`]: close and send nothing.
    pub fn read_server_auth<T: ServerTrust + ?Sized, R: CryptoRng + ?Sized>(
        mut self,
        record: &mut [u8],
        trust: &mut T,
        config: &ClientConfig<'_>,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<(ClientExpectWelcome, usize), Error> {
        self.authenticate(record, trust)?;
        let signed;
        let identity = match config.identity {
            Some(id) => {
                signed = (
                    id.public_key().to_bytes(),
                    id.sign(CLIENT_AUTH_CONTEXT, &self.th),
                );
                Some((&signed.0, &signed.1))
            }
            None => None,
        };
        let hello = Message::ClientHello {
            identity,
            nick: config.nick,
        };
        let n = self.session.seal_any(&hello, rng, out)?;
        Ok((
            ClientExpectWelcome {
                session: self.session,
            },
            n,
        ))
    }

    /// Like [`ClientExpectAuth::read_server_auth`], but sends `plaintext`
    /// (`type || body`) as given in place of a valid CLIENT_HELLO, so tests
    /// can check how a server refuses malformed ones. Only with the
    /// `test-tools` feature; never enable it in a program.
    ///
    /// # Errors
    /// As [`ClientExpectAuth::read_server_auth`].
    #[cfg(feature = "test-tools")]
    pub fn read_server_auth_sending<T: ServerTrust + ?Sized, R: CryptoRng + ?Sized>(
        mut self,
        record: &mut [u8],
        trust: &mut T,
        plaintext: &[u8],
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<(ClientExpectWelcome, usize), Error> {
        self.authenticate(record, trust)?;
        let n = self.session.seal_plaintext(plaintext, rng, out)?;
        Ok((
            ClientExpectWelcome {
                session: self.session,
            },
            n,
        ))
    }

    /// Opens SERVER_AUTH, verifies its signature over the transcript, and
    /// asks `trust` about the key, which is then the session's peer key.
    fn authenticate<T: ServerTrust + ?Sized>(
        &mut self,
        record: &mut [u8],
        trust: &mut T,
    ) -> Result<(), Error> {
        let (_, recv) = self.session.parts_mut();
        let plaintext = recv.open_plaintext(record)?;
        let t = first_type(plaintext)?;
        if t != msg_type::SERVER_AUTH {
            return Err(Error::UnexpectedHandshakeMessage {
                expected: msg_type::SERVER_AUTH,
                received: t,
            });
        }
        let (key_bytes, signature) = match Message::decode(plaintext) {
            Ok(Message::ServerAuth {
                server_key,
                signature,
            }) => (server_key, signature),
            Ok(_) => {
                return Err(Error::MalformedHandshake(
                    crate::message::MessageError::Truncated,
                ))
            }
            Err(e) => return Err(Error::MalformedHandshake(e)),
        };
        let server_key = PublicKey::from_bytes(key_bytes).map_err(|_| Error::BadServerSignature)?;
        if !server_key.verify(SERVER_AUTH_CONTEXT, &self.th, signature) {
            return Err(Error::BadServerSignature);
        }
        trust.check(&server_key)?;
        self.session.set_peer_key(Some(server_key));
        Ok(())
    }
}

/// Waiting for WELCOME (or ERROR).
#[derive(Debug)]
pub struct ClientExpectWelcome {
    session: Session,
}

/// What WELCOME said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome<'a> {
    /// The nick the server assigned (may differ from the one asked for).
    pub nick: &'a str,
    /// The server's name.
    pub server_name: &'a str,
    /// The message of the day (may be empty; display it escaped).
    pub motd: &'a str,
}

impl ClientExpectWelcome {
    /// Opens the server's second record: WELCOME yields the session; ERROR is
    /// the server's refusal.
    ///
    /// # Errors
    /// [`Error::RefusedByServer`] (the server sent ERROR; it closes next),
    /// [`Error::Record`], [`Error::UnexpectedHandshakeMessage`] or
    /// [`Error::MalformedHandshake`]: close and send nothing.
    pub fn read_welcome<'r>(
        mut self,
        record: &'r mut [u8],
    ) -> Result<(Session, Welcome<'r>), Error> {
        let (_, recv) = self.session.parts_mut();
        let plaintext = recv.open_plaintext(record)?;
        let t = first_type(plaintext)?;
        if t != msg_type::WELCOME && t != msg_type::ERROR {
            return Err(Error::UnexpectedHandshakeMessage {
                expected: msg_type::WELCOME,
                received: t,
            });
        }
        match Message::decode(plaintext) {
            Ok(Message::Welcome {
                nick,
                server_name,
                motd,
            }) => Ok((
                self.session,
                Welcome {
                    nick,
                    server_name,
                    motd,
                },
            )),
            Ok(Message::Error { code, text }) => Err(Error::RefusedByServer {
                code,
                text: ShortText::new(text),
            }),
            Ok(_) => Err(Error::MalformedHandshake(
                crate::message::MessageError::Truncated,
            )),
            Err(e) => Err(Error::MalformedHandshake(e)),
        }
    }
}
