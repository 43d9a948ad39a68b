#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![doc = include_str!("../README.md")]

pub mod connection;
pub mod dh;
pub mod driver;
pub mod error;
pub mod group;
pub mod handshake;
pub mod identity;
pub mod kdf;
pub mod legacy;
pub mod message;
pub mod names;
pub mod record;
pub mod reply;
pub mod session;

pub use connection::{ClientConnection, ServerConnection};
pub use error::{Error, Reaction};
pub use reply::{Received, Reply};
pub use session::Session;
