//! ERROR from a client: logged, never answered.

use dhchat_core::names::Escaped;

use super::Context;
use crate::server::disconnect::Disconnect;

/// Logs the client's error report (escaped: the text is the peer's).
///
/// # Errors
/// None: a client's ERROR never ends the session.
pub fn apply(cx: &Context<'_>, code: u16, text: &str) -> Result<(), Disconnect> {
    tracing::debug!(client = cx.member, code, text = %Escaped(text), "client reported an error");
    Ok(())
}
