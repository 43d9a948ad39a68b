//! What the server does with each message a client sends after WELCOME:
//! one module per message type, each with an `apply`, and the one `match`
//! below that picks it. A new message type is one new module and one new
//! arm.

mod close;
mod join;
mod nick;
mod part;
mod report;
mod say;
mod who;

use dhchat_core::message::error_code as code;
use dhchat_core::message::Message;

use dhchat_core::identity::PublicKey;

use super::accounts::Service;
use super::bus::{Bus, ClientId};
use super::disconnect::Disconnect;
use super::event::Event;
use super::rooms::Hub;

/// What a command acts on: the member who sent it, the local hub (its
/// rooms, its queue) and the bus.
pub struct Context<'a> {
    /// The sender.
    pub member: ClientId,
    /// Clients and rooms of this process.
    pub hub: &'a Hub,
    /// Where room messages, direct messages, nicks and joins go.
    pub bus: &'a dyn Bus,
    /// Log the text of chat messages (`--log-messages`).
    pub log_messages: bool,
    /// The identity key the sender proved, if any.
    pub client_key: Option<PublicKey>,
    /// Accounts and offline messages (`None` with `--no-accounts`).
    pub accounts: Option<&'a Service>,
}

impl Context<'_> {
    /// Queues `event` for the sender.
    pub fn reply(&self, event: Event) {
        self.hub.send_to(self.member, event);
    }

    /// Queues ERROR `code` with `text` for the sender; the session stays.
    pub fn error(&self, code: u16, text: String) {
        self.reply(Event::error(code, &text));
    }
}

/// Acts on one message from `cx.member`.
///
/// # Errors
/// The [`Disconnect`] that ends the session (CLOSE from the client, the bus
/// shut down).
pub async fn apply(cx: &Context<'_>, msg: Message<'_>) -> Result<(), Disconnect> {
    match msg {
        Message::Say { room, text } => say::apply(cx, room, text).await,
        Message::Join { room } => join::apply(cx, room).await,
        Message::Part { room } => part::apply(cx, room),
        Message::Nick { nick } => nick::apply(cx, nick).await,
        Message::Who { room } => who::apply(cx, room).await,
        // PONG to a PING is the core's reply, queued by the reader.
        Message::Ping { .. } | Message::Pong { .. } => Ok(()),
        Message::Error { code, text } => report::apply(cx, code, text),
        Message::Close { reason } => close::apply(reason),
        // RecvHalf::open refuses every other type as out of place.
        other => {
            cx.error(
                code::UNSUPPORTED_TYPE,
                format!("unexpected message type 0x{:02x}", other.msg_type()),
            );
            Ok(())
        }
    }
}
