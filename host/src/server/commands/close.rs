//! CLOSE from a client: the session ends.

use dhchat_core::names::Escaped;

use crate::server::disconnect::Disconnect;

/// Ends the session with the client's reason (escaped for the log).
///
/// # Errors
/// Always [`Disconnect::ClientClosed`].
pub fn apply(reason: &str) -> Result<(), Disconnect> {
    Err(Disconnect::ClientClosed(Escaped(reason).to_string()))
}
