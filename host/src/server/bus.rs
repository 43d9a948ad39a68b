//! The message bus: the interface between the sessions and whatever stores
//! and delivers chat.
//!
//! Two traits, one for each direction:
//!
//! - [`Bus`] is what a session's commands call: publish to a room (stored,
//!   then delivered in one total order per room), deliver a direct message
//!   to a member, reserve a nick, join a room (its recent history replayed
//!   first, then every later message live), leave it, list a room's
//!   members. Joins, parts, renames and disconnects are announced to the
//!   members of the rooms concerned on every server process the bus spans
//!   (within the hub's room notice limit).
//! - [`Fanout`] is how a bus hands messages out to the members connected to
//!   this server process (the [`Hub`](super::rooms::Hub) implements it).
//!
//! The first implementation, [`LocalBus`](super::local_bus::LocalBus), is
//! the SQLite history thread in front of the in-process hub. The cluster
//! implementation, [`NatsBus`](super::cluster::NatsBus) (NATS JetStream: one
//! stream with a subject per room gives the per-room order and the replay, a
//! key-value bucket the nick reservations), goes behind the same [`Bus`] and
//! hands what it receives to the local hub.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::event::{Chat, Event};

/// A connected client's number, unique for the server's lifetime.
pub type ClientId = u64;

/// The lookup key of a nick or room: names compare ASCII-case-insensitively.
pub fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// A future returned by a [`Bus`] method (boxed, so the bus can be a trait
/// object).
pub type BusFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The bus has shut down: the server is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the message bus has shut down")
    }
}

impl std::error::Error for Closed {}

/// A room's spelling and its members' nicks (the answer to WHO).
pub type Roster = (String, Vec<String>);

/// No member is called by that nick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSuchNick;

/// A member admitted onto the bus: its id and assigned nick, the receiving
/// end of its queue (for the writer) and the signal that ends its session.
pub struct Registered {
    /// Id.
    pub id: ClientId,
    /// Assigned nick.
    pub nick: String,
    /// Queue to the writer (WELCOME already in it).
    pub rx: tokio::sync::mpsc::Receiver<Event>,
    /// The bytes counted for what is in `rx`; the writer gives back each
    /// event's [`Event::queued_bytes`] as it takes it.
    pub bytes: Arc<super::queue_bytes::ClientBytes>,
    /// Notified when the session must end (queue overflow).
    pub kill: Arc<tokio::sync::Notify>,
}

/// Why a client was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterError {
    /// At the client cap, or shutting down.
    Busy,
}

/// Outcome of a nick change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rename {
    /// Changed from the old nick.
    Changed(String),
    /// Taken by another client.
    Taken,
}

/// What a session's commands publish to and reserve on.
pub trait Bus: Send + Sync {
    /// Admits a client that finished its handshake asking for `wanted` (a
    /// valid nick): reserves it or a free variant that is not in `reserved`
    /// (the lookup keys of accounts that belong to other keys, PROTOCOL.md
    /// section 5.1) and queues WELCOME (built by `welcome` from the assigned
    /// nick) first on its queue.
    ///
    /// # Errors
    /// [`RegisterError::Busy`] at the client cap or while shutting down.
    fn register<'a>(
        &'a self,
        wanted: &'a str,
        reserved: &'a HashSet<String>,
        welcome: &'a (dyn Fn(&str) -> Event + Sync),
    ) -> BusFuture<'a, Result<Registered, RegisterError>>;

    /// Takes a member off the bus: gives back its nick and takes it out of
    /// its rooms, telling their members it left (`reason`).
    fn unregister(&self, member: ClientId, reason: &str);

    /// Stores `chat` in the history of its room (`chat.room`, the room's
    /// spelling), then delivers it to every member of the room but
    /// `sender`. Messages to one room are stored and delivered in one total
    /// order; the future waits while the bus is behind (back-pressure).
    ///
    /// # Errors
    /// [`Closed`] if the bus has shut down.
    fn publish(&self, sender: ClientId, chat: Arc<Chat>) -> BusFuture<'_, Result<(), Closed>>;

    /// Room messages published on this node and not yet queued for its
    /// members (see [`pressure`](super::pressure)). None by default: a bus
    /// whose publish returns after local delivery has nothing in flight.
    fn ahead(&self) -> super::pressure::Ahead {
        super::pressure::Ahead::default()
    }

    /// Delivers a direct message from `from` to the member called `to`.
    ///
    /// # Errors
    /// [`NoSuchNick`] if no member is called `to` (or `from` is gone).
    fn direct<'a>(
        &'a self,
        from: ClientId,
        to: &'a str,
        time_ms: u64,
        text: &'a str,
    ) -> BusFuture<'a, Result<(), NoSuchNick>>;

    /// Reserves `new` (a valid nick) for `member`, giving back its old one
    /// and telling it and the members of its rooms.
    fn rename<'a>(&'a self, member: ClientId, new: &'a str) -> BusFuture<'a, Rename>;

    /// Joins `member` to `room`: the room's recent history first, then every
    /// message published after it, live. `Ok(false)` if it was a member
    /// already.
    ///
    /// # Errors
    /// [`Closed`] if the bus has shut down.
    fn join<'a>(&'a self, member: ClientId, room: &'a str) -> BusFuture<'a, Result<bool, Closed>>;

    /// Takes `member` out of `room`, telling it and the room's members
    /// (within the room notice limit). False if it was not a member.
    fn part(&self, member: ClientId, room: &str) -> bool;

    /// The spelling of `room` and the nicks of all its members (on every
    /// server process the bus spans), or `None` if it has no members.
    fn who<'a>(&'a self, room: &'a str) -> BusFuture<'a, Option<Roster>>;
}

/// How a bus hands messages to the members connected to this process.
pub trait Fanout: Send + Sync {
    /// Queues a stored room message for every member of `room_key` but
    /// `sender`.
    fn to_room(&self, room_key: &str, sender: ClientId, chat: Arc<Chat>);

    /// Queues stored room messages, in the order given, each for every
    /// member of its room (`chat.room`) but its sender: what
    /// [`Fanout::to_room`] does for each, which an implementation may do
    /// for the whole batch at once (one lock, one wake-up per member).
    fn to_rooms(&self, batch: &[(ClientId, Arc<Chat>)]) {
        for (sender, chat) in batch {
            self.to_room(&key(&chat.room), *sender, chat.clone());
        }
    }

    /// Queues `event` for one member.
    fn to_member(&self, member: ClientId, event: Event);

    /// Whether `member` is in the room `room_key` (a join of a member needs
    /// no history read).
    fn is_member(&self, member: ClientId, room_key: &str) -> bool;

    /// Queues `history` (oldest first) for `member`, then adds it to `room`
    /// so that every later message arrives live after it. False if it was a
    /// member already.
    fn join(&self, member: ClientId, room: &str, history: Vec<Chat>) -> bool;
}
