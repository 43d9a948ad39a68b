//! SAY: a room message (stored, then relayed to the other members) or, to
//! `@nick`, a direct message.

use std::sync::Arc;

use dhchat_core::message::error_code as code;
use dhchat_core::names::Escaped;

use super::Context;
use crate::server::bus::key;
use crate::server::disconnect::Disconnect;
use crate::server::event::{now_ms, Chat};

/// Publishes `text` to `room`, or delivers it to the member `@nick`.
///
/// # Errors
/// [`Disconnect::Unregistered`] if the sender is gone from the hub,
/// [`Disconnect::HistoryGone`] if the bus has shut down.
pub async fn apply(cx: &Context<'_>, room: &str, text: &str) -> Result<(), Disconnect> {
    let time_ms = now_ms();
    if let Some(nick) = room.strip_prefix('@') {
        if cx.log_messages {
            tracing::info!(client = cx.member, to = %room, text = %Escaped(text), "direct message");
        }
        if cx.bus.direct(cx.member, nick, time_ms, text).await.is_err() {
            cx.error(code::NO_SUCH_TARGET, format!("no such nick: {nick}"));
        }
        return Ok(());
    }
    let room_key = key(room);
    if !cx.hub.is_member(cx.member, &room_key) {
        cx.error(code::NO_SUCH_TARGET, format!("you are not in {room}"));
        return Ok(());
    }
    let from = cx.hub.nick_of(cx.member).ok_or(Disconnect::Unregistered)?;
    if cx.log_messages {
        tracing::info!(client = cx.member, %room, text = %Escaped(text), "message");
    }
    let chat = Chat {
        time_ms,
        history: false,
        from,
        room: cx.hub.room_name(&room_key, room),
        text: text.to_owned(),
        legacy: false,
    };
    cx.bus
        .publish(cx.member, Arc::new(chat))
        .await
        .map_err(|_| Disconnect::HistoryGone)
}
