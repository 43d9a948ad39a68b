//! JOIN: the room's recent history, then its live messages.

use dhchat_core::message::error_code as code;

use super::Context;
use crate::server::bus::key;
use crate::server::disconnect::Disconnect;
use crate::server::event::Event;
use crate::server::rooms::MAX_ROOMS_PER_CLIENT;

/// Joins the sender to `room` and tells it "you joined ROOM" after the
/// room's history (a member already: nothing happens).
///
/// # Errors
/// [`Disconnect::HistoryGone`] if the bus has shut down.
pub async fn apply(cx: &Context<'_>, room: &str) -> Result<(), Disconnect> {
    if cx.hub.rooms_of(cx.member) >= MAX_ROOMS_PER_CLIENT
        && !cx.hub.is_member(cx.member, &key(room))
    {
        cx.error(
            code::NOT_ALLOWED,
            format!("at most {MAX_ROOMS_PER_CLIENT} rooms at once"),
        );
        return Ok(());
    }
    let joined = cx
        .bus
        .join(cx.member, room)
        .await
        .map_err(|_| Disconnect::HistoryGone)?;
    if joined {
        let name = cx.hub.room_name(&key(room), room);
        cx.reply(Event::notice(&format!("you joined {name}")));
    }
    tracing::debug!(client = cx.member, %room, joined, "join");
    Ok(())
}
