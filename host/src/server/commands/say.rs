//! SAY: a room message (stored, then relayed to the other members) or, to
//! `@nick`, a direct message.

use std::sync::Arc;
use std::time::Duration;

use dhchat_core::message::error_code as code;
use dhchat_core::names::Escaped;

use super::Context;
use crate::server::bus::key;
use crate::server::disconnect::Disconnect;
use crate::server::event::{now_ms, Chat};
use crate::server::offline::Stored;

/// A wait for a congested room worth a debug line.
const SLOW_ROOM: Duration = Duration::from_secs(1);

/// Stores a direct message to `nick`, who is not connected, if it is an
/// account (PROTOCOL.md section 5.1); ERROR 6 if it is not, ERROR 7 if the
/// account has as many messages waiting as it may. The message is committed
/// before this returns: no ERROR means it is stored.
async fn to_offline(
    cx: &Context<'_>,
    nick: &str,
    time_ms: u64,
    text: &str,
) -> Result<(), Disconnect> {
    let no_such = || cx.error(code::NO_SUCH_TARGET, format!("no such nick: {nick}"));
    let Some(service) = cx.accounts else {
        no_such();
        return Ok(());
    };
    let account = match service.account(nick).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            no_such();
            return Ok(());
        }
        Err(e) => {
            tracing::error!(client = cx.member, error = %e, "direct message not stored: cannot read accounts");
            cx.error(
                code::INTERNAL,
                "internal error: the message could not be stored".into(),
            );
            return Ok(());
        }
    };
    let from = cx.hub.nick_of(cx.member).ok_or(Disconnect::Unregistered)?;
    let chat = Chat {
        time_ms,
        history: false,
        from,
        room: format!("@{}", account.nick),
        text: text.to_owned(),
        legacy: false,
        account: cx.hub.is_account(cx.member),
    };
    match service
        .offline
        .store(&account.nick, &chat, service.offline_max)
        .await
    {
        Ok(Stored::Stored) => {
            tracing::debug!(client = cx.member, to = %account.nick, "direct message stored for an offline account");
        }
        Ok(Stored::Full) => cx.error(
            code::RATE_LIMITED,
            format!(
                "{} has {} messages waiting already; try again after they connect",
                account.nick, service.offline_max
            ),
        ),
        Err(e) => {
            tracing::error!(client = cx.member, error = %e, "direct message not stored");
            cx.error(
                code::INTERNAL,
                "internal error: the message could not be stored".into(),
            );
        }
    }
    Ok(())
}

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
            to_offline(cx, nick, time_ms, text).await?;
        }
        return Ok(());
    }
    let room_key = key(room);
    if !cx.hub.is_member(cx.member, &room_key) {
        cx.error(code::NO_SUCH_TARGET, format!("you are not in {room}"));
        return Ok(());
    }
    // Back-pressure (super::super::pressure): wait while a member that
    // reads has a queue more than half full, rather than overflow it.
    let waited = cx
        .hub
        .wait_for_room(&room_key, cx.member, || cx.bus.ahead())
        .await;
    if waited >= SLOW_ROOM {
        tracing::debug!(client = cx.member, %room, waited_ms = waited.as_millis() as u64, "sender held back by a congested room");
    }
    let speaker = cx
        .hub
        .speaker(cx.member, &room_key, room)
        .ok_or(Disconnect::Unregistered)?;
    if cx.log_messages {
        tracing::info!(client = cx.member, %room, text = %Escaped(text), "message");
    }
    let chat = Chat {
        time_ms,
        history: false,
        from: speaker.nick,
        room: speaker.room,
        text: text.to_owned(),
        legacy: false,
        account: speaker.account,
    };
    cx.bus
        .publish(cx.member, Arc::new(chat))
        .await
        .map_err(|_| Disconnect::HistoryGone)
}
