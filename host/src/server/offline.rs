//! Direct messages to accounts whose owner is offline (PROTOCOL.md section
//! 5.1): stored, bounded per account, and delivered when the owner next
//! connects, right after WELCOME and the `#lobby` history, as MESSAGEs with
//! flags bit 0, oldest first; then deleted.
//!
//! The storage is an interface, [`Offline`], so that a clustered bus can keep
//! the waiting messages in its stream; the first implementation is
//! [`SqliteStore`](super::accounts_sqlite::SqliteStore).

use std::sync::Arc;

use super::accounts::{Service, StoreError, StoreFuture};
use super::bus::ClientId;
use super::event::{Chat, Event};
use super::rooms::Hub;

/// A stored direct message and its place in the account's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// Increasing with the order of storing (per store).
    pub seq: u64,
    /// The message, `room` = `@` and the account's nick.
    pub chat: Chat,
}

/// The outcome of [`Offline::store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored and committed.
    Stored,
    /// The account already has the most messages waiting that it may.
    Full,
}

/// Where direct messages wait for their account's owner.
pub trait Offline: Send + Sync {
    /// Stores `chat` for the account `account` (its nick), unless `max`
    /// messages wait for it already. Returns once the message is durable.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be written.
    fn store<'a>(&'a self, account: &'a str, chat: &'a Chat, max: u32) -> StoreFuture<'a, Stored>;

    /// The messages waiting for `account`, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be read.
    fn waiting<'a>(&'a self, account: &'a str) -> StoreFuture<'a, Vec<Waiting>>;

    /// Deletes the messages of `account` up to and including `seq`.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be written.
    fn delivered<'a>(&'a self, account: &'a str, seq: u64) -> StoreFuture<'a, ()>;
}

/// Queues the messages waiting for `nick` (the session `member` proved its
/// key) for that member, as history, oldest first, then deletes them. Call
/// it after the `#lobby` history is queued.
///
/// # Errors
/// [`StoreError`] if the store fails; nothing is deleted then.
pub async fn deliver(
    service: &Service,
    hub: &Arc<Hub>,
    member: ClientId,
    nick: &str,
) -> Result<usize, StoreError> {
    let waiting = service.offline.waiting(nick).await?;
    let Some(last) = waiting.last().map(|w| w.seq) else {
        return Ok(0);
    };
    let n = waiting.len();
    for w in waiting {
        let mut chat = w.chat;
        chat.history = true;
        hub.send_to(member, Event::Chat(Arc::new(chat)));
    }
    service.offline.delivered(nick, last).await?;
    Ok(n)
}
