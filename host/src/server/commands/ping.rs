//! PING: answered with PONG carrying the same nonce.

use super::Context;
use crate::server::disconnect::Disconnect;
use crate::server::event::Event;

/// Queues PONG with `nonce` for the sender.
///
/// # Errors
/// None: PING never ends the session.
pub fn apply(cx: &Context<'_>, nonce: [u8; 8]) -> Result<(), Disconnect> {
    cx.reply(Event::Pong(nonce));
    Ok(())
}
