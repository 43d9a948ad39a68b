//! The handshake of PROTOCOL.md section 3 as sans-io state machines.
//!
//! Each state is a type; each step consumes it and returns the next state (or
//! an error), so a finished or failed state cannot be used again. Steps take
//! the bytes the peer sent and write what to send into a caller's buffer.
//!
//! ```text
//! server                                client
//! ServerHandshake::start  -- SERVER_HELLO -->  ClientHandshake::read_magic
//!                                              ClientExpectDh::read_dh
//! ServerExpectMagic::read_magic <-- CLIENT_KEY --
//! ServerExpectKey::read_client_key -- SERVER_AUTH --> ClientExpectAuth::read_server_auth
//! ServerExpectHello::read_client_hello <-- CLIENT_HELLO --
//!   => Admitted + nick
//! Admitted::welcome => Session  -- WELCOME -->  ClientExpectWelcome::read_welcome => Session
//! (or Admitted::refuse          -- ERROR, CLOSE -->)
//! ```
//!
//! Random draws, in order (tests replay them): the server draws its exponent in
//! `start` and the SERVER_AUTH IV in `read_client_key`; the client draws its
//! exponent in `read_dh` and the CLIENT_HELLO IV in `read_server_auth`.

mod client;
mod server;

pub use client::{
    ClientConfig, ClientExpectAuth, ClientExpectDh, ClientExpectWelcome, ClientHandshake, Welcome,
};
pub use server::{
    Admitted, ClientHello, Farewell, HelloOutcome, ServerExpectHello, ServerExpectKey,
    ServerExpectMagic, ServerHandshake,
};

use crate::dh::{DH_MSG_LEN, LEN_PK};
use crate::error::{Error, TrustError};
use crate::identity::PublicKey;

/// The version tag that starts both handshake messages.
pub const MAGIC: &[u8; 8] = b"DHCHAT/1";
/// Length of MAGIC.
pub const MAGIC_LEN: usize = 8;
/// Length of SERVER_HELLO: MAGIC and the DH message.
pub const SERVER_HELLO_LEN: usize = MAGIC_LEN + DH_MSG_LEN;
/// Length of CLIENT_KEY: MAGIC and the packed public value.
pub const CLIENT_KEY_LEN: usize = MAGIC_LEN + LEN_PK;

/// Checks a peer's first 8 bytes.
///
/// # Errors
/// [`Error::BadMagic`] with what the peer sent (all zeros: a legacy peer).
pub fn check_magic(first8: &[u8; MAGIC_LEN]) -> Result<(), Error> {
    if first8 == MAGIC {
        Ok(())
    } else {
        Err(Error::BadMagic { received: *first8 })
    }
}

/// The client's trust decision about a server's identity key.
///
/// A pinned [`PublicKey`] is one; a closure is another (the host turns that
/// into known-hosts and trust on first use). Returning an error aborts the
/// handshake before the client sends anything more.
pub trait ServerTrust {
    /// Decides whether `key` is the server's.
    ///
    /// # Errors
    /// [`TrustError::UnknownKey`] or [`TrustError::Mismatch`].
    fn check(&mut self, key: &PublicKey) -> Result<(), TrustError>;
}

impl ServerTrust for PublicKey {
    fn check(&mut self, key: &PublicKey) -> Result<(), TrustError> {
        if key == self {
            Ok(())
        } else {
            Err(TrustError::Mismatch {
                recorded: *self,
                received: *key,
            })
        }
    }
}

impl<F: FnMut(&PublicKey) -> Result<(), TrustError>> ServerTrust for F {
    fn check(&mut self, key: &PublicKey) -> Result<(), TrustError> {
        self(key)
    }
}

/// The server's admission decision about a client's identity key (`None`:
/// the client is anonymous). The signature has already been verified.
pub trait ClientPolicy {
    /// True to admit the client.
    fn admit(&mut self, key: Option<&PublicKey>) -> bool;
}

/// Admits every client, anonymous or not: a server without an
/// authorized-keys list.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdmitAll;

impl ClientPolicy for AdmitAll {
    fn admit(&mut self, _key: Option<&PublicKey>) -> bool {
        true
    }
}

impl<F: FnMut(Option<&PublicKey>) -> bool> ClientPolicy for F {
    fn admit(&mut self, key: Option<&PublicKey>) -> bool {
        self(key)
    }
}

/// The first byte of a plaintext, or the empty-plaintext record error.
fn first_type(plaintext: &[u8]) -> Result<u8, Error> {
    plaintext
        .first()
        .copied()
        .ok_or(Error::Record(crate::error::RecordError::EmptyPlaintext))
}
