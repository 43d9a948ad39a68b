//! One connection state machine per side, without I/O, in the manner of
//! rustls's unbuffered API and smoltcp's `poll`: [`ClientConnection`] and
//! [`ServerConnection`] own the handshake steps ([`crate::handshake`] stays
//! underneath), the framing (how many bytes to receive next, checked length
//! fields) and the automatic replies of PROTOCOL.md section 6 (PONG, ERROR;
//! [`crate::reply`]). Every driver is a short loop around one of them:
//!
//! 1. read into `conn.space(&mut rx)` (at most what the unit in progress
//!    still needs);
//! 2. `conn.received(n, &mut rx, ..)` and act on the event: send handshake
//!    bytes, run a key step (offloadable), deliver a message and seal its
//!    reply.
//!
//! After WELCOME a connection splits into a [`SendHalf`](crate::session::SendHalf)
//! and a [`Reader`], owned, for a writer task and a reader task.

mod client;
mod inbox;
mod reader;
mod server;

pub use client::{ClientConnection, ClientEvent, ClientKeyDone, ClientKeyStep};
pub(crate) use inbox::Inbox;
pub use reader::Reader;
pub use server::{ServerConnection, ServerEvent, ServerKeyDone, ServerKeyStep};

#[cfg(test)]
mod tests;
