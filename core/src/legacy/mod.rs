//! The legacy protocol of the original encrypted-chat programs (`LEGACY.md`, PROTOCOL.md
//! section 9), sans-io: key exchange, key derivation, message sealing and opening, text
//! splitting and the legacy nick.
//!
//! **Unauthenticated.** Nothing here resists a man in the middle or tampering: the key
//! comes from an unauthenticated exchange, messages carry no MAC, no sequence number and
//! no length. A program uses this module only when its user asks for legacy mode, and
//! says so loudly.
//!
//! | module | what it holds |
//! |---|---|
//! | [`exchange`] | the server's and the client's side of the key exchange; the key |
//! | [`text`] | sealing and opening one message; splitting long text |
//! | [`nick`] | the `legacy-XXXXXXXX` nick of a legacy client |
//! | [`error`](mod@error) | [`LegacyError`] and its wire reaction |
//!
//! No allocation, no `unsafe`, no panic on peer input.

pub mod error;
pub mod exchange;
pub mod nick;
pub mod text;

pub use error::LegacyError;
pub use exchange::{respond_to_server, LegacyKey, ServerExchange};
pub use nick::LegacyNick;
pub use text::{open, seal, split, IV_LEN};

/// The original programs' default port.
pub const DEFAULT_PORT: u16 = 39482;
/// Length of the server's key message: `pack(p, 1024) || pack(g, 16) || pack(y, 1024)`.
pub const SERVER_KEY_LEN: usize = 2064;
/// Length of the client's key message: `pack(y_c, 1024)`.
pub const CLIENT_KEY_LEN: usize = 1024;
/// The longest read taken as one message (the original's `recv(1024)`).
pub const MAX_READ: usize = 1024;
/// The shortest valid message: an IV and one block.
pub const MIN_READ: usize = 32;
/// The longest text in one message (1024 bytes minus the IV, minus one padding byte).
pub const MAX_TEXT: usize = MAX_READ - IV_LEN - 1;
/// The longest text a client sends to an original server: its relay `"<ip>: " + text`
/// must fit one 1024-byte read even with the longest IPv4 prefix (17 bytes).
pub const MAX_TEXT_TO_ORIGINAL: usize = 990;
/// The command that asks the server to close the connection.
pub const EXIT_COMMAND: &str = "!exit";
/// The original server's answer to [`EXIT_COMMAND`] before it closes.
pub const EXIT_ANSWER: &str = "Acknowledged";

#[cfg(test)]
mod tests;
