#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
//! # dhchat-core
//!
//! The protocol core of dhchat, shared unchanged by the server, the terminal
//! client and the firmware: `no_std`, no allocation, no `unsafe`.
//!
//! Modules follow the sections of the protocol specification:
//!
//! | module | what it holds |
//! |---|---|
//! | [`group`] | the RFC 7919 groups, recognising a received (p, g) |
//! | [`dh`] | fixed-size DH message packing, exponents, constant-time modexp |
//! | [`kdf`] | transcript hash, HKDF key schedule, session fingerprint |
//! | [`record`] | AES-256-CBC + HMAC-SHA256 records with implicit sequence numbers |
//! | [`message`], [`names`] | message codecs; nick, room and text rules |
//! | [`identity`] | Ed25519 identity keys and their `ed25519:...` text form |
//! | [`handshake`] | client and server handshake state machines (sans-io) |
//! | [`session`] | the authenticated session a handshake yields |
//! | [`driver`] | blocking (`embedded-io`) and async (`embedded-io-async`) drivers |
//! | [`error`] | the error type and its mapping to wire reactions |
//!
//! ## What the protocol defends against, and what not
//!
//! Defended: a passive eavesdropper (ephemeral finite-field DH, AES-256-CBC);
//! an active attacker who changes, drops, replays or reorders records (every
//! record carries an HMAC-SHA256 tag over an implicit sequence number, checked
//! in constant time before decryption; any failure ends the session); a man in
//! the middle of the key exchange, as long as the client pins the server's
//! Ed25519 key (SERVER_AUTH signs the transcript hash) and, for servers with
//! an authorized-keys list, the client's key too. Compromise of long-term keys
//! later does not reveal past sessions (forward secrecy: exponents are fresh
//! and zeroized after use).
//!
//! Not defended: the protocol is hop-by-hop. The server decrypts and
//! re-encrypts, so its operator reads every message. A client that accepts an
//! unknown server key on first use without checking it can be fooled on that
//! first connection; the session fingerprint, shown at both ends, lets two
//! people detect that. Traffic analysis (sizes, timing) is not hidden. Legacy
//! mode (PROTOCOL.md section 9) has none of these properties.
//!
//! ## A blocking client in 20 lines
//!
//! ```
//! use dhchat_core::driver::{blocking, Buffers};
//! use dhchat_core::handshake::ClientConfig;
//! use dhchat_core::identity::PublicKey;
//! use dhchat_core::message::Message;
//! use dhchat_core::names::Escaped;
//!
//! fn chat<T, R>(uart: T, rng: R, server_key: &str) -> Result<(), Box<dyn std::error::Error>>
//! where
//!     T: embedded_io::Read + embedded_io::Write,
//!     T::Error: std::error::Error + 'static,
//!     R: rand_core::CryptoRng,
//! {
//!     let mut pinned: PublicKey = server_key.parse()?; // "ed25519:..."
//!     let mut bufs = Buffers::new(); // 8 KiB, no heap
//!     let config = ClientConfig::new("sensor1");
//!     let mut conn = blocking::connect(uart, &config, &mut pinned, rng, &mut bufs)?;
//!     println!("session {}", conn.info().fingerprint); // compare with the server's log
//!     conn.send(&Message::Say { room: "#lobby", text: "hello from the device" })?;
//!     loop {
//!         match conn.recv()? {
//!             Message::Message(m) => println!("<{}> {}", m.from, Escaped(m.text)),
//!             Message::Close { .. } => return Ok(()),
//!             _ => {}
//!         }
//!     }
//! }
//! ```

pub mod connection;
pub mod dh;
pub mod driver;
pub mod error;
pub mod group;
pub mod handshake;
pub mod identity;
pub mod kdf;
pub mod message;
pub mod names;
pub mod record;
pub mod reply;
pub mod session;

pub use connection::{ClientConnection, ServerConnection};
pub use error::{Error, Reaction};
pub use reply::{Received, Reply};
pub use session::Session;
