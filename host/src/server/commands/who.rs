//! WHO: a room's members, in as many ROSTER records as they need.

use dhchat_core::message::error_code as code;
use dhchat_core::message::{roster_chunks, MessageBuf};

use super::Context;
use crate::server::disconnect::Disconnect;
use crate::server::event::Event;

/// Answers with the ROSTER records of `room`; ERROR 6 if it does not exist.
///
/// # Errors
/// None: WHO never ends the session.
pub async fn apply(cx: &Context<'_>, room: &str) -> Result<(), Disconnect> {
    let Some((name, nicks)) = cx.bus.who(room).await else {
        cx.error(code::NO_SUCH_TARGET, format!("no such room: {room}"));
        return Ok(());
    };
    let list: Vec<&str> = nicks.iter().map(String::as_str).collect();
    for chunk in roster_chunks(&name, &list) {
        match MessageBuf::new(&chunk) {
            Ok(roster) => cx.reply(Event::Message(roster)),
            // The chunks are valid ROSTERs by construction; never peer input.
            Err(e) => tracing::error!("ROSTER not sent: {e}"),
        }
    }
    Ok(())
}
