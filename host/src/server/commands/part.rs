//! PART: leave a room.

use dhchat_core::message::error_code as code;

use super::Context;
use crate::server::disconnect::Disconnect;

/// Takes the sender out of `room` (it is told "you left ROOM", the room's
/// members on every node "NICK left ROOM"); ERROR 6 if it was not in it.
///
/// # Errors
/// None: PART never ends the session.
pub fn apply(cx: &Context<'_>, room: &str) -> Result<(), Disconnect> {
    if !cx.bus.part(cx.member, room) {
        cx.error(code::NO_SUCH_TARGET, format!("you are not in {room}"));
    }
    Ok(())
}
