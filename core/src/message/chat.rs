//! MESSAGE, the chat line a server delivers (PROTOCOL.md section 5).

/// A MESSAGE: a chat line the server delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatMessage<'a> {
    /// The server's clock when it accepted the message, in milliseconds since the Unix
    /// epoch.
    pub time_ms: u64,
    /// Flags bit 0: the message is replayed from the room's history.
    pub history: bool,
    /// Flags bit 1: the sender is an unauthenticated legacy client.
    pub legacy: bool,
    /// Flags bit 2: the sender's nick is an account and the sender's session proved the
    /// account's identity key (section 5.1).
    pub account: bool,
    /// The sender's nick.
    pub from: &'a str,
    /// The room, or `@` and the recipient's nick for a direct message.
    pub room: &'a str,
    /// The text (the text rule of [`crate::names::text_check`]).
    pub text: &'a str,
}
