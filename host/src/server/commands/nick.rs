//! NICK: change nick.

use dhchat_core::message::error_code as code;

use super::Context;
use crate::server::accounts::Taking;
use crate::server::bus::Rename;
use crate::server::disconnect::Disconnect;

/// Renames the sender to `nick`; ERROR 5 if another member holds it or it
/// is an account of another key (PROTOCOL.md section 5.1).
///
/// # Errors
/// None: NICK never ends the session.
pub async fn apply(cx: &Context<'_>, nick: &str) -> Result<(), Disconnect> {
    let taking = match cx.accounts {
        None => Taking::Free,
        Some(service) => match service.may_take(nick, cx.client_key).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(client = cx.member, error = %e, "nick change refused: cannot check accounts");
                cx.error(
                    code::INTERNAL,
                    "internal error: cannot check the nick".into(),
                );
                return Ok(());
            }
        },
    };
    if taking == Taking::Refused {
        cx.error(
            code::NAME_IN_USE,
            format!("nick {nick} belongs to an account"),
        );
        return Ok(());
    }
    match cx.bus.rename(cx.member, nick).await {
        Rename::Taken => cx.error(code::NAME_IN_USE, format!("nick {nick} is in use")),
        Rename::Changed(old) => {
            cx.hub.set_account(cx.member, taking == Taking::Own);
            tracing::info!(client = cx.member, %old, new = %nick, "nick change");
        }
    }
    Ok(())
}
