//! NICK: change nick.

use dhchat_core::message::error_code as code;

use super::Context;
use crate::server::bus::Rename;
use crate::server::disconnect::Disconnect;

/// Renames the sender to `nick`; ERROR 5 if another member holds it.
///
/// # Errors
/// None: NICK never ends the session.
pub async fn apply(cx: &Context<'_>, nick: &str) -> Result<(), Disconnect> {
    match cx.bus.rename(cx.member, nick).await {
        Rename::Taken => cx.error(code::NAME_IN_USE, format!("nick {nick} is in use")),
        Rename::Changed(old) => {
            tracing::info!(client = cx.member, %old, new = %nick, "nick change");
        }
    }
    Ok(())
}
